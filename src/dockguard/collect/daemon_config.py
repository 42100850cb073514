"""The daemon's effective configuration: daemon.json merged with dockerd's command line.

Flags are parsed the way dockerd's pflag parser reads them: boolean flags take a value only
with ``=`` (``--icc=false``); other flags take ``--flag value`` or ``--flag=value``; short
flags ``-H``, ``-l``, ``-D``, ``-G``, ``-p``, ``-s``, ``-b`` and ``-g`` are known.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from dockguard.snapshot import ConfigValue, DaemonConfig

DEFAULT_CONFIG_FILE = "/etc/docker/daemon.json"

BOOL_FLAGS = {
    "icc",
    "iptables",
    "ip6tables",
    "ip-forward",
    "ip-masq",
    "tls",
    "tlsverify",
    "live-restore",
    "userland-proxy",
    "no-new-privileges",
    "experimental",
    "selinux-enabled",
    "debug",
    "ipv6",
    "init",
    "rootless",
    "raw-logs",
    "validate",
}
STRING_FLAGS = {
    "log-level",
    "userns-remap",
    "cgroup-parent",
    "seccomp-profile",
    "tlscacert",
    "tlscert",
    "tlskey",
    "containerd",
    "data-root",
    "exec-root",
    "pidfile",
    "group",
    "log-driver",
    "storage-driver",
    "bridge",
    "config-file",
    "default-runtime",
    "bip",
    "default-ipc-mode",
    "default-cgroupns-mode",
    "graph",
    "containerd-namespace",
    "fixed-cidr",
    "mtu",
    "userland-proxy-path",
    "shutdown-timeout",
    "max-concurrent-downloads",
    "authz-plugin",
    "default-shm-size",
    "http-proxy",
    "https-proxy",
    "no-proxy",
    "swarm-default-advertise-addr",
    "init-path",
    "cpu-rt-runtime",
    "oom-score-adjust",
}
LIST_FLAGS = {
    "host": "hosts",
    "storage-opt": "storage-opts",
    "authorization-plugin": "authorization-plugins",
    "insecure-registry": "insecure-registries",
    "registry-mirror": "registry-mirrors",
    "dns": "dns",
    "dns-opt": "dns-opts",
    "dns-search": "dns-search",
    "label": "labels",
    "exec-opt": "exec-opts",
    "allow-nondistributable-artifacts": "allow-nondistributable-artifacts",
}
MAP_FLAGS = {"log-opt": "log-opts", "default-ulimit": "default-ulimits", "add-runtime": "runtimes"}
SHORT = {
    "H": "host",
    "l": "log-level",
    "D": "debug",
    "G": "group",
    "p": "pidfile",
    "s": "storage-driver",
    "b": "bridge",
    "g": "graph",
}
# Flags whose daemon.json key differs from the flag name.
RENAMED = {"graph": "data-root", "authz-plugin": "authorization-plugins"}


def parse_flags(argv: Sequence[str]) -> tuple[dict[str, Any], list[str]]:
    """Parse dockerd arguments (without argv[0]) → (key → value, unparsed leftovers)."""
    values: dict[str, Any] = {}
    leftovers: list[str] = []
    args = list(argv)
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if arg == "--":
            leftovers.extend(args[i:])
            break
        if arg.startswith("--"):
            name, eq, inline = arg[2:].partition("=")
        elif arg.startswith("-") and len(arg) >= 2:
            short = arg[1]
            name = SHORT.get(short, short)
            rest = arg[2:]
            eq = "=" if rest.startswith("=") or (rest and name not in BOOL_FLAGS) else ""
            inline = rest[1:] if rest.startswith("=") else rest
        else:
            leftovers.append(arg)
            continue
        if name in BOOL_FLAGS:
            values[name] = _parse_bool(inline) if eq else True
            continue
        if not eq:
            if i >= len(args):
                leftovers.append(arg)
                break
            inline = args[i]
            i += 1
        if name in LIST_FLAGS:
            values.setdefault(LIST_FLAGS[name], []).append(inline)
        elif name in MAP_FLAGS:
            key, _, val = inline.partition("=")
            values.setdefault(MAP_FLAGS[name], {})[key] = val
        elif name in STRING_FLAGS:
            values[RENAMED.get(name, name)] = inline
        else:
            values[name] = inline
            leftovers.append(arg)
    if "authorization-plugins" in values and isinstance(values["authorization-plugins"], str):
        values["authorization-plugins"] = [values["authorization-plugins"]]
    return values, leftovers


def _parse_bool(text: str) -> bool | str:
    low = text.strip().lower()
    if low in ("1", "t", "true"):
        return True
    if low in ("0", "f", "false"):
        return False
    return text


def merge(
    flags: dict[str, Any],
    file_values: dict[str, Any] | None,
    config_file: str | None,
    flag_source: str = "flag",
) -> DaemonConfig:
    """Merge flags and daemon.json into a DaemonConfig with provenance.

    dockerd refuses to start when a key is set in both places (except list keys, which it
    unions), so the flag value wins only in configurations that cannot run anyway.
    """
    out: dict[str, ConfigValue] = {}
    for key, value in (file_values or {}).items():
        out[key] = ConfigValue(value, "file", json.dumps(value, sort_keys=True))
    for key, value in flags.items():
        if key in out:
            old = out[key].value
            if isinstance(old, list) and isinstance(value, list):
                value = old + [v for v in value if v not in old]
            out[key] = ConfigValue(value, f"{flag_source}+file", json.dumps(value, sort_keys=True))
        else:
            out[key] = ConfigValue(value, flag_source, json.dumps(value, sort_keys=True))
    return DaemonConfig(values=out, config_file=config_file, config_file_found=file_values is not None)


def parse_daemon_json(text: str) -> dict[str, Any]:
    """Parse daemon.json (raises ValueError with a readable message)."""
    try:
        data = json.loads(text) if text.strip() else {}
    except json.JSONDecodeError as exc:
        raise ValueError(f"invalid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError("top level is not an object")
    return data


def exec_start_args(unit_text: str) -> list[str] | None:
    """The dockerd arguments of a systemd unit's last non-empty ExecStart= line."""
    import shlex

    args: list[str] | None = None
    joined = unit_text.replace("\\\n", " ")
    for line in joined.splitlines():
        line = line.strip()
        if line.startswith("ExecStart="):
            value = line[len("ExecStart=") :].strip().lstrip("-@:+!")
            if not value:
                args = None
                continue
            try:
                parts = shlex.split(value)
            except ValueError:
                continue
            args = parts[1:] if parts else None
    return args


def listen_streams(unit_text: str) -> list[str]:
    """ListenStream= values of a systemd socket unit."""
    out = []
    for line in unit_text.splitlines():
        line = line.strip()
        if line.startswith("ListenStream="):
            value = line.split("=", 1)[1].strip()
            if value:
                out.append(value)
    return out
