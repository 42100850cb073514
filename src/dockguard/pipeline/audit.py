"""The audit pipeline: every surface of one Docker host in one `Report`.

    collect (collect/gather.py; the host alone when the daemon is unreachable)
      → the daemon socket probe
      → the images containers use (or all): inventory, vulnerabilities, VEX → ImageScanSummary
      → the registries the daemon is configured for
      → the CIS benchmark over the snapshot, which now holds the image scans
        (`dockguard.pipeline.bench.assemble`)

A part that cannot run becomes a note with the reason (``NOT CHECKED``, ``N/A``), never a crash;
when the daemon cannot be reached the report says so and carries no score.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from dockguard.collect.gather import CollectOptions
from dockguard.engine import Options
from dockguard.errors import DockguardError
from dockguard.model import Finding, NoteStatus, Report, ReportNote, Surface
from dockguard.report.score import DAEMON_NOTE
from dockguard.snapshot import ImageScanSummary, Snapshot
from dockguard.vex import Statement

if TYPE_CHECKING:
    from dockguard.image.scan import Inventory

#: The note part naming the daemon; NOT CHECKED there means the CIS part could not run (no score).
DAEMON_PART = DAEMON_NOTE


class AuditObserver(Protocol):
    """Receives the facts behind the report as the audit goes (``audit --store`` records them)."""

    def snapshot(self, snapshot: Snapshot) -> None:
        """The snapshot the CIS part evaluated (with the image scans), once."""

    def inventory(self, image_id: str, inventory: Inventory) -> None:
        """The inventory of one scanned image, as soon as it is read."""


@dataclass(frozen=True)
class AuditRequest:
    """What ``dockguard audit`` was asked."""

    collect: CollectOptions = field(default_factory=CollectOptions)
    all_images: bool = False
    no_images: bool = False
    no_registries: bool = False
    db: str | None = None
    ignore_unfixed: bool = False
    options: Options = field(default_factory=Options)
    vex: tuple[Statement, ...] = ()


def run_audit(
    request: AuditRequest,
    say: Callable[[str], None] = lambda _message: None,
    warn: Callable[[str], None] = lambda _message: None,
    observer: AuditObserver | None = None,
) -> Report:
    """Run every part and assemble one Report; `say` reports progress, `warn` what the user
    must know even when progress is off (the daemon could not be reached); `observer` is
    given the snapshot and the images' inventories."""
    from dockguard.checks.catalogue import catalogue
    from dockguard.collect.docker_api import default_docker_host
    from dockguard.collect.gather import collect_snapshot, host_only_snapshot
    from dockguard.pipeline.bench import assemble, snapshot_findings

    started = time.time()
    docker_host = request.collect.docker_host or default_docker_host()
    options = replace(request.collect, docker_host=docker_host)
    sections: list[ReportNote] = []
    findings: list[Finding] = []

    say(f"collecting facts from {docker_host} and the host")
    try:
        snapshot = collect_snapshot(options)
        daemon_ok = True
    except DockguardError as exc:
        snapshot = host_only_snapshot(options, str(exc))
        sections.append(ReportNote(DAEMON_PART, NoteStatus.NOT_CHECKED, str(exc)))
        daemon_ok = False
        warn(unreachable_hint(docker_host, exc))

    say("probing the daemon socket")
    host_root = options.host_root if options.host_root_given else None
    findings.extend(_socket_findings(docker_host, sections, host_root))
    findings.extend(snapshot_findings(snapshot))

    if not request.no_images:
        missing_db = _missing_db_reason(request.db)
        if missing_db:
            sections.append(ReportNote("vulnerabilities", NoteStatus.NOT_CHECKED, missing_db))
    if request.no_images:
        sections.append(ReportNote("images", NoteStatus.NOT_APPLICABLE, "skipped (--no-images)"))
    elif not daemon_ok:
        sections.append(ReportNote("images", NoteStatus.NOT_CHECKED, "the daemon is unreachable: no image to scan"))
    else:
        scans = _scan_images(request, snapshot, docker_host, findings, sections, say,
                             observer.inventory if observer is not None else None)
        snapshot = replace(snapshot, image_scans=scans)

    if request.no_registries:
        sections.append(ReportNote("registries", NoteStatus.NOT_APPLICABLE, "skipped (--no-registries)"))
    elif snapshot.daemon is not None:
        _probe_registries(snapshot, findings, sections, say)

    if observer is not None:
        observer.snapshot(snapshot)
    say("evaluating the CIS Docker Benchmark")
    report = assemble(snapshot, catalogue(), request.options, started=started, surface=Surface.AUDIT,
                      findings=findings, notes=sections)
    say(f"done: {len(report.results)} checks, {len(report.findings)} findings")
    return report


