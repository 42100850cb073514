"""Host facts: files the CIS checks look at, /proc, audit rules, mounts, users and groups.

Everything is read under a host root so dockguard can run in a container with the host's
filesystem mounted (``--host-root /host``; mount the host's /proc at ``/host/proc`` too).
Failures are recorded as CollectionErrors, never raised.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field

from dockguard.collect.daemon_config import (
    DEFAULT_CONFIG_FILE,
    daemon_endpoints,
    exec_start_args,
    listen_streams,
    merge,
    normalise_socket_path,
    parse_daemon_json,
    parse_flags,
)
from dockguard.collect.hostfs import HostFS, parse_group, parse_passwd
from dockguard.model import CollectionError
from dockguard.snapshot import (
    AuditFacts,
    AuditSource,
    ConfigSource,
    DaemonConfig,
    FileFact,
    GroupFact,
    HostFacts,
    MountFact,
    ProcessFact,
    UserFact,
)

UNIT_DIRS = ("/etc/systemd/system", "/run/systemd/system", "/lib/systemd/system", "/usr/lib/systemd/system")
UNITS = ("docker.service", "docker.socket", "containerd.service")
BINARIES = (
    "dockerd",
    "containerd",
    "containerd-shim",
    "containerd-shim-runc-v1",
    "containerd-shim-runc-v2",
    "runc",
    "docker-init",
    "docker-proxy",
)
BIN_DIRS = ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin", "/usr/libexec/docker")
STATIC_FILES = (
    "/etc/docker",
    "/etc/default/docker",
    "/etc/sysconfig/docker",
    "/etc/containerd/config.toml",
    "/run/containerd",
    "/etc/docker/certs.d",
)
DEFAULT_CONTAINERD_SOCKET = "/run/containerd/containerd.sock"
_CONTAINER_ID = re.compile(r"[0-9a-f]{64}")


@dataclass
class HostCollection:
    """The result of collecting host facts: facts plus errors."""

    facts: HostFacts
    errors: list[CollectionError] = field(default_factory=list)
    config: DaemonConfig | None = None


def find_dockerd(
    fs: HostFS, docker_host: str, docker_root_dir: str, processes: list[ProcessFact] | None = None
) -> ProcessFact | None:
    """The dockerd process serving `docker_host`, found by its executable, not by substring.

    Several daemons may run (rootless, test daemons): prefer the one whose ``-H`` includes our
    socket, else the one whose data root matches the API's DockerRootDir, else the only one.
    """
    procs = _processes(fs) if processes is None else processes
    candidates = [p for p in procs if os.path.basename(p.exe) == "dockerd"]
    if not candidates:
        return None
    if len(candidates) == 1:
        return candidates[0]
    sock = normalise_socket_path(docker_host.removeprefix("unix://")) if docker_host.startswith("unix://") else None
    for p in candidates:
        flags, _ = parse_flags(p.cmdline[1:])
        hosts = flags.get("hosts")
        if sock and isinstance(hosts, list) and any(
            h.startswith("unix://") and normalise_socket_path(h.removeprefix("unix://")) == sock for h in hosts
        ):
            return p
    for p in candidates:
        flags, _ = parse_flags(p.cmdline[1:])
        root = flags.get("data-root", "/var/lib/docker")
        if docker_root_dir and isinstance(root, str) and os.path.normpath(root) == os.path.normpath(docker_root_dir):
            return p
    return None


def _processes(fs: HostFS) -> list[ProcessFact]:
    out = []
    proc = fs.real("/proc")
    for name in os.listdir(proc) if os.path.isdir(proc) else ():
        if not name.isdigit():
            continue
        try:
            exe = os.readlink(os.path.join(proc, name, "exe"))
        except OSError:
            continue
        exe = exe.removesuffix(" (deleted)")
        try:
            with open(os.path.join(proc, name, "cmdline"), "rb") as f:
                cmdline = tuple(a.decode(errors="replace") for a in f.read().split(b"\0") if a)
        except OSError:
            continue
        out.append(ProcessFact(pid=int(name), exe=exe, cmdline=cmdline))
    return out


def _hidden_dockerd(fs: HostFS) -> list[int]:
    """Pids whose command line says dockerd but whose executable link we may not read.

    Only to explain why no dockerd was found: a command line is never trusted to identify it.
    """
    proc = fs.real("/proc")
    out = []
    for name in os.listdir(proc) if os.path.isdir(proc) else ():
        if not name.isdigit():
            continue
        try:
            os.readlink(os.path.join(proc, name, "exe"))
            continue
        except PermissionError:
            pass
        except OSError:
            continue
        try:
            with open(os.path.join(proc, name, "cmdline"), "rb") as f:
                argv0 = f.read(4096).split(b"\0", 1)[0]
        except OSError:
            continue
        if os.path.basename(argv0) == b"dockerd":
            out.append(int(name))
    return sorted(out)


def _ppid(fs: HostFS, pid: int) -> int | None:
    try:
        with open(fs.real(f"/proc/{pid}/stat")) as f:
            data = f.read()
        return int(data.rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def find_containerd(
    fs: HostFS, dockerd: ProcessFact | None, processes: list[ProcessFact] | None = None
) -> ProcessFact | None:
    """The containerd serving dockerd: its child when managed, else a system containerd."""
    all_procs = _processes(fs) if processes is None else processes
    procs = [p for p in all_procs if os.path.basename(p.exe) == "containerd"]
    if dockerd is not None:
        for p in procs:
            if _ppid(fs, p.pid) == dockerd.pid:
                return p
    return procs[0] if len(procs) == 1 else None


def containerd_address(fs: HostFS, proc: ProcessFact | None) -> str | None:
    """containerd's socket from ``--address``/``-a`` or the ``[grpc]`` section of its config."""
    if proc is None:
        return None
    args = list(proc.cmdline[1:])
    config = "/etc/containerd/config.toml"
    for i, a in enumerate(args):
        for opt in ("--address", "-a"):
            if a == opt and i + 1 < len(args):
                return args[i + 1]
            if a.startswith(opt + "="):
                return a.split("=", 1)[1]
        for opt in ("--config", "-c"):
            if a == opt and i + 1 < len(args):
                config = args[i + 1]
            elif a.startswith(opt + "="):
                config = a.split("=", 1)[1]
    try:
        data = tomllib.loads(fs.read_text(config))
        addr = data.get("grpc", {}).get("address")
        if isinstance(addr, str) and addr:
            return addr
    except (OSError, tomllib.TOMLDecodeError):
        pass
    return DEFAULT_CONTAINERD_SOCKET


