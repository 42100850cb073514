"""The Snapshot: typed, frozen, versioned facts about one Docker installation.

Collectors (``dockguard.collect``) fill it; checks read it; it round-trips through JSON so a
snapshot taken on a host can be evaluated anywhere (``dockguard collect -o snap.json`` then
``dockguard bench --snapshot snap.json``).

A field that is ``None`` means "not collected" (the reason is in ``Snapshot.errors``); an
empty tuple means "collected, and there were none".  Checks must keep the two apart.

Schema 2 (this version) holds every fact in a typed field: the daemon's sockets and TCP
listeners (`HostFacts.docker_sockets`, `HostFacts.docker_tcp_listeners`), each container's
seccomp setting (`ContainerFacts.seccomp`), the endpoint probes (`Snapshot.endpoint_probes`)
and image scans (`Snapshot.image_scans`).  Schema 1 files (with an ``extras`` mapping) are
migrated on load by `migrate_schema_1`.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Union

from dockguard.inputs import MAX_NODES, InputError, MiB, parse_json, read_bytes
from dockguard.model import CollectionError, Finding, Outcome, ProbeStep, Severity, StepStatus
from dockguard.serial import DecodeError, from_jsonable, register_alias, to_jsonable

#: Byte cap of a snapshot file: parsing JSON costs up to ~27 bytes of memory per byte (a
#: document of empty lists), so this keeps `bench --snapshot` under the 512 MiB ceiling.
SNAPSHOT_LIMIT = 16 * MiB
#: Typed objects (facts) a snapshot may hold, and containers/images among them: checks and
#: reports cost memory per object (a SARIF report ~80 KiB per failing container), so these
#: bound them.  `dockguard collect` refuses a host beyond them too, so that it never writes a
#: snapshot `bench --snapshot` would refuse.
MAX_FACTS = 250_000
MAX_CONTAINERS = 2_000
MAX_IMAGES = 10_000

#: Largest Unix time accepted in a snapshot (9999-12-31T23:59:59Z): later ones cannot be shown.
MAX_TIMESTAMP = 253402300799

SCHEMA_VERSION = 2
"""Bump when a field changes meaning or disappears; adding optional fields keeps the version."""

#: A JSON value as daemon.json allows it (arrays are kept as tuples: facts are immutable).
JsonValue = Union[None, bool, int, float, str, tuple["JsonValue", ...], dict[str, "JsonValue"]]  # noqa: UP007


class FileKind(enum.StrEnum):
    """What a host path is (``stat`` following symlinks); NONE when it does not exist."""

    NONE = ""
    FILE = "file"
    DIR = "dir"
    SOCKET = "socket"
    SYMLINK = "symlink"
    OTHER = "other"


class AuditSource(enum.StrEnum):
    """Where the audit rules were read."""

    AUDITCTL = "auditctl"
    """``auditctl -l``: the rules in force."""
    FILES = "files"
    """The rules files (``/etc/audit/audit.rules``, ``rules.d``): the configured rules."""


class ConfigSource(enum.StrEnum):
    """Where an effective daemon setting (or a listener) was configured."""

    FLAG = "flag"
    """The running dockerd's command line."""
    FILE = "file"
    """daemon.json."""
    FLAG_FILE = "flag+file"
    """Both (list settings are unioned by dockerd)."""
    UNIT = "unit"
    """docker.service's ExecStart (no running dockerd was found)."""
    UNIT_FILE = "unit+file"
    """docker.service's ExecStart and daemon.json."""
    SOCKET_UNIT = "docker.socket"
    """A ListenStream of the docker.socket unit (systemd socket activation, ``-H fd://``)."""


class SeccompKind(enum.StrEnum):
    """Which seccomp profile a container runs with (see `dockguard.seccomp.container`)."""

    DEFAULT = "default"
    """No seccomp option: the daemon's default profile (`SeccompSetting.daemon_profile`)."""
    UNCONFINED = "unconfined"
    """``seccomp=unconfined``: no filter."""
    INLINE = "inline"
    """A custom profile sent inline as JSON (what the docker CLI does with ``seccomp=FILE``)."""
    LOCALHOST = "localhost"
    """A profile named by a file on the node (``localhost/PATH``, Kubernetes style): not readable here."""
    PRIVILEGED = "privileged"
    """A privileged container: seccomp is disabled whatever the option says."""
    OTHER = "other"
    """An option value that is neither JSON, a keyword nor ``localhost/``: dockerd cannot load it."""


