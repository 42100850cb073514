"""The Snapshot: typed, frozen, versioned facts about one Docker installation.

Collectors (``dockguard.collect``) fill it; checks read it; it round-trips through JSON so a
snapshot taken on a host can be evaluated anywhere (``dockguard collect -o snap.json`` then
``dockguard bench --snapshot snap.json``).

A field that is ``None`` means "not collected" (the reason is in ``Snapshot.errors``); an
empty tuple means "collected, and there were none".  Checks must keep the two apart.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dockguard.inputs import MAX_NODES, InputError, MiB, parse_json, read_bytes
from dockguard.model import CollectionError, Finding, Outcome
from dockguard.serial import DecodeError, from_jsonable, to_jsonable

#: Byte cap of a snapshot file: parsing JSON costs up to ~27 bytes of memory per byte (a
#: document of empty lists), so this keeps `bench --snapshot` under the 512 MiB ceiling.
SNAPSHOT_LIMIT = 16 * MiB
#: Typed objects (facts) a snapshot may hold, and containers/images among them: checks and
#: reports cost memory per object (a SARIF report ~80 KiB per failing container), so these
#: bound them.
MAX_FACTS = 250_000
MAX_CONTAINERS = 2_000
MAX_IMAGES = 10_000

#: Largest Unix time accepted in a snapshot (9999-12-31T23:59:59Z): later ones cannot be shown.
MAX_TIMESTAMP = 253402300799

SCHEMA_VERSION = 1
"""Bump when a field changes meaning or disappears; adding optional fields keeps the version."""


@dataclass(frozen=True)
class FileFact:
    """stat() and optionally the content of one host path (paths are as seen on the host)."""

    path: str
    exists: bool
    kind: str = ""
    """``file``, ``dir``, ``socket``, ``symlink``, ``other``; empty when absent."""
    mode: int = 0
    """Permission bits including setuid/setgid/sticky (``st_mode & 0o7777``)."""
    uid: int = -1
    gid: int = -1
    owner: str | None = None
    group: str | None = None
    content: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class MountFact:
    """One line of the host's mountinfo."""

    mount_point: str
    source: str
    fstype: str
    options: str = ""


@dataclass(frozen=True)
class GroupFact:
    """A host group with its explicit members (from /etc/group)."""

    name: str
    gid: int
    members: tuple[str, ...] = ()


@dataclass(frozen=True)
class UserFact:
    """A host user (from /etc/passwd): needed for primary-group membership."""

    name: str
    uid: int
    gid: int


@dataclass(frozen=True)
class AuditFacts:
    """Audit rules in force (``auditctl -l``) or configured (rules files)."""

    source: str
    """``auditctl`` or ``files``."""
    rules: tuple[str, ...] = ()


@dataclass(frozen=True)
class ProcessFact:
    """A host process (the daemon, containerd, a container process)."""

    pid: int
    exe: str = ""
    cmdline: tuple[str, ...] = ()
    user: str = ""
    comm: str = ""


@dataclass(frozen=True)
class HostFacts:
    """Facts read from the host filesystem and /proc, under ``root``."""

    root: str = "/"
    files: dict[str, FileFact] = field(default_factory=dict)
    unit_files: dict[str, str] = field(default_factory=dict)
    """systemd unit name (``docker.service``, ``docker.socket``) -> path found on the host."""
    binaries: dict[str, str] = field(default_factory=dict)
    """program name (``dockerd``, ``runc``, ...) -> real path on the host."""
    mounts: tuple[MountFact, ...] | None = None
    groups: dict[str, GroupFact] | None = None
    users: dict[str, UserFact] | None = None
    audit: AuditFacts | None = None
    apparmor_enabled: bool | None = None
    apparmor_profiles: tuple[str, ...] | None = None
    selinux_enabled: bool | None = None
    dockerd: ProcessFact | None = None
    containerd: ProcessFact | None = None
    docker_socket_listen: tuple[str, ...] = ()
    """ListenStream values of docker.socket (systemd socket activation)."""
    containerd_socket: str | None = None
    """The containerd socket the daemon uses (``--containerd`` or containerd's ``--address``)."""


@dataclass(frozen=True)
class ConfigValue:
    """One effective daemon setting and where it came from (``flag``, ``file``, ``flag+file``)."""

    value: Any
    source: str
    raw: str = ""