def unreachable_hint(docker_host: str, exc: Exception) -> str:
    """What to do when the daemon at `docker_host` cannot be reached (one line)."""
    why = str(exc).removeprefix(f"cannot connect to the Docker daemon at {docker_host}: ")
    return (
        f"the Docker daemon at {docker_host} could not be reached: {why}; the checks that need it are N/A. "
        "Start Docker, pass -H/--docker-host or set DOCKER_HOST, or evaluate a saved snapshot with "
        "`dockguard bench --snapshot FILE`"
    )


def _missing_db_reason(db: str | None) -> str | None:
    """The N/A reason of the vulnerability part when there is no database file yet, else None."""
    from dockguard.vuln.database import default_db_path

    path = Path(db).expanduser() if db else default_db_path()
    if path.exists():
        return None  # an unreadable or foreign file is reported when the scan opens it
    return f"not checked: no database at {path} (run `dockguard db update` or `dockguard db import PATH`)"


def _socket_findings(docker_host: str, sections: list[ReportNote], host_root: str | None = None) -> list[Finding]:
    from dockguard.channel.daemon_probe import parse_endpoint, probe
    from dockguard.model import NoteStatus, ReportNote

    if not docker_host.startswith("unix://"):
        return []  # TCP endpoints were probed during collection
    # In a container (--host-root) the socket's group is named from the host's /etc/group.
    result = probe(parse_endpoint(docker_host), host_root=host_root)
    failed = [s for s in result.steps if s.status.value == "FAILED"]
    if failed:
        sections.append(ReportNote("socket", NoteStatus.NOT_CHECKED, f"{failed[0].name}: {failed[0].reason}"))
    return list(result.findings)


def _scan_images(
    request: AuditRequest,
    snapshot: Snapshot,
    docker_host: str,
    findings: list[Finding],
    sections: list[ReportNote],
    say: Callable[[str], None],
    on_inventory: Callable[[str, Inventory], None] | None = None,
) -> tuple[ImageScanSummary, ...]:
    """The image pipeline (`dockguard.pipeline.image_scan`) over the images audit scans."""
    from dockguard.pipeline.image_scan import ScanSettings, image_targets, scan_daemon_images
    from dockguard.vuln.match import MatchOptions

    targets = image_targets(snapshot, request.all_images)
    if not targets:
        sections.append(ReportNote("images", NoteStatus.NOT_APPLICABLE,
                                   "no container uses an image (use --all-images to scan all)"))
        return ()
    settings = ScanSettings(db_path=Path(request.db).expanduser() if request.db else None,
                            match=MatchOptions(ignore_unfixed=request.ignore_unfixed), vex=request.vex)
    scanned = scan_daemon_images(docker_host, targets, settings, say, on_inventory)
    stated = any(n.part == "vulnerabilities" for n in sections)  # "no database" is stated already
    sections.extend(n for n in scanned.notes if not (stated and n.status is NoteStatus.NOT_CHECKED))
    for image in scanned.images:
        findings.extend(image.findings)
        sections.extend(image.notes)
    return tuple(image.summary for image in scanned.images)


def _probe_registries(
    snapshot: Snapshot, findings: list[Finding], sections: list[ReportNote], say: Callable[[str], None]
) -> None:
    from dockguard.channel.registry_probe import probe
    from dockguard.model import NoteStatus, ReportNote

    daemon = snapshot.daemon
    assert daemon is not None
    names = [ic.name for ic in daemon.index_configs if not ic.official]
    names += [m for m in daemon.registry_mirrors]
    cfg = daemon.config
    for entry in cfg.strings("insecure-registries") if cfg else ():
        if "/" not in entry:  # CIDRs are ranges, not registries
            names.append(entry)
    urls = list(dict.fromkeys(names))  # a bare host:port lets the probe find the scheme
    if not urls:
        sections.append(ReportNote("registries", NoteStatus.NOT_APPLICABLE,
                                 "the daemon is configured for no registry besides Docker Hub"))
        return
    for url in urls:
        say(f"probing registry {url}")
        try:
            result = probe(url)
        except DockguardError as exc:
            sections.append(ReportNote(f"registry:{url}", NoteStatus.NOT_CHECKED, str(exc)))
            continue
        findings.extend(result.findings)
        failed = [s for s in result.steps if s.status.value == "FAILED"]
        if failed and not result.findings:
            sections.append(ReportNote(f"registry:{url}", NoteStatus.NOT_CHECKED,
                                       f"{failed[0].name}: {failed[0].reason}"))
