"""Lint risk warnings, the pure entry point used by CIS 5.22, and ``seccomp lint`` as a Report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from dockguard.cli import main
from dockguard.exit_policy import FailOn, decide
from dockguard.model import FindingKind, NoteStatus, Report, Severity, Surface
from dockguard.pipeline.seccomp_lint import DEFAULT_FAIL_ON, lint_report
from dockguard.report import load
from dockguard.seccomp.lint import lint_profile_text, lint_result
from dockguard.seccomp.profile import DiagnosticLevel, parse_profile
from tests.conftest import REFERENCE

SECCOMP = REFERENCE / "seccomp"


def _lint(data: dict[str, Any] | str) -> list[tuple[str, str, str]]:
    text = data if isinstance(data, str) else json.dumps(data, indent=1)
    return [(d.level, d.code, d.message) for d in lint_result(parse_profile(text), text, "amd64")]


def test_moby_default_is_clean() -> None:
    assert _lint((SECCOMP / "moby-default.json").read_text()) == []


def test_labs_default_flags_clone3_modern_syscalls_and_syslog() -> None:
    found = _lint((SECCOMP / "labs-default.json").read_text())
    by_code = {code: (sev, msg) for sev, code, msg in found}
    assert by_code["clone3-denied"][0] == "HIGH" and "EPERM" in by_code["clone3-denied"][1]
    assert by_code["modern-denied"][0] == "MEDIUM"
    for name in ("statx", "faccessat2", "openat2", "rseq"):
        assert name in by_code["modern-denied"][1]
    assert [m.split()[0] for _, c, m in found if c == "dangerous-allowed"] == ["syslog"]


def test_deny_list_default() -> None:
    found = _lint((SECCOMP / "labs-allow.json").read_text())
    codes = [c for _, c, _ in found]
    assert codes[:1] == ["deny-list"]
    (summary,) = [m for _, c, m in found if c == "dangerous-allowed"]
    assert "mount" in summary and "keyctl" in summary


def _allow(*rules: dict[str, Any]) -> dict[str, Any]:
    base = {
        "names": ["clone3", "statx", "faccessat2", "openat2", "rseq", "close_range"],
        "action": "SCMP_ACT_ERRNO",
        "errnoRet": 38,
    }
    return {"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [base, *rules]}


def test_dangerous_syscalls_without_capability_gate() -> None:
    found = _lint(_allow({"names": ["read", "mount", "keyctl", "clone"], "action": "SCMP_ACT_ALLOW"}))
    flagged = {m.split()[0]: s for s, c, m in found if c == "dangerous-allowed"}
    assert flagged == {"mount": "HIGH", "keyctl": "MEDIUM"}
    assert [c for _, c, _ in found if c == "clone-unfiltered"] == ["clone-unfiltered"]


def test_gated_like_docker_is_not_flagged() -> None:
    found = _lint(
        _allow(
            {
                "names": ["mount", "unshare"],
                "action": "SCMP_ACT_ALLOW",
                "includes": {"caps": ["CAP_SYS_ADMIN"]},
            },
            {"names": ["ptrace"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "4.8"}},
            {
                "names": ["clone"],
                "action": "SCMP_ACT_ALLOW",
                "args": [{"index": 0, "value": 0x7E020000, "op": "SCMP_CMP_MASKED_EQ"}],
            },
        )
    )
    assert found == []


def test_ptrace_unconditional_is_flagged() -> None:
    found = _lint(_allow({"names": ["ptrace"], "action": "SCMP_ACT_ALLOW"}))
    assert [(s, m.split()[0]) for s, c, m in found] == [("HIGH", "ptrace")]


def test_empty_profile_means_unconfined() -> None:
    assert [c for _, c, _ in _lint("{}")] == ["disabled"]


def test_lint_profile_text_pairs() -> None:
    pairs = lint_profile_text(
        '{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"name": "chmodd", "action": "SCMP_ACT_ALLOW"}]}',
        arch="amd64",
    )
    assert pairs[0][0] == "ERROR" and "'chmodd' is not a syscall" in pairs[0][1]
    assert pairs[0][1].startswith("syscalls[0].name (line 1, column ")
    assert {s for s, _ in pairs[1:]} <= {"HIGH", "MEDIUM", "LOW"}
    assert lint_profile_text("{oops")[0][0] == "ERROR"
    assert "inline profile: not valid JSON" in lint_profile_text("{oops")[0][1]


BAD = """{
  "defaultAction": "SCMP_ACT_ERRNO",
  "architecture": ["SCMP_ARCH_X86_64"],
  "syscalls": [
    {"names": ["read", "chmodd"], "action": "SCMP_ACT_ALLOW"},
    {"names": ["mount"], "action": "SCMP_ACT_ALLOW"}
  ]
}
"""


def _bad(tmp_path: Path, name: str = "bad.json") -> str:
    path = tmp_path / name
    path.write_text(BAD)
    return str(path)


def test_levels_map_to_severities() -> None:
    assert DiagnosticLevel.ERROR.severity is Severity.CRITICAL
    assert [lv.severity for lv in (DiagnosticLevel.HIGH, DiagnosticLevel.MEDIUM, DiagnosticLevel.LOW)] == [
        Severity.HIGH, Severity.MEDIUM, Severity.LOW]


def test_lint_report_findings_carry_file_line_and_json_path(tmp_path: Path) -> None:
    path = _bad(tmp_path)
    report = lint_report([path], arch="amd64")
    assert report.surface is Surface.SECCOMP_LINT and report.complete
    (subject,) = report.source.profiles
    assert subject.obj == f"profile:{path}" and subject.path == path and "2 rules" in subject.summary
    by_id = {f.id: f for f in report.findings}
    unknown = by_id["seccomp.unknown-syscall"]
    assert unknown.kind is FindingKind.SECCOMP and unknown.severity is Severity.CRITICAL
    assert (unknown.obj, unknown.path, unknown.line) == (f"profile:{path}", path, 5)
    assert unknown.fact("json_path") == "syscalls[0].names[1]"
    assert unknown.fact("column") == str(BAD.splitlines()[4].index('"chmodd"') + 1)
    assert unknown.fact("level") == "ERROR" and "'chmodd' is not a syscall" in unknown.title
    assert by_id["seccomp.unknown-key"].line == 3
    mount = by_id["seccomp.dangerous-allowed"]
    assert mount.severity is Severity.HIGH and mount.fact("level") == "HIGH" and mount.line == 6
    # validation errors first, then the warnings worst first
    ranks = [f.severity.rank for f in report.findings]
    assert ranks == sorted(ranks, reverse=True)


def _gate(report: Report, fail_on: FailOn | None) -> int:
    return decide(report, fail_on).code


def test_exit_policy_on_lint_reports(tmp_path: Path) -> None:
    labs = lint_report([str(SECCOMP / "labs-default.json")], arch="amd64")
    assert _gate(labs, DEFAULT_FAIL_ON) == 0  # warnings only
    assert _gate(labs, FailOn(Severity.HIGH)) == 1
    assert _gate(labs, FailOn(None)) == 1  # --fail-on WARN
    assert _gate(labs, FailOn(Severity.CRITICAL)) == 0
    bad = lint_report([_bad(tmp_path)], arch="amd64")
    assert _gate(bad, DEFAULT_FAIL_ON) == 1


def test_unparseable_profile_is_reported_with_the_others(tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text('{"defaultAction": "SCMP_ACT_ERRNO",\n "syscalls": [}\n')
    errors: list[str] = []
    moby = str(SECCOMP / "moby-default.json")
    report = lint_report([str(broken), moby, str(tmp_path / "missing.json")], arch="amd64",
                         on_error=errors.append)
    assert [s.parsed for s in report.source.profiles] == [False, True, False]
    assert [(n.part, n.status) for n in report.notes] == [
        (f"profile:{broken}", NoteStatus.ERROR), (f"profile:{tmp_path / 'missing.json'}", NoteStatus.ERROR)]
    malformed, unreadable = report.findings
    assert malformed.id == "seccomp.malformed" and malformed.line == 2 and malformed.fact("column") == "15"
    assert unreadable.id == "seccomp.unreadable" and unreadable.line is None
    assert len(errors) == 2 and errors[0].startswith(f"{broken}: not valid JSON") and "line 2 column 15" in errors[0]
    assert _gate(report, DEFAULT_FAIL_ON) == 2 and not report.complete


def test_cli_unparseable_profile_renders_the_rest_then_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text("{oops")
    moby = str(SECCOMP / "moby-default.json")
    assert main(["seccomp", "lint", str(broken), moby]) == 2
    captured = capsys.readouterr()
    assert captured.out.splitlines()[:3] == [
        str(broken),
        "  ERROR   not valid JSON: Expecting property name enclosed in double quotes at line 1 column 2",
        "  1 error(s), 0 warning(s)",
    ]
    assert f"{moby}: current format" in captured.out and "  no problems found" in captured.out
    errors = [ln for ln in captured.err.splitlines() if ln.startswith("dockguard: error:")]
    assert errors == [f"dockguard: error: {broken}: not valid JSON: Expecting property name enclosed in double "
                      "quotes at line 1 column 2"]
    assert "cannot be decided" in captured.err and "internal error" not in captured.err


def test_cli_text_layout_and_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _bad(tmp_path)
    assert main(["seccomp", "lint", "--arch", "amd64", path]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"{path}: current format, defaultAction SCMP_ACT_ERRNO (errno 1 (EPERM)), 2 rules, 3 syscall names"
    assert out[1] == ("  ERROR   architecture (line 3, column 3): unknown key 'architecture' in the profile "
                      "(did you mean 'architectures'?): Docker silently ignores it")
    assert out[-1] == "  2 error(s), 3 warning(s)"
    labs = str(SECCOMP / "labs-default.json")
    assert main(["seccomp", "lint", labs]) == 0
    assert main(["seccomp", "lint", "--fail-on", "HIGH", labs]) == 1
    assert main(["seccomp", "lint", "--fail-on", "CRITICAL", labs]) == 0
    capsys.readouterr()
    assert main(["seccomp", "lint", "--fail-on", "severe", labs]) == 2
    assert "--fail-on: unknown severity 'severe'" in capsys.readouterr().err


def test_cli_suppressions_on_lint(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    labs = str(SECCOMP / "labs-default.json")
    ignore = tmp_path / "ignore.yaml"
    ignore.write_text("suppressions:\n"
                      f"  - {{id: seccomp.clone3-denied, path: '{labs}', reason: threads unused}}\n"
                      "  - {id: 'seccomp.modern-*', reason: old glibc}\n"
                      "  - {id: seccomp.dangerous-allowed, path: /elsewhere.json, reason: other file}\n")
    assert main(["seccomp", "lint", "--fail-on", "MEDIUM", "--suppressions", str(ignore), labs]) == 0
    out = capsys.readouterr().out
    assert "clone3 gets errno 1 (EPERM)" in out and "(suppressed: threads unused)" in out
    assert "  0 error(s), 1 warning(s), 2 suppressed" in out
    assert main(["seccomp", "lint", "--fail-on", "LOW", "--ignore-file", str(ignore), labs]) == 1


def test_cli_json_is_a_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "lint.json"
    assert main(["seccomp", "lint", "--format", "json", "-o", str(out), _bad(tmp_path)]) == 1
    doc = json.loads(out.read_text())
    assert doc["schema_version"] == 2 and doc["source"]["surface"] == "seccomp-lint"
    assert doc["source"]["profiles"][0]["summary"].startswith("current format")
    first = doc["findings"][0]
    assert first["kind"] == "seccomp" and first["evidence"]["level"] == "ERROR" and first["line"] == 3
    loaded = load.loads(out.read_text())
    assert [f.id for f in loaded.findings] == [f["id"] for f in doc["findings"]]
