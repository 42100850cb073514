"""Fact factories for the CIS section 1-3 check tests (host, daemon, daemon files)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from dockguard.checks import daemon_configuration as daemon_checks
from dockguard.checks import daemon_files, host_configuration
from dockguard.checks.catalogue import Check
from dockguard.collect.daemon_config import daemon_endpoints, freeze
from dockguard.engine import Context, Options, run_check
from dockguard.model import CheckResult
from dockguard.snapshot import (
    AuditFacts,
    ConfigSource,
    ConfigValue,
    DaemonConfig,
    DaemonFacts,
    FileFact,
    FileKind,
    GroupFact,
    HostFacts,
    MountFact,
    Snapshot,
    UserFact,
)

ALL_CHECKS: dict[str, Check] = {
    c.meta.id: c for m in (host_configuration, daemon_checks, daemon_files) for c in m.CHECKS
}

# 2023-11-14T22:13:20Z: a fixed "collection time" so version-age verdicts are reproducible.
COLLECTED_AT = 1_700_000_000.0


def present(
    path: str,
    *,
    kind: FileKind = FileKind.FILE,
    mode: int = 0o644,
    uid: int = 0,
    gid: int = 0,
    owner: str | None = "root",
    group: str | None = "root",
) -> FileFact:
    """A FileFact for an existing path."""
    return FileFact(path, True, kind, mode, uid, gid, owner, group)


def absent(path: str) -> FileFact:
    """A FileFact for a path the collector looked for and did not find."""
    return FileFact(path, False)


def files(*facts: FileFact) -> dict[str, FileFact]:
    """Index FileFacts by path, as HostFacts.files does."""
    return {f.path: f for f in facts}


def config(
    values: dict[str, Any] | None = None,
    *,
    source: str = "file",
    sources: dict[str, str] | None = None,
    config_file: str = "/etc/docker/daemon.json",
) -> DaemonConfig:
    """An effective daemon configuration; every key from `source` unless `sources` says."""
    sources = sources or {}
    return DaemonConfig(
        values={k: ConfigValue(freeze(v), ConfigSource(sources.get(k, source))) for k, v in (values or {}).items()},
        config_file=config_file,
        config_file_found=True,
    )


def daemon(cfg: DaemonConfig | None = None, **kw: Any) -> DaemonFacts:
    """DaemonFacts of a typical Debian docker.io 20.10 daemon, overridable."""
    base: dict[str, Any] = {
        "server_version": "20.10.24+dfsg1",
        "api_version": "1.41",
        "build_time": "2023-05-18T08:38:34.000000000+00:00",
        "driver": "overlay2",
        "docker_root_dir": "/var/lib/docker",
        "logging_driver": "json-file",
        "security_options": ("name=seccomp,profile=default", "name=cgroupns"),
        "insecure_registry_cidrs": ("127.0.0.0/8",),
    }
    base.update(kw)
    return DaemonFacts(config=cfg if cfg is not None else config(), **base)


def host_facts(**kw: Any) -> HostFacts:
    """HostFacts with nothing collected except what is given."""
    return HostFacts(**kw)


def with_endpoints(snapshot: Snapshot) -> Snapshot:
    """`snapshot` with the daemon's sockets and TCP listeners worked out from its configuration
    (as the host collector does) unless the host facts name them already."""
    host, daemon = snapshot.host, snapshot.daemon
    if host is None or daemon is None or daemon.config is None or host.docker_sockets is not None:
        return snapshot
    sockets, listeners = daemon_endpoints(daemon.config, host.docker_socket_listen)
    return replace(snapshot, host=replace(host, docker_sockets=sockets, docker_tcp_listeners=listeners))


def snap(host: HostFacts | None = None, daemon: DaemonFacts | None = None, **kw: Any) -> Snapshot:
    """A snapshot taken at COLLECTED_AT (sockets and listeners filled as the collector does)."""
    return with_endpoints(Snapshot(created=COLLECTED_AT, host=host, daemon=daemon, **kw))


def ctx(snapshot: Snapshot, **options: Any) -> Context:
    """A check context over `snapshot` with options."""
    return Context(snapshot, Options(**options))


def run(check_id: str, context: Context) -> CheckResult:
    """Run one check through the engine (so FactsMissing becomes N/A as in production)."""
    return run_check(ALL_CHECKS[check_id], context)


__all__ = [
    "ALL_CHECKS",
    "COLLECTED_AT",
    "AuditFacts",
    "GroupFact",
    "MountFact",
    "UserFact",
    "absent",
    "config",
    "ctx",
    "daemon",
    "files",
    "host_facts",
    "present",
    "run",
    "snap",
    "with_endpoints",
]
