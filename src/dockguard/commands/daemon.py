"""``dockguard daemon``: probe a daemon endpoint; create TLS certificates for it."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dockguard.commands.common import Subparsers, add_report_arguments, check_outputs, finish_report
from dockguard.errors import UsageError
from dockguard.exit_policy import parse_fail_on
from dockguard.model import Surface


def add_probe_options(parser: argparse.ArgumentParser, surface: Surface) -> None:
    """The report options (``--format``, ``-o``, ``--fail-on``, ``--suppressions``) and
    ``--timeout``, shared with ``registry probe``."""
    add_report_arguments(parser, surface)
    parser.add_argument(
        "--timeout",
        type=float,
        default=5.0,
        help="seconds each network read or connect may wait (default 5); each request also has "
        "a total deadline of 60 s (DOCKGUARD_HTTP_DEADLINE)",
    )


def register(subparsers: Subparsers) -> None:
    """Add ``daemon probe`` and ``daemon tls-init``."""
    parser = subparsers.add_parser("daemon", help="probe a daemon endpoint; set up daemon TLS")
    sub = parser.add_subparsers(dest="daemon_command", metavar="SUBCOMMAND")
    parser.set_defaults(handler=lambda args: _help(parser))

    probe = sub.add_parser(
        "probe",
        help="probe a daemon endpoint (unix socket or TCP)",
        description="Probe unix:///path or tcp://host:port (default: DOCKER_HOST or the local "
        "socket): socket permissions, plain HTTP, TLS client verification, TLS versions, "
        "server certificate.",
    )
    probe.add_argument("endpoint", nargs="?", help="unix:///path or tcp://host:port")
    probe.add_argument(
        "--cert-path",
        help="directory with ca.pem, cert.pem, key.pem (default: DOCKER_CERT_PATH)",
    )
    add_probe_options(probe, Surface.DAEMON_PROBE)
    probe.set_defaults(handler=_probe)

    init = sub.add_parser(
        "tls-init",
        help="create CA, server and client certificates for daemon TLS",
        description="Create a CA, a server certificate (SAN: --host and --ip) and a client "
        "certificate; print the daemon.json settings and the client environment.",
    )
    init.add_argument("--out", required=True, help="output directory (created 0700)")
    init.add_argument("--host", required=True, help="DNS name (or IP) clients use for the daemon")
    init.add_argument(
        "--ip", action="append", default=[], help="an IP address for the SAN (repeatable)"
    )
    init.add_argument("--days", type=int, default=365, help="validity in days (default 365)")
    init.add_argument("--port", type=int, default=2376, help="TCP port shown in the snippets")
    init.add_argument(
        "--key-type", choices=("ecdsa", "rsa"), default="ecdsa", help="ECDSA P-256 or RSA 4096"
    )
    init.add_argument("--force", action="store_true", help="overwrite existing files")
    init.set_defaults(handler=_tls_init)


def _help(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


def _probe(args: argparse.Namespace) -> int:
    from dockguard.pipeline.probes import DaemonProbeRequest, daemon_probe

    gate = parse_fail_on(args.fail_on)
    check_outputs(args.output)
    report = daemon_probe(DaemonProbeRequest(args.endpoint, args.cert_path, args.timeout))
    return finish_report(report, args, gate)


def _tls_init(args: argparse.Namespace) -> int:
    from dockguard.channel import tlsinit

    if not 1 <= args.port <= 65535:
        raise UsageError(f"--port must be 1-65535, got {args.port}")
    files = tlsinit.generate(
        Path(args.out),
        args.host,
        tuple(args.ip),
        args.days,
        force=args.force,
        key_type=args.key_type,
    )
    sys.stdout.write(tlsinit.instructions(files, args.port))
    return 0
