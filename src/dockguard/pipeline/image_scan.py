"""The image pipeline: source → layers → inventory → match → VEX → findings.

Typed steps, each taking the previous one's value:

1. `open_source` (`ImageRequest` → `ImageSource`): a file or directory, a registry reference
   (pulled without a daemon), else an image of the local daemon;
2. `read_inventory` (source → `Inventory`): layers (through the layer cache) and cataloguers;
3. `open_database` then `match` (`Inventory` + `VulnDatabase` → `ImageScan`, or None when
   there is no database): matches, packages not checked and why, the age of the data;
4. `image_findings` (→ vulnerability and image configuration findings);
5. `apply_vex` (OpenVEX statements mark findings suppressed);
6. `image_notes`, `image_subject`, `image_summary`, `inventory_packages`: what a report says
   about the image (what was not read or checked, the image, the CIS 4.x summary, the inventory).

`scan_image` runs them for ``dockguard image scan`` (one `Report`), `inventory_report` for
``--list-packages`` and ``image sbom`` (no database), `scan_daemon_images` for ``dockguard
audit`` (every image a container uses).  Suppressions are applied once, later, by
`dockguard.commands.common.finish_report`.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from dockguard.errors import DockguardError, UsageError
from dockguard.image.scan import ImageScan, Inventory
from dockguard.model import (
    Finding,
    FindingKind,
    ImageSubject,
    NoteStatus,
    PackageRef,
    Report,
    ReportNote,
    ReportSource,
    Severity,
    Surface,
    VulnerabilityInfo,
)
from dockguard.snapshot import ImageScanSummary, Snapshot
from dockguard.vuln.match import MatchOptions

if TYPE_CHECKING:
    from dockguard.image.cache import LayerCache
    from dockguard.image.packages import Package
    from dockguard.image.sources import ImageSource
    from dockguard.vex import Statement
    from dockguard.vuln.database import VulnDB
    from dockguard.vuln.match import VulnMatch

#: Notes of one kind kept per image (the rest become one "… N more" note): an image that
#: cannot be read can fail in thousands of places.
MAX_NOTES = 1000

#: The part name of notes about the vulnerability database (no database, stale data).
VULNERABILITIES = "vulnerabilities"

Progress = Callable[[str], None]


# --------------------------------------------------------------------------- requests


@dataclass(frozen=True)
class RegistryAuth:
    """How to pull from a registry: credentials, CA, TLS verification."""

    username: str | None = None
    password: str | None = None
    ca_cert: str | None = None
    insecure: bool = False
    allow_plain_http_credentials: bool = False


@dataclass(frozen=True)
class ImageRequest:
    """Which image to read and how (``image scan``/``image sbom`` TARGET and options)."""

    target: str
    platform: str | None = None
    use_cache: bool = True
    offline: bool = False
    """Refuse registry pulls (the scan itself never downloads anything else)."""
    registry: RegistryAuth = field(default_factory=RegistryAuth)


@dataclass(frozen=True)
class ScanSettings:
    """How to match and what to show: database, noise rules, VEX, severity filter."""

    db_path: Path | None = None
    """None: ``$DOCKGUARD_DB`` or the user cache dir."""
    match: MatchOptions = field(default_factory=MatchOptions)
    vex: tuple[Statement, ...] = ()
    severities: frozenset[Severity] | None = None
    """Only findings of these severities are kept (``--severity``); None keeps all."""
    offline: bool = False
    """Name ``dockguard db import`` rather than ``db update`` in the stale-data warning."""


# --------------------------------------------------------------------------- 1-2 source, inventory


def open_source(request: ImageRequest, cache: LayerCache | None) -> ImageSource:
    """Files and directories first, then registry references, then daemon image names."""
    from dockguard.image.pull import looks_like_registry_ref, open_registry_source
    from dockguard.image.sources import open_target

    target = request.target
    local = target.split(":", 1)[0] in ("docker-archive", "oci", "dir") or Path(target).exists()
    if local or not looks_like_registry_ref(target):
        return open_target(target, request.platform, config_cache=cache)
    if request.offline:
        raise UsageError(f"--offline: {target} would be pulled from a registry; scan a local image or archive")
    auth = request.registry
    return open_registry_source(
        target, request.platform, auth.insecure, auth.username, auth.password, ca_cert=auth.ca_cert,
        allow_plain_http_credentials=auth.allow_plain_http_credentials,
    )


def read_inventory(source: ImageSource, cache: LayerCache | None) -> Inventory:
    """The inventory of `source` (closed afterwards); what could not be read is in it."""
    from dockguard.image.scan import build_inventory

    try:
        return build_inventory(source, cache)
    finally:
        source.close()


def read_image(request: ImageRequest) -> Inventory:
    """Steps 1 and 2: open the image `request` names and inventory it."""
    from dockguard.image.cache import LayerCache

    cache = LayerCache() if request.use_cache else None
    return read_inventory(open_source(request, cache), cache)


# --------------------------------------------------------------------------- 3 database, match


@dataclass(frozen=True)
class VulnDatabase:
    """The vulnerability database of a scan, or why there is none (`missing`)."""

    db: VulnDB | None
    missing: str = ""
    """The NOT CHECKED reason when there is no database."""
    hint: str = "`dockguard db update`"
    """The command a stale-data warning recommends."""

    def close(self) -> None:
        """Close the connection, if any."""
        if self.db is not None:
            self.db.close()


def missing_database_reason(path: Path) -> str:
    """The NOT CHECKED reason of the vulnerability part when there is no database at `path`."""
    return (f"vulnerabilities not checked: no database at {path} "
            "(run `dockguard db update` or `dockguard db import PATH`)")


def open_database(path: Path | None, *, offline: bool = False, tolerate_errors: bool = False) -> VulnDatabase:
    """The database at `path` (default: ``$DOCKGUARD_DB`` or the user cache dir).

    No file there is not an error: the scan goes on without vulnerabilities and says so.  A
    file that is not a usable database is an error, or (`tolerate_errors`, for ``audit``) the
    reason the vulnerabilities were not checked.
    """
    from dockguard.vuln.database import VulnDB, default_db_path

    hint = "`dockguard db import`" if offline else "`dockguard db update`"
    where = path.expanduser() if path else default_db_path()
    if not where.exists():
        return VulnDatabase(None, missing_database_reason(where), hint)
    try:
        return VulnDatabase(VulnDB.open(where), "", hint)
    except DockguardError as exc:
        if not tolerate_errors:
            raise
        return VulnDatabase(None, f"vulnerabilities not checked: {exc}", hint)


def match(inv: Inventory, database: VulnDatabase, options: MatchOptions) -> ImageScan | None:
    """Step 3: `inv` matched against the database (None when there is none)."""
    from dockguard.image.scan import check_inventory

    if database.db is None:
        return None
    return check_inventory(inv, database.db, options, hint=database.hint)


# --------------------------------------------------------------------------- 4-5 findings, VEX


def package_ref(p: Package) -> PackageRef:
    """The report's view of an inventoried package."""
    return PackageRef(name=p.name, version=p.version, type=p.type, purl=p.purl, path=p.path, layer=p.layer,
                      source_name=p.source_name, source_version=p.source_version, os_owned=p.os_owned,
                      licenses=p.licenses, evidence=p.evidence)


