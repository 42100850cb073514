"""Engine API bodies → `ContainerFacts`, the input of the CIS section-5 checks.

Each request becomes one or more `Subject`s: the facts a check reads, the *facets* the request
actually sets (an update that only changes the memory limit must not be judged on mounts it
does not mention), what must be looked up on the daemon before the checks can run (named
volumes, ``VolumesFrom``, ``container:<id>`` namespaces), and `Violation`s that are not CIS
checks (an unmasked /proc, a checkpoint directory, an unknown plugin privilege).

The bodies are read with `gojson.Reader` (Go's field matching, merged duplicates); every
shape is the one of Engine API v1.12–v1.45.  A value of the wrong type is a `BodyError`,
which the decision turns into a refusal: dockerd would have refused it too.
"""

from __future__ import annotations

import enum
import posixpath
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from dockguard.authz.gojson import GoObject, Reader, has_field, map_items
from dockguard.authz.policy import PolicyRule
from dockguard.jsontypes import Json
from dockguard.snapshot import ContainerFacts, DeviceMapping, MountPoint, PortBinding

Path = tuple[str | int, ...]


class Facet(enum.StrEnum):
    """A part of a container's configuration a request sets (and a check reads)."""

    PRIVILEGED = "privileged"
    CAPS = "capabilities"
    MOUNTS = "mounts"
    PID = "pid"
    IPC = "ipc"
    UTS = "uts"
    USERNS = "userns"
    NETWORK = "network"
    SECOPT = "security-opt"
    DEVICES = "devices"
    MEMORY = "memory"
    CPU = "cpu"
    PIDS = "pids"
    ROOTFS = "rootfs"
    PORTS = "ports"
    RESTART = "restart"
    CGROUP = "cgroup"
    EXEC_PRIV = "exec-privileged"
    BUILD_NET = "build-network"
    BUILD_CGROUP = "build-cgroup"


CONTAINER_FACETS = frozenset(
    f for f in Facet if f not in (Facet.EXEC_PRIV, Facet.BUILD_NET, Facet.BUILD_CGROUP)
)

#: Docker's default masked and read-only /proc and /sys paths (moby oci defaults).
DEFAULT_MASKED = (
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
)
DEFAULT_READONLY = ("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger")

_PROPAGATION = frozenset({"shared", "rshared", "slave", "rslave", "private", "rprivate"})


@dataclass(frozen=True)
class Violation:
    """A reason to refuse found while reading the request (not by a CIS check)."""

    rule: PolicyRule
    text: str
    cis: str = ""


@dataclass(frozen=True)
class VolumeRef:
    """A named volume a container mounts: the daemon says whether it is a host bind."""

    name: str
    destination: str
    rw: bool = True


@dataclass(frozen=True)
class Subject:
    """One thing a request asks the daemon to run or grant, as check input."""

    facts: ContainerFacts
    facets: frozenset[Facet]
    what: str
    image: str | None = None
    labels: Mapping[str, str] | None = None
    target: str = ""
    """The existing container the request acts on (exec, start, update): its image and labels
    are looked up when an exception needs them."""
    volumes: tuple[VolumeRef, ...] = ()
    volumes_from: tuple[str, ...] = ()
    findings: tuple[Violation, ...] = ()
    rule_override: PolicyRule | None = None
    """Attribute every refusal to this rule (plugin privileges are judged as one rule)."""


@dataclass
class _Acc:
    """What a host-configuration reader collects besides the facts."""

    volumes: list[VolumeRef] = field(default_factory=list)
    volumes_from: list[str] = field(default_factory=list)
    findings: list[Violation] = field(default_factory=list)


# --------------------------------------------------------------------------- mounts


def parse_bind(spec: str) -> tuple[str, str, str] | None:
    """``src:dst[:mode]`` → (source, destination, mode); ``dst`` alone → ("", dst, "").

    Follows dockerd's Linux parser: at most three ``:``-separated parts.  None for a spec
    dockerd refuses.
    """
    parts = spec.split(":")
    if not parts[0] or len(parts) > 3:
        return None
    if len(parts) == 1:
        return "", parts[0], ""
    if len(parts) == 2:
        return parts[0], parts[1], ""
    return parts[0], parts[1], parts[2]


