"""JUnit XML output for CI test dashboards (Jenkins JUnit and xUnit plugins, GitLab, Azure Pipelines).

Valid against the JUnit schema Jenkins' xUnit plugin validates with (``junit-10.xsd``:
``<testsuites>`` carries name/tests/failures/errors/time only) and shaped for GitLab's parser,
which shows ``testcase@classname`` as the suite, keeps only the first of test cases with the
same name, and shows the *text* of ``<failure>``/``<error>``/``<skipped>`` (not their
``message`` attribute) — so every such element has its reason as text too.

One ``<testsuite>`` per CIS section (``5 Container Runtime``), per finding kind
(``vulnerability``), ``report notes`` (parts that could not run: NOT CHECKED, INCOMPLETE and
ERROR are errors, N/A skipped) and ``probe steps``.  One ``<testcase>`` per check × object and
per finding (items with the same name are merged into one case, worst status first).
WARN → ``<failure>``, ERROR → ``<error>``, N/A, NOTE and suppressed items → ``<skipped>``;
PASS and INFO pass (INFO keeps its text in ``<system-out>``).  Characters XML 1.0 cannot carry
are replaced with U+FFFD.
"""

from __future__ import annotations

import enum
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from dockguard.model import CheckResult, Detail, Finding, NoteStatus, Outcome, Report, StepStatus
from dockguard.report._labels import (
    SEVERITY_ORDER,
    clean_text,
    finding_location,
    package_facts,
    section_key,
    section_title,
)

NOTES_SUITE = "report notes"
STEPS_SUITE = "probe steps"


class _Status(enum.IntEnum):
    """A test case's status; higher wins when cases with one name are merged."""

    PASS = 0
    SKIPPED = 1
    ERROR = 2
    FAILURE = 3


_TAG = {_Status.SKIPPED: "skipped", _Status.ERROR: "error", _Status.FAILURE: "failure"}


@dataclass(frozen=True)
class _Case:
    classname: str
    name: str
    status: _Status
    message: str
    text: str
    time_s: float = 0.0


def render(report: Report) -> str:
    """The report as a JUnit XML document."""
    suites: dict[str, dict[tuple[str, str], _Case]] = {}

    def add(suite: str, case: _Case) -> None:
        cases = suites.setdefault(suite, {})
        key = (case.classname, case.name)
        cases[key] = _merge(cases[key], case) if key in cases else case

    for result in sorted(report.results, key=lambda r: section_key(r.meta.section)):
        for case in _check_cases(result):
            add(section_title(result.meta.section), case)
    rank = {s: i for i, s in enumerate(SEVERITY_ORDER)}
    for finding in sorted(report.findings, key=lambda f: (str(f.kind), rank[f.severity], f.id, f.obj)):
        add(str(finding.kind), _finding_case(finding))
    for case in _note_cases(report):
        add(NOTES_SUITE, case)
    for case in _step_cases(report):
        add(STEPS_SUITE, case)
    collection = [f"{e.source}: {e.target}: {e.message}" for e in report.collection_errors]
    if collection:
        suites.setdefault(NOTES_SUITE, {})

    root = ET.Element("testsuites", name="dockguard")
    totals = {"tests": 0, "failures": 0, "errors": 0}
    total_time = 0.0
    stamp = datetime.fromtimestamp(report.started, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    for name, by_key in suites.items():
        cases = list(by_key.values())
        counts = {
            "tests": len(cases),
            "failures": sum(c.status is _Status.FAILURE for c in cases),
            "errors": sum(c.status is _Status.ERROR for c in cases),
            "skipped": sum(c.status is _Status.SKIPPED for c in cases),
        }
        suite_time = sum(c.time_s for c in cases)
        attrib = {"name": _x(name), **{k: str(v) for k, v in counts.items()}}
        attrib["time"] = f"{suite_time:.3f}"
        attrib["timestamp"] = stamp
        if report.source.hostname:
            attrib["hostname"] = _x(report.source.hostname)
        suite = ET.SubElement(root, "testsuite", attrib)
        for key in totals:
            totals[key] += counts[key]
        total_time += suite_time
        for case in cases:
            element = ET.SubElement(
                suite, "testcase", classname=_x(case.classname), name=_x(case.name), time=f"{case.time_s:.3f}"
            )
            if case.status is _Status.PASS:
                if case.text:
                    ET.SubElement(element, "system-out").text = _x(case.text)
                continue
            child = ET.SubElement(element, _TAG[case.status], message=_x(case.message))
            if case.status is not _Status.SKIPPED:
                child.set("type", _TAG[case.status].upper())
            # GitLab shows the element's text, not its message: never leave it empty.
            child.text = _x(case.text or case.message)
        if name == NOTES_SUITE and collection:
            ET.SubElement(suite, "system-err").text = _x("facts that could not be collected:\n" + "\n".join(collection))
    # junit-10.xsd has no `skipped` on <testsuites>: the per-suite counts carry it.
    for key, value in totals.items():
        root.set(key, str(value))
    root.set("time", f"{total_time:.3f}")
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, "unicode") + "\n"


