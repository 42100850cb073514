"""Suppressions: YAML parsing with clear errors, matching by id and scope, expiry."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pytest

from dockguard import suppress
from dockguard.cli import main
from dockguard.inputs import InputError
from dockguard.model import CheckResult, Finding, FindingKind, Outcome, Report, VulnerabilityInfo, VulnState
from dockguard.report import sarif
from tests.report_sample import EVIL, sample_report

TODAY = dt.date(2026, 1, 1)


def _by_id(report: Report, ident: str) -> CheckResult | Finding:
    items = [r for r in report.results if r.id == ident] + [
        f for f in report.findings if f.id == ident
    ]
    assert len(items) == 1
    return items[0]


def test_parse_full_entry() -> None:
    (entry,) = suppress.parse(
        """
version: 1
suppressions:
  - id: CVE-2023-0286
    image: "app:*"
    purl: "pkg:deb/debian/openssl@*"
    path: /var/lib/dpkg/*
    expires: 2026-06-30
    reason: waiting for the bookworm base image
"""
    )
    assert entry.id == "CVE-2023-0286"
    assert entry.expires == dt.date(2026, 6, 30)
    assert entry.image == "app:*"
    assert entry.scoped
    assert entry.reason == "waiting for the bookworm base image"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("suppressions:\n  - id: 5.4\n", "suppression #1: missing 'reason'"),
        ("suppressions:\n  - reason: x\n", "suppression #1: missing 'id'"),
        ("suppressions:\n  - {id: '5.4', reason: x, contianer: web}\n", "unknown key(s) contianer"),
        ("suppressions:\n  - {id: '5.4', reason: x, expires: soon}\n", "'expires' must be a date"),
        ("suppressions:\n  - {id: 5.10, reason: x}\n", 'quote check ids such as "5.10"'),
        ("suppressions: [\n", ": line 2: invalid YAML"),
        ("- id: x\n", "expected a mapping with a 'suppressions' list"),
        ("version: 2\nsuppressions: []\n", "unsupported version 2"),
        ("suppressions: {id: x}\n", "'suppressions' must be a list"),
        ("suppressions:\n  - {id: '', reason: x}\n", "'id' must be a non-empty string"),
    ],
)
def test_parse_errors_are_clear(text: str, message: str) -> None:
    with pytest.raises(InputError) as info:
        suppress.parse(text, "ignore.yaml")
    assert message in str(info.value)
    assert str(info.value).startswith("ignore.yaml")
    assert "\n" not in str(info.value)


def test_unscoped_id_suppresses_check_and_finding() -> None:
    entries = suppress.parse(
        "suppressions:\n"
        "  - {id: '2.2', reason: icc needed by legacy app}\n"
        "  - {id: CVE-2022-37434, reason: not reachable}\n"
    )
    report = suppress.apply(sample_report(), entries, today=TODAY)
    assert _by_id(report, "2.2").suppressed == "icc needed by legacy app"
    assert _by_id(report, "CVE-2022-37434").suppressed == "not reachable"
    assert _by_id(report, "5.4").suppressed is None
    assert report.count(Outcome.WARN) == sample_report().count(Outcome.WARN) - 1


def test_container_scope_needs_every_warn_detail() -> None:
    only_one = suppress.parse(
        "suppressions:\n  - {id: '5.4', container: '<script>*', reason: lab container}\n"
    )
    report = suppress.apply(sample_report(), only_one, today=TODAY)
    # 5.4 also fails for the container with the quote in its name: stays visible
    assert _by_id(report, "5.4").suppressed is None

    both = suppress.parse(
        "suppressions:\n"
        "  - {id: '5.4', container: '<script>*', reason: lab container}\n"
        "  - {id: '5.4', container: '\"*', reason: fuzzing container}\n"
    )
    report = suppress.apply(sample_report(), both, today=TODAY)
    assert _by_id(report, "5.4").suppressed == "lab container; fuzzing container"

    # web only PASSes 5.4 but WARNs 5.10: a container scope on web suppresses 5.10
    web = suppress.parse("suppressions:\n  - {id: '5.*', container: web, reason: dev box}\n")
    report = suppress.apply(sample_report(), web, today=TODAY)
    assert _by_id(report, "5.10").suppressed == "dev box"
    assert _by_id(report, "5.4").suppressed is None


def test_scope_that_names_no_detail_object_does_not_apply() -> None:
    # 2.2 fails for "daemon", 1.1.3 for a file: an image scope covers neither
    entries = suppress.parse(
        "suppressions:\n  - {id: '2.2', image: '*', reason: r}\n"
        "  - {id: 1.1.3, container: '*', reason: r}\n"
    )
    report = suppress.apply(sample_report(), entries, today=TODAY)
    assert _by_id(report, "2.2").suppressed is None
    assert _by_id(report, "1.1.3").suppressed is None


def test_image_purl_and_path_scopes_on_findings() -> None:
    entries = suppress.parse(
        "suppressions:\n"
        "  - {id: 'CVE-*', image: 'app:1.*', purl: 'pkg:deb/debian/openssl@*', reason: a}\n"
        "  - {id: PYSEC-2023-74, path: '/usr/local/lib/python3.11/*', reason: b}\n"
        "  - {id: CVE-2021-42386, image: 'app:*', reason: wrong image}\n"
        "  - {id: CVE-2022-37434, purl: 'pkg:apk/*', reason: wrong purl}\n"
    )
    report = suppress.apply(sample_report(), entries, today=TODAY)
    assert _by_id(report, "CVE-2023-0286").suppressed == "a"
    assert _by_id(report, "PYSEC-2023-74").suppressed == "b"
    assert _by_id(report, "CVE-2021-42386").suppressed is None
    assert _by_id(report, "CVE-2022-37434").suppressed is None
    # a purl scope never matches a finding without a purl
    entries = suppress.parse("suppressions:\n  - {id: CVE-2024-99999, purl: '*', reason: c}\n")
    assert _by_id(suppress.apply(sample_report(), entries, today=TODAY),
                  "CVE-2024-99999").suppressed is None


def test_path_scope_matches_file_objects_of_checks() -> None:
    entries = suppress.parse("suppressions:\n  - {id: 1.1.3, path: /usr/bin/*, reason: r}\n")
    report = suppress.apply(sample_report(), entries, today=TODAY)
    assert _by_id(report, "1.1.3").suppressed == "r"


def test_alias_matches() -> None:
    base = sample_report()
    vuln = VulnerabilityInfo(state=VulnState.AFFECTED, installed="1", aliases=("CVE-2023-0286",))
    finding = base.findings[0].__class__(
        id="DSA-5343-1", kind=FindingKind.VULNERABILITY, severity=base.findings[0].severity, title="t",
        obj="image:app:1.0", vulnerability=vuln,
    )
    report = dataclasses.replace(base, results=(), findings=(finding,))
    entries = suppress.parse("suppressions:\n  - {id: CVE-2023-0286, reason: r}\n")
    assert suppress.apply(report, entries, today=TODAY).findings[0].suppressed == "r"


def test_expired_entries_warn_and_do_not_apply() -> None:
    entries = suppress.parse(
        "suppressions:\n"
        "  - {id: '2.2', reason: old exception, expires: 2025-12-31}\n"
        "  - {id: '4.6', reason: still valid, expires: 2026-01-01}\n"
    )
    report = suppress.apply(sample_report(), entries, today=TODAY)
    assert _by_id(report, "2.2").suppressed is None
    assert _by_id(report, "4.6").suppressed == "still valid"  # valid through the named day
    warnings = suppress.expired_warnings(entries, TODAY)
    assert warnings == [
        "suppression 2.2 expired on 2025-12-31 and is ignored (reason was: old exception)"
    ]
    assert [n.reason for n in report.notes if n.part == "suppressions"] == warnings


def test_suppressed_results_stay_in_report_and_in_sarif() -> None:
    entries = suppress.parse(f"suppressions:\n  - {{id: '5.10', reason: '{EVIL}'}}\n")
    report = suppress.apply(sample_report(), entries, today=TODAY)
    assert len(report.results) == len(sample_report().results)
    assert "5.10" in sarif.render(report)
    assert _by_id(report, "5.10").suppressed == EVIL


def test_apply_file_warns_and_load_errors(tmp_path: Path) -> None:
    path = tmp_path / "ignore.yaml"
    path.write_text("suppressions:\n  - {id: '2.2', reason: r, expires: 2020-01-01}\n")
    warned: list[str] = []
    report = suppress.apply_file(sample_report(), path, warn=warned.append, today=TODAY)
    assert len(warned) == 1 and "expired on 2020-01-01" in warned[0]
    assert _by_id(report, "2.2").suppressed is None
    assert suppress.apply_file(sample_report(), None) == sample_report()
    with pytest.raises(InputError, match="cannot read suppressions file"):
        suppress.load(tmp_path / "missing.yaml")


def test_bad_suppressions_file_exits_2_via_diff(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from dockguard.report import json as json_report

    old = tmp_path / "old.json"
    old.write_text(json_report.render(sample_report()))
    bad = tmp_path / "bad.yaml"
    bad.write_text("suppressions:\n  - {id: x}\n")
    assert main(["diff", str(old), str(old), "--suppressions", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.strip() == f"dockguard: error: {bad}: $.suppressions[0]: suppression #1: missing 'reason'"
