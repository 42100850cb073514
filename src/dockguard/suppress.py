"""Suppressions: one YAML file format shared by every command that produces a report.

```yaml
version: 1
suppressions:
  - id: CVE-2023-0286              # a check id, a finding / vulnerability id (or alias); glob
    image: "app:*"                 # optional scopes, all shell globs, all must match:
    container: "web-*"             #   container:NAME / image:REF objects
    purl: "pkg:deb/debian/openssl@*"   #   a finding's package URL
    path: "/usr/lib/*"             #   a finding's file path or a check's file:PATH object
    expires: 2026-12-31            # optional; after this day the entry is ignored and warned
    reason: accepted until the base image moves to bookworm (SEC-42)   # required
```

A matching check result or finding is kept in the report with ``suppressed`` set to the
reason; it no longer counts for ``--fail-on``, scores or summaries.  A scoped entry applies to
the details of a check that name that object: the check is suppressed when every one of its WARN
details is covered (a check failing for ``container:web`` and ``container:db`` stays visible
when only ``web`` is suppressed).  Expired entries are not applied; each becomes a warning and a
``suppressions``/``expired`` section of the report.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import enum
import fnmatch
import functools
import re
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from dockguard.inputs import InputError, MiB, parse_yaml, read_bytes
from dockguard.model import CheckResult, Finding, NoteStatus, Outcome, Report, ReportNote
from dockguard.report._labels import finding_path, finding_purl, split_obj

SCOPES = ("container", "image", "purl", "path")
_KEYS = frozenset(("id", "reason", "expires", *SCOPES))


@dataclass(frozen=True)
class Suppression:
    """One entry of a suppressions file."""

    id: str
    reason: str
    expires: dt.date | None = None
    container: str | None = None
    image: str | None = None
    purl: str | None = None
    path: str | None = None
    origin: str = ""

    @property
    def scoped(self) -> bool:
        """True when the entry names an object, package or path and not just an id."""
        return any(getattr(self, s) is not None for s in SCOPES)

    def expired(self, today: dt.date) -> bool:
        """True after the expiry day (the entry holds through the day it names)."""
        return self.expires is not None and today > self.expires

    def describe(self) -> str:
        """``CVE-1 (image=app:*)`` for messages."""
        scope = ", ".join(f"{s}={getattr(self, s)}" for s in SCOPES if getattr(self, s))
        return f"{self.id} ({scope})" if scope else self.id

    def matches_id(self, ids: Iterable[str]) -> bool:
        """True when the entry's id (a glob) matches one of `ids`."""
        return any(_glob(self.id)(i) for i in ids)

    def matches_target(self, obj: str, purl: str = "", path: str = "") -> bool:
        """True when every scope of the entry matches this object / package / path."""
        kind, name = split_obj(obj)
        ref, sep, inner = name.partition("//")
        if kind == "image" and sep and not path:
            path = "/" + inner
        if kind == "file" and not path:
            path = name
        checks = (
            (self.container, name if kind == "container" else None),
            (self.image, ref if kind == "image" else None),
            (self.purl, purl or None),
            (self.path, path or None),
        )
        for pattern, value in checks:
            if pattern is None:
                continue
            if value is None or not _glob(pattern)(value):
                return False
        return True


@functools.cache
def _glob(pattern: str) -> Callable[[str], bool]:
    if not any(c in pattern for c in "*?["):
        return pattern.__eq__
    match = re.compile(fnmatch.translate(pattern)).match
    return lambda value: match(value) is not None


class Index:
    """Active entries by exact id, plus the glob-id ones, for fast lookups on big reports."""

    def __init__(self, entries: Iterable[Suppression]) -> None:
        self.exact: dict[str, list[Suppression]] = {}
        self.globs: list[Suppression] = []
        for s in entries:
            if any(c in s.id for c in "*?["):
                self.globs.append(s)
            else:
                self.exact.setdefault(s.id, []).append(s)

    def candidates(self, ids: Iterable[str]) -> list[Suppression]:
        """Entries whose id matches one of `ids`, in file order within each group."""
        ids = list(ids)
        found = [s for i in dict.fromkeys(ids) for s in self.exact.get(i, ())]
        found += [s for s in self.globs if s.matches_id(ids)]
        return found


