"""``dockguard bench``: the CIS Docker Benchmark 1.6.0 on a live daemon or a snapshot."""

from __future__ import annotations

import argparse
import sys

from dockguard.commands.common import (
    Progress,
    Subparsers,
    add_connection_args,
    add_report_arguments,
    check_outputs,
    collect_options,
    finish_report,
)
from dockguard.errors import UsageError
from dockguard.model import Surface


def register(sub: Subparsers) -> None:
    """Add the ``bench`` subcommand."""
    p = sub.add_parser(
        "bench",
        help="run the CIS Docker Benchmark 1.6.0 checks",
        description="Run the CIS Docker Benchmark 1.6.0 (sections 1-7) against the local or a "
        "remote daemon, or against a saved snapshot. Flags -b -p -l -u -c -e -i -x -t -n behave "
        "like docker-bench-security's.",
    )
    add_connection_args(p)
    p.add_argument("--snapshot", metavar="FILE", help="evaluate a snapshot saved by `dockguard collect`")
    p.add_argument("-b", dest="no_colour", action="store_true", help="do not print colours")
    p.add_argument("-p", dest="remediation", action="store_true", help="print remediation measures")
    p.add_argument(
        "-l", dest="log", metavar="FILE", help="also write the text log to FILE and docker-bench JSON to FILE.json"
    )
    p.add_argument(
        "-u", dest="trusted_users", metavar="USERS", default="", help="comma-separated trusted docker users (1.1.2)"
    )
    p.add_argument(
        "-c",
        dest="checks",
        metavar="CHECKS",
        default="",
        help="only these checks or groups (comma-separated, exact ids)",
    )
    p.add_argument(
        "-e", dest="exclude", metavar="CHECKS", default="", help="exclude these checks or groups (exact ids)"
    )
    p.add_argument(
        "-i",
        dest="include_containers",
        metavar="PATTERNS",
        default="",
        help="only containers/images whose name matches",
    )
    p.add_argument(
        "-x",
        dest="exclude_containers",
        metavar="PATTERNS",
        default="",
        help="skip containers/images whose name matches",
    )
    p.add_argument(
        "-t",
        dest="labels",
        metavar="LABELS",
        default="",
        help="only containers with these labels (key or key=value, comma-separated)",
    )
    p.add_argument(
        "-n",
        dest="limit",
        metavar="N",
        type=int,
        default=0,
        help="limit the number of items per check in JSON and text output",
    )
    p.add_argument("--level", type=int, choices=(1, 2), help="CIS profile level: 1 = Level 1 checks only, 2 = all")
    add_report_arguments(
        p,
        Surface.BENCH,
        fail_on_help="exit 1 when a scored WARN remains (WARN), or one whose severity is at/above LEVEL "
        "(CRITICAL, HIGH, MEDIUM, LOW), or an unsuppressed finding at/above it",
    )
    p.add_argument(
        "--max-version-age",
        type=int,
        default=180,
        metavar="DAYS",
        help="1.2.2: warn when the daemon build is older (default 180)",
    )
    p.set_defaults(handler=run)


def _split(text: str) -> tuple[str, ...]:
    return tuple(t.strip() for t in text.split(",") if t.strip())


def run(args: argparse.Namespace) -> int:
    """Parse the options, run the bench pipeline, render and map to an exit code."""
    from dockguard import suppress
    from dockguard.checks.catalogue import catalogue, select
    from dockguard.engine import Options
    from dockguard.exit_policy import parse_fail_on
    from dockguard.pipeline.bench import BenchRequest, run_bench
    from dockguard.report.formats import RenderOptions
    from dockguard.report.text import TextOptions

    fail_on = parse_fail_on(args.fail_on)
    if args.limit < 0:
        raise UsageError("-n must not be negative")
    if args.snapshot and (args.docker_host or args.host_root):
        raise UsageError("--snapshot cannot be combined with --docker-host or --host-root")
    checks = select(catalogue(), _split(args.checks), _split(args.exclude), args.level)
    if not checks:
        raise UsageError("the selection (-c/-e/--level) leaves no check to run")
    # Output paths and input files are checked before the expensive part, inputs one at a time.
    logs = (("text", args.log), ("docker-bench-json", args.log + ".json")) if args.log else ()
    check_outputs(args.output, *(path for _, path in logs))
    if args.suppressions:
        suppress.load(args.suppressions)
    request = BenchRequest(
        checks=checks,
        options=Options(
            trusted_users=_split(args.trusted_users),
            max_version_age_days=args.max_version_age,
            include_containers=_split(args.include_containers),
            exclude_containers=_split(args.exclude_containers),
            labels=_split(args.labels),
        ),
        snapshot_file=args.snapshot,
        collect=collect_options(args),
    )
    progress = Progress()
    report = run_bench(request, progress)
    progress.done()
    colour = not args.no_colour and not args.output and sys.stdout.isatty()
    text = TextOptions(colour=colour, remediation=args.remediation, limit=args.limit)
    return finish_report(report, args, fail_on, RenderOptions(text), logs)
