"""SARIF output: the official schema, the rules of GitHub, GitLab and DefectDojo (checked by
`tests.unit.sarif_consumers`) for a report of every surface, and the location convention."""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from typing import Any

import jsonschema
import pytest

from dockguard.model import (
    CheckResult,
    Detail,
    Finding,
    FindingKind,
    NoteStatus,
    Outcome,
    Report,
    ReportNote,
    ReportSource,
    Severity,
    Surface,
)
from dockguard.report import sarif
from dockguard.report._labels import shorten, utf16_length
from tests.conftest import REFERENCE
from tests.report_sample import EVIL, EVIL_ATTR, EVIL_JSON, meta, sample_report
from tests.unit import sarif_consumers
from tests.unit.surface_reports import (
    LONG_DESCRIPTION,
    SURFACE_REPORTS,
    bench_report,
    daemon_probe_report,
    fleet_report,
    image_scan_report,
    registry_scan_report,
    seccomp_lint_report,
    unreachable_probe_report,
)

SRC = ReportSource(Surface.BENCH)

SCHEMA_PATH = REFERENCE / "sarif" / "sarif-schema-2.1.0.json"


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft4Validator:
    schema = json.loads(SCHEMA_PATH.read_text())
    assert schema["$schema"] == "http://json-schema.org/draft-04/schema#"
    jsonschema.Draft4Validator.check_schema(schema)
    return jsonschema.Draft4Validator(schema, format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER)


@pytest.fixture(scope="module")
def log() -> dict[str, Any]:
    return _log(sample_report())


def _log(report: Report) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(sarif.render(report))
    return data


def _run(log: dict[str, Any]) -> dict[str, Any]:
    run: dict[str, Any] = log["runs"][0]
    return run


def _results(log: dict[str, Any], rule: str) -> list[dict[str, Any]]:
    return [r for r in _run(log)["results"] if r["ruleId"] == rule]


def _artifact(result: dict[str, Any]) -> dict[str, Any]:
    location: dict[str, Any] = result["locations"][0]["physicalLocation"]["artifactLocation"]
    return location


def _region(result: dict[str, Any]) -> dict[str, Any]:
    region: dict[str, Any] = result["locations"][0]["physicalLocation"]["region"]
    return region


@pytest.mark.parametrize("surface", sorted(SURFACE_REPORTS))
def test_every_surface_validates_and_satisfies_every_consumer(
    surface: str, validator: jsonschema.Draft4Validator
) -> None:
    log = _log(SURFACE_REPORTS[surface]())
    errors = sorted(validator.iter_errors(log), key=lambda e: list(e.path))
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors]
    assert sarif_consumers.all_problems(log) == []


def test_empty_report_validates(validator: jsonschema.Draft4Validator) -> None:
    log = _log(Report(tool_version="0.1.0", started=0.0, finished=1.0, source=SRC))
    validator.validate(log)
    assert _run(log)["results"] == [] and _run(log)["tool"]["driver"]["rules"] == []
    assert sarif_consumers.all_problems(log) == []


def test_validator_rejects_a_broken_log(validator: jsonschema.Draft4Validator, log: dict[str, Any]) -> None:
    # Guard against a validator that accepts anything.
    broken = copy.deepcopy(log)
    broken["runs"][0]["results"][0]["level"] = "critical"
    assert list(validator.iter_errors(broken))


