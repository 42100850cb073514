"""Compose services → `Subject`s, so the policy can be tried before anything is deployed.

The compose file is hostile input like any other: size-capped, parsed with the shared YAML
loader (anchors and aliases are refused — flatten a file that uses them with
``docker compose config`` first), every field type-checked with its path in errors.  Variables
are interpolated the way compose does (``${VAR}``, ``${VAR:-default}``, ``${VAR-default}``,
``$VAR``, ``$$``) from the environment and a ``.env`` file beside the compose file; an unset
variable becomes empty, as in compose.

What is read: image, labels, privileged, cap_add/cap_drop, volumes (short and long syntax,
relative bind paths resolved against the file's directory, top-level named volumes with their
``driver_opts``), volumes_from, pid/ipc/uts/userns_mode/network_mode (``service:<name>``
followed inside the file), devices, device_cgroup_rules, gpus, security_opt, read_only,
user, mem_limit/cpus/cpu_shares/cpu_quota/pids_limit and deploy limits, cgroup_parent,
restart, ports.
"""

from __future__ import annotations

import os
import posixpath
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace

from dockguard.authz.policy import PolicyRule
from dockguard.authz.translate import (
    CONTAINER_FACETS,
    Subject,
    Violation,
    VolumeRef,
    apparmor_of,
    mode,
    parse_bind,
    volume_binds,
)
from dockguard.inputs import InputError, parse_yaml, read_bytes
from dockguard.snapshot import ContainerFacts, DeviceMapping, MountPoint, PortBinding

MAX_COMPOSE = 8 * 1024 * 1024
MAX_ENV_FILE = 1024 * 1024
MAX_SERVICES = 10_000

_VAR = re.compile(r"\$(?:\$|\{(?P<braced>[^}]*)\}|(?P<plain>[A-Za-z_][A-Za-z0-9_]*))")
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgtb]?)b?\s*$", re.IGNORECASE)
_SIZE_UNIT = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}


@dataclass(frozen=True)
class ComposeFile:
    """A parsed compose file: its services as subjects (namespaces still as given)."""

    path: str
    subjects: tuple[Subject, ...]


def load_compose(path: str, env: Mapping[str, str] | None = None) -> ComposeFile:
    """Read, interpolate and translate a compose file."""
    data = read_bytes(path, limit=MAX_COMPOSE, what="compose file")
    base = os.path.dirname(os.path.abspath(path))
    variables = dict(read_env_file(os.path.join(base, ".env")))
    variables.update(os.environ if env is None else env)
    return parse_compose(data, path, base, variables)


def read_env_file(path: str) -> dict[str, str]:
    """``KEY=value`` lines of a compose ``.env`` file (absent: empty)."""
    if not os.path.isfile(path):
        return {}
    text = read_bytes(path, limit=MAX_ENV_FILE, what=".env file").decode("utf-8", "replace")
    out = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.removeprefix("export ").partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        out[key.strip()] = value
    return out