@dataclass(frozen=True)
class DaemonConfig:
    """daemon.json merged with the dockerd command line, with provenance.

    Keys use daemon.json spelling (``icc``, ``hosts``, ``tlsverify``, ``log-level``...).
    """

    values: dict[str, ConfigValue] = field(default_factory=dict)
    config_file: str | None = None
    config_file_found: bool = False

    def get(self, key: str, default: Any = None) -> Any:
        """The effective value of `key`, or `default` when unset."""
        cv = self.values.get(key)
        return default if cv is None else cv.value

    def source(self, key: str) -> str | None:
        """Where `key` was set, or None when it was not."""
        cv = self.values.get(key)
        return None if cv is None else cv.source


@dataclass(frozen=True)
class IndexConfig:
    """A registry the daemon knows (Info.RegistryConfig.IndexConfigs)."""

    name: str
    secure: bool
    official: bool = False
    mirrors: tuple[str, ...] = ()


@dataclass(frozen=True)
class SwarmFacts:
    """Swarm state from Info.Swarm and, on a manager, the swarm inspect."""

    local_node_state: str = "inactive"
    node_id: str = ""
    node_addr: str = ""
    control_available: bool = False
    managers: int | None = None
    nodes: int | None = None
    autolock: bool | None = None
    node_cert_expiry_ns: int | None = None
    listen_addr: str | None = None
    data_path_addr: str | None = None

    @property
    def active(self) -> bool:
        """True when this node takes part in a swarm."""
        return self.local_node_state not in ("inactive", "")


@dataclass(frozen=True)
class DaemonFacts:
    """What the Engine API says about the daemon, plus its effective configuration."""

    server_version: str = ""
    api_version: str = ""
    build_time: str = ""
    kernel_version: str = ""
    operating_system: str = ""
    os_type: str = ""
    architecture: str = ""
    driver: str = ""
    docker_root_dir: str = ""
    logging_driver: str = ""
    cgroup_driver: str = ""
    live_restore: bool = False
    experimental: bool = False
    security_options: tuple[str, ...] = ()
    authorization_plugins: tuple[str, ...] = ()
    insecure_registry_cidrs: tuple[str, ...] = ()
    index_configs: tuple[IndexConfig, ...] = ()
    registry_mirrors: tuple[str, ...] = ()
    default_runtime: str = ""
    swarm: SwarmFacts = field(default_factory=SwarmFacts)
    config: DaemonConfig | None = None

    def security_option(self, name: str) -> dict[str, str] | None:
        """Parse ``name=seccomp,profile=default`` style entries; None when `name` is absent."""
        for opt in self.security_options:
            parts = dict(p.split("=", 1) for p in opt.split(",") if "=" in p)
            if parts.get("name") == name:
                return parts
        return None


@dataclass(frozen=True)
class MountPoint:
    """A container mount (bind, volume, tmpfs...)."""

    type: str
    source: str
    destination: str
    rw: bool = True
    propagation: str = ""


@dataclass(frozen=True)
class PortBinding:
    """A published port: container port/protocol bound to host ip:port."""

    container_port: str
    protocol: str = "tcp"
    host_ip: str = ""
    host_port: int | None = None


@dataclass(frozen=True)
class DeviceMapping:
    """A host device exposed to a container."""

    path_on_host: str
    path_in_container: str
    permissions: str = "rwm"


@dataclass(frozen=True)
class ContainerFacts:
    """One container's security-relevant configuration and state.

    Deliberately independent of the Engine API's JSON shape so that a compose file or a
    Kubernetes pod spec can fill it too.
    """

    id: str
    name: str
    image: str = ""
    image_id: str = ""
    running: bool = True
    status: str = "running"
    user: str = ""
    privileged: bool = False
    cap_add: tuple[str, ...] = ()
    cap_drop: tuple[str, ...] = ()
    network_mode: str = "default"
    networks: tuple[str, ...] = ()
    pid_mode: str = ""
    ipc_mode: str = ""
    uts_mode: str = ""
    userns_mode: str = ""
    cgroup_parent: str = ""
    readonly_rootfs: bool = False
    memory: int = 0
    cpu_shares: int = 0
    nano_cpus: int = 0
    cpu_quota: int = 0
    pids_limit: int | None = None
    restart_policy: str = ""
    restart_max_retries: int = 0
    security_opt: tuple[str, ...] = ()
    apparmor_profile: str = ""
    mounts: tuple[MountPoint, ...] = ()
    ports: tuple[PortBinding, ...] = ()
    devices: tuple[DeviceMapping, ...] = ()
    ulimits: tuple[str, ...] = ()
    healthcheck: tuple[str, ...] | None = None
    """The container's effective HEALTHCHECK test (None when there is none)."""
    health_status: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    processes: tuple[ProcessFact, ...] | None = None
    processes_error: str | None = None

    @property
    def label(self) -> str:
        """Logical location used in details, e.g. ``container:web``."""
        return f"container:{self.name}"


