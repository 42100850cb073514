"""Helpers shared by command modules: connection options, progress, writing outputs."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, TypeAlias

#: What ``ArgumentParser.add_subparsers`` returns: each command module's ``register`` takes it.
Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"

if TYPE_CHECKING:
    from dockguard.collect.gather import CollectOptions
    from dockguard.exit_policy import FailOn
    from dockguard.model import Report, Surface
    from dockguard.report.formats import RenderOptions


def add_connection_args(p: argparse.ArgumentParser) -> None:
    """``--docker-host``, ``--host-root`` and ``--processes``."""
    p.add_argument(
        "-H",
        "--docker-host",
        metavar="URL",
        help="daemon to audit (default: $DOCKER_HOST or unix:///var/run/docker.sock)",
    )
    p.add_argument(
        "--host-root",
        metavar="DIR",
        help="where the host's filesystem is mounted when dockguard runs in a container (default /)",
    )
    p.add_argument(
        "--processes",
        choices=("auto", "proc", "api"),
        default="auto",
        help="how to list container processes: /proc of the local host, or the Engine API 'top' "
        "(auto: /proc when the daemon runs here)",
    )


def collect_options(args: argparse.Namespace, docker_host: str | None = None) -> CollectOptions:
    """CollectOptions from the connection arguments added by `add_connection_args`."""
    from dockguard.collect.gather import CollectOptions

    return CollectOptions(
        docker_host=docker_host or args.docker_host,
        host_root=args.host_root or "/",
        host_root_given=bool(args.host_root),
        processes=args.processes,
    )


def add_report_arguments(
    p: argparse.ArgumentParser, surface: Surface, *, vex: bool = False, fail_on_help: str = ""
) -> None:
    """The options every report-producing command shares: ``--format`` (the surface's set),
    ``-o``, ``--fail-on``, ``--suppressions`` (alias ``--ignore-file``) and, where
    vulnerabilities can be found, ``--vex``."""
    from dockguard.report.formats import SURFACE_FORMATS
    from dockguard.vex import add_argument as add_vex_argument

    choices = SURFACE_FORMATS[surface]
    p.add_argument("--format", choices=choices, default=choices[0], help=f"output format (default {choices[0]})")
    p.add_argument("-o", "--output", metavar="FILE", help="write the report to FILE instead of stdout")
    p.add_argument("--fail-on", metavar="SEVERITY", help=fail_on_help or (
        "exit 1 when an unsuppressed finding at or above SEVERITY remains (2 when that cannot be decided)"))
    p.add_argument("--suppressions", "--ignore-file", dest="suppressions", metavar="FILE",
                   help="YAML file of accepted results (id, optional container/image/purl/path scope, expiry "
                   "date, reason); matches stay in the report marked as suppressed")
    if vex:
        add_vex_argument(p)


def finish_report(report: Report, args: argparse.Namespace, fail_on: FailOn | None,
                  render_options: RenderOptions | None = None, logs: Sequence[tuple[str, str]] = ()) -> int:
    """Apply ``--suppressions``, render in ``--format`` to ``-o`` or stdout, return the exit code.

    The one tail of every report-producing command (VEX, which needs the image references,
    is applied by the pipeline before this).  `logs` are extra (format, path) copies of the
    report, written without colour (``bench -l FILE``: text and docker-bench JSON).
    """
    from dataclasses import replace

    from dockguard import suppress
    from dockguard.exit_policy import exit_code
    from dockguard.report.formats import RenderOptions, render

    if getattr(args, "suppressions", None):
        report = suppress.apply_file(report, args.suppressions, warn=warn)
    write_output(ensure_newline(render(report, args.format, render_options)), args.output)
    plain = RenderOptions(replace((render_options or RenderOptions()).text, colour=False))
    for fmt, path in logs:
        write_output(ensure_newline(render(report, fmt, plain)), path)
    return exit_code(report, fail_on)


def ensure_newline(text: str) -> str:
    """`text` ending with exactly one newline."""
    return text if text.endswith("\n") else text + "\n"


def warn(message: str) -> None:
    """``dockguard: warning: …`` on stderr."""
    print(f"dockguard: warning: {message}", file=sys.stderr)


def write_output(text: str, path: str | None) -> None:
    """Write `text` to `path` or stdout through the one safe writer (`dockguard.outputs`).

    New paths and regular files are replaced atomically (keeping their mode); devices, FIFOs
    and ``/dev/stdout`` are written in place; symbolic links to files and directories are
    refused; lone surrogates are written as backslash escapes.
    """
    from dockguard.outputs import write_text

    write_text(None if path == "-" else path, text)


def check_outputs(*paths: str | None) -> None:
    """Refuse unusable output paths (a directory, a link to a file) before a long job starts,
    with the error `write_output` would give at the end."""
    from dockguard.outputs import check_target

    for path in paths:
        if path and path != "-":
            check_target(path)


class Progress:
    """A one-line progress indicator on stderr, shown only on a TTY and for big jobs."""

    def __init__(self, threshold: int = 20, enabled: bool | None = None) -> None:
        self.threshold = threshold
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self._shown = False

    def __call__(self, what: str, done: int, total: int) -> None:
        """Report progress of `what`."""
        if not self.enabled or total < self.threshold:
            return
        sys.stderr.write(f"\rdockguard: {what}: {done}/{total}")
        self._shown = True
        if done >= total:
            sys.stderr.write("\n")
            self._shown = False
        sys.stderr.flush()

    def done(self) -> None:
        """Finish the line if one is open."""
        if self._shown:
            sys.stderr.write("\n")
            self._shown = False


MAX_PASSWORD = 64 * 1024
"""Bytes of a password read from stdin (one line)."""


def password_from_stdin(args: argparse.Namespace) -> str | None:
    """``--username`` with ``--password-stdin``: the first line of stdin (at most
    `MAX_PASSWORD`), never a password from argv; None without ``--username``."""
    from dockguard.errors import UsageError

    if args.password_stdin and not args.username:
        raise UsageError("--password-stdin needs --username")
    if not args.username:
        return None
    if not args.password_stdin:
        raise UsageError("--username needs --password-stdin (passwords never go in argv)")
    line = sys.stdin.readline(MAX_PASSWORD)
    if len(line) >= MAX_PASSWORD and not line.endswith("\n"):
        raise UsageError("the password on stdin is longer than 64 KiB")
    password = line.rstrip("\r\n")
    if not password:
        raise UsageError("no password on stdin")
    return password
