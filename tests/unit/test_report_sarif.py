"""SARIF output: validated against the official SARIF 2.1.0 schema, rules, results, locations."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest

from dockguard.model import Report, ReportSource, Surface
from dockguard.report import sarif
from tests.conftest import REFERENCE
from tests.report_sample import EVIL, EVIL_ATTR, EVIL_JSON, sample_report

SRC = ReportSource(Surface.BENCH)

SCHEMA_PATH = REFERENCE / "sarif" / "sarif-schema-2.1.0.json"


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft4Validator:
    schema = json.loads(SCHEMA_PATH.read_text())
    assert schema["$schema"] == "http://json-schema.org/draft-04/schema#"
    jsonschema.Draft4Validator.check_schema(schema)
    return jsonschema.Draft4Validator(
        schema, format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER
    )


@pytest.fixture(scope="module")
def log() -> dict[str, Any]:
    return json.loads(sarif.render(sample_report()))


def _results(log: dict[str, Any], rule: str) -> list[dict[str, Any]]:
    return [r for r in log["runs"][0]["results"] if r["ruleId"] == rule]


def test_sample_validates_against_official_schema(
    validator: jsonschema.Draft4Validator, log: dict[str, Any]
) -> None:
    errors = sorted(validator.iter_errors(log), key=lambda e: list(e.path))
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors]
    assert log["version"] == "2.1.0"


def test_empty_report_validates(validator: jsonschema.Draft4Validator) -> None:
    log = json.loads(sarif.render(Report(tool_version="0.1.0", started=0.0, finished=1.0, source=SRC)))
    validator.validate(log)
    assert log["runs"][0]["results"] == []
    assert log["runs"][0]["tool"]["driver"]["rules"] == []


def test_validator_rejects_a_broken_log(
    validator: jsonschema.Draft4Validator, log: dict[str, Any]
) -> None:
    # Guard against a validator that accepts anything.
    broken = json.loads(json.dumps(log))
    broken["runs"][0]["results"][0]["level"] = "critical"
    assert list(validator.iter_errors(broken))


def test_one_rule_per_check_or_vulnerability(log: dict[str, Any]) -> None:
    rules = log["runs"][0]["tool"]["driver"]["rules"]
    ids = [r["id"] for r in rules]
    assert len(ids) == len(set(ids))
    # WARN checks and all findings have rules; PASS/N/A/NOTE/INFO/ERROR checks do not.
    assert {"1.1.3", "2.2", "4.5", "4.6", "5.4", "5.10"} <= set(ids)
    assert {"1.1.1", "2.14", "3.1", "3.17", "6.1", "7.1"}.isdisjoint(ids)
    assert {"CVE-2023-0286", "CVE-2022-37434", "PYSEC-2023-74", "image-secret-env"} <= set(ids)
    for result in log["runs"][0]["results"]:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]


def test_rule_metadata(log: dict[str, Any]) -> None:
    rules = {r["id"]: r for r in log["runs"][0]["tool"]["driver"]["rules"]}
    privileged = rules["5.4"]
    assert privileged["properties"]["security-severity"] == "9.5"
    assert "CIS-5.4" in privileged["properties"]["tags"]
    assert "security" in privileged["properties"]["tags"]
    assert "level-1" in privileged["properties"]["tags"]
    assert privileged["help"]["text"] == "Do not run containers with the --privileged flag."
    assert privileged["shortDescription"]["text"].endswith("(Automated)")
    assert privileged["helpUri"].startswith("https://")
    for rule in rules.values():
        float(rule["properties"]["security-severity"])  # a number as a string
        assert isinstance(rule["properties"]["security-severity"], str)
    assert rules["CVE-2022-37434"]["properties"]["security-severity"] == "9.5"
    assert rules["PYSEC-2023-74"]["properties"]["security-severity"] == "5.5"
    assert rules["CVE-2021-42386"]["properties"]["security-severity"] == "2.0"
    assert rules["CVE-2023-0286"]["help"]["text"] == "Upgrade openssl to 1.1.1n-0+deb11u4."


def test_results_levels_and_logical_locations(log: dict[str, Any]) -> None:
    privileged = _results(log, "5.4")
    # one result per WARN detail; the PASS detail (container:web) is not a result
    names = [r["locations"][0]["logicalLocations"][0]["fullyQualifiedName"] for r in privileged]
    assert names == [f"container:{EVIL}", f"container:{EVIL_ATTR}"]
    assert {r["level"] for r in privileged} == {"error"}
    assert privileged[0]["locations"][0]["logicalLocations"][0]["name"] == EVIL

    memory = _results(log, "5.10")
    assert [r["locations"][0]["logicalLocations"][0]["fullyQualifiedName"] for r in memory] == [
        "container:web"
    ]
    assert memory[0]["level"] == "warning"

    zlib = _results(log, "CVE-2022-37434")[0]
    loc = zlib["locations"][0]
    assert loc["logicalLocations"][0]["fullyQualifiedName"] == (
        "image:app:1.0//usr/lib/x86_64-linux-gnu/libz.so.1.2.11"
    )
    assert loc["physicalLocation"]["artifactLocation"]["uri"] == (
        "usr/lib/x86_64-linux-gnu/libz.so.1.2.11"
    )
    assert zlib["properties"]["fixed"] == "1:1.2.11.dfsg-2+deb11u2"
    assert _results(log, "CVE-2021-42386")[0]["level"] == "note"
    audit = _results(log, "1.1.3")[0]["locations"][0]
    assert audit["physicalLocation"]["artifactLocation"]["uri"] == "usr/bin/dockerd"


def test_check_without_details_has_one_result_with_reason(log: dict[str, Any]) -> None:
    (trust,) = _results(log, "4.5")
    assert "DOCKER_CONTENT_TRUST is not set" in trust["message"]["text"]
    assert "locations" not in trust


def test_suppressed_items_carry_sarif_suppressions(log: dict[str, Any]) -> None:
    (trust,) = _results(log, "4.5")
    assert trust["suppressions"] == [
        {
            "kind": "external",
            "status": "accepted",
            "justification": "content trust is not used in this lab (SEC-42)",
        }
    ]
    (tar,) = _results(log, "CVE-2005-2541")
    assert tar["suppressions"][0]["justification"] == "upstream considers this intended behaviour"
    assert "suppressions" not in _results(log, "5.4")[0]


def test_errors_and_skipped_sections_become_notifications(log: dict[str, Any]) -> None:
    notes = log["runs"][0]["invocations"][0]["toolExecutionNotifications"]
    error = next(n for n in notes if n.get("associatedRule", {}).get("id") == "3.17")
    assert error["level"] == "error"
    assert "Permission denied" in error["message"]["text"]
    assert any(n["message"]["text"].startswith("registry: N/A") for n in notes)


def test_attacker_strings_round_trip_exactly(log: dict[str, Any]) -> None:
    text = sarif.render(sample_report())
    assert json.loads(text) == log
    unknown = _results(log, "CVE-2024-99999")[0]
    assert EVIL_JSON in unknown["message"]["text"]
    # markdown help never carries raw HTML from the data
    for rule in log["runs"][0]["tool"]["driver"]["rules"]:
        assert "<script" not in rule["help"]["markdown"]


def test_fingerprints_are_stable_and_distinct(log: dict[str, Any]) -> None:
    again = json.loads(sarif.render(sample_report()))
    prints = [r["partialFingerprints"]["dockguardLocation/v1"] for r in log["runs"][0]["results"]]
    assert prints == [
        r["partialFingerprints"]["dockguardLocation/v1"] for r in again["runs"][0]["results"]
    ]
    assert len(set(prints)) == len(prints)
