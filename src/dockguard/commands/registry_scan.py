"""``dockguard registry scan URL``: every image of a registry into the store (issue 14).

Exit codes: 0 every image was stored and read in full (and nothing at/above ``--fail-on``);
1 a finding at/above ``--fail-on``; 2 a usage or operational error, an image, tag or layer that
failed (the report is still written and lists them), or a ``--fail-on`` gate over images that
were not read in full.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dockguard.errors import UsageError

MAX_WORKERS = 64


def register_scan(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``registry scan`` to the ``registry`` subcommands."""
    scan = sub.add_parser(
        "scan",
        help="scan every image of a registry into the store, each distinct layer once",
        description="List the registry's catalog and tags, resolve each manifest (indexes to "
        "--platform), analyse every distinct layer once across the whole registry (layers "
        "already in the store are not fetched again), match every image against the "
        "vulnerability database and store inventories and findings (see docs/scale.md).",
    )
    scan.add_argument("url", help="registry, e.g. registry.example:5000 or https://registry.example")
    scan.add_argument("--repo", action="append", default=[], metavar="GLOB",
                      help="only repositories matching GLOB (repeatable; default: all)")
    scan.add_argument("--tag", action="append", default=[], metavar="GLOB",
                      help="only tags matching GLOB (repeatable; default: all)")
    scan.add_argument("--platform", metavar="OS/ARCH[/VARIANT]",
                      help="platform picked from indexes (default: this host's)")
    add_store_argument(scan)
    scan.add_argument("--db", metavar="PATH",
                      help="vulnerability database (default: $DOCKGUARD_DB or the user cache dir); "
                      "workers open the same path")
    where = scan.add_mutually_exclusive_group()
    where.add_argument("--scheduler", metavar="tcp://HOST:8786",
                       help="run the tasks on this Dask scheduler's workers")
    where.add_argument("--workers", type=int, metavar="N",
                       help="start a local Dask cluster of N worker processes (default: in-process)")
    scan.add_argument("--resume", metavar="RUN", help="continue run RUN: skip the images it already stored")
    from dockguard.commands.common import add_report_arguments
    from dockguard.model import Surface

    add_report_arguments(scan, Surface.REGISTRY_SCAN, fail_on_help=(
        "exit 1 when an image has a finding at or above SEVERITY (2 when an image was not read in full)"))
    reg = scan.add_argument_group("registry access (as `image scan REF`)")
    reg.add_argument("--username", help="registry user (default: ~/.docker/config.json auths or helpers)")
    reg.add_argument("--password-stdin", action="store_true", help="read the registry password from stdin")
    reg.add_argument("--ca-cert", metavar="FILE", help="CA certificate to verify the registry with")
    reg.add_argument("--insecure", action="store_true",
                     help="do not verify the registry's TLS certificate (credentials are then never sent)")
    reg.add_argument("--allow-plain-http-credentials", action="store_true",
                     help="send credentials over plain HTTP to a loopback registry or token realm "
                     "(127.0.0.0/8, ::1, localhost); never to any other host")
    scan.set_defaults(handler=_scan)


def add_store_argument(p: argparse.ArgumentParser, *, record: str = "") -> None:
    """``--store URL``; with `record` (what is recorded) the option is opt-in and its URL
    optional (``--store`` alone: the default store), and None means "do not record"."""
    where = ("a path or sqlite:PATH (default: $DOCKGUARD_STORE or <user cache dir>/dockguard/store.sqlite) "
             "or postgresql://USER@HOST/DB")
    if record:
        p.add_argument("--store", metavar="URL", nargs="?", const="",
                       help=f"also record {record} in the result store: {where}")
        return
    p.add_argument("--store", metavar="URL", help=f"result store: {where}")


def parse_registry(text: str, insecure: bool = False) -> tuple[str, bool]:
    """``[http(s)://]host[:port]`` → (``host[:port]``, plain HTTP asked for).

    ``http://`` is accepted for a loopback registry, or any registry with `insecure`.
    """
    from urllib.parse import urlsplit

    from dockguard.channel.registry_api import is_insecure_host, parse_reference

    raw = text.strip()
    scheme = ""
    if "://" in raw:
        scheme, raw = raw.split("://", 1)
        scheme = scheme.lower()
        if scheme not in ("http", "https"):
            raise UsageError(f"registry URL {text[:200]!r}: use https://, http:// or host[:port]")
    raw = raw.rstrip("/")
    if raw.endswith("/v2"):
        raw = raw[:-3]
    try:
        parts = urlsplit(f"//{raw}")
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        raise UsageError(f"invalid registry URL {text[:200]!r}") from None
    if not parts.hostname or parts.path or parts.query or parts.username is not None:
        raise UsageError(f"invalid registry URL {text[:200]!r}: expected [https://]host[:port]")
    parse_reference(f"{raw}/probe:latest")  # the domain grammar docker uses
    if scheme == "http" and not insecure and not is_insecure_host(raw):
        raise UsageError(f"{raw} over plain http:// is only allowed for a loopback registry (or with --insecure)")
    return raw, scheme == "http"


