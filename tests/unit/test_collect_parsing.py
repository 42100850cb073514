"""Parsing the dockerd command line, unit files and host files under a host root."""

from __future__ import annotations

import os
from pathlib import Path

from dockguard.collect.daemon_config import exec_start_args, listen_streams, merge, parse_flags
from dockguard.collect.docker_api import container_facts
from dockguard.collect.host_facts import collect_host, swarm_listen_addresses
from dockguard.collect.hostfs import HostFS


def test_flags_like_pflag() -> None:
    values, left = parse_flags(
        [
            "-H",
            "fd://",
            "--host=tcp://0.0.0.0:2376",
            "--icc=false",
            "--tlsverify",
            "--tls=false",
            "-l",
            "debug",
            "--userns-remap",
            "default",
            "--default-ulimit",
            "nofile=100:200",
            "--storage-opt",
            "dm.basesize=20G",
            "--authorization-plugin=authz",
            "-D",
            "--live-restore",
            "--insecure-registry",
            "10.0.0.0/8",
            "--log-opt",
            "max-size=10m",
        ]
    )
    assert values["hosts"] == ["fd://", "tcp://0.0.0.0:2376"]
    assert values["icc"] is False and values["tlsverify"] is True and values["tls"] is False
    assert values["log-level"] == "debug" and values["userns-remap"] == "default"
    assert values["default-ulimits"] == {"nofile": "100:200"}
    assert values["storage-opts"] == ["dm.basesize=20G"]
    assert values["authorization-plugins"] == ["authz"]
    assert values["debug"] is True and values["live-restore"] is True
    assert values["insecure-registries"] == ["10.0.0.0/8"]
    assert values["log-opts"] == {"max-size": "10m"}
    assert left == []


def test_short_flag_with_attached_value_and_bool_space_value() -> None:
    values, left = parse_flags(["-Hunix:///x.sock", "--icc", "false"])
    assert values["hosts"] == ["unix:///x.sock"]
    # pflag: a bool flag takes a value only with '=', so "false" is a stray argument
    assert values["icc"] is True and left == ["false"]


def test_merge_provenance() -> None:
    cfg = merge(
        {"hosts": ["fd://"], "icc": False},
        {"hosts": ("tcp://1.2.3.4:2376",), "log-level": "info"},
        "/etc/docker/daemon.json",
    )
    assert cfg.get("hosts") == ("tcp://1.2.3.4:2376", "fd://")
    assert cfg.source("hosts") == "flag+file"
    assert cfg.source("icc") == "flag" and cfg.source("log-level") == "file"
    assert cfg.get("tlsverify") is None and cfg.source("tlsverify") is None


def test_unit_parsing() -> None:
    unit = (
        "[Service]\nExecStart=\n"
        "ExecStart=/usr/bin/dockerd -H fd:// \\\n  --containerd=/run/containerd/containerd.sock\n"
    )
    assert exec_start_args(unit) == ["-H", "fd://", "--containerd=/run/containerd/containerd.sock"]
    assert listen_streams("[Socket]\nListenStream=/run/docker.sock\nListenStream=2375\n") == [
        "/run/docker.sock",
        "2375",
    ]


def test_hostfs_resolves_absolute_symlinks_inside_root(tmp_path: Path) -> None:
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "docker.sock").write_text("")
    (tmp_path / "var").mkdir()
    os.symlink("/run", tmp_path / "var" / "run")
    os.symlink("../../../../../etc/shadow", tmp_path / "escape")
    fs = HostFS(str(tmp_path))
    assert fs.real("/var/run/docker.sock") == str(tmp_path / "run" / "docker.sock")
    assert fs.stat("/var/run/docker.sock").exists
    # '..' cannot climb above the host root
    assert fs.real("/escape") == str(tmp_path / "etc" / "shadow")
    assert fs.host_realpath("/var/run/docker.sock") == "/run/docker.sock"


def test_collect_host_under_a_root(tmp_path: Path) -> None:
    etc = tmp_path / "etc"
    (etc / "docker" / "certs.d" / "reg:5000").mkdir(parents=True)
    (etc / "docker" / "certs.d" / "reg:5000" / "client.key").write_text("k")
    os.chmod(etc / "docker" / "certs.d" / "reg:5000" / "client.key", 0o644)
    (etc / "docker" / "daemon.json").write_text('{"icc": false, "hosts": ["unix:///run/d.sock"]}')
    (etc / "group").write_text("root:x:0:\ndocker:x:999:alice\n")
    (etc / "passwd").write_text("root:x:0:0::/root:/bin/sh\nbob:x:1001:999::/home/bob:/bin/sh\n")
    (etc / "audit" / "rules.d").mkdir(parents=True)
    (etc / "audit" / "rules.d" / "docker.rules").write_text("# c\n-w /usr/bin/dockerd -k docker\n")
    (tmp_path / "lib" / "systemd" / "system").mkdir(parents=True)
    (tmp_path / "lib" / "systemd" / "system" / "docker.service").write_text(
        "[Service]\nExecStart=/usr/bin/dockerd -H fd:// --tlsverify\n"
    )
    res = collect_host(str(tmp_path))
    f = res.facts
    assert f.unit_files == {"docker.service": "/lib/systemd/system/docker.service"}
    assert res.config is not None and res.config.get("icc") is False
    assert res.config.get("tlsverify") is True and res.config.source("tlsverify") == "unit"
    key = f.files["/etc/docker/certs.d/reg:5000/client.key"]
    assert key.exists and key.mode == 0o644
    assert "/run/d.sock" in f.files and not f.files["/run/d.sock"].exists
    assert f.groups is not None and f.groups["docker"].members == ("alice",)
    assert f.users is not None and f.users["bob"].gid == 999
    assert f.audit is not None and f.audit.rules == ("-w /usr/bin/dockerd -k docker",)
    assert f.files["/etc/sysconfig/docker"].exists is False
    assert any("no running dockerd" in e.message for e in res.errors)


def test_container_facts_ports_from_port_bindings_and_runtime() -> None:
    inspect = {
        "Id": "x",
        "Name": "/web",
        "State": {"Running": True, "Status": "running", "Health": {"Status": "healthy"}},
        "Config": {"User": "", "Image": "app", "Healthcheck": {"Test": ["CMD", "true"]}},
        "HostConfig": {
            "PortBindings": {
                "80/tcp": [{"HostIp": "", "HostPort": ""}],
                "53/udp": [{"HostIp": "127.0.0.1", "HostPort": "53"}],
            },
            "PidsLimit": None,
        },
        "NetworkSettings": {"Ports": {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "49153"}], "8080/tcp": None}},
    }
    c = container_facts(inspect)
    ports = sorted((p.container_port, p.protocol, p.host_ip, p.host_port) for p in c.ports)
    assert ports == [("53", "udp", "127.0.0.1", 53), ("80", "tcp", "0.0.0.0", 49153)]
    assert c.name == "web" and c.health_status == "healthy" and c.healthcheck == ("CMD", "true")


def test_swarm_listen_addresses_parse_proc_net(tmp_path: Path) -> None:
    (tmp_path / "proc" / "net").mkdir(parents=True)
    (tmp_path / "proc" / "net" / "tcp").write_text(
        "  sl  local_address rem_address   st\n"
        "   0: 00000000:0949 00000000:0000 0A 0\n"
        "   1: 0100007F:0016 00000000:0000 0A 0\n"
    )
    (tmp_path / "proc" / "net" / "tcp6").write_text("  sl  local_address\n")
    assert swarm_listen_addresses(str(tmp_path)) == ["0.0.0.0"]
