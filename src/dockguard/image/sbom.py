"""CycloneDX SBOM (JSON, spec 1.5 or 1.6) of an image inventory, with vulnerabilities.

The document is written directly, one component at a time: an image may list 100 000
packages, and an object model of the whole BOM would cost gigabytes and minutes.  The output
validates against the CycloneDX JSON schemas (tests check it with the CycloneDX library).
An SBOM of an incomplete scan carries ``dockguard:scan:complete = false`` on the image
component, with the reasons as ``dockguard:scan:incomplete`` properties.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from dockguard import __version__
from dockguard.image.scan import Inventory
from dockguard.model import Finding, Severity

_SEVERITY = {
    Severity.CRITICAL: "critical",
    Severity.HIGH: "high",
    Severity.MEDIUM: "medium",
    Severity.LOW: "low",
    Severity.NEGLIGIBLE: "info",
    Severity.UNKNOWN: "unknown",
}
_SCHEMA = "http://cyclonedx.org/schema/bom-{}.schema.json"


def _props(pairs: Sequence[tuple[str, str]]) -> list[dict[str, str]]:
    return [{"name": k, "value": v} for k, v in sorted(pairs)]


def _dump(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False)


def _line(value: Any) -> str:
    # Components, dependencies and vulnerabilities: one compact line each (an image may
    # have 100 000 of them).
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _indent(text: str, by: int) -> str:
    return text.replace("\n", "\n" + " " * by)


def render(inv: Inventory, vulnerabilities: Sequence[Finding] = (), spec: str = "1.6") -> str:
    """The SBOM as a JSON string; `vulnerabilities` are findings of kind ``vulnerability``."""
    if spec not in ("1.5", "1.6"):
        raise ValueError(f"unsupported CycloneDX version {spec}")
    meta = inv.metadata
    image_ref = meta.image_id or meta.name
    image_props = [("dockguard:source", meta.kind), ("dockguard:scan:complete", str(inv.complete).lower())]
    if meta.platform:
        image_props.append(("dockguard:platform", meta.platform))
    image_props += [("dockguard:scan:incomplete", r) for r in inv.incomplete[:100]]
    metadata = {
        "timestamp": dt.datetime.now(dt.UTC).isoformat(),
        "tools": [{"vendor": "dockguard", "name": "dockguard", "version": __version__}],
        "component": {
            "type": "container",
            "bom-ref": image_ref,
            "name": meta.repo_tags[0] if meta.repo_tags else meta.name,
            "properties": _props(image_props),
        },
    }
    refs: dict[str, str] = {}   # purl|path -> bom-ref
    used: set[str] = {image_ref}

    def components() -> Iterator[str]:
        for i, pkg in enumerate(inv.packages):
            ref = pkg.purl or f"{pkg.type}:{pkg.name}@{pkg.version}"
            if ref in used:
                ref = f"{ref}#{i}"
            used.add(ref)
            refs[f"{pkg.purl}|{pkg.path}"] = ref
            props = [("dockguard:package:type", pkg.type)]
            if pkg.path:
                props.append(("dockguard:location", pkg.path))
            if pkg.layer:
                props.append(("dockguard:layer:diff_id", pkg.layer))
            if pkg.source_name and (pkg.source_name, pkg.source_version) != (pkg.name, pkg.version):
                props += [("dockguard:source:name", pkg.source_name),
                          ("dockguard:source:version", pkg.source_version)]
            if pkg.os_owned:
                props.append(("dockguard:os_owned", "true"))
            if pkg.evidence:
                props.append(("dockguard:evidence", pkg.evidence))
            comp: dict[str, Any] = {"type": "library", "bom-ref": ref, "name": pkg.name}
            if pkg.version:
                comp["version"] = pkg.version
            if pkg.licenses and pkg.licenses[0]:
                comp["licenses"] = [{"expression": pkg.licenses[0]}]
            if pkg.purl:
                comp["purl"] = pkg.purl
            comp["properties"] = _props(props)
            yield _line(comp)
        if inv.os is not None:
            os_ref = f"os:{inv.os.family}"
            used.add(os_ref)
            comp = {"type": "operating-system", "bom-ref": os_ref, "name": inv.os.family}
            if inv.os.version:
                comp["version"] = inv.os.version
            if inv.os.pretty_name:
                comp["description"] = inv.os.pretty_name
            yield _line(comp)

    def document() -> Iterator[str]:
        yield (
            "{\n"
            f'  "$schema": {json.dumps(_SCHEMA.format(spec))},\n'
            '  "bomFormat": "CycloneDX",\n'
            f'  "specVersion": {json.dumps(spec)},\n'
            f'  "serialNumber": "urn:uuid:{uuid.uuid4()}",\n'
            '  "version": 1,\n'
            f'  "metadata": {_indent(_dump(metadata), 2)},\n'
            '  "components": ['
        )
        yield from _listed(components())
        yield '\n  ],\n  "dependencies": ['
        children = sorted(used - {image_ref})
        yield from _listed([_line({"ref": image_ref, "dependsOn": children})])
        yield from _listed((_line({"ref": r}) for r in children), first=not children)
        vulns = (_line(_vulnerability(f, i, refs)) for i, f in enumerate(vulnerabilities) if f.kind == "vulnerability")
        yield '\n  ],\n  "vulnerabilities": ['
        yield from _listed(vulns)
        yield "\n  ]\n}\n"

    # One join: pieces are small, the document is built once.
    return "".join(document())


def _listed(items: Iterable[str], first: bool = True) -> Iterator[str]:
    """Array elements, each on its own line, comma-separated (`first`: no leading comma)."""
    for item in items:
        yield ("\n    " if first else ",\n    ") + item
        first = False


def _vulnerability(f: Finding, index: int, refs: dict[str, str]) -> dict[str, Any]:
    vuln = f.vulnerability
    pkg = f.package
    out: dict[str, Any] = {
        "bom-ref": f"vulnerability-{index}",
        "id": f.id,
        "source": {"name": vuln.sources[0] if vuln and vuln.sources else "osv"},
        "ratings": [{"source": {"name": "dockguard"}, "severity": _SEVERITY[f.severity]}],
    }
    if f.title:
        out["description"] = f.title
    if f.description:
        out["detail"] = f.description
    if vuln and vuln.fixed and pkg:
        out["recommendation"] = f"Upgrade {pkg.name} to {vuln.fixed}"
    target = refs.get(f"{pkg.purl if pkg else ''}|{f.path}")
    if target:
        affected: dict[str, Any] = {"status": "affected"}
        if vuln and vuln.installed:
            affected["version"] = vuln.installed
        out["affects"] = [{"ref": target, "versions": [affected]}]
    props = [("dockguard:state", vuln.state.value if vuln else "")]
    props += [("dockguard:alias", a) for a in (vuln.aliases if vuln else ())]
    out["properties"] = [{"name": k, "value": v} for k, v in props]
    return out
