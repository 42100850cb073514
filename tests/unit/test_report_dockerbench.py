"""docker-bench JSON: the shape docker-bench-security 1.6.0 writes and what DefectDojo's
"docker-bench-security Scan" parser makes of it (`tests.unit.dockerbench_consumers`)."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from dockguard.model import CheckResult, Detail, Outcome, Report, ReportSource, Severity, Surface
from dockguard.report import dockerbench_json
from dockguard.report.formats import RenderOptions, render
from dockguard.report.text import TextOptions
from tests.report_sample import EVIL, meta, sample_report
from tests.unit import dockerbench_consumers
from tests.unit.surface_reports import SURFACE_REPORTS, bench_report


def _doc(report: Report, **kw: Any) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(dockerbench_json.render(report, **kw))
    return doc


def _entries(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["id"]: r for t in doc["tests"] for r in t["results"]}


@pytest.mark.parametrize("surface", sorted(SURFACE_REPORTS))
@pytest.mark.parametrize("remediation", [False, True])
def test_every_report_has_docker_bench_shape(surface: str, remediation: bool) -> None:
    doc = _doc(SURFACE_REPORTS[surface](), remediation=remediation, limit=1)
    assert dockerbench_consumers.shape_problems(doc) == []
    dockerbench_consumers.defectdojo_findings(doc)  # imports without error


def test_checkers_catch_what_readers_refuse() -> None:
    doc = _doc(sample_report(), remediation=True)
    entry = doc["tests"][0]["results"][1]
    broken = json.loads(json.dumps(doc))
    broken["tests"][0]["results"][1]["result"] = "N/A"
    del broken["tests"][0]["results"][1]["remediation"]
    problems = dockerbench_consumers.shape_problems(broken)
    assert any("'N/A' is not one of" in p for p in problems)
    assert any("remediation-impact without remediation" in p for p in problems)
    with pytest.raises(ValueError, match="remediation-impact without remediation"):
        dockerbench_consumers.defectdojo_findings(broken)
    assert entry["result"] == "WARN"
    reordered = {k: doc[k] for k in reversed(list(doc))}
    assert any("in that order" in p for p in dockerbench_consumers.shape_problems(reordered))


def test_not_applicable_is_a_pass_with_its_reason_and_no_finding() -> None:
    """docker-bench reports a check that does not apply (a missing file) as PASS with the
    reason; DefectDojo makes no finding of it. dockguard's N/A does the same and says N/A."""
    doc = _doc(bench_report(), remediation=True)
    na = _entries(doc)["3.19"]
    assert na == {"id": "3.19", "desc": na["desc"], "result": "PASS",
                  "details": "N/A: /etc/default/docker not found"}
    assert "3.19" not in dockerbench_consumers.defectdojo_findings(doc)
    findings = dockerbench_consumers.defectdojo_findings(doc)
    assert findings == {"2.2": "High", "3.17": "High", "5.4": "High", "5.11": "High", "5.6": "High",
                        "5.7": "Low", "1.1.2": "Low"}


def test_items_as_docker_bench_writes_them() -> None:
    """Container and user names as they are, images in brackets (docker-bench's own form)."""
    entries = _entries(_doc(bench_report()))
    assert entries["5.11"]["items"] == ["web", "db"]
    assert entries["5.11"]["details"] == "Memory: 0 (unlimited): web db"
    assert entries["1.1.2"]["items"] == ["alice"]
    assert entries["1.1.2"]["details"] == "can control the Docker daemon (docker group): alice"
    sample = _entries(_doc(sample_report()))
    assert sample["4.6"]["items"] == ["[app:1.0]", "[dg-busybox:1]"]
    assert sample["4.6"]["details"] == "no HEALTHCHECK: [app:1.0] [dg-busybox:1]"
    assert sample["5.4"]["items"] == [EVIL, '" onmouseover="alert(3)" x=\'']
    # Objects docker-bench never lists (the daemon) have a message and no items.
    assert sample["2.2"] == {"id": "2.2", "desc": sample["2.2"]["desc"], "result": "WARN", "details": "icc is enabled"}


