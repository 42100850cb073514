"""The engine: run selected checks over a snapshot and turn every one into an outcome.

Missing facts become N/A with the reason, an exception inside a check becomes ERROR with its
text, and a manual check without a helper function becomes NOTE.  Nothing is ever a silent
pass.  A manual check's helper only gathers facts for a human: its PASS/WARN become NOTE and
then its per-object WARN details INFO, so no WARN stands under a NOTE.
"""

from __future__ import annotations

import fnmatch
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import NoReturn, TypeVar

from dockguard import __version__
from dockguard.checks.catalogue import Check
from dockguard.model import CheckResult, Detail, Evaluation, Outcome, Report, ReportSource, Surface
from dockguard.snapshot import (
    ContainerFacts,
    DaemonConfig,
    DaemonFacts,
    HostFacts,
    ImageFacts,
    Snapshot,
)

T = TypeVar("T")


class FactsMissing(Exception):
    """Raised inside a check when the facts it needs were not collected (becomes N/A)."""


@dataclass(frozen=True)
class Options:
    """User options that influence verdicts (not which checks run).

    Everything else a check needs is a fact in the `Snapshot` (endpoint probes, image scans,
    seccomp settings) or pure code it imports (the seccomp linter for 5.22).
    """

    trusted_users: tuple[str, ...] = ()
    """Users allowed in the docker group (1.1.2, ``-u``)."""
    max_version_age_days: int = 180
    """1.2.2: a daemon build older than this is out of date (``--max-version-age``)."""
    include_containers: tuple[str, ...] = ()
    """Only containers/images whose name matches (``-i``: substrings or globs)."""
    exclude_containers: tuple[str, ...] = ()
    """Containers/images whose name matches are skipped (``-x``)."""
    labels: tuple[str, ...] = ()
    """Only containers with these labels (``-t``: ``key`` or ``key=value``)."""


@dataclass(frozen=True)
class Context:
    """What a check function receives: the snapshot, the options and accessors for facts."""

    snapshot: Snapshot
    options: Options = Options()

    def _missing(self, what: str, source: str) -> NoReturn:
        errs = self.snapshot.errors_for(source)
        reason = f"{what} not collected"
        if errs:
            reason += f": {errs[0].message}"
        raise FactsMissing(reason)

    @property
    def host(self) -> HostFacts:
        """Host facts, or N/A."""
        if self.snapshot.host is None:
            self._missing("host facts", "host")
        return self.snapshot.host

    @property
    def daemon(self) -> DaemonFacts:
        """Daemon facts from the Engine API, or N/A."""
        if self.snapshot.daemon is None:
            self._missing("daemon facts", "docker")
        return self.snapshot.daemon

    @property
    def config(self) -> DaemonConfig:
        """Effective daemon configuration (daemon.json + flags), or N/A."""
        cfg = self.daemon.config
        if cfg is None:
            self._missing("effective daemon configuration", "daemon-config")
        return cfg

    @property
    def containers(self) -> tuple[ContainerFacts, ...]:
        """All containers after include/exclude/label filters (running or not)."""
        if self.snapshot.containers is None:
            self._missing("container list", "docker")
        return tuple(c for c in self.snapshot.containers if self._wanted(c))

    @property
    def running(self) -> tuple[ContainerFacts, ...]:
        """Running containers after filters."""
        return tuple(c for c in self.containers if c.running)

    @property
    def images(self) -> tuple[ImageFacts, ...]:
        """All images after the same include/exclude patterns, applied to their tags."""
        if self.snapshot.images is None:
            self._missing("image list", "docker")
        return tuple(i for i in self.snapshot.images if self._image_wanted(i))

    def need(self, value: T | None, what: str, source: str = "host") -> T:
        """Return `value` or raise FactsMissing naming `what`."""
        if value is None:
            self._missing(what, source)
        return value

    def _wanted(self, c: ContainerFacts) -> bool:
        o = self.options
        if o.include_containers and not any(_match(c.name, p) for p in o.include_containers):
            return False
        if any(_match(c.name, p) for p in o.exclude_containers):
            return False
        for label in o.labels:
            key, _, value = label.partition("=")
            if key not in c.labels or (value and c.labels[key] != value):
                return False
        return True

    def _image_wanted(self, i: ImageFacts) -> bool:
        return self._names_wanted(i.repo_tags or (i.id,))

    def image_name_wanted(self, name: str) -> bool:
        """An image called `name` passes the include/exclude patterns (``-i``/``-x``)."""
        return self._names_wanted((name,))

    def _names_wanted(self, names: tuple[str, ...]) -> bool:
        o = self.options
        if o.include_containers and not any(_match(n, p) for n in names for p in o.include_containers):
            return False
        return not any(_match(n, p) for n in names for p in o.exclude_containers)


