"""CIS section 3: ownership and permissions of Docker daemon files."""

from __future__ import annotations

import posixpath
from typing import Any

import pytest

from dockguard.checks import daemon_files
from dockguard.engine import Context
from dockguard.model import Outcome
from dockguard.snapshot import FileFact, FileKind, GroupFact, HostFacts
from tests.unit.factories_123 import (
    absent,
    config,
    ctx,
    daemon,
    files,
    present,
    run,
    snap,
)

UNIT = "/lib/systemd/system/docker.service"
SOCKET_UNIT = "/usr/lib/systemd/system/docker.socket"
CERTS_D = "/etc/docker/certs.d"
CERT = "/etc/docker/certs.d/registry.example:5000/ca.crt"
TLS = {
    "tlscacert": "/etc/docker/tls/ca.pem",
    "tlscert": "/etc/docker/tls/server-cert.pem",
    "tlskey": "/etc/docker/tls/server-key.pem",
}
CONTAINERD_SOCK = "/run/containerd/containerd.sock"


def _world(path: str, fact: FileFact | None, **cfg_values: Any) -> Context:
    """Context with `fact` at `path` (None: absent) plus what the check needs to find it."""
    facts = files(fact if fact is not None else absent(path))
    unit_files: dict[str, str] = {}
    if fact is not None and path == UNIT:
        unit_files["docker.service"] = UNIT
    if fact is not None and path == SOCKET_UNIT:
        unit_files["docker.socket"] = SOCKET_UNIT
    if path.startswith(CERTS_D + "/"):
        if fact is None:
            facts = files(absent(CERTS_D))
        else:
            facts.update(
                files(
                    present(CERTS_D, kind=FileKind.DIR, mode=0o755),
                    present(posixpath.dirname(path), kind=FileKind.DIR, mode=0o755),
                )
            )
    h = HostFacts(
        files=facts,
        unit_files=unit_files,
        groups={"docker": GroupFact("docker", 998, ())},
        containerd_socket=CONTAINERD_SOCK,
    )
    return ctx(snap(host=h, daemon=daemon(config(cfg_values))))


def _tls(key: str) -> dict[str, str]:
    return {key: TLS[key]}


# id -> (path, kind, config values, owner group or allowed mode)
OWNERSHIP: dict[str, tuple[str, FileKind, dict[str, Any], str]] = {
    "3.1": (UNIT, FileKind.FILE, {}, "root"),
    "3.3": (SOCKET_UNIT, FileKind.FILE, {}, "root"),
    "3.5": ("/etc/docker", FileKind.DIR, {}, "root"),
    "3.7": (CERT, FileKind.FILE, {}, "root"),
    "3.9": (TLS["tlscacert"], FileKind.FILE, _tls("tlscacert"), "root"),
    "3.11": (TLS["tlscert"], FileKind.FILE, _tls("tlscert"), "root"),
    "3.13": (TLS["tlskey"], FileKind.FILE, _tls("tlskey"), "root"),
    "3.15": ("/var/run/docker.sock", FileKind.SOCKET, {}, "docker"),
    "3.17": ("/etc/docker/daemon.json", FileKind.FILE, {}, "root"),
    "3.19": ("/etc/default/docker", FileKind.FILE, {}, "root"),
    "3.22": ("/etc/sysconfig/docker", FileKind.FILE, {}, "root"),
    "3.23": (CONTAINERD_SOCK, FileKind.SOCKET, {}, "root"),
}
PERMISSIONS: dict[str, tuple[str, FileKind, dict[str, Any], int]] = {
    "3.2": (UNIT, FileKind.FILE, {}, 0o644),
    "3.4": (SOCKET_UNIT, FileKind.FILE, {}, 0o644),
    "3.6": ("/etc/docker", FileKind.DIR, {}, 0o755),
    "3.8": (CERT, FileKind.FILE, {}, 0o444),
    "3.10": (TLS["tlscacert"], FileKind.FILE, _tls("tlscacert"), 0o444),
    "3.12": (TLS["tlscert"], FileKind.FILE, _tls("tlscert"), 0o444),
    "3.14": (TLS["tlskey"], FileKind.FILE, _tls("tlskey"), 0o400),
    "3.16": ("/var/run/docker.sock", FileKind.SOCKET, {}, 0o660),
    "3.18": ("/etc/docker/daemon.json", FileKind.FILE, {}, 0o644),
    "3.20": ("/etc/default/docker", FileKind.FILE, {}, 0o644),
    "3.21": ("/etc/sysconfig/docker", FileKind.FILE, {}, 0o644),
    "3.24": (CONTAINERD_SOCK, FileKind.SOCKET, {}, 0o660),
}


def test_every_section3_check_is_covered() -> None:
    ids = {c.meta.id for c in daemon_files.CHECKS}
    assert ids == set(OWNERSHIP) | set(PERMISSIONS)
    assert len(ids) == 24