def test_checkers_catch_what_the_consumers_refuse(log: dict[str, Any]) -> None:
    """The consumer checks are not vacuous: each documented failure is caught."""
    logical_only = copy.deepcopy(log)
    del logical_only["runs"][0]["results"][0]["locations"][0]["physicalLocation"]
    assert any("GH1001" in p for p in sarif_consumers.github_problems(logical_only))
    assert any("no physicalLocation" in p for p in sarif_consumers.gitlab_problems(logical_only))

    most_dropped = copy.deepcopy(log)
    for result in most_dropped["runs"][0]["results"]:
        del result["locations"]
    assert any("more than 50 %" in p for p in sarif_consumers.gitlab_problems(most_dropped))

    twice = copy.deepcopy(log)
    twice["runs"][0]["results"].append(copy.deepcopy(twice["runs"][0]["results"][0]))
    assert any("one alert for GitHub" in p for p in sarif_consumers.github_problems(twice))
    assert any("one GitLab identity" in p for p in sarif_consumers.gitlab_problems(twice))
    assert any("DefectDojo keeps one" in p for p in sarif_consumers.defectdojo_problems(twice))
    assert any("share the message" in p for p in sarif_consumers.naming_problems(twice))

    long = copy.deepcopy(log)
    long["runs"][0]["results"][0]["message"]["text"] = "x " * 600
    long["runs"][0]["tool"]["driver"]["rules"][0]["fullDescription"]["text"] = LONG_DESCRIPTION
    assert any("message longer" in p for p in sarif_consumers.gitlab_problems(long))
    assert any(f"{len(LONG_DESCRIPTION)} characters > 1024" in p for p in sarif_consumers.github_problems(long))

    lineless = copy.deepcopy(log)
    del lineless["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["region"]["startLine"]
    assert any("without startLine" in p for p in sarif_consumers.defectdojo_problems(lineless))
    assert any("GH1003" in p for p in sarif_consumers.github_problems(lineless))

    scheme = copy.deepcopy(log)
    _artifact(scheme["runs"][0]["results"][0])["uri"] = "alpine:3.19"
    assert any("GH1005" in p for p in sarif_consumers.github_problems(scheme))
    assert sarif_consumers.uri_problem("a:b/c") and sarif_consumers.uri_problem("with space")
    assert sarif_consumers.uri_problem("image/app:1.0/usr/lib/x") == ""

    bad_key = copy.deepcopy(log)
    bad_key["runs"][0]["results"][0]["partialFingerprints"] = {"dockguard/location": "x"}
    assert any("does not end in /vN" in p for p in sarif_consumers.defectdojo_problems(bad_key))
    assert any("primaryLocationLineHash" in p for p in sarif_consumers.github_problems(bad_key))

    rule_first = copy.deepcopy(log)
    result = rule_first["runs"][0]["results"][0]
    result["message"]["text"] = f"{result['ruleId']} failed"
    assert any("starts with its rule id" in p for p in sarif_consumers.naming_problems(rule_first))


def test_one_rule_per_check_or_finding_id(log: dict[str, Any]) -> None:
    rules = _run(log)["tool"]["driver"]["rules"]
    ids = [r["id"] for r in rules]
    assert len(ids) == len(set(ids))
    # WARN checks and all findings have rules; PASS/N/A/NOTE/INFO/ERROR checks do not.
    assert {"1.1.3", "2.2", "4.5", "4.6", "5.4", "5.10"} <= set(ids)
    assert {"1.1.1", "2.14", "3.1", "3.17", "6.1", "7.1"}.isdisjoint(ids)
    assert {"CVE-2023-0286", "CVE-2022-37434", "PYSEC-2023-74", "image-secret-env"} <= set(ids)
    for result in _run(log)["results"]:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]


def test_rule_metadata(log: dict[str, Any]) -> None:
    rules = {r["id"]: r for r in _run(log)["tool"]["driver"]["rules"]}
    privileged = rules["5.4"]
    assert privileged["properties"]["security-severity"] == "9.5"
    assert {"CIS-5.4", "security", "level-1"} <= set(privileged["properties"]["tags"])
    assert privileged["help"]["text"] == "Do not run containers with the --privileged flag."
    assert privileged["shortDescription"]["text"].endswith("(Automated)")
    assert privileged["helpUri"].startswith("https://")
    assert privileged["properties"]["problem.severity"] == "error"
    assert rules["CVE-2022-37434"]["properties"]["security-severity"] == "9.5"
    assert rules["PYSEC-2023-74"]["properties"]["security-severity"] == "5.5"
    assert rules["CVE-2021-42386"]["properties"]["security-severity"] == "2.0"
    assert rules["CVE-2021-42386"]["properties"]["problem.severity"] == "recommendation"
    assert rules["CVE-2023-0286"]["help"]["text"] == "Upgrade openssl to 1.1.1n-0+deb11u4."


