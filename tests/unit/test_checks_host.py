"""CIS section 1: host configuration (partition, docker group, audit rules, version)."""

from __future__ import annotations

from typing import Any

import pytest

from dockguard.checks import host_configuration
from dockguard.checks.host_configuration import parse_build_time
from dockguard.engine import Context
from dockguard.model import Outcome
from dockguard.snapshot import AuditFacts, AuditSource, FileFact, GroupFact, HostFacts, MountFact, UserFact
from tests.unit.factories_123 import (
    COLLECTED_AT,
    absent,
    config,
    ctx,
    daemon,
    files,
    present,
    run,
    snap,
)

# -- 1.1.1 ------------------------------------------------------------------------------------

ROOT_MOUNTS = (
    MountFact("/", "/dev/sda1", "ext4"),
    MountFact("/var", "/dev/sda2", "ext4"),
)


def _mounts_ctx(mounts: tuple[MountFact, ...] | None, root_dir: str = "/var/lib/docker") -> Context:
    return ctx(snap(host=HostFacts(mounts=mounts), daemon=daemon(docker_root_dir=root_dir)))


def test_1_1_1_pass_when_root_dir_is_a_mount_point() -> None:
    mounts = (*ROOT_MOUNTS, MountFact("/var/lib/docker", "/dev/mapper/vg-docker", "xfs"))
    r = run("1.1.1", _mounts_ctx(mounts))
    assert r.outcome is Outcome.PASS
    assert r.details[0].obj == "file:/var/lib/docker"


def test_1_1_1_uses_real_docker_root_dir_and_mountinfo_escapes() -> None:
    mounts = (*ROOT_MOUNTS, MountFact("/srv/docker\\040data", "/dev/sdb1", "ext4"))
    assert run("1.1.1", _mounts_ctx(mounts, "/srv/docker data")).outcome is Outcome.PASS
    # The default path being a mount point does not help when the daemon uses another one.
    mounts = (*ROOT_MOUNTS, MountFact("/var/lib/docker", "/dev/sdb1", "ext4"))
    assert run("1.1.1", _mounts_ctx(mounts, "/srv/docker")).outcome is Outcome.WARN


def test_1_1_1_dockerd_self_bind_mount_is_not_a_partition() -> None:
    # What /proc/self/mountinfo shows once dockerd has started on a root-fs data root: it
    # bind-mounts the directory onto itself to make it shared. `mountpoint -q` says yes.
    mounts = (
        MountFact("/", "/dev/vda", "ext4"),
        MountFact("/var/lib/docker", "/dev/vda", "ext4", "rw,relatime"),
    )
    r = run("1.1.1", _mounts_ctx(mounts))
    assert r.outcome is Outcome.WARN
    assert "bind mount of the / filesystem (/dev/vda)" in r.details[0].message


def test_1_1_1_real_partition_with_dockerd_bind_on_top() -> None:
    mounts = (
        MountFact("/", "/dev/vda", "ext4"),
        MountFact("/var/lib/docker", "/dev/vdb", "xfs"),
        MountFact("/var/lib/docker", "/dev/vdb", "xfs"),
    )
    assert run("1.1.1", _mounts_ctx(mounts)).outcome is Outcome.PASS


def test_1_1_1_tmpfs_root_is_separate() -> None:
    mounts = (MountFact("/", "/dev/vda", "ext4"), MountFact("/var/lib/docker", "tmpfs", "tmpfs"))
    assert run("1.1.1", _mounts_ctx(mounts)).outcome is Outcome.PASS


def test_1_1_1_warn_names_the_containing_mount() -> None:
    r = run("1.1.1", _mounts_ctx(ROOT_MOUNTS))
    assert r.outcome is Outcome.WARN
    assert r.details[0].value == "/var"
    assert run("1.1.1", _mounts_ctx(ROOT_MOUNTS[:1])).details[0].value == "/"


def test_1_1_1_na_without_mounts_or_root_dir() -> None:
    assert run("1.1.1", _mounts_ctx(None)).outcome is Outcome.NA
    r = run("1.1.1", _mounts_ctx(ROOT_MOUNTS, root_dir=""))
    assert r.outcome is Outcome.NA
    assert "DockerRootDir" in r.reason
    assert run("1.1.1", ctx(snap(host=HostFacts(mounts=ROOT_MOUNTS)))).outcome is Outcome.NA