def test_objects_failing_for_different_reasons_keep_their_reasons() -> None:
    caps = _entries(_doc(bench_report()))["5.4"]
    assert caps["details"] == "CapAdd: SYS_ADMIN: web; CapAdd: NET_ADMIN: db"
    assert caps["items"] == ["web", "db"]
    mounts = _entries(_doc(bench_report()))["5.6"]
    assert mounts["details"] == "mounts /etc read-write: web; mounts /var/run/docker.sock read-write: web"
    assert mounts["items"] == ["web"]


def test_limit_truncates_like_docker_bench() -> None:
    caps = _entries(_doc(bench_report(), limit=1))["5.4"]
    assert caps["items"] == ["web", "(truncated)"]
    assert caps["details"] == "CapAdd: SYS_ADMIN: web (truncated)"
    assert _entries(_doc(bench_report(), limit=5))["5.4"]["items"] == ["web", "db"]


def test_errors_and_suppressions_are_info_and_say_so() -> None:
    entries = _entries(_doc(sample_report()))
    assert entries["3.17"]["result"] == "INFO"
    assert entries["3.17"]["details"].startswith("ERROR: PermissionError")
    trust = entries["4.5"]
    assert trust["result"] == "INFO"
    assert trust["details"] == ("SUPPRESSED (content trust is not used in this lab (SEC-42)): "
                                "DOCKER_CONTENT_TRUST is not set")
    bench = _entries(_doc(bench_report()))
    assert bench["5.7"]["result"] == "INFO" and bench["5.7"]["details"].startswith("ERROR: processes")


def test_remediation_on_non_pass_entries_only() -> None:
    doc = _doc(bench_report(), remediation=True)
    for entry in _entries(doc).values():
        if entry["result"] == "PASS":
            assert "remediation" not in entry and "remediation-impact" not in entry
        else:
            assert entry["remediation"] and entry["remediation-impact"]
    assert "remediation" not in json.dumps(_doc(bench_report()))


def test_audit_carries_remediation_like_bench_p() -> None:
    """audit has no -p: its docker-bench log always carries the remediation (DefectDojo's
    mitigation); bench carries it with -p only."""
    audit = json.loads(render(sample_report(), "docker-bench-json"))
    assert _entries(audit)["5.4"]["remediation"] == "Do not run containers with the --privileged flag."
    bench = replace(sample_report(), source=ReportSource(Surface.BENCH))
    assert "remediation" not in render(bench, "docker-bench-json")
    with_p = render(bench, "docker-bench-json", RenderOptions(TextOptions(remediation=True)))
    assert _entries(json.loads(with_p))["5.4"]["remediation"] == "Do not run containers with the --privileged flag."


def test_sections_are_grouped_whatever_the_result_order() -> None:
    report = bench_report()
    doc = _doc(replace(report, results=tuple(reversed(report.results))))
    assert [t["id"] for t in doc["tests"]] == ["6", "1", "5", "3", "2"]
    assert doc["checks"] == len(report.results)
    assert dockerbench_consumers.shape_problems(doc) == []


def test_hostile_names_give_ascii_json_without_nul_or_surrogates() -> None:
    check = CheckResult(meta("5.4", "Ensure that privileged containers are not used", Severity.CRITICAL),
                        Outcome.WARN, (Detail("container:web\udcff\x00", "Privileged: true\x07"),))
    text = dockerbench_json.render(Report(tool_version="1", started=0, finished=1,
                                          source=ReportSource(Surface.BENCH), results=(check,)))
    assert text.isascii()
    assert "\\u0000" not in text and "\\udcff" not in text and "\\u0007" not in text
    entry = _entries(json.loads(text))["5.4"]
    assert entry["items"] == ["web\ufffd\ufffd"] and entry["details"] == "Privileged: true\ufffd: web\ufffd\ufffd"