def _scan(args: argparse.Namespace) -> int:
    from dockguard import suppress
    from dockguard.channel.registry_api import Credentials
    from dockguard.commands.common import check_outputs, finish_report
    from dockguard.exit_policy import parse_fail_on
    from dockguard.inputs import read_bytes
    from dockguard.scale import image_adapter as adapter
    from dockguard.scale.progress import ScanProgress
    from dockguard.scale.registry_scan import ScanRequest, scan_registry
    from dockguard.scale.report import scan_report
    from dockguard.scale.tasks import RegistryAccess
    from dockguard.store import Dialect, ImageStatus, StoreURL, parse_store_url

    fail_on = parse_fail_on(args.fail_on, allow_warn=False)
    check_outputs(args.output)
    if args.suppressions:
        suppress.load(args.suppressions)
    registry, _plain = parse_registry(args.url, args.insecure)
    platform = adapter.check_platform(args.platform)
    if args.workers is not None and not 1 <= args.workers <= MAX_WORKERS:
        raise UsageError(f"--workers must be between 1 and {MAX_WORKERS}")
    scheduler = args.scheduler
    if scheduler is not None and not scheduler.startswith(("tcp://", "tls://")):
        raise UsageError("--scheduler must be tcp://HOST:PORT or tls://HOST:PORT")
    store = parse_store_url(args.store)
    if store.dialect is Dialect.SQLITE and store.path is not None:
        store = StoreURL(Dialect.SQLITE, store.path.resolve())
    db = str(Path(args.db).expanduser().resolve()) if args.db else None
    from dockguard.commands.common import password_from_stdin

    password = password_from_stdin(args)
    credentials = Credentials(args.username, password) if args.username and password else None
    ca_pem = read_bytes(args.ca_cert, limit=1024 * 1024, what="--ca-cert") if args.ca_cert else None
    plain_link = scheduler is not None and scheduler.startswith("tcp://")
    if plain_link and credentials is not None:
        raise UsageError("--username with a tcp:// scheduler would send the password to the workers "
                         "unencrypted: use a tls:// scheduler, or log the workers in to the registry "
                         "(their ~/.docker/config.json is used)")
    if plain_link and store.has_password:
        raise UsageError("the --store URL carries a password and the tcp:// scheduler link is not "
                         "encrypted: give the workers PGPASSWORD or ~/.pgpass instead")
    access = RegistryAccess(registry, args.insecure, ca_pem, args.allow_plain_http_credentials, credentials,
                            docker_config=True)
    if credentials is None:
        from dockguard.channel.registry_api import credentials_from_config

        access = RegistryAccess(registry, args.insecure, ca_pem, args.allow_plain_http_credentials,
                                credentials_from_config(registry), docker_config=False)
    # Tasks on a remote cluster look credentials up on their own host unless the link is encrypted.
    task_access = RegistryAccess(registry, args.insecure, ca_pem, args.allow_plain_http_credentials,
                                 None if plain_link else access.credentials, docker_config=plain_link)
    request = ScanRequest(registry=registry, platform=platform, store=store, access=access,
                          task_access=task_access, db=db, repo_globs=tuple(args.repo),
                          tag_globs=tuple(args.tag), scheduler=scheduler, workers=args.workers,
                          resume=args.resume)
    progress = ScanProgress()
    result = scan_registry(request, progress)
    code = finish_report(scan_report(result, store), args, fail_on)
    for w in result.warnings:
        print(f"dockguard: warning: {w}", file=sys.stderr)
    incomplete = sum(1 for i in result.images if i.status is ImageStatus.INCOMPLETE)
    if incomplete:
        print(f"dockguard: warning: INCOMPLETE SCAN: {incomplete} image(s) were not read in full "
              "(see the report)", file=sys.stderr)
    if result.errors:
        print(f"dockguard: error: {len(result.errors)} tag(s), image(s) or layer(s) failed in run "
              f"{result.run} (listed in the report); `--resume {result.run}` retries them", file=sys.stderr)
        return 2
    return code
