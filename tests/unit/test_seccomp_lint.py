"""Lint risk warnings and the pure entry point used by CIS 5.22."""

from __future__ import annotations

import json
from typing import Any

from dockguard.model import Severity
from dockguard.seccomp.lint import LintReport, exit_code, lint_profile_text, lint_result
from dockguard.seccomp.profile import parse_profile
from tests.conftest import REFERENCE

SECCOMP = REFERENCE / "seccomp"


def _lint(data: dict[str, Any] | str) -> list[tuple[str, str, str]]:
    text = data if isinstance(data, str) else json.dumps(data, indent=1)
    return [(d.severity, d.code, d.message) for d in lint_result(parse_profile(text), text, "amd64")]


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


def test_exit_code_rules() -> None:
    text = (SECCOMP / "labs-default.json").read_text()
    report = LintReport("x", tuple(lint_result(parse_profile(text), text, "amd64")))
    assert exit_code([report], None) == 0
    assert exit_code([report], Severity.HIGH) == 1
    assert exit_code([report], Severity.CRITICAL) == 0
    bad = json.dumps({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": [], "action": "SCMP_ACT_ALLOW"}]})
    report = LintReport("y", tuple(lint_result(parse_profile(bad), bad, "amd64")))
    assert exit_code([report], None) == 1
