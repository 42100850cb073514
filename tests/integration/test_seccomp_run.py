"""`seccomp run` and the libseccomp translation, for real (pyseccomp over libseccomp2)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from dockguard.seccomp.apply import run_under, translate
from dockguard.seccomp.effective import ProfileContext, native_arch
from dockguard.seccomp.profile import Profile, parse_profile
from tests.conftest import REFERENCE

SECCOMP = REFERENCE / "seccomp"
PYTHON = "/usr/bin/python3"


def dockguard(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "dockguard", *args], capture_output=True, text=True, timeout=60)


def _p(name: str) -> Profile:
    profile = parse_profile((SECCOMP / name).read_text()).profile
    assert profile is not None
    return profile


def test_chmod_demonstration(tmp_path: Path) -> None:
    target = tmp_path / "f"
    target.write_text("x")
    target.chmod(0o644)
    proc = dockguard(
        "seccomp",
        "run",
        "--profile",
        str(SECCOMP / "labs-default-no-chmod.json"),
        "--",
        "chmod",
        "777",
        str(target),
    )
    assert proc.returncode == 1
    assert "Operation not permitted" in proc.stderr
    assert target.stat().st_mode & 0o777 == 0o644
    proc = dockguard(
        "seccomp",
        "run",
        "--profile",
        str(SECCOMP / "labs-default.json"),
        "--",
        "chmod",
        "777",
        str(target),
    )
    assert proc.returncode == 0, proc.stderr
    assert target.stat().st_mode & 0o777 == 0o777


def test_exit_status_and_signals_pass_through() -> None:
    moby = str(SECCOMP / "moby-default.json")
    assert dockguard("seccomp", "run", "-q", "--profile", moby, "--", "sh", "-c", "exit 7").returncode == 7
    assert dockguard("seccomp", "run", "-q", "--profile", moby, "--", "sh", "-c", "kill -TERM $$").returncode == 143


def test_unknown_names_are_skipped_and_reported() -> None:
    proc = dockguard("seccomp", "run", "--profile", str(SECCOMP / "moby-default.json"), "--", "true")
    assert proc.returncode == 0
    # libseccomp 2.5.4 predates these (Linux 6.10+); the list comes from libseccomp itself.
    assert "mseal" in proc.stderr and "statmount" in proc.stderr
    assert "chmod" not in proc.stderr


def test_clone3_eperm_breaks_threads_but_enosys_does_not() -> None:
    code = "import threading; t = threading.Thread(target=print, args=('thread ok',)); t.start(); t.join()"
    labs = dockguard(
        "seccomp",
        "run",
        "-q",
        "--profile",
        str(SECCOMP / "labs-default.json"),
        "--",
        PYTHON,
        "-c",
        code,
    )
    assert labs.returncode != 0 and "can't start new thread" in labs.stderr
    moby = dockguard(
        "seccomp",
        "run",
        "-q",
        "--profile",
        str(SECCOMP / "moby-default.json"),
        "--",
        PYTHON,
        "-c",
        code,
    )
    assert moby.returncode == 0 and "thread ok" in moby.stdout


def test_translation_rules_that_libseccomp_would_refuse() -> None:
    text = json.dumps(
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
                {"names": ["mount"], "action": "SCMP_ACT_ERRNO"},
            ],
        }
    )
    profile = parse_profile(text).profile
    assert profile is not None
    tr = translate(profile, ProfileContext(native_arch()))
    assert tr.skipped_default_rules == (1,)
    assert tr.rules_added == 2  # one rule per comparison of arg0


def test_dockguard_process_itself_stays_unfiltered() -> None:
    tr = translate(_p("labs-default-no-chmod.json"), ProfileContext(native_arch()))
    assert run_under(tr, ["true"]) == 0
    status = Path("/proc/self/status").read_text()
    assert "Seccomp:\t0" in status


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    assert dockguard("seccomp", "run", "--profile", str(tmp_path / "none.json"), "--", "true").returncode == 2
    bad = tmp_path / "bad.json"
    bad.write_text(
        '{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"name": "read", "names": ["write"], '
        '"action": "SCMP_ACT_ALLOW"}]}'
    )
    proc = dockguard("seccomp", "run", "--profile", str(bad), "--", "true")
    assert proc.returncode == 2 and "'name' and 'names'" in proc.stderr
    assert dockguard("seccomp", "run", "--profile", str(SECCOMP / "moby-default.json")).returncode == 2
    proc = dockguard("seccomp", "run", "--profile", str(SECCOMP / "moby-default.json"), "--", "no-such-cmd-xyz")
    assert proc.returncode == 2 and "command not found" in proc.stderr


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_cli_lint_diff_explain(fmt: str) -> None:
    labs, nochmod = str(SECCOMP / "labs-default.json"), str(SECCOMP / "labs-default-no-chmod.json")
    lint = dockguard("seccomp", "lint", "--format", fmt, labs)
    assert lint.returncode == 0
    assert dockguard("seccomp", "lint", "--fail-on", "HIGH", labs).returncode == 1
    diff = dockguard("seccomp", "diff", "--format", fmt, labs, nochmod)
    assert diff.returncode == 1
    explain = dockguard("seccomp", "explain", "--format", fmt, str(SECCOMP / "moby-default.json"), "clone3")
    assert explain.returncode == 0
    if fmt == "json":
        findings = json.loads(lint.stdout)["findings"]
        assert [f["evidence"]["level"] for f in findings] == ["HIGH", "MEDIUM", "LOW"]
        assert {f["obj"] for f in findings} == {f"profile:{labs}"}
        assert [d["syscall"] for d in json.loads(diff.stdout)["differences"]] == [
            "chmod",
            "fchmod",
            "fchmodat",
        ]
        (item,) = json.loads(explain.stdout)["syscalls"]
        assert item["errno"] == 38 and item["variants"][0]["allowed"]
    else:
        assert "clone3 gets errno 1 (EPERM)" in lint.stdout
        assert "3 syscalls differ" in diff.stdout
        assert "errno 38 (ENOSYS)" in explain.stdout and "with CAP_SYS_ADMIN: allow" in explain.stdout
    assert dockguard("seccomp", "diff", labs, labs).returncode == 0


def test_lint_malformed_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"defaultAction": "SCMP_ACT_ERRNO",\n "syscalls": [}\n')
    proc = dockguard("seccomp", "lint", str(bad))
    assert proc.returncode == 2 and "line 2 column" in proc.stderr
