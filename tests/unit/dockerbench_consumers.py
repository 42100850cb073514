"""What readers of docker-bench-security's JSON log expect, as checks over a parsed log.

- The shape docker-bench-security 1.6.0 writes (``functions/output_lib.sh``): top-level
  ``dockerbenchsecurity``, ``start``, ``tests``, ``checks``, ``score``, ``end``; each test
  ``{"id", "desc", "results"}``; each result ``{"id", "desc", "result"}`` plus ``details``,
  ``items`` (only with details) and, with ``-p``, ``remediation`` and ``remediation-impact``
  (only on non-PASS results; the impact only after a remediation). Results are PASS, WARN,
  INFO or NOTE.
- DefectDojo's "docker-bench-security Scan" parser, as it behaves: a result becomes a finding
  when it is FAIL (Critical), or WARN (High), INFO (Low) or NOTE (Info) with no "(Manual)" in
  its ``desc``; PASS never does. It reads ``desc`` of every result with a ``result``, the
  log's ``end`` as an integer timestamp, and concatenates ``remediation`` and
  ``remediation-impact`` (an impact without a remediation fails the import).
"""

from __future__ import annotations

from typing import Any

TOP = ("dockerbenchsecurity", "start", "tests", "checks", "score", "end")
RESULT_KEYS = {"id", "desc", "result", "details", "items", "remediation", "remediation-impact"}
WORDS = {"PASS", "WARN", "INFO", "NOTE"}


def shape_problems(doc: Any) -> list[str]:
    """Where `doc` differs from the log docker-bench-security 1.6.0 writes."""
    if not isinstance(doc, dict):
        return ["not a JSON object"]
    out = []
    if tuple(doc) != TOP:
        out.append(f"top-level keys {list(doc)} (docker-bench writes {list(TOP)} in that order)")
    if not isinstance(doc.get("dockerbenchsecurity"), str):
        out.append("dockerbenchsecurity must be a version string")
    for key in ("start", "end", "checks", "score"):
        if not isinstance(doc.get(key), int) or isinstance(doc.get(key), bool):
            out.append(f"{key} must be an integer")
    tests = doc.get("tests")
    if not isinstance(tests, list):
        return [*out, "tests must be a list"]
    ids: list[str] = []
    for t, test in enumerate(tests):
        if not isinstance(test, dict) or set(test) != {"id", "desc", "results"}:
            out.append(f"tests[{t}] must be {{id, desc, results}}")
            continue
        if not isinstance(test["id"], str) or not isinstance(test["desc"], str):
            out.append(f"tests[{t}]: id and desc must be strings")
        for n, result in enumerate(test["results"] if isinstance(test["results"], list) else []):
            where = f"tests[{t}].results[{n}]"
            out.extend(f"{where}: {p}" for p in _result_problems(result))
            if isinstance(result, dict):
                ids.append(str(result.get("id")))
    if isinstance(doc.get("checks"), int) and doc["checks"] != len(ids):
        out.append(f"checks is {doc['checks']} but {len(ids)} results are listed")
    if len(set(ids)) != len(ids):
        out.append("a check id appears twice")
    if isinstance(doc.get("start"), int) and isinstance(doc.get("end"), int) and doc["start"] > doc["end"]:
        out.append("start is after end")
    return out


def _result_problems(result: Any) -> list[str]:
    if not isinstance(result, dict):
        return ["not an object"]
    out = []
    extra = set(result) - RESULT_KEYS
    if extra:
        out.append(f"keys docker-bench never writes: {sorted(extra)}")
    for key in ("id", "desc", "result"):
        if not isinstance(result.get(key), str) or not result.get(key):
            out.append(f"{key} must be a non-empty string")
    if result.get("result") not in WORDS:
        out.append(f"result {result.get('result')!r} is not one of {sorted(WORDS)}")
    if "details" in result and not isinstance(result["details"], str):
        out.append("details must be a string")
    if "items" in result:
        items = result["items"]
        if "details" not in result:
            out.append("items without details")
        if not isinstance(items, list) or not all(isinstance(i, str) and i for i in items):
            out.append("items must be non-empty strings")
    if result.get("result") == "PASS" and ("remediation" in result or "remediation-impact" in result):
        out.append("docker-bench writes remediation only on non-PASS results")
    if "remediation-impact" in result and "remediation" not in result:
        out.append("remediation-impact without remediation")
    for key in ("remediation", "remediation-impact"):
        if key in result and not isinstance(result[key], str):
            out.append(f"{key} must be a string")
    return out


def defectdojo_findings(doc: dict[str, Any]) -> dict[str, str]:
    """Check id → severity of the findings DefectDojo's parser makes of `doc` (raises
    ValueError where its import would fail)."""
    int(doc["end"])
    findings: dict[str, str] = {}
    for test in doc["tests"]:
        for result in test["results"]:
            status = result.get("result")
            if status is None:
                continue
            desc = result.get("desc")
            if not isinstance(desc, str):
                raise ValueError(f"{result.get('id')}: no desc")
            if "remediation-impact" in result and not isinstance(result.get("remediation"), str):
                raise ValueError(f"{result.get('id')}: remediation-impact without remediation")
            manual = "(Manual)" in desc
            severity = {"FAIL": "Critical"}.get(status.upper()) or (
                None if manual else {"WARN": "High", "INFO": "Low", "NOTE": "Info"}.get(status.upper()))
            if severity:
                findings[result.get("id", "")] = severity
    return findings