def _mode_flags(mode: str) -> tuple[bool, str]:
    """(read-write, propagation) from a bind mode such as ``ro,rshared,z``."""
    rw = True
    prop = ""
    for flag in (f.strip().lower() for f in mode.split(",")):
        if flag == "ro":
            rw = False
        elif flag in _PROPAGATION:
            prop = flag
    return rw, prop


def local_volume_sources(opts: Mapping[str, str]) -> list[str]:
    """Host paths a ``local``-driver volume with these options mounts (empty: a plain volume).

    ``type=none``/``o=bind`` binds ``device`` (a relative device is resolved against dockerd's
    working directory, ``/``); any other absolute ``device`` is a host block device or path
    mounted as a filesystem; overlay ``lowerdir``/``upperdir``/``workdir`` expose host paths.
    """
    typ = opts.get("type", "").strip().lower()
    flags = [f.strip() for f in opts.get("o", "").split(",") if f.strip()]
    device = opts.get("device", "")
    bind = typ in ("", "none", "bind", "rbind") or any(f.lower() in ("bind", "rbind") for f in flags)
    out: list[str] = []
    if device:
        if bind:
            out.append(posixpath.normpath(posixpath.join("/", device)))
        elif device.startswith("/"):
            out.append(device)
    for f in flags:
        key, _, value = f.partition("=")
        if key.strip().lower() in ("lowerdir", "upperdir", "workdir"):
            out.extend(posixpath.normpath(posixpath.join("/", p)) for p in value.split(":") if p)
    return out


def volume_binds(driver: str, opts: Mapping[str, str], destination: str, rw: bool = True) -> list[MountPoint]:
    """The host bind mounts hidden in a volume of `driver` with `opts` (only ``local`` is known)."""
    if driver.strip().lower() not in ("", "local"):
        return []
    return [MountPoint("bind", src, destination, rw) for src in local_volume_sources(opts)]


