"""JUnit XML output for CI test dashboards (Jenkins, GitLab, Azure Pipelines).

One ``<testsuite>`` per CIS section (``5 Container Runtime``) plus one per finding kind
(``vulnerability``); one ``<testcase>`` per check × object (a check without per-object details
is one test case) and per finding.  WARN → ``<failure>``, ERROR → ``<error>``, N/A, NOTE and
suppressed items → ``<skipped>``; PASS and INFO pass (INFO keeps its text in ``system-out``).
Findings are failures unless suppressed.  A probe's steps are one suite (``daemon-probe
steps``), a test case each: FAILED → ``<error>``, SKIPPED → ``<skipped>``, COMPLETED passes
(its reason and facts in ``system-out``).  Characters XML 1.0 cannot carry are replaced.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass

from dockguard.model import CheckResult, Detail, Finding, Outcome, ProbeStep, Report, StepStatus
from dockguard.report._labels import (
    SEVERITY_ORDER,
    clean_text,
    finding_location,
    package_facts,
    section_key,
    section_title,
)


@dataclass(frozen=True)
class _Case:
    classname: str
    name: str
    status: str  # "pass" | "failure" | "error" | "skipped"
    message: str
    text: str
    time_s: float = 0.0


def render(report: Report) -> str:
    """The report as a JUnit XML document."""
    suites: dict[str, list[_Case]] = {}
    for result in sorted(report.results, key=lambda r: section_key(r.meta.section)):
        suites.setdefault(section_title(result.meta.section), []).extend(_check_cases(result))
    if report.steps:
        suites[f"{report.surface.value} steps"] = [_step_case(step, report.surface.value) for step in report.steps]
    rank = {s: i for i, s in enumerate(SEVERITY_ORDER)}
    for finding in sorted(report.findings, key=lambda f: (f.kind, rank[f.severity], f.id, f.obj)):
        suites.setdefault(finding.kind, []).append(_finding_case(finding))

    root = ET.Element("testsuites", name="dockguard")
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    total_time = 0.0
    for name, cases in suites.items():
        counts = {
            "tests": len(cases),
            "failures": sum(c.status == "failure" for c in cases),
            "errors": sum(c.status == "error" for c in cases),
            "skipped": sum(c.status == "skipped" for c in cases),
        }
        suite_time = sum(c.time_s for c in cases)
        attrib = {"name": _x(name), **{k: str(v) for k, v in counts.items()}}
        attrib["time"] = f"{suite_time:.3f}"
        suite = ET.SubElement(root, "testsuite", attrib)
        for key, value in counts.items():
            totals[key] += value
        total_time += suite_time
        for case in cases:
            element = ET.SubElement(
                suite,
                "testcase",
                classname=_x(case.classname),
                name=_x(case.name),
                time=f"{case.time_s:.3f}",
            )
            if case.status == "pass":
                if case.text:
                    ET.SubElement(element, "system-out").text = _x(case.text)
                continue
            child = ET.SubElement(element, case.status, message=_x(case.message))
            if case.status != "skipped":
                child.set("type", case.status.upper())
                child.text = _x(case.text)
    for key, value in totals.items():
        root.set(key, str(value))
    root.set("time", f"{total_time:.3f}")
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, "unicode") + "\n"


def _x(text: str) -> str:
    return clean_text(text)


def _check_cases(result: CheckResult) -> Iterator[_Case]:
    meta = result.meta
    classname = f"dockguard.cis.{meta.section}" if meta.cis else f"dockguard.{meta.section}"
    details: list[Detail | None] = list(result.details) or [None]
    share = result.duration_ms / 1000 / len(details)
    for detail in details:
        name = f"{meta.id} {meta.cis_title}"
        outcome = result.outcome
        text = result.reason
        if detail is not None:
            name += f" [{detail.obj}]"
            # A check that failed elsewhere still passed for this object, and vice versa.
            outcome = detail.outcome if result.outcome in (Outcome.WARN, Outcome.PASS) else outcome
            text = f"{detail.obj}: {detail.message}"
            if detail.value is not None:
                text += f" (value: {detail.value})"
        if result.suppressed and outcome in (Outcome.WARN, Outcome.ERROR):
            yield _Case(classname, name, "skipped", f"suppressed: {result.suppressed}", text, share)
            continue
        if outcome is Outcome.WARN:
            message = f"[{meta.severity.value}] {text}"
            body = f"{text}\n\nRemediation: {meta.remediation}" if meta.remediation else text
            yield _Case(classname, name, "failure", message, body, share)
        elif outcome is Outcome.ERROR:
            yield _Case(classname, name, "error", text or "error", text, share)
        elif outcome in (Outcome.NA, Outcome.NOTE):
            label = "manual check" if outcome is Outcome.NOTE else "not applicable"
            message = f"{label}: {text}" if text else label
            yield _Case(classname, name, "skipped", message, "", share)
        else:
            yield _Case(classname, name, "pass", "", text, share)


def _step_case(step: ProbeStep, surface: str) -> _Case:
    classname = f"dockguard.{surface}"
    text = "\n".join([step.reason, *(f"{name}: {value}" for name, value in step.evidence)]).strip()
    if step.status is StepStatus.FAILED:
        return _Case(classname, step.name, "error", step.reason or "failed", text)
    if step.status is StepStatus.SKIPPED:
        return _Case(classname, step.name, "skipped", step.reason or "skipped", "")
    return _Case(classname, step.name, "pass", "", text)


def _finding_case(finding: Finding) -> _Case:
    location = finding_location(finding)
    if location and finding.line is not None:
        location += f", line {finding.line}"  # one profile holds many results of one id
    name = f"{finding.id} [{location}]" if location else finding.id
    classname = f"dockguard.{finding.kind}"
    lines = [finding.title] if finding.title else []
    labels = ("package", "installed_version", "fixed_version", "purl")
    for label, value in zip(labels, package_facts(finding), strict=True):
        if value:
            lines.append(f"{label}: {value}")
    if finding.remediation:
        lines.append(f"Remediation: {finding.remediation}")
    lines.extend(finding.references)
    if finding.suppressed:
        return _Case(classname, name, "skipped", f"suppressed: {finding.suppressed}", "")
    message = f"[{finding.severity.value}] {finding.title or finding.id}"
    return _Case(classname, name, "failure", message, "\n".join(lines))
