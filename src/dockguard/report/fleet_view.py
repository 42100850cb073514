"""What a fleet report shows, computed from the `Report` alone (text and HTML use it alike).

Sections: the worst hosts, the most common failing checks, images by severity, where each
vulnerability runs (host → container → image → layer → package) and, per host, what is new
and what is fixed since its previous audit.  Everything is counted over unsuppressed
findings, except the fixed ones (which the report keeps suppressed).
"""

from __future__ import annotations

from dataclasses import dataclass

from dockguard.model import Change, Finding, FindingKind, HostSubject, Report, Severity

#: Severity columns, worst first.
COLUMNS = (Severity.CRITICAL, Severity.HIGH, Severity.MEDIUM, Severity.LOW, Severity.UNKNOWN,
           Severity.NEGLIGIBLE)
#: Rows per section (hosts, checks, images, vulnerabilities; the JSON report has them all).
TOP = 20
#: Vulnerabilities whose locations are listed when the report was not asked about some (--cve).
TOP_WHERE = 10
#: Locations listed per vulnerability, and changes per host.
MAX_ROWS = 200
#: How the target of a report asked about given vulnerabilities (``fleet report --cve``) starts.
ASKED_PREFIX = "where "


def _counts(findings: list[Finding]) -> tuple[int, ...]:
    return tuple(sum(1 for f in findings if f.severity is s) for s in COLUMNS)


def _rank(counts: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(-n for n in counts)


@dataclass(frozen=True)
class HostRow:
    """One host: findings by severity (`COLUMNS`), failing checks, what changed, its facts."""

    host: HostSubject
    counts: tuple[int, ...]
    failing_checks: int
    new: int
    fixed: int


@dataclass(frozen=True)
class CheckRow:
    """A check failing on some hosts."""

    id: str
    title: str
    severity: Severity
    hosts: tuple[str, ...]


@dataclass(frozen=True)
class ImageRow:
    """An image (by ID) with its distinct vulnerabilities by severity and where it is."""

    image_id: str
    names: tuple[str, ...]
    counts: tuple[int, ...]
    hosts: tuple[str, ...]
    containers: int


@dataclass(frozen=True)
class Location:
    """One place a vulnerability runs: host → containers → image → layer → package."""

    host: str
    containers: tuple[str, ...]
    image: str
    image_id: str
    layer: str
    package: str
    version: str
    fixed: str


@dataclass(frozen=True)
class Where:
    """One vulnerability and every place it is."""

    id: str
    severity: Severity
    title: str
    hosts: int
    locations: tuple[Location, ...]
    more: int = 0


@dataclass(frozen=True)
class HostChanges:
    """What is new and what is fixed on a host since its previous audit."""

    host: str
    previous_run: str
    new: tuple[Finding, ...]
    fixed: tuple[Finding, ...]


@dataclass(frozen=True)
class FleetView:
    """Every section of the fleet report."""

    hosts: tuple[HostRow, ...]
    checks: tuple[CheckRow, ...]
    images: tuple[ImageRow, ...]
    where: tuple[Where, ...]
    changes: tuple[HostChanges, ...]
    asked: bool
    """True when the report was asked about given vulnerabilities (``--cve``): `where` lists them all."""


def _containers(f: Finding) -> tuple[str, ...]:
    text = f.fact("containers")
    return tuple(c for c in text.split(", ") if c) if text else ()


def fleet_view(report: Report) -> FleetView:
    """The sections of `report` (a `Surface.FLEET` report)."""
    live = [f for f in report.findings if not f.suppressed]
    by_host: dict[str, list[Finding]] = {}
    for f in report.findings:
        by_host.setdefault(f.fact("host"), []).append(f)
    hosts = []
    for h in report.source.hosts:
        mine = by_host.get(h.label, [])
        alive = [f for f in mine if not f.suppressed]
        hosts.append(HostRow(h, _counts([f for f in alive if f.kind is not FindingKind.CHECK]),
                             sum(1 for f in alive if f.kind is FindingKind.CHECK),
                             sum(1 for f in alive if f.change is Change.NEW),
                             sum(1 for f in mine if f.change is Change.FIXED)))
    hosts.sort(key=lambda r: (_rank(r.counts), -r.failing_checks, r.host.label))

    checks: dict[str, list[Finding]] = {}
    for f in live:
        if f.kind is FindingKind.CHECK:
            checks.setdefault(f.id, []).append(f)
    check_rows = sorted((CheckRow(i, fs[0].title, fs[0].severity, tuple(sorted({f.fact("host") for f in fs})))
                         for i, fs in checks.items()),
                        key=lambda r: (-len(r.hosts), -r.severity.rank, r.id))

    vulns = [f for f in live if f.kind is FindingKind.VULNERABILITY]
    images: dict[str, list[Finding]] = {}
    for f in vulns:
        images.setdefault(f.fact("image_id") or f.obj, []).append(f)
    image_rows = []
    for image_id, fs in images.items():
        distinct = {(f.id, f.package.name if f.package else ""): f for f in fs}
        containers = {(f.fact("host"), c) for f in fs for c in _containers(f)}
        image_rows.append(ImageRow(image_id, tuple(sorted({f.fact("image") or f.obj for f in fs})),
                                   _counts(list(distinct.values())), tuple(sorted({f.fact("host") for f in fs})),
                                   len(containers)))
    image_rows.sort(key=lambda r: (_rank(r.counts), -len(r.hosts), r.image_id))

    asked = report.source.target.startswith(ASKED_PREFIX)
    by_id: dict[str, list[Finding]] = {}
    for f in vulns:
        by_id.setdefault(f.id, []).append(f)
    ranked = sorted(by_id.items(), key=lambda kv: (-len({f.fact("host") for f in kv[1]}),
                                                     -kv[1][0].severity.rank, kv[0]))
    where = []
    for vid, fs in ranked if asked else ranked[:TOP_WHERE]:
        locations = sorted((Location(f.fact("host"), _containers(f), f.fact("image") or f.obj, f.fact("image_id"),
                                     f.package.layer if f.package else f.fact("layer"),
                                     f.package.name if f.package else "", f.package.version if f.package else "",
                                     (f.vulnerability.fixed or "") if f.vulnerability else "")
                            for f in fs), key=lambda loc: (loc.host, loc.image, loc.package))
        where.append(Where(vid, fs[0].severity, fs[0].title, len({f.fact("host") for f in fs}),
                           tuple(locations[:MAX_ROWS]), max(0, len(locations) - MAX_ROWS)))

    changes = []
    for h in report.source.hosts:
        if not h.previous_run:
            continue
        mine = by_host.get(h.label, [])
        changes.append(HostChanges(
            h.label, h.previous_run,
            tuple(f for f in mine if f.change is Change.NEW and not f.suppressed),
            tuple(f for f in mine if f.change is Change.FIXED)))
    return FleetView(tuple(hosts), tuple(check_rows), tuple(image_rows), tuple(where), tuple(changes), asked)