class _HostConfig:
    """Reads a HostConfig-shaped object (create, start < 1.24, update) into facts."""

    def __init__(self, r: Reader, acc: _Acc) -> None:
        self.r = r
        self.acc = acc

    def mounts(self, hc: GoObject | None, cfg: GoObject | None, path: Path, cfg_path: Path) -> list[MountPoint]:
        r = self.r
        out: list[MountPoint] = []
        for i, spec in enumerate(r.strings(hc, "Binds", path)):
            self._bind_string(spec, (*path, "Binds", i), out)
        for i, m in enumerate(r.items(hc, "Mounts", path)):
            self._mount(r.obj(m, (*path, "Mounts", i)), (*path, "Mounts", i), out)
        # Config.Volumes keys are container paths (anonymous volumes); read them like Binds
        # anyway so that a "host:container" key can never slip through.
        vols = r.sub(cfg, "Volumes", cfg_path)
        for key in map_items(vols):
            self._bind_string(key, (*cfg_path, "Volumes", key), out)
        for i, ref in enumerate(r.strings(hc, "VolumesFrom", path)):
            name = ref.split(":", 1)[0]
            if name:
                self.acc.volumes_from.append(name)
            else:
                raise r.fail((*path, "VolumesFrom", i), "empty container name")
        return out

    def _bind_string(self, spec: str, where: Path, out: list[MountPoint]) -> None:
        parsed = parse_bind(spec)
        if parsed is None:
            raise self.r.fail(where, f"bind specification {spec!r} is not valid")
        src, dst, mode = parsed
        rw, prop = _mode_flags(mode)
        if not src:
            out.append(MountPoint("volume", "", dst, rw, prop))
        elif src.startswith("/"):
            out.append(MountPoint("bind", src, dst, rw, prop))
        else:
            out.append(MountPoint("volume", src, dst, rw, prop))
            self.acc.volumes.append(VolumeRef(src, dst, rw))

    def _mount(self, m: GoObject | None, where: Path, out: list[MountPoint]) -> None:
        r = self.r
        typ = r.text(m, "Type", where)
        src = r.text(m, "Source", where)
        dst = r.text(m, "Target", where)
        rw = not r.flag(m, "ReadOnly", where)
        if typ == "bind":
            prop = r.text(r.sub(m, "BindOptions", where), "Propagation", (*where, "BindOptions"))
            out.append(MountPoint("bind", src, dst, rw, prop))
        elif typ == "volume":
            vo = r.sub(m, "VolumeOptions", where)
            dc = r.sub(vo, "DriverConfig", (*where, "VolumeOptions"))
            if dc is not None:
                dpath = (*where, "VolumeOptions", "DriverConfig")
                out.extend(volume_binds(r.text(dc, "Name", dpath), r.mapping(dc, "Options", dpath), dst, rw))
            out.append(MountPoint("volume", src, dst, rw))
            if src:
                self.acc.volumes.append(VolumeRef(src, dst, rw))
        elif typ in ("tmpfs", "npipe", "cluster"):
            out.append(MountPoint(typ, src, dst, rw))
        else:
            self.acc.findings.append(
                Violation(PolicyRule.SENSITIVE_MOUNTS, f"mount type {typ!r} at {dst or '?'} is not understood", "5.6")
            )

    def devices(self, hc: GoObject | None, path: Path) -> list[DeviceMapping]:
        r = self.r
        out = []
        for i, d in enumerate(r.items(hc, "Devices", path)):
            where = (*path, "Devices", i)
            dev = r.obj(d, where)
            host = r.text(dev, "PathOnHost", where)
            inside = r.text(dev, "PathInContainer", where) or host
            out.append(DeviceMapping(host, inside, r.text(dev, "CgroupPermissions", where)))
        for rule in r.strings(hc, "DeviceCgroupRules", path):
            out.append(DeviceMapping(f"device cgroup rule {rule!r}", "any path (mknod)", rule.rsplit(" ", 1)[-1]))
        for i, d in enumerate(r.items(hc, "DeviceRequests", path)):
            where = (*path, "DeviceRequests", i)
            req = r.obj(d, where)
            driver = r.text(req, "Driver", where) or "any driver"
            out.append(DeviceMapping(f"devices requested from {driver}", "(DeviceRequests)", "rwm"))
        return out

    def ports(self, hc: GoObject | None, path: Path) -> list[PortBinding]:
        r = self.r
        out = []
        pb = r.sub(hc, "PortBindings", path)
        for key, bindings in map_items(pb).items():
            where = (*path, "PortBindings", key)
            if not isinstance(bindings, list):
                raise r.fail(where, "expected a list of bindings")
            cport, _, proto = key.partition("/")
            for i, b in enumerate(bindings):
                bo = r.obj(b, (*where, i))
                hp = r.text(bo, "HostPort", (*where, i)).split("-", 1)[0].strip()
                port = int(hp) if hp.isdigit() and len(hp) <= 6 else None
                out.append(PortBinding(cport, proto or "tcp", r.text(bo, "HostIp", (*where, i)), port))
        return out

    def system_paths(self, hc: GoObject | None, path: Path) -> None:
        for name, defaults in (("MaskedPaths", DEFAULT_MASKED), ("ReadonlyPaths", DEFAULT_READONLY)):
            if not has_field(hc, name):
                continue
            given = {posixpath.normpath(p) for p in self.r.strings(hc, name, path) if p}
            missing = [p for p in defaults if p not in given]
            if missing:
                what = "masked" if name == "MaskedPaths" else "read-only"
                shown = ", ".join(missing[:4]) + (", ..." if len(missing) > 4 else "")
                self.acc.findings.append(
                    Violation(PolicyRule.SYSTEM_PATHS, f"{name} leaves {shown} un{what} (systempaths=unconfined)")
                )

    def facts(
        self, hc: GoObject | None, cfg: GoObject | None, path: Path, cfg_path: Path, base: ContainerFacts
    ) -> ContainerFacts:
        """Facts of a container with host configuration `hc` and configuration `cfg`."""
        r = self.r
        self.system_paths(hc, path)
        sec = r.strings(hc, "SecurityOpt", path)
        caps = r.strings(hc, "CapAdd", path) + r.strings(hc, "Capabilities", path)
        restart = r.sub(hc, "RestartPolicy", path)
        rp = (*path, "RestartPolicy")
        networks = tuple(sorted(map_items(r.sub(r.sub(cfg, "NetworkingConfig", cfg_path), "EndpointsConfig",
                                                  (*cfg_path, "NetworkingConfig")))))
        netmode = mode(r.text(hc, "NetworkMode", path))
        if netmode in ("", "default") and "host" in networks:
            netmode = "host"
        pids = r.integer(hc, "PidsLimit", path)
        return ContainerFacts(
            id=base.id,
            name=base.name,
            image=r.text(cfg, "Image", cfg_path) if cfg is not None else base.image,
            user=r.text(cfg, "User", cfg_path) if cfg is not None else base.user,
            privileged=r.flag(hc, "Privileged", path),
            cap_add=tuple(caps),
            cap_drop=tuple(r.strings(hc, "CapDrop", path)),
            network_mode=netmode or "default",
            networks=networks,
            pid_mode=mode(r.text(hc, "PidMode", path)),
            ipc_mode=mode(r.text(hc, "IpcMode", path)),
            uts_mode=mode(r.text(hc, "UTSMode", path)),
            userns_mode=mode(r.text(hc, "UsernsMode", path)),
            cgroup_parent=r.text(hc, "CgroupParent", path),
            readonly_rootfs=r.flag(hc, "ReadonlyRootfs", path),
            memory=r.integer(hc, "Memory", path) or 0,
            cpu_shares=r.integer(hc, "CpuShares", path) or 0,
            nano_cpus=r.integer(hc, "NanoCpus", path) or 0,
            cpu_quota=r.integer(hc, "CpuQuota", path) or 0,
            pids_limit=pids,
            restart_policy=r.text(restart, "Name", rp),
            restart_max_retries=r.integer(restart, "MaximumRetryCount", rp) or 0,
            security_opt=tuple(sec),
            apparmor_profile=apparmor_of(sec),
            mounts=tuple(self.mounts(hc, cfg, path, cfg_path)),
            ports=tuple(self.ports(hc, path)),
            devices=tuple(self.devices(hc, path)),
            labels=r.mapping(cfg, "Labels", cfg_path) if cfg is not None else dict(base.labels),
        )