@pytest.mark.parametrize("cid", sorted(OWNERSHIP))
def test_ownership_pass(cid: str) -> None:
    path, kind, cfg, group = OWNERSHIP[cid]
    gid = 998 if group == "docker" else 0
    r = run(cid, _world(path, present(path, kind=kind, gid=gid, group=group), **cfg))
    assert r.outcome is Outcome.PASS, r
    assert r.details[0].obj == f"file:{path}"


@pytest.mark.parametrize("cid", sorted(OWNERSHIP))
def test_ownership_fail_on_non_root_owner(cid: str) -> None:
    path, kind, cfg, group = OWNERSHIP[cid]
    fact = present(
        path, kind=kind, uid=1000, owner="alice", gid=998 if group == "docker" else 0, group=group
    )
    r = run(cid, _world(path, fact, **cfg))
    assert r.outcome is Outcome.WARN
    assert r.details[0].value == f"alice:{group}"
    assert f"expected root:{group}" in r.details[0].message


@pytest.mark.parametrize("cid", sorted(OWNERSHIP))
def test_ownership_fail_on_wrong_group(cid: str) -> None:
    path, kind, cfg, _ = OWNERSHIP[cid]
    fact = present(path, kind=kind, gid=1000, group="staff")
    r = run(cid, _world(path, fact, **cfg))
    assert r.outcome is Outcome.WARN
    assert r.details[0].value == "root:staff"


@pytest.mark.parametrize("cid", sorted(OWNERSHIP) + sorted(PERMISSIONS))
def test_absent_file_is_na_with_path_searched(cid: str) -> None:
    path, _, cfg, _ = {**OWNERSHIP, **PERMISSIONS}[cid]
    r = run(cid, _world(path, None, **cfg))
    assert r.outcome is Outcome.NA
    if cid in ("3.1", "3.2"):
        assert "/etc/systemd/system/docker.service" in r.reason
    elif cid in ("3.3", "3.4"):
        assert "/usr/lib/systemd/system/docker.socket" in r.reason
    elif cid in ("3.7", "3.8"):
        assert "/etc/docker/certs.d" in r.reason
    else:
        assert path in r.reason


@pytest.mark.parametrize("cid", sorted(PERMISSIONS))
def test_permissions_pass_at_limit_and_stricter(cid: str) -> None:
    path, kind, cfg, allowed = PERMISSIONS[cid]
    for mode in (allowed, allowed & 0o600):
        r = run(cid, _world(path, present(path, kind=kind, mode=mode), **cfg))
        assert r.outcome is Outcome.PASS, (oct(mode), r)
        assert r.details[0].message == f"mode {mode:04o}"


@pytest.mark.parametrize("cid", sorted(PERMISSIONS))
def test_permissions_fail_when_other_can_write(cid: str) -> None:
    path, kind, cfg, allowed = PERMISSIONS[cid]
    mode = allowed | 0o002
    r = run(cid, _world(path, present(path, kind=kind, mode=mode), **cfg))
    assert r.outcome is Outcome.WARN
    assert r.details[0].value == f"{mode:04o}"


@pytest.mark.parametrize("cid", ["3.2", "3.4", "3.18", "3.20", "3.21"])
def test_622_is_not_644_or_more_restrictive(cid: str) -> None:
    # docker-bench compares "622" <= "644" as numbers and passes this; group and others can
    # write, so it must fail.
    path, kind, cfg, _ = PERMISSIONS[cid]
    r = run(cid, _world(path, present(path, kind=kind, mode=0o622), **cfg))
    assert r.outcome is Outcome.WARN
    assert "grants 0022" in r.details[0].message


def test_600_is_stricter_than_644_although_digits_differ() -> None:
    r = run(
        "3.18", _world("/etc/docker/daemon.json", present("/etc/docker/daemon.json", mode=0o600))
    )
    assert r.outcome is Outcome.PASS


def test_setuid_bit_fails_755_directory() -> None:
    r = run("3.6", _world("/etc/docker", present("/etc/docker", kind=FileKind.DIR, mode=0o2755)))
    assert r.outcome is Outcome.WARN


def test_server_key_440_is_not_400() -> None:
    path = TLS["tlskey"]
    r = run("3.14", _world(path, present(path, mode=0o440), **_tls("tlskey")))
    assert r.outcome is Outcome.WARN


def test_tls_files_na_when_tls_not_configured() -> None:
    r = run("3.9", _world(TLS["tlscacert"], present(TLS["tlscacert"])))
    assert r.outcome is Outcome.NA
    assert "tlscacert unset" in r.reason


def test_tls_files_default_path_when_tls_on_without_file() -> None:
    key = "/root/.docker/key.pem"
    r = run("3.14", _world(key, present(key, mode=0o644), tlsverify=True))
    assert r.outcome is Outcome.WARN
    assert r.details[0].obj == f"file:{key}"
    r = run("3.14", ctx(snap(host=HostFacts(), daemon=daemon(config({"tls": True})))))
    assert r.outcome is Outcome.NA
    assert "/root/.docker/key.pem was not collected" in r.reason


def test_file_not_collected_is_na() -> None:
    c = ctx(snap(host=HostFacts(), daemon=daemon()))
    r = run("3.5", c)
    assert r.outcome is Outcome.NA
    assert "/etc/docker was not collected" in r.reason


