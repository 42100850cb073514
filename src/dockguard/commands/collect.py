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
    p.add_argument("-o", "--output", metavar="FILE",
                   help="snapshot file to write ('-' for stdout); required unless --store is given")
    from dockguard.commands.registry_scan import add_store_argument

    add_store_argument(p, record="the snapshot and the host's containers (`fleet report`)")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Collect and write the snapshot; collection problems are listed on stderr."""
    from dockguard.errors import UsageError
    from dockguard.pipeline.bench import save_snapshot

    if args.output is None and args.store is None:
        raise UsageError("collect needs -o FILE (or --store URL)")
    check_outputs(args.output)
    progress = Progress()

    def note(text: str) -> None:
        progress.done()
        print(f"dockguard: note: {text}", file=sys.stderr)

    if args.store is None:
        save_snapshot(collect_options(args), args.output, progress=progress, note=note)
        return 0
    from dataclasses import replace

    from dockguard.collect.gather import collect_snapshot
    from dockguard.commands.fleet import record
    from dockguard.pipeline.fleet import record_collect
    from dockguard.store import parse_store_url

    url = parse_store_url(args.store or None)
    if args.output:
        snapshot = save_snapshot(collect_options(args), args.output, progress=progress, note=note)
    else:
        snapshot = collect_snapshot(replace(collect_options(args), for_snapshot_file=True), progress=progress)
        for e in snapshot.errors:
            note(f"{e.source}: {e.target}: {e.message}")
    return record(lambda: record_collect(url, snapshot), 0)
