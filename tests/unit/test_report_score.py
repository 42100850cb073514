"""The documented severity-weighted score."""

from __future__ import annotations

import dataclasses

from dockguard.model import CheckResult, Finding, FindingKind, Outcome, Report, ReportSource, Severity, Surface
from dockguard.report import score
from tests.report_sample import meta, sample_report

SRC = ReportSource(Surface.BENCH)


def _report(results: list[CheckResult] = [], findings: list[Finding] = []) -> Report:  # noqa: B006
    return Report(tool_version="t", started=0.0, finished=0.0, source=SRC, results=tuple(results),
                  findings=tuple(findings))


def _check(outcome: Outcome, severity: Severity, *, scored: bool = True,
           suppressed: str | None = None) -> CheckResult:
    return CheckResult(meta("9.9", "x", severity, scored=scored), outcome, suppressed=suppressed)


def _finding(severity: Severity, suppressed: str | None = None) -> Finding:
    return Finding("CVE-1", FindingKind.VULNERABILITY, severity, "t", "image:x", suppressed=suppressed)


def test_clean_and_empty_reports_score_100() -> None:
    assert score.compute(_report()).value == 100
    assert score.compute(_report([_check(Outcome.PASS, Severity.HIGH)])).value == 100
    assert score.compute(_report([_check(Outcome.PASS, Severity.HIGH)])).grade == "A"


def test_checks_are_severity_weighted() -> None:
    # PASS HIGH (6) + WARN CRITICAL (10) → 6/16 = 37.5 → 37
    r = _report([_check(Outcome.PASS, Severity.HIGH), _check(Outcome.WARN, Severity.CRITICAL)])
    s = score.compute(r)
    assert (s.checks_earned, s.checks_possible, s.value) == (6, 16, 37)
    # the same with the severities swapped: 10/16 = 62.5 → 62
    r = _report([_check(Outcome.PASS, Severity.CRITICAL), _check(Outcome.WARN, Severity.HIGH)])
    assert score.compute(r).value == 62
    assert score.compute(_report([_check(Outcome.WARN, Severity.LOW)])).value == 0


def test_error_counts_as_failed_and_na_note_info_unscored_are_left_out() -> None:
    base = [_check(Outcome.PASS, Severity.MEDIUM)]
    assert score.compute(_report([*base, _check(Outcome.ERROR, Severity.MEDIUM)])).value == 50
    for outcome in (Outcome.NA, Outcome.NOTE, Outcome.INFO):
        assert score.compute(_report([*base, _check(outcome, Severity.CRITICAL)])).value == 100
    unscored = _check(Outcome.WARN, Severity.CRITICAL, scored=False)
    assert score.compute(_report([*base, unscored])).value == 100
    suppressed = _check(Outcome.WARN, Severity.CRITICAL, suppressed="accepted")
    assert score.compute(_report([*base, suppressed])).value == 100


def test_findings_halve_the_score_every_20_weight_points() -> None:
    two_critical = [_finding(Severity.CRITICAL), _finding(Severity.CRITICAL)]
    assert score.compute(_report(findings=two_critical)).value == 50
    twenty_low = [_finding(Severity.LOW)] * 20
    assert score.compute(_report(findings=twenty_low)).value == 50
    assert score.compute(_report(findings=[_finding(Severity.NEGLIGIBLE)] * 50)).value == 100
    assert score.compute(_report(findings=[_finding(Severity.HIGH, "ok")])).value == 100
    # one MEDIUM: 100 × 0.5^(3/20) = 90.1 → 90
    assert score.compute(_report(findings=[_finding(Severity.MEDIUM)])).value == 90
    # checks and findings multiply
    mixed = _report([_check(Outcome.PASS, Severity.HIGH), _check(Outcome.WARN, Severity.HIGH)],
                    two_critical)
    assert score.compute(mixed).value == 25