def test_no_host_facts_is_na() -> None:
    r = run("3.6", ctx(snap(host=None, daemon=daemon())))
    assert r.outcome is Outcome.NA
    assert "host facts not collected" in r.reason


def test_stat_error_is_error_not_pass() -> None:
    fact = FileFact("/etc/docker", False, error="Permission denied")
    c = ctx(snap(host=HostFacts(files=files(fact)), daemon=daemon()))
    r = run("3.5", c)
    assert r.outcome is Outcome.ERROR
    assert "Permission denied" in r.reason


def _certs_world(*facts: FileFact) -> Context:
    base = [
        present("/etc/docker/certs.d", kind=FileKind.DIR, mode=0o755),
        present("/etc/docker/certs.d/reg:5000", kind=FileKind.DIR, mode=0o755),
    ]
    return ctx(snap(host=HostFacts(files=files(*base, *facts)), daemon=daemon()))


def test_registry_client_key_must_be_400() -> None:
    crt = present("/etc/docker/certs.d/reg:5000/client.cert", mode=0o444)
    key_ok = present("/etc/docker/certs.d/reg:5000/client.key", mode=0o400)
    assert run("3.8", _certs_world(crt, key_ok)).outcome is Outcome.PASS
    key_bad = present("/etc/docker/certs.d/reg:5000/client.key", mode=0o444)
    r = run("3.8", _certs_world(crt, key_bad))
    assert r.outcome is Outcome.WARN
    warned = [d.obj for d in r.details if d.outcome is Outcome.WARN]
    assert warned == ["file:/etc/docker/certs.d/reg:5000/client.key"]


def test_registry_certs_every_file_checked_and_others_ignored() -> None:
    good = present("/etc/docker/certs.d/reg:5000/ca.crt", mode=0o444)
    bad = present("/etc/docker/certs.d/reg:5000/other.crt", mode=0o644)
    readme = present("/etc/docker/certs.d/reg:5000/README", mode=0o666)
    too_deep = present("/etc/docker/certs.d/reg:5000/old/x.crt", mode=0o666)
    r = run("3.8", _certs_world(good, bad, readme, too_deep))
    assert r.outcome is Outcome.WARN
    assert {d.obj for d in r.details} == {f"file:{good.path}", f"file:{bad.path}"}
    r7 = run("3.7", _certs_world(good, bad, readme))
    assert r7.outcome is Outcome.PASS
    assert len(r7.details) == 2


def test_registry_certs_dir_without_certs_is_na() -> None:
    r = run("3.7", _certs_world())
    assert r.outcome is Outcome.NA
    assert "/etc/docker/certs.d/*/" in r.reason


def test_socket_root_root_is_stricter_than_root_docker() -> None:
    sock = "/var/run/docker.sock"
    r = run("3.15", _world(sock, present(sock, kind=FileKind.SOCKET, mode=0o660)))
    assert r.outcome is Outcome.PASS
    assert "stricter than root:docker" in r.details[0].message


def test_socket_group_matched_by_gid_when_name_unknown() -> None:
    sock = "/var/run/docker.sock"
    fact = present(sock, kind=FileKind.SOCKET, gid=998, group=None)
    assert run("3.15", _world(sock, fact)).outcome is Outcome.PASS


def _socket_ctx(hosts: list[str], listen: tuple[str, ...], *facts: FileFact) -> Context:
    h = HostFacts(
        files=files(*facts),
        docker_socket_listen=listen,
        groups={"docker": GroupFact("docker", 998)},
    )
    return ctx(snap(host=h, daemon=daemon(config({"hosts": hosts}, source="flag"))))


def test_socket_at_non_default_path_from_hosts() -> None:
    custom = present("/run/custom/docker.sock", kind=FileKind.SOCKET, mode=0o666, gid=998, group="docker")
    default = present("/var/run/docker.sock", kind=FileKind.SOCKET, mode=0o660)
    c = _socket_ctx(["unix:///run/custom/docker.sock", "tcp://127.0.0.1:2376"], (), custom, default)
    r = run("3.16", c)
    assert r.outcome is Outcome.WARN
    assert [d.obj for d in r.details] == ["file:/run/custom/docker.sock"]


def test_socket_from_systemd_activation() -> None:
    sock = present("/run/docker.sock", kind=FileKind.SOCKET, mode=0o660, gid=998, group="docker")
    c = _socket_ctx(["fd://"], ("/run/docker.sock", "2375"), sock)
    r = run("3.16", c)
    assert r.outcome is Outcome.PASS
    assert r.details[0].obj == "file:/run/docker.sock"


def test_daemon_json_at_custom_config_file() -> None:
    path = "/srv/docker/daemon.json"
    h = HostFacts(files=files(present(path, mode=0o664)))
    c = ctx(snap(host=h, daemon=daemon(config({}, config_file=path))))
    r = run("3.18", c)
    assert r.outcome is Outcome.WARN
    assert r.details[0].obj == f"file:{path}"