def test_unknown_severity_claims_no_score() -> None:
    """UNKNOWN is "no security severity" (0.0): Info in GitLab and DefectDojo, as CycloneDX's
    ``unknown`` is; a rule rated elsewhere keeps its highest rating."""
    log = _log(image_scan_report())
    rules = {r["id"]: r for r in _run(log)["tool"]["driver"]["rules"]}
    unknown = rules["CVE-2024-0001"]
    assert unknown["properties"]["security-severity"] == "0.0"
    assert unknown["properties"]["severity"] == "UNKNOWN"
    assert unknown["defaultConfiguration"]["level"] == "note"
    assert _results(log, "CVE-2024-0001")[0]["level"] == "note"
    report = image_scan_report()
    other = replace(report.findings[4], obj="image:other:2", severity=Severity.HIGH)
    log = _log(replace(report, findings=(*report.findings, other)))
    rule = next(r for r in _run(log)["tool"]["driver"]["rules"] if r["id"] == "CVE-2024-0001")
    assert rule["properties"]["security-severity"] == "8.0"
    assert [r["level"] for r in _results(log, "CVE-2024-0001")] == ["note", "error"]


def test_every_result_has_a_physical_location_by_the_convention(log: dict[str, Any]) -> None:
    by_rule = {r["ruleId"]: r for r in _run(log)["results"]}
    assert _artifact(by_rule["1.1.3"]) == {"uri": "usr/bin/dockerd", "uriBaseId": "HOSTROOT"}
    assert _artifact(by_rule["2.2"]) == {"uri": "etc/docker/daemon.json", "uriBaseId": "HOSTROOT"}
    assert _artifact(by_rule["5.10"]) == {"uri": "container/web", "uriBaseId": "DOCKER"}
    assert _artifact(by_rule["CVE-2022-37434"]) == {
        "uri": "image/app:1.0/usr/lib/x86_64-linux-gnu/libz.so.1.2.11", "uriBaseId": "DOCKER"}
    assert _artifact(by_rule["CVE-2005-2541"]) == {"uri": "image/app:1.0", "uriBaseId": "DOCKER"}
    assert _artifact(by_rule["4.5"]) == {"uri": "host", "uriBaseId": "DOCKER"}
    bases = _run(log)["originalUriBaseIds"]
    assert bases["HOSTROOT"]["uri"] == "file:///" and set(bases) == {"HOSTROOT", "DOCKER"}
    for result in _run(log)["results"]:
        assert _region(result) == {"startLine": 1, "endLine": 1}
        logical = result["locations"][0]["logicalLocations"][0]
        assert logical["fullyQualifiedName"]
    zlib = by_rule["CVE-2022-37434"]["locations"][0]["logicalLocations"][0]
    assert zlib["fullyQualifiedName"] == "image:app:1.0//usr/lib/x86_64-linux-gnu/libz.so.1.2.11"


def test_image_references_and_names_stay_one_segment() -> None:
    log = _log(image_scan_report())
    (setuid,) = _results(log, "IMG-SETUID")
    assert _artifact(setuid)["uri"] == "image/registry.example:5000%2Fteam%2Fapp:1.0/usr/bin/passwd"
    (plain,) = _results(_log(daemon_probe_report()), "endpoint.plain-http")
    assert _artifact(plain)["uri"] == "endpoint/tcp:%2F%2F10.0.0.5:2375"
    dots = _log(Report(tool_version="1", started=0, finished=1, source=SRC, findings=(
        replace(sample_report().findings[-1], obj="image:..", path="/../etc/passwd"),)))
    # Dot segments would be resolved away by a URI library: they are encoded.
    assert _artifact(_run(dots)["results"][0])["uri"] == "image/%2E%2E/%2E%2E/etc/passwd"