def find_binaries(fs: HostFS, processes: Iterable[ProcessFact]) -> dict[str, str]:
    """Real host paths of Docker's programs: running processes first, then the usual dirs."""
    found: dict[str, str] = {}
    for p in processes:
        name = os.path.basename(p.exe)
        if name in BINARIES and name not in found:
            found[name] = p.exe
    for name in BINARIES:
        if name in found:
            continue
        for d in BIN_DIRS:
            path = f"{d}/{name}"
            if fs.exists(path):
                found[name] = fs.host_realpath(path)
                break
    return found


def read_audit(fs: HostFS) -> tuple[AuditFacts | None, CollectionError | None]:
    """Audit rules in force via ``auditctl -l`` (real root only), else the rules files."""
    if fs.is_real_root and shutil.which("auditctl"):
        try:
            proc = subprocess.run(["auditctl", "-l"], capture_output=True, text=True, timeout=10)
            if proc.returncode == 0:
                lines = [ln.strip() for ln in proc.stdout.splitlines() if ln.strip()]
                return AuditFacts(AuditSource.AUDITCTL, tuple(ln for ln in lines if ln.lower() != "no rules")), None
        except (OSError, subprocess.TimeoutExpired):
            pass
    paths = ["/etc/audit/audit.rules"] + [
        "/etc/audit/rules.d/" + n for n in fs.listdir("/etc/audit/rules.d") if n.endswith(".rules")
    ]
    rules: list[str] = []
    for path in paths:
        try:
            text = fs.read_text(path)
        except FileNotFoundError:
            continue
        except OSError as exc:
            return None, CollectionError("host", path, f"cannot read audit rules: {exc}")
        rules.extend(ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#"))
    return AuditFacts(AuditSource.FILES, tuple(rules)), None


def read_mounts(fs: HostFS) -> tuple[MountFact, ...] | None:
    """The host's mount table (init's mountinfo, else ours)."""
    for path in ("/proc/1/mountinfo", "/proc/self/mountinfo"):
        try:
            text = fs.read_text(path)
        except OSError:
            continue
        out = []
        for line in text.splitlines():
            left, _, right = line.partition(" - ")
            lf, rf = left.split(), right.split()
            if len(lf) < 5 or len(rf) < 2:
                continue
            mp = lf[4].replace("\\040", " ")
            out.append(MountFact(mount_point=mp, source=rf[1], fstype=rf[0], options=lf[5] if len(lf) > 5 else ""))
        return tuple(out)
    return None


def collect_host(
    root: str = "/",
    *,
    docker_host: str = "",
    docker_root_dir: str = "",
) -> HostCollection:
    """Collect every host fact the catalogue needs."""
    fs = HostFS(root)
    errors: list[CollectionError] = []
    files: dict[str, FileFact] = {}

    def stat(path: str, content: bool = False) -> FileFact:
        if path not in files or (content and files[path].content is None and files[path].exists):
            files[path] = fs.stat(path, with_content=content)
        return files[path]

    if not os.path.isdir(fs.root):
        return HostCollection(HostFacts(root=root), [CollectionError("host", root, "host root is not a directory")])

    unit_files: dict[str, str] = {}
    for unit in UNITS:
        for d in UNIT_DIRS:
            f = stat(f"{d}/{unit}", content=True)
            if f.exists and unit not in unit_files:
                unit_files[unit] = f.path
    listen: list[str] = []
    if "docker.socket" in unit_files:
        listen = listen_streams(files[unit_files["docker.socket"]].content or "")

    processes = _processes(fs)  # one pass over /proc for both daemons
    dockerd = find_dockerd(fs, docker_host, docker_root_dir, processes)
    flag_source = ConfigSource.FLAG
    if dockerd is not None:
        flags, _ = parse_flags(dockerd.cmdline[1:])
    else:
        unit_args = None
        if "docker.service" in unit_files:
            unit_args = exec_start_args(files[unit_files["docker.service"]].content or "")
        flags, _ = parse_flags(unit_args or [])
        flag_source = ConfigSource.UNIT
        hidden = _hidden_dockerd(fs)
        errors.append(
            CollectionError(
                "daemon-config",
                "dockerd",
                "no running dockerd found on the host"
                + (
                    f" (the executable of {len(hidden)} process(es) named dockerd, pid "
                    + ", ".join(map(str, hidden[:5]))
                    + (", …" if len(hidden) > 5 else "")
                    + ", cannot be read: /proc/PID/exe needs ptrace access; in a container add --cap-add SYS_PTRACE)"
                    if hidden
                    else ""
                )
                + "; flags taken from "
                + ("the docker.service unit" if unit_args else "nowhere (none found)"),
            )
        )
    named = flags.get("config-file")
    config_file = named if isinstance(named, str) and named else DEFAULT_CONFIG_FILE
    file_values = None
    cf = stat(config_file, content=True)
    if cf.exists and cf.content is not None:
        try:
            file_values = parse_daemon_json(cf.content)
        except ValueError as exc:
            errors.append(CollectionError("daemon-config", config_file, str(exc)))
    elif cf.error:
        errors.append(CollectionError("daemon-config", config_file, cf.error))
    config = merge(flags, file_values, config_file, flag_source)

    containerd_proc = find_containerd(fs, dockerd, processes)
    configured = config.get("containerd")
    containerd_sock = (
        configured if isinstance(configured, str) and configured else None
    ) or containerd_address(fs, containerd_proc) or DEFAULT_CONTAINERD_SOCKET

    for path in STATIC_FILES:
        stat(path)
    for path in fs.walk_files("/etc/docker/certs.d") if files["/etc/docker/certs.d"].exists else ():
        stat(path)
    tls_on = bool(config.get("tls") or config.get("tlsverify"))
    for key, default in (("tlscacert", "ca.pem"), ("tlscert", "cert.pem"), ("tlskey", "key.pem")):
        value = config.get(key)
        if isinstance(value, str) and value:
            stat(value)
        elif tls_on:
            stat(f"/root/.docker/{default}")  # dockerd's default when TLS is on but unnamed
    sockets, tcp_listeners = daemon_endpoints(config, listen)
    for sock in sockets:
        stat(sock)
    stat(containerd_sock)
    if docker_root_dir:
        stat(docker_root_dir)

    procs = [p for p in (dockerd, containerd_proc) if p is not None]
    binaries = find_binaries(fs, procs)
    for path in binaries.values():
        stat(path)

    groups: dict[str, GroupFact] | None = None
    users: dict[str, UserFact] | None = None
    try:
        groups = {
            name: GroupFact(name, gid, members)
            for name, (gid, members) in parse_group(fs.read_text("/etc/group")).items()
        }
    except OSError as exc:
        errors.append(CollectionError("host", "/etc/group", str(exc)))
    try:
        users = {u.name: UserFact(u.name, u.uid, u.gid) for u in parse_passwd(fs.read_text("/etc/passwd"))}
    except OSError as exc:
        errors.append(CollectionError("host", "/etc/passwd", str(exc)))

    audit, audit_err = read_audit(fs)
    if audit_err:
        errors.append(audit_err)
    mounts = read_mounts(fs)
    if mounts is None:
        errors.append(CollectionError("host", "/proc/1/mountinfo", "cannot read the mount table"))

    apparmor_enabled: bool | None
    try:
        apparmor_enabled = fs.read_text("/sys/module/apparmor/parameters/enabled").strip().upper().startswith("Y")
    except FileNotFoundError:
        apparmor_enabled = False
    except OSError:
        apparmor_enabled = None
    profiles: tuple[str, ...] | None = None
    if apparmor_enabled:
        try:
            profiles = tuple(
                ln.strip() for ln in fs.read_text("/sys/kernel/security/apparmor/profiles").splitlines() if ln.strip()
            )
        except OSError:
            profiles = None
    selinux_enabled = fs.exists("/sys/fs/selinux/enforce")

    facts = HostFacts(
        root=root,
        files=files,
        unit_files=unit_files,
        binaries=binaries,
        mounts=mounts,
        groups=groups,
        users=users,
        audit=audit,
        apparmor_enabled=apparmor_enabled,
        apparmor_profiles=profiles,
        selinux_enabled=selinux_enabled,
        dockerd=dockerd,
        containerd=containerd_proc,
        docker_socket_listen=tuple(listen),
        containerd_socket=containerd_sock,
        docker_sockets=sockets,
        docker_tcp_listeners=tcp_listeners,
    )
    return HostCollection(facts, errors, config)


def container_processes(root: str, container_ids: Iterable[str]) -> dict[str, list[ProcessFact]]:
    """Processes per container from one pass over /proc (cgroup path names the container).

    This replaces one ``top`` call per container (each runs ``ps`` in the daemon) when the
    daemon runs on this host; the Engine API ``top`` remains the fallback for remote daemons.
    """
    fs = HostFS(root)
    wanted = set(container_ids)
    out: dict[str, list[ProcessFact]] = {cid: [] for cid in wanted}
    proc = fs.real("/proc")
    users = {u.uid: u.name for u in parse_passwd(_safe(fs, "/etc/passwd"))}
    for name in os.listdir(proc):
        if not name.isdigit():
            continue
        base = os.path.join(proc, name)
        try:
            with open(os.path.join(base, "cgroup")) as f:
                cg = f.read()
        except OSError:
            continue
        cid = next((m for m in _CONTAINER_ID.findall(cg) if m in wanted), None)
        if cid is None:
            continue
        try:
            with open(os.path.join(base, "comm")) as f:
                comm = f.read().strip()
            with open(os.path.join(base, "cmdline"), "rb") as f:
                cmdline = tuple(a.decode(errors="replace") for a in f.read().split(b"\0") if a)
            uid = os.stat(base).st_uid
        except OSError:
            continue
        out[cid].append(ProcessFact(pid=int(name), cmdline=cmdline, comm=comm, user=users.get(uid, str(uid))))
    return out


def _safe(fs: HostFS, path: str) -> str:
    try:
        return fs.read_text(path)
    except OSError:
        return ""


def swarm_listen_addresses(root: str, port: int = 2377) -> list[str]:
    """Addresses the host listens on for `port` (from /proc/net/tcp{,6})."""
    fs = HostFS(root)
    out = []
    for table, v6 in (("/proc/net/tcp", False), ("/proc/net/tcp6", True)):
        for line in _safe(fs, table).splitlines()[1:]:
            parts = line.split()
            if len(parts) < 4 or parts[3] != "0A":
                continue
            addr, _, hexport = parts[1].partition(":")
            if int(hexport, 16) != port:
                continue
            out.append(_decode_addr(addr, v6))
    return out


def _decode_addr(hexaddr: str, v6: bool) -> str:
    import ipaddress

    raw = bytes.fromhex(hexaddr)
    if not v6:
        return str(ipaddress.IPv4Address(raw[::-1]))
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))
    return str(ipaddress.IPv6Address(words))