# -- 1.1.2 ------------------------------------------------------------------------------------

GROUPS = {
    "docker": GroupFact("docker", 998, ("alice", "bob")),
    "users": GroupFact("users", 100, ("alice",)),
}
USERS = {
    "root": UserFact("root", 0, 0),
    "alice": UserFact("alice", 1000, 100),
    "ci": UserFact("ci", 1001, 998),  # primary group docker, not listed in /etc/group
}


def _group_ctx(groups: Any = GROUPS, users: Any = USERS, **options: Any) -> Context:
    return ctx(snap(host=HostFacts(groups=groups, users=users)), **options)


def test_1_1_2_info_lists_explicit_and_primary_group_members() -> None:
    r = run("1.1.2", _group_ctx())
    assert r.outcome is Outcome.INFO
    assert [d.obj for d in r.details] == ["user:alice", "user:bob", "user:ci"]


def test_1_1_2_warn_for_untrusted_members() -> None:
    r = run("1.1.2", _group_ctx(trusted_users=("alice", "bob")))
    assert r.outcome is Outcome.WARN
    assert [d.obj for d in r.details if d.outcome is Outcome.WARN] == ["user:ci"]


def test_1_1_2_pass_when_all_members_trusted_or_none() -> None:
    assert run("1.1.2", _group_ctx(trusted_users=("alice", "bob", "ci"))).outcome is Outcome.PASS
    empty = {"docker": GroupFact("docker", 998, ())}
    r = run("1.1.2", _group_ctx(groups=empty, users={"root": UserFact("root", 0, 0)}))
    assert r.outcome is Outcome.PASS


def test_1_1_2_without_passwd_lists_explicit_members_and_says_so() -> None:
    r = run("1.1.2", _group_ctx(users=None))
    assert r.outcome is Outcome.INFO
    assert [d.obj for d in r.details] == ["user:alice", "user:bob"]
    assert "/etc/passwd not collected" in r.reason


def test_1_1_2_na_without_groups_or_docker_group() -> None:
    assert run("1.1.2", _group_ctx(groups=None)).outcome is Outcome.NA
    r = run("1.1.2", _group_ctx(groups={"users": GROUPS["users"]}))
    assert r.outcome is Outcome.NA
    assert "no 'docker' group" in r.reason


# -- 1.1.3 - 1.1.18: audit rules --------------------------------------------------------------

UNIT = "/lib/systemd/system/docker.service"
SOCKET_UNIT = "/lib/systemd/system/docker.socket"
BINARIES = {
    "dockerd": "/usr/sbin/dockerd",
    "containerd": "/usr/bin/containerd",
    "containerd-shim": "/usr/bin/containerd-shim",
    "containerd-shim-runc-v1": "/usr/bin/containerd-shim-runc-v1",
    "containerd-shim-runc-v2": "/usr/bin/containerd-shim-runc-v2",
    "runc": "/usr/sbin/runc",
}
ROOT_DIR = "/srv/docker-root"

# check id -> the real path on our fake host the rule has to name
AUDIT_TARGETS = {
    "1.1.3": BINARIES["dockerd"],
    "1.1.4": "/run/containerd",
    "1.1.5": ROOT_DIR,
    "1.1.6": "/etc/docker",
    "1.1.7": UNIT,
    "1.1.8": "/run/containerd/containerd.sock",
    "1.1.9": SOCKET_UNIT,
    "1.1.10": "/etc/default/docker",
    "1.1.11": "/etc/docker/daemon.json",
    "1.1.12": "/etc/containerd/config.toml",
    "1.1.13": "/etc/sysconfig/docker",
    "1.1.14": BINARIES["containerd"],
    "1.1.15": BINARIES["containerd-shim"],
    "1.1.16": BINARIES["containerd-shim-runc-v1"],
    "1.1.17": BINARIES["containerd-shim-runc-v2"],
    "1.1.18": BINARIES["runc"],
}
BINARY_OF = {path: name for name, path in BINARIES.items()}


