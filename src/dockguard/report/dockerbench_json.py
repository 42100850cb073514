"""docker-bench-security's JSON log shape, so tools that parse its logs keep working.

docker-bench writes ``{"dockerbenchsecurity": "1.6.0", "start": .., "tests": [{"id": "1",
"desc": "Host Configuration", "results": [...]}], "checks": N, "score": S, "end": ..}``.
Its vocabulary has no N/A or ERROR: both are written as INFO with the reason in ``details``
(prefixed ``N/A:`` / ``ERROR:``) so nothing looks like a pass.
"""

from __future__ import annotations

import json
from typing import Any

from dockguard.checks.catalogue import SECTIONS
from dockguard.model import CheckResult, Outcome, Report

DOCKER_BENCH_VERSION = "1.6.0"


def _result(r: CheckResult, limit: int, remediation: bool) -> dict[str, Any]:
    word = {Outcome.NA: "INFO", Outcome.ERROR: "INFO"}.get(r.outcome, r.outcome.value)
    entry: dict[str, Any] = {"id": r.meta.id, "desc": r.meta.cis_title, "result": word}
    bad = [d for d in r.details if d.outcome is not Outcome.PASS]
    if r.outcome in (Outcome.NA, Outcome.ERROR):
        entry["details"] = f"{r.outcome.value}: {r.reason}"
    elif bad:
        items = [f"[{d.obj.split(':', 1)[-1]}]" for d in bad]
        messages = {d.message for d in bad}
        label = messages.pop() if len(messages) == 1 else "Objects"
        if limit > 0:
            items = items[:limit]
        entry["details"] = f"{label}: {' '.join(items)}"
        entry["items"] = items
    elif r.reason and r.outcome is not Outcome.PASS:
        entry["details"] = r.reason
    if remediation and r.outcome is not Outcome.PASS:
        entry["remediation"] = r.meta.remediation
        entry["remediation-impact"] = r.meta.remediation_impact
    return entry


def report_dict(report: Report, *, limit: int = 0, remediation: bool = False) -> dict[str, Any]:
    """The docker-bench-shaped log as a dict."""
    tests: list[dict[str, Any]] = []
    for r in report.results:
        if not tests or tests[-1]["id"] != r.meta.section:
            tests.append({"id": r.meta.section, "desc": SECTIONS.get(r.meta.section, ""), "results": []})
        tests[-1]["results"].append(_result(r, limit, remediation))
    return {
        "dockerbenchsecurity": DOCKER_BENCH_VERSION,
        "start": int(report.started),
        "tests": tests,
        "checks": len(report.results),
        "score": report.classic_score,
        "end": int(report.finished),
    }


def render(report: Report, *, limit: int = 0, remediation: bool = False) -> str:
    """The log as JSON text (a real encoder: every string is escaped)."""
    return json.dumps(report_dict(report, limit=limit, remediation=remediation)) + "\n"
