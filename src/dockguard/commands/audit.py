"""``dockguard audit``: every surface in one run and one report.

CIS bench (with the daemon's TCP endpoints probed for 2.7), a scan of every image a container
uses (or all images), the unix socket, the registries the daemon is configured for, and the
seccomp/AppArmor evaluation of containers (CIS 5.2, 5.3, 5.22 with the profile linter).
A part that cannot run becomes an N/A section with the reason, never a crash.  The work is
`dockguard.pipeline.audit.run_audit`; this module parses arguments and prints progress.
"""

from __future__ import annotations

import argparse
import sys
import time

from dockguard.commands.common import (
    Subparsers,
    add_connection_args,
    add_report_arguments,
    check_outputs,
    collect_options,
)
from dockguard.model import Surface


def register(sub: Subparsers) -> None:
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
    add_report_arguments(
        p,
        Surface.AUDIT,
        vex=True,
        fail_on_help="exit 1 when a finding or a failed scored check at/above SEVERITY remains",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress messages on stderr")
    from dockguard.commands.registry_scan import add_store_argument

    add_store_argument(p, record="the host's snapshot, report, containers and images (`fleet report`)")
    p.set_defaults(handler=run)


class _Steps:
    """Progress messages on stderr: one line per part of the audit."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.t0 = time.perf_counter()

    def __call__(self, message: str) -> None:
        if not self.quiet:
            print(f"dockguard: [{time.perf_counter() - self.t0:5.1f}s] {message}", file=sys.stderr, flush=True)


def _warning(message: str) -> None:
    # Not progress: shown even with -q.
    print(f"dockguard: warning: {message}", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    """Parse the options, run the audit pipeline, render and map to an exit code."""
    from dockguard import suppress, vex
    from dockguard.collect.docker_api import default_docker_host
    from dockguard.commands.common import finish_report
    from dockguard.engine import Options
    from dockguard.exit_policy import parse_fail_on
    from dockguard.pipeline.audit import AuditRequest, run_audit
    from dockguard.report.formats import RenderOptions
    from dockguard.report.text import TextOptions

    fail_on = parse_fail_on(args.fail_on)
    check_outputs(args.output)
    if args.suppressions:
        suppress.load(args.suppressions)
    request = AuditRequest(
        collect=collect_options(args, args.docker_host or default_docker_host()),
        all_images=args.all_images,
        no_images=args.no_images,
        no_registries=args.no_registries,
        db=args.db,
        ignore_unfixed=args.ignore_unfixed,
        options=Options(trusted_users=tuple(u for u in args.trusted_users.split(",") if u)),
        vex=vex.load_all(args.vex),
    )
    store = None
    if args.store is not None:
        from dockguard.store import parse_store_url

        store = parse_store_url(args.store or None)
    recorder = None
    if store is not None:
        from dockguard.pipeline.fleet import FleetRecorder

        recorder = FleetRecorder()
    report = run_audit(request, _Steps(args.quiet), _warning, recorder)
    colour = not args.output and sys.stdout.isatty()
    code = finish_report(report, args, fail_on, RenderOptions(TextOptions(colour=colour)))
    if store is not None and recorder is not None:
        from dockguard.commands.fleet import record
        from dockguard.pipeline.fleet import record_audit

        kept = suppress.apply_file(report, args.suppressions) if args.suppressions else report
        url, observed = store, recorder
        return record(lambda: record_audit(url, kept, observed), code)
    return code
