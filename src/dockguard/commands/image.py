"""``dockguard image scan|sbom TARGET``: inventory an image and match it against the database.

TARGET is ``docker-archive:PATH`` or a ``.tar``/``.tar.gz`` path (docker-save or OCI, detected),
``oci:DIR`` (OCI layout), ``dir:PATH`` or an existing directory (root filesystem), otherwise an
image name of the local daemon (``DOCKER_HOST`` honoured).

Incomplete scans
----------------
When part of an image could not be read (a layer cut short or over a bound, a file over its
size cap, a package database that cannot be read), the scan still reports what it found, but:

* the table starts with ``INCOMPLETE SCAN`` and lists what was not read and why; JSON has
  ``"complete": false`` and ``"incomplete": [...]``; SARIF carries one notification per reason;
  the CycloneDX SBOM the property ``dockguard:scan:complete = false``;
* with ``--fail-on`` the exit code is 2 (the gate cannot pass on a partial result, whatever
  was found); without a gate the exit code is 0 and a warning goes to stderr.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dockguard.errors import UsageError
from dockguard.model import FindingKind
from dockguard.report.json import finding_dict

if TYPE_CHECKING:
    from dockguard.image.scan import Inventory
    from dockguard.model import Finding, ImageSubject, Report, Severity

FORMATS = ("table", "json", "cyclonedx", "sarif")
MAX_LISTED = 50  # incompleteness reasons listed in table output and SARIF notifications


def register(subparsers: Any) -> None:
    """Add ``image scan`` and ``image sbom``."""
    parser = subparsers.add_parser(
        "image", help="scan an image for vulnerable packages and risky configuration",
        description="Inventory an image (daemon name, docker-save tar, OCI layout, rootfs "
        "directory) and match it against the local vulnerability database.",
    )
    sub = parser.add_subparsers(dest="image_command", metavar="SUBCOMMAND")

    scan = sub.add_parser("scan", help="list vulnerabilities and configuration findings")
    _common(scan)
    scan.add_argument("--format", choices=FORMATS, default="table", help="output format")
    scan.add_argument("-o", "--output", metavar="FILE", help="write the output to FILE")
    scan.add_argument("--severity", metavar="LIST",
                      help="only show these severities (comma separated, e.g. CRITICAL,HIGH)")
    scan.add_argument("--fail-on", metavar="SEVERITY",
                      help="exit 1 when a finding at or above SEVERITY remains")
    scan.add_argument("--ignore-unfixed", action="store_true",
                      help="hide vulnerabilities without a fixed version")
    scan.add_argument("--ignore-file", metavar="FILE",
                      help="YAML suppressions (id, purl or path, expires, reason)")
    from dockguard.vex import add_argument as add_vex_argument

    add_vex_argument(scan)
    scan.add_argument("--offline", action="store_true",
                      help="never use the network: refuse registry pulls (the scan itself never downloads)")
    scan.add_argument("--db", metavar="PATH",
                      help="vulnerability database (default: $DOCKGUARD_DB or the user cache dir)")
    scan.add_argument("--list-packages", action="store_true",
                      help="print the package inventory instead of vulnerabilities (no database)")
    scan.set_defaults(handler=_scan)

    sbom = sub.add_parser("sbom", help="write a CycloneDX SBOM of the image")
    _common(sbom)
    sbom.add_argument("-o", "--output", metavar="FILE", help="write the SBOM to FILE")
    sbom.add_argument("--spec", choices=("1.5", "1.6"), default="1.6", help="CycloneDX version")
    sbom.set_defaults(handler=_sbom)
    parser.set_defaults(handler=lambda args: (parser.print_help(sys.stderr), 2)[1])


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


def _warn(message: str) -> None:
    print(f"dockguard: warning: {message}", file=sys.stderr)


def _inventory(args: argparse.Namespace) -> Inventory:
    from dockguard.image.cache import LayerCache
    from dockguard.image.scan import build_inventory

    cache = None if args.no_cache else LayerCache()
    source = _open_source(args, cache)
    try:
        inv = build_inventory(source, cache)
    finally:
        source.close()
    for w in inv.warnings:
        _warn(w)
    for e in inv.errors[:20]:
        _warn(e)
    if len(inv.errors) > 20:
        _warn(f"… {len(inv.errors) - 20} more layer errors (see --format json)")
    if not inv.complete:
        _warn(f"INCOMPLETE SCAN: {len(inv.incomplete)} part(s) of the image were not read, "
              f"e.g. {inv.incomplete[0]}")
    return inv


def _open_source(args: argparse.Namespace, cache: Any) -> Any:
    """Files and directories first, then registry references, then daemon image names."""
    from pathlib import Path

    from dockguard.errors import UsageError
    from dockguard.image.sources import open_target

    target = args.target
    local = target.split(":", 1)[0] in ("docker-archive", "oci", "dir") or Path(target).exists()
    if local:
        return open_target(target, args.platform, config_cache=cache)
    from dockguard.image.pull import looks_like_registry_ref, open_registry_source

    if looks_like_registry_ref(target):
        if getattr(args, "offline", False):
            raise UsageError(f"--offline: {target} would be pulled from a registry; scan a local image or archive")
        password = None
        if args.password_stdin:
            if not args.username:
                raise UsageError("--password-stdin needs --username")
            password = sys.stdin.readline().rstrip("\n")
        elif args.username:
            raise UsageError("--username needs --password-stdin")
        return open_registry_source(
            target, args.platform, args.insecure, args.username, password, ca_cert=args.ca_cert,
            allow_plain_http_credentials=args.allow_plain_http_credentials,
        )
    return open_target(target, args.platform, config_cache=cache)


def _write(text: str, output: str | None) -> None:
    from dockguard.commands.common import write_output

    write_output(text if text.endswith("\n") else text + "\n", output)


def _sbom(args: argparse.Namespace) -> int:
    from dockguard.commands.common import check_outputs
    from dockguard.image import sbom

    check_outputs(args.output)
    inv = _inventory(args)
    _write(sbom.render(inv, spec=args.spec), args.output)
    return 0


def _severities(text: str | None) -> set[Severity] | None:
    from dockguard.model import Severity

    if not text:
        return None
    try:
        return {Severity.parse(s) for s in text.split(",") if s.strip()}
    except ValueError as exc:
        raise UsageError(f"--severity: {exc}") from None


def _scan(args: argparse.Namespace) -> int:
    from dockguard import __version__
    from dockguard.commands.common import check_outputs
    from dockguard.exit_policy import exit_code, parse_fail_on
    from dockguard.model import NoteStatus, Report, ReportNote, ReportSource, Surface

    fail_on = parse_fail_on(args.fail_on)
    check_outputs(args.output)
    wanted = _severities(args.severity)
    from dockguard import vex

    statements = vex.load_all(getattr(args, "vex", None))
    started = time.time()
    db = None
    if not args.list_packages:
        from dockguard.vuln.database import VulnDB

        db = VulnDB.open(Path(args.db).expanduser() if args.db else None)
    try:
        inv = _inventory(args)
        if args.list_packages:
            code = _list_packages(inv, args)
            return _incomplete_gate() if fail_on is not None and not inv.complete else code
        assert db is not None
        from dockguard.vuln.match import MatchOptions, match_packages

        matches = match_packages(db, inv.os, inv.packages, MatchOptions(ignore_unfixed=args.ignore_unfixed))
        stale = [f.name for f in db.stale_feeds()]
    finally:
        if db is not None:
            db.close()
    if stale:
        hint = "`dockguard db import`" if args.offline else "`dockguard db update`"
        _warn(f"stale vulnerability data ({', '.join(stale)}): refresh with {hint}")
    from dockguard.image.findings import image_findings

    findings = image_findings(inv, matches)
    notes = [ReportNote("scan", NoteStatus.INCOMPLETE, r) for r in inv.incomplete[:MAX_LISTED]]
    if len(inv.incomplete) > MAX_LISTED:
        notes.append(ReportNote("scan", NoteStatus.INCOMPLETE, f"… {len(inv.incomplete) - MAX_LISTED} more"))
    notes += [ReportNote("image", NoteStatus.WARNING, w) for w in inv.warnings]
    notes += [ReportNote("layers", NoteStatus.WARNING, e) for e in inv.errors]
    report = Report(
        tool_version=__version__, started=started, finished=time.time(),
        source=ReportSource(Surface.IMAGE_SCAN, target=inv.metadata.name, images=(image_subject(inv),)),
        findings=tuple(findings), notes=tuple(notes),
    )
    if statements:
        meta = inv.metadata
        report = vex.apply(report, statements, (meta.name, *meta.repo_tags, meta.image_id))
    if args.ignore_file:
        from dockguard import suppress

        report = suppress.apply_file(report, args.ignore_file, warn=_warn)
    if wanted is not None:
        report = dataclasses.replace(
            report, findings=tuple(f for f in report.findings if f.severity in wanted))
    text = _render(report, inv, args.format)
    _write(text, args.output)
    return exit_code(report, fail_on)


def _incomplete_gate() -> int:
    print("dockguard: error: the scan is incomplete (see the report): --fail-on cannot pass", file=sys.stderr)
    return 2


def image_subject(inv: Inventory) -> ImageSubject:
    """The report's view of a scanned image."""
    from dockguard.model import ImageSubject

    meta, os_info = inv.metadata, inv.os
    return ImageSubject(
        target=meta.name, source_kind=meta.kind, image_id=meta.image_id, repo_tags=tuple(meta.repo_tags),
        platform=meta.platform, os_family=os_info.family if os_info else "",
        os_version=os_info.version if os_info else "", os_name=os_info.pretty_name if os_info else "",
        os_eol=os_info.eol if os_info else None, package_count=len(inv.packages), complete=inv.complete,
    )