def interpolate(text: str, env: Mapping[str, str]) -> str:
    """Compose's variable substitution (errors for ``:?`` become empty, like unset variables)."""

    def sub(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        if m.group("plain"):
            return env.get(m.group("plain"), "")
        expr = m.group("braced") or ""
        for op in (":-", "-", ":?", "?", ":+", "+"):
            name, sep, default = expr.partition(op)
            if sep and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
                value = env.get(name)
                if op == ":-":
                    return value if value else default
                if op == "-":
                    return default if value is None else value
                if op in (":+", "+"):
                    return default if (value if op == ":+" else value is not None) else ""
                return value or ""
        return env.get(expr, "")

    return _VAR.sub(sub, text)


def _interp(value: object, env: Mapping[str, str]) -> object:
    """Interpolate every string in a parsed document (iteratively bounded by the YAML depth cap)."""
    if isinstance(value, str):
        return interpolate(value, env)
    if isinstance(value, list):
        return [_interp(v, env) for v in value]
    if isinstance(value, dict):
        return {k: _interp(v, env) for k, v in value.items()}
    return value


class _ComposeReader:
    """Typed access with the path of the offending value in errors."""

    def __init__(self, origin: str) -> None:
        self.origin = origin

    def fail(self, path: list[str | int], problem: str) -> InputError:
        return InputError.at(self.origin, path, problem)

    def mapping(self, v: object, path: list[str | int]) -> dict[str, object]:
        if v is None:
            return {}
        if not isinstance(v, dict):
            raise self.fail(path, "expected a mapping")
        return {str(k): x for k, x in v.items()}

    def seq(self, v: object, path: list[str | int]) -> list[object]:
        if v is None:
            return []
        if not isinstance(v, list):
            raise self.fail(path, "expected a list")
        return v

    def text(self, v: object, path: list[str | int], default: str = "") -> str:
        if v is None:
            return default
        if isinstance(v, bool) or not isinstance(v, str | int | float):
            raise self.fail(path, "expected a string")
        return str(v)

    def flag(self, v: object, path: list[str | int]) -> bool:
        if v is None:
            return False
        if isinstance(v, bool):
            return v
        if isinstance(v, str) and v.strip().lower() in ("true", "false"):
            return v.strip().lower() == "true"
        raise self.fail(path, "expected true or false")

    def strs(self, v: object, path: list[str | int]) -> list[str]:
        return [self.text(x, [*path, i]) for i, x in enumerate(self.seq(v, path))]

    def size(self, v: object, path: list[str | int]) -> int:
        if v is None:
            return 0
        if isinstance(v, int) and not isinstance(v, bool):
            return v
        m = _SIZE.match(self.text(v, path))
        if not m:
            raise self.fail(path, f"not a size: {v!r}")
        return int(float(m.group(1)) * _SIZE_UNIT[m.group(2).lower()])

    def labels(self, v: object, path: list[str | int]) -> dict[str, str]:
        if isinstance(v, list):
            out = {}
            for i, item in enumerate(v):
                key, _, value = self.text(item, [*path, i]).partition("=")
                out[key] = value
            return out
        return {k: self.text(x, [*path, k]) for k, x in self.mapping(v, path).items()}


def parse_compose(data: bytes, origin: str, base_dir: str, env: Mapping[str, str]) -> ComposeFile:
    """Translate a compose document (already read) into subjects."""
    doc = parse_yaml(data, origin)
    r = _ComposeReader(origin)
    top = r.mapping(doc, [])
    raw_services = r.mapping(top.get("services"), ["services"])
    if not raw_services:
        raise InputError(origin, "no services: not a compose file")
    if len(raw_services) > MAX_SERVICES:
        raise InputError(origin, f"more than {MAX_SERVICES} services")
    services = {name: r.mapping(_interp(s, env), ["services", name]) for name, s in raw_services.items()}
    volumes = r.mapping(_interp(top.get("volumes"), env), ["volumes"])
    built = {name: _service(r, name, svc, volumes, base_dir) for name, svc in services.items()}
    subjects = [_link(subject, refs, built) for subject, refs in built.values()]
    return ComposeFile(origin, tuple(subjects))


@dataclass(frozen=True)
class _Refs:
    """Links to other services, resolved once every service is read."""

    pid: str = ""
    ipc: str = ""
    network: str = ""
    volumes_from: tuple[str, ...] = ()


def _link(s: Subject, refs: _Refs, built: Mapping[str, tuple[Subject, _Refs]]) -> Subject:
    facts = s.facts
    host: set[str] = set()  # the *_mode attributes that end at "host"
    for attr, ref in (("pid_mode", refs.pid), ("ipc_mode", refs.ipc), ("network_mode", refs.network)):
        seen: set[str] = set()
        while ref and ref in built and ref not in seen:
            seen.add(ref)
            other = built[ref]
            value = getattr(other[0].facts, attr)
            if value == "host":
                host.add(attr)
                break
            ref = getattr(other[1], {"pid_mode": "pid", "ipc_mode": "ipc", "network_mode": "network"}[attr])
    mounts = list(facts.mounts)
    for ref in refs.volumes_from:
        if ref in built:
            mounts.extend(built[ref][0].facts.mounts)
    if not host and len(mounts) == len(facts.mounts):
        return s
    return replace(s, facts=replace(
        facts,
        pid_mode="host" if "pid_mode" in host else facts.pid_mode,
        ipc_mode="host" if "ipc_mode" in host else facts.ipc_mode,
        network_mode="host" if "network_mode" in host else facts.network_mode,
        mounts=tuple(mounts),
    ))


def _resolve_bind(src: str, base_dir: str) -> str:
    if src.startswith("~"):
        src = os.path.expanduser(src)
    if not src.startswith("/"):
        src = posixpath.join(base_dir, src)
    return posixpath.normpath(src)


def _is_path(src: str) -> bool:
    return src.startswith(("/", ".", "~"))


def _service(
    r: _ComposeReader, name: str, svc: dict[str, object], volumes: dict[str, object], base_dir: str
) -> tuple[Subject, _Refs]:
    p: list[str | int] = ["services", name]
    mounts: list[MountPoint] = []
    refs: list[VolumeRef] = []
    findings: list[Violation] = []
    for i, v in enumerate(r.seq(svc.get("volumes"), [*p, "volumes"])):
        where = [*p, "volumes", i]
        if isinstance(v, dict):
            typ = r.text(v.get("type"), [*where, "type"], "volume")
            src = r.text(v.get("source"), [*where, "source"])
            dst = r.text(v.get("target"), [*where, "target"])
            rw = not r.flag(v.get("read_only"), [*where, "read_only"])
            bind = r.mapping(v.get("bind"), [*where, "bind"])
            prop = r.text(bind.get("propagation"), [*where, "bind", "propagation"])
        else:
            parsed = parse_bind(r.text(v, where))
            if parsed is None:
                raise r.fail(where, f"volume specification {v!r} is not valid")
            src, dst, mode_text = parsed
            flags = [f.strip().lower() for f in mode_text.split(",")]
            rw = "ro" not in flags
            prop = next((f for f in flags if f in ("shared", "rshared", "slave", "rslave", "private", "rprivate")), "")
            typ = "bind" if src and _is_path(src) else "volume"
        if typ == "bind":
            mounts.append(MountPoint("bind", _resolve_bind(src, base_dir), dst, rw, prop))
        elif typ == "volume":
            mounts.append(MountPoint("volume", src, dst, rw, prop))
            if src:
                mounts.extend(_named_volume(r, src, dst, rw, volumes, refs))
        elif typ not in ("tmpfs", "npipe", "cluster", "image"):
            findings.append(
                Violation(PolicyRule.SENSITIVE_MOUNTS, f"volume type {typ!r} at {dst} is not understood", "5.6")
            )
    devices: list[DeviceMapping] = []
    for i, d in enumerate(r.seq(svc.get("devices"), [*p, "devices"])):
        where = [*p, "devices", i]
        if isinstance(d, dict):
            host = r.text(d.get("source"), [*where, "source"])
            devices.append(
                DeviceMapping(
                    host,
                    r.text(d.get("target"), [*where, "target"]) or host,
                    r.text(d.get("permissions"), [*where, "permissions"], "rwm"),
                )
            )
        else:
            parts = r.text(d, where).split(":")
            devices.append(
                DeviceMapping(parts[0], parts[1] if len(parts) > 1 else parts[0], parts[2] if len(parts) > 2 else "rwm")
            )
    for rule in r.strs(svc.get("device_cgroup_rules"), [*p, "device_cgroup_rules"]):
        devices.append(DeviceMapping(f"device cgroup rule {rule!r}", "any path (mknod)", rule.rsplit(" ", 1)[-1]))
    if svc.get("gpus") is not None:
        devices.append(DeviceMapping("GPU devices (gpus)", "(DeviceRequests)", "rwm"))
    deploy = r.mapping(svc.get("deploy"), [*p, "deploy"])
    resources = r.mapping(deploy.get("resources"), [*p, "deploy", "resources"])
    lp: list[str | int] = [*p, "deploy", "resources", "limits"]
    deploy_limits = r.mapping(resources.get("limits"), lp)
    memory = r.size(svc.get("mem_limit"), [*p, "mem_limit"]) or r.size(deploy_limits.get("memory"), [*lp, "memory"])
    cpus = svc.get("cpus", deploy_limits.get("cpus"))
    try:
        nano = int(float(r.text(cpus, [*p, "cpus"], "0")) * 1e9)
    except ValueError:
        raise r.fail([*p, "cpus"], f"not a number: {cpus!r}") from None
    pids_raw = svc.get("pids_limit", deploy_limits.get("pids"))
    pids = None if pids_raw is None else _int(r, pids_raw, [*p, "pids_limit"])
    restart = r.text(svc.get("restart"), [*p, "restart"], "no")
    rname, _, rcount = restart.partition(":")
    ports = _ports(r, svc.get("ports"), [*p, "ports"])
    sec = r.strs(svc.get("security_opt"), [*p, "security_opt"])
    network_mode = r.text(svc.get("network_mode"), [*p, "network_mode"])
    nets = svc.get("networks")
    net_names = list(nets) if isinstance(nets, dict) else r.strs(nets, [*p, "networks"])
    vfrom: list[str] = []
    for ref in r.strs(svc.get("volumes_from"), [*p, "volumes_from"]):
        target = ref.rsplit(":", 1)[0] if ref.endswith((":ro", ":rw")) else ref
        vfrom.append(target if target.startswith("container:") else target.removeprefix("service:"))
    image = r.text(svc.get("image"), [*p, "image"])
    labels = r.labels(svc.get("labels"), [*p, "labels"])

    def ns(key: str) -> tuple[str, str]:
        value = mode(r.text(svc.get(key), [*p, key]))
        if value.startswith("service:"):
            return "", value.removeprefix("service:")
        return value, ""

    pid, pid_ref = ns("pid")
    ipc, ipc_ref = ns("ipc")
    net, net_ref = ns("network_mode") if network_mode else ("default", "")
    if "host" in net_names:
        net = "host"
    facts = ContainerFacts(
        id="",
        name=name,
        image=image,
        user=r.text(svc.get("user"), [*p, "user"]),
        privileged=r.flag(svc.get("privileged"), [*p, "privileged"]),
        cap_add=tuple(r.strs(svc.get("cap_add"), [*p, "cap_add"])),
        cap_drop=tuple(r.strs(svc.get("cap_drop"), [*p, "cap_drop"])),
        network_mode=net or "default",
        networks=tuple(net_names),
        pid_mode=pid,
        ipc_mode=ipc,
        uts_mode=mode(r.text(svc.get("uts"), [*p, "uts"])),
        userns_mode=mode(r.text(svc.get("userns_mode"), [*p, "userns_mode"])),
        cgroup_parent=r.text(svc.get("cgroup_parent"), [*p, "cgroup_parent"]),
        readonly_rootfs=r.flag(svc.get("read_only"), [*p, "read_only"]),
        memory=memory,
        cpu_shares=_int(r, svc.get("cpu_shares", 0), [*p, "cpu_shares"]),
        nano_cpus=nano,
        cpu_quota=_int(r, svc.get("cpu_quota", 0), [*p, "cpu_quota"]),
        pids_limit=pids,
        restart_policy=rname,
        restart_max_retries=int(rcount) if rcount.isdigit() and len(rcount) < 10 else 0,
        security_opt=tuple(sec),
        apparmor_profile=apparmor_of(sec),
        mounts=tuple(mounts),
        ports=tuple(ports),
        devices=tuple(devices),
        labels=labels,
    )
    containers = tuple(v for v in vfrom if v.startswith("container:"))
    subject = Subject(
        facts=facts,
        facets=CONTAINER_FACETS,
        what=f"compose service {name}",
        image=image,
        labels=labels,
        volumes=tuple(refs),
        volumes_from=tuple(c.removeprefix("container:") for c in containers),
        findings=tuple(findings),
    )
    return subject, _Refs(pid_ref, ipc_ref, net_ref, tuple(v for v in vfrom if not v.startswith("container:")))


def _named_volume(
    r: _ComposeReader, name: str, dst: str, rw: bool, volumes: dict[str, object], refs: list[VolumeRef]
) -> list[MountPoint]:
    """A named volume's hidden host binds from the file's top-level ``volumes``, else a look-up."""
    spec = volumes.get(name)
    if spec is None and name in volumes:
        spec = {}
    if spec is None:
        refs.append(VolumeRef(name, dst, rw))  # not declared: an existing daemon volume
        return []
    sp: list[str | int] = ["volumes", name]
    vs = r.mapping(spec, sp)
    external = vs.get("external")
    if external is True or isinstance(external, dict):
        real = r.text(vs.get("name"), [*sp, "name"], name)
        refs.append(VolumeRef(real, dst, rw))
        return []
    driver = r.text(vs.get("driver"), [*sp, "driver"], "local")
    raw_opts = r.mapping(vs.get("driver_opts"), [*sp, "driver_opts"])
    opts = {k: r.text(v, [*sp, "driver_opts", k]) for k, v in raw_opts.items()}
    return volume_binds(driver, opts, dst, rw)


def _int(r: _ComposeReader, v: object, path: list[str | int]) -> int:
    if isinstance(v, int) and not isinstance(v, bool):
        return v
    text = r.text(v, path).strip()
    if re.fullmatch(r"-?\d{1,18}", text):
        return int(text)
    raise r.fail(path, f"expected an integer, got {v!r}")


def _ports(r: _ComposeReader, value: object, path: list[str | int]) -> list[PortBinding]:
    out = []
    for i, p in enumerate(r.seq(value, path)):
        where = [*path, i]
        if isinstance(p, dict):
            published = r.text(p.get("published"), [*where, "published"])
            hp = published.split("-", 1)[0]
            out.append(
                PortBinding(
                    r.text(p.get("target"), [*where, "target"]),
                    r.text(p.get("protocol"), [*where, "protocol"], "tcp"),
                    r.text(p.get("host_ip"), [*where, "host_ip"]),
                    int(hp) if hp.isdigit() and len(hp) <= 6 else None,
                )
            )
            continue
        spec = r.text(p, where)
        spec, _, proto = spec.partition("/")
        parts = spec.rsplit(":", 2) if not spec.startswith("[") else re.split(r"(?<=\]):|:(?=[^:]*$)", spec)
        if len(parts) == 1:
            out.append(PortBinding(parts[0], proto or "tcp", "", None))
            continue
        cport = parts[-1]
        hport = parts[-2].split("-", 1)[0]
        ip = parts[-3].strip("[]") if len(parts) == 3 else ""
        out.append(PortBinding(cport, proto or "tcp", ip, int(hport) if hport.isdigit() and len(hport) <= 6 else None))
    return out
