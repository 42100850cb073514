"""``dockguard daemon``: probe a daemon endpoint; create TLS certificates for it."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from dockguard.errors import UsageError
from dockguard.model import Severity


def _severity(text: str) -> Severity:
    try:
        return Severity.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_probe_output_options(parser: argparse.ArgumentParser) -> None:
    """``--format``, ``--fail-on`` and ``--timeout``, shared with ``registry probe``."""
    parser.add_argument("--format", choices=("text", "json"), default="text", help="output format")
    parser.add_argument(
        "--fail-on",
        type=_severity,
        default=None,
        metavar="SEVERITY",
        help="exit 1 when a finding at or above SEVERITY is found (default: never)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=5.0,
        help="seconds each network read or connect may wait (default 5); each request also has "
        "a total deadline of 60 s (DOCKGUARD_HTTP_DEADLINE)",
    )


def register(subparsers: Any) -> None:
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
    add_probe_output_options(probe)
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
    from dockguard.channel import daemon_probe
    from dockguard.channel.bounded_http import deadline_seconds
    from dockguard.channel.result import exit_code, render_text, result_to_json

    deadline_seconds()  # a bad DOCKGUARD_HTTP_DEADLINE is a usage error before any probing

    cert_dir = args.cert_path or os.environ.get("DOCKER_CERT_PATH")
    cert_path = daemon_probe.load_cert_path(cert_dir)
    target = args.endpoint or daemon_probe.default_endpoint(os.environ)
    ep = daemon_probe.parse_endpoint(target, tls=cert_path is not None)
    if not 0 < args.timeout <= 3600:
        raise UsageError("--timeout must be between 0 and 3600 seconds")
    result = daemon_probe.probe(ep, cert_path, timeout=args.timeout)
    out = result_to_json(result) if args.format == "json" else render_text(result)
    sys.stdout.write(out)
    code = exit_code(result, args.fail_on)
    if code == 2:
        print(f"dockguard: error: nothing could be probed at {ep}", file=sys.stderr)
    return code


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