def _source_info(inv: Inventory) -> dict[str, Any]:
    meta = inv.metadata
    return {
        "kind": "image", "target": meta.name, "source": meta.kind, "image_id": meta.image_id,
        "repo_tags": list(meta.repo_tags), "platform": meta.platform,
        "os": dataclasses.asdict(inv.os) if inv.os else None,
        "packages": len(inv.packages),
        "complete": inv.complete,
        "incomplete": list(inv.incomplete),
    }


def _render(report: Report, inv: Inventory, fmt: str) -> str:
    if fmt == "sarif":
        from dockguard.report import sarif

        return sarif.render(report)
    if fmt == "cyclonedx":
        from dockguard.image import sbom

        vulns = [f for f in report.findings if f.kind is FindingKind.VULNERABILITY and not f.suppressed]
        return sbom.render(inv, vulns)
    if fmt == "json":
        return json.dumps(_json(report, inv), indent=2, default=str)
    return render_table(report, inv)


def _json(report: Report, inv: Inventory) -> dict[str, Any]:
    return {
        "complete": inv.complete,
        "incomplete": list(inv.incomplete),
        "image": _source_info(inv),
        "layers": [dataclasses.asdict(layer) for layer in inv.layers],
        "vulnerabilities": [finding_dict(f) for f in report.findings if f.kind is FindingKind.VULNERABILITY],
        "config": [finding_dict(f) for f in report.findings if f.kind is FindingKind.IMAGE_CONFIG],
        "summary": _counts(report.findings),
        "warnings": list(inv.warnings),
        "errors": list(inv.errors),
    }