def _match(name: str, pattern: str) -> bool:
    """docker-bench matches patterns as substrings; glob characters are honoured too."""
    if any(ch in pattern for ch in "*?["):
        return fnmatch.fnmatchcase(name, pattern)
    return pattern in name


def run_check(check: Check, ctx: Context) -> CheckResult:
    """Evaluate one check; never raises."""
    start = time.perf_counter()
    try:
        if check.fn is None:
            ev = Evaluation(Outcome.NOTE, reason="manual check: verify by hand")
        else:
            ev = check.fn(ctx)
            if not isinstance(ev, Evaluation):
                raise TypeError(f"check returned {type(ev).__name__}, not Evaluation")
            if check.meta.manual:
                ev = _as_manual(ev)
    except FactsMissing as exc:
        ev = Evaluation(Outcome.NA, reason=str(exc))
    except Exception as exc:
        ev = Evaluation(Outcome.ERROR, reason=f"{type(exc).__name__}: {exc}")
    elapsed = (time.perf_counter() - start) * 1000
    return CheckResult(check.meta, ev.outcome, ev.details, ev.reason, round(elapsed, 3))


def _as_manual(ev: Evaluation) -> Evaluation:
    """A manual check's verdict becomes a NOTE for a human, and its WARN details INFO under it."""
    if ev.outcome not in (Outcome.PASS, Outcome.WARN):
        return ev
    details = tuple(replace(d, outcome=Outcome.INFO) if d.outcome is Outcome.WARN else d for d in ev.details)
    return replace(ev, outcome=Outcome.NOTE, details=details)


def evaluate(
    snapshot: Snapshot,
    checks: Sequence[Check],
    options: Options = Options(),
    started: float | None = None,
    surface: Surface = Surface.BENCH,
) -> Report:
    """Run `checks` over `snapshot` and build a Report."""
    t0 = time.time() if started is None else started
    ctx = Context(snapshot, options)
    results = tuple(run_check(c, ctx) for c in checks)
    return Report(
        tool_version=__version__,
        started=t0,
        finished=time.time(),
        results=results,
        source=ReportSource(
            surface=surface,
            docker_host=snapshot.docker_host,
            hostname=snapshot.hostname,
            snapshot_created=snapshot.created,
            snapshot_schema_version=snapshot.schema_version,
        ),
        collection_errors=snapshot.errors,
    )


def per_object(
    items: Iterable[tuple[str, str | None]],
    *,
    fail: Outcome = Outcome.WARN,
    empty_reason: str = "",
    none_reason: str = "nothing to check",
) -> Evaluation:
    """Build an Evaluation from (object, problem-or-None) pairs.

    Any problem → `fail` with a detail per problem; objects without problem are PASS details.
    With no objects at all → N/A with `none_reason` (e.g. "no running containers"): nothing
    was checked, so nothing passed.
    """
    bad: list[Detail] = []
    good: list[Detail] = []
    for obj, problem in items:
        if problem is None:
            good.append(Detail(obj, "ok", Outcome.PASS))
        else:
            bad.append(Detail(obj, problem, fail))
    if bad:
        return Evaluation(fail, tuple(bad) + tuple(good), empty_reason)
    if not good:
        return Evaluation(Outcome.NA, (), none_reason)
    return Evaluation(Outcome.PASS, tuple(good))
