"""Seccomp decoding limits and messages: grouped diagnostics, locations, made-up names, kills."""

from __future__ import annotations

import json
import signal

import pytest

from dockguard.seccomp import explain, lint
from dockguard.seccomp.effective import MAX_UNKNOWN_LISTED, ProfileContext, listed_names
from dockguard.seccomp.profile import MAX_DIAGNOSTICS_PER_CODE, DiagnosticLevel, locate, parse_profile


def _text(rules: list[dict[str, object]], default: str = "SCMP_ACT_ERRNO") -> str:
    return json.dumps({"defaultAction": default, "syscalls": rules}, indent=1)


def test_locations_match_a_naive_count() -> None:
    names = ["read", "nosuch", "write", "nosuch2", "read"]
    text = _text([{"names": names, "action": "SCMP_ACT_ALLOW"}, {"name": "bogus", "action": "SCMP_ACT_ALLOW"}])
    result = parse_profile(text)
    located = locate(text, result.diagnostics)
    assert len(located) == len(result.diagnostics) >= 4
    for d in located:
        assert d.line is not None and d.column is not None
        offset = sum(len(line) + 1 for line in text.split("\n")[: d.line - 1]) + d.column - 1
        assert text[offset] == '"'  # each points at the offending string (or key)
    bogus = next(d for d in located if "bogus" in d.message)
    assert text.split("\n")[bogus.line - 1].strip().startswith('"name": "bogus"')  # type: ignore[operator]


def test_diagnostics_of_one_code_are_grouped_beyond_the_limit() -> None:
    n = MAX_DIAGNOSTICS_PER_CODE + 25
    text = _text([{"names": [f"made_up_{i}" for i in range(n)], "action": "SCMP_ACT_ALLOW"}])
    result = parse_profile(text)
    unknown = [d for d in result.diagnostics if d.code == "unknown-syscall"]
    assert len(unknown) == MAX_DIAGNOSTICS_PER_CODE + 1
    assert unknown[-1].path == ()
    assert f"25 more 'unknown-syscall' problem(s) like the above are not listed ({n} in all" in unknown[-1].message
    errors = [d for d in lint.lint_result(result, text, "amd64") if d.level is DiagnosticLevel.ERROR]
    assert len(errors) == MAX_DIAGNOSTICS_PER_CODE + 1


def test_long_values_are_cut_in_messages() -> None:
    text = _text([{"names": ["x" * 10_000], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "9" * 5000}}])
    for d in parse_profile(text).diagnostics:
        assert len(d.message) < 250


@pytest.mark.parametrize("value", ["4.8", "10.0", "999999999.1"])
def test_min_kernel_accepted(value: str) -> None:
    text = _text([{"names": ["read"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": value}}])
    result = parse_profile(text)
    assert result.profile is not None and not result.errors
    major, minor = value.split(".")
    assert result.profile.syscalls[0].includes.min_kernel == (int(major), int(minor))


def test_listed_names_keep_known_syscalls_and_count_made_up_ones() -> None:
    names = ["ptrace", "read", *(f"zz{i}" for i in range(MAX_UNKNOWN_LISTED + 7))]
    listed, unlisted = listed_names(names)
    assert unlisted == 7 and "ptrace" in listed and "read" in listed
    assert len(listed) == MAX_UNKNOWN_LISTED + 2 and listed == sorted(listed)


def test_explain_tries_few_contexts_per_name() -> None:
    rules: list[dict[str, object]] = [
        {"names": ["read"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": f"99.{i}"}} for i in range(200)
    ]
    profile = parse_profile(_text(rules)).profile
    assert profile is not None
    (item,) = explain.explain(profile, ProfileContext("amd64", kernel=(5, 10)), ["read"])
    assert 1 <= len(item.variants) <= explain.MAX_VARIANT_CONTEXTS


def test_kill_messages() -> None:
    pytest.importorskip("pyseccomp")
    from dockguard.seccomp.apply import kill_message, translate

    def tr(text: str):  # type: ignore[no-untyped-def]
        profile = parse_profile(text).profile
        assert profile is not None
        return translate(profile, ProfileContext("amd64"))

    exec_killed = tr(_text([{"names": ["execve"], "action": "SCMP_ACT_KILL"}], "SCMP_ACT_ALLOW"))
    assert "execve is killed by this profile" in kill_message(signal.SIGSYS, exec_killed, "true")
    default_kills = tr(_text([{"names": ["read", "execve"], "action": "SCMP_ACT_ALLOW"}], "SCMP_ACT_KILL_PROCESS"))
    assert "its defaultAction kills" in kill_message(signal.SIGSYS, default_kills, "x")
    default_kills_exec = tr(_text([{"names": ["read"], "action": "SCMP_ACT_ALLOW"}], "SCMP_ACT_KILL_PROCESS"))
    assert "execve is killed" in kill_message(signal.SIGSYS, default_kills_exec, "x")
    conditional = tr(_text([{"names": ["personality"], "action": "SCMP_ACT_KILL",
                             "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]}], "SCMP_ACT_ALLOW"))
    assert "it kills: personality" in kill_message(signal.SIGSYS, conditional, "x")
    none = tr(_text([{"names": ["mount"], "action": "SCMP_ACT_ERRNO"}], "SCMP_ACT_ALLOW"))
    assert "the signal came from elsewhere" in kill_message(signal.SIGSYS, none, "x")
    assert kill_message(signal.SIGKILL, none, "x") == (
        "dockguard: x was killed by SIGKILL (signal 9; exit status 137 = 128 + 9)")
