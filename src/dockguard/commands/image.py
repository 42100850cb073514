"""``dockguard image scan|sbom TARGET``: inventory an image and match it against the database.

TARGET is ``docker-archive:PATH`` or a ``.tar``/``.tar.gz`` path (docker-save or OCI, detected),
``oci:DIR`` (OCI layout), ``dir:PATH`` or an existing directory (root filesystem), a registry
reference (``host:5000/app:1``, pulled without a daemon), otherwise an image name of the local
daemon (``DOCKER_HOST`` honoured).  The work is done by `dockguard.pipeline.image_scan`; the
report goes through `dockguard.commands.common.finish_report` like every other command's.

Incomplete scans
----------------
When part of an image could not be read (a layer cut short or over a bound, a file over its
size cap, a package database that cannot be read), the scan still reports what it found, but:

* the table starts with ``INCOMPLETE SCAN`` and lists what was not read and why; the report has
  one ``INCOMPLETE`` note per reason (JSON ``notes``, SARIF notifications) and the image's
  ``complete`` is false; the CycloneDX SBOM carries ``dockguard:scan:complete = false``;
* with ``--fail-on`` the exit code is 2 (the gate cannot pass on a partial result, whatever
  was found); without a gate the exit code is 0 and a warning goes to stderr.

Without a database the scan gives the inventory and the configuration findings, with the note
"vulnerabilities not checked: no database" (``--fail-on`` then exits 2: it cannot be decided).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from dockguard.errors import UsageError
from dockguard.model import Severity, Surface

if TYPE_CHECKING:
    from dockguard.commands.common import Subparsers
    from dockguard.exit_policy import FailOn
    from dockguard.model import Report
    from dockguard.pipeline.image_scan import ImageRequest

#: ``--list-packages`` formats: the inventory table, or the report's JSON / CycloneDX.
LIST_FORMATS = ("table", "json", "cyclonedx")


def register(subparsers: Subparsers) -> None:
    """Add ``image scan`` and ``image sbom``."""
    from dockguard.commands.common import add_report_arguments

    parser = subparsers.add_parser(
        "image", help="scan an image for vulnerable packages and risky configuration",
        description="Inventory an image (daemon name, docker-save tar, OCI layout, rootfs "
        "directory, registry reference) and match it against the local vulnerability database.",
    )
    sub = parser.add_subparsers(dest="image_command", metavar="SUBCOMMAND")

    scan = sub.add_parser("scan", help="list vulnerabilities and configuration findings")
    _common(scan)
    add_report_arguments(scan, Surface.IMAGE_SCAN, vex=True)
    scan.add_argument("--severity", metavar="LIST",
                      help="only show these severities (comma separated, e.g. CRITICAL,HIGH)")
    scan.add_argument("--ignore-unfixed", action="store_true",
                      help="hide vulnerabilities without a fixed version")
    scan.add_argument("--offline", action="store_true",
                      help="never use the network: refuse registry pulls (the scan itself never downloads)")
    scan.add_argument("--db", metavar="PATH",
                      help="vulnerability database (default: $DOCKGUARD_DB or the user cache dir)")
    scan.add_argument("--list-packages", action="store_true",
                      help="print the package inventory instead of vulnerabilities (no database; "
                      f"--format {', '.join(LIST_FORMATS)})")
    scan.set_defaults(handler=_scan)

    sbom = sub.add_parser("sbom", help="write a CycloneDX SBOM of the image")
    _common(sbom)
    sbom.add_argument("-o", "--output", metavar="FILE", help="write the SBOM to FILE")
    sbom.add_argument("--spec", choices=("1.5", "1.6"), default="1.6", help="CycloneDX version")
    sbom.set_defaults(handler=_sbom)

    def usage(args: argparse.Namespace) -> int:
        parser.print_help(sys.stderr)
        return 2

    parser.set_defaults(handler=usage)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("target", metavar="TARGET",
                   help="image name, docker-archive:PATH, oci:DIR, dir:PATH, or a tar/dir path")
    p.add_argument("--platform", metavar="OS/ARCH[/VARIANT]",
                   help="platform to pick from an OCI index (default: this host's)")
    p.add_argument("--no-cache", action="store_true", help="do not read or write the layer cache")
    reg = p.add_argument_group("registry pulls (TARGET like registry.example:5000/app:1.0)")
    reg.add_argument("--username", help="registry user (default: ~/.docker/config.json auths or helpers)")
    reg.add_argument("--password-stdin", action="store_true", help="read the registry password from stdin")
    reg.add_argument("--ca-cert", metavar="FILE", help="CA certificate to verify the registry with")
    reg.add_argument("--insecure", action="store_true",
                     help="do not verify the registry's TLS certificate (credentials are then never sent)")
    reg.add_argument("--allow-plain-http-credentials", action="store_true",
                     help="send credentials over plain HTTP to a loopback registry or token realm "
                     "(127.0.0.0/8, ::1, localhost); never to any other host")


def _request(args: argparse.Namespace) -> ImageRequest:
    from dockguard.commands.common import password_from_stdin
    from dockguard.pipeline.image_scan import ImageRequest, RegistryAuth

    password = password_from_stdin(args)
    auth = RegistryAuth(username=args.username, password=password, ca_cert=args.ca_cert, insecure=args.insecure,
                        allow_plain_http_credentials=args.allow_plain_http_credentials)
    return ImageRequest(target=args.target, platform=args.platform, use_cache=not args.no_cache,
                        offline=bool(getattr(args, "offline", False)), registry=auth)


def _severities(text: str | None) -> frozenset[Severity] | None:
    if not text:
        return None
    try:
        return frozenset(Severity.parse(s) for s in text.split(",") if s.strip())
    except ValueError as exc:
        raise UsageError(f"--severity: {exc}") from None


def _warn_stderr(report: Report) -> None:
    """Warnings and the incompleteness of the scan on stderr, whatever the format."""
    from dockguard.commands.common import warn
    from dockguard.pipeline.image_scan import stderr_warnings

    for line in stderr_warnings(report):
        warn(line)


def _sbom(args: argparse.Namespace) -> int:
    from dockguard.commands.common import check_outputs, ensure_newline, write_output
    from dockguard.image import sbom
    from dockguard.pipeline.image_scan import inventory_report

    check_outputs(args.output)
    report = inventory_report(_request(args))
    _warn_stderr(report)
    write_output(ensure_newline(sbom.render_report(report, spec=args.spec)), args.output)
    return 0


def _scan(args: argparse.Namespace) -> int:
    from dockguard import vex
    from dockguard.commands.common import check_outputs, finish_report
    from dockguard.exit_policy import parse_fail_on
    from dockguard.pipeline.image_scan import ScanSettings, inventory_report, scan_image
    from dockguard.vuln.match import MatchOptions

    fail_on = parse_fail_on(args.fail_on)
    check_outputs(args.output)
    if args.list_packages:
        if args.format not in LIST_FORMATS:
            raise UsageError(f"--list-packages supports --format {', '.join(LIST_FORMATS)}")
        report = inventory_report(_request(args))
        _warn_stderr(report)
        if args.format == "table":
            return _finish_listing(report, args, fail_on)
        return finish_report(report, args, fail_on)
    settings = ScanSettings(
        db_path=Path(args.db) if args.db else None,
        match=MatchOptions(ignore_unfixed=args.ignore_unfixed),
        vex=vex.load_all(args.vex),
        severities=_severities(args.severity),
        offline=args.offline,
    )
    report = scan_image(_request(args), settings)
    _warn_stderr(report)
    return finish_report(report, args, fail_on)


def _finish_listing(report: Report, args: argparse.Namespace, fail_on: FailOn | None) -> int:
    """``--list-packages`` as a table: the inventory's own layout, the common exit policy."""
    from dockguard.commands.common import write_output
    from dockguard.exit_policy import exit_code
    from dockguard.report.image_text import render_packages

    write_output(render_packages(report), args.output)
    return exit_code(report, fail_on)
