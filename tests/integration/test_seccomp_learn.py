"""`seccomp learn` with real strace, verified under real libseccomp."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from dockguard.seccomp.learn import parse_strace
from dockguard.seccomp.lint import lint_profile_text
from tests.integration.dockerd import BUSYBOX


def dockguard(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dockguard", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


def test_parse_real_strace_log(tmp_path: Path) -> None:
    log = tmp_path / "trace"
    subprocess.run(
        [
            "strace",
            "-f",
            "-qq",
            "-e",
            "trace=all",
            "-o",
            str(log),
            "--",
            "sh",
            "-c",
            "ls / >/dev/null & wait",
        ],
        check=True,
    )
    known, other = parse_strace(log.read_text())
    assert {"execve", "exit_group", "wait4"} <= known
    assert {"clone", "clone3", "fork", "vfork"} & known  # sh forked a child under -f
    assert other == set()


def test_learn_writes_verified_profile(tmp_path: Path) -> None:
    out = tmp_path / "echo.json"
    proc = dockguard("seccomp", "learn", "-o", str(out), "--", BUSYBOX, "echo", "hello")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "hello\n"  # the verification run's output is not shown
    assert "coverage is only the code paths" in proc.stderr
    assert "verified" in proc.stderr
    data = json.loads(out.read_text())
    assert data["defaultAction"] == "SCMP_ACT_ERRNO"
    allow = data["syscalls"][0]
    assert allow["action"] == "SCMP_ACT_ALLOW" and {"write", "execve", "capset"} <= set(allow["names"])
    assert "mkdir" not in allow["names"] and "mkdirat" not in allow["names"]
    assert lint_profile_text(out.read_text()) == []
    run = dockguard("seccomp", "run", "-q", "--profile", str(out), "--", BUSYBOX, "echo", "again")
    assert run.returncode == 0 and run.stdout == "again\n"
    refused = dockguard("seccomp", "run", "-q", "--profile", str(out), "--", BUSYBOX, "mkdir", str(tmp_path / "d"))
    assert refused.returncode != 0 and "Operation not permitted" in refused.stderr
    assert not (tmp_path / "d").exists()


def test_learn_passes_exit_status_through(tmp_path: Path) -> None:
    proc = dockguard("seccomp", "learn", "-o", str(tmp_path / "p.json"), "--", BUSYBOX, "sh", "-c", "exit 3")
    assert proc.returncode == 3, proc.stderr
    assert "verified: the command exits 3" in proc.stderr


def test_learn_with_base_adds_only_what_is_missing(tmp_path: Path) -> None:
    base = tmp_path / "base.json"
    base.write_text(
        json.dumps(
            {
                "defaultAction": "SCMP_ACT_ERRNO",
                "syscalls": [{"names": ["execve", "exit_group", "write"], "action": "SCMP_ACT_ALLOW"}],
            }
        )
    )
    out = tmp_path / "out.json"
    proc = dockguard("seccomp", "learn", "--base", str(base), "-o", str(out), "--", BUSYBOX, "ls", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    data = json.loads(out.read_text())
    assert data["syscalls"][0] == {
        "names": ["execve", "exit_group", "write"],
        "action": "SCMP_ACT_ALLOW",
    }
    added = data["syscalls"][1]["names"]
    assert "getdents64" in added and "execve" not in added and "write" not in added
    assert "verified" in proc.stderr


def test_verification_notices_a_different_outcome(tmp_path: Path) -> None:
    # mkdir succeeds when traced and fails (EEXIST) when re-run: verification must say so.
    proc = dockguard(
        "seccomp",
        "learn",
        "-o",
        str(tmp_path / "p.json"),
        "--",
        BUSYBOX,
        "mkdir",
        str(tmp_path / "made"),
    )
    assert proc.returncode == 1
    assert "verification FAILED" in proc.stderr


def test_missing_strace_is_a_usage_error(tmp_path: Path) -> None:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    os.symlink(BUSYBOX, bindir / "true")
    assert shutil.which("strace", path=str(bindir)) is None
    env = dict(os.environ, PATH=str(bindir))
    proc = dockguard("seccomp", "learn", "-o", str(tmp_path / "x.json"), "--", "true", env=env)
    assert proc.returncode == 2 and "strace is not installed" in proc.stderr
    assert not (tmp_path / "x.json").exists()


def test_learn_reads_a_base_from_stdin_once(tmp_path: Path) -> None:
    base = {"defaultAction": "SCMP_ACT_ERRNO",
            "syscalls": [{"names": ["execve", "exit_group", "write"], "action": "SCMP_ACT_ALLOW"}]}
    out = tmp_path / "out.json"
    proc = subprocess.run([sys.executable, "-m", "dockguard", "seccomp", "learn", "--base", "-", "-o", str(out),
                           "--", BUSYBOX, "ls", str(tmp_path)],
                          input=json.dumps(base), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(out.read_text())
    assert data["syscalls"][0]["names"] == ["execve", "exit_group", "write"]