def mode(value: str) -> str:
    """A namespace mode as dockerd reads it; anything that starts with ``host`` counts as host."""
    v = value.strip()
    return "host" if v.split(":", 1)[0].lower() == "host" else v


def apparmor_of(security_opt: Iterable[str]) -> str:
    """The AppArmor profile dockerd applies for these options (last ``apparmor=`` wins).

    Without one, dockerd applies ``docker-default`` (on AppArmor hosts); the 5.2 check then
    only warns about an explicit ``unconfined``.
    """
    profile = "docker-default"
    for opt in security_opt:
        key, value = _opt_split(opt)
        if key == "apparmor":
            profile = value
    return profile


def _opt_split(opt: str) -> tuple[str, str]:
    """dockerd's split of a SecurityOpt entry: on ``=`` if present, else on the legacy ``:``."""
    if "=" in opt:
        k, _, v = opt.partition("=")
    elif ":" in opt:
        k, _, v = opt.partition(":")
    else:
        return opt.strip(), ""
    return k.strip(), v


# --------------------------------------------------------------------------- request bodies


def container_create(body: Json, name: str, r: Reader | None = None) -> Subject:
    """``POST /containers/create``: Config, HostConfig and the top-level HostConfig fields.

    dockerd still decodes HostConfig fields given at the top level of the body (a deprecated
    wrapper); when ``HostConfig`` is there too it wins, so both are read, the top level first.
    """
    r = r or Reader()
    top = r.obj(body, ())
    inner = r.sub(top, "HostConfig", ())
    hc = top if inner is None else (top or GoObject()).merged(inner)
    acc = _Acc()
    facts = _HostConfig(r, acc).facts(hc, top or GoObject(), ("HostConfig",) if inner is not None else (), (),
                                      ContainerFacts(id="", name=name or "(new)"))
    return Subject(
        facts=facts,
        facets=CONTAINER_FACETS,
        what=f"container {name}" if name else "new container",
        image=facts.image,
        labels=facts.labels,
        volumes=tuple(acc.volumes),
        volumes_from=tuple(acc.volumes_from),
        findings=tuple(acc.findings),
    )


