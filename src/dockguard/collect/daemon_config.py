"""The daemon's effective configuration: daemon.json merged with dockerd's command line.

Flags are parsed the way dockerd's pflag parser reads them: boolean flags take a value only
with ``=`` (``--icc=false``); other flags take ``--flag value`` or ``--flag=value``; short
flags ``-H``, ``-l``, ``-D``, ``-G``, ``-p``, ``-s``, ``-b`` and ``-g`` are known.

`daemon_endpoints` works out, once, which unix sockets and TCP addresses the daemon serves;
the collector stats those sockets and probes those addresses, and the checks read the result.
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Iterable, Sequence

from dockguard.snapshot import ConfigSource, ConfigValue, DaemonConfig, JsonValue, TcpListener

#: A value as the command-line parser produces it.
FlagValue = bool | str | list[str] | dict[str, str]

#: The socket dockerd serves when no ``-H``/``hosts`` is given.
DEFAULT_SOCKET = "/var/run/docker.sock"

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


def parse_flags(argv: Sequence[str]) -> tuple[dict[str, FlagValue], list[str]]:
    """Parse dockerd arguments (without argv[0]) → (key → value, unparsed leftovers)."""
    values: dict[str, FlagValue] = {}
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
            items = values.setdefault(LIST_FLAGS[name], [])
            if isinstance(items, list):
                items.append(inline)
        elif name in MAP_FLAGS:
            key, _, val = inline.partition("=")
            mapping = values.setdefault(MAP_FLAGS[name], {})
            if isinstance(mapping, dict):
                mapping[key] = val
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


def freeze(value: object) -> JsonValue:
    """A parsed JSON (or flag) value as a `JsonValue`: lists become tuples, all the way down."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list | tuple):
        return tuple(freeze(v) for v in value)
    if isinstance(value, dict):
        return {str(k): freeze(v) for k, v in value.items()}
    raise ValueError(f"not a JSON value: {type(value).__name__}")


def merge(
    flags: dict[str, FlagValue],
    file_values: dict[str, JsonValue] | None,
    config_file: str | None,
    flag_source: ConfigSource = ConfigSource.FLAG,
) -> DaemonConfig:
    """Merge flags and daemon.json into a DaemonConfig with provenance.

    dockerd refuses to start when a key is set in both places (except list keys, which it
    unions), so the flag value wins only in configurations that cannot run anyway.
    """
    both = ConfigSource.UNIT_FILE if flag_source is ConfigSource.UNIT else ConfigSource.FLAG_FILE
    out: dict[str, ConfigValue] = {}
    for key, file_value in (file_values or {}).items():
        value = freeze(file_value)
        out[key] = ConfigValue(value, ConfigSource.FILE, json.dumps(value, sort_keys=True))
    for key, flag_value in flags.items():
        value = freeze(flag_value)
        if key in out:
            old = out[key].value
            if isinstance(old, tuple) and isinstance(value, tuple):
                value = old + tuple(v for v in value if v not in old)
            out[key] = ConfigValue(value, both, json.dumps(value, sort_keys=True))
        else:
            out[key] = ConfigValue(value, flag_source, json.dumps(value, sort_keys=True))
    return DaemonConfig(values=out, config_file=config_file, config_file_found=file_values is not None)


def parse_daemon_json(text: str) -> dict[str, JsonValue]:
    """Parse daemon.json (raises ValueError with a readable message)."""
    try:
        data = json.loads(text) if text.strip() else {}
    except (json.JSONDecodeError, RecursionError) as exc:
        raise ValueError(f"invalid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError("top level is not an object")
    return {str(k): freeze(v) for k, v in data.items()}


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


def normalise_socket_path(path: str) -> str:
    """A unix socket path as one spelling: doubled and trailing slashes gone (``//x/`` -> ``/x``)."""
    if not path.startswith("/"):
        return path
    return posixpath.normpath("/" + path.lstrip("/"))


def _is_tcp_listen_stream(value: str) -> bool:
    """systemd ListenStream: a path (or @abstract) is a unix socket, anything else TCP."""
    return bool(value) and not value.startswith(("/", "@"))


def daemon_endpoints(
    config: DaemonConfig, listen_streams: Iterable[str] = ()
) -> tuple[tuple[str, ...], tuple[TcpListener, ...]]:
    """The unix sockets (normalised paths) and TCP listeners the daemon serves.

    From ``hosts`` (``-H`` and daemon.json): ``unix://PATH`` (empty: the default socket),
    ``tcp://…`` or an address without scheme (dockerd reads it as TCP), and ``fd://``, which
    means systemd socket activation: then docker.socket's `listen_streams` are the daemon's
    (its paths as sockets, the rest as TCP addresses; the default socket when it names no path).
    No ``hosts`` at all means the default socket.  Other schemes (``npipe://``, ``ssh://``)
    serve nothing on this host's filesystem or TCP and are left out.
    """
    hosts = config.strings("hosts")
    source = config.source("hosts") or ConfigSource.FLAG
    sockets: list[str] = []
    listeners: list[TcpListener] = []
    activated = False
    for host in hosts:
        host = host.strip()
        if host.startswith("unix://"):
            sockets.append(normalise_socket_path(host[len("unix://"):] or DEFAULT_SOCKET))
        elif host.startswith("fd://"):
            activated = True
        elif host.startswith("tcp://"):
            listeners.append(TcpListener(host, source))
        elif host and "://" not in host:
            listeners.append(TcpListener(f"tcp://{host}", source))
    if activated:
        streams = [v.strip() for v in listen_streams]
        unix = [normalise_socket_path(v) for v in streams if v.startswith("/")]
        sockets.extend(unix or [DEFAULT_SOCKET])
        for value in streams:
            if _is_tcp_listen_stream(value):
                address = value if "://" in value else f"tcp://{value}"
                listeners.append(TcpListener(address, ConfigSource.SOCKET_UNIT))
    if not hosts:
        sockets.append(DEFAULT_SOCKET)
    return tuple(dict.fromkeys(sockets)), tuple(dict.fromkeys(listeners))