@dataclass(frozen=True)
class FileFact:
    """stat() and optionally the content of one host path (paths are as seen on the host)."""

    path: str
    exists: bool
    kind: FileKind = FileKind.NONE
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

    source: AuditSource
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
class TcpListener:
    """A TCP address the daemon serves (``tcp://host:port`` as configured) and where it is set."""

    address: str
    source: ConfigSource


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
    docker_sockets: tuple[str, ...] | None = None
    """The unix sockets the daemon serves, normalised host paths (``fd://`` resolved through
    docker.socket, the default socket when none is configured); each is in `files`.  None when
    the daemon's configuration was not read.  Computed once, by
    `dockguard.collect.daemon_config.daemon_endpoints`."""
    docker_tcp_listeners: tuple[TcpListener, ...] | None = None
    """The TCP addresses the daemon serves (``-H``/``hosts``, docker.socket with ``fd://``)."""


@dataclass(frozen=True)
class ConfigValue:
    """One effective daemon setting and where it came from."""

    value: JsonValue
    source: ConfigSource
    raw: str = ""


@dataclass(frozen=True)
class DaemonConfig:
    """daemon.json merged with the dockerd command line, with provenance.

    Keys use daemon.json spelling (``icc``, ``hosts``, ``tlsverify``, ``log-level``...).
    """

    values: dict[str, ConfigValue] = field(default_factory=dict)
    config_file: str | None = None
    config_file_found: bool = False

    def get(self, key: str) -> JsonValue:
        """The effective value of `key`, or None when unset."""
        cv = self.values.get(key)
        return None if cv is None else cv.value

    def source(self, key: str) -> ConfigSource | None:
        """Where `key` was set, or None when it was not."""
        cv = self.values.get(key)
        return None if cv is None else cv.source

    def strings(self, key: str) -> tuple[str, ...]:
        """A list setting as strings (a lone string is a list of one; unset is empty)."""
        value = self.get(key)
        if value is None:
            return ()
        if isinstance(value, str):
            return (value,)
        if isinstance(value, tuple | list):  # a list only in facts made by hand
            return tuple(v if isinstance(v, str) else json.dumps(v) for v in value)
        return (json.dumps(value) if not isinstance(value, bool | int | float) else str(value),)


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
    """What the Engine API says about the daemon, plus its effective configuration.

    `id` and `name` are ``/info``'s ``ID`` and ``Name`` (the daemon's host name): together they
    identify a host of a fleet (two daemons on one machine are two hosts).
    """

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
    id: str = ""
    name: str = ""

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
class SeccompSetting:
    """A container's seccomp setting, classified once by `dockguard.seccomp.container.classify_setting`.

    `profile` is the inline profile's JSON text (INLINE) or the option's value (LOCALHOST,
    OTHER); `daemon_profile` what the daemon applies by default (``builtin``, ``default``,
    ``unconfined`` or a path, from its SecurityOptions) when known.
    """

    kind: SeccompKind = SeccompKind.DEFAULT
    profile: str | None = None
    daemon_profile: str | None = None


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
    seccomp: SeccompSetting | None = None
    """The seccomp setting the collector classified from `privileged` and `security_opt`
    (`dockguard.seccomp.container.classify_setting`).  None: facts made without a collector
    (the authz plugin's request translation); CIS 5.22 then classifies with the same function."""
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

    `vulnerabilities` counts unsuppressed vulnerabilities by severity; None means they
    were not checked (no database).  `complete` is False when part of the image was not read
    (`not_read` says which), `error` set when the scan failed altogether.
    """

    image: str
    image_id: str = ""
    complete: bool = True
    not_read: tuple[str, ...] = ()
    error: str | None = None
    vulnerabilities: dict[Severity, int] | None = None
    setuid_files: tuple[str, ...] = ()
    secrets: tuple[str, ...] = ()
    """Redacted ``location: value`` of each secret found."""


@dataclass(frozen=True)
class EndpointProbeFacts:
    """What probing one TCP endpoint of the daemon observed (no verdict: CIS 2.7 decides).

    Each property is True/False when a probe step observed it and None when no step could
    tell (the step failed or was skipped; `steps` say why).
    """

    address: str
    plain_http: bool | None = None
    """The Docker API answered plain HTTP."""
    client_verification: bool | None = None
    """TLS refused a client without a certificate (False: it answered one)."""
    foreign_client_cert_accepted: bool | None = None
    """A client certificate from a CA the daemon cannot know was accepted."""
    tls_versions_accepted: tuple[str, ...] | None = None
    steps: tuple[ProbeStep, ...] = ()
    findings: tuple[Finding, ...] = ()

    @property
    def reachable(self) -> bool:
        """At least one step that talks to the endpoint completed."""
        return any(s.status is StepStatus.COMPLETED for s in self.steps)


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
    endpoint_probes: tuple[EndpointProbeFacts, ...] | None = None
    """Probes of the daemon's TCP endpoints made during collection (None: none was made)."""
    image_scans: tuple[ImageScanSummary, ...] | None = None
    """Image scans made by ``dockguard audit`` (None: no image was scanned)."""

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