def test_lines_and_files_given_on_the_command_line() -> None:
    log = _log(seccomp_lint_report())
    results = _results(log, "seccomp.allows-dangerous")
    assert [(_artifact(r)["uri"], _artifact(r)["uriBaseId"], _region(r)["startLine"]) for r in results] == [
        ("profiles/app.json", "%SRCROOT%", 12), ("profiles/app.json", "%SRCROOT%", 40)]
    assert results[1]["message"]["text"] == "profile profiles/app.json, line 40: allows keyctl; allows add_key"
    assert results[1]["level"] == "error"  # the worst of the two
    absolute = _log(seccomp_lint_report("/srv/profiles/app.json"))
    result = _results(absolute, "seccomp.allows-dangerous")[0]
    assert _artifact(result) == {"uri": "file:///srv/profiles/app.json"}
    assert sarif_consumers.all_problems(absolute) == []


def test_results_name_their_object_and_differ() -> None:
    """Two containers failing 5.4: two messages, two fingerprints, two places (GitLab and
    DefectDojo used to fold them into one; GitHub alert titles were identical)."""
    log = _log(bench_report())
    caps = _results(log, "5.4")
    assert [r["message"]["text"] for r in caps] == ["container web: CapAdd: SYS_ADMIN",
                                                    "container db: CapAdd: NET_ADMIN"]
    assert len({r["partialFingerprints"]["primaryLocationLineHash"] for r in caps}) == 2
    assert [_artifact(r)["uri"] for r in caps] == ["container/web", "container/db"]
    memory = _results(log, "5.11")
    assert [r["message"]["text"] for r in memory] == ["container web: Memory: 0 (unlimited)",
                                                      "container db: Memory: 0 (unlimited)"]
    for result in _run(log)["results"]:
        assert not result["message"]["text"].startswith(result["ruleId"])
    # Two problems of one check on one object are one result that names both.
    (mounts,) = _results(log, "5.6")
    assert mounts["message"]["text"] == "container web: mounts /etc read-write; mounts /var/run/docker.sock read-write"
    assert mounts["properties"]["count"] == 2


def test_findings_sharing_a_rule_and_place_are_one_result() -> None:
    """Two packages of one dpkg database with the same CVE: GitLab keeps only the first of
    results with one file and line, so they are one result naming both packages."""
    log = _log(image_scan_report())
    (ssl,) = _results(log, "CVE-2023-0464")
    assert ssl["message"]["text"].startswith("openssl 3.0.8-1, libssl3 3.0.8-1: CVE-2023-0464 (fixed in 3.0.9-1) in "
                                             "image registry.example:5000/team/app:1.0: excessive resource use")
    assert ssl["properties"]["packages"] == ["pkg:deb/debian/openssl@3.0.8-1?distro=debian-12",
                                             "pkg:deb/debian/libssl3@3.0.8-1?distro=debian-12"]
    (secrets,) = _results(log, "IMG-SECRET")
    assert "AWS secret in env:AWS_SECRET_ACCESS_KEY; password in env:DB_PASSWORD" in secrets["message"]["text"]
    assert secrets["level"] == "error"
    # CVE-2023-45803 and its GHSA alias on one file stay two rules, with titles told apart.
    titles = {sarif_consumers.defectdojo_title(r) for r in _run(log)["results"]}
    assert len(titles) == len(_run(log)["results"])


def test_long_descriptions_are_cut_at_a_word_boundary() -> None:
    assert len(LONG_DESCRIPTION) > 1600
    log = _log(image_scan_report())
    rule = next(r for r in _run(log)["tool"]["driver"]["rules"] if r["id"] == "CVE-2023-45803")
    text = rule["fullDescription"]["text"]
    assert utf16_length(text) <= 1024 and text.endswith("…")
    kept = text[:-1]
    assert LONG_DESCRIPTION.startswith(kept)
    assert LONG_DESCRIPTION[len(kept)] == " "  # the cut is between words
    assert len(kept) > 950
    # Short text is left alone; a title or message past the limit is cut the same way.
    assert rule["shortDescription"]["text"] == "urllib3's request body not stripped after redirect"
    report = image_scan_report()
    huge = replace(report.findings[5], title="word " * 400)
    log = _log(replace(report, findings=(huge,)))
    assert utf16_length(_run(log)["results"][0]["message"]["text"]) <= 1024
    assert utf16_length(_run(log)["tool"]["driver"]["rules"][0]["shortDescription"]["text"]) <= 1024


