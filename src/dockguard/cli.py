"""Command-line entry point: parse, dispatch to a command module, map errors to exit codes.

Exit codes: 0 ran and nothing at/above ``--fail-on``; 1 findings at/above ``--fail-on``;
2 usage or operational error (one line on stderr, no traceback).

Each subcommand lives in ``dockguard.commands.<name>`` with ``register(subparsers)``; the
module list below is explicit so that nothing is discovered implicitly.  Command modules keep
heavy imports inside their handlers so that ``dockguard --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from dockguard import __version__
from dockguard.errors import DockguardError

COMMANDS: tuple[str, ...] = (
    "bench",
    "collect",
    "image",
    "db",
    "daemon",
    "registry",
    "seccomp",
    "audit",
    "diff",
    "authz",
    "store",
    "fleet",
)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"dockguard: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser with every available subcommand."""
    parser = _Parser(
        prog="dockguard",
        description="Audit the security of a Docker installation end to end.",
    )
    parser.add_argument("--version", action="version", version=f"dockguard {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"dockguard.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"dockguard.commands.{name}":
                continue  # not built yet
            raise
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run dockguard; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(args.handler(args))
    except DockguardError as exc:
        print(f"dockguard: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("dockguard: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:  # last resort: one line and exit 2, never a traceback
        if os.environ.get("DOCKGUARD_DEBUG"):
            raise
        print(f"dockguard: internal error: {type(exc).__name__}: {exc} "
              "(a bug: set DOCKGUARD_DEBUG=1 for the traceback)", file=sys.stderr)
        return 2
