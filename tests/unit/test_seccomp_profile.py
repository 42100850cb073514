"""Profile model and strict validation for both Docker formats."""

from __future__ import annotations

import json

import pytest

from dockguard.model import Severity
from dockguard.seccomp.profile import (
    ERROR,
    Action,
    Diagnostic,
    ProfileSyntaxError,
    locate,
    parse_profile,
)
from tests.conftest import REFERENCE

SECCOMP = REFERENCE / "seccomp"


def _load(name: str) -> str:
    return (SECCOMP / name).read_text()


def _codes(text: str) -> dict[str, list[Diagnostic]]:
    result = parse_profile(text)
    out: dict[str, list[Diagnostic]] = {}
    for d in locate(text, result.diagnostics):
        out.setdefault(d.code, []).append(d)
    return out


def test_old_format_parses_cleanly() -> None:
    result = parse_profile(_load("labs-default.json"))
    assert result.errors == ()
    p = result.profile
    assert p is not None and not p.current_format
    assert len(p.syscalls) == 308
    assert p.architectures == ("SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32")
    assert p.default == Action("ERRNO", 1)
    assert p.syscalls[0].names == ("accept",)


def test_current_format_parses_cleanly() -> None:
    result = parse_profile(_load("moby-default.json"))
    assert result.diagnostics == ()
    p = result.profile
    assert p is not None and p.current_format
    assert len(p.syscalls) == 33
    assert sum(len(r.names) for r in p.syscalls) == 442 and len(p.names()) == 426
    clone3 = [r for r in p.syscalls if r.names == ("clone3",) and r.errno_ret == 38]
    assert clone3 and clone3[0].excludes.caps == ("CAP_SYS_ADMIN",)
    assert p.arches_for("SCMP_ARCH_X86_64") == (
        "SCMP_ARCH_X86_64",
        "SCMP_ARCH_X86",
        "SCMP_ARCH_X32",
    )
    ptrace = [r for r in p.syscalls if "ptrace" in r.names and r.includes.min_kernel]
    assert ptrace[0].includes.min_kernel == (4, 8)


def test_malformed_json_reports_line_and_column() -> None:
    with pytest.raises(ProfileSyntaxError, match=r"line 3 column 1") as info:
        parse_profile('{\n "defaultAction": "SCMP_ACT_ERRNO",\n}')
    assert (info.value.line, info.value.column) == (3, 1)
    with pytest.raises(ProfileSyntaxError, match="nested deeper") as info:
        parse_profile("[" * 100 + "]" * 100)
    assert info.value.line is None and info.value.column is None


def test_name_and_names_together_is_rejected_with_location() -> None:
    text = json.dumps(
        {
            "defaultAction": "SCMP_ACT_ERRNO",
            "syscalls": [{"name": "read", "names": ["write"], "action": "SCMP_ACT_ALLOW"}],
        },
        indent=2,
    )
    (d,) = _codes(text)["name-and-names"]
    assert d.level is ERROR and d.severity is Severity.CRITICAL and d.rejected_by_docker
    assert d.location == "syscalls[0] (line 4, column 5)"


def test_architectures_and_archmap_together() -> None:
    text = json.dumps(
        {
            "defaultAction": "SCMP_ACT_ERRNO",
            "architectures": ["SCMP_ARCH_X86_64"],
            "archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": None}],
            "syscalls": [],
        }
    )
    assert "arch-conflict" in _codes(text)


def test_unknown_keys_empty_names_and_unknown_syscalls() -> None:
    text = json.dumps(
        {
            "defaultAction": "SCMP_ACT_ERRNO",
            "architecture": ["SCMP_ARCH_X86_64"],
            "syscalls": [
                {"names": [], "action": "SCMP_ACT_ALLOW"},
                {"names": ["read", "chmodd"], "action": "SCMP_ACT_ALLOW", "arg": []},
            ],
        },
        indent=1,
    )
    codes = _codes(text)
    (unknown_top, unknown_rule) = codes["unknown-key"]
    assert "'architecture'" in unknown_top.message and "did you mean 'architectures'" in unknown_top.message
    assert unknown_rule.path == ("syscalls", 1, "arg")
    assert codes["empty-names"][0].path == ("syscalls", 0, "names")
    (bad,) = codes["unknown-syscall"]
    assert bad.path == ("syscalls", 1, "names", 1)
    assert bad.line == text.splitlines().index('    "chmodd"') + 1


def test_newer_syscalls_than_libseccomp_are_known() -> None:
    text = json.dumps(
        {
            "defaultAction": "SCMP_ACT_ERRNO",
            "syscalls": [
                {
                    "names": ["mseal", "statmount", "lsm_get_self_attr", "fchmodat2"],
                    "action": "SCMP_ACT_ALLOW",
                }
            ],
        }
    )
    assert parse_profile(text).diagnostics == ()


def test_rule_with_default_action_is_an_error() -> None:
    text = json.dumps(
        {
            "defaultAction": "SCMP_ACT_ERRNO",
            "syscalls": [
                {"names": ["mount"], "action": "SCMP_ACT_ERRNO"},
                {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
            ],
        }
    )
    (d,) = _codes(text)["redundant-rule"]
    assert d.path == ("syscalls", 0, "action")


def test_bad_operator_action_kernel_and_cap() -> None:
    text = json.dumps(
        {
            "defaultAction": "SCMP_ACT_ERRNO",
            "syscalls": [
                {
                    "names": ["socket"],
                    "action": "SCMP_ACT_ALLOW",
                    "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQUAL"}],
                },
                {"names": ["read"], "action": "SCMP_ACT_PERMIT"},
                {"names": ["ptrace"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "4"}},
                {
                    "names": ["mount"],
                    "action": "SCMP_ACT_ALLOW",
                    "includes": {"caps": ["SYS_ADMIN"]},
                },
                {
                    "names": ["write"],
                    "action": "SCMP_ACT_ALLOW",
                    "args": [{"index": 7, "value": -1, "op": "SCMP_CMP_EQ"}],
                },
            ],
        }
    )
    codes = _codes(text)
    assert codes["bad-operator"][0].path == ("syscalls", 0, "args", 0, "op")
    assert codes["bad-action"][0].path == ("syscalls", 1, "action")
    assert codes["bad-kernel"][0].rejected_by_docker
    assert "did you mean 'CAP_SYS_ADMIN'" in codes["unknown-cap"][0].message
    assert {d.path[-1] for d in codes["type"]} == {"index", "value"}


def test_key_case_is_accepted_like_go_with_a_warning() -> None:
    result = parse_profile('{"DefaultAction": "SCMP_ACT_ALLOW", "syscalls": []}')
    assert result.profile is not None and result.profile.default_action == "SCMP_ACT_ALLOW"
    assert [d.code for d in result.diagnostics] == ["key-case"]


def test_non_object_profile() -> None:
    result = parse_profile("[]")
    assert result.profile is None and result.errors[0].code == "type"