def test_shorten_counts_utf16_units_and_cuts_unbroken_words() -> None:
    emoji = "\U0001f600" * 600  # 1,200 UTF-16 units in 600 code points
    cut = shorten(emoji, 1024)
    assert utf16_length(cut) <= 1024 and cut.endswith("…")
    assert shorten("a" * 2000, 10) == "a" * 9 + "…"
    assert shorten("short", 10) == "short"
    assert shorten("one two three four", 12) == "one two…"


def test_automation_id_separates_commands_and_targets() -> None:
    bench = _run(_log(bench_report()))["automationDetails"]["id"]
    assert bench == "dockguard/bench/build-01/"
    scan = _run(_log(image_scan_report()))["automationDetails"]["id"]
    assert scan == "dockguard/image-scan/registry.example:5000/team/app:1.0/"
    other = replace(image_scan_report(), source=ReportSource(Surface.IMAGE_SCAN, target="dg-busybox:1"))
    assert _run(_log(other))["automationDetails"]["id"] == "dockguard/image-scan/dg-busybox:1/"
    # GitHub's category is what comes before the last slash; a hostile target cannot end it early.
    evil = replace(bench_report(), source=ReportSource(Surface.BENCH, hostname="a b\nc/"))
    assert _run(_log(evil))["automationDetails"]["id"] == "dockguard/bench/a_b_c/"
    categories = {i.rsplit("/", 1)[0] for i in (bench, scan, _run(_log(other))["automationDetails"]["id"])}
    assert len(categories) == 3


def test_suppressed_items_carry_sarif_suppressions(log: dict[str, Any]) -> None:
    (trust,) = _results(log, "4.5")
    assert trust["suppressions"] == [
        {"kind": "external", "status": "accepted", "justification": "content trust is not used in this lab (SEC-42)"}
    ]
    (tar,) = _results(log, "CVE-2005-2541")
    assert tar["suppressions"][0]["justification"] == "upstream considers this intended behaviour"
    assert "suppressions" not in _results(log, "5.4")[0]
    # One item of a place suppressed, the other not: the result stays open and says so.
    report = image_scan_report()
    findings = tuple(replace(f, suppressed="accepted risk") if f.package and f.package.name == "libssl3" else f
                     for f in report.findings)
    (ssl,) = _results(_log(replace(report, findings=findings)), "CVE-2023-0464")
    assert "suppressions" not in ssl
    assert ssl["message"]["text"].startswith("openssl 3.0.8-1: CVE-2023-0464")
    assert ssl["message"]["text"].endswith("(1 more suppressed)")


def test_errors_notes_and_failed_steps_become_notifications(log: dict[str, Any]) -> None:
    notes = _run(log)["invocations"][0]["toolExecutionNotifications"]
    error = next(n for n in notes if n.get("associatedRule", {}).get("id") == "3.17")
    assert error["level"] == "error" and "Permission denied" in error["message"]["text"]
    assert any(n["message"]["text"].startswith("registry: N/A") for n in notes)
    assert _run(log)["invocations"][0]["executionSuccessful"] is True

    probe = _run(_log(daemon_probe_report()))["invocations"][0]
    texts = [n["message"]["text"] for n in probe["toolExecutionNotifications"]]
    assert texts == ["probe step tls-handshake failed: the server answered in plain HTTP"]
    assert probe["executionSuccessful"] is True

    unreachable = _run(_log(unreachable_probe_report()))["invocations"][0]
    assert unreachable["executionSuccessful"] is False
    assert any("reached nothing" in n["message"]["text"] for n in unreachable["toolExecutionNotifications"])

    incomplete = replace(sample_report(), notes=(ReportNote("vulnerabilities", NoteStatus.NOT_CHECKED, "no db"),))
    assert _run(_log(incomplete))["invocations"][0]["executionSuccessful"] is False


