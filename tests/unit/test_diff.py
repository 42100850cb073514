"""`dockguard diff` (a Report of new, fixed and unchanged problems) and the JSON report loader."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from dockguard.cli import main
from dockguard.exit_policy import FailOn, decide
from dockguard.model import (
    Change,
    Detail,
    Finding,
    FindingKind,
    NoteStatus,
    Outcome,
    Report,
    ReportNote,
    Severity,
    Surface,
)
from dockguard.pipeline import report_diff
from dockguard.report import json as json_report
from dockguard.report import load
from tests.report_sample import EVIL, sample_report


class Split:
    """A diff's findings by change."""

    def __init__(self, findings: tuple[Finding, ...]) -> None:
        self.new = [f for f in findings if f.change is Change.NEW]
        self.fixed = [f for f in findings if f.change is Change.FIXED]
        self.unchanged = [f for f in findings if f.change is Change.UNCHANGED]


def _compare(old: Report, new: Report) -> Split:
    return Split(report_diff.compare(report_diff.problems(old), report_diff.problems(new)))


def _diff(old: Report, new: Report) -> Report:
    return report_diff.diff_runs(report_diff.reduce(old), report_diff.reduce(new), "old.json", "new.json")


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
    result = _compare(old, new)
    assert [(p.id, p.obj) for p in result.new] == [
        ("5.4", "container:web"),
        ("CVE-2024-2511", "image:app:1.0"),
    ]
    assert [(p.id, p.obj) for p in result.fixed] == [("CVE-2022-37434", "image:app:1.0")]
    unchanged = {(p.id, p.obj) for p in result.unchanged}
    assert ("5.4", f"container:{EVIL}") in unchanged
    assert ("5.10", "container:web") in unchanged
    assert ("2.2", "daemon") in unchanged
    # suppressed, passing, N/A and ERROR items are not problems
    assert ("4.5", "") not in unchanged
    assert ("CVE-2005-2541", "image:app:1.0") not in unchanged
    assert not {k for k in unchanged if k[0] in ("1.1.1", "3.1", "3.17", "6.1", "7.1")}


def test_diff_findings_model() -> None:
    report = _diff(sample_report(), _later(sample_report()))
    assert report.surface is Surface.DIFF and report.source.target == "old.json -> new.json"
    order = {Change.NEW: 0, Change.FIXED: 1, Change.UNCHANGED: 2}
    ranks = [order[f.change] for f in report.findings if f.change is not None]
    assert len(ranks) == len(report.findings) and ranks == sorted(ranks)
    privileged = report.findings[0]
    assert (privileged.kind, privileged.severity, privileged.suppressed) == (FindingKind.CHECK, Severity.CRITICAL, None)
    assert privileged.title == "Ensure that privileged containers are not used"
    assert privileged.description == "Privileged: true" and privileged.remediation
    cve = next(f for f in report.findings if f.id == "CVE-2022-37434")
    assert cve.change is Change.FIXED and cve.suppressed == "fixed: not in new.json"
    assert cve.package is not None and cve.vulnerability is not None  # kept whole
    assert all(f.suppressed == "unchanged: already in old.json" for f in report.findings
               if f.change is Change.UNCHANGED)
    # only the new problems count for the gate, as --fail-on-new always did
    assert decide(report, FailOn(Severity.CRITICAL)).code == 1
    assert decide(report, FailOn(Severity.MEDIUM)).reason.startswith("2 finding(s)")
    assert decide(_diff(sample_report(), sample_report()), FailOn(None)).code == 0


def test_incomplete_later_run_cannot_pass_a_gate() -> None:
    old = sample_report()
    new = dataclasses.replace(old, notes=(*old.notes, ReportNote("images", NoteStatus.NOT_CHECKED, "no database")))
    report = _diff(old, new)
    assert report.notes == (ReportNote("new.json: images", NoteStatus.NOT_CHECKED, "no database"),)
    assert decide(report, FailOn(Severity.LOW)).code == 2
    assert decide(report, None).code == 0
    # an incomplete earlier run can only make problems look new: a warning, not undecided
    report = _diff(new, old)
    assert report.notes == (ReportNote("old.json: images", NoteStatus.WARNING,
                                       "NOT CHECKED in the earlier run: no database"),)
    assert decide(report, FailOn(Severity.LOW)).code == 0


def test_identical_reports_have_no_changes() -> None:
    result = _compare(sample_report(), sample_report())
    assert result.new == [] and result.fixed == []
    assert len(result.unchanged) == len(report_diff.problems(sample_report()))


