"""``dockguard store rematch|status``: work on the result store without touching a registry."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from dockguard.commands.registry_scan import add_store_argument


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``store rematch`` and ``store status``."""
    parser = subparsers.add_parser("store", help="re-match stored inventories, show what the store holds")
    sub = parser.add_subparsers(dest="store_command", metavar="SUBCOMMAND")
    def usage(_args: argparse.Namespace) -> int:
        parser.print_help(sys.stderr)
        return 2

    parser.set_defaults(handler=usage)

    rematch = sub.add_parser(
        "rematch", help="re-evaluate every stored inventory against the current vulnerability database",
        description="Match every image inventory in the store against the vulnerability database "
        "(after `db update`) without touching a registry or a layer, replace the images' "
        "vulnerability findings and record what is new and what is fixed.")
    add_store_argument(rematch)
    rematch.add_argument("--db", metavar="PATH",
                         help="vulnerability database (default: $DOCKGUARD_DB or the user cache dir)")
    rematch.add_argument("--format", choices=("text", "json"), default="text")
    rematch.add_argument("-o", "--output", metavar="FILE", help="write the report to FILE")
    rematch.set_defaults(handler=_rematch)

    status = sub.add_parser("status", help="runs, images, layers and the dedupe factor of the store")
    add_store_argument(status)
    status.add_argument("--format", choices=("text", "json"), default="text")
    status.set_defaults(handler=_status)


def _rematch(args: argparse.Namespace) -> int:
    from dockguard.commands.common import check_outputs, write_output
    from dockguard.scale.rematch import rematch, rematch_json, rematch_text
    from dockguard.store import parse_store_url

    check_outputs(args.output)
    result = rematch(parse_store_url(args.store), str(Path(args.db).expanduser()) if args.db else None)
    text = json.dumps(rematch_json(result), indent=2) + "\n" if args.format == "json" else rematch_text(result)
    write_output(text, args.output)
    for w in result.warnings:
        print(f"dockguard: warning: {w}", file=sys.stderr)
    return 0


def _status(args: argparse.Namespace) -> int:
    from dockguard.scale.report import status_doc, status_text
    from dockguard.store import Store, parse_store_url

    url = parse_store_url(args.store)
    if url.path is not None and not url.path.exists():
        from dockguard.errors import OperationalError

        raise OperationalError(f"no store at {url.path}: run `dockguard registry scan` first")
    with Store.open(url) as store:
        st = store.status()
    sys.stdout.write(json.dumps(status_doc(st), indent=2) + "\n" if args.format == "json" else status_text(st))
    return 0
