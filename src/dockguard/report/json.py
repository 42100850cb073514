"""dockguard's own JSON report (schema documented in docs/report-schema.md).

The schema is versioned with ``schema_version``; fields are only added within a version.
"""

from __future__ import annotations

import json

from dockguard.checks.catalogue import SECTIONS
from dockguard.model import CheckResult, Finding, ProbeStep, Report
from dockguard.serial import to_jsonable

SCHEMA_VERSION = 2


def result_dict(r: CheckResult) -> dict[str, object]:
    """One check result as a JSON object."""
    m = r.meta
    return {
        "id": m.id,
        "cis": m.cis,
        "title": m.title,
        "section": m.section,
        "section_title": SECTIONS.get(m.section, ""),
        "level": m.level,
        "automated": m.automated,
        "scored": m.scored,
        "severity": m.severity.value,
        "outcome": r.outcome.value,
        "reason": r.reason,
        "details": [to_jsonable(d) for d in r.details],
        "remediation": m.remediation,
        "remediation_impact": m.remediation_impact,
        "references": list(m.references),
        "suppressed": r.suppressed,
        "duration_ms": r.duration_ms,
    }


def finding_dict(f: Finding) -> dict[str, object]:
    """One finding as a JSON object."""
    return {
        "id": f.id,
        "kind": f.kind,
        "severity": f.severity.value,
        "title": f.title,
        "obj": f.obj,
        "description": f.description,
        "references": list(f.references),
        "remediation": f.remediation,
        "path": f.path,
        "line": f.line,
        "package": to_jsonable(f.package),
        "vulnerability": to_jsonable(f.vulnerability),
        "evidence": dict(f.evidence),
        "suppressed": f.suppressed,
        "change": f.change,
    }


def step_dict(s: ProbeStep) -> dict[str, object]:
    """One probe step as a JSON object; its evidence as an object like a finding's."""
    return {"name": s.name, "status": s.status.value, "reason": s.reason, "evidence": dict(s.evidence)}


def report_dict(report: Report) -> dict[str, object]:
    """The whole report as a JSON-compatible dict."""
    from dockguard.model import Outcome
    from dockguard.report.score import compute

    score = compute(report)
    return {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "dockguard", "version": report.tool_version},
        "started": report.started,
        "finished": report.finished,
        "source": to_jsonable(report.source),
        "summary": {
            "checks": len(report.results),
            "outcomes": {o.value: report.count(o) for o in Outcome},
            "classic_score": report.classic_score,
            "score": score.value,
            "grade": score.grade,
            "score_withheld": score.withheld,
            "findings": len(report.findings),
        },
        "results": [result_dict(r) for r in report.results],
        "findings": [finding_dict(f) for f in report.findings],
        "notes": [to_jsonable(n) for n in report.notes],
        "steps": [step_dict(s) for s in report.steps],
        "packages": [to_jsonable(p) for p in report.packages],
        "collection_errors": [to_jsonable(e) for e in report.collection_errors],
    }


def render(report: Report) -> str:
    """Indented JSON text."""
    return json.dumps(report_dict(report), indent=2, sort_keys=False) + "\n"
