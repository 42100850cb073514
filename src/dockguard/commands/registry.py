"""``dockguard registry probe``: transport, authentication and anonymous access of a registry."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from dockguard.commands.daemon import add_probe_output_options
from dockguard.errors import UsageError


def register(subparsers: Any) -> None:
    """Add ``registry probe`` and ``registry scan``."""
    parser = subparsers.add_parser("registry", help="probe a registry")
    sub = parser.add_subparsers(dest="registry_command", metavar="SUBCOMMAND")
    parser.set_defaults(handler=lambda args: _help(parser))
    probe = sub.add_parser(
        "probe",
        help="probe a registry's TLS, authentication and anonymous access",
        description="Probe URL ([https://|http://]host[:port]): TLS, the /v2/ challenge, "
        "anonymous catalog, tags and pull, and (with --try-push) anonymous push.",
    )
    probe.add_argument("url", help="registry URL, e.g. https://registry.example:5000")
    probe.add_argument("--username", help="user name for the credential check")
    probe.add_argument(
        "--password-stdin", action="store_true", help="read the password from stdin"
    )
    probe.add_argument("--ca-cert", help="CA certificate (PEM) to verify the registry with")
    probe.add_argument(
        "--allow-plain-http-credentials",
        action="store_true",
        help="send the credentials over plain HTTP to a loopback registry or token realm "
        "(127.0.0.0/8, ::1, localhost); never to any other host. Credentials otherwise go only "
        "over TLS whose certificate chain and host name verify",
    )
    probe.add_argument("--repository", help="repository to test pulls on (default: from catalog)")
    probe.add_argument(
        "--try-push",
        action="store_true",
        help="try an anonymous blob upload (cancelled at once); this writes to the registry",
    )
    add_probe_output_options(probe)
    probe.set_defaults(handler=_probe)
    from dockguard.commands.registry_scan import register_scan

    register_scan(sub)


def _help(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


def _probe(args: argparse.Namespace) -> int:
    from dockguard.channel import registry_probe
    from dockguard.channel.bounded_http import deadline_seconds
    from dockguard.channel.registry_api import Credentials
    from dockguard.channel.result import exit_code, render_text, result_to_json

    deadline = deadline_seconds()
    credentials = None
    if args.password_stdin and not args.username:
        raise UsageError("--password-stdin needs --username")
    if args.username:
        if not args.password_stdin:
            raise UsageError("--username needs --password-stdin (passwords never go in argv)")
        line = sys.stdin.readline(64 * 1024)
        if len(line) >= 64 * 1024 and not line.endswith("\n"):
            raise UsageError("the password on stdin is longer than 64 KiB")
        password = line.rstrip("\r\n")
        if not password:
            raise UsageError("no password on stdin")
        credentials = Credentials(args.username, password)
    if not 0 < args.timeout <= 3600:
        raise UsageError("--timeout must be between 0 and 3600 seconds")
    if args.ca_cert:
        try:
            with open(args.ca_cert, "rb"):
                pass
        except OSError as exc:
            raise UsageError(f"cannot read --ca-cert {args.ca_cert}: {exc.strerror}") from None
    result = registry_probe.probe(
        args.url,
        credentials=credentials,
        ca_cert=args.ca_cert,
        try_push=args.try_push,
        repository=args.repository,
        timeout=args.timeout,
        allow_plain_http_credentials=args.allow_plain_http_credentials,
        deadline=deadline,
    )
    sys.stdout.write(result_to_json(result) if args.format == "json" else render_text(result))
    code = exit_code(result, args.fail_on)
    if code == 2:
        print(f"dockguard: error: nothing could be probed at {args.url}", file=sys.stderr)
    return code
