"""`dockguard bench` against a real private dockerd with containers started with risky options.

Each container's verdict is asserted per check; the daemon's /events during the run prove
that bench changes nothing.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REFERENCE
from tests.integration.dockerd import (
    PrivateDaemon,
    build_image,
    cleanup_root,
    env_for,
    free_port,
    import_busybox,
    start_daemon,
)

DG = [sys.executable, "-m", "dockguard"]


def dockguard(daemon: PrivateDaemon, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([*DG, *args], env=env_for(daemon), capture_output=True, text=True, timeout=120)
    if check and proc.returncode not in (0, 1):
        raise AssertionError(f"dockguard {' '.join(args)} exited {proc.returncode}: {proc.stderr}")
    return proc


@pytest.fixture(scope="module")
def containers(
    dockerd: PrivateDaemon, busybox_image: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, str]]:
    api = dockerd.api
    data_dir = str(tmp_path_factory.mktemp("appdata"))
    sock = str(dockerd.socket)
    made: dict[str, str] = {}

    def make(name: str, start: bool = True, **kw: Any) -> None:
        host_config = api.create_host_config(**kw.pop("host_config", {}))
        c = api.create_container(
            busybox_image, kw.pop("command", ["sleep", "3600"]), name=name, host_config=host_config, **kw
        )
        made[name] = c["Id"]
        if start:
            api.start(c)

    make(
        "risky-ns",
        user="0:0",
        host_config={
            "network_mode": "host",
            "pid_mode": "host",
            "ipc_mode": "host",
            "uts_mode": "host",
            "userns_mode": "host",
            "security_opt": ["seccomp=unconfined"],
            "cgroup_parent": "/dgrisk",
            "cap_add": ["NET_ADMIN", "SYS_ADMIN"],
        },
    )
    make(
        "risky-cfg",
        user="root",
        ports=[80, 443],
        host_config={
            "port_bindings": {80: 80, 443: ("127.0.0.1", 8443)},
            "binds": {"/etc": {"bind": "/hostetc", "mode": "ro"}, sock: {"bind": "/var/run/d.sock", "mode": "rw"}},
            "restart_policy": {"Name": "on-failure", "MaximumRetryCount": 10},
        },
    )
    make(
        "safe",
        user="app",
        ports=[8080],
        healthcheck={"test": ["CMD", "true"], "interval": 3600 * 10**9},
        host_config={
            "port_bindings": {8080: ("127.0.0.1", 8080)},
            "read_only": True,
            "mem_limit": "64m",
            "cpu_shares": 512,
            "pids_limit": 100,
            "cap_drop": ["ALL"],
            "security_opt": ["no-new-privileges"],
            "restart_policy": {"Name": "on-failure", "MaximumRetryCount": 3},
            # destination under /etc, harmless source: not a host-directory exposure
            "binds": {data_dir: {"bind": "/etc/data", "mode": "ro"}},
        },
    )
    # Inline custom seccomp profiles (as `docker run --security-opt seccomp=FILE` stores them):
    # a deny-list weakens isolation, Docker's current default does not.
    for name, profile in (("seccomp-allow", "labs-allow.json"), ("seccomp-moby", "moby-default.json")):
        text = (REFERENCE / "seccomp" / profile).read_text()
        make(name, user="app", host_config={"security_opt": [f"seccomp={text}"]})
    # Privileged containers cannot start on this kind of machine (runc cannot apply every
    # capability); created-but-not-started is still a privileged container waiting to run.
    make("priv", start=False, host_config={"privileged": True})
    time.sleep(1.1)  # keep set-up events out of the audit's event window
    yield made
    for cid in made.values():
        api.remove_container(cid, force=True)


@pytest.fixture(scope="module")
def bench(dockerd: PrivateDaemon, containers: dict[str, str]) -> dict[str, Any]:
    since = f"{time.time():.9f}"
    proc = dockguard(dockerd, "bench", "--format", "json")
    until = f"{time.time():.9f}"
    events = list(dockerd.api.events(since=since, until=until, decode=True))
    report: dict[str, Any] = json.loads(proc.stdout)
    report["_events"] = events
    return report


def result(report: dict[str, Any], cid: str) -> dict[str, Any]:
    return next(r for r in report["results"] if r["id"] == cid)


def verdict(report: dict[str, Any], cid: str, name: str) -> str:
    r = result(report, cid)
    for d in r["details"]:
        if d["obj"] == f"container:{name}":
            return str(d["outcome"])
    return "absent"


EXPECT: dict[str, dict[str, str]] = {
    # check: {container: outcome}
    "4.1": {"risky-ns": "WARN", "risky-cfg": "WARN", "safe": "PASS"},
    "5.4": {"risky-ns": "WARN", "safe": "PASS", "risky-cfg": "PASS"},
    "5.5": {"priv": "WARN", "safe": "PASS"},
    "5.6": {"risky-cfg": "WARN", "safe": "PASS", "risky-ns": "PASS"},
    "5.8": {"risky-cfg": "WARN", "safe": "PASS"},
    "5.10": {"risky-ns": "WARN", "safe": "PASS"},
    "5.11": {"risky-ns": "WARN", "safe": "PASS"},
    "5.12": {"risky-ns": "WARN", "safe": "PASS"},
    "5.13": {"risky-cfg": "WARN", "safe": "PASS"},
    "5.14": {"risky-cfg": "WARN", "safe": "PASS"},
    "5.15": {"risky-cfg": "WARN", "safe": "PASS"},
    "5.16": {"risky-ns": "WARN", "safe": "PASS"},
    "5.17": {"risky-ns": "WARN", "safe": "PASS"},
    "5.21": {"risky-ns": "WARN", "safe": "PASS"},
    "5.22": {"risky-ns": "WARN", "safe": "PASS", "seccomp-allow": "WARN", "seccomp-moby": "PASS"},
    "5.25": {"risky-ns": "WARN", "safe": "PASS"},
    "5.26": {"risky-ns": "WARN", "safe": "PASS"},
    "5.27": {"risky-ns": "WARN", "safe": "PASS"},
    "5.29": {"risky-ns": "WARN", "safe": "PASS"},
    "5.31": {"risky-ns": "WARN", "safe": "PASS"},
    "5.32": {"risky-cfg": "WARN", "safe": "PASS", "risky-ns": "PASS"},
}


def _numeric(check_id: str) -> list[int]:
    return [int(x) for x in check_id.split(".")]


CHECK_IDS = sorted(EXPECT, key=_numeric)


@pytest.mark.parametrize("check_id", CHECK_IDS)
def test_container_verdicts(bench: dict[str, Any], check_id: str) -> None:
    got = {name: verdict(bench, check_id, name) for name in EXPECT[check_id]}
    assert got == EXPECT[check_id], json.dumps(result(bench, check_id), indent=1)
    assert result(bench, check_id)["outcome"] == "WARN"


def test_details_name_the_problem(bench: dict[str, Any]) -> None:
    details = {d["obj"]: d["message"] for d in result(bench, "5.6")["details"]}
    assert "/etc" in details["container:risky-cfg"] and "read-only" in details["container:risky-cfg"]
    caps = {d["obj"]: d["message"] for d in result(bench, "5.4")["details"]}
    assert "SYS_ADMIN" in caps["container:risky-ns"] and "NET_ADMIN" in caps["container:risky-ns"]


def test_apparmor_only_where_the_host_has_it(bench: dict[str, Any]) -> None:
    flag = Path("/sys/module/apparmor/parameters/enabled")
    has_apparmor = flag.exists() and flag.read_text().strip().upper().startswith("Y")
    if has_apparmor:
        assert result(bench, "5.2")["outcome"] != "N/A"
    else:
        assert result(bench, "5.2")["outcome"] == "N/A"
        assert "AppArmor" in result(bench, "5.2")["reason"]


def test_sshd_check_sees_processes(bench: dict[str, Any]) -> None:
    r = result(bench, "5.7")
    assert r["outcome"] == "PASS", r


def test_no_outcome_is_error_and_all_checks_ran(bench: dict[str, Any]) -> None:
    assert bench["summary"]["checks"] == 117
    errors = [(r["id"], r["reason"]) for r in bench["results"] if r["outcome"] == "ERROR"]
    assert errors == []


def test_bench_changes_nothing(bench: dict[str, Any], dockerd: PrivateDaemon, busybox_image: str) -> None:
    assert bench["_events"] == []
    # The same event window does see a state change when one happens (the probe can fail).
    since = f"{time.time():.9f}"
    c = dockerd.api.create_container(busybox_image, ["true"], name="dg-event-probe")
    dockerd.api.remove_container(c)
    until = f"{time.time():.9f}"
    actions = [e.get("Action") for e in dockerd.api.events(since=since, until=until, decode=True)]
    assert "create" in actions and "destroy" in actions


# Daemon configuration: a second private daemon with flags and a daemon.json we write.
@pytest.fixture(scope="module")
def configured_daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateDaemon]:
    root = tmp_path_factory.mktemp("cfgd")
    seccomp = root / "seccomp.json"
    seccomp.write_text(json.dumps({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": []}))
    daemon = start_daemon(
        root,
        daemon_json={
            "log-level": "debug",
            "default-ulimits": {"nofile": {"Name": "nofile", "Hard": 4096, "Soft": 4096}},
            "no-new-privileges": True,
            "userland-proxy": False,
            "cgroup-parent": "/dgtest",
            "insecure-registries": ["10.1.0.0/16"],
            "experimental": True,
            "seccomp-profile": str(seccomp),
        },
        extra_args=("--live-restore",),
    )
    try:
        yield daemon
    finally:
        daemon.stop()
        cleanup_root(root)


def test_daemon_checks_follow_flags_and_daemon_json(configured_daemon: PrivateDaemon, dockerd: PrivateDaemon) -> None:
    configured = json.loads(dockguard(configured_daemon, "bench", "--format", "json", "-c", "2").stdout)
    default = json.loads(dockguard(dockerd, "bench", "--format", "json", "-c", "2").stdout)
    got_cfg = {r["id"]: r["outcome"] for r in configured["results"]}
    got_def = {r["id"]: r["outcome"] for r in default["results"]}
    assert {k: got_cfg[k] for k in ("2.3", "2.5", "2.8", "2.10", "2.14", "2.15", "2.16", "2.17", "2.18")} == {
        "2.3": "WARN",
        "2.5": "WARN",
        "2.8": "PASS",
        "2.10": "WARN",
        "2.14": "PASS",
        "2.15": "PASS",
        "2.16": "PASS",
        "2.17": "PASS",
        "2.18": "WARN",
    }
    assert {k: got_def[k] for k in ("2.3", "2.5", "2.8", "2.10", "2.14", "2.15", "2.16", "2.17", "2.18")} == {
        "2.3": "PASS",
        "2.5": "PASS",
        "2.8": "INFO",
        "2.10": "PASS",
        "2.14": "WARN",
        "2.15": "WARN",
        "2.16": "WARN",
        "2.17": "INFO",
        "2.18": "PASS",
    }
    # provenance: the value came from the daemon.json we wrote, the flag from the command line
    details = " ".join(d["message"] for d in result(configured, "2.3")["details"]) + result(configured, "2.3")["reason"]
    assert "debug" in details


def test_container_inherits_daemon_no_new_privileges(configured_daemon: PrivateDaemon) -> None:
    img = import_busybox(configured_daemon.api)
    c = configured_daemon.api.create_container(img, ["sleep", "600"], name="inherits")
    configured_daemon.api.start(c)
    try:
        report = json.loads(dockguard(configured_daemon, "bench", "--format", "json", "-c", "5.26,5.25").stdout)
        assert verdict(report, "5.26", "inherits") == "PASS"
        # the daemon-wide cgroup-parent is not the container's own CgroupParent setting
        # (2.10 reports that one); the container itself sets none
        assert verdict(report, "5.25", "inherits") == "PASS"
    finally:
        configured_daemon.api.remove_container(c, force=True)


def test_sshd_in_a_container_is_found_without_exec(dockerd: PrivateDaemon, busybox_image: str) -> None:
    # A script named sshd: the kernel names the process after the script (comm "sshd").
    tag = build_image(
        dockerd.api,
        f"FROM {busybox_image}\nCOPY sshd /usr/sbin/sshd\nRUN chmod 755 /usr/sbin/sshd\n",
        "dg-sshd:1",
        {"sshd": b"#!/bin/sh\nsleep 3600\n"},
    )
    c = dockerd.api.create_container(tag, ["/usr/sbin/sshd"], name="sshd-box")
    dockerd.api.start(c)
    try:
        time.sleep(0.5)
        # Both ways of listing processes: one /proc pass on this host, and the Engine API `top`.
        for mode in ("proc", "api"):
            args = ("bench", "--format", "json", "-c", "5.7", "-i", "sshd-box", "--processes", mode)
            report = json.loads(dockguard(dockerd, *args).stdout)
            assert result(report, "5.7")["outcome"] == "WARN", (mode, result(report, "5.7"))
            assert verdict(report, "5.7", "sshd-box") == "WARN"
    finally:
        dockerd.api.remove_container(c, force=True)


def test_tcp_listener_is_probed_for_2_7(tmp_path_factory: pytest.TempPathFactory) -> None:
    # A daemon that also listens on plain TCP: 2.7 warns from the configuration *and* the
    # probe shows that it answers anyone; the probe's CRITICAL finding joins the report.
    root = tmp_path_factory.mktemp("tcpd")
    port = free_port()
    daemon = start_daemon(root, extra_args=("-H", f"tcp://127.0.0.1:{port}"))
    try:
        report = json.loads(dockguard(daemon, "bench", "--format", "json", "-c", "2.7").stdout)
        r = result(report, "2.7")
        assert r["outcome"] == "WARN"
        probe = [d for d in r["details"] if d["obj"] == f"endpoint:tcp://127.0.0.1:{port}"]
        assert probe and probe[0]["outcome"] == "WARN", r
        endpoint = [f for f in report["findings"] if f["kind"] == "endpoint"]
        assert any(f["severity"] == "CRITICAL" for f in endpoint), endpoint
    finally:
        daemon.stop()
        cleanup_root(root)
