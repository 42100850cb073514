"""Profiles in a real (private) dockerd: learned profiles, the chmod demo, lint --container."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REFERENCE
from tests.integration.dockerd import BUSYBOX, PrivateDaemon, env_for

SECCOMP = REFERENCE / "seccomp"


def dockguard(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dockguard", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


class Runner:
    def __init__(self, daemon: PrivateDaemon, image: str) -> None:
        self.api = daemon.api
        self.image = image
        self.ids: list[str] = []

    def create(self, cmd: list[str], security_opt: list[str] | None = None, name: str | None = None) -> str:
        host = self.api.create_host_config(security_opt=security_opt, network_mode="none")
        c = self.api.create_container(self.image, cmd, host_config=host, name=name)
        self.ids.append(c["Id"])
        return str(c["Id"])

    def run(self, cmd: list[str], security_opt: list[str] | None = None) -> tuple[int, str]:
        cid = self.create(cmd, security_opt)
        self.api.start(cid)
        code = self.api.wait(cid, timeout=60)["StatusCode"]
        return int(code), self.api.logs(cid).decode(errors="replace")


@pytest.fixture
def runner(dockerd: PrivateDaemon, busybox_image: str) -> Iterator[Runner]:
    r = Runner(dockerd, busybox_image)
    yield r
    for cid in r.ids:
        dockerd.api.remove_container(cid, force=True)


def test_learned_profile_runs_its_command_and_refuses_another(runner: Runner, tmp_path: Path) -> None:
    out = tmp_path / "echo.json"
    learn = dockguard("seccomp", "learn", "-o", str(out), "--", BUSYBOX, "echo", "hello")
    assert learn.returncode == 0, learn.stderr
    opt = ["seccomp=" + out.read_text()]
    code, logs = runner.run(["echo", "hello from the container"], opt)
    assert code == 0, logs
    assert "hello from the container" in logs
    code, logs = runner.run(["chmod", "777", "/tmp"], opt)
    assert code != 0 and "Operation not permitted" in logs


def test_chmod_refused_in_container_as_with_seccomp_run(runner: Runner, tmp_path: Path) -> None:
    text = (SECCOMP / "labs-default-no-chmod.json").read_text()
    code, logs = runner.run(
        ["sh", "-c", "touch /tmp/x && chmod 777 /tmp/x; r=$?; stat -c %a /tmp/x; exit $r"],
        ["seccomp=" + text],
    )
    assert code == 1
    assert "chmod: /tmp/x: Operation not permitted" in logs
    assert "644" in logs
    target = tmp_path / "x"
    target.touch(mode=0o644)
    local = dockguard(
        "seccomp",
        "run",
        "--profile",
        str(SECCOMP / "labs-default-no-chmod.json"),
        "--",
        BUSYBOX,
        "chmod",
        "777",
        str(target),
    )
    assert local.returncode == code
    assert f"chmod: {target}: Operation not permitted" in local.stderr
    assert target.stat().st_mode & 0o777 == 0o644


def test_lint_container(runner: Runner, dockerd: PrivateDaemon) -> None:
    text = (SECCOMP / "labs-default.json").read_text()
    runner.create(["true"], ["seccomp=" + text], name="dg-sc-inline")
    runner.create(["true"], ["seccomp=unconfined"], name="dg-sc-unconfined")
    runner.create(["true"], None, name="dg-sc-default")
    env = env_for(dockerd)
    proc = dockguard(
        "seccomp",
        "lint",
        "--format",
        "json",
        "--container",
        "dg-sc-inline",
        "--container",
        "dg-sc-unconfined",
        "--container",
        "dg-sc-default",
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    inline, unconfined, default = doc["source"]["profiles"]
    assert [inline["obj"], unconfined["obj"], default["obj"]] == [
        "container:dg-sc-inline", "container:dg-sc-unconfined", "container:dg-sc-default"]
    assert "built-in default" in default["summary"] and inline["summary"].startswith("inline profile")
    by_obj: dict[str, list[str]] = {}
    for f in doc["findings"]:
        by_obj.setdefault(f["obj"], []).append(f["evidence"]["code"])
    assert "clone3-denied" in by_obj["container:dg-sc-inline"]
    assert by_obj["container:dg-sc-unconfined"] == ["unconfined"]
    assert "container:dg-sc-default" not in by_obj
    lint = dockguard("seccomp", "lint", "--container", "dg-sc-unconfined", "--container", "dg-sc-default", env=env)
    assert lint.stdout.splitlines() == [
        "container dg-sc-unconfined: seccomp=unconfined",
        "  HIGH    runs without seccomp (SecurityOpt seccomp=unconfined): every syscall is allowed",
        "  0 error(s), 1 warning(s)",
        "container dg-sc-default: runs Docker's built-in default profile (no seccomp option set)",
        "  no problems found",
        "  0 error(s), 0 warning(s)",
    ]
    assert dockguard("seccomp", "lint", "--fail-on", "HIGH", "--container", "dg-sc-unconfined", env=env).returncode == 1
    missing = dockguard("seccomp", "lint", "--container", "dg-no-such-container", env=env)
    assert missing.returncode == 2 and "no such container" in missing.stderr