@dataclass(frozen=True)
class HistoryEntry:
    """One image history line."""

    created_by: str
    empty_layer: bool = False
    created: str = ""


@dataclass(frozen=True)
class ImageFacts:
    """An image as the daemon describes it (inspect + history)."""

    id: str
    repo_tags: tuple[str, ...] = ()
    repo_digests: tuple[str, ...] = ()
    created: str = ""
    user: str = ""
    healthcheck: tuple[str, ...] | None = None
    env: tuple[str, ...] = ()
    labels: dict[str, str] = field(default_factory=dict)
    exposed_ports: tuple[str, ...] = ()
    size: int = 0
    os: str = ""
    architecture: str = ""
    history: tuple[HistoryEntry, ...] | None = None

    @property
    def display_name(self) -> str:
        """First tag, else the short id."""
        return self.repo_tags[0] if self.repo_tags else self.id.removeprefix("sha256:")[:12]


@dataclass(frozen=True)
class NetworkFacts:
    """A Docker network."""

    id: str
    name: str
    driver: str = ""
    scope: str = ""
    internal: bool = False
    options: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PluginFacts:
    """An installed managed plugin."""

    name: str
    enabled: bool
    types: tuple[str, ...] = ()


@dataclass(frozen=True)
class ImageScanSummary:
    """What an image scan found, as CIS 4.4/4.8/4.10 read it (schema 2).

    `vulnerabilities` counts unsuppressed vulnerabilities by severity name; None means they
    were not checked (no database).  `complete` is False when part of the image was not read
    (`not_read` says which), `error` set when the scan failed altogether.
    """

    image: str
    image_id: str = ""
    complete: bool = True
    not_read: tuple[str, ...] = ()
    error: str | None = None
    vulnerabilities: dict[str, int] | None = None
    setuid_files: tuple[str, ...] = ()
    secrets: tuple[str, ...] = ()
    """Redacted ``location: value`` of each secret found."""


@dataclass(frozen=True)
class Snapshot:
    """All facts of one collection run."""

    schema_version: int = SCHEMA_VERSION
    tool_version: str = ""
    created: float = 0.0
    hostname: str = ""
    docker_host: str = ""
    host: HostFacts | None = None
    daemon: DaemonFacts | None = None
    containers: tuple[ContainerFacts, ...] | None = None
    images: tuple[ImageFacts, ...] | None = None
    networks: tuple[NetworkFacts, ...] | None = None
    plugins: tuple[PluginFacts, ...] | None = None
    environment: dict[str, str] = field(default_factory=dict)
    """Selected environment variables of the auditing process (DOCKER_CONTENT_TRUST...)."""
    errors: tuple[CollectionError, ...] = ()
    extras: dict[str, Any] = field(default_factory=dict)
    """Results of other dockguard parts (image scans, endpoint probes) keyed by part name."""

    def errors_for(self, source: str) -> list[CollectionError]:
        """Collection errors recorded by `source` (e.g. ``docker``, ``host``)."""
        return [e for e in self.errors if e.source == source]

    def to_json(self) -> str:
        """Serialise to indented, key-sorted JSON."""
        return json.dumps(to_jsonable(self), indent=1, sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes, origin: str = "<snapshot>") -> Snapshot:
        """Parse a snapshot; any problem is an `InputError` naming `origin` and the JSON path."""
        return from_document(parse_json(text, origin, max_nodes=MAX_NODES), origin)

    def save(self, path: Path) -> None:
        """Write the snapshot to `path` (through the safe writer of `dockguard.outputs`)."""
        from dockguard.outputs import write_text

        write_text(str(path), self.to_json() + "\n")

    @classmethod
    def load(cls, path: Path | str) -> Snapshot:
        """Read a snapshot from `path` (at most `SNAPSHOT_LIMIT` bytes; ``-`` is stdin)."""
        origin = str(path) if str(path) != "-" else "<stdin>"
        data = read_bytes(path, limit=SNAPSHOT_LIMIT, what="snapshot")
        return from_document(parse_json(data, origin, max_nodes=MAX_NODES), origin)