def container_start_legacy(body: Json, target: str, r: Reader | None = None) -> Subject:
    """``POST /v1.23/containers/{id}/start`` with a HostConfig body: applied to the container."""
    r = r or Reader()
    hc = r.obj(body, ())
    acc = _Acc()
    facts = _HostConfig(r, acc).facts(hc, None, (), (), ContainerFacts(id=target, name=target))
    return Subject(
        facts=facts,
        facets=CONTAINER_FACETS,
        what=f"start of {target} with a HostConfig (API < 1.24)",
        target=target,
        volumes=tuple(acc.volumes),
        volumes_from=tuple(acc.volumes_from),
        findings=tuple(acc.findings),
    )


_UPDATE_FACETS = (
    (("Devices", "DeviceCgroupRules", "DeviceRequests"), Facet.DEVICES),
    (("Memory",), Facet.MEMORY),
    (("CpuShares", "NanoCpus", "CpuQuota"), Facet.CPU),
    (("PidsLimit",), Facet.PIDS),
    (("RestartPolicy",), Facet.RESTART),
    (("CgroupParent",), Facet.CGROUP),
)


def container_update(body: Json, target: str, r: Reader | None = None) -> Subject:
    """``POST /containers/{id}/update``: only the fields the body sets are judged."""
    r = r or Reader()
    hc = r.obj(body, ())
    acc = _Acc()
    reader = _HostConfig(r, acc)
    facets = frozenset(f for names, f in _UPDATE_FACETS if any(has_field(hc, n) for n in names))
    base = ContainerFacts(id=target, name=target)
    restart = r.sub(hc, "RestartPolicy", ())
    facts = ContainerFacts(
        id=target,
        name=base.name,
        devices=tuple(reader.devices(hc, ())),
        memory=r.integer(hc, "Memory", ()) or 0,
        cpu_shares=r.integer(hc, "CpuShares", ()) or 0,
        nano_cpus=r.integer(hc, "NanoCpus", ()) or 0,
        cpu_quota=r.integer(hc, "CpuQuota", ()) or 0,
        pids_limit=r.integer(hc, "PidsLimit", ()),
        restart_policy=r.text(restart, "Name", ("RestartPolicy",)),
        restart_max_retries=r.integer(restart, "MaximumRetryCount", ("RestartPolicy",)) or 0,
        cgroup_parent=r.text(hc, "CgroupParent", ()),
    )
    return Subject(facts=facts, facets=facets, what=f"update of {target}", target=target)


ROOT_USERS = frozenset({"root", "0"})


def exec_create(body: Json, target: str, r: Reader | None = None) -> Subject:
    """``POST /containers/{id}/exec``: Privileged (5.23) and User (5.24)."""
    r = r or Reader()
    ex = r.obj(body, ())
    user = r.text(ex, "User", ())
    findings = []
    if user.split(":", 1)[0].strip() in ROOT_USERS:
        findings.append(Violation(PolicyRule.EXEC_ROOT, f"docker exec as {user}", "5.24"))
    facts = ContainerFacts(id=target, name=target, privileged=r.flag(ex, "Privileged", ()), user=user)
    return Subject(facts=facts, facets=frozenset({Facet.EXEC_PRIV}), what=f"exec in {target}", target=target,
                   findings=tuple(findings))


