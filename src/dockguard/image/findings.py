"""Turning an image inventory and its vulnerability matches into report findings.

Shared by ``dockguard image scan`` and ``dockguard audit`` so both report an image the same way.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from dockguard.image import config_rules
from dockguard.image.packages import Package
from dockguard.image.scan import Inventory
from dockguard.model import Finding, FindingKind, PackageRef, Report, VulnerabilityInfo
from dockguard.vuln.match import VulnMatch


def image_label(inv: Inventory) -> str:
    """``image:<first tag or name>`` — the object label of an image's findings."""
    meta = inv.metadata
    return f"image:{meta.repo_tags[0] if meta.repo_tags else meta.name}"


def vuln_finding(m: VulnMatch, obj: str) -> Finding:
    """A `VulnMatch` as a report finding of kind ``vulnerability``."""
    p = m.package
    return Finding(
        id=m.id,
        kind=FindingKind.VULNERABILITY,
        severity=m.severity,
        title=m.title or m.id,
        obj=obj,
        description=m.description,
        references=m.references,
        remediation=f"Upgrade {p.name} to {m.fixed_version}" if m.fixed_version else m.reason,
        path=p.path,
        package=package_ref(p),
        vulnerability=VulnerabilityInfo(
            state=m.state,
            installed=m.installed_version,
            fixed=m.fixed_version,
            aliases=tuple(m.aliases),
            sources=tuple(m.sources),
            severity_sources=tuple(sorted(m.severity_sources.items())),
            reason=m.reason,
        ),
    )


def package_ref(p: Package) -> PackageRef:
    """The report's view of an inventoried package."""
    return PackageRef(name=p.name, version=p.version, type=p.type, purl=p.purl, path=p.path, layer=p.layer,
                      source_name=p.source_name)


def scan_summary_for_bench(result: Report | Inventory) -> dict[str, Any]:
    """The shape CIS 4.4/4.8/4.10 read from ``options.extras["image_scans"][name]``.

    Accepts the `Report` of an image scan (vulnerability counts, setuid files and redacted
    secrets from its findings) or a bare `Inventory` (no vulnerability counts).
    """
    if isinstance(result, Inventory):
        return {
            "vulnerabilities": {},
            "setuid_files": [f.path for f in result.setuid_files],
            "secrets": [f"{h.location}: {h.redacted}" for h, _layer in result.secrets],
        }
    vulns = [f for f in result.findings if f.kind == "vulnerability" and not f.suppressed]
    return {
        "vulnerabilities": dict(Counter(f.severity.value for f in vulns)),
        "setuid_files": [f.path for f in result.findings if f.id == "IMG-SETUID" and not f.suppressed],
        "secrets": [
            f"{f.fact('location')}: {f.fact('redacted')}"
            for f in result.findings
            if f.id == "IMG-SECRET" and not f.suppressed
        ],
    }


def image_findings(inv: Inventory, matches: Sequence[VulnMatch], obj: str | None = None) -> list[Finding]:
    """Vulnerability findings plus the image configuration findings, labelled `obj`."""
    label = obj or image_label(inv)
    return [vuln_finding(m, label) for m in matches] + config_rules.check_image(inv, label)
