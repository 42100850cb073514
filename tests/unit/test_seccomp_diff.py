"""Effective actions, diff and explain on the reference profiles."""

from __future__ import annotations

import json

import pytest

from dockguard.errors import UsageError
from dockguard.seccomp.effective import ProfileContext, Resolver, parse_caps, parse_kernel
from dockguard.seccomp.explain import explain
from dockguard.seccomp.profile import Action, Profile, parse_profile
from dockguard.seccomp.profile_diff import diff_profiles, render_json
from dockguard.seccomp.syscalls import DOCKER_DEFAULT_CAPABILITIES
from tests.conftest import REFERENCE

SECCOMP = REFERENCE / "seccomp"
CTX = ProfileContext("amd64", kernel=(6, 1))


def _p(name: str) -> Profile:
    profile = parse_profile((SECCOMP / name).read_text()).profile
    assert profile is not None
    return profile


def test_no_chmod_differs_in_exactly_three_syscalls() -> None:
    d = diff_profiles(_p("labs-default.json"), _p("labs-default-no-chmod.json"), CTX)
    assert [c.name for c in d.changes] == ["chmod", "fchmod", "fchmodat"]
    assert all(c.before.allowed and c.after.fallback == Action("ERRNO", 1) for c in d.changes)
    data = json.loads(render_json(d, "a", "b"))
    assert [x["change"] for x in data["differences"]] == ["denied"] * 3


def test_labs_versus_moby() -> None:
    d = diff_profiles(_p("labs-default.json"), _p("moby-default.json"), CTX)
    by = {c.name: c for c in d.changes}
    added = [c for c in d.changes if c.after.allowed and not c.before.allowed]
    assert 55 <= len(added) <= 75
    for name in ("statx", "faccessat2", "openat2", "landlock_create_ruleset"):
        assert by[name].after.allowed
    assert by["clone3"].after.fallback == Action("ERRNO", 38)
    assert by["syslog"].before.allowed and not by["syslog"].after.allowed
    assert by["clone"].before.branches != by["clone"].after.branches
    assert "personality" in by and "socket" in by


def test_capabilities_open_gates_in_moby() -> None:
    admin = ProfileContext("amd64", parse_caps("+SYS_ADMIN"), (6, 1))
    moby = _p("moby-default.json")
    plain, sysadmin = Resolver(moby, CTX), Resolver(moby, admin)
    for name in ("mount", "setns", "unshare", "bpf", "clone3"):
        assert not plain.verdict(name).allowed
        assert sysadmin.verdict(name).allowed
    d = diff_profiles(_p("labs-default.json"), moby, admin)
    assert {"mount", "setns", "unshare", "bpf", "clone3"} <= {c.name for c in d.changes if c.after.allowed}


def test_kernel_gate_on_ptrace() -> None:
    moby = _p("moby-default.json")
    assert Resolver(moby, CTX).verdict("ptrace").allowed
    assert not Resolver(moby, ProfileContext("amd64", kernel=(4, 4))).verdict("ptrace").allowed


def test_explain_conditions_and_variants() -> None:
    items = {e.name: e for e in explain(_p("moby-default.json"), CTX, ["socket", "mount", "chmod", "nosuch"])}
    assert items["socket"].verdict.describe() == (
        "allow only when arg0 < 38 or arg0 == 39 or arg0 > 40; otherwise errno 1 (EPERM)"
    )
    assert [(v.condition, v.verdict.allowed) for v in items["mount"].variants] == [("with CAP_SYS_ADMIN", True)]
    assert items["chmod"].verdict.describe() == "allow"
    assert not items["nosuch"].known


def test_same_argument_conditions_are_ored_like_runc() -> None:
    profile = parse_profile(
        json.dumps(
            {
                "defaultAction": "SCMP_ACT_ERRNO",
                "syscalls": [
                    {
                        "names": ["personality"],
                        "action": "SCMP_ACT_ALLOW",
                        "args": [
                            {"index": 0, "value": 0, "op": "SCMP_CMP_EQ"},
                            {"index": 0, "value": 8, "op": "SCMP_CMP_EQ"},
                        ],
                    },
                    {
                        "names": ["socket"],
                        "action": "SCMP_ACT_ALLOW",
                        "args": [
                            {"index": 0, "value": 1, "op": "SCMP_CMP_EQ"},
                            {"index": 1, "value": 2, "op": "SCMP_CMP_EQ"},
                        ],
                    },
                ],
            }
        )
    ).profile
    assert profile is not None
    r = Resolver(profile, CTX)
    assert "arg0 == 0 or arg0 == 8" in r.verdict("personality").describe()
    assert "arg0 == 1 and arg1 == 2" in r.verdict("socket").describe()


def test_parse_caps_and_kernel() -> None:
    assert parse_caps(None) == DOCKER_DEFAULT_CAPABILITIES
    assert parse_caps("+sys_admin,-NET_RAW") == (DOCKER_DEFAULT_CAPABILITIES | {"CAP_SYS_ADMIN"}) - {"CAP_NET_RAW"}
    assert parse_caps("CAP_BPF") == {"CAP_BPF"}
    assert parse_caps("none") == frozenset()
    with pytest.raises(UsageError):
        parse_caps("+FLY")
    assert parse_kernel("6.1.0-18-amd64") == (6, 1)
    with pytest.raises(UsageError):
        parse_kernel("six")