def vuln_finding(m: VulnMatch, obj: str) -> Finding:
    """A `VulnMatch` as a report finding of kind ``vulnerability``."""
    p = m.package
    return Finding(
        id=m.id,
        kind=FindingKind.VULNERABILITY,
        severity=m.severity,
        title=m.title or m.id,
        obj=obj,
        description=m.description,
        references=m.references,
        remediation=f"Upgrade {p.name} to {m.fixed_version}" if m.fixed_version else m.reason,
        path=p.path,
        package=package_ref(p),
        vulnerability=VulnerabilityInfo(
            state=m.state,
            installed=m.installed_version,
            fixed=m.fixed_version,
            aliases=tuple(m.aliases),
            sources=tuple(m.sources),
            severity_sources=tuple(sorted(m.severity_sources.items())),
            cvss=m.cvss,
            reason=m.reason,
        ),
    )


def image_findings(inv: Inventory, scan: ImageScan | None, label: str) -> tuple[Finding, ...]:
    """Step 4: the vulnerability findings (none without a database) and the image
    configuration findings, all labelled `label` (``image:NAME``)."""
    from dockguard.image import config_rules

    vulns = [vuln_finding(m, label) for m in scan.matches] if scan is not None else []
    return (*vulns, *config_rules.check_image(inv, label))


