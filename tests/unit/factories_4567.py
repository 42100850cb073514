"""Fact factories for the unit tests of CIS sections 4-7 (images, runtime, operations, swarm)."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from typing import Any

from dockguard.checks import container_images, container_runtime, security_operations, swarm_configuration
from dockguard.checks.catalogue import Check
from dockguard.collect.daemon_config import freeze
from dockguard.engine import Context, Options, run_check
from dockguard.model import CheckResult, CollectionError
from dockguard.snapshot import (
    ConfigSource,
    ConfigValue,
    ContainerFacts,
    DaemonConfig,
    DaemonFacts,
    HistoryEntry,
    HostFacts,
    ImageFacts,
    ImageScanSummary,
    NetworkFacts,
    Snapshot,
    SwarmFacts,
)
from tests.unit.factories_123 import with_endpoints

CHECKS: dict[str, Check] = {
    c.meta.id: c
    for m in (container_images, container_runtime, security_operations, swarm_configuration)
    for c in m.CHECKS
}

DEFAULT_SECCOMP = "name=seccomp,profile=default"


def container(name: str = "web", **kw: Any) -> ContainerFacts:
    """A running container with Docker's defaults unless overridden.

    The defaults model a hardened container (non-root, limits, read-only, health check), so a
    test changes only the field it is about.
    """
    base = ContainerFacts(
        id=f"id-{name}",
        name=name,
        image="app:1",
        image_id="sha256:aaa",
        user="1000:1000",
        networks=("appnet",),
        network_mode="appnet",
        memory=256 * 1024 * 1024,
        cpu_shares=512,
        readonly_rootfs=True,
        pids_limit=100,
        restart_policy="on-failure",
        restart_max_retries=5,
        security_opt=("no-new-privileges",),
        apparmor_profile="docker-default",
        healthcheck=("CMD", "true"),
        health_status="healthy",
        processes=(),
    )
    return replace(base, **kw)


def image(tag: str = "app:1", **kw: Any) -> ImageFacts:
    """An image with a HEALTHCHECK and an empty history unless overridden."""
    base = ImageFacts(
        id="sha256:" + hashlib.sha256(tag.encode()).hexdigest(),
        repo_tags=(tag,),
        healthcheck=("CMD-SHELL", "true"),
        history=(),
    )
    return replace(base, **kw)


def history(*lines: str) -> tuple[HistoryEntry, ...]:
    """History entries oldest first, as the collector stores them (the API's reverse order)."""
    return tuple(HistoryEntry(created_by=line) for line in lines)


def config(**values: Any) -> DaemonConfig:
    """An effective daemon configuration from daemon.json-style keys."""
    return DaemonConfig(
        values={k.replace("_", "-"): ConfigValue(freeze(v), ConfigSource.FILE) for k, v in values.items()},
        config_file="/etc/docker/daemon.json",
        config_file_found=True,
    )


def daemon(
    *,
    security_options: tuple[str, ...] = (DEFAULT_SECCOMP,),
    swarm_facts: SwarmFacts | None = None,
    cfg: DaemonConfig | None = None,
) -> DaemonFacts:
    """Daemon facts with the default seccomp profile and no swarm_configuration."""
    return DaemonFacts(
        server_version="20.10.24",
        security_options=security_options,
        swarm=swarm_facts or SwarmFacts(),
        config=cfg if cfg is not None else config(),
    )


def active_swarm(**kw: Any) -> SwarmFacts:
    """A healthy single-manager swarm unless overridden."""
    base = SwarmFacts(
        local_node_state="active",
        node_id="n1",
        node_addr="10.0.0.1",
        control_available=True,
        managers=1,
        nodes=1,
        autolock=True,
        node_cert_expiry_ns=90 * 24 * 3600 * 10**9,
        listen_addr="10.0.0.1:2377",
    )
    return replace(base, **kw)


def snapshot(
    *,
    containers: tuple[ContainerFacts, ...] | None = (),
    imgs: tuple[ImageFacts, ...] | None = (),
    dmn: DaemonFacts | None = None,
    host: HostFacts | None = None,
    networks: tuple[NetworkFacts, ...] | None = (),
    environment: dict[str, str] | None = None,
    errors: tuple[CollectionError, ...] = (),
    no_daemon: bool = False,
    image_scans: tuple[ImageScanSummary, ...] | None = None,
) -> Snapshot:
    """A snapshot with a default daemon and host unless given or suppressed (the daemon's
    sockets worked out from its configuration, as the collector does)."""
    return with_endpoints(Snapshot(
        host=host if host is not None else HostFacts(apparmor_enabled=True),
        daemon=None if no_daemon else (dmn or daemon()),
        containers=containers,
        images=imgs,
        networks=networks,
        environment=environment or {},
        errors=errors,
        image_scans=image_scans,
    ))


def run(check_id: str, snap: Snapshot, **options: Any) -> CheckResult:
    """Evaluate one check through the engine (so manual/N/A/ERROR handling is real)."""
    ctx = Context(snap, Options(**options))
    return run_check(CHECKS[check_id], ctx)


def objs(result: CheckResult, outcome: Any = None) -> list[str]:
    """Objects of a result's details, optionally only those with `outcome`."""
    return [d.obj for d in result.details if outcome is None or d.outcome is outcome]
