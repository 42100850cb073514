"""``dockguard bench``: the CIS Docker Benchmark 1.6.0 on a live daemon or a snapshot."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from dockguard.commands.common import (
    Progress,
    add_connection_args,
    check_outputs,
    collect_options,
    write_output,
)
from dockguard.errors import UsageError
from dockguard.report.formats import FORMATS
from dockguard.suppress import add_argument as add_suppressions_argument


def register(sub: Any) -> None:
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
    p.add_argument("--format", choices=tuple(FORMATS), default="text", help="report format (default text)")
    p.add_argument("-o", "--output", metavar="FILE", help="write the report to FILE instead of stdout")
    p.add_argument(
        "--fail-on",
        metavar="LEVEL",
        help="exit 1 when a scored WARN remains (WARN), or one whose severity is at/above LEVEL "
        "(CRITICAL, HIGH, MEDIUM, LOW)",
    )
    p.add_argument(
        "--max-version-age",
        type=int,
        default=180,
        metavar="DAYS",
        help="1.2.2: warn when the daemon build is older (default 180)",
    )
    add_suppressions_argument(p)
    p.set_defaults(handler=run)


def _split(text: str) -> tuple[str, ...]:
    return tuple(t.strip() for t in text.split(",") if t.strip())


def run(args: argparse.Namespace) -> int:
    """Collect (or load) facts, evaluate the selected checks, render, map to an exit code."""
    from dataclasses import replace
    from pathlib import Path

    from dockguard import suppress
    from dockguard.assemble import check_extras, snapshot_findings
    from dockguard.checks.catalogue import catalogue, select
    from dockguard.engine import Options, evaluate
    from dockguard.exit_policy import exit_code, parse_fail_on
    from dockguard.model import Report
    from dockguard.report import dockerbench_json, text
    from dockguard.report.formats import RenderOptions, render
    from dockguard.snapshot import Snapshot

    fail_on = parse_fail_on(args.fail_on)
    if args.limit < 0:
        raise UsageError("-n must not be negative")
    checks = select(catalogue(), _split(args.checks), _split(args.exclude), args.level)
    if not checks:
        raise UsageError("the selection (-c/-e/--level) leaves no check to run")

    # Output paths and input files are checked before the expensive part, inputs one at a time.
    check_outputs(args.output, args.log, args.log + ".json" if args.log else None)
    entries = suppress.load(args.suppressions) if args.suppressions else None
    started = time.time()
    if args.snapshot:
        if args.docker_host or args.host_root:
            raise UsageError("--snapshot cannot be combined with --docker-host or --host-root")
        snapshot = Snapshot.load(Path(args.snapshot))
    else:
        from dockguard.collect.gather import collect_snapshot

        progress = Progress()
        snapshot = collect_snapshot(
            collect_options(args),
            progress=progress,
        )
        progress.done()
    options = Options(
        trusted_users=_split(args.trusted_users),
        max_version_age_days=args.max_version_age,
        include_containers=_split(args.include_containers),
        exclude_containers=_split(args.exclude_containers),
        labels=_split(args.labels),
        extras=check_extras(snapshot),
    )
    report: Report = evaluate(snapshot, checks, options, started=started)
    report = replace(report, findings=report.findings + snapshot_findings(snapshot))
    if args.snapshot:
        report = replace(report, source=replace(report.source, snapshot_file=args.snapshot))
    if entries is not None:
        report = suppress.apply_loaded(report, entries)

    colour = not args.no_colour and not args.output and sys.stdout.isatty()
    text_opts = text.TextOptions(colour=colour, remediation=args.remediation, limit=args.limit)
    write_output(render(report, args.format, RenderOptions(text_opts)), args.output)
    if args.log:
        plain = text.TextOptions(colour=False, remediation=args.remediation, limit=args.limit)
        write_output(text.render(report, plain), args.log)
        write_output(
            dockerbench_json.render(report, limit=args.limit, remediation=args.remediation), args.log + ".json"
        )
    return exit_code(report, fail_on)