def image_refs(inv: Inventory) -> tuple[str, ...]:
    """The names an image is known by (name, tags, id), for matching VEX image products."""
    meta = inv.metadata
    return tuple(r for r in (meta.name, *meta.repo_tags, meta.image_id) if r)


def apply_vex(findings: Sequence[Finding], statements: Sequence[Statement], inv: Inventory) -> tuple[Finding, ...]:
    """Step 5: findings a winning ``not_affected``/``fixed`` statement covers are marked suppressed."""
    from dockguard import vex

    return vex.apply_findings(findings, statements, image_refs(inv))


def keep_severities(findings: Iterable[Finding], severities: frozenset[Severity] | None) -> tuple[Finding, ...]:
    """Only the findings of `severities` (all when None)."""
    return tuple(f for f in findings if severities is None or f.severity in severities)


# --------------------------------------------------------------------------- 6 what a report says


def _capped(part: str, status: NoteStatus, reasons: Sequence[str]) -> list[ReportNote]:
    notes = [ReportNote(part, status, r) for r in reasons[:MAX_NOTES]]
    if len(reasons) > MAX_NOTES:
        notes.append(ReportNote(part, status, f"… {len(reasons) - MAX_NOTES} more"))
    return notes


def image_notes(inv: Inventory, scan: ImageScan | None, part: str, *,
                condensed: bool = False) -> tuple[ReportNote, ...]:
    """What the report must say about one image: each part not read (INCOMPLETE), the packages
    whose vulnerabilities could not be checked (NOT CHECKED, one note per reason) and, unless
    `condensed` (one INCOMPLETE note, no warnings: ``audit``), the warnings and layer errors."""
    notes: list[ReportNote] = []
    if inv.incomplete and condensed:
        notes.append(ReportNote(part, NoteStatus.INCOMPLETE,
                                f"{len(inv.incomplete)} part(s) not read, e.g. {inv.incomplete[0]}"))
    elif inv.incomplete:
        notes += _capped(part, NoteStatus.INCOMPLETE, inv.incomplete)
    if scan is not None:
        notes += [ReportNote(part, NoteStatus.NOT_CHECKED, n.message()) for n in scan.not_checked]
    if not condensed:
        notes += _capped(part, NoteStatus.WARNING, inv.warnings)
        notes += _capped(part, NoteStatus.WARNING, inv.errors)
    return tuple(notes)


def database_notes(database: VulnDatabase, staleness: Iterable[str | None] = ()) -> tuple[ReportNote, ...]:
    """NOT CHECKED when there is no database; one WARNING per distinct stale-data warning."""
    notes = [ReportNote(VULNERABILITIES, NoteStatus.NOT_CHECKED, database.missing)] if database.missing else []
    notes += [ReportNote(VULNERABILITIES, NoteStatus.WARNING, s) for s in dict.fromkeys(staleness) if s]
    return tuple(notes)


