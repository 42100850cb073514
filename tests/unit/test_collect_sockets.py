"""The daemon's sockets and TCP listeners, worked out once by the collector and read by
3.15/3.16, 2.7, 5.32 and the endpoint-probe collector."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from dockguard.checks.catalogue import catalogue
from dockguard.collect.daemon_config import daemon_endpoints, merge, normalise_socket_path
from dockguard.collect.endpoint_probes import tcp_targets
from dockguard.collect.host_facts import collect_host
from dockguard.engine import Context, run_check
from dockguard.model import CheckResult, Outcome
from dockguard.snapshot import ConfigSource, DaemonFacts, HostFacts, Snapshot, TcpListener

CHECKS = {c.meta.id: c for c in catalogue()}


@pytest.mark.parametrize(
    ("path", "normal"),
    [
        ("/var/run//docker.sock", "/var/run/docker.sock"),
        ("//var/run/docker.sock", "/var/run/docker.sock"),
        ("/run/docker.sock/", "/run/docker.sock"),
        ("/run/./docker.sock", "/run/docker.sock"),
        ("/run/docker.sock", "/run/docker.sock"),
    ],
)
def test_socket_paths_are_normalised(path: str, normal: str) -> None:
    assert normalise_socket_path(path) == normal


@pytest.mark.parametrize(
    ("hosts", "listen", "sockets", "listeners"),
    [
        (None, (), ("/var/run/docker.sock",), ()),
        (["unix:///var/run//docker.sock"], (), ("/var/run/docker.sock",), ()),
        (["unix://"], (), ("/var/run/docker.sock",), ()),
        (["fd://"], ("/run/docker.sock",), ("/run/docker.sock",), ()),
        (["fd://"], (), ("/var/run/docker.sock",), ()),
        (["fd://"], ("/run/docker.sock", "0.0.0.0:2375", "2376"), ("/run/docker.sock",),
         ("tcp://0.0.0.0:2375", "tcp://2376")),
        # docker.socket belongs to another daemon when this one is not socket-activated.
        (["unix:///srv/api.sock"], ("/run/docker.sock", "2375"), ("/srv/api.sock",), ()),
        (["tcp://127.0.0.1:2376", "10.0.0.1:2375", "npipe:////./pipe/docker"], (), (),
         ("tcp://127.0.0.1:2376", "tcp://10.0.0.1:2375")),
        ("unix:///run/one.sock", (), ("/run/one.sock",), ()),
    ],
)
def test_daemon_endpoints(
    hosts: list[str] | str | None, listen: tuple[str, ...], sockets: tuple[str, ...], listeners: tuple[str, ...]
) -> None:
    config = merge({"hosts": hosts} if hosts is not None else {}, None, None)
    found_sockets, found_listeners = daemon_endpoints(config, listen)
    assert found_sockets == sockets
    assert tuple(ls.address for ls in found_listeners) == listeners
    for ls in found_listeners:
        assert ls.source is (ConfigSource.SOCKET_UNIT if ls.address in ("tcp://0.0.0.0:2375", "tcp://2376")
                             else ConfigSource.FLAG)


def test_probe_targets_come_from_the_collected_listeners() -> None:
    host = HostFacts(docker_tcp_listeners=(
        TcpListener("tcp://0.0.0.0:2375", ConfigSource.SOCKET_UNIT),
        TcpListener("tcp://2376", ConfigSource.SOCKET_UNIT),
        TcpListener("tcp://[::]:2377", ConfigSource.FLAG),
        TcpListener("tcp://10.0.0.1", ConfigSource.FLAG),  # no port: nothing to probe
    ))
    assert tcp_targets("tcp://h:2376", host) == [
        "tcp://h:2376", "tcp://127.0.0.1:2375", "tcp://127.0.0.1:2376", "tcp://[::1]:2377"]
    assert tcp_targets("unix:///var/run/docker.sock", None) == []


@contextmanager
def _socket_file(path: Path, mode: int) -> Iterator[None]:
    """A real unix socket at `path` (bound, not listening) with `mode`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.bind(str(path))
        os.chmod(path, mode)
        yield


def _host_root(root: Path, exec_start: str, listen: str | None = None) -> None:
    units = root / "lib" / "systemd" / "system"
    units.mkdir(parents=True)
    (units / "docker.service").write_text(f"[Service]\nExecStart={exec_start}\n")
    if listen is not None:
        (units / "docker.socket").write_text(f"[Socket]\nListenStream={listen}\nSocketGroup=docker\n")
    (root / "etc").mkdir()
    (root / "etc" / "group").write_text("root:x:0:\ndocker:x:999:\n")
    (root / "etc" / "passwd").write_text("root:x:0:0::/root:/bin/sh\n")
    (root / "var").mkdir()
    (root / "var" / "run").symlink_to("../run")


def _socket_results(root: Path) -> dict[str, CheckResult]:
    hc = collect_host(str(root))
    snap = Snapshot(host=hc.facts, daemon=DaemonFacts(config=hc.config))
    ctx = Context(snap)
    return {cid: run_check(CHECKS[cid], ctx) for cid in ("3.15", "3.16", "2.7", "5.32")}


def test_fd_with_a_docker_socket_unit_gives_real_verdicts(tmp_path: Path) -> None:
    _host_root(tmp_path, "/usr/bin/dockerd -H fd:// --containerd=/run/containerd/containerd.sock",
               listen="/run/docker.sock")
    with _socket_file(tmp_path / "run" / "docker.sock", 0o660):
        hc = collect_host(str(tmp_path))
        assert hc.facts.docker_sockets == ("/run/docker.sock",)
        assert hc.facts.files["/run/docker.sock"].kind == "socket"
        results = _socket_results(tmp_path)
    assert results["3.15"].outcome is Outcome.PASS  # root:root is stricter than root:docker
    assert results["3.16"].outcome is Outcome.PASS
    assert [d.obj for d in results["3.16"].details] == ["file:/run/docker.sock"]
    assert results["2.7"].outcome is Outcome.PASS and results["2.7"].reason == "daemon does not listen on TCP"


def test_doubled_slash_socket_gives_real_verdicts(tmp_path: Path) -> None:
    _host_root(tmp_path, "/usr/bin/dockerd -H unix:///var/run//docker.sock -H tcp://0.0.0.0:2375")
    with _socket_file(tmp_path / "run" / "docker.sock", 0o666):
        hc = collect_host(str(tmp_path))
        assert hc.facts.docker_sockets == ("/var/run/docker.sock",)
        assert hc.facts.files["/var/run/docker.sock"].exists
        results = _socket_results(tmp_path)
    assert results["3.15"].outcome is Outcome.PASS
    assert results["3.16"].outcome is Outcome.WARN
    assert results["3.16"].details[0].message == "mode 0666 grants 0006 beyond 0660"
    assert results["2.7"].outcome is Outcome.WARN
    assert results["2.7"].details[0].obj == "endpoint:tcp://0.0.0.0:2375"
    assert "docker.service ExecStart" in results["2.7"].details[0].message


def test_socket_not_there_is_na_with_the_path(tmp_path: Path) -> None:
    _host_root(tmp_path, "/usr/bin/dockerd -H fd://", listen="/run/docker.sock/")
    results = _socket_results(tmp_path)
    assert results["3.15"].outcome is Outcome.NA
    assert "/run/docker.sock" in results["3.15"].reason and "not collected" not in results["3.15"].reason


def test_remote_daemon_sockets_are_not_collected() -> None:
    r = run_check(CHECKS["3.15"], Context(Snapshot(daemon=DaemonFacts())))
    assert r.outcome is Outcome.NA and "host facts not collected" in r.reason