def _audit_ctx(
    rules: tuple[str, ...] | None, *, drop: str | None = None, audit_source: AuditSource = AuditSource.AUDITCTL
) -> Context:
    """A host where every audited path exists, except `drop` (absent / not installed)."""
    paths = [p for p in AUDIT_TARGETS.values() if p not in BINARY_OF]
    facts: dict[str, FileFact] = {}
    for p in paths:
        facts.update(files(absent(p) if p == drop else present(p)))
    binaries = {n: p for n, p in BINARIES.items() if p != drop}
    units = {"docker.service": UNIT, "docker.socket": SOCKET_UNIT}
    if drop in (UNIT, SOCKET_UNIT):
        units = {k: v for k, v in units.items() if v != drop}
        del facts[drop]
    h = HostFacts(
        files=facts,
        unit_files=units,
        binaries=binaries,
        audit=None if rules is None else AuditFacts(audit_source, rules),
        containerd_socket="/run/containerd/containerd.sock",
    )
    return ctx(snap(host=h, daemon=daemon(config({}), docker_root_dir=ROOT_DIR)))


def test_every_audit_check_is_covered() -> None:
    ids = {c.meta.id for c in host_configuration.CHECKS if c.meta.id.startswith("1.1.") and c.meta.id != "1.1.1"}
    assert ids - {"1.1.2"} == set(AUDIT_TARGETS)


@pytest.mark.parametrize("cid", sorted(AUDIT_TARGETS))
def test_audit_pass_with_watch_rule(cid: str) -> None:
    target = AUDIT_TARGETS[cid]
    r = run(cid, _audit_ctx((f"-w {target} -p rwxa -k docker",)))
    assert r.outcome is Outcome.PASS, r
    assert r.details[0].obj == f"file:{target}"


@pytest.mark.parametrize("cid", sorted(AUDIT_TARGETS))
def test_audit_pass_with_syscall_rule_on_path(cid: str) -> None:
    target = AUDIT_TARGETS[cid]
    rule = f"-a exit,always -F arch=b64 -F path={target} -F perm=wa -k docker"
    assert run(cid, _audit_ctx((rule,))).outcome is Outcome.PASS


@pytest.mark.parametrize("cid", sorted(AUDIT_TARGETS))
def test_audit_warn_without_rule(cid: str) -> None:
    unrelated = "-w /etc/passwd -p wa -k identity"
    r = run(cid, _audit_ctx((unrelated,)))
    assert r.outcome is Outcome.WARN
    assert r.details[0].obj == f"file:{AUDIT_TARGETS[cid]}"
    assert "no audit rule" in r.details[0].message


@pytest.mark.parametrize("cid", sorted(AUDIT_TARGETS))
def test_audit_na_when_path_absent(cid: str) -> None:
    target = AUDIT_TARGETS[cid]
    r = run(cid, _audit_ctx((f"-w {target} -k docker",), drop=target))
    assert r.outcome is Outcome.NA, r
    units = {UNIT: "docker.service not found", SOCKET_UNIT: "docker.socket not found"}
    if target in BINARY_OF:
        expected = f"{BINARY_OF[target]} is not installed"
    else:
        expected = units.get(target, f"{target} does not exist")
    assert expected in r.reason


@pytest.mark.parametrize("cid", sorted(AUDIT_TARGETS))
def test_audit_na_when_rules_unreadable(cid: str) -> None:
    r = run(cid, _audit_ctx(None))
    assert r.outcome is Outcome.NA
    assert "audit rules" in r.reason


def test_audit_rule_on_symlink_path_does_not_cover_real_binary() -> None:
    # Debian installs dockerd in /usr/sbin; a rule for /usr/bin/dockerd watches nothing.
    r = run("1.1.3", _audit_ctx(("-w /usr/bin/dockerd -k docker",)))
    assert r.outcome is Outcome.WARN


def test_audit_dir_field_and_trailing_slash() -> None:
    rules = ("-a always,exit -F dir=/etc/docker/ -F perm=wa -k docker",)
    assert run("1.1.6", _audit_ctx(rules)).outcome is Outcome.PASS


def test_audit_never_rule_is_not_a_watch() -> None:
    rules = ("-a never,exit -F path=/etc/docker -k docker",)
    assert run("1.1.6", _audit_ctx(rules)).outcome is Outcome.WARN