def _x(text: str) -> str:
    return clean_text(text)


def _merge(first: _Case, other: _Case) -> _Case:
    worse = other if other.status > first.status else first
    texts = dict.fromkeys(t for t in (first.text, other.text) if t)
    return replace(worse, text="\n\n".join(texts), time_s=first.time_s + other.time_s)


def _check_cases(result: CheckResult) -> Iterator[_Case]:
    meta = result.meta
    section = section_title(meta.section)
    classname = f"dockguard.cis.{section}" if meta.cis else f"dockguard.{section}"
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
            message = f"suppressed: {result.suppressed}"
            yield _Case(classname, name, _Status.SKIPPED, message, f"{message}\n\n{text}".strip(), share)
            continue
        if outcome is Outcome.WARN:
            message = f"[{meta.severity.value}] {text}"
            body = f"{text}\n\nRemediation: {meta.remediation}" if meta.remediation else text
            yield _Case(classname, name, _Status.FAILURE, message, body, share)
        elif outcome is Outcome.ERROR:
            yield _Case(classname, name, _Status.ERROR, text or "error", text or "the check could not be evaluated",
                        share)
        elif outcome in (Outcome.NA, Outcome.NOTE):
            label = "manual check" if outcome is Outcome.NOTE else "not applicable"
            message = f"{label}: {text}" if text else label
            yield _Case(classname, name, _Status.SKIPPED, message, message, share)
        else:
            yield _Case(classname, name, _Status.PASS, "", text, share)


def _finding_case(finding: Finding) -> _Case:
    location = finding_location(finding)
    if location and finding.line is not None:
        location += f", line {finding.line}"  # one profile holds many results of one id
    pkg, installed, fixed, purl = package_facts(finding)
    subject = f"{pkg} {installed} " if pkg else ""
    name = f"{finding.id} {subject}[{location}]" if location else f"{finding.id} {subject}".rstrip()
    classname = f"dockguard.{finding.kind}"
    lines = [finding.title] if finding.title else []
    if finding.line:
        lines.append(f"line: {finding.line}")
    for label, value in (("package", pkg), ("installed_version", installed), ("fixed_version", fixed), ("purl", purl)):
        if value:
            lines.append(f"{label}: {value}")
    if finding.remediation:
        lines.append(f"Remediation: {finding.remediation}")
    lines.extend(finding.references)
    if finding.suppressed:
        message = f"suppressed: {finding.suppressed}"
        return _Case(classname, name, _Status.SKIPPED, message, "\n".join([message, *lines]))
    message = f"[{finding.severity.value}] {finding.title or finding.id}"
    return _Case(classname, name, _Status.FAILURE, message, "\n".join(lines) or message)


def _note_cases(report: Report) -> Iterator[_Case]:
    for note in report.notes:
        name = f"{note.part}: {note.status}"
        text = note.reason or str(note.status)
        if note.status is NoteStatus.NOT_APPLICABLE:
            yield _Case("dockguard.report", name, _Status.SKIPPED, f"not applicable: {text}", text)
        elif note.status is NoteStatus.WARNING:
            yield _Case("dockguard.report", name, _Status.PASS, "", text)
        else:
            # The part could not run or read everything: its verdicts are missing, not passed.
            yield _Case("dockguard.report", name, _Status.ERROR, f"{note.status}: {text}", text)


def _step_cases(report: Report) -> Iterator[_Case]:
    for step in report.steps:
        text = step.reason or str(step.status)
        if step.status is StepStatus.FAILED:
            yield _Case("dockguard.probe", step.name, _Status.ERROR, f"FAILED: {text}", text)
        elif step.status is StepStatus.SKIPPED:
            yield _Case("dockguard.probe", step.name, _Status.SKIPPED, f"skipped: {text}", text)
        else:
            facts = "\n".join(f"{name}: {value}" for name, value in step.evidence)
            yield _Case("dockguard.probe", step.name, _Status.PASS, "", "\n".join(filter(None, (step.reason, facts))))
