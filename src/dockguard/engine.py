"""The engine: run selected checks over a snapshot and turn every one into an outcome.

Missing facts become N/A with the reason, an exception inside a check becomes ERROR with its
text, and a manual check without a helper function becomes NOTE.  Nothing is ever a silent
pass.
"""

from __future__ import annotations

import fnmatch
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, NoReturn, TypeVar

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
    """User options that influence verdicts (not which checks run)."""

    trusted_users: tuple[str, ...] = ()
    max_version_age_days: int = 180
    include_containers: tuple[str, ...] = ()
    exclude_containers: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()
    extras: dict[str, Any] = field(default_factory=dict)


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
        o = self.options
        names = i.repo_tags or (i.id,)
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
            if check.meta.manual and ev.outcome in (Outcome.PASS, Outcome.WARN):
                ev = replace(ev, outcome=Outcome.NOTE)
    except FactsMissing as exc:
        ev = Evaluation(Outcome.NA, reason=str(exc))
    except Exception as exc:
        ev = Evaluation(Outcome.ERROR, reason=f"{type(exc).__name__}: {exc}")
    elapsed = (time.perf_counter() - start) * 1000
    return CheckResult(check.meta, ev.outcome, ev.details, ev.reason, round(elapsed, 3))


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
