"""``dockguard fleet report``: the hosts recorded by ``audit --store`` in one report (issue 14).

Exit codes as every report: 0, 1 (``--fail-on`` tripped by a finding or failing check of a
host's latest audit), 2 (a usage or store error, or a gate that cannot be decided because a
host was not audited, was unreachable or was not read in full).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from dockguard.commands.registry_scan import add_store_argument
from dockguard.model import Surface

if TYPE_CHECKING:
    from dockguard.pipeline.fleet import Recorded


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``fleet report``."""
    parser = subparsers.add_parser("fleet", help="report on every host recorded with `audit --store`")
    sub = parser.add_subparsers(dest="fleet_command", metavar="SUBCOMMAND")
    def usage(_args: argparse.Namespace) -> int:
        parser.print_help(sys.stderr)
        return 2

    parser.set_defaults(handler=usage)
    report = sub.add_parser(
        "report", help="worst hosts, common failing checks, images by severity, where a CVE runs",
        description="Read the latest audit of every host in the store (recorded with `dockguard audit "
        "--store URL`) and report the worst hosts, the most common failing checks, the images by "
        "severity, where vulnerabilities run (host → container → image → layer → package) and what "
        "changed since each host's previous audit (see docs/scale.md).")
    add_store_argument(report)
    report.add_argument("--cve", action="append", default=[], metavar="ID",
                        help="only where this vulnerability runs (repeatable; an ID or an alias)")
    from dockguard.commands.common import add_report_arguments

    add_report_arguments(report, Surface.FLEET, fail_on_help=(
        "exit 1 when a host's latest audit has a finding or failing check at or above SEVERITY "
        "(2 when a host could not be audited in full)"))
    report.set_defaults(handler=_report)


def _report(args: argparse.Namespace) -> int:
    from dockguard.commands.common import check_outputs, finish_report
    from dockguard.exit_policy import parse_fail_on
    from dockguard.pipeline.fleet import open_fleet_report, parse_cves
    from dockguard.report.formats import RenderOptions
    from dockguard.report.text import TextOptions
    from dockguard.store import parse_store_url

    fail_on = parse_fail_on(args.fail_on)
    check_outputs(args.output)
    cves = parse_cves(args.cve)
    report = open_fleet_report(parse_store_url(args.store), cves)
    colour = not args.output and sys.stdout.isatty()
    return finish_report(report, args, fail_on, RenderOptions(TextOptions(colour=colour)))


def record(action: Callable[[], Recorded], code: int) -> int:
    """Record in the store after the report was written (``audit/collect --store``): say what
    was recorded; a store that cannot be written is exit 2 (the report is already out)."""
    from dockguard.errors import DockguardError

    try:
        done = action()
    except DockguardError as exc:
        print(f"dockguard: error: not recorded in the store: {exc}", file=sys.stderr)
        return 2
    if done.hostname_only:
        print(f"dockguard: warning: the daemon could not be reached: recorded under the hostname "
              f"{done.host.hostname} only (no daemon ID)", file=sys.stderr)
    else:
        print(f"dockguard: recorded host {done.host.hostname} (daemon {done.host.daemon_id}) as run {done.run}",
              file=sys.stderr)
    return code
