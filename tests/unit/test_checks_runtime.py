"""Unit tests for CIS section 5 (container runtime)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from dockguard.checks.container_runtime import CHECKS, extra_capabilities, sensitive_source
from dockguard.model import Outcome
from dockguard.seccomp.container import classify_setting
from dockguard.snapshot import (
    DeviceMapping,
    HostFacts,
    MountPoint,
    NetworkFacts,
    PortBinding,
    ProcessFact,
    SeccompKind,
    SeccompSetting,
)

from .factories_4567 import (
    DEFAULT_SECCOMP,
    active_swarm,
    config,
    container,
    daemon,
    objs,
    run,
    snapshot,
)

MANUAL = {"5.9", "5.18", "5.19", "5.24", "5.28", "5.30"}


def test_section_5_declares_32_checks_with_metadata() -> None:
    ids = [c.meta.id for c in CHECKS]
    assert ids == [f"5.{i}" for i in range(1, 33)]
    assert {c.meta.id for c in CHECKS if not c.meta.automated} == MANUAL
    assert {c.meta.id for c in CHECKS if c.meta.level == 2} == {"5.3", "5.23", "5.24", "5.30"}
    for c in CHECKS:
        assert c.meta.title and c.meta.remediation and c.meta.references
    # 5.23 is "(Automated)" in CIS 1.6.0 but needs the exec audit log: not scored.
    c523 = next(c for c in CHECKS if c.meta.id == "5.23")
    assert c523.meta.cis_title.endswith("(Automated)") and not c523.meta.scored


# ---------------------------------------------------------------- simple per-container checks

# check id -> (field overrides that fail, field overrides that pass)
SIMPLE: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "5.5": ({"privileged": True}, {"privileged": False}),
    "5.10": ({"network_mode": "host"}, {"network_mode": "appnet"}),
    "5.11": ({"memory": 0}, {"memory": 64 * 1024 * 1024}),
    "5.12": ({"cpu_shares": 0, "nano_cpus": 0, "cpu_quota": 0}, {"cpu_shares": 512}),
    "5.13": ({"readonly_rootfs": False}, {"readonly_rootfs": True}),
    "5.16": ({"pid_mode": "host"}, {"pid_mode": ""}),
    "5.17": ({"ipc_mode": "host"}, {"ipc_mode": "private"}),
    "5.21": ({"uts_mode": "host"}, {"uts_mode": ""}),
    "5.25": ({"cgroup_parent": "/custom"}, {"cgroup_parent": ""}),
    "5.27": ({"health_status": None}, {"health_status": "starting"}),
    "5.29": ({"pids_limit": None}, {"pids_limit": 200}),
    "5.31": ({"userns_mode": "host"}, {"userns_mode": ""}),
}


@pytest.mark.parametrize("cid", sorted(SIMPLE))
def test_simple_container_checks(cid: str) -> None:
    failing, passing = SIMPLE[cid]
    ok = run(cid, snapshot(containers=(container("a", **passing),)))
    assert ok.outcome is Outcome.PASS, ok
    bad = run(cid, snapshot(containers=(container("a", **passing), container("b", **failing))))
    assert bad.outcome is Outcome.WARN, bad
    assert objs(bad, Outcome.WARN) == ["container:b"]
    assert objs(bad, Outcome.PASS) == ["container:a"]
    if cid != "5.5":
        # A stopped container with the problem is not looked at, like docker-bench.
        na = run(cid, snapshot(containers=(container("b", running=False, **failing),)))
        assert na.outcome is Outcome.NA and na.reason == "no running containers"
    na = run(cid, snapshot(containers=(container("b", running=False, **passing),)))
    assert na.outcome is Outcome.NA and na.reason == "no running containers"
    assert run(cid, snapshot(containers=None)).outcome is Outcome.NA


@pytest.mark.parametrize(("cid", "fields"), [("5.5", {"privileged": True}), ("5.4", {"cap_add": ("SYS_ADMIN",)})])
def test_privilege_checks_list_created_containers(cid: str, fields: dict[str, Any]) -> None:
    created = container("later", running=False, status="created", **fields)
    stopped_ok = container("old", running=False, status="exited")
    res = run(cid, snapshot(containers=(container("a"), created, stopped_ok)))
    assert res.outcome is Outcome.WARN
    assert objs(res, Outcome.WARN) == ["container:later"]
    assert res.details[0].message.endswith("(not running)")
    assert objs(res, Outcome.PASS) == ["container:a"]  # stopped harmless ones stay out


@pytest.mark.parametrize("limit", [0, -1, -5])
def test_5_29_unlimited_values(limit: int) -> None:
    assert run("5.29", snapshot(containers=(container(pids_limit=limit),))).outcome is (Outcome.WARN)


def test_5_12_any_cpu_control_counts_and_1024_is_default() -> None:
    default: dict[str, Any] = {"cpu_shares": 1024, "nano_cpus": 0, "cpu_quota": 0}
    assert run("5.12", snapshot(containers=(container(**default),))).outcome is Outcome.WARN
    for extra in ({"nano_cpus": 500_000_000}, {"cpu_quota": 50_000}):
        snap = snapshot(containers=(container(**{**default, **extra}),))
        assert run("5.12", snap).outcome is Outcome.PASS


# ---------------------------------------------------------------- 5.1


def test_5_1_swarm() -> None:
    assert run("5.1", snapshot()).outcome is Outcome.PASS
    res = run("5.1", snapshot(dmn=daemon(swarm_facts=active_swarm())))
    assert res.outcome is Outcome.WARN and "active" in res.details[0].message
    assert run("5.1", snapshot(no_daemon=True)).outcome is Outcome.NA


# ---------------------------------------------------------------- 5.2 AppArmor


def test_5_2_apparmor() -> None:
    ok = run("5.2", snapshot(containers=(container(),)))
    assert ok.outcome is Outcome.PASS
    bad = run(
        "5.2",
        snapshot(
            containers=(
                container("a"),
                container("b", apparmor_profile=""),
                container("c", apparmor_profile="unconfined"),
            )
        ),
    )
    assert bad.outcome is Outcome.WARN
    assert objs(bad, Outcome.WARN) == ["container:b", "container:c"]
    no_aa = run(
        "5.2",
        snapshot(host=HostFacts(apparmor_enabled=False), containers=(container(apparmor_profile=""),)),
    )
    assert no_aa.outcome is Outcome.NA and no_aa.reason == "host has no AppArmor"
    unknown = run("5.2", snapshot(host=HostFacts(apparmor_enabled=None), containers=(container(),)))
    assert unknown.outcome is Outcome.NA
    assert run("5.2", snapshot(containers=())).outcome is Outcome.NA


# ---------------------------------------------------------------- 5.3 SELinux


def test_5_3_selinux() -> None:
    se = daemon(security_options=("name=seccomp,profile=default", "name=selinux"))
    ok = run("5.3", snapshot(dmn=se, containers=(container(security_opt=("label=level:s0:c100",)),)))
    assert ok.outcome is Outcome.PASS
    bad = run(
        "5.3",
        snapshot(
            dmn=se,
            containers=(
                container("plain", security_opt=("no-new-privileges",)),
                # Docker adds label=disable itself for --pid=host: that is not "set".
                container("hostpid", pid_mode="host", security_opt=("label=disable",)),
                container("legacy", security_opt=("label:type:svirt_apache_t",)),
            ),
        ),
    )
    assert bad.outcome is Outcome.WARN
    assert objs(bad, Outcome.WARN) == ["container:plain", "container:hostpid"]
    na = run("5.3", snapshot(containers=(container(),)))
    assert na.outcome is Outcome.NA and "SELinux" in na.reason


# ---------------------------------------------------------------- 5.4 capabilities


@pytest.mark.parametrize(
    ("add", "drop", "privileged", "expected"),
    [
        ((), (), False, []),
        (("CHOWN", "CAP_NET_RAW"), (), False, []),
        (("NET_ADMIN",), (), False, ["NET_ADMIN"]),
        (("cap_sys_admin", "CAP_NET_ADMIN"), ("ALL",), False, ["NET_ADMIN", "SYS_ADMIN"]),
        # moby adds CapAdd after dropping, so dropping the same capability does not undo it.
        (("SYS_PTRACE",), ("SYS_PTRACE",), False, ["SYS_PTRACE"]),
        (("ALL",), (), False, ["ALL"]),
        (("ALL",), ("SYS_ADMIN", "NET_ADMIN"), False, ["ALL except NET_ADMIN, SYS_ADMIN"]),
        ((), ("ALL",), True, ["ALL (privileged)"]),
    ],
)
def test_extra_capabilities(add: tuple[str, ...], drop: tuple[str, ...], privileged: bool, expected: list[str]) -> None:
    c = container(cap_add=add, cap_drop=drop, privileged=privileged)
    assert extra_capabilities(c) == expected


def test_5_4_outcomes() -> None:
    ok = run("5.4", snapshot(containers=(container(cap_add=("CHOWN",), cap_drop=("ALL",)),)))
    assert ok.outcome is Outcome.PASS
    bad = run("5.4", snapshot(containers=(container(cap_add=("SYS_ADMIN",)),)))
    assert bad.outcome is Outcome.WARN and "SYS_ADMIN" in bad.details[0].message
    assert run("5.4", snapshot(containers=())).outcome is Outcome.NA


# ---------------------------------------------------------------- 5.6 sensitive mounts


@pytest.mark.parametrize(
    ("source", "hit"),
    [
        ("/", "/"),
        ("/etc", "/etc"),
        ("/etc/", "/etc"),
        ("/etc/ssl/certs", "/etc"),
        ("/usr/local/bin", "/usr"),
        ("/proc", "/proc"),
        ("/dev/shm", "/dev"),
        ("/srv/data", None),
        ("/etcetera", None),
        ("/library", None),
        ("/home/u/etc", None),
    ],
)
def test_sensitive_source(source: str, hit: str | None) -> None:
    assert sensitive_source(MountPoint("bind", source, "/mnt")) == hit


def test_5_6_outcomes() -> None:
    harmless = MountPoint("bind", "/srv/conf", "/etc/app")  # destination /etc... is fine
    volume = MountPoint("volume", "/var/lib/docker/volumes/x/_data", "/data")
    ok = run("5.6", snapshot(containers=(container(mounts=(harmless, volume)),)))
    assert ok.outcome is Outcome.PASS
    ro = MountPoint("bind", "/etc", "/host/etc", rw=False)
    rw = MountPoint("bind", "/", "/host")
    bad = run("5.6", snapshot(containers=(container("ro", mounts=(ro,)), container("rw", mounts=(rw,)))))
    assert bad.outcome is Outcome.WARN
    msgs = {d.obj: d.message for d in bad.details}
    assert msgs["container:ro"] == "host /etc mounted at /host/etc (read-only)"
    assert msgs["container:rw"] == "host / mounted at /host"
    assert run("5.6", snapshot(containers=())).outcome is Outcome.NA


# ---------------------------------------------------------------- 5.7 sshd


def test_5_7_sshd() -> None:
    procs = (ProcessFact(pid=1, comm="sleep", cmdline=("sleep", "1000")),)
    ok = run("5.7", snapshot(containers=(container(processes=procs),)))
    assert ok.outcome is Outcome.PASS
    sshd_argv = (ProcessFact(pid=7, cmdline=("/usr/sbin/sshd -D",)),)
    sshd_comm = (ProcessFact(pid=9, comm="sshd"),)
    bad = run(
        "5.7",
        snapshot(
            containers=(
                container("a", processes=procs),
                container("b", processes=sshd_argv),
                container("c", processes=sshd_comm),
            )
        ),
    )
    assert bad.outcome is Outcome.WARN
    assert objs(bad, Outcome.WARN) == ["container:b", "container:c"]
    assert "pid 7" in bad.details[0].message
    # Process listing failed: never PASS.
    err = run(
        "5.7",
        snapshot(containers=(container("x", processes=None, processes_error="409 Conflict"),)),
    )
    assert err.outcome is Outcome.ERROR and "container:x" in err.reason
    assert "409 Conflict" in err.details[0].message
    assert run("5.7", snapshot(containers=())).outcome is Outcome.NA


# ---------------------------------------------------------------- ports 5.8 / 5.9 / 5.14


def test_5_8_privileged_ports() -> None:
    ports_ok = (
        PortBinding("80", host_ip="127.0.0.1", host_port=8080),
        PortBinding("443", host_port=1024),
        PortBinding("9000", host_port=None),
    )
    assert run("5.8", snapshot(containers=(container(ports=ports_ok),))).outcome is Outcome.PASS
    bad = run("5.8", snapshot(containers=(container(ports=(PortBinding("80", host_port=80),)),)))
    assert bad.outcome is Outcome.WARN and "80" in bad.details[0].message
    assert run("5.8", snapshot(containers=())).outcome is Outcome.NA


def test_5_9_lists_published_ports() -> None:
    ports = (
        PortBinding("80", host_ip="0.0.0.0", host_port=8080),
        PortBinding("80", host_ip="::", host_port=8080),
        PortBinding("53", protocol="udp", host_ip="10.0.0.2", host_port=5353),
        PortBinding("9000"),
    )
    res = run("5.9", snapshot(containers=(container(ports=ports),)))
    assert res.outcome is Outcome.INFO
    assert [d.value for d in res.details] == [
        "0.0.0.0:8080->80/tcp",
        "10.0.0.2:5353->53/udp",
        "[::]:8080->80/tcp",
    ]
    none = run("5.9", snapshot(containers=(container(),)))
    assert none.outcome is Outcome.NOTE
    assert run("5.9", snapshot(containers=())).outcome is Outcome.NA


@pytest.mark.parametrize("ip", ["", "0.0.0.0", "::"])
def test_5_14_wildcard_bindings(ip: str) -> None:
    c = container(ports=(PortBinding("80", host_ip=ip, host_port=8080),))
    assert run("5.14", snapshot(containers=(c,))).outcome is Outcome.WARN


def test_5_14_pass_and_na() -> None:
    c = container(ports=(PortBinding("80", host_ip="127.0.0.1", host_port=8080), PortBinding("81")))
    assert run("5.14", snapshot(containers=(c,))).outcome is Outcome.PASS
    assert run("5.14", snapshot(containers=())).outcome is Outcome.NA


# ---------------------------------------------------------------- 5.15 restart policy


def test_5_15_restart_policy() -> None:
    ok = run("5.15", snapshot(containers=(container(), container("b", restart_policy="no"))))
    assert ok.outcome is Outcome.PASS
    bad = run(
        "5.15",
        snapshot(
            containers=(
                container("many", restart_max_retries=10),
                container("unlimited", restart_max_retries=0),
                container("fine"),
            )
        ),
    )
    assert bad.outcome is Outcome.WARN
    assert objs(bad, Outcome.WARN) == ["container:many", "container:unlimited"]
    always = run("5.15", snapshot(containers=(container(restart_policy="unless-stopped"),)))
    assert always.outcome is Outcome.INFO
    assert always.details[0].outcome is Outcome.INFO
    assert run("5.15", snapshot(containers=())).outcome is Outcome.NA


# ---------------------------------------------------------------- 5.18 / 5.19 (manual)


def test_5_18_devices() -> None:
    dev = DeviceMapping("/dev/fuse", "/dev/fuse", "rwm")
    res = run("5.18", snapshot(containers=(container("a"), container("b", devices=(dev,)))))
    assert res.outcome is Outcome.INFO
    assert objs(res, Outcome.WARN) == ["container:b"]
    assert res.details[0].value == "/dev/fuse"
    none = run("5.18", snapshot(containers=(container(),)))
    assert none.outcome is Outcome.NOTE  # manual check: nothing found still needs a human
    assert run("5.18", snapshot(containers=())).outcome is Outcome.NA


def test_5_19_ulimits() -> None:
    res = run("5.19", snapshot(containers=(container("a"), container("b", ulimits=("nofile=1024:2048",)))))
    assert res.outcome is Outcome.INFO
    msgs = {d.obj: d.message for d in res.details}
    assert msgs["container:b"] == "ulimits set: nofile=1024:2048"
    assert "default" in msgs["container:a"]
    assert run("5.19", snapshot(containers=())).outcome is Outcome.NA


# ---------------------------------------------------------------- 5.20 propagation


def test_5_20_propagation() -> None:
    priv = MountPoint("bind", "/srv", "/srv", propagation="rprivate")
    assert run("5.20", snapshot(containers=(container(mounts=(priv,)),))).outcome is Outcome.PASS
    for prop in ("shared", "rshared"):
        m = MountPoint("bind", "/srv", "/srv", propagation=prop)
        res = run("5.20", snapshot(containers=(container(mounts=(priv, m)),)))
        assert res.outcome is Outcome.WARN and prop in res.details[0].message
    assert run("5.20", snapshot(containers=())).outcome is Outcome.NA


# ---------------------------------------------------------------- 5.22 seccomp


PROFILE = json.dumps({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": []})


def test_5_22_seccomp() -> None:
    ok = run("5.22", snapshot(containers=(container(),)))
    assert ok.outcome is Outcome.PASS and ok.details[0].message == "default profile"
    custom = run("5.22", snapshot(containers=(container(security_opt=(f"seccomp={PROFILE}",)),)))
    assert custom.outcome is Outcome.PASS and custom.details[0].message == "custom profile"
    for opt in ("seccomp=unconfined", "seccomp:unconfined"):
        bad = run("5.22", snapshot(containers=(container("a"), container("b", security_opt=(opt,)))))
        assert bad.outcome is Outcome.WARN
        assert objs(bad, Outcome.WARN) == ["container:b"]
    priv = run("5.22", snapshot(containers=(container(privileged=True),)))
    assert priv.outcome is Outcome.WARN and "privileged" in priv.details[0].message
    no_filter = daemon(security_options=("name=apparmor",))
    nod = run("5.22", snapshot(dmn=no_filter, containers=(container(),)))
    assert nod.outcome is Outcome.WARN and "daemon" in nod.details[0].message
    assert run("5.22", snapshot(containers=())).outcome is Outcome.NA


def test_5_22_lints_inline_profiles() -> None:
    allow = json.dumps({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": []})
    snap = snapshot(
        containers=(
            container("deny", security_opt=(f"seccomp={PROFILE}",)),
            container("allow", security_opt=(f"seccomp={allow}",)),
        )
    )
    res = run("5.22", snap)
    assert res.outcome is Outcome.WARN
    assert objs(res, Outcome.WARN) == ["container:allow"]
    assert res.details[0].message.startswith("custom profile: ") and "defaultAction" in res.details[0].message
    assert run("5.22", snapshot(containers=(container(security_opt=(f"seccomp={PROFILE}",)),))).outcome is (
        Outcome.PASS)


def test_5_22_reads_the_collected_setting() -> None:
    # The collector's classification is what counts (the same classifier, run once).
    setting = classify_setting(False, ("seccomp=unconfined",), (DEFAULT_SECCOMP,))
    assert setting.kind is SeccompKind.UNCONFINED
    collected = container("c", security_opt=("seccomp=unconfined",), seccomp=setting)
    res = run("5.22", snapshot(containers=(collected,)))
    assert res.outcome is Outcome.WARN and res.details[0].message == "seccomp disabled"
    lost = container("l", seccomp=SeccompSetting(SeccompKind.INLINE))
    assert run("5.22", snapshot(containers=(lost,))).outcome is Outcome.ERROR
    node = container("k", seccomp=classify_setting(False, ("seccomp=localhost/prof.json",)))
    assert node.seccomp is not None and node.seccomp.kind is SeccompKind.LOCALHOST
    assert run("5.22", snapshot(containers=(node,))).details[0].message == "seccomp=localhost/prof.json"


# ---------------------------------------------------------------- 5.23 / 5.24 / 5.28


def test_exec_and_latest_checks_need_a_human() -> None:
    snap = snapshot(containers=(container(),))
    for cid in ("5.23", "5.24", "5.28"):
        assert run(cid, snap).outcome is Outcome.NOTE, cid
    assert run("5.23", snapshot(containers=())).outcome is Outcome.NA


# ---------------------------------------------------------------- 5.26 no-new-privileges


@pytest.mark.parametrize("opt", ["no-new-privileges", "no-new-privileges:true", "no-new-privileges=true"])
def test_5_26_container_option_forms(opt: str) -> None:
    snap = snapshot(containers=(container(security_opt=(opt,)),))
    assert run("5.26", snap).outcome is Outcome.PASS


def test_5_26_daemon_and_overrides() -> None:
    plain = container("plain", security_opt=())
    assert run("5.26", snapshot(containers=(plain,))).outcome is Outcome.WARN
    nnp = daemon(cfg=config(**{"no-new-privileges": True}))
    res = run("5.26", snapshot(dmn=nnp, containers=(plain,)))
    assert res.outcome is Outcome.PASS and "daemon" in objs(res)
    # A container can switch the daemon default off again.
    off = container("off", security_opt=("no-new-privileges=false",))
    res = run("5.26", snapshot(dmn=nnp, containers=(plain, off)))
    assert res.outcome is Outcome.WARN and objs(res, Outcome.WARN) == ["container:off"]
    # Without daemon facts the containers are still judged on their own options.
    assert run("5.26", snapshot(no_daemon=True, containers=(plain,))).outcome is Outcome.WARN
    assert run("5.26", snapshot(containers=())).outcome is Outcome.NA


# ---------------------------------------------------------------- 5.30 docker0


def test_5_30_default_bridge() -> None:
    nets = (
        NetworkFacts("n1", "bridge", driver="bridge", options={"com.docker.network.bridge.name": "docker0"}),
        NetworkFacts("n2", "appnet", driver="bridge"),
    )
    ok = run("5.30", snapshot(networks=nets, containers=(container(),)))
    assert ok.outcome is Outcome.NOTE  # manual: nothing found, still for a human to confirm
    bad = run(
        "5.30",
        snapshot(networks=nets, containers=(container("a"), container("b", networks=("bridge",)))),
    )
    assert bad.outcome is Outcome.INFO and objs(bad) == ["container:b"]
    # The bridge named differently but still on docker0.
    renamed = (NetworkFacts("n3", "legacy", driver="bridge", options={"com.docker.network.bridge.name": "docker0"}),)
    res = run("5.30", snapshot(networks=renamed, containers=(container(networks=("legacy",)),)))
    assert res.outcome is Outcome.INFO
    # No network recorded but the default network mode: on the bridge only if one exists.
    unnamed = container("u", networks=(), network_mode="default")
    assert run("5.30", snapshot(networks=nets, containers=(unnamed,))).outcome is Outcome.INFO
    no_bridge = (NetworkFacts("n4", "none", driver="null"),)  # dockerd --bridge=none
    assert run("5.30", snapshot(networks=no_bridge, containers=(unnamed,))).outcome is (Outcome.NOTE)
    # Network list absent: the default network name is still recognised, with a note.
    guess = run("5.30", snapshot(networks=None, containers=(container(networks=("bridge",)),)))
    assert guess.outcome is Outcome.INFO and "not collected" in guess.reason
    assert run("5.30", snapshot(containers=())).outcome is Outcome.NA


# ---------------------------------------------------------------- 5.32 docker socket


def test_5_32_default_socket_and_run_equivalence() -> None:
    ok = run("5.32", snapshot(containers=(container(mounts=(MountPoint("bind", "/srv", "/srv"),)),)))
    assert ok.outcome is Outcome.PASS
    for src in ("/var/run/docker.sock", "/run/docker.sock", "/var/run", "/run"):
        m = MountPoint("bind", src, "/sock")
        res = run("5.32", snapshot(containers=(container(mounts=(m,)),)))
        assert res.outcome is Outcome.WARN, src
    assert run("5.32", snapshot(containers=())).outcome is Outcome.NA


def test_5_32_socket_at_configured_path() -> None:
    cfg = config(hosts=["unix:///srv/dockerd/api.sock", "tcp://127.0.0.1:2376"])
    dmn = daemon(cfg=cfg)
    m = MountPoint("bind", "/srv/dockerd/api.sock", "/var/run/docker.sock")
    res = run("5.32", snapshot(dmn=dmn, containers=(container(mounts=(m,)),)))
    assert res.outcome is Outcome.WARN  # docker-bench only greps for "docker.sock"
    assert "/srv/dockerd/api.sock" in res.details[0].message
    # With a configured non-default socket, the default path is no longer the daemon's.
    other = MountPoint("bind", "/var/lib/thing", "/thing")
    assert run("5.32", snapshot(dmn=dmn, containers=(container(mounts=(other,)),))).outcome is (Outcome.PASS)


def test_5_32_socket_activation_and_other_daemons() -> None:
    host = HostFacts(apparmor_enabled=True, docker_socket_listen=("/run/custom/docker-api",))
    dmn = daemon(cfg=config(hosts=["fd://"]))
    m = MountPoint("bind", "/var/run/custom/docker-api", "/api")
    assert run("5.32", snapshot(host=host, dmn=dmn, containers=(container(mounts=(m,)),))).outcome is (Outcome.WARN)
    rootless = MountPoint("bind", "/run/user/1000/docker.sock", "/d.sock")
    assert run("5.32", snapshot(containers=(container(mounts=(rootless,)),))).outcome is (Outcome.WARN)
    no_cfg = run("5.32", snapshot(no_daemon=True, containers=(container(),)))
    assert no_cfg.outcome is Outcome.PASS and "assumed the default socket" in no_cfg.reason