def _counts(findings: Sequence[Finding]) -> dict[str, int]:
    from dockguard.model import Severity

    c = Counter(f.severity for f in findings if not f.suppressed)
    return {s.value: c.get(s, 0) for s in Severity}


def render_table(report: Report, inv: Inventory) -> str:
    """Human-readable scan output: vulnerabilities grouped by package, then configuration."""
    from dockguard.image.findings import image_label
    from dockguard.model import Severity

    meta = inv.metadata
    platform = f", {meta.platform}" if meta.platform not in ("", "/") else ""
    lines = [
        *_incomplete_lines(inv),
        f"Image: {image_label(inv)[6:]} ({meta.kind}{platform})",
        f"OS: {inv.os.pretty_name or inv.os.family + ' ' + inv.os.version if inv.os else 'unknown'}"
        + (" [END OF LIFE]" if inv.os and inv.os.eol else ""),
        f"Packages: {len(inv.packages)} ("
        + ", ".join(f"{k} {v}" for k, v in sorted(Counter(p.type for p in inv.packages).items()))
        + ")",
        "",
    ]
    vulns = [f for f in report.findings if f.kind is FindingKind.VULNERABILITY and f.package and f.vulnerability]
    groups: dict[tuple[str, str, str, str], list[Finding]] = {}
    for f in vulns:
        assert f.package is not None
        key = (f.package.name, f.package.version, f.package.path, f.package.type)
        groups.setdefault(key, []).append(f)
    if not vulns:
        lines.append("No vulnerabilities found.")
    for (name, version, path, ptype), items in sorted(groups.items()):
        lines.append(f"{name} {version} ({ptype})  {path}")
        items.sort(key=lambda f: (-f.severity.rank, f.id))
        for f in items:
            assert f.vulnerability is not None
            fixed = f.vulnerability.fixed
            state = f.vulnerability.state.value
            fix_text = f"fixed in {fixed}" if fixed else state.replace("_", " ") or "no fix"
            mark = f"  [suppressed: {f.suppressed}]" if f.suppressed else ""
            title = f.title if f.title != f.id else ""
            lines.append(f"  {f.severity.value:<10} {f.id:<20} {fix_text:<28} {title[:70]}{mark}")
        lines.append("")
    config = [f for f in report.findings if f.kind is FindingKind.IMAGE_CONFIG]
    if config:
        lines.append("Image configuration:")
        for f in sorted(config, key=lambda f: (-f.severity.rank, f.id, f.title)):
            mark = f"  [suppressed: {f.suppressed}]" if f.suppressed else ""
            extra = f"  ({f.fact('redacted')})" if f.fact("redacted") else ""
            lines.append(f"  {f.severity.value:<10} {f.id:<24} {f.title}{extra}{mark}")
        lines.append("")
    lines.append("Summary:")
    for sev in Severity:
        items = [f for f in report.findings if f.severity is sev and not f.suppressed]
        fixable = sum(1 for f in items if f.vulnerability is not None and f.vulnerability.fixed)
        nv = sum(1 for f in items if f.kind is FindingKind.VULNERABILITY)
        lines.append(f"  {sev.value:<10} {len(items):>4}  ({nv} vulnerabilities, {fixable} fixable; "
                     f"{len(items) - nv} configuration)")
    suppressed = sum(1 for f in report.findings if f.suppressed)
    if suppressed:
        lines.append(f"  suppressed {suppressed}")
    return "\n".join(lines)