def test_result_cap_keeps_the_most_severe(monkeypatch: pytest.MonkeyPatch) -> None:
    assert sarif.MAX_RESULTS == sarif_consumers.GITHUB_MAX_RESULTS == 25_000
    monkeypatch.setattr(sarif, "MAX_RESULTS", 40)  # the logic, without building 25,000 results
    low = [Finding(id=f"X-{i}", kind=FindingKind.IMAGE_CONFIG, severity=Severity.LOW, title=f"low {i}",
                   obj=f"image:i{i}") for i in range(40)]
    worst = Finding(id="X-CRIT", kind=FindingKind.IMAGE_CONFIG, severity=Severity.CRITICAL, title="bad", obj="image:z")
    log = _log(Report(tool_version="1", started=0, finished=1, source=SRC, findings=(*low, worst)))
    results = _run(log)["results"]
    assert len(results) == 40
    assert results[-1]["ruleId"] == "X-CRIT" and results[0]["ruleId"] == "X-0"  # report order kept
    assert "X-39" not in {r["ruleId"] for r in results}
    assert len(_run(log)["tool"]["driver"]["rules"]) == 40  # no rule without a result
    notes = [n["message"]["text"] for n in _run(log)["invocations"][0]["toolExecutionNotifications"]]
    assert notes == ["1 results of lower severity were left out: code-scanning services accept at most "
                     "40 per run (the JSON report has all of them)"]
    assert sarif_consumers.github_problems(log) == []


def test_attacker_strings_round_trip_and_stay_inert(log: dict[str, Any]) -> None:
    text = sarif.render(sample_report())
    assert json.loads(text) == log
    unknown = _results(log, "CVE-2024-99999")[0]
    assert EVIL_JSON in unknown["message"]["text"]
    names = {r["locations"][0]["logicalLocations"][0]["name"] for r in _results(log, "5.4")}
    assert names == {EVIL, EVIL_ATTR}
    # markdown help never carries raw HTML from the data
    for rule in _run(log)["tool"]["driver"]["rules"]:
        assert "<script" not in rule["help"]["markdown"]


def test_surrogates_and_controls_become_replacement_characters() -> None:
    """Lone surrogates (undecodable names) and NUL cannot reach GitHub, GitLab or DefectDojo
    (not UTF-8; not storable in PostgreSQL); two names differing only there stay two results."""
    base = bench_report()
    caps = next(r for r in base.results if r.id == "5.4")
    nasty = replace(caps, details=(Detail("container:web\udcff", "CapAdd: ALL\x00"),
                                   Detail("container:web\ud800", "CapAdd: ALL\x07")))
    log_text = sarif.render(replace(base, results=(nasty,)))
    log_text.encode("utf-8")  # strict: no lone surrogate left
    assert "\\u0000" not in log_text and "\\u0007" not in log_text
    log = json.loads(log_text)
    results = _results(log, "5.4")
    assert len(results) == 2
    assert {_artifact(r)["uri"] for r in results} == {"container/web%EF%BF%BD"}
    assert len({r["partialFingerprints"]["primaryLocationLineHash"] for r in results}) == 2
    assert results[0]["message"]["text"] == "container web\ufffd: CapAdd: ALL\ufffd"


def test_fingerprints_are_stable_and_follow_the_place(log: dict[str, Any]) -> None:
    again = _log(sample_report())
    prints = [r["partialFingerprints"] for r in _run(log)["results"]]
    assert prints == [r["partialFingerprints"] for r in _run(again)["results"]]
    assert len({p["primaryLocationLineHash"] for p in prints}) == len(prints)
    # A different message for the same place keeps the alert; another object is another alert.
    report = sample_report()
    results = tuple(
        replace(r, details=tuple(replace(d, message="Memory: 1 (unlimited)") for d in r.details))
        if r.id == "5.10" else r for r in report.results)
    moved = _log(replace(report, results=results))
    assert _results(moved, "5.10")[0]["partialFingerprints"] == _results(log, "5.10")[0]["partialFingerprints"]


