"""``dockguard collect``: save a snapshot of a daemon and its host for offline evaluation."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from dockguard.commands.common import Progress, add_connection_args, check_outputs, collect_options, write_output


def register(sub: Any) -> None:
    """Add the ``collect`` subcommand."""
    p = sub.add_parser(
        "collect",
        help="save a snapshot of the daemon and host facts",
        description="Collect every fact the checks need (read-only) and save it as versioned JSON; "
        "evaluate it later anywhere with `dockguard bench --snapshot FILE`.",
    )
    add_connection_args(p)
    p.add_argument("-o", "--output", metavar="FILE", required=True, help="snapshot file to write ('-' for stdout)")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Collect and write the snapshot; collection problems are listed on stderr."""
    from dockguard.collect.gather import collect_snapshot

    check_outputs(args.output)
    progress = Progress()
    snapshot = collect_snapshot(
        collect_options(args),
        progress=progress,
    )
    progress.done()
    write_output(snapshot.to_json() + "\n", args.output)
    for e in snapshot.errors:
        print(f"dockguard: note: {e.source}: {e.target}: {e.message}", file=sys.stderr)
    return 0