@dataclass(frozen=True)
class EndpointProbeRecord:
    """The shape of one ``extras["endpoint_probe"]`` entry (checked on load, kept as plain JSON)."""

    address: str
    outcome: Outcome = Outcome.INFO
    message: str = ""
    summary: dict[str, Any] = field(default_factory=dict)
    findings: tuple[Finding, ...] = ()


#: Types of the ``extras`` entries dockguard itself writes; other keys are kept as opaque JSON
#: (nothing reads them), so a snapshot from a newer dockguard still loads.
EXTRAS_TYPES: dict[str, Any] = {"endpoint_probe": tuple[EndpointProbeRecord, ...] | None}


def from_document(data: Any, origin: str = "<snapshot>") -> Snapshot:
    """Build a `Snapshot` from parsed JSON, checking every value's type on the way.

    Every problem is an `InputError` with `origin` and the JSON path: a wrongly typed value is
    refused here, not found later by a check.
    """
    if not isinstance(data, dict) or "schema_version" not in data:
        raise InputError(origin, "snapshot has no schema_version: not a dockguard snapshot")
    version = data["schema_version"]
    if isinstance(version, bool) or not isinstance(version, int) or not 1 <= version <= SCHEMA_VERSION:
        shown = version if isinstance(version, int | float | str) and len(str(version)) < 40 else type(version).__name__
        raise InputError(
            origin,
            f"schema_version {shown!r} is not supported (this dockguard reads version {SCHEMA_VERSION})",
            "$.schema_version",
        )
    try:
        snapshot = from_jsonable(Snapshot, data, max_objects=MAX_FACTS)
        for what, items, most in (("containers", snapshot.containers, MAX_CONTAINERS),
                                  ("images", snapshot.images, MAX_IMAGES)):
            if items is not None and len(items) > most:
                raise DecodeError(f"$.{what}", f"{len(items)} {what}: more than the {most} this dockguard evaluates")
        for key, tp in EXTRAS_TYPES.items():
            if key in snapshot.extras:
                from_jsonable(tp, snapshot.extras[key], f"$.extras.{key}")
        if snapshot.daemon is not None and snapshot.daemon.config is not None:
            _check_config(snapshot.daemon.config)
        if not -MAX_TIMESTAMP <= snapshot.created <= MAX_TIMESTAMP:
            raise DecodeError("$.created", "time stamp out of range")
    except DecodeError as exc:
        raise InputError(origin, f"snapshot is malformed: {exc.problem}", exc.where) from None
    return snapshot


#: Daemon settings read as plain strings by the checks (daemon.json spelling).
STRING_SETTINGS = frozenset({
    "log-level", "userns-remap", "cgroup-parent", "seccomp-profile", "tlscacert", "tlscert", "tlskey",
    "containerd", "data-root", "exec-root", "pidfile", "group", "log-driver", "storage-driver", "bridge",
    "default-runtime", "bip", "default-ipc-mode", "default-cgroupns-mode", "containerd-namespace",
    "fixed-cidr", "userland-proxy-path", "init-path", "http-proxy", "https-proxy", "no-proxy",
    "swarm-default-advertise-addr",
})


def config_type(key: str) -> Any:
    """The type a daemon setting must have in a snapshot, or None when any JSON is accepted.

    Types follow what the collector can produce: daemon.json values as dockerd decodes them,
    and command-line values as `dockguard.collect.daemon_config.parse_flags` gives them (a
    boolean flag with an unreadable value stays a string; a list setting may be one string).
    """
    from dockguard.collect.daemon_config import BOOL_FLAGS, LIST_FLAGS, MAP_FLAGS

    if key in BOOL_FLAGS:
        return bool | str
    if key in LIST_FLAGS.values():
        return tuple[str, ...] | str
    if key in MAP_FLAGS.values():
        return dict[str, Any]
    if key in STRING_SETTINGS:
        return str
    return None


def _check_config(config: DaemonConfig) -> None:
    """Effective settings the checks read must have the type dockerd gives them."""
    for key, cv in config.values.items():
        tp = config_type(key)
        if tp is not None:
            from_jsonable(tp, cv.value, f"$.daemon.config.values.{key}.value")