def test_check_without_details_is_one_result_with_its_reason() -> None:
    check = CheckResult(meta("4.5", "Ensure Content trust for Docker is Enabled", Severity.LOW), Outcome.WARN,
                        reason="DOCKER_CONTENT_TRUST is not set")
    log = _log(Report(tool_version="1", started=0, finished=1, source=SRC, results=(check,)))
    (result,) = _run(log)["results"]
    assert result["message"]["text"] == "Ensure Content trust for Docker is Enabled: DOCKER_CONTENT_TRUST is not set"
    assert _artifact(result) == {"uri": "host", "uriBaseId": "DOCKER"}


def test_file_paths_become_uris_that_mean_the_same_file() -> None:
    def uri(obj: str, path: str = "") -> tuple[str, str]:
        finding = Finding(id="X", kind=FindingKind.SECCOMP, severity=Severity.LOW, title="t", obj=obj, path=path)
        artifact = _artifact(_run(_log(Report(tool_version="1", started=0, finished=1, source=SRC,
                                              findings=(finding,))))["results"][0])
        return artifact.get("uriBaseId", ""), artifact["uri"]

    assert uri("profile:./profiles/x.json") == ("%SRCROOT%", "profiles/x.json")
    assert uri("profile:../shared/x.json") == ("%SRCROOT%", "../shared/x.json")
    assert uri("profile:/srv/a/../p.json") == ("", "file:///srv/p.json")
    assert uri("file:/etc/a%zz b") == ("HOSTROOT", "etc/a%25zz%20b")
    assert uri("file:/weird:name/x") == ("HOSTROOT", "weird%3Aname/x")
    assert uri(":x") == ("DOCKER", "object/x")
    for base_uri in (uri("file:/etc/a%zz b"), uri("file:/weird:name/x"), uri(":x"), uri("image:a", "/%/..")):
        assert sarif_consumers.uri_problem(base_uri[1]) == ""


def test_semantic_version_only_when_it_is_one() -> None:
    driver = _run(_log(replace(sample_report(), tool_version="0.2.0.dev3")))["tool"]["driver"]
    assert driver["version"] == "0.2.0.dev3" and "semanticVersion" not in driver
    assert _run(_log(sample_report()))["tool"]["driver"]["semanticVersion"] == "0.1.0"


def test_fleet_results_are_per_host_and_only_what_is_open() -> None:
    run = _run(_log(fleet_report()))
    results = {(r["ruleId"], r["locations"][0]["logicalLocations"][0]["fullyQualifiedName"].split("//")[0]): r
               for r in run["results"]}
    assert ("2.7", "host:web-2") not in results  # fixed since the previous run: not an open problem
    vuln = [key for key in results if key[1].endswith("/image:app:1.0")]
    assert sorted(host for _, host in vuln) == ["host:web-1/image:app:1.0", "host:web-2/image:app:1.0"]
    assert results[("5.4", "host:web-1")]["baselineState"] == "new"
    assert run["automationDetails"]["id"].startswith("dockguard/fleet/")


def test_registry_scan_failed_image_is_a_notification() -> None:
    run = _run(_log(registry_scan_report()))
    texts = [n["message"]["text"] for n in run["invocations"][0]["toolExecutionNotifications"]]
    assert any("team/broken:1" in t and "does not match its digest" in t for t in texts)
    assert run["invocations"][0]["executionSuccessful"] is False
    images = {r["locations"][0]["logicalLocations"][0]["fullyQualifiedName"].split("//")[0] for r in run["results"]}
    assert {"image:registry.example:5000/team/app:1.0", "image:registry.example:5000/team/web:2.1"} <= images