def parse(text: str | bytes, origin: str = "<suppressions>") -> tuple[Suppression, ...]:
    """Parse suppressions YAML; raise `InputError` naming the file, the JSON path and the entry.

    YAML aliases are refused (no billion laughs) and dates stay strings until checked here,
    so ``expires: 2024-13-45`` is an error at ``$.suppressions[0].expires``.
    """
    data = parse_yaml(text, origin, dates=False)
    if data is None:
        return ()
    if not isinstance(data, dict):
        raise InputError(origin, "expected a mapping with a 'suppressions' list", "$")
    unknown = set(data) - {"version", "suppressions"}
    if unknown:
        raise InputError(origin, f"unknown top-level key(s) {_names(unknown)}", "$")
    if "version" in data and (isinstance(data["version"], bool) or data["version"] != 1):
        raise InputError(origin, f"unsupported version {_short(data['version'])} (expected 1)", "$.version")
    entries = data.get("suppressions") or []
    if not isinstance(entries, list):
        raise InputError(origin, "'suppressions' must be a list", "$.suppressions")
    return tuple(_entry(e, origin, i) for i, e in enumerate(entries))


def _entry(raw: object, origin: str, i: int) -> Suppression:
    label = f"suppression #{i + 1}"
    path = f"$.suppressions[{i}]"

    def fail(problem: str, key: str | None = None) -> InputError:
        return InputError(origin, f"{label}: {problem}", f"{path}.{key}" if key else path)

    if not isinstance(raw, dict):
        raise fail("expected a mapping with id and reason")
    unknown = set(raw) - _KEYS
    if unknown:
        raise fail(f"unknown key(s) {_names(unknown)} (allowed: {', '.join(sorted(_KEYS))})")
    values: dict[str, str] = {}
    for key in ("id", "reason", *SCOPES):
        value = raw.get(key)
        if value is None:
            if key in ("id", "reason"):
                raise fail(f"missing '{key}'")
            continue
        if isinstance(value, int | float) and not isinstance(value, bool):
            value = str(value)  # YAML reads 1 or 20240101 as numbers (a float id is refused above)
        if not isinstance(value, str) or not value.strip():
            raise fail(f"'{key}' must be a non-empty string", key)
        values[key] = value.strip()
    if isinstance(raw.get("id"), float):
        raise fail('quote check ids such as "5.10" (YAML reads them as numbers)', "id")
    expires = _date(raw.get("expires"))
    if expires is _BAD:
        raise fail(f"'expires' must be a date YYYY-MM-DD, not {_short(raw.get('expires'))}", "expires")
    return Suppression(
        expires=expires if isinstance(expires, dt.date) else None,
        origin=f"{origin}: {label} ({values['id']})",
        **values,
    )


class _Bad(enum.Enum):
    BAD = enum.auto()


#: What `_date` returns for a value that is not a date.
_BAD: Final = _Bad.BAD


