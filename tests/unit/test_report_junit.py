"""JUnit XML output: suites per section, test cases per check × object, statuses."""

from __future__ import annotations

import dataclasses
import xml.etree.ElementTree as ET

import pytest

from dockguard.model import Detail, Outcome
from dockguard.report import junit
from tests.report_sample import EVIL, EVIL_ATTR, sample_report
from tests.unit import junit_consumers
from tests.unit.surface_reports import SURFACE_REPORTS, bench_report, image_scan_report, unreachable_probe_report


@pytest.fixture(scope="module")
def root() -> ET.Element:
    return ET.fromstring(junit.render(sample_report()).encode())


def _case(root: ET.Element, prefix: str) -> ET.Element:
    cases = [c for c in root.iter("testcase") if c.get("name", "").startswith(prefix)]
    assert len(cases) == 1, [c.get("name") for c in cases]
    return cases[0]


def _status(case: ET.Element) -> str:
    for tag in ("failure", "error", "skipped"):
        if case.find(tag) is not None:
            return tag
    return "pass"


def test_suites_per_section_and_finding_kind(root: ET.Element) -> None:
    names = [s.get("name") for s in root.findall("testsuite")]
    assert names == [
        "1 Host Configuration",
        "2 Docker daemon configuration",
        "3 Docker daemon configuration files",
        "4 Container Images and Build File",
        "5 Container Runtime",
        "6 Docker Security Operations",
        "7 Docker Swarm Configuration",
        "image-config",
        "vulnerability",
        "report notes",
    ]


def test_one_case_per_check_and_object(root: ET.Element) -> None:
    runtime = next(s for s in root.findall("testsuite") if s.get("name") == "5 Container Runtime")
    names = [c.get("name") for c in runtime.findall("testcase")]
    assert names == [
        "5.4 Ensure that privileged containers are not used (Automated) [container:web]",
        f"5.4 Ensure that privileged containers are not used (Automated) [container:{EVIL}]",
        f"5.4 Ensure that privileged containers are not used (Automated) [container:{EVIL_ATTR}]",
        "5.10 Ensure that the memory usage for containers is limited (Automated) [container:web]",
        f"5.10 Ensure that the memory usage for containers is limited (Automated) "
        f"[container:{EVIL}]",
        "5.26 Ensure that container health is checked at runtime (Automated) [container:web]",
    ]
    statuses = [_status(c) for c in runtime.findall("testcase")]
    assert statuses == ["pass", "failure", "failure", "failure", "pass", "pass"]
    # GitLab shows the classname as the suite; Jenkins splits it at the last dot (package, class).
    assert {c.get("classname") for c in runtime.findall("testcase")} == {"dockguard.cis.5 Container Runtime"}


def test_statuses_by_outcome(root: ET.Element) -> None:
    assert _status(_case(root, "1.1.1 ")) == "pass"
    audit = _case(root, "1.1.3 ").find("failure")
    assert audit is not None
    assert audit.get("message") == "[MEDIUM] file:/usr/bin/dockerd: no audit rule watches this file"
    assert "Remediation: Add '-w /usr/bin/dockerd" in (audit.text or "")
    error = _case(root, "3.17 ").find("error")
    assert error is not None and "Permission denied" in (error.get("message") or "")
    na = _case(root, "3.1 ").find("skipped")
    assert na is not None and na.get("message", "").startswith("not applicable: docker.service")
    note = _case(root, "6.1 ").find("skipped")
    assert note is not None and note.get("message", "").startswith("manual check")
    trust = _case(root, "4.5 ").find("skipped")
    assert trust is not None
    assert trust.get("message") == "suppressed: content trust is not used in this lab (SEC-42)"
    info = _case(root, "7.1 ")
    assert _status(info) == "pass"
    assert info.findtext("system-out") == "swarm is inactive"


def test_findings_are_failures_unless_suppressed(root: ET.Element) -> None:
    zlib = _case(root, "CVE-2022-37434 ")
    assert zlib.get("name") == (
        "CVE-2022-37434 zlib1g 1:1.2.11.dfsg-2+deb11u1 [image:app:1.0//usr/lib/x86_64-linux-gnu/libz.so.1.2.11]"
    )
    failure = zlib.find("failure")
    assert failure is not None
    assert failure.get("message") == "[CRITICAL] zlib inflateGetHeader heap-based buffer over-read"
    assert "fixed_version: 1:1.2.11.dfsg-2+deb11u2" in (failure.text or "")
    assert _status(_case(root, "CVE-2005-2541 ")) == "skipped"


