"""A probe Report in every format: steps, their evidence (server-chosen text) and the JSON round trip."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import replace

from dockguard.model import Finding, FindingKind, ProbeStep, Report, ReportSource, Severity, StepStatus, Surface
from dockguard.report.formats import SURFACE_FORMATS, render
from dockguard.report.load import loads

EVIL = "<script>alert(1)</script>\x1b[2J\x00"


def _report() -> Report:
    steps = (
        ProbeStep("connect", StepStatus.COMPLETED, "TLS (TLSv1.3)", (("scheme", "https"),)),
        ProbeStep("api", StepStatus.COMPLETED, "/v2/ HTTP 401, bearer challenge",
                  (("auth", "bearer"), ("token_realm", EVIL))),
        ProbeStep("anonymous-token", StepStatus.FAILED, f"token service unreachable ({EVIL})"),
        ProbeStep("anonymous-push", StepStatus.SKIPPED, "not attempted (use --try-push)"),
    )
    finding = Finding("registry.bearer-realm-http", FindingKind.REGISTRY, Severity.HIGH, "realm", "https://r:1")
    return Report("0.1.0", 1.0, 2.0, ReportSource(Surface.REGISTRY_PROBE, target="r:1"), steps=steps,
                  findings=(finding,))


def test_json_round_trip_keeps_step_evidence() -> None:
    report = _report()
    doc = json.loads(render(report, "json"))
    assert doc["steps"][1]["evidence"] == {"auth": "bearer", "token_realm": EVIL}
    assert loads(render(report, "json")).steps == report.steps


def test_html_escapes_step_evidence_and_reasons() -> None:
    page = render(_report(), "html")
    assert "<script>alert(1)" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "\x1b" not in page and "\x00" not in page
    assert page.count('<tr data-status="COMPLETED">') == 2
    assert '<tr data-status="FAILED">' in page and '<tr data-status="SKIPPED">' in page
    assert '<a href="#steps">Steps</a>' in page


def test_junit_one_case_per_step() -> None:
    root = ET.fromstring(render(_report(), "junit"))
    suite = root.find("testsuite[@name='probe steps']")
    assert suite is not None
    cases = {c.get("name"): c for c in suite.findall("testcase")}
    assert list(cases) == ["connect", "api", "anonymous-token", "anonymous-push"]
    error = cases["anonymous-token"].find("error")
    assert error is not None and "token service unreachable" in (error.get("message") or "")
    assert cases["anonymous-push"].find("skipped") is not None
    out = cases["api"].find("system-out")
    assert out is not None and "auth: bearer" in (out.text or "")
    assert (suite.get("tests"), suite.get("errors"), suite.get("skipped")) == ("4", "1", "1")


def test_sarif_failed_steps_are_notifications() -> None:
    log = json.loads(render(_report(), "sarif"))
    invocation = log["runs"][0]["invocations"][0]
    assert invocation["executionSuccessful"] is True  # the probe reached the registry
    steps = [n for n in invocation["toolExecutionNotifications"] if "properties" in n]
    assert [(n["level"], n["properties"]["step"]) for n in steps] == [("error", "anonymous-token")]


def test_every_probe_format_renders() -> None:
    titles = {Surface.DAEMON_PROBE: "endpoint probe: r:1", Surface.REGISTRY_PROBE: "registry probe: r:1"}
    for surface, title in titles.items():
        report = replace(_report(), source=ReportSource(surface, target="r:1"))
        for fmt in SURFACE_FORMATS[surface]:
            assert render(report, fmt).strip()
        assert render(report, "text").startswith(title + "\n")
