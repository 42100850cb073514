"""Run the collectors: fill a Snapshot from a live daemon and its host.

One rule decides whether the host's files are read (`reads_host`): the daemon is local (a
unix socket or a named pipe) or the host's filesystem is mounted (``--host-root``).  `audit`
uses the same rule through `host_only_snapshot` when the daemon cannot be reached.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from dockguard import __version__
from dockguard.collect.docker_api import collect_api, connect, default_docker_host
from dockguard.collect.endpoint_probes import probe_endpoints, tcp_targets
from dockguard.collect.host_facts import collect_host, container_processes, swarm_listen_addresses
from dockguard.errors import DockguardError
from dockguard.model import CollectionError
from dockguard.snapshot import MAX_CONTAINERS, MAX_IMAGES, ContainerFacts, EndpointProbeFacts, ProcessFact, Snapshot

ENV_KEYS = ("DOCKER_CONTENT_TRUST", "DOCKER_HOST", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH")


@dataclass(frozen=True)
class CollectOptions:
    """How to collect: which daemon, which host root, how to list container processes."""

    docker_host: str | None = None
    host_root: str = "/"
    host_root_given: bool = False
    processes: str = "auto"
    """``auto`` (/proc when the daemon is local, else ``top``), ``proc`` or ``api``."""
    probe_endpoints: bool = True
    """Probe the daemon's TCP endpoints (plain HTTP, TLS without client certificates)."""
    for_snapshot_file: bool = False
    """Refuse a daemon with more containers or images than a snapshot file may hold
    (`dockguard.snapshot.MAX_CONTAINERS`, `MAX_IMAGES`): ``collect`` sets it."""


def is_local(docker_host: str) -> bool:
    """The daemon at `docker_host` runs on this machine (unix socket or named pipe)."""
    return docker_host.startswith(("unix://", "npipe://"))


def reads_host(options: CollectOptions, docker_host: str) -> bool:
    """Whether host facts are collected: the daemon is local or ``--host-root`` was given."""
    return is_local(docker_host) or options.host_root_given


def _remote_errors(docker_host: str) -> list[CollectionError]:
    return [
        CollectionError(
            "host",
            docker_host,
            "the daemon is remote: host files, audit rules and daemon flags are not collected "
            "(run dockguard on the daemon's host, or pass --host-root for a mounted host)",
        ),
        CollectionError("daemon-config", docker_host, "daemon is remote"),
    ]


def host_only_snapshot(options: CollectOptions, reason: str) -> Snapshot:
    """A snapshot without the daemon (it could not be reached: `reason`), with the host's facts
    when `reads_host` says so, so that the host checks still run."""
    docker_host = options.docker_host or default_docker_host()
    errors = [CollectionError("docker", docker_host, reason)]
    host = None
    if reads_host(options, docker_host):
        hc = collect_host(options.host_root, docker_host=docker_host)
        host = hc.facts
        errors += hc.errors
    else:
        errors += _remote_errors(docker_host)
    return Snapshot(
        tool_version=__version__,
        created=time.time(),
        hostname=socket.gethostname(),
        docker_host=docker_host,
        host=host,
        environment=_environment(),
        errors=tuple(errors),
    )


def _environment() -> dict[str, str]:
    return {k: os.environ[k] for k in ENV_KEYS if k in os.environ}


def collect_snapshot(
    options: CollectOptions = CollectOptions(),
    progress: Callable[[str, int, int], None] | None = None,
) -> Snapshot:
    """Collect a full snapshot; raises OperationalError only when the daemon is unreachable
    (or, with `CollectOptions.for_snapshot_file`, holds more than a snapshot may)."""
    docker_host = options.docker_host or default_docker_host()
    client = connect(docker_host)
    errors: list[CollectionError] = []
    collect_host_facts = reads_host(options, docker_host)
    local_procs = (
        collect_host_facts
        and options.processes in ("auto", "proc")
        and os.path.isdir(os.path.join(options.host_root, "proc", "1"))
    )

    def procs(containers: list[ContainerFacts]) -> dict[str, list[ProcessFact]] | None:
        if options.processes == "api" or not local_procs:
            return None
        running = [c.id for c in containers if c.running]
        found = container_processes(options.host_root, running)
        # A running container whose processes are invisible here lives on another host (or in
        # another pid namespace): fall back to the API for all rather than report nothing.
        if options.processes == "auto" and any(not found.get(cid) for cid in running):
            return None
        return found

    try:
        limits = (MAX_CONTAINERS, MAX_IMAGES) if options.for_snapshot_file else None
        api = collect_api(client, want_processes=procs, progress=progress, limits=limits)
    finally:
        client.close()
    errors.extend(api.errors)
    daemon = api.daemon
    host = None
    if collect_host_facts:
        hc = collect_host(
            options.host_root,
            docker_host=docker_host,
            docker_root_dir=daemon.docker_root_dir if daemon else "",
        )
        host = hc.facts
        errors.extend(hc.errors)
        if daemon is not None:
            daemon = replace(daemon, config=hc.config)
            if daemon.swarm.active:
                addrs = swarm_listen_addresses(options.host_root)
                daemon = replace(daemon, swarm=replace(daemon.swarm, listen_addr=",".join(addrs) or None))
    else:
        errors.extend(_remote_errors(docker_host))
    probes: tuple[EndpointProbeFacts, ...] | None = None
    targets = tcp_targets(docker_host, host)
    if targets and options.probe_endpoints:
        try:
            probes = probe_endpoints(targets)
        except DockguardError as exc:
            errors.append(CollectionError("endpoint", ",".join(targets), str(exc)))
    return Snapshot(
        tool_version=__version__,
        created=time.time(),
        hostname=socket.gethostname(),
        docker_host=docker_host,
        host=host,
        daemon=daemon,
        containers=api.containers,
        images=api.images,
        networks=api.networks,
        plugins=api.plugins,
        environment=_environment(),
        errors=tuple(errors),
        endpoint_probes=probes,
    )
