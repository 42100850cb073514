"""CycloneDX SBOM (JSON, spec 1.5 or 1.6) of an image inventory, with vulnerabilities."""

from __future__ import annotations

from collections.abc import Sequence

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


def render(inv: Inventory, vulnerabilities: Sequence[Finding] = (), spec: str = "1.6") -> str:
    """The SBOM as a JSON string; `vulnerabilities` are findings of kind ``vulnerability``."""
    from cyclonedx.model import Property
    from cyclonedx.model.bom import Bom
    from cyclonedx.model.component import Component, ComponentType
    from cyclonedx.model.dependency import Dependency
    from cyclonedx.model.impact_analysis import ImpactAnalysisAffectedStatus
    from cyclonedx.model.license import LicenseExpression
    from cyclonedx.model.tool import Tool
    from cyclonedx.model.vulnerability import (
        BomTarget,
        BomTargetVersionRange,
        Vulnerability,
        VulnerabilityRating,
        VulnerabilitySeverity,
        VulnerabilitySource,
    )
    from cyclonedx.output import make_outputter
    from cyclonedx.schema import OutputFormat, SchemaVersion
    from packageurl import PackageURL

    version = {"1.5": SchemaVersion.V1_5, "1.6": SchemaVersion.V1_6}[spec]
    meta = inv.metadata
    bom = Bom()
    bom.metadata.tools.tools.add(Tool(vendor="dockguard", name="dockguard", version=__version__))
    image = Component(
        name=(meta.repo_tags[0] if meta.repo_tags else meta.name),
        type=ComponentType.CONTAINER,
        bom_ref=meta.image_id or meta.name,
        properties=[Property(name="dockguard:source", value=meta.kind)]
        + ([Property(name="dockguard:platform", value=meta.platform)] if meta.platform else [])
        # An SBOM of an incomplete scan says so: consumers must not take it as the whole image.
        + [Property(name="dockguard:scan:complete", value="true" if inv.complete else "false")]
        + [Property(name="dockguard:scan:incomplete", value=r) for r in inv.incomplete[:100]],
    )
    bom.metadata.component = image
    if inv.os is not None:
        bom.components.add(
            Component(name=inv.os.family, version=inv.os.version or None,
                      type=ComponentType.OPERATING_SYSTEM, bom_ref=f"os:{inv.os.family}",
                      description=inv.os.pretty_name or None)
        )
    refs: dict[str, str] = {}
    for i, pkg in enumerate(inv.packages):
        ref = pkg.purl or f"{pkg.type}:{pkg.name}@{pkg.version}"
        if ref in refs.values():
            ref = f"{ref}#{i}"
        refs[f"{pkg.purl}|{pkg.path}"] = ref
        props = [Property(name="dockguard:package:type", value=pkg.type)]
        if pkg.path:
            props.append(Property(name="dockguard:location", value=pkg.path))
        if pkg.layer:
            props.append(Property(name="dockguard:layer:diff_id", value=pkg.layer))
        if pkg.source_name and (pkg.source_name, pkg.source_version) != (pkg.name, pkg.version):
            props.append(Property(name="dockguard:source:name", value=pkg.source_name))
            props.append(Property(name="dockguard:source:version", value=pkg.source_version))
        if pkg.os_owned:
            props.append(Property(name="dockguard:os_owned", value="true"))
        licenses = [LicenseExpression(v) for v in pkg.licenses[:1] if v]
        bom.components.add(
            Component(
                name=pkg.name, version=pkg.version or None, type=ComponentType.LIBRARY,
                bom_ref=ref, purl=PackageURL.from_string(pkg.purl) if pkg.purl else None,
                properties=props, licenses=licenses,
            )
        )
    # Bom.register_dependency is quadratic; the flat graph is built directly instead.
    children = [Dependency(ref=c.bom_ref) for c in bom.components]
    bom.dependencies.add(Dependency(ref=image.bom_ref, dependencies=children))
    bom.dependencies.update(Dependency(ref=c.bom_ref) for c in bom.components)
    for f in vulnerabilities:
        if f.kind != "vulnerability":
            continue
        target = refs.get(f"{f.data.get('purl', '')}|{f.data.get('path', '')}")
        ratings = [
            VulnerabilityRating(severity=VulnerabilitySeverity(_SEVERITY[f.severity]),
                                source=VulnerabilitySource(name="dockguard"))
        ]
        fixed = f.data.get("fixed")
        bom.vulnerabilities.add(
            Vulnerability(
                id=f.id,
                source=VulnerabilitySource(name=(f.data.get("sources") or ["osv"])[0]),
                ratings=ratings,
                description=f.title or None,
                detail=f.description or None,
                recommendation=f"Upgrade {f.data.get('package')} to {fixed}" if fixed else None,
                affects=[
                    BomTarget(ref=target, versions=[BomTargetVersionRange(
                        version=str(f.data.get("installed") or "") or None,
                        status=ImpactAnalysisAffectedStatus.AFFECTED)])
                ] if target else None,
                properties=[Property(name="dockguard:state", value=str(f.data.get("state", "")))]
                + [Property(name="dockguard:alias", value=a) for a in f.data.get("aliases", [])],
            )
        )
    return make_outputter(bom, OutputFormat.JSON, version).output_as_string(indent=2)