def _incomplete_lines(inv: Inventory) -> list[str]:
    """The banner of an incomplete scan (empty for a complete one)."""
    if inv.complete:
        return []
    lines = [f"INCOMPLETE SCAN: {len(inv.incomplete)} part(s) of the image were not read; "
             "packages and findings may be missing.", "Not read:"]
    lines += [f"  - {r}" for r in inv.incomplete[:MAX_LISTED]]
    if len(inv.incomplete) > MAX_LISTED:
        lines.append(f"  … {len(inv.incomplete) - MAX_LISTED} more (see --format json)")
    return [*lines, ""]


def _list_packages(inv: Inventory, args: argparse.Namespace) -> int:
    if args.format == "json":
        head = json.dumps({"complete": inv.complete, "incomplete": list(inv.incomplete),
                           "image": _source_info(inv)}, indent=2)
        # One package per line, one join: an image may list 100 000 packages.
        lines = (("\n    " if i == 0 else ",\n    ") + json.dumps(dataclasses.asdict(p))
                for i, p in enumerate(inv.packages))
        text = "".join((head[:-2], ',\n  "packages": [', *lines, "\n  ]\n}\n"))
    elif args.format == "cyclonedx":
        from dockguard.image import sbom

        text = sbom.render(inv)
    elif args.format == "sarif":
        raise UsageError("--list-packages supports --format table, json or cyclonedx")
    else:
        rows = [("TYPE", "NAME", "VERSION", "SOURCE", "LAYER", "PATH")]
        for p in inv.packages:
            src = f"{p.source_name} {p.source_version}" if (p.source_name, p.source_version) != (
                p.name, p.version) else ""
            rows.append((p.type + ("*" if p.os_owned else ""), p.name, p.version, src,
                         p.layer[7:19], p.path))
        widths = [max(len(r[i]) for r in rows) for i in range(5)]
        text = "\n".join(_incomplete_lines(inv) + [
            "  ".join(c.ljust(widths[i]) if i < 5 else c for i, c in enumerate(r)) for r in rows
        ]) + f"\n{len(inv.packages)} packages (* = files owned by an OS package)"
    _write(text, args.output)
    return 0