def _date(value: object) -> dt.date | _Bad | None:
    """A `date` from a YAML value (a string left by the loader, or a date), None, or `_BAD`."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if not isinstance(value, str) or len(value) > 64:
        return _BAD
    text = value.strip()
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        pass
    try:  # 2026-12-31 10:00:00 / 2026-12-31T10:00:00Z: the day counts
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).date()
    except ValueError:
        return _BAD


def _short(value: object, limit: int = 40) -> str:
    if isinstance(value, dict | list):
        return "a mapping" if isinstance(value, dict) else "a list"
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _names(keys: Iterable[object]) -> str:
    names = sorted(str(k)[:40] for k in keys)
    more = f" and {len(names) - 5} more" if len(names) > 5 else ""
    return ", ".join(names[:5]) + more


#: Byte cap of a suppressions file.  YAML costs ~200 bytes of memory per byte while it is
#: parsed; 1 MiB (thousands of entries) keeps that near 200 MiB.
SUPPRESSIONS_LIMIT = 1 * MiB


def load(path: str | Path) -> tuple[Suppression, ...]:
    """Read (at most `SUPPRESSIONS_LIMIT` bytes) and parse a suppressions file."""
    origin = "<stdin>" if str(path) == "-" else str(path)
    return parse(read_bytes(path, limit=SUPPRESSIONS_LIMIT, what="suppressions file"), origin)


def expired_warnings(
    suppressions: Iterable[Suppression], today: dt.date | None = None
) -> list[str]:
    """One message per expired entry."""
    today = today or dt.date.today()
    return [
        f"suppression {s.describe()} expired on {s.expires.isoformat()} and is ignored "
        f"(reason was: {s.reason})"
        for s in suppressions
        if s.expired(today) and s.expires is not None
    ]


def apply(
    report: Report, suppressions: Iterable[Suppression], *, today: dt.date | None = None
) -> Report:
    """Mark matching results and findings as suppressed; expired entries become notes."""
    today = today or dt.date.today()
    entries = tuple(suppressions)
    active = Index(s for s in entries if not s.expired(today))
    results = tuple(_suppress_result(r, active) for r in report.results)
    findings = tuple(_suppress_finding(f, active) for f in report.findings)
    notes = report.notes + tuple(
        ReportNote("suppressions", NoteStatus.WARNING, msg) for msg in expired_warnings(entries, today)
    )
    return dataclasses.replace(report, results=results, findings=findings, notes=notes)


def covering(index: Index, check_id: str, obj: str) -> Suppression | None:
    """The first entry of `index` that covers one object of a check, or None.

    For consumers that work per object (``dockguard diff``) rather than per check result;
    build the index from unexpired entries with `active_index`.
    """
    for s in index.candidates([check_id]):
        if s.matches_target(obj):
            return s
    return None


def active_index(suppressions: Iterable[Suppression], today: dt.date | None = None) -> Index:
    """An `Index` of the entries that have not expired."""
    today = today or dt.date.today()
    return Index(s for s in suppressions if not s.expired(today))


def _suppress_finding(finding: Finding, active: Index) -> Finding:
    if finding.suppressed:
        return finding
    ids = [finding.id, *(finding.vulnerability.aliases if finding.vulnerability else ())]
    purl, path = finding_purl(finding), finding_path(finding)
    for s in active.candidates(ids):
        if s.matches_target(finding.obj, purl, path):
            return dataclasses.replace(finding, suppressed=s.reason)
    return finding


def _suppress_result(result: CheckResult, active: Index) -> CheckResult:
    if result.suppressed:
        return result
    relevant = active.candidates([result.id])
    for s in relevant:
        if not s.scoped:
            return dataclasses.replace(result, suppressed=s.reason)
    failing = [d for d in result.details if d.outcome in (Outcome.WARN, Outcome.ERROR)]
    if not failing or not relevant:
        return result
    reasons: list[str] = []
    for detail in failing:
        match = next((s for s in relevant if s.matches_target(detail.obj)), None)
        if match is None:
            return result
        if match.reason not in reasons:
            reasons.append(match.reason)
    return dataclasses.replace(result, suppressed="; ".join(reasons))


def add_argument(parser: argparse.ArgumentParser) -> None:
    """Add the shared ``--suppressions FILE`` option to a command's parser."""
    parser.add_argument(
        "--suppressions",
        metavar="FILE",
        help="YAML file of accepted results (id, optional container/image/purl/path scope, "
        "expiry date, reason); matches stay in the report marked as suppressed",
    )


def apply_file(
    report: Report,
    path: str | Path | None,
    *,
    warn: Callable[[str], None] | None = None,
    today: dt.date | None = None,
) -> Report:
    """Load `path` (if given), warn about expired entries and apply the rest to `report`."""
    if not path:
        return report
    return apply_loaded(report, load(path), warn=warn, today=today)


def apply_loaded(
    report: Report,
    entries: tuple[Suppression, ...],
    *,
    warn: Callable[[str], None] | None = None,
    today: dt.date | None = None,
) -> Report:
    """`apply_file` with entries loaded earlier (load them before a big job to fail fast)."""
    say = warn or (lambda msg: print(f"dockguard: warning: {msg}", file=sys.stderr))
    for message in expired_warnings(entries, today):
        say(message)
    return apply(report, entries, today=today)