def image_subject(inv: Inventory) -> ImageSubject:
    """The report's view of a scanned image."""
    meta, os_info = inv.metadata, inv.os
    return ImageSubject(
        target=meta.name, source_kind=meta.kind, image_id=meta.image_id, repo_tags=tuple(meta.repo_tags),
        platform=meta.platform, os_family=os_info.family if os_info else "",
        os_version=os_info.version if os_info else "", os_name=os_info.pretty_name if os_info else "",
        os_eol=os_info.eol if os_info else None, package_count=len(inv.packages), complete=inv.complete,
    )


def inventory_packages(inv: Inventory) -> tuple[PackageRef, ...]:
    """The inventory as the report's packages (CycloneDX components, the JSON ``packages``)."""
    return tuple(package_ref(p) for p in inv.packages)


def image_summary(name: str, image_id: str, inv: Inventory, findings: Iterable[Finding],
                  vulnerabilities_checked: bool) -> ImageScanSummary:
    """What CIS 4.4/4.8/4.10 read: unsuppressed vulnerabilities by severity (None when not
    checked), setuid files and redacted secrets, and whether the image was read in full."""
    live = [f for f in findings if not f.suppressed]
    counts = Counter(f.severity for f in live if f.kind is FindingKind.VULNERABILITY)
    return ImageScanSummary(
        image=name,
        image_id=image_id,
        complete=inv.complete,
        not_read=inv.incomplete,
        vulnerabilities=dict(counts) if vulnerabilities_checked else None,
        setuid_files=tuple(f.path for f in live if f.id == "IMG-SETUID" and f.path),
        secrets=tuple(f"{f.fact('location')}: {f.fact('redacted')}" for f in live if f.id == "IMG-SECRET"),
    )


# --------------------------------------------------------------------------- one image


@dataclass(frozen=True)
class ImageResult:
    """One image through the pipeline: its findings, what the report must say about it, and
    the CIS 4.x summary.  `subject` is None when the image could not be read at all."""

    name: str
    subject: ImageSubject | None
    findings: tuple[Finding, ...]
    notes: tuple[ReportNote, ...]
    summary: ImageScanSummary
    staleness: str | None = None


def analyse(inv: Inventory, database: VulnDatabase, settings: ScanSettings, name: str, label: str,
            *, condensed: bool = False) -> ImageResult:
    """Steps 3 to 6 for one inventory (the database stays open)."""
    scan = match(inv, database, settings.match)
    findings = apply_vex(image_findings(inv, scan, label), settings.vex, inv)
    return ImageResult(
        name=name,
        subject=image_subject(inv),
        findings=keep_severities(findings, settings.severities),
        notes=image_notes(inv, scan, label, condensed=condensed),
        summary=image_summary(name, inv.metadata.image_id, inv, findings, scan is not None),
        staleness=scan.staleness if scan is not None else None,
    )


def scan_image(request: ImageRequest, settings: ScanSettings) -> Report:
    """``dockguard image scan``: the image's Report (findings, notes, the inventory)."""
    from dockguard import __version__

    started = time.time()
    database = open_database(settings.db_path, offline=settings.offline)  # a broken one fails before the scan
    try:
        inv = read_image(request)
        subject = image_subject(inv)
        result = analyse(inv, database, settings, subject.target, subject.label)
    finally:
        database.close()
    return Report(
        tool_version=__version__, started=started, finished=time.time(),
        source=ReportSource(Surface.IMAGE_SCAN, target=subject.target, images=(subject,)),
        findings=result.findings,
        notes=(*result.notes, *database_notes(database, [result.staleness])),
        packages=inventory_packages(inv),
    )


def inventory_report(request: ImageRequest) -> Report:
    """``image scan --list-packages`` and ``image sbom``: the inventory alone (no database,
    no findings), with what could not be read."""
    from dockguard import __version__

    started = time.time()
    inv = read_image(request)
    subject = image_subject(inv)
    return Report(
        tool_version=__version__, started=started, finished=time.time(),
        source=ReportSource(Surface.IMAGE_SCAN, target=subject.target, images=(subject,)),
        notes=(*image_notes(inv, None, subject.label), INVENTORY_ONLY),
        packages=inventory_packages(inv),
    )


