"""`dockguard diff` and the JSON report loader it reads with."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from dockguard.cli import main
from dockguard.commands import diff
from dockguard.model import Detail, Finding, FindingKind, Outcome, Report, Severity
from dockguard.report import json as json_report
from dockguard.report import load
from tests.report_sample import EVIL, sample_report


def _write(path: Path, report: Report) -> str:
    path.write_text(json_report.render(report), encoding="utf-8")
    return str(path)


def _later(report: Report) -> Report:
    """The sample after a week: zlib fixed, web gets privileged, a new MEDIUM CVE appears."""
    results = []
    for r in report.results:
        if r.id == "5.4":
            details = tuple(
                dataclasses.replace(d, outcome=Outcome.WARN, message="Privileged: true")
                if d.obj == "container:web" else d
                for d in r.details
            )
            r = dataclasses.replace(r, details=details)
        results.append(r)
    findings = [f for f in report.findings if f.id != "CVE-2022-37434"]
    findings.append(
        Finding(id="CVE-2024-2511", kind=FindingKind.VULNERABILITY, severity=Severity.MEDIUM,
                title="openssl unbounded memory growth", obj="image:app:1.0")
    )
    return dataclasses.replace(report, results=tuple(results), findings=tuple(findings))


def test_loader_round_trips_the_json_report() -> None:
    report = sample_report()
    loaded = load.loads(json_report.render(report))
    assert loaded.results == report.results
    assert loaded.findings == report.findings
    assert loaded.notes == report.notes
    assert loaded.source == report.source
    assert loaded.tool_version == report.tool_version
    assert loaded.started == report.started
    assert loaded.classic_score == report.classic_score


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ("[]", "$: expected an object, got list"),
        ("{}", "not a dockguard JSON report (no schema_version"),
        ('{"schema_version": 3}', "unsupported schema_version 3"),
        ('{"schema_version": 1, "results": [{"id": "1"}]}', "$.results[0]: missing key"),
        (
            '{"schema_version": 1, "findings": [{"id": "x", "kind": "vulnerability", "severity": "BAD"}]}',
            "$.findings[0].severity: 'BAD' is not one of CRITICAL",
        ),
        ('{"schema_version": 1, "results": {}}', "$.results: expected a list"),
        ("{not json", "not valid JSON: Expecting property name"),
    ],
)
def test_loader_errors_name_file_and_key(doc: str, message: str) -> None:
    with pytest.raises(load.ReportFormatError) as info:
        load.loads(doc, "old.json")
    assert str(info.value).startswith("old.json: ")
    assert message in str(info.value)


def test_compare_new_fixed_unchanged() -> None:
    old, new = sample_report(), _later(sample_report())
    result = diff.compare(old, new)
    assert [(p.id, p.obj) for p in result.new] == [
        ("5.4", "container:web"),
        ("CVE-2024-2511", "image:app:1.0"),
    ]
    assert [(p.id, p.obj) for p in result.fixed] == [("CVE-2022-37434", "image:app:1.0")]
    unchanged = {p.key for p in result.unchanged}
    assert ("5.4", f"container:{EVIL}") in unchanged
    assert ("5.10", "container:web") in unchanged
    assert ("2.2", "daemon") in unchanged
    # suppressed, passing, N/A and ERROR items are not problems
    assert ("4.5", "") not in unchanged
    assert ("CVE-2005-2541", "image:app:1.0") not in unchanged
    assert not {k for k in unchanged if k[0] in ("1.1.1", "3.1", "3.17", "6.1", "7.1")}
    assert [p.id for p in result.new_at_or_above(Severity.HIGH)] == ["5.4"]
    assert [p.id for p in result.new_at_or_above(Severity.MEDIUM)] == ["5.4", "CVE-2024-2511"]


def test_identical_reports_have_no_changes() -> None:
    result = diff.compare(sample_report(), sample_report())
    assert result.new == () and result.fixed == ()
    assert len(result.unchanged) == len(diff.problems(sample_report()))


def test_warn_without_details_is_keyed_by_check_only() -> None:
    base = sample_report()
    unsuppressed = dataclasses.replace(
        base, results=tuple(dataclasses.replace(r, suppressed=None) for r in base.results)
    )
    result = diff.compare(base, unsuppressed)
    assert [(p.id, p.obj) for p in result.new] == [("4.5", "")]
    assert result.new[0].message == "DOCKER_CONTENT_TRUST is not set"


def test_detail_turning_pass_is_fixed() -> None:
    old = sample_report()
    results = tuple(
        dataclasses.replace(
            r, details=tuple(Detail(d.obj, "limited", Outcome.PASS) for d in r.details)
        ) if r.id == "5.10" else r
        for r in old.results
    )
    result = diff.compare(old, dataclasses.replace(old, results=results))
    assert [(p.id, p.obj) for p in result.fixed] == [("5.10", "container:web")]


def test_cli_text_and_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    old = _write(tmp_path / "old.json", sample_report())
    new = _write(tmp_path / "new.json", _later(sample_report()))
    assert main(["diff", old, new]) == 0
    out = capsys.readouterr().out
    assert "New (2):" in out
    assert "  CRITICAL   5.4  container:web  Ensure that privileged containers" in out
    assert "Fixed (1):" in out and "CVE-2022-37434" in out
    assert "Summary: 2 new, 1 fixed," in out

    assert main(["diff", old, new, "--fail-on-new", "critical"]) == 1
    assert main(["diff", new, old, "--fail-on-new", "LOW"]) == 1  # zlib "comes back"
    assert main(["diff", old, old, "--fail-on-new", "NEGLIGIBLE"]) == 0
    capsys.readouterr()
    assert main(["diff", old, new, "--fail-on-new", "severe"]) == 2
    assert "--fail-on-new: unknown severity 'severe'" in capsys.readouterr().err


def test_cli_json_output_file(tmp_path: Path) -> None:
    old = _write(tmp_path / "old.json", sample_report())
    new = _write(tmp_path / "new.json", _later(sample_report()))
    out = tmp_path / "diff.json"
    assert main(["diff", old, new, "--format", "json", "-o", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert doc["schema_version"] == 1
    assert doc["summary"]["new"] == 2 and doc["summary"]["fixed"] == 1
    assert doc["new_problems"][0] == {
        "id": "5.4", "obj": "container:web", "kind": "check", "severity": "CRITICAL",
        "title": "Ensure that privileged containers are not used", "message": "Privileged: true",
    }


def test_cli_suppressions_hide_new_problem(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    old = _write(tmp_path / "old.json", sample_report())
    new = _write(tmp_path / "new.json", _later(sample_report()))
    ignore = tmp_path / "ignore.yaml"
    ignore.write_text(
        "suppressions:\n"
        "  - {id: '5.4', container: web, reason: debugging until Friday}\n"
        "  - {id: CVE-2024-2511, reason: old, expires: 2000-01-01}\n"
    )
    assert main(["diff", old, new, "--fail-on-new", "HIGH", "--suppressions", str(ignore)]) == 0
    captured = capsys.readouterr()
    assert "New (1):" in captured.out and "CVE-2024-2511" in captured.out
    assert "suppression CVE-2024-2511 expired on 2000-01-01" in captured.err


def test_cli_bad_input_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = _write(tmp_path / "good.json", sample_report())
    bench = tmp_path / "bench.json"
    bench.write_text('{"dockerbenchsecurity": "1.6.0", "tests": []}')
    assert main(["diff", good, str(bench)]) == 2
    err = capsys.readouterr().err
    assert err == (
        f"dockguard: error: {bench}: not a dockguard JSON report (no schema_version; "
        "write it with --format json)\n"
    )
    assert main(["diff", good, str(tmp_path / "nope.json")]) == 2
    assert "cannot read report" in capsys.readouterr().err
