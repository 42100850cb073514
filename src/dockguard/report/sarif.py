"""SARIF 2.1.0 output for code-scanning dashboards (GitHub, GitLab, Azure DevOps...).

One rule per check id or finding id (a vulnerability id such as ``CVE-2023-0464``), carrying
the help text (remediation), ``properties.security-severity`` (a CVSS-like number as a string,
which GitHub uses to bucket alerts) and tags such as ``CIS-5.4``.  Results are emitted for what
needs attention: WARN check results (one per failing object) and findings; PASS, INFO, NOTE and
N/A results are left out, ERROR results and report sections that could not be produced become
tool execution notifications, and so do probe steps that FAILED (a probe that reached
nothing is an unsuccessful execution).  Every result has a logical location (``container:web``,
``image:app:1.0//usr/lib/libssl.so.3``), a physical one when a file path is known (with the
line, and the column of a ``column`` evidence fact, as its region: a seccomp profile's
diagnostics), and a stable partial fingerprint.  Suppressed items stay in the log with an
external, accepted suppression.  Of a ``dockguard diff`` report only the new problems are
results (``baselineState`` new): fixed ones are gone from the later run and unchanged ones are
the accepted baseline, so a code-scanning upload shows the regressions.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from dockguard.model import (
    Change,
    CheckMeta,
    CheckResult,
    Detail,
    Finding,
    NoteStatus,
    Outcome,
    Report,
    Severity,
    StepStatus,
)
from dockguard.report._labels import finding_location, finding_path, split_obj
from dockguard.serial import to_jsonable

SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
VERSION = "2.1.0"
INFORMATION_URI = "https://github.com/dockguard/dockguard"

# GitHub buckets security-severity as critical ≥ 9.0, high ≥ 7.0, medium ≥ 4.0, low > 0.
SECURITY_SEVERITY: dict[Severity, str] = {
    Severity.CRITICAL: "9.5",
    Severity.HIGH: "8.0",
    Severity.MEDIUM: "5.5",
    Severity.UNKNOWN: "5.0",
    Severity.LOW: "2.0",
    Severity.NEGLIGIBLE: "0.5",
}

LEVEL: dict[Severity, str] = {
    Severity.CRITICAL: "error",
    Severity.HIGH: "error",
    Severity.MEDIUM: "warning",
    Severity.UNKNOWN: "warning",
    Severity.LOW: "note",
    Severity.NEGLIGIBLE: "note",
}

_WORD = re.compile(r"[A-Za-z0-9]+")
_URL = re.compile(r"https?://[^\s<>\"'`]+")
_COLUMN = re.compile(r"[0-9]{1,9}")


def render(report: Report) -> str:
    """The report as a SARIF 2.1.0 log (JSON text, deterministic order)."""
    return json.dumps(build(report), indent=2, ensure_ascii=False) + "\n"


def build(report: Report) -> dict[str, Any]:
    """The SARIF log as a JSON-compatible dict."""
    rules = _Rules()
    results: list[dict[str, Any]] = []
    notifications: list[dict[str, Any]] = []
    for result in report.results:
        if result.outcome is Outcome.WARN:
            index = rules.for_check(result.meta)
            results.extend(_check_results(result, index))
        elif result.outcome is Outcome.ERROR and not result.suppressed:
            notifications.append(
                {
                    "level": "error",
                    "message": {"text": f"check {result.id} failed: {result.reason or 'error'}"},
                    "associatedRule": {"id": result.id},
                }
            )
    for finding in report.findings:
        if finding.change in (Change.FIXED, Change.UNCHANGED):
            continue
        index = rules.for_finding(finding)
        results.append(_finding_result(finding, index))
    for note in report.notes:
        text = f"{note.part}: {note.status}"
        notifications.append(
            {
                "level": "note" if note.status is NoteStatus.WARNING else "warning",
                "message": {"text": f"{text} — {note.reason}" if note.reason else text},
            }
        )
    for step in report.steps:
        if step.status is StepStatus.FAILED:
            notifications.append({
                "level": "error",
                "message": {"text": f"probe step {step.name} failed: {step.reason}"},
                "properties": {"step": step.name, "status": step.status.value},
            })
    for error in report.collection_errors:
        text = f"source: {error.source}; target: {error.target}; message: {error.message}"
        notifications.append({"level": "warning", "message": {"text": f"collection: {text}"}})

    invocation: dict[str, Any] = {
        # A probe whose every step failed or was skipped examined nothing.
        "executionSuccessful": report.reachable or not report.steps,
        "startTimeUtc": _utc(report.started),
        "endTimeUtc": _utc(report.finished),
    }
    if notifications:
        invocation["toolExecutionNotifications"] = notifications
    run: dict[str, Any] = {
        "tool": {
            "driver": {
                "name": "dockguard",
                "version": report.tool_version,
                "semanticVersion": report.tool_version,
                "informationUri": INFORMATION_URI,
                "rules": rules.descriptors,
            }
        },
        "invocations": [invocation],
        "results": results,
        "columnKind": "unicodeCodePoints",
    }
    run["properties"] = {"source": to_jsonable(report.source)}
    return {"$schema": SCHEMA_URI, "version": VERSION, "runs": [run]}


class _Rules:
    """Rule descriptors in order of first use, with the index results refer to."""

    def __init__(self) -> None:
        self.descriptors: list[dict[str, Any]] = []
        self._index: dict[str, int] = {}

    def _add(self, rule_id: str, descriptor: dict[str, Any], severity: Severity) -> int:
        if rule_id in self._index:
            index = self._index[rule_id]
            existing = self.descriptors[index]
            # The same vulnerability may be rated differently by different vendors: the
            # rule keeps the highest rating, each result keeps its own level.
            if float(SECURITY_SEVERITY[severity]) > float(
                existing["properties"]["security-severity"]
            ):
                existing["properties"]["security-severity"] = SECURITY_SEVERITY[severity]
                existing["defaultConfiguration"] = {"level": LEVEL[severity]}
            return index
        self._index[rule_id] = len(self.descriptors)
        self.descriptors.append(descriptor)
        return self._index[rule_id]

    def for_check(self, meta: CheckMeta) -> int:
        tags = ["security", "cis-docker-benchmark", f"level-{meta.level}"]
        if meta.cis:
            tags.insert(1, f"CIS-{meta.cis}")
        if meta.manual:
            tags.append("manual")
        help_text = meta.remediation or meta.title
        if meta.remediation_impact and meta.remediation_impact != "None.":
            help_text += f"\n\nImpact: {meta.remediation_impact}"
        descriptor: dict[str, Any] = {
            "id": meta.id,
            "name": _rule_name(meta.title),
            "shortDescription": {"text": meta.cis_title},
            "fullDescription": {"text": meta.description or meta.cis_title},
            "help": {"text": help_text, "markdown": _markdown_help(help_text, meta.references)},
            "defaultConfiguration": {"level": LEVEL[meta.severity]},
            "properties": {
                "security-severity": SECURITY_SEVERITY[meta.severity],
                "severity": meta.severity.value,
                "tags": tags,
                "precision": "high",
                "problem.severity": LEVEL[meta.severity],
            },
        }
        uri = _first_url(meta.references)
        if uri:
            descriptor["helpUri"] = uri
        return self._add(meta.id, descriptor, meta.severity)

    def for_finding(self, finding: Finding) -> int:
        help_text = finding.remediation or f"Review {finding.id}."
        descriptor: dict[str, Any] = {
            "id": finding.id,
            "name": _rule_name(finding.id),
            "shortDescription": {"text": finding.title or finding.id},
            "fullDescription": {"text": finding.description or finding.title or finding.id},
            "help": {
                "text": help_text,
                "markdown": _markdown_help(help_text, finding.references),
            },
            "defaultConfiguration": {"level": LEVEL[finding.severity]},
            "properties": {
                "security-severity": SECURITY_SEVERITY[finding.severity],
                "severity": finding.severity.value,
                "tags": ["security", finding.kind],
                "precision": "very-high" if finding.kind == "vulnerability" else "high",
                "problem.severity": LEVEL[finding.severity],
            },
        }
        uri = _first_url(finding.references)
        if uri:
            descriptor["helpUri"] = uri
        return self._add(finding.id, descriptor, finding.severity)


def _check_results(result: CheckResult, index: int) -> list[dict[str, Any]]:
    meta = result.meta
    failing = [d for d in result.details if d.outcome is Outcome.WARN]
    targets: list[Detail | None] = list(failing) if failing else [None]
    out = []
    for detail in targets:
        if detail is None:
            text = f"{meta.title}: {result.reason}" if result.reason else meta.title
            obj = ""
        else:
            text = f"{meta.title}: {detail.message}"
            if detail.value is not None:
                text += f" (value: {detail.value})"
            obj = detail.obj
        sarif = _result(meta.id, index, LEVEL[meta.severity], text, obj, "", result.suppressed)
        out.append(sarif)
    return out


def _finding_result(finding: Finding, index: int) -> dict[str, Any]:
    text = finding.title or finding.id
    if finding.obj:
        text = f"{finding.id} in {finding.obj}: {text}" if text != finding.id else text
    result = _result(
        finding.id,
        index,
        LEVEL[finding.severity],
        text,
        finding_location(finding),
        finding_path(finding),
        finding.suppressed,
        _region(finding),
    )
    if finding.change is Change.NEW:
        result["baselineState"] = "new"
    props: dict[str, Any] = dict(sorted(finding.evidence))
    if finding.package:
        props.update(package=finding.package.name, version=finding.package.version, purl=finding.package.purl,
                     pkg_type=finding.package.type)
    if finding.vulnerability:
        props.update(installed=finding.vulnerability.installed, state=finding.vulnerability.state.value)
        if finding.vulnerability.fixed:
            props["fixed"] = finding.vulnerability.fixed
    if finding.path:
        props["path"] = finding.path
    props["severity"] = finding.severity.value
    props["kind"] = finding.kind
    result["properties"] = props
    return result


def _result(
    rule_id: str,
    index: int,
    level: str,
    text: str,
    location: str,
    path: str,
    suppressed: str | None,
    region: dict[str, int] | None = None,
) -> dict[str, Any]:
    result: dict[str, Any] = {
        "ruleId": rule_id,
        "ruleIndex": index,
        "kind": "fail",
        "level": level,
        "message": {"text": text},
    }
    if location:
        kind, name = split_obj(location)
        loc: dict[str, Any] = {
            "logicalLocations": [
                {"name": name, "fullyQualifiedName": location, "kind": _logical_kind(kind)}
            ]
        }
        if not path and kind == "file":
            path = name
        if path:
            # A profile is a file of this host: an absolute path stays absolute (file:///...), a
            # relative one stays relative to where dockguard ran (a repository's root in CI).
            uri = _file_uri(path) if kind == "profile" and path.startswith("/") else _uri(path)
            loc["physicalLocation"] = {"artifactLocation": {"uri": uri}}
            if region:
                loc["physicalLocation"]["region"] = region
        result["locations"] = [loc]
    # Several results of one rule may sit in one file (a profile): the line tells them apart.
    where = f"{location}\0{region['startLine']}" if region else location
    digest = hashlib.sha256(f"{rule_id}\0{where}".encode("utf-8", "surrogatepass")).hexdigest()
    result["partialFingerprints"] = {"dockguardLocation/v1": digest[:32]}
    if suppressed:
        result["suppressions"] = [
            {"kind": "external", "status": "accepted", "justification": suppressed}
        ]
    return result


def _region(finding: Finding) -> dict[str, int] | None:
    """``{"startLine", "startColumn"}`` of a finding with a line (the column when known)."""
    if finding.line is None:
        return None
    region = {"startLine": finding.line}
    column = finding.fact("column")
    if _COLUMN.fullmatch(column) and int(column) > 0:
        region["startColumn"] = int(column)
    return region


def _logical_kind(kind: str) -> str:
    # SARIF's suggested logical location kinds are code-centric; "resource" fits objects
    # such as containers, images and daemons, "module" fits a file.
    return "module" if kind == "file" else "resource"


def _uri(path: str) -> str:
    uri = quote(path.lstrip("/"), safe="/@:+,;=-._~", errors="surrogatepass")
    # A colon in the first segment would read as a URI scheme ("c:x.json").
    return f"./{uri}" if ":" in uri.split("/", 1)[0] else uri


def _file_uri(path: str) -> str:
    return "file:///" + _uri(path)


def _utc(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _rule_name(text: str) -> str:
    return "".join(w[:1].upper() + w[1:] for w in _WORD.findall(text)) or "Rule"


def _first_url(references: tuple[str, ...]) -> str:
    for ref in references:
        if _URL.fullmatch(ref):
            return ref
    return ""


def _markdown_help(text: str, references: tuple[str, ...]) -> str:
    md = _md_escape(text)
    links = [r for r in references if _URL.fullmatch(r)]
    if links:
        md += "\n\nReferences:\n" + "\n".join(f"- <{r}>" for r in links)
    return md


def _md_escape(text: str) -> str:
    # Help text may be rendered as Markdown/HTML by the dashboard: neutralise raw HTML.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