#: The note of an inventory without vulnerability matching (``--list-packages``, ``image sbom``).
INVENTORY_ONLY = ReportNote(VULNERABILITIES, NoteStatus.NOT_APPLICABLE, "not matched: inventory only")

#: Warnings repeated on stderr (the rest: "… K more").
MAX_STDERR = 20


def stderr_warnings(report: Report) -> list[str]:
    """The lines a command prints on stderr whatever the format: the warnings (at most
    `MAX_STDERR`) and, for an incomplete scan, how much was not read."""
    warnings = [n.reason for n in report.notes if n.status is NoteStatus.WARNING]
    lines = warnings[:MAX_STDERR]
    if len(warnings) > MAX_STDERR:
        lines.append(f"… {len(warnings) - MAX_STDERR} more warnings (see --format json)")
    incomplete = [n.reason for n in report.notes if n.status is NoteStatus.INCOMPLETE]
    if incomplete:
        lines.append(f"INCOMPLETE SCAN: {len(incomplete)} part(s) of the image were not read, e.g. {incomplete[0]}")
    return lines


# --------------------------------------------------------------------------- the daemon's images


@dataclass(frozen=True)
class DaemonImages:
    """The images of a daemon through the pipeline, and the notes about the run as a whole
    (no database, stale data)."""

    images: tuple[ImageResult, ...]
    notes: tuple[ReportNote, ...]


def image_targets(snapshot: Snapshot, all_images: bool) -> dict[str, str]:
    """The images ``audit`` scans: those containers use (or, `all_images`, every image), as
    image id → display name."""
    targets: dict[str, str] = {}
    for c in snapshot.containers or ():
        targets.setdefault(c.image_id, c.image or c.image_id)
    if all_images:
        for img in snapshot.images or ():
            targets.setdefault(img.id, img.display_name)
    return targets


def scan_daemon_images(docker_host: str, targets: Mapping[str, str], settings: ScanSettings,
                       progress: Progress | None = None,
                       on_inventory: Callable[[str, Inventory], None] | None = None) -> DaemonImages:
    """Scan the daemon's images `targets` (image id → display name), in name order.

    Each image's findings and notes are labelled ``image:<display name>``; an image that
    cannot be read gives an ERROR note and a summary with the error; no database (or an
    unusable one) gives one NOT CHECKED note for the run and vulnerability counts of None.
    `on_inventory` is given (image id, inventory) of each image read (``audit --store``).
    """
    from dockguard.collect.docker_api import connect
    from dockguard.image.cache import LayerCache
    from dockguard.image.sources import DaemonSource

    say = progress or (lambda _message: None)
    database = open_database(settings.db_path, offline=settings.offline, tolerate_errors=True)
    cache = LayerCache()
    results: list[ImageResult] = []
    try:
        api = connect(docker_host)  # one client for every image
        try:
            ordered = sorted(targets.items(), key=lambda kv: kv[1])
            for n, (image_id, name) in enumerate(ordered, 1):
                say(f"scanning image {n}/{len(ordered)}: {name}")
                label = f"image:{name}"
                try:
                    inv = read_inventory(DaemonSource(image_id, config_cache=cache, api=api), cache)
                except DockguardError as exc:
                    results.append(ImageResult(
                        name=name, subject=None, findings=(),
                        notes=(ReportNote(label, NoteStatus.ERROR, str(exc)),),
                        summary=ImageScanSummary(image=name, image_id=image_id, complete=False, error=str(exc)),
                    ))
                    continue
                if on_inventory is not None:
                    on_inventory(image_id, inv)
                results.append(analyse(inv, database, settings, name, label, condensed=True))
        finally:
            api.close()
    finally:
        database.close()
    return DaemonImages(tuple(results), database_notes(database, [r.staleness for r in results]))