def test_audit_prefix_path_does_not_match() -> None:
    # A watch on /etc/docker does not count as the exact daemon.json rule CIS asks for, and a
    # rule on /etc/dockerfoo is not a rule on /etc/docker.
    rules = ("-w /etc/docker -k docker", "-w /etc/dockerfoo -k docker")
    assert run("1.1.11", _audit_ctx(rules)).outcome is Outcome.WARN
    assert run("1.1.6", _audit_ctx(rules[1:])).outcome is Outcome.WARN


def test_audit_unit_na_reason_lists_unit_dirs() -> None:
    r = run("1.1.7", _audit_ctx(("-w /x",), drop=UNIT))
    assert "/etc/systemd/system/docker.service" in r.reason
    assert "/usr/lib/systemd/system/docker.service" in r.reason


def test_audit_daemon_json_follows_config_file() -> None:
    custom = "/srv/etc/daemon.json"
    h = HostFacts(files=files(present(custom)), audit=AuditFacts(AuditSource.FILES, (f"-w {custom}",)))
    c = ctx(snap(host=h, daemon=daemon(config({}, config_file=custom))))
    assert run("1.1.11", c).outcome is Outcome.PASS


# -- 1.2.x ------------------------------------------------------------------------------------


def _version_ctx(build_time: str, version: str = "20.10.24", **options: Any) -> Context:
    return ctx(snap(daemon=daemon(server_version=version, build_time=build_time)), **options)


def test_1_2_2_info_with_version_when_recent() -> None:
    r = run("1.2.2", _version_ctx("2023-10-26T09:07:41.000000000+00:00"))
    assert r.outcome is Outcome.INFO
    assert r.details[0].value == "20.10.24"
    assert "19 days" in r.details[0].message


def test_1_2_2_warn_when_older_than_limit() -> None:
    r = run("1.2.2", _version_ctx("2023-03-01T00:00:00Z"))
    assert r.outcome is Outcome.WARN
    assert "older than 180 days" in r.details[0].message
    r = run("1.2.2", _version_ctx("2023-03-01T00:00:00Z", max_version_age_days=365))
    assert r.outcome is Outcome.INFO


def test_1_2_2_docker_human_build_time() -> None:
    r = run("1.2.2", _version_ctx("Thu Feb  2 17:04:47 2023"))
    assert r.outcome is Outcome.WARN
    assert "2023-02-02" in r.details[0].message


def test_1_2_2_unknown_build_time_is_info() -> None:
    r = run("1.2.2", _version_ctx(""))
    assert r.outcome is Outcome.INFO
    assert r.reason == "build time unknown"
    r = run("1.2.2", _version_ctx("yesterday"))
    assert r.outcome is Outcome.INFO
    assert "not understood" in r.reason


def test_1_2_2_na_without_version() -> None:
    assert run("1.2.2", _version_ctx("2023-10-26T09:07:41Z", version="")).outcome is Outcome.NA
    assert run("1.2.2", ctx(snap())).outcome is Outcome.NA


def test_parse_build_time_formats() -> None:
    ts = parse_build_time("2023-10-26T09:07:41.123456789Z")
    assert ts is not None and ts.isoformat() == "2023-10-26T09:07:41.123456+00:00"
    ts = parse_build_time("Fri Dec  1 09:00:00 UTC 2023")
    assert ts is not None and ts.timestamp() > COLLECTED_AT
    assert parse_build_time("garbage") is None


def test_1_2_1_is_manual_note() -> None:
    r = run("1.2.1", ctx(snap()))
    assert r.outcome is Outcome.NOTE
    assert r.meta.manual


def test_section1_metadata() -> None:
    ids = [c.meta.id for c in host_configuration.CHECKS]
    assert ids == [f"1.1.{i}" for i in range(1, 19)] + ["1.2.1", "1.2.2"]
    level2 = {c.meta.id for c in host_configuration.CHECKS if c.meta.level == 2}
    assert level2 == {f"1.1.{i}" for i in range(7, 19)}
    for c in host_configuration.CHECKS:
        assert c.meta.remediation and c.meta.references and c.meta.title
