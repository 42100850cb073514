"""``dockguard registry probe``: transport, authentication and anonymous access of a registry."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from dockguard.commands.daemon import add_probe_options
from dockguard.model import Surface

if TYPE_CHECKING:
    from dockguard.channel.registry_api import Credentials
    from dockguard.commands.common import Subparsers


def register(subparsers: Subparsers) -> None:
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
    add_probe_options(probe, Surface.REGISTRY_PROBE)
    probe.set_defaults(handler=_probe)
    from dockguard.commands.registry_scan import register_scan

    register_scan(sub)


def _help(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


def _probe(args: argparse.Namespace) -> int:
    from dockguard.commands.common import check_outputs, finish_report
    from dockguard.exit_policy import parse_fail_on
    from dockguard.pipeline.probes import RegistryProbeRequest, registry_probe

    gate = parse_fail_on(args.fail_on)
    check_outputs(args.output)
    report = registry_probe(RegistryProbeRequest(
        args.url,
        credentials=_credentials(args),
        ca_cert=args.ca_cert,
        try_push=args.try_push,
        repository=args.repository,
        timeout=args.timeout,
        allow_plain_http_credentials=args.allow_plain_http_credentials,
    ))
    return finish_report(report, args, gate)


def _credentials(args: argparse.Namespace) -> Credentials | None:
    """``--username`` with the password from the first line of stdin (never from argv)."""
    from dockguard.channel.registry_api import Credentials
    from dockguard.commands.common import password_from_stdin

    password = password_from_stdin(args)
    return Credentials(args.username, password) if password is not None else None
