"""``dockguard collect``: save a snapshot of a daemon and its host for offline evaluation."""

from __future__ import annotations

import argparse
import sys

from dockguard.commands.common import Progress, Subparsers, add_connection_args, check_outputs, collect_options


def register(sub: Subparsers) -> None:
    """Add the ``collect`` subcommand."""
    p = sub.add_parser(
        "collect",
        help="save a snapshot of the daemon and host facts",
        description="Collect every fact the checks need (read-only) and save it as versioned JSON; "
        "evaluate it later anywhere with `dockguard bench --snapshot FILE`. A daemon with more "
        "containers or images than a snapshot may hold (2,000; 10,000) is refused.",
    )
    add_connection_args(p)
    p.add_argument("-o", "--output", metavar="FILE", required=True, help="snapshot file to write ('-' for stdout)")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Collect and write the snapshot; collection problems are listed on stderr."""
    from dockguard.pipeline.bench import save_snapshot

    check_outputs(args.output)
    progress = Progress()

    def note(text: str) -> None:
        progress.done()
        print(f"dockguard: note: {text}", file=sys.stderr)

    save_snapshot(collect_options(args), args.output, progress=progress, note=note)
    return 0
