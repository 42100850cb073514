"""``dockguard audit``: every surface in one run and one report.

CIS bench (with the daemon's TCP endpoints probed for 2.7), a scan of every image a container
uses (or all images), the unix socket, the registries the daemon is configured for, and the
seccomp/AppArmor evaluation of containers (CIS 5.2, 5.3, 5.22 with the profile linter).
A part that cannot run becomes an N/A section with the reason, never a crash.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from dockguard.commands.common import add_connection_args, check_outputs, collect_options, write_output
from dockguard.errors import DockguardError
from dockguard.exit_policy import exit_code, parse_fail_on
from dockguard.report.formats import FORMATS
from dockguard.suppress import add_argument as add_suppressions_argument
from dockguard.vex import add_argument as add_vex_argument


def register(sub: Any) -> None:
    """Add the ``audit`` subcommand."""
    p = sub.add_parser(
        "audit",
        help="audit everything reachable into one report",
        description="CIS benchmark, image scans, daemon endpoint and registry probes and seccomp "
        "evaluation in one run. Missing parts (no database, daemon unreachable) are reported as "
        "N/A sections.",
    )
    add_connection_args(p)
    p.add_argument("--all-images", action="store_true", help="scan every image, not only those used by containers")
    p.add_argument("--no-images", action="store_true", help="skip image scans")
    p.add_argument(
        "--no-registries", action="store_true", help="do not probe the registries the daemon is configured for"
    )
    p.add_argument("--db", metavar="PATH", help="vulnerability database (default: $DOCKGUARD_DB or the user cache)")
    p.add_argument("--ignore-unfixed", action="store_true", help="hide vulnerabilities without a fixed version")
    p.add_argument("-u", dest="trusted_users", metavar="USERS", default="", help="trusted docker users (1.1.2)")
    p.add_argument("--format", choices=tuple(FORMATS), default="text", help="report format (default text)")
    p.add_argument("-o", "--output", metavar="FILE", help="write the report to FILE instead of stdout")
    p.add_argument(
        "--fail-on",
        metavar="SEVERITY",
        help="exit 1 when a finding or a failed scored check at/above SEVERITY remains",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress messages on stderr")
    add_suppressions_argument(p)
    add_vex_argument(p)
    p.set_defaults(handler=run)


class _Steps:
    """Progress messages on stderr: one line per part of the audit."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.t0 = time.perf_counter()

    def __call__(self, message: str) -> None:
        if not self.quiet:
            print(f"dockguard: [{time.perf_counter() - self.t0:5.1f}s] {message}", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    """Run every part, assemble one Report, render it, map to an exit code."""
    from dataclasses import replace

    from dockguard import suppress
    from dockguard.assemble import check_extras, snapshot_findings
    from dockguard.checks.catalogue import catalogue
    from dockguard.collect.docker_api import default_docker_host
    from dockguard.collect.gather import collect_snapshot
    from dockguard.engine import Options, evaluate
    from dockguard.model import Finding, NoteStatus, ReportNote, Surface
    from dockguard.report.formats import RenderOptions, render
    from dockguard.report.text import TextOptions

    fail_on = parse_fail_on(args.fail_on)
    check_outputs(args.output)
    from dockguard import vex

    statements = vex.load_all(getattr(args, "vex", None))
    say = _Steps(args.quiet)
    started = time.time()
    docker_host = args.docker_host or default_docker_host()
    sections: list[ReportNote] = []
    findings: list[Finding] = []
    options = collect_options(args, docker_host)

    say(f"collecting facts from {docker_host} and the host")
    try:
        snapshot = collect_snapshot(options)
        daemon_ok = True
    except DockguardError as exc:
        snapshot = _host_only_snapshot(options, str(exc))
        sections.append(ReportNote("daemon", NoteStatus.NOT_CHECKED, str(exc)))
        daemon_ok = False
        # Not progress: a warning that the report is mostly N/A and what to do about it (even with -q).
        print(f"dockguard: warning: {unreachable_hint(docker_host, exc)}", file=sys.stderr, flush=True)

    say("probing the daemon socket")
    findings.extend(_socket_findings(docker_host, sections, args.host_root))
    findings.extend(snapshot_findings(snapshot))

    image_scans: dict[str, Any] = {}
    if not args.no_images:
        missing_db = _missing_db_reason(args.db)
        if missing_db:
            sections.append(ReportNote("vulnerabilities", NoteStatus.NOT_CHECKED, missing_db))
    if args.no_images:
        sections.append(ReportNote("images", NoteStatus.NOT_APPLICABLE, "skipped (--no-images)"))
    elif not daemon_ok:
        sections.append(ReportNote("images", NoteStatus.NOT_CHECKED, "the daemon is unreachable: no image to scan"))
    else:
        image_scans = _scan_images(args, snapshot, docker_host, findings, sections, say, statements)

    if args.no_registries:
        sections.append(ReportNote("registries", NoteStatus.NOT_APPLICABLE, "skipped (--no-registries)"))
    elif snapshot.daemon is not None:
        _probe_registries(snapshot, findings, sections, say)

    say("evaluating the CIS Docker Benchmark")
    extras = check_extras(snapshot, image_scans)
    opts = Options(trusted_users=tuple(u for u in args.trusted_users.split(",") if u), extras=extras)
    report = evaluate(snapshot, catalogue(), opts, started=started, surface=Surface.AUDIT)
    report = replace(report, findings=tuple(findings), notes=tuple(sections))
    report = suppress.apply_file(report, args.suppressions)

    colour = not args.output and sys.stdout.isatty()
    write_output(render(report, args.format, RenderOptions(TextOptions(colour=colour))), args.output)
    say(f"done: {len(report.results)} checks, {len(report.findings)} findings")
    return exit_code(report, fail_on)


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
    from pathlib import Path

    from dockguard.vuln.database import default_db_path

    path = Path(db).expanduser() if db else default_db_path()
    if path.exists():
        return None  # an unreadable or foreign file is reported when the scan opens it
    return f"not checked: no database at {path} (run `dockguard db update` or `dockguard db import PATH`)"


def _host_only_snapshot(options: Any, reason: str) -> Any:
    """Host facts without the daemon, so host checks still run when the daemon is down."""
    import socket

    from dockguard import __version__
    from dockguard.collect.host_facts import collect_host
    from dockguard.model import CollectionError
    from dockguard.snapshot import Snapshot

    errors = [CollectionError("docker", options.docker_host or "", reason)]
    host = None
    if options.docker_host.startswith("unix://") or options.host_root_given:
        hc = collect_host(options.host_root, docker_host=options.docker_host)
        host = hc.facts
        errors += hc.errors
    return Snapshot(
        tool_version=__version__,
        created=time.time(),
        hostname=socket.gethostname(),
        docker_host=options.docker_host,
        host=host,
        errors=tuple(errors),
    )


def _socket_findings(docker_host: str, sections: list[Any], host_root: str | None = None) -> list[Any]:
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
    args: argparse.Namespace,
    snapshot: Any,
    docker_host: str,
    findings: list[Any],
    sections: list[Any],
    say: Any,
    statements: Any = (),
) -> dict[str, Any]:
    from pathlib import Path

    from dockguard.model import NoteStatus, ReportNote
    from dockguard.pipeline.image_scan import ScanSettings, image_targets, scan_daemon_images
    from dockguard.vuln.match import MatchOptions

    targets = image_targets(snapshot, args.all_images)
    if not targets:
        sections.append(ReportNote("images", NoteStatus.NOT_APPLICABLE,
                                   "no container uses an image (use --all-images to scan all)"))
        return {}
    settings = ScanSettings(db_path=Path(args.db) if args.db else None,
                            match=MatchOptions(ignore_unfixed=args.ignore_unfixed), vex=tuple(statements))
    scanned = scan_daemon_images(docker_host, targets, settings, say)
    stated = any(n.part == "vulnerabilities" for n in sections)  # "no database" is stated already
    sections.extend(n for n in scanned.notes if not (stated and n.status is NoteStatus.NOT_CHECKED))
    scans: dict[str, Any] = {}
    for image in scanned.images:
        findings.extend(image.findings)
        sections.extend(image.notes)
        scans[image.name] = _legacy_summary(image.summary)
    return scans


def _legacy_summary(s: Any) -> dict[str, Any]:
    """The dict CIS 4.4/4.8/4.10 read from ``extras["image_scans"]`` until they read
    `snapshot.ImageScanSummary` itself."""
    if s.error is not None:
        return {"error": s.error}
    out: dict[str, Any] = {"vulnerabilities": s.vulnerabilities, "setuid_files": list(s.setuid_files),
                           "secrets": list(s.secrets)}
    if not s.complete:
        out["incomplete"] = list(s.not_read)
    return out


def _probe_registries(snapshot: Any, findings: list[Any], sections: list[Any], say: Any) -> None:
    from dockguard.channel.registry_probe import probe
    from dockguard.model import NoteStatus, ReportNote

    daemon = snapshot.daemon
    names = [ic.name for ic in daemon.index_configs if not ic.official]
    names += [m for m in daemon.registry_mirrors]
    cfg = daemon.config
    for entry in (cfg.get("insecure-registries") if cfg else None) or ():
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