def test_warn_without_details_is_keyed_by_check_only() -> None:
    base = sample_report()
    unsuppressed = dataclasses.replace(
        base, results=tuple(dataclasses.replace(r, suppressed=None) for r in base.results)
    )
    result = _compare(base, unsuppressed)
    assert [(p.id, p.obj) for p in result.new] == [("4.5", "")]
    assert result.new[0].description == "DOCKER_CONTENT_TRUST is not set"


def test_detail_turning_pass_is_fixed() -> None:
    old = sample_report()
    results = tuple(
        dataclasses.replace(
            r, details=tuple(Detail(d.obj, "limited", Outcome.PASS) for d in r.details)
        ) if r.id == "5.10" else r
        for r in old.results
    )
    result = _compare(old, dataclasses.replace(old, results=results))
    assert [(p.id, p.obj) for p in result.fixed] == [("5.10", "container:web")]


def test_cli_text_and_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    old = _write(tmp_path / "old.json", sample_report())
    new = _write(tmp_path / "new.json", _later(sample_report()))
    assert main(["diff", old, new]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[:3] == [f"dockguard diff {old} -> {new}", "", "New (2):"]
    assert "  CRITICAL   5.4  container:web  Ensure that privileged containers" in out
    assert "Fixed (1):" in out and "CVE-2022-37434" in out
    assert "Summary: 2 new, 1 fixed, 12 unchanged" in out

    assert main(["diff", old, new, "--fail-on-new", "critical"]) == 1
    assert main(["diff", new, old, "--fail-on-new", "LOW"]) == 1  # zlib "comes back"
    assert main(["diff", old, old, "--fail-on-new", "NEGLIGIBLE"]) == 0
    assert main(["diff", old, new, "--fail-on", "HIGH"]) == 1
    assert main(["diff", old, new, "--fail-on", "WARN"]) == 1
    assert main(["diff", old, old, "--fail-on", "WARN"]) == 0
    capsys.readouterr()
    assert main(["diff", old, new, "--fail-on-new", "severe"]) == 2
    assert "--fail-on-new: unknown severity 'severe'" in capsys.readouterr().err
    assert main(["diff", old, new, "--fail-on-new", "HIGH", "--fail-on", "LOW"]) == 2
    assert "not both" in capsys.readouterr().err


def test_cli_json_output_file(tmp_path: Path) -> None:
    old = _write(tmp_path / "old.json", sample_report())
    new = _write(tmp_path / "new.json", _later(sample_report()))
    out = tmp_path / "diff.json"
    assert main(["diff", old, new, "--format", "json", "-o", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert doc["schema_version"] == 2 and doc["source"]["surface"] == "diff"
    changes = [f["change"] for f in doc["findings"]]
    assert (changes.count("new"), changes.count("fixed"), changes.count("unchanged")) == (2, 1, 12)
    first = doc["findings"][0]
    assert {k: first[k] for k in ("id", "obj", "kind", "severity", "title", "description", "suppressed")} == {
        "id": "5.4", "obj": "container:web", "kind": "check", "severity": "CRITICAL",
        "title": "Ensure that privileged containers are not used", "description": "Privileged: true",
        "suppressed": None,
    }
    # the diff is itself a report: it loads back, changes included
    assert [f.change for f in load.loads(out.read_text()).findings].count(Change.FIXED) == 1


def test_cli_suppressions_mark_new_problem(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
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
    assert "New (2):" in captured.out
    assert "5.4  container:web  Ensure that privileged containers are not used: Privileged: true  " \
           "(suppressed: debugging until Friday)" in captured.out
    assert "Summary: 2 new (1 suppressed), 1 fixed, 12 unchanged" in captured.out
    assert captured.err.count("suppression CVE-2024-2511 expired on 2000-01-01") == 1
    assert main(["diff", old, new, "--fail-on-new", "MEDIUM", "--suppressions", str(ignore)]) == 1


def test_schema_1_and_2_reports_compare(tmp_path: Path) -> None:
    v2 = json.loads(json_report.render(sample_report()))
    v1 = {"schema_version": 1, "results": v2["results"],
          "findings": [{k: f[k] for k in ("id", "kind", "severity", "title", "obj", "suppressed")} | {"data": {}}
                       for f in v2["findings"]]}
    old = tmp_path / "v1.json"
    old.write_text(json.dumps(v1))
    report = report_diff.diff_report(str(old), _write(tmp_path / "v2.json", sample_report()))
    assert [f for f in report.findings if f.change is not Change.UNCHANGED] == []


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
