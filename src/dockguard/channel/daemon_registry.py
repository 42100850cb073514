"""Daemon-side registry settings: insecure registries, http mirrors, certs.d (pure functions).

dockerd treats ``127.0.0.0/8`` and ``::1/128`` as insecure by default; those are not findings
by themselves.  ``/etc/docker/certs.d/<host[:port]>/`` holds ``*.crt`` (CAs) and
``<name>.cert`` / ``<name>.key`` client pairs; a CA saved as ``*.cert`` is a common mistake
(dockerd then looks for a matching key and refuses the registry).
"""

from __future__ import annotations

import functools
import ipaddress
import posixpath

from dockguard.channel.result import make_finding
from dockguard.model import Finding, FindingKind, Severity, evidence
from dockguard.snapshot import DaemonFacts, FileFact, HostFacts

CERTS_D = "/etc/docker/certs.d"
KIND = FindingKind.REGISTRY


_finding = functools.partial(make_finding, KIND)


def _is_default(entry: str) -> bool:
    try:
        net = ipaddress.ip_network(entry, strict=False)
    except ValueError:
        return False
    if isinstance(net, ipaddress.IPv4Network):
        return net.subnet_of(ipaddress.IPv4Network("127.0.0.0/8"))
    return net.subnet_of(ipaddress.IPv6Network("::1/128"))


def _config_list(daemon: DaemonFacts, key: str) -> list[str]:
    if daemon.config is None:
        return []
    return list(daemon.config.strings(key))


def insecure_registry_findings(daemon: DaemonFacts) -> list[Finding]:
    """One HIGH finding per non-default insecure registry (name or CIDR)."""
    entries: dict[str, str] = {}
    for cidr in daemon.insecure_registry_cidrs:
        entries.setdefault(cidr, "Info.RegistryConfig.InsecureRegistryCIDRs")
    for index in daemon.index_configs:
        if not index.secure and not index.official:
            entries.setdefault(index.name, "Info.RegistryConfig.IndexConfigs")
    for entry in _config_list(daemon, "insecure-registries"):
        entries.setdefault(entry, "daemon configuration")
    out = []
    for entry, source in sorted(entries.items()):
        if _is_default(entry):
            continue
        wide = False
        try:
            net = ipaddress.ip_network(entry, strict=False)
            wide = net.prefixlen < (16 if net.version == 4 else 48)
        except ValueError:
            pass
        out.append(_finding(
            "daemon-insecure-registry",
            Severity.CRITICAL if wide else Severity.HIGH,
            f"the daemon trusts {entry} as an insecure registry (plain HTTP or unverified TLS)",
            f"daemon:insecure-registries:{entry}",
            description="Images pulled from it can be replaced in transit."
            + (" The range covers a large network." if wide else ""),
            remediation="Serve the registry over TLS with a trusted certificate (certs.d) and "
            "remove it from insecure-registries.",
            evidence=evidence(entry=entry, source=source),
        ))
    return out


def mirror_findings(daemon: DaemonFacts) -> list[Finding]:
    """HIGH for each registry mirror reached over plain HTTP."""
    mirrors = set(daemon.registry_mirrors) | set(_config_list(daemon, "registry-mirrors"))
    for index in daemon.index_configs:
        mirrors.update(index.mirrors)
    return [
        _finding(
            "daemon-http-mirror",
            Severity.HIGH,
            f"registry mirror {m} is plain HTTP",
            f"daemon:registry-mirrors:{m}",
            remediation="Use an https:// mirror.",
            evidence=evidence(mirror=m),
        )
        for m in sorted(mirrors)
        if m.lower().startswith("http://")
    ]


def certs_d_findings(host: HostFacts) -> list[Finding]:
    """Layout and permission problems under /etc/docker/certs.d."""
    prefix = CERTS_D.rstrip("/") + "/"
    facts = {p: f for p, f in host.files.items() if p.startswith(prefix) and f.exists}
    out: list[Finding] = []

    def obj(f: FileFact) -> str:
        return f"file:{f.path}"

    for path, f in sorted(facts.items()):
        rel = path[len(prefix):]
        name = posixpath.basename(path)
        if f.kind == "dir":
            if f.mode & 0o022:
                out.append(_finding(
                    "certs-d-writable", Severity.HIGH,
                    f"{path} is writable by group or others ({f.mode:04o})", obj(f),
                    description="Whoever can write here can add a CA the daemon trusts.",
                    remediation=f"chmod 755 {path}",
                ))
            continue
        if f.kind != "file" or "/" not in rel:
            continue
        if name.endswith(".key"):
            if f.mode & 0o077:
                out.append(_finding(
                    "certs-d-key-readable", Severity.HIGH,
                    f"registry client key {path} is accessible by group or others "
                    f"({f.mode:04o})", obj(f),
                    remediation=f"chmod 400 {path}",
                ))
            if f.uid not in (0, -1):
                out.append(_finding(
                    "certs-d-key-owner", Severity.MEDIUM,
                    f"registry client key {path} is owned by {f.owner or f.uid}, not root",
                    obj(f), remediation=f"chown root:root {path}",
                ))
            if path[: -len(".key")] + ".cert" not in facts:
                out.append(_finding(
                    "certs-d-orphan-key", Severity.MEDIUM,
                    f"{path} has no matching .cert; dockerd refuses this registry", obj(f),
                    remediation="Add the client certificate or remove the key.",
                ))
        elif name.endswith(".cert"):
            if path[: -len(".cert")] + ".key" not in facts:
                out.append(_finding(
                    "certs-d-cert-without-key", Severity.MEDIUM,
                    f"{path} has no matching .key: a CA saved as .cert? (CAs must end in .crt)",
                    obj(f),
                    remediation="Rename a CA certificate to *.crt; a client certificate "
                    "needs its <name>.key.",
                ))
            if f.mode & 0o022:
                out.append(_finding(
                    "certs-d-writable", Severity.MEDIUM,
                    f"{path} is writable by group or others ({f.mode:04o})", obj(f),
                    remediation=f"chmod 444 {path}",
                ))
        elif name.endswith(".crt") and f.mode & 0o022:
            out.append(_finding(
                "certs-d-writable", Severity.HIGH,
                f"CA certificate {path} is writable by group or others ({f.mode:04o})", obj(f),
                description="Whoever can change it decides which registry certificates "
                "the daemon trusts.",
                remediation=f"chmod 444 {path}",
            ))
    return out


def daemon_registry_findings(daemon: DaemonFacts | None, host: HostFacts | None) -> list[Finding]:
    """All daemon-side registry findings from whatever facts are present."""
    out: list[Finding] = []
    if daemon is not None:
        out += insecure_registry_findings(daemon)
        out += mirror_findings(daemon)
    if host is not None:
        out += certs_d_findings(host)
    return out
