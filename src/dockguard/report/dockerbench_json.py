"""docker-bench-security's JSON log shape, so tools that read its logs (DefectDojo's
"docker-bench-security Scan" parser, dashboards) keep working.

docker-bench 1.6.0 writes ``{"dockerbenchsecurity": "1.6.0", "start": .., "tests": [{"id": "1",
"desc": "Host Configuration", "results": [{"id", "desc", "result", "details", "items",
"remediation", "remediation-impact"}]}], "checks": N, "score": S, "end": ..}``.  Its
vocabulary is PASS, WARN, INFO and NOTE; consumers make WARN, INFO and NOTE of automated checks
findings (DefectDojo: High, Low, Info) and skip PASS and anything "(Manual)".  So:

- **N/A** is written as docker-bench writes a check that does not apply (a missing file):
  ``PASS`` with the reason, ``"details": "N/A: <reason>"`` — no finding, still visible.
- **ERROR** is ``INFO`` with ``"details": "ERROR: <reason>"``: a check that could not be
  evaluated must not look like a pass.
- A **suppressed** WARN is ``INFO`` with ``"details": "SUPPRESSED (<reason>): …"``: accepted,
  out of the score like docker-bench's INFO, still on record.
- ``items`` are written as docker-bench writes them: container, user and file names as they
  are, images in brackets (``[app:1.0]``), ``(truncated)`` last when ``-n`` cut the list;
  ``details`` is ``<message>: <items>``, one such group per distinct message, so objects that
  fail for different reasons keep their own reason (``Privileged: true: web; CapAdd ALL: db``).
- ``remediation`` and ``remediation-impact`` on every non-PASS entry when asked for (``bench
  -p``; ``audit`` always); ``remediation-impact`` never without ``remediation``.
"""

from __future__ import annotations

import json

from dockguard.checks.catalogue import SECTIONS
from dockguard.model import CheckResult, Detail, Outcome, Report
from dockguard.report._labels import clean_json_text, split_obj

DOCKER_BENCH_VERSION = "1.6.0"
TRUNCATED = "(truncated)"

_WORD = {
    Outcome.PASS: "PASS",
    Outcome.WARN: "WARN",
    Outcome.INFO: "INFO",
    Outcome.NOTE: "NOTE",
    Outcome.NA: "PASS",
    Outcome.ERROR: "INFO",
}

#: The per-object outcomes a result's details list: what made it what it is.
_SHOWN = {
    Outcome.WARN: (Outcome.WARN, Outcome.ERROR),
    Outcome.INFO: (Outcome.INFO, Outcome.WARN, Outcome.ERROR),
    Outcome.NOTE: (Outcome.NOTE, Outcome.INFO, Outcome.WARN),
}


def item_name(obj: str) -> str:
    """An object as docker-bench lists it: ``container:web`` → ``web``, ``image:app:1`` →
    ``[app:1]``; ``""`` for objects it never lists (``daemon``, ``swarm``)."""
    kind, name = split_obj(obj)
    if kind == obj:
        return ""
    return f"[{name}]" if kind == "image" else name


def _groups(details: list[Detail]) -> list[tuple[str, list[str]]]:
    """(message, item names) in order of first appearance; objects docker-bench never lists
    (``daemon``) have a message and no item."""
    out: dict[str, list[str]] = {}
    for d in details:
        names = out.setdefault(d.message or d.outcome.value, [])
        name = item_name(d.obj)
        if name and name not in names:
            names.append(name)
    return list(out.items())


def _details(r: CheckResult, limit: int) -> tuple[str, list[str]]:
    shown = [d for d in r.details if d.outcome in _SHOWN.get(r.outcome, ())]
    if not shown:
        return (r.reason if r.outcome is not Outcome.PASS else ""), []
    groups = _groups(shown)
    items = list(dict.fromkeys(name for _, names in groups for name in names))
    truncated = 0 < limit < len(items)
    if truncated:
        keep = set(items[:limit])
        groups = [(m, [n for n in names if n in keep]) for m, names in groups]
        groups = [(m, names) for m, names in groups if names]
        items = [*items[:limit], TRUNCATED]
    parts = [f"{message}: {' '.join(names)}" if names else message for message, names in groups]
    text = "; ".join(parts) + (f" {TRUNCATED}" if truncated else "")
    return text, items


def _result(r: CheckResult, limit: int, remediation: bool) -> dict[str, object]:
    word = _WORD[r.outcome]
    entry: dict[str, object] = {"id": r.meta.id, "desc": r.meta.cis_title}
    details, items = _details(r, limit)
    if r.outcome in (Outcome.NA, Outcome.ERROR):
        details = f"{r.outcome.value}: {r.reason}" if r.reason else r.outcome.value
        items = []
    if r.suppressed and word in ("WARN", "INFO", "NOTE") and r.outcome is not Outcome.ERROR:
        # Accepted: docker-bench has no such state; INFO stays out of its score, as here.
        details = f"SUPPRESSED ({r.suppressed})" + (f": {details}" if details else "")
        word = "INFO" if word == "WARN" else word
    entry["result"] = word
    if details:
        entry["details"] = details
        if items:
            entry["items"] = items
    if remediation and word != "PASS":
        entry["remediation"] = r.meta.remediation or r.meta.title
        if r.meta.remediation_impact:
            entry["remediation-impact"] = r.meta.remediation_impact
    return entry


def report_dict(report: Report, *, limit: int = 0, remediation: bool = False) -> dict[str, object]:
    """The docker-bench-shaped log as a dict (check results only: findings have no place in it)."""
    sections: dict[str, list[dict[str, object]]] = {}
    for r in report.results:
        sections.setdefault(r.meta.section, []).append(_result(r, limit, remediation))
    tests = [{"id": s, "desc": SECTIONS.get(s, ""), "results": results} for s, results in sections.items()]
    return {
        "dockerbenchsecurity": DOCKER_BENCH_VERSION,
        "start": int(report.started),
        "tests": tests,
        "checks": len(report.results),
        "score": report.classic_score,
        "end": int(report.finished),
    }


def render(report: Report, *, limit: int = 0, remediation: bool = False) -> str:
    """The log as ASCII JSON text (a real encoder: every string is escaped; characters that
    consumers cannot store, such as NUL and lone surrogates, become U+FFFD first)."""
    text = json.dumps(report_dict(report, limit=limit, remediation=remediation), ensure_ascii=False)
    return clean_json_text(text).encode("ascii", "backslashreplace").decode("ascii") + "\n"
