"""Engine API collection: info, version, containers, images, networks, plugins, swarm.

Only GET requests are made: the audit never changes the daemon's state.  Per-object requests
(container and image inspects, history, top) run on a small thread pool because the daemon
answers them concurrently and each is a few milliseconds of waiting.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from dockguard.errors import OperationalError
from dockguard.model import CollectionError
from dockguard.snapshot import (
    ContainerFacts,
    DaemonFacts,
    DeviceMapping,
    HistoryEntry,
    ImageFacts,
    IndexConfig,
    MountPoint,
    NetworkFacts,
    PluginFacts,
    PortBinding,
    ProcessFact,
    SwarmFacts,
)

T = TypeVar("T")
R = TypeVar("R")
WORKERS = 8


def default_docker_host() -> str:
    """DOCKER_HOST or the local socket."""
    return os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"


def connect(docker_host: str | None = None, timeout: int = 30) -> Any:
    """A low-level Engine API client for `docker_host` (TLS settings from the environment)."""
    import docker
    from docker.utils import kwargs_from_env

    kwargs = kwargs_from_env()
    if docker_host:
        kwargs["base_url"] = docker_host
    kwargs.setdefault("base_url", default_docker_host())
    try:
        client = docker.APIClient(version="auto", timeout=timeout, max_pool_size=WORKERS + 2, **kwargs)
    except docker.errors.DockerException as exc:
        raise OperationalError(f"cannot connect to the Docker daemon at {kwargs['base_url']}: {_short(exc)}") from None
    return client


_CAUSES = (
    ("FileNotFoundError", "no such socket"),
    ("ConnectionRefusedError", "connection refused"),
    ("Connection refused", "connection refused"),
    ("PermissionError", "permission denied (root or the socket's group is needed)"),
    ("Permission denied", "permission denied (root or the socket's group is needed)"),
    ("timed out", "timed out"),
    ("Name or service not known", "unknown host"),
    ("CERTIFICATE_VERIFY_FAILED", "TLS certificate not trusted (DOCKER_CERT_PATH?)"),
)


def _short(exc: BaseException) -> str:
    """A one-line reason from the layers of wrapping requests and the SDK put around it."""
    text = str(exc)
    for needle, reason in _CAUSES:
        if needle in text or needle == type(exc).__name__:
            return reason
    for marker in ("Connection aborted.", "Error while fetching server API version: "):
        text = text.replace(marker, "")
    return " ".join(text.strip(" ('\")").split()) or type(exc).__name__


@dataclass
class ApiCollection:
    """What the Engine API gave, plus errors."""

    daemon: DaemonFacts | None = None
    containers: tuple[ContainerFacts, ...] | None = None
    images: tuple[ImageFacts, ...] | None = None
    networks: tuple[NetworkFacts, ...] | None = None
    plugins: tuple[PluginFacts, ...] | None = None
    errors: list[CollectionError] = field(default_factory=list)


def _pmap(fn: Callable[[T], R], items: Iterable[T]) -> list[R]:
    items = list(items)
    if len(items) <= 2:
        return [fn(i) for i in items]
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        return list(pool.map(fn, items))


def daemon_facts(info: dict[str, Any], version: dict[str, Any], swarm: dict[str, Any] | None) -> DaemonFacts:
    """DaemonFacts from /info, /version and (on a manager) /swarm."""
    reg = info.get("RegistryConfig") or {}
    sw = info.get("Swarm") or {}
    spec = (swarm or {}).get("Spec") or {}
    plugins = info.get("Plugins") or {}
    return DaemonFacts(
        server_version=str(version.get("Version", info.get("ServerVersion", ""))),
        api_version=str(version.get("ApiVersion", "")),
        build_time=str(version.get("BuildTime", "")),
        kernel_version=str(info.get("KernelVersion", "")),
        operating_system=str(info.get("OperatingSystem", "")),
        os_type=str(info.get("OSType", "")),
        architecture=str(info.get("Architecture", "")),
        driver=str(info.get("Driver", "")),
        docker_root_dir=str(info.get("DockerRootDir", "")),
        logging_driver=str(info.get("LoggingDriver", "")),
        cgroup_driver=str(info.get("CgroupDriver", "")),
        live_restore=bool(info.get("LiveRestoreEnabled", False)),
        experimental=bool(info.get("ExperimentalBuild", False) or version.get("Experimental", False)),
        security_options=tuple(info.get("SecurityOptions") or ()),
        authorization_plugins=tuple(plugins.get("Authorization") or ()),
        insecure_registry_cidrs=tuple(reg.get("InsecureRegistryCIDRs") or ()),
        index_configs=tuple(
            IndexConfig(
                name=str(name),
                secure=bool(ic.get("Secure", True)),
                official=bool(ic.get("Official", False)),
                mirrors=tuple(ic.get("Mirrors") or ()),
            )
            for name, ic in sorted((reg.get("IndexConfigs") or {}).items())
        ),
        registry_mirrors=tuple(reg.get("Mirrors") or ()),
        default_runtime=str(info.get("DefaultRuntime", "")),
        id=str(info.get("ID", "") or ""),
        name=str(info.get("Name", "") or ""),
        swarm=SwarmFacts(
            local_node_state=str(sw.get("LocalNodeState", "inactive") or "inactive"),
            node_id=str(sw.get("NodeID", "")),
            node_addr=str(sw.get("NodeAddr", "")),
            control_available=bool(sw.get("ControlAvailable", False)),
            managers=sw.get("Managers"),
            nodes=sw.get("Nodes"),
            autolock=(spec.get("EncryptionConfig") or {}).get("AutoLockManagers") if swarm else None,
            node_cert_expiry_ns=(spec.get("CAConfig") or {}).get("NodeCertExpiry") if swarm else None,
            data_path_addr=(swarm or {}).get("DataPathAddr") if swarm else None,
        ),
    )


def container_facts(c: dict[str, Any], daemon_security_options: Iterable[str] | None = None) -> ContainerFacts:
    """ContainerFacts from one container inspect (and the daemon's SecurityOptions, which name
    the default seccomp profile)."""
    from dockguard.seccomp.container import classify_setting

    hc = c.get("HostConfig") or {}
    cfg = c.get("Config") or {}
    state = c.get("State") or {}
    ns = c.get("NetworkSettings") or {}
    # Configured bindings (HostConfig.PortBindings) cover created-but-stopped containers; for a
    # running one the runtime bindings of the same port supersede them (real assigned ports).
    configured = hc.get("PortBindings") or {}
    runtime = (ns.get("Ports") or {}) if state.get("Running") else {}
    ports: list[PortBinding] = []
    for key in sorted(set(configured) | set(runtime)):
        bindings = runtime.get(key) or configured.get(key) or ()
        cport, _, proto = key.partition("/")
        for b in bindings:
            hp = str(b.get("HostPort") or "")
            ports.append(
                PortBinding(cport, proto or "tcp", str(b.get("HostIp") or ""), int(hp) if hp.isdigit() else None)
            )
    port_list = tuple(ports)
    security_opt = tuple(str(o) for o in hc.get("SecurityOpt") or ())
    privileged = bool(hc.get("Privileged", False))
    restart = hc.get("RestartPolicy") or {}
    health = (state.get("Health") or {}).get("Status")
    hcheck = cfg.get("Healthcheck")
    return ContainerFacts(
        id=str(c.get("Id", "")),
        name=str(c.get("Name", "")).lstrip("/"),
        image=str(cfg.get("Image", "")),
        image_id=str(c.get("Image", "")),
        running=bool(state.get("Running", False)),
        status=str(state.get("Status", "")),
        user=str(cfg.get("User") or ""),
        privileged=privileged,
        cap_add=tuple(hc.get("CapAdd") or ()),
        cap_drop=tuple(hc.get("CapDrop") or ()),
        network_mode=str(hc.get("NetworkMode") or ""),
        networks=tuple(sorted((ns.get("Networks") or {}).keys())),
        pid_mode=str(hc.get("PidMode") or ""),
        ipc_mode=str(hc.get("IpcMode") or ""),
        uts_mode=str(hc.get("UTSMode") or ""),
        userns_mode=str(hc.get("UsernsMode") or ""),
        cgroup_parent=str(hc.get("CgroupParent") or ""),
        readonly_rootfs=bool(hc.get("ReadonlyRootfs", False)),
        memory=int(hc.get("Memory") or 0),
        cpu_shares=int(hc.get("CpuShares") or 0),
        nano_cpus=int(hc.get("NanoCpus") or 0),
        cpu_quota=int(hc.get("CpuQuota") or 0),
        pids_limit=hc.get("PidsLimit"),
        restart_policy=str(restart.get("Name") or ""),
        restart_max_retries=int(restart.get("MaximumRetryCount") or 0),
        security_opt=security_opt,
        seccomp=classify_setting(privileged, security_opt, daemon_security_options),
        apparmor_profile=str(c.get("AppArmorProfile") or ""),
        mounts=tuple(
            MountPoint(
                type=str(m.get("Type", "")),
                source=str(m.get("Source", "")),
                destination=str(m.get("Destination", "")),
                rw=bool(m.get("RW", True)),
                propagation=str(m.get("Propagation", "")),
            )
            for m in c.get("Mounts") or ()
        ),
        ports=port_list,
        devices=tuple(
            DeviceMapping(
                str(d.get("PathOnHost", "")),
                str(d.get("PathInContainer", "")),
                str(d.get("CgroupPermissions", "")),
            )
            for d in hc.get("Devices") or ()
        ),
        ulimits=tuple(f"{u.get('Name')}={u.get('Soft')}:{u.get('Hard')}" for u in hc.get("Ulimits") or ()),
        healthcheck=tuple(hcheck["Test"]) if isinstance(hcheck, dict) and hcheck.get("Test") else None,
        health_status=str(health) if health else None,
        labels={str(k): str(v) for k, v in (cfg.get("Labels") or {}).items()},
    )


def image_facts(img: dict[str, Any], history: list[dict[str, Any]] | None) -> ImageFacts:
    """ImageFacts from an image inspect and its history (oldest entry first)."""
    cfg = img.get("Config") or {}
    hc = cfg.get("Healthcheck")
    return ImageFacts(
        id=str(img.get("Id", "")),
        repo_tags=tuple(t for t in img.get("RepoTags") or () if t != "<none>:<none>"),
        repo_digests=tuple(img.get("RepoDigests") or ()),
        created=str(img.get("Created", "")),
        user=str(cfg.get("User") or ""),
        healthcheck=tuple(hc["Test"]) if isinstance(hc, dict) and hc.get("Test") else None,
        env=tuple(cfg.get("Env") or ()),
        labels={str(k): str(v) for k, v in (cfg.get("Labels") or {}).items()},
        exposed_ports=tuple(sorted((cfg.get("ExposedPorts") or {}).keys())),
        size=int(img.get("Size") or 0),
        os=str(img.get("Os", "")),
        architecture=str(img.get("Architecture", "")),
        history=None
        if history is None
        else tuple(
            HistoryEntry(
                created_by=str(h.get("CreatedBy", "")),
                empty_layer=int(h.get("Size") or 0) == 0,
                created=str(h.get("Created", "")),
            )
            for h in reversed(history)
        ),
    )


def collect_api(
    client: Any,
    *,
    want_processes: Callable[[list[ContainerFacts]], dict[str, list[ProcessFact]] | None] | None = None,
    progress: Callable[[str, int, int], None] | None = None,
    limits: tuple[int, int] | None = None,
) -> ApiCollection:
    """Collect everything from the Engine API with read-only requests.

    `want_processes` may supply container processes without the API (a /proc scan on the
    local host); when it returns None, ``top`` is asked per running container.  `limits`
    (containers, images) refuses a daemon with more, before inspecting any: a snapshot must
    not hold more than `dockguard.snapshot.MAX_CONTAINERS` / `MAX_IMAGES`.
    """
    import docker

    out = ApiCollection()
    try:
        info = client.info()
        version = client.version()
    except (docker.errors.DockerException, OSError) as exc:
        raise OperationalError(f"cannot reach the Docker daemon at {client.base_url}: {_short(exc)}") from None

    swarm = None
    if (info.get("Swarm") or {}).get("ControlAvailable"):
        try:
            swarm = client.inspect_swarm()
        except docker.errors.DockerException as exc:
            out.errors.append(CollectionError("docker", "swarm", _short(exc)))
    out.daemon = daemon_facts(info, version, swarm)

    def guarded(target: str, fn: Callable[[], T]) -> T | None:
        try:
            return fn()
        except docker.errors.NotFound:
            return None  # removed while we looked: not an error
        except (docker.errors.DockerException, OSError) as exc:
            out.errors.append(CollectionError("docker", target, _short(exc)))
            return None

    summaries = guarded("containers", lambda: client.containers(all=True))
    if summaries is not None and limits is not None:
        _refuse_beyond(len(summaries), limits[0], "containers")
    if summaries is not None:
        ids = [s["Id"] for s in summaries]
        done = [0]
        lock = threading.Lock()

        def inspect(cid: str) -> dict[str, Any] | None:
            res = guarded(f"container:{cid[:12]}", lambda: client.inspect_container(cid))
            if progress:
                with lock:
                    done[0] += 1
                    progress("inspecting containers", done[0], len(ids))
            return res

        inspected = _pmap(inspect, ids)
        containers = [container_facts(c, out.daemon.security_options) for c in inspected if c is not None]
        procs = want_processes(containers) if want_processes else None
        if procs is None:

            def top(c: ContainerFacts) -> ContainerFacts:
                from dataclasses import replace

                try:
                    res = client.top(c.id)
                except (docker.errors.DockerException, OSError) as exc:
                    return replace(c, processes_error=f"top failed: {_short(exc)}")
                return replace(c, processes=_top_processes(res))

            containers = _pmap(lambda c: top(c) if c.running else c, containers)
        else:
            from dataclasses import replace

            containers = [replace(c, processes=tuple(procs.get(c.id, ()))) if c.running else c for c in containers]
        out.containers = tuple(sorted(containers, key=lambda c: c.name))

    image_list = guarded("images", lambda: client.images())
    if image_list is not None and limits is not None:
        _refuse_beyond(len(image_list), limits[1], "images")
    if image_list is not None:

        def one_image(summary: dict[str, Any]) -> ImageFacts | None:
            iid = summary["Id"]
            img = guarded(f"image:{iid[:19]}", lambda: client.inspect_image(iid))
            if img is None:
                return None
            hist = guarded(f"history:{iid[:19]}", lambda: client.history(iid))
            return image_facts(img, hist)

        out.images = tuple(i for i in _pmap(one_image, image_list) if i is not None)

    nets = guarded("networks", lambda: client.networks())
    if nets is not None:
        out.networks = tuple(
            NetworkFacts(
                id=str(n.get("Id", "")),
                name=str(n.get("Name", "")),
                driver=str(n.get("Driver", "")),
                scope=str(n.get("Scope", "")),
                internal=bool(n.get("Internal", False)),
                options={str(k): str(v) for k, v in (n.get("Options") or {}).items()},
            )
            for n in nets
        )
    plugins = guarded("plugins", lambda: client.plugins())
    if plugins is not None:
        out.plugins = tuple(
            PluginFacts(
                name=str(p.get("Name", "")),
                enabled=bool(p.get("Enabled", False)),
                types=tuple(
                    f"{t.get('Prefix', '')}.{t.get('Capability', '')}/{t.get('Version', '')}"
                    for t in ((p.get("Config") or {}).get("Interface") or {}).get("Types") or ()
                ),
            )
            for p in plugins
        )
    return out


def _refuse_beyond(count: int, most: int, what: str) -> None:
    if count > most:
        raise OperationalError(
            f"the daemon has {count} {what}: a snapshot holds at most {most:,} (`bench --snapshot` "
            f"evaluates no more); run `dockguard bench` on the daemon's host instead"
        )


def _top_processes(res: dict[str, Any]) -> tuple[ProcessFact, ...]:
    """Processes from a ``top`` answer (default ps columns: UID PID PPID C STIME TTY TIME CMD)."""
    titles = [t.upper() for t in res.get("Titles") or ()]
    out = []
    for row in res.get("Processes") or ():
        rec = dict(zip(titles, row, strict=False))
        args = str(rec.get("CMD") or rec.get("COMMAND") or "")
        argv = tuple(args.split())
        try:
            pid = int(rec.get("PID", 0))
        except ValueError:
            pid = 0
        comm = os.path.basename(argv[0]) if argv else ""
        out.append(ProcessFact(pid=pid, user=str(rec.get("UID") or rec.get("USER") or ""), comm=comm, cmdline=argv))
    return tuple(out)