def test_totals_add_up(root: ET.Element) -> None:
    suites = root.findall("testsuite")
    for key in ("tests", "failures", "errors"):
        assert int(root.get(key, "-1")) == sum(int(s.get(key, "0")) for s in suites)
    assert root.get("skipped") is None  # junit-10.xsd has no skipped on <testsuites>
    for suite in suites:
        cases = suite.findall("testcase")
        assert int(suite.get("tests", "-1")) == len(cases)
        assert int(suite.get("failures", "-1")) == sum(_status(c) == "failure" for c in cases)
    assert int(root.get("errors", "-1")) == 1
    assert int(root.get("tests", "0")) == 17 + 7 + 1  # check × object cases + findings + the note


def test_control_characters_and_markup_survive_as_text() -> None:
    report = sample_report()
    nasty = "web\x00\x1b[31m]]><x/>&amp;"
    results = tuple(
        dataclasses.replace(r, details=(Detail(f"container:{nasty}", "bad\x07", Outcome.WARN),))
        if r.id == "5.10" else r
        for r in report.results
    )
    xml = junit.render(dataclasses.replace(report, results=results))
    root = ET.fromstring(xml.encode())  # parses: no raw control characters left
    case = _case(root, "5.10 ")
    assert case.get("name", "").endswith("[container:web\ufffd\ufffd[31m]]><x/>&amp;]")


@pytest.mark.parametrize("surface", sorted(SURFACE_REPORTS))
def test_every_surface_is_valid_for_jenkins_and_gitlab(surface: str) -> None:
    xml = junit.render(SURFACE_REPORTS[surface]()).encode()
    assert junit_consumers.all_problems(xml) == []


def test_checkers_catch_what_the_readers_refuse() -> None:
    xml = junit.render(sample_report())
    skipped_total = xml.replace('<testsuites name="dockguard"', '<testsuites name="dockguard" skipped="4"', 1)
    assert any("skipped" in p for p in junit_consumers.xsd_problems(skipped_total.encode()))
    root = ET.fromstring(xml.encode())
    suite = root.find("testsuite")
    assert suite is not None
    case = suite.find("testcase")
    assert case is not None
    suite.append(case)  # the same element again: a duplicate name
    failure = root.find(".//failure")
    assert failure is not None
    failure.text = ""
    problems = junit_consumers.gitlab_problems(ET.tostring(root))
    assert any("GitLab keeps the first" in p for p in problems)
    assert any("has no text" in p for p in problems)
    assert any("cases" in p for p in junit_consumers.count_problems(ET.tostring(root)))


def test_notes_and_probe_steps_are_test_cases() -> None:
    """A part that could not run is an error, not a silent pass; probe steps are cases too."""
    root = ET.fromstring(junit.render(unreachable_probe_report()).encode())
    notes = next(s for s in root.findall("testsuite") if s.get("name") == "report notes")
    (note,) = notes.findall("testcase")
    assert note.get("name") == "registry: NOT CHECKED" and _status(note) == "error"
    assert (note.findtext("error") or "") == "connection refused"
    steps = next(s for s in root.findall("testsuite") if s.get("name") == "probe steps")
    assert [(c.get("name"), _status(c)) for c in steps.findall("testcase")] == [
        ("tcp-connect", "error"), ("tls-handshake", "skipped")]
    sample = ET.fromstring(junit.render(sample_report()).encode())
    (na,) = [c for c in sample.iter("testcase") if c.get("name") == "registry: N/A"]
    assert _status(na) == "skipped"


def test_one_case_per_name_worst_status_first() -> None:
    """GitLab keeps only the first of cases with one name: two details of one object and two
    packages with one advisory at one path are one case each, with every text."""
    root = ET.fromstring(junit.render(bench_report()).encode())
    mounts = _case(root, "5.6 ")
    assert mounts.get("name", "").endswith("[container:web]")
    failure = mounts.find("failure")
    assert failure is not None
    assert "mounts /etc read-write" in (failure.text or "") and "docker.sock" in (failure.text or "")
    scan = ET.fromstring(junit.render(image_scan_report()).encode())
    names = [c.get("name") for c in scan.iter("testcase") if (c.get("name") or "").startswith("CVE-2023-0464 ")]
    assert len(names) == 2 and len(set(names)) == 2  # openssl and libssl3


def test_failure_and_skipped_bodies_carry_the_reason(root: ET.Element) -> None:
    """GitLab shows the element's text, not its message attribute."""
    for case in root.iter("testcase"):
        for tag in ("failure", "error", "skipped"):
            element = case.find(tag)
            if element is not None:
                assert (element.text or "").strip(), case.get("name")
    trust = _case(root, "4.5 ").find("skipped")
    assert trust is not None and (trust.text or "").startswith("suppressed: content trust")