def volume_create(body: Json, r: Reader | None = None) -> Subject:
    """``POST /volumes/create``: a ``local`` volume that binds a host path is judged as that bind."""
    r = r or Reader()
    v = r.obj(body, ())
    name = r.text(v, "Name", ())
    driver = r.text(v, "Driver", ())
    opts = r.mapping(v, "DriverOpts", ())
    labels = r.mapping(v, "Labels", ())
    facts = ContainerFacts(id="", name=f"volume {name or '(anonymous)'}",
                           mounts=tuple(volume_binds(driver, opts, f"volume {name or '(anonymous)'}")))
    return Subject(facts=facts, facets=frozenset({Facet.MOUNTS}), what=f"volume {name or '(anonymous)'}",
                   labels=labels)


def service_spec(body: Json, r: Reader | None = None) -> list[Subject]:
    """``POST /services/create`` and ``/services/{id}/update``: the task's container or plugin."""
    r = r or Reader()
    spec = r.obj(body, ())
    name = r.text(spec, "Name", ())
    tt = r.sub(spec, "TaskTemplate", ())
    tp: Path = ("TaskTemplate",)
    out: list[Subject] = []
    plugin = r.sub(tt, "PluginSpec", tp)
    if plugin is not None:
        pp = (*tp, "PluginSpec")
        out.append(plugin_privileges(r.field(plugin, "Privileges"), f"plugin service {name}", r, (*pp, "Privileges")))
    cs = r.sub(tt, "ContainerSpec", tp)
    if cs is None:
        return out
    cp = (*tp, "ContainerSpec")
    acc = _Acc()
    hc = _HostConfig(r, acc)
    mounts: list[MountPoint] = []
    for i, m in enumerate(r.items(cs, "Mounts", cp)):
        hc._mount(r.obj(m, (*cp, "Mounts", i)), (*cp, "Mounts", i), mounts)
    priv = r.sub(cs, "Privileges", cp)
    pv = (*cp, "Privileges")
    sec: list[str] = []
    seccomp = r.sub(priv, "Seccomp", pv)
    smode = r.text(seccomp, "Mode", (*pv, "Seccomp")).lower()
    if smode == "unconfined":
        sec.append("seccomp=unconfined")
    elif smode == "custom":
        profile = r.field(seccomp, "Profile")
        if isinstance(profile, str):
            import base64
            import binascii

            try:
                sec.append("seccomp=" + base64.b64decode(profile, validate=True).decode("utf-8", "replace"))
            except (binascii.Error, ValueError):
                raise r.fail((*pv, "Seccomp", "Profile"), "not base64") from None
    apparmor = r.sub(priv, "AppArmor", pv)
    if r.text(apparmor, "Mode", (*pv, "AppArmor")).lower() == "disabled":
        sec.append("apparmor=unconfined")
    if r.flag(priv, "NoNewPrivileges", pv):
        sec.append("no-new-privileges=true")
    if r.flag(r.sub(priv, "SELinuxContext", pv), "Disable", (*pv, "SELinuxContext")):
        sec.append("label=disable")
    networks = []
    for key, base in (("Networks", tp), ("Networks", ())):
        holder = tt if base == tp else spec
        for i, n in enumerate(r.items(holder, key, base)):
            target = r.text(r.obj(n, (*base, key, i)), "Target", (*base, key, i))
            if target:
                networks.append(target)
    ports = []
    ep = r.sub(spec, "EndpointSpec", ())
    for i, p in enumerate(r.items(ep, "Ports", ("EndpointSpec",))):
        where = ("EndpointSpec", "Ports", i)
        po = r.obj(p, where)
        published = r.integer(po, "PublishedPort", where)
        ports.append(PortBinding(str(r.integer(po, "TargetPort", where) or ""), r.text(po, "Protocol", where) or "tcp",
                                 "", published or None))
    limits = r.sub(r.sub(tt, "Resources", tp), "Limits", (*tp, "Resources"))
    lp = (*tp, "Resources", "Limits")
    labels = {**r.mapping(spec, "Labels", ()), **r.mapping(cs, "Labels", cp)}
    image = r.text(cs, "Image", cp)
    facts = ContainerFacts(
        id="",
        name=f"service {name}",
        image=image,
        user=r.text(cs, "User", cp),
        cap_add=tuple(r.strings(cs, "CapabilityAdd", cp)),
        cap_drop=tuple(r.strings(cs, "CapabilityDrop", cp)),
        network_mode="host" if "host" in networks else "default",
        networks=tuple(networks),
        readonly_rootfs=r.flag(cs, "ReadOnly", cp),
        memory=r.integer(limits, "MemoryBytes", lp) or 0,
        nano_cpus=r.integer(limits, "NanoCPUs", lp) or 0,
        pids_limit=r.integer(limits, "Pids", lp),
        security_opt=tuple(sec),
        apparmor_profile=apparmor_of(sec),
        mounts=tuple(mounts),
        ports=tuple(ports),
        labels=labels,
    )
    facets = CONTAINER_FACETS - {Facet.RESTART}
    out.append(Subject(facts=facts, facets=facets, what=f"service {name}", image=image, labels=labels,
                       volumes=tuple(acc.volumes), findings=tuple(acc.findings)))
    return out


