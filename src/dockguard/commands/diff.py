"""``dockguard diff OLD.json NEW.json``: what is new, fixed and unchanged between two runs.

Both files are dockguard JSON reports (``--format json`` of any command, report schema 1 or
2).  The comparison and its model live in `dockguard.pipeline.report_diff`: the result is one
`Report` whose new problems are ordinary findings and whose fixed and unchanged ones are listed
but marked suppressed, so every format and ``--fail-on`` work as for any command.
``--fail-on-new SEVERITY`` is ``--fail-on`` spelled for this command: exit 1 when a new problem
is at or above that severity, for CI gates that accept existing debt but no regression.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from dockguard.errors import UsageError
from dockguard.model import Surface

if TYPE_CHECKING:
    from dockguard.commands.common import Subparsers


def register(sub: Subparsers) -> None:
    """Add the ``diff`` subcommand."""
    from dockguard.commands.common import add_report_arguments

    p = sub.add_parser(
        "diff",
        help="compare two JSON reports: new, fixed and unchanged problems",
        description="Compare two dockguard JSON reports (--format json) and list the problems "
        "that are new, fixed or unchanged. Check results are compared per object "
        "(check id, container/image/file), findings by (id, object). The result is a report: "
        "new problems are findings with their severity (the only ones --fail-on counts and "
        "SARIF lists); fixed and unchanged ones are listed, marked suppressed.",
    )
    p.add_argument("old", metavar="OLD.json", help="the earlier report")
    p.add_argument("new", metavar="NEW.json", help="the later report")
    add_report_arguments(p, Surface.DIFF, fail_on_help=(
        "exit 1 when a new problem is at or above SEVERITY (WARN: any new problem); 2 when the "
        "later run could not check everything"))
    p.add_argument(
        "--fail-on-new",
        metavar="SEVERITY",
        help="the same as --fail-on: exit 1 when a new problem has this severity or a higher one "
        "(CRITICAL, HIGH, MEDIUM, UNKNOWN, LOW, NEGLIGIBLE)",
    )
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Compare the two reports and finish like every report command."""
    from dockguard.commands.common import check_outputs, finish_report
    from dockguard.exit_policy import FailOn, parse_fail_on
    from dockguard.model import Severity
    from dockguard.pipeline.report_diff import diff_report

    if args.fail_on_new and args.fail_on:
        raise UsageError("give --fail-on or --fail-on-new, not both")
    fail_on = parse_fail_on(args.fail_on)
    if args.fail_on_new:
        try:
            fail_on = FailOn(Severity.parse(args.fail_on_new))
        except ValueError as exc:
            raise UsageError(f"--fail-on-new: {exc}") from None
    check_outputs(args.output)
    return finish_report(diff_report(args.old, args.new), args, fail_on)
