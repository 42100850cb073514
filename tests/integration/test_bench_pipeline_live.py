"""Issue 10's reproductions on real private daemons: the bench pipeline's gate counts the
daemon-side registry findings, a socket spelled with a doubled slash gets real 3.15/3.16
verdicts, and ``collect`` refuses a host a snapshot could not hold."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dockguard.collect import gather
from dockguard.collect.gather import CollectOptions, collect_snapshot
from dockguard.errors import OperationalError
from tests.integration.dockerd import PrivateDaemon, cleanup_root, env_for, start_daemon

DG = [sys.executable, "-m", "dockguard"]


def dockguard(daemon: PrivateDaemon, *args: str, docker_host: str | None = None) -> subprocess.CompletedProcess[str]:
    env = env_for(daemon)
    if docker_host is not None:
        env["DOCKER_HOST"] = docker_host
    return subprocess.run([*DG, *args], env=env, capture_output=True, text=True, timeout=180)


@pytest.fixture(scope="module")
def insecure(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateDaemon]:
    """The issue's daemon: ``--insecure-registry registry.invalid:5000``."""
    root = tmp_path_factory.mktemp("insecure")
    d = start_daemon(root, extra_args=("--insecure-registry", "registry.invalid:5000"))
    try:
        yield d
    finally:
        d.stop()
        cleanup_root(root)


def _report(proc: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(proc.stdout)
    return data


def _registry_findings(proc: subprocess.CompletedProcess[str]) -> dict[str, str]:
    return {f["obj"]: f["severity"] for f in _report(proc)["findings"]
            if f["id"] == "registry.daemon-insecure-registry" and not f["suppressed"]}


def test_fail_on_counts_the_daemons_insecure_registry(insecure: PrivateDaemon) -> None:
    """issue 10: ``bench --fail-on`` exited 0 with an unsuppressed finding at the threshold in
    its own report.  A named registry is HIGH (a range wider than /16 is CRITICAL, below)."""
    plain = dockguard(insecure, "bench", "--format", "json")
    assert plain.returncode == 0, plain.stderr
    assert _registry_findings(plain) == {"daemon:insecure-registries:registry.invalid:5000": "HIGH"}
    gated = dockguard(insecure, "bench", "-c", "2.18", "--format", "json", "--fail-on", "HIGH")
    assert gated.returncode == 1, gated.stderr
    # -c 2.18 leaves one scored check, which passes: only the finding can trip the gate.
    assert [r["outcome"] for r in _report(gated)["results"]] == ["PASS"]
    assert "1 finding(s) at or above --fail-on HIGH" in gated.stderr, gated.stderr
    assert "internal error" not in gated.stderr
    log = Path(insecure.root) / "bench.log"
    logged = dockguard(insecure, "bench", "-c", "2.5", "-l", str(log), "--fail-on", "CRITICAL")
    assert logged.returncode == 0, logged.stderr
    assert "registry.daemon-insecure-registry" in log.read_text()
    assert json.loads((log.parent / "bench.log.json").read_text())["tests"][0]["results"][0]["id"] == "2.5"


def test_fail_on_critical_counts_a_critical_registry_finding(tmp_path_factory: pytest.TempPathFactory) -> None:
    root = tmp_path_factory.mktemp("insecure-wide")
    d = start_daemon(root, extra_args=("--insecure-registry", "registry.invalid:5000",
                                       "--insecure-registry", "10.0.0.0/8"))
    try:
        plain = dockguard(d, "bench", "-c", "2.5", "--format", "json")
        assert plain.returncode == 0, plain.stderr
        assert _registry_findings(plain) == {"daemon:insecure-registries:registry.invalid:5000": "HIGH",
                                             "daemon:insecure-registries:10.0.0.0/8": "CRITICAL"}
        gated = dockguard(d, "bench", "-c", "2.5", "--format", "json", "--fail-on", "CRITICAL")
        assert gated.returncode == 1, gated.stderr
        assert "1 finding(s) at or above --fail-on CRITICAL" in gated.stderr, gated.stderr
        assert _report(gated)["findings"] == _report(plain)["findings"]
    finally:
        d.stop()
        cleanup_root(root)


@pytest.fixture(scope="module")
def doubled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateDaemon]:
    root = tmp_path_factory.mktemp("doubled")
    d = start_daemon(root, unix_host=f"unix://{root}//docker.sock")
    try:
        yield d
    finally:
        d.stop()
        cleanup_root(root)


@pytest.mark.parametrize("spelling", ["normal", "doubled"])
def test_doubled_slash_socket_gets_real_verdicts(doubled: PrivateDaemon, spelling: str) -> None:
    """issue 10: with ``-H unix:///var/run//docker.sock`` 3.15/3.16 were N/A "not collected"."""
    host = doubled.url if spelling == "normal" else f"unix://{doubled.socket.parent}//docker.sock"
    proc = dockguard(doubled, "bench", "-c", "3.15,3.16", "--format", "json", docker_host=host)
    assert proc.returncode == 0, proc.stderr
    results = {r["id"]: r for r in _report(proc)["results"]}
    for cid in ("3.15", "3.16"):
        r = results[cid]
        assert r["outcome"] in ("PASS", "WARN"), (cid, r["reason"])
        assert [d["obj"] for d in r["details"]] == [f"file:{doubled.socket}"], r
    assert results["3.16"]["outcome"] == "PASS"  # dockerd makes its socket 0660


def test_collect_refuses_more_containers_than_a_snapshot_holds(
    dockerd: PrivateDaemon, busybox_image: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = dockerd.api
    made = [api.create_container(busybox_image, ["true"], name=f"dg-cap-{i}") for i in range(2)]
    try:
        monkeypatch.setattr(gather, "MAX_CONTAINERS", 1)
        with pytest.raises(OperationalError, match=r"a snapshot holds at most 1 \(`bench --snapshot`"):
            collect_snapshot(CollectOptions(docker_host=dockerd.url, for_snapshot_file=True, probe_endpoints=False))
        # A live bench is not a snapshot: it evaluates them all.
        snap = collect_snapshot(CollectOptions(docker_host=dockerd.url, probe_endpoints=False))
        assert snap.containers is not None and len(snap.containers) >= 2
    finally:
        for c in made:
            api.remove_container(c, force=True)


def test_collect_writes_schema_2_that_bench_reads(dockerd: PrivateDaemon, busybox_image: str, tmp_path: Path) -> None:
    api = dockerd.api
    c = api.create_container(busybox_image, ["sleep", "60"], name="dg-unconfined",
                             host_config=api.create_host_config(security_opt=["seccomp=unconfined"]))
    api.start(c)
    try:
        out = tmp_path / "snap.json"
        proc = dockguard(dockerd, "collect", "-o", str(out))
        assert proc.returncode == 0, proc.stderr
        doc = json.loads(out.read_text())
        assert doc["schema_version"] == 2 and "extras" not in doc
        mine = next(x for x in doc["containers"] if x["name"] == "dg-unconfined")
        assert mine["seccomp"]["kind"] == "unconfined"
        assert doc["host"]["docker_sockets"] == [str(dockerd.socket)]
        bench = dockguard(dockerd, "bench", "--snapshot", str(out), "-c", "5.22", "--format", "json")
        assert bench.returncode == 0, bench.stderr
        r522 = _report(bench)["results"][0]
        assert {"obj": "container:dg-unconfined", "outcome": "WARN"}.items() <= next(
            d for d in r522["details"] if d["obj"] == "container:dg-unconfined").items()
    finally:
        api.remove_container(c, force=True)