def test_one_small_problem_never_rounds_up_to_100() -> None:
    results = [_check(Outcome.PASS, Severity.CRITICAL)] * 300 + [_check(Outcome.WARN,
                                                                        Severity.LOW)]
    assert score.compute(_report(results)).value == 99


def test_sample_report_breakdown() -> None:
    s = score.compute(sample_report())
    # scored PASS/WARN/ERROR checks: 1.1.1 LOW PASS, 1.1.3 MEDIUM WARN, 2.2 MEDIUM WARN,
    # 2.14 HIGH PASS, 3.17 MEDIUM ERROR, 4.6 LOW WARN, 5.4 CRITICAL WARN, 5.10 MEDIUM WARN,
    # 5.26 LOW PASS (4.5 is suppressed)
    assert (s.checks_earned, s.checks_possible) == (1 + 6 + 1, 1 + 3 + 3 + 6 + 3 + 1 + 10 + 3 + 1)
    # findings: HIGH 6 + CRITICAL 10 + MEDIUM 3 + LOW 1 + UNKNOWN 2 + HIGH 6 (NEGLIGIBLE suppressed)
    assert s.finding_penalty == 28
    assert s.value == int(100 * 8 / 31 * 0.5 ** (28 / 20))
    unsuppressed = dataclasses.replace(sample_report(), findings=())
    assert score.compute(unsuppressed).value == int(100 * 8 / 31)


def test_no_score_when_the_daemon_could_not_be_reached() -> None:
    """issue 11: an audit without a daemon scored 69, better than a real audit of a risky host."""
    from dockguard.model import NoteStatus, ReportNote
    from dockguard.report import json as json_report
    from dockguard.report import text

    host_only = dataclasses.replace(
        _report([_check(Outcome.PASS, Severity.HIGH), _check(Outcome.NA, Severity.CRITICAL)]),
        notes=(ReportNote(score.DAEMON_NOTE, NoteStatus.NOT_CHECKED, "cannot connect: no such socket"),),
    )
    s = score.compute(host_only)
    assert s.value is None and s.grade is None
    assert s.withheld is not None and "no such socket" in s.withheld
    for hint in ("start Docker", "-H", "DOCKER_HOST", "--snapshot"):
        assert hint in s.withheld
    summary = json_report.report_dict(host_only)["summary"]
    assert isinstance(summary, dict)
    assert summary["score"] is None and summary["grade"] is None and summary["score_withheld"] == s.withheld
    lines = text.summary_lines(host_only)
    assert "[INFO] Score: none" in lines
    assert f"dockguard score: none: {s.withheld}" in lines
    assert not any("/100" in line for line in lines)
    # A NOT CHECKED note on another part does not withhold the score.
    other = dataclasses.replace(host_only, notes=(ReportNote("vulnerabilities", NoteStatus.NOT_CHECKED, "no db"),))
    assert score.compute(other).value == 100


def test_no_score_when_every_scored_check_is_not_applicable() -> None:
    na = _report([_check(Outcome.NA, Severity.HIGH), _check(Outcome.NOTE, Severity.LOW)])
    s = score.compute(na)
    assert s.value is None and s.withheld is not None
    assert "none of the 2 scored CIS checks could be evaluated" in s.withheld
    # Reports without CIS checks (image scans, probes) keep their findings-only score.
    assert score.compute(_report(findings=[_finding(Severity.CRITICAL)] * 2)).value == 50
    # A selection of unscored checks only is not "could not run".
    assert score.compute(_report([_check(Outcome.NOTE, Severity.LOW, scored=False)])).value == 100


def test_html_shows_no_score_and_why() -> None:
    from dockguard.model import NoteStatus, ReportNote
    from dockguard.report import html

    report = dataclasses.replace(sample_report(), notes=(
        ReportNote(score.DAEMON_NOTE, NoteStatus.NOT_CHECKED, "cannot connect"),))
    page = html.render(report)
    assert 'id="score">—<' in page
    assert 'id="score-withheld">' in page and "DOCKER_HOST" in page
    assert "score / 100" not in page
