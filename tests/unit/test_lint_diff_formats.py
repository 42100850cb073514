"""``seccomp lint`` and ``diff`` rendered in every format they offer, through the real CLI."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from dockguard.cli import main
from dockguard.model import Surface
from dockguard.report import load
from dockguard.report.formats import SURFACE_FORMATS
from tests.conftest import REFERENCE
from tests.report_sample import sample_report
from tests.unit.test_diff import _later, _write

SARIF_SCHEMA = REFERENCE / "sarif" / "sarif-schema-2.1.0.json"
SECCOMP = REFERENCE / "seccomp"

PROFILE = """{
  "defaultAction": "SCMP_ACT_ERRNO",
  "syscalls": [
    {"names": ["read", "chmodd"], "action": "SCMP_ACT_ALLOW"},
    {"names": ["mount"], "action": "SCMP_ACT_ALLOW"}
  ]
}
"""


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft4Validator:
    return jsonschema.Draft4Validator(json.loads(SARIF_SCHEMA.read_text()),
                                      format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER)


def _render(args: list[str], fmt: str, out: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main([*args, "--format", fmt, "-o", str(out)])
    capsys.readouterr()
    return code, out.read_text(encoding="utf-8")


def _lint_args(tmp_path: Path) -> list[str]:
    profile = tmp_path / "p.json"
    profile.write_text(PROFILE)
    return ["seccomp", "lint", "--arch", "amd64", "p.json", str(SECCOMP / "moby-default.json")]


def _check(fmt: str, text: str, validator: jsonschema.Draft4Validator) -> Any:
    """Parse and validate one rendering; return the parsed document (or the text)."""
    if fmt == "json":
        assert load.loads(text).findings  # a report dockguard reads back (diff input)
        return json.loads(text)
    if fmt == "sarif":
        log = json.loads(text)
        errors = [f"{list(e.path)}: {e.message}" for e in validator.iter_errors(log)]
        assert not errors, errors
        return log
    if fmt == "junit":
        return ET.fromstring(text.encode())
    if fmt == "html":
        assert text.startswith("<!DOCTYPE html>") and "Content-Security-Policy" in text
    return text


@pytest.mark.parametrize("fmt", SURFACE_FORMATS[Surface.SECCOMP_LINT])
def test_lint_in_every_format(fmt: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                              monkeypatch: pytest.MonkeyPatch, validator: jsonschema.Draft4Validator) -> None:
    monkeypatch.chdir(tmp_path)
    code, text = _render(_lint_args(tmp_path), fmt, tmp_path / f"lint.{fmt}", capsys)
    assert code == 1  # 'chmodd' is a validation error
    doc = _check(fmt, text, validator)
    if fmt == "text":
        assert "p.json: current format" in text and "'chmodd' is not a syscall" in text
        assert "moby-default.json: current format" in text and "no problems found" in text
    elif fmt == "json":
        assert {f["obj"] for f in doc["findings"]} == {"profile:p.json"}
    elif fmt == "junit":
        names = [c.get("name") for c in doc.iter("testcase")]
        assert "seccomp.unknown-syscall [profile:p.json, line 4]" in names
        assert len(names) == len(set(names))
    elif fmt == "html":
        assert "seccomp.unknown-syscall" in text and "is not a syscall on any architecture" in text


def test_lint_sarif_has_file_line_and_column(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    _, text = _render(_lint_args(tmp_path), "sarif", tmp_path / "lint.sarif", capsys)
    results = {r["ruleId"]: r for r in json.loads(text)["runs"][0]["results"]}
    physical = results["seccomp.unknown-syscall"]["locations"][0]["physicalLocation"]
    line = PROFILE.splitlines()[3]
    assert physical == {"artifactLocation": {"uri": "p.json", "uriBaseId": "%SRCROOT%"},
                        "region": {"startLine": 4, "endLine": 4, "startColumn": line.index('"chmodd"') + 1}}
    assert results["seccomp.unknown-syscall"]["level"] == "error"
    mount = results["seccomp.dangerous-allowed"]
    assert mount["level"] == "error" and mount["locations"][0]["physicalLocation"]["region"]["startLine"] == 5
    fingerprints = [r["partialFingerprints"]["dockguardLocation/v2"] for r in results.values()]
    assert len(fingerprints) == len(set(fingerprints))


def test_lint_sarif_of_an_absolute_path_is_a_file_uri(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    profile = tmp_path / "a b:c.json"
    profile.write_text(PROFILE)
    _, text = _render(["seccomp", "lint", str(profile)], "sarif", tmp_path / "lint.sarif", capsys)
    uris = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
            for r in json.loads(text)["runs"][0]["results"]}
    assert uris == {"file:///" + str(profile).lstrip("/").replace(" ", "%20")}


@pytest.mark.parametrize("fmt", SURFACE_FORMATS[Surface.DIFF])
def test_diff_in_every_format(fmt: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                              validator: jsonschema.Draft4Validator) -> None:
    old = _write(tmp_path / "old.json", sample_report())
    new = _write(tmp_path / "new.json", _later(sample_report()))
    code, text = _render(["diff", old, new, "--fail-on-new", "HIGH"], fmt, tmp_path / f"diff.{fmt}", capsys)
    assert code == 1
    doc = _check(fmt, text, validator)
    if fmt == "sarif":  # new problems only: the regressions a code-scanning upload should show
        results = doc["runs"][0]["results"]
        assert [(r["ruleId"], r["baselineState"]) for r in results] == [("5.4", "new"), ("CVE-2024-2511", "new")]
        assert "suppressions" not in results[0]
    elif fmt == "junit":
        cases = {c.get("name"): c for c in doc.iter("testcase")}
        assert cases["5.4 [container:web]"].find("failure") is not None
        (fixed_case,) = [c for name, c in cases.items()
                         if name.startswith("CVE-2022-37434 ") and "[image:app:1.0" in name]
        fixed = fixed_case.find("skipped")
        assert fixed is not None and fixed.get("message") == f"suppressed: fixed: not in {new}"
    elif fmt == "html":
        assert "CVE-2024-2511" in text and f"fixed: not in {new}" in text
    elif fmt == "text":
        assert "New (2):" in text and "Fixed (1):" in text


def test_help_lists_every_format(capsys: pytest.CaptureFixture[str]) -> None:
    for args in (["seccomp", "lint"], ["diff"]):
        with pytest.raises(SystemExit):
            main([*args, "--help"])
        out = capsys.readouterr().out
        assert "{text,json,sarif,junit,html}" in out and "--suppressions" in out and "-o" in out