def from_document(data: object, origin: str = "<snapshot>") -> Snapshot:
    """Build a `Snapshot` from parsed JSON, checking every value's type on the way.

    Every problem is an `InputError` with `origin` and the JSON path: a wrongly typed value is
    refused here, not found later by a check.  A schema 1 document is migrated (`migrate_schema_1`).
    """
    if not isinstance(data, dict) or "schema_version" not in data:
        raise InputError(origin, "snapshot has no schema_version: not a dockguard snapshot")
    version = data["schema_version"]
    if isinstance(version, bool) or not isinstance(version, int) or not 1 <= version <= SCHEMA_VERSION:
        shown = version if isinstance(version, int | float | str) and len(str(version)) < 40 else type(version).__name__
        raise InputError(
            origin,
            f"schema_version {shown!r} is not supported (this dockguard reads versions 1 to {SCHEMA_VERSION})",
            "$.schema_version",
        )
    try:
        extras: object = None
        if version == 1:
            data = dict(data)
            extras = data.pop("extras", None)
            data["schema_version"] = SCHEMA_VERSION
        snapshot = from_jsonable(Snapshot, data, max_objects=MAX_FACTS)
        if version == 1:
            snapshot = migrate_schema_1(snapshot, extras)
        for what, items, most in (("containers", snapshot.containers, MAX_CONTAINERS),
                                  ("images", snapshot.images, MAX_IMAGES)):
            if items is not None and len(items) > most:
                raise DecodeError(f"$.{what}", f"{len(items)} {what}: more than the {most} this dockguard evaluates")
        if snapshot.daemon is not None and snapshot.daemon.config is not None:
            _check_config(snapshot.daemon.config)
        if not -MAX_TIMESTAMP <= snapshot.created <= MAX_TIMESTAMP:
            raise DecodeError("$.created", "time stamp out of range")
    except DecodeError as exc:
        raise InputError(origin, f"snapshot is malformed: {exc.problem}", exc.where) from None
    return snapshot


# --------------------------------------------------------------------------- schema 1


@dataclass(frozen=True)
class _ProbeFindingV1:
    """A finding as schema 1's probe summary listed it (id, severity, title only)."""

    id: str
    severity: Severity
    title: str


@dataclass(frozen=True)
class _ProbeSummaryV1:
    """``extras["endpoint_probe"][i]["summary"]`` of schema 1 (what `endpoint_summary` wrote)."""

    target: str = ""
    transport: str | None = None
    reachable: bool = False
    plain_http: bool | None = None
    client_verification: bool | None = None
    foreign_client_cert_accepted: bool | None = None
    tls_authentication: bool | None = None
    tls_versions: dict[str, str] | None = None
    steps: dict[str, StepStatus] = field(default_factory=dict)
    failed_steps: tuple[str, ...] = ()
    findings: tuple[_ProbeFindingV1, ...] = ()


@dataclass(frozen=True)
class _ProbeRecordV1:
    """One ``extras["endpoint_probe"]`` entry of schema 1; its verdict (``outcome``,
    ``message``) was the collector's and is dropped: CIS 2.7 now decides from the facts."""

    address: str
    outcome: Outcome = Outcome.INFO
    message: str = ""
    summary: _ProbeSummaryV1 = field(default_factory=lambda: _ProbeSummaryV1())
    findings: tuple[Finding, ...] = ()


_SUMMARY_KEYS = frozenset(_ProbeSummaryV1.__dataclass_fields__)