def plugin_privileges(body: Json, what: str, r: Reader | None = None, path: Path = ()) -> Subject:
    """The privileges a managed plugin is granted (``/plugins/pull``, upgrade, plugin services)."""
    r = r or Reader()
    if body is not None and not isinstance(body, list):
        raise r.fail(path, "expected a list of privileges")
    caps: list[str] = []
    mounts: list[MountPoint] = []
    devices: list[DeviceMapping] = []
    network = "default"
    pid = ipc = ""
    findings: list[Violation] = []
    for i, p in enumerate(body or ()):
        where = (*path, i)
        po = r.obj(p, where)
        name = r.text(po, "Name", where).strip().lower()
        values = r.strings(po, "Value", where)
        if name == "network":
            if any(v.strip().lower() == "host" for v in values):
                network = "host"
        elif name == "mount":
            mounts.extend(MountPoint("bind", v, f"plugin mount {v}") for v in values)
        elif name == "device":
            devices.extend(DeviceMapping(v, v, "rwm") for v in values)
        elif name == "allow-all-devices":
            if any(v.strip().lower() == "true" for v in values):
                devices.append(DeviceMapping("every host device", "(allow-all-devices)", "rwm"))
        elif name == "capabilities":
            caps.extend(values)
        elif name == "host pid namespace":
            pid = "host" if any(v.strip().lower() == "true" for v in values) else ""
        elif name == "host ipc namespace":
            ipc = "host" if any(v.strip().lower() == "true" for v in values) else ""
        else:
            findings.append(Violation(PolicyRule.PLUGINS, f"plugin privilege {name!r} is not understood"))
    facts = ContainerFacts(id="", name=what, cap_add=tuple(caps), mounts=tuple(mounts), devices=tuple(devices),
                           network_mode=network, pid_mode=pid, ipc_mode=ipc)
    facets = frozenset({Facet.CAPS, Facet.MOUNTS, Facet.DEVICES, Facet.PID, Facet.IPC, Facet.NETWORK})
    return Subject(facts=facts, facets=facets, what=what, findings=tuple(findings), rule_override=PolicyRule.PLUGINS)


def build_options(network_modes: list[str], cgroup_parents: list[str]) -> Subject:
    """``POST /build`` query: the build containers' network mode and cgroup parent."""
    netmode = "default"
    for v in network_modes:
        m = mode(v)
        if m == "host" or m.lower().startswith("container:"):
            netmode = m
    cgroup = next((c for c in cgroup_parents if c.strip()), "")
    facts = ContainerFacts(id="", name="build", network_mode=netmode, cgroup_parent=cgroup)
    return Subject(facts=facts, facets=frozenset({Facet.BUILD_NET, Facet.BUILD_CGROUP}), what="build")