def _known_summary_keys(raw: object) -> object:
    """A schema 1 probe record with only the summary keys this dockguard reads (the summary was
    free-form JSON then)."""
    if isinstance(raw, dict) and isinstance(raw.get("summary"), dict):
        return {**raw, "summary": {k: v for k, v in raw["summary"].items() if k in _SUMMARY_KEYS}}
    return raw


def _probe_from_v1(record: _ProbeRecordV1) -> EndpointProbeFacts:
    summary = record.summary
    accepted = None
    if summary.tls_versions is not None:
        accepted = tuple(v for v, result in summary.tls_versions.items() if result == "accepted")
    return EndpointProbeFacts(
        address=record.address,
        plain_http=summary.plain_http,
        client_verification=summary.client_verification,
        foreign_client_cert_accepted=summary.foreign_client_cert_accepted,
        tls_versions_accepted=accepted,
        steps=tuple(ProbeStep(name, status) for name, status in summary.steps.items()),
        findings=record.findings,
    )


def migrate_schema_1(snapshot: Snapshot, extras: object) -> Snapshot:
    """A schema 2 snapshot from one decoded from a schema 1 document (without its ``extras``).

    Fills what schema 1 did not hold, with the same code the collector uses: each container's
    seccomp setting, the daemon's sockets and TCP listeners (a socket stat'ed under another
    spelling of its path, e.g. ``/var/run//docker.sock``, is filed under the normalised one)
    and the endpoint probes of ``extras["endpoint_probe"]`` (other ``extras`` keys were never
    read and are dropped).
    """
    from dataclasses import replace

    from dockguard.collect.daemon_config import daemon_endpoints, normalise_socket_path
    from dockguard.seccomp.container import classify_setting

    probes: tuple[EndpointProbeFacts, ...] | None = None
    if extras is not None:
        if not isinstance(extras, dict):
            raise DecodeError("$.extras", f"expected an object, got {type(extras).__name__}")
        if extras.get("endpoint_probe") is not None:
            raw = extras["endpoint_probe"]
            if isinstance(raw, list):
                raw = [_known_summary_keys(r) for r in raw]
            records = from_jsonable(tuple[_ProbeRecordV1, ...], raw, "$.extras.endpoint_probe", max_objects=MAX_FACTS)
            probes = tuple(_probe_from_v1(r) for r in records)
    daemon_options = snapshot.daemon.security_options if snapshot.daemon is not None else None
    containers = snapshot.containers
    if containers is not None:
        containers = tuple(
            replace(c, seccomp=classify_setting(c.privileged, c.security_opt, daemon_options)) for c in containers
        )
    host = snapshot.host
    config = snapshot.daemon.config if snapshot.daemon is not None else None
    if host is not None and config is not None:
        sockets, listeners = daemon_endpoints(config, host.docker_socket_listen)
        files = dict(host.files)
        for path, fact in host.files.items():
            normal = normalise_socket_path(path)
            if normal in sockets and normal not in files:
                files[normal] = replace(fact, path=normal)
        host = replace(host, files=files, docker_sockets=sockets, docker_tcp_listeners=listeners)
    return replace(snapshot, schema_version=SCHEMA_VERSION, containers=containers, host=host,
                   endpoint_probes=probes)


# --------------------------------------------------------------------------- daemon settings


#: Daemon settings read as plain strings by the checks (daemon.json spelling).
STRING_SETTINGS = frozenset({
    "log-level", "userns-remap", "cgroup-parent", "seccomp-profile", "tlscacert", "tlscert", "tlskey",
    "containerd", "data-root", "exec-root", "pidfile", "group", "log-driver", "storage-driver", "bridge",
    "default-runtime", "bip", "default-ipc-mode", "default-cgroupns-mode", "containerd-namespace",
    "fixed-cidr", "userland-proxy-path", "init-path", "http-proxy", "https-proxy", "no-proxy",
    "swarm-default-advertise-addr",
})


def config_type(key: str) -> object:
    """The type a daemon setting must have in a snapshot, or None when any JSON value is accepted.

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
        return dict[str, JsonValue]
    if key in STRING_SETTINGS:
        return str
    return None


def _check_config(config: DaemonConfig) -> None:
    """Effective settings the checks read must have the type dockerd gives them."""
    from dockguard.serial import check_type

    for key, cv in config.values.items():
        tp = config_type(key)
        if tp is not None:
            check_type(tp, cv.value, f"$.daemon.config.values.{key}.value")


register_alias("JsonValue", JsonValue)
