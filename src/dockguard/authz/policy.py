"""The authorization policy: which rules refuse, exceptions, and what unknown endpoints get.

A policy is a small YAML file (``dockguard authz policy`` prints the default one, generated
from `RULES` so that it cannot drift from the code).  Everything in it is validated: an
unknown key or rule name is an error, because a typo must never silently weaken the policy.
"""

from __future__ import annotations

import enum
import fnmatch
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from dockguard.inputs import MAX_POLICY, InputError, json_path, parse_yaml, read_bytes

POLICY_VERSION = 1


class PolicyRule(enum.StrEnum):
    """A policy rule: one kind of thing the plugin refuses."""

    PRIVILEGED = "privileged"
    CAPABILITIES = "capabilities"
    SENSITIVE_MOUNTS = "sensitive-mounts"
    DOCKER_SOCKET = "docker-socket"
    HOST_PID = "host-pid"
    HOST_IPC = "host-ipc"
    HOST_UTS = "host-uts"
    HOST_USERNS = "host-userns"
    SECCOMP = "seccomp-unconfined"
    APPARMOR = "apparmor-unconfined"
    HOST_DEVICES = "host-devices"
    EXEC_PRIVILEGED = "exec-privileged"
    BUILD = "build-privileges"
    SYSTEM_PATHS = "system-paths"
    HIDDEN_BODY = "hidden-body"
    SELF = "self-protection"
    PLUGINS = "plugin-privileges"
    BUILDKIT_GRPC = "buildkit-grpc"
    SWARM_JOIN = "swarm-join"
    CHECKPOINT_DIR = "checkpoint-dir"
    HOST_NETWORK = "host-network"
    MOUNT_PROPAGATION = "mount-propagation"
    CGROUP_PARENT = "cgroup-parent"
    NO_NEW_PRIVILEGES = "no-new-privileges"
    MEMORY_LIMIT = "memory-limit"
    CPU_LIMIT = "cpu-limit"
    PIDS_LIMIT = "pids-limit"
    READ_ONLY_ROOTFS = "read-only-rootfs"
    PRIVILEGED_PORTS = "privileged-ports"
    PORT_INTERFACES = "port-interfaces"
    RESTART_POLICY = "restart-policy"
    EXEC_ROOT = "exec-root"


@dataclass(frozen=True)
class RuleInfo:
    """What a rule refuses, the CIS recommendation behind it and whether it is on by default."""

    rule: PolicyRule
    default_on: bool
    cis: str
    summary: str


RULES: tuple[RuleInfo, ...] = (
    RuleInfo(PolicyRule.PRIVILEGED, True, "5.5", "privileged containers"),
    RuleInfo(PolicyRule.CAPABILITIES, True, "5.4", "capabilities beyond Docker's default 14 (CapAdd, ALL)"),
    RuleInfo(
        PolicyRule.SENSITIVE_MOUNTS,
        True,
        "5.6",
        "host /, /boot, /dev, /etc, /lib, /proc, /sys, /usr (and below) "
        "as bind mounts, Mounts, or named volumes that are host binds in disguise",
    ),
    RuleInfo(PolicyRule.DOCKER_SOCKET, True, "5.32", "the daemon socket, or a directory holding it, mounted in"),
    RuleInfo(
        PolicyRule.HOST_PID, True, "5.16", "the host PID namespace (also through container:<id> of such a container)"
    ),
    RuleInfo(PolicyRule.HOST_IPC, True, "5.17", "the host IPC namespace (also through container:<id>)"),
    RuleInfo(PolicyRule.HOST_UTS, True, "5.21", "the host UTS namespace"),
    RuleInfo(PolicyRule.HOST_USERNS, True, "5.31", "the host user namespace (--userns=host)"),
    RuleInfo(PolicyRule.SECCOMP, True, "5.22", "seccomp=unconfined, or an inline profile that disables filtering"),
    RuleInfo(PolicyRule.APPARMOR, True, "5.2", "apparmor=unconfined"),
    RuleInfo(PolicyRule.HOST_DEVICES, True, "5.18", "host devices (Devices, DeviceCgroupRules, DeviceRequests)"),
    RuleInfo(PolicyRule.EXEC_PRIVILEGED, True, "5.23", "docker exec --privileged"),
    RuleInfo(PolicyRule.BUILD, True, "5.10, 5.25", "builds with networkmode=host or container:<id>, or a cgroupparent"),
    RuleInfo(
        PolicyRule.SYSTEM_PATHS, True, "", "systempaths=unconfined (empty MaskedPaths / ReadonlyPaths unmask /proc)"
    ),
    RuleInfo(
        PolicyRule.HIDDEN_BODY,
        True,
        "",
        "requests whose deciding body or form the plugin cannot see "
        "(over dockerd's 1 MiB forwarding limit, not application/json, form-encoded)",
    ),
    RuleInfo(
        PolicyRule.SELF,
        True,
        "",
        "disabling, reconfiguring, replacing or removing this plugin, "
        "or mounting its socket, policy or log into a container",
    ),
    RuleInfo(
        PolicyRule.PLUGINS,
        True,
        "",
        "installing managed plugins whose privileges the rules above refuse "
        "(/plugins/pull, upgrade, swarm plugin services); /plugins/create (privileges not visible)",
    ),
    RuleInfo(
        PolicyRule.BUILDKIT_GRPC, True, "", "BuildKit over /grpc (buildx): its build options never reach the plugin"
    ),
    RuleInfo(
        PolicyRule.SWARM_JOIN, True, "", "joining a swarm: its managers then start tasks here without the Engine API"
    ),
    RuleInfo(
        PolicyRule.CHECKPOINT_DIR,
        True,
        "",
        "checkpoint create/restore/delete in a host directory of the caller's choosing (experimental)",
    ),
    RuleInfo(PolicyRule.HOST_NETWORK, False, "5.10", "the host network namespace"),
    RuleInfo(PolicyRule.MOUNT_PROPAGATION, False, "5.20", "shared or rshared mount propagation"),
    RuleInfo(PolicyRule.CGROUP_PARENT, False, "5.25", "a custom cgroup parent"),
    RuleInfo(
        PolicyRule.NO_NEW_PRIVILEGES,
        False,
        "5.26",
        "containers without no-new-privileges (the plugin cannot see a daemon-wide setting)",
    ),
    RuleInfo(PolicyRule.MEMORY_LIMIT, False, "5.11", "containers without a memory limit"),
    RuleInfo(PolicyRule.CPU_LIMIT, False, "5.12", "containers without CPU shares, quota or --cpus"),
    RuleInfo(PolicyRule.PIDS_LIMIT, False, "5.29", "containers without a PIDs limit"),
    RuleInfo(PolicyRule.READ_ONLY_ROOTFS, False, "5.13", "containers with a writable root filesystem"),
    RuleInfo(PolicyRule.PRIVILEGED_PORTS, False, "5.8", "host ports below 1024"),
    RuleInfo(PolicyRule.PORT_INTERFACES, False, "5.14", "ports published on all host interfaces"),
    RuleInfo(PolicyRule.RESTART_POLICY, False, "5.15", "on-failure restart policies with more than 5 retries"),
    RuleInfo(PolicyRule.EXEC_ROOT, False, "5.24", "docker exec --user root (or 0)"),
)

RULE_INFO: dict[PolicyRule, RuleInfo] = {r.rule: r for r in RULES}
DEFAULT_RULES = frozenset(r.rule for r in RULES if r.default_on)


@dataclass(frozen=True)
class PolicyException:
    """Rules waived for requests matching every selector given (user AND image AND labels)."""

    rules: frozenset[PolicyRule]
    users: tuple[str, ...] = ()
    images: tuple[str, ...] = ()
    labels: tuple[tuple[str, str], ...] = ()
    comment: str = ""

    @property
    def needs_identity(self) -> bool:
        """True when matching needs the image or labels of the target container."""
        return bool(self.images or self.labels)

    def matches(self, rule: PolicyRule, user: str, image: str | None, labels: Mapping[str, str] | None) -> bool:
        """True when this exception waives `rule` for a request by `user` on `image`/`labels`.

        An unknown image or label set (None) never matches a selector on it.
        """
        if rule not in self.rules:
            return False
        if self.users and (not user or user not in self.users):
            return False
        if self.images:
            if not image:
                return False
            names = image_names(image)
            if not any(fnmatch.fnmatchcase(n, p) for n in names for p in self.images):
                return False
        if self.labels:
            if labels is None:
                return False
            for key, pattern in self.labels:
                if key not in labels or not fnmatch.fnmatchcase(labels[key], pattern):
                    return False
        return True


def image_names(ref: str) -> tuple[str, ...]:
    """`ref` as given and fully qualified (``busybox`` → ``docker.io/library/busybox:latest``)."""
    ref = ref.strip()
    out = [ref]
    name, _, digest = ref.partition("@")
    first, _, rest = name.partition("/")
    if not rest or ("." not in first and ":" not in first and first != "localhost"):
        name = "docker.io/" + (name if rest else "library/" + name)
    last = name.rsplit("/", 1)[-1]
    if ":" not in last and not digest:
        name += ":latest"
    full = name + (f"@{digest}" if digest else "")
    if full not in out:
        out.append(full)
    return tuple(out)


@dataclass(frozen=True)
class Policy:
    """A loaded policy."""

    rules: frozenset[PolicyRule] = DEFAULT_RULES
    default_allow: bool = False
    exceptions: tuple[PolicyException, ...] = ()
    docker_sockets: tuple[str, ...] = ()
    plugin_name: str = "dockguard"
    origin: str = "default policy"
    protected_paths: tuple[str, ...] = field(default=())
    """More host paths no container may mount (or mount a directory holding)."""

    def on(self, rule: PolicyRule) -> bool:
        """True when `rule` refuses."""
        return rule in self.rules


_TOP_KEYS = ("version", "default", "plugin_name", "docker_sockets", "protected_paths", "rules", "exceptions")
_EXC_KEYS = ("users", "images", "labels", "rules", "comment")


def default_policy_text() -> str:
    """The default policy as commented YAML (what ``dockguard authz policy`` prints)."""
    lines = [
        "# dockguard authz policy (version 1).  `dockguard authz policy` prints this default;",
        "# copy it, edit it and pass it with --policy.  Unknown keys and rule names are errors.",
        f"version: {POLICY_VERSION}",
        "",
        "# Engine API endpoints dockguard does not know (newer than API 1.45): allow or deny.",
        "default: deny",
        "",
        "# The name dockerd knows this plugin by (--authorization-plugin=NAME, the NAME.spec file).",
        "# Requests to disable, reconfigure, upgrade, replace or remove a plugin of that name are refused.",
        "plugin_name: dockguard",
        "",
        "# Daemon sockets besides /var/run/docker.sock and the daemon `serve -H` looks volumes up on;",
        "# none of them may be mounted into a container (CIS 5.32).",
        "docker_sockets: []",
        "",
        "# Host paths no container may mount, nor a directory holding one (self-protection), besides",
        "# this plugin's socket, policy and log and the daemon's own state (/var/lib/docker, /run/docker,",
        "# /run/containerd, /etc/docker, the plugin directories).",
        "protected_paths: []",
        "",
        "# on: refuse, off: allow.  The number is the CIS Docker Benchmark 1.6.0 recommendation whose",
        "# check (the same code `dockguard bench` runs) decides.",
        "rules:",
    ]
    for info in RULES:
        tag = f"CIS {info.cis}: " if info.cis else ""
        lines.append(f"  # {tag}{info.summary}")
        lines.append(f"  {info.rule.value}: {'on' if info.default_on else 'off'}")
    lines += [
        "",
        "# Exceptions waive rules for requests that match every selector given:",
        "#   users:  TLS client certificate CNs (dockerd passes the CN as the user; unix-socket",
        "#           clients have no user and never match)",
        "#   images: globs on the image reference, as given or fully qualified",
        "#           (docker.io/library/busybox:latest); anyone who can tag an image can use a name,",
        "#           so combine images with users where it matters",
        "#   labels: label -> glob on its value; labels are set by whoever creates the container",
        "# Example:",
        "#   - users: [ci-deployer]",
        '#     images: ["registry.example.com/monitoring/*"]',
        "#     rules: [host-pid, sensitive-mounts]",
        "#     comment: node exporter reads /proc and /sys of the host",
        "exceptions: []",
        "",
    ]
    return "\n".join(lines)


def load_policy(path: str) -> Policy:
    """Read and validate a policy file (size-capped, YAML aliases refused)."""
    data = read_bytes(path, limit=MAX_POLICY, what="policy")
    return parse_policy(data, path)


def parse_policy(text: str | bytes, origin: str) -> Policy:
    """Validate a policy document; every problem is an `InputError` naming the key."""
    doc = parse_yaml(text, origin)
    if doc is None:
        doc = {}
    if not isinstance(doc, dict):
        raise InputError(origin, "a policy is a mapping of keys (version, default, rules, exceptions, ...)")
    for key in doc:
        if key not in _TOP_KEYS:
            raise InputError.at(origin, [str(key)], f"unknown key (expected one of {', '.join(_TOP_KEYS)})")
    version = doc.get("version", POLICY_VERSION)
    if version != POLICY_VERSION or isinstance(version, bool):
        raise InputError.at(origin, ["version"], f"policy version {version!r} is not supported (this reads 1)")
    default = doc.get("default", "deny")
    if default not in ("allow", "deny"):
        raise InputError.at(origin, ["default"], f"expected allow or deny, got {default!r}")
    name = doc.get("plugin_name", "dockguard")
    if not isinstance(name, str) or not name.strip():
        raise InputError.at(origin, ["plugin_name"], "expected the plugin's name")
    sockets = _abs_paths(doc.get("docker_sockets"), origin, "docker_sockets")
    protected = _abs_paths(doc.get("protected_paths"), origin, "protected_paths")
    rules = set(DEFAULT_RULES)
    raw_rules = doc.get("rules") or {}
    if not isinstance(raw_rules, dict):
        raise InputError.at(origin, ["rules"], "expected a mapping of rule name to on/off")
    for key, value in raw_rules.items():
        rule = _rule(key, origin, ["rules", str(key)])
        if not isinstance(value, bool):
            raise InputError.at(origin, ["rules", str(key)], f"expected on or off, got {value!r}")
        (rules.add if value else rules.discard)(rule)
    raw_exc = doc.get("exceptions") or []
    if not isinstance(raw_exc, list):
        raise InputError.at(origin, ["exceptions"], "expected a list of exceptions")
    exceptions = tuple(_exception(e, origin, ["exceptions", i]) for i, e in enumerate(raw_exc))
    return Policy(
        rules=frozenset(rules),
        default_allow=default == "allow",
        exceptions=exceptions,
        docker_sockets=tuple(sockets),
        protected_paths=tuple(protected),
        plugin_name=name.strip(),
        origin=origin,
    )


def _rule(name: object, origin: str, path: list[str | int]) -> PolicyRule:
    try:
        return PolicyRule(str(name))
    except ValueError:
        raise InputError(
            origin, f"unknown rule {name!r} (rules: {', '.join(r.value for r in PolicyRule)})", json_path(path)
        ) from None


def _abs_paths(value: object, origin: str, key: str) -> list[str]:
    paths = _str_list(value, origin, [key])
    for i, s in enumerate(paths):
        if not s.startswith("/"):
            raise InputError.at(origin, [key, i], f"expected an absolute path, got {s!r}")
    return paths


def _str_list(value: object, origin: str, path: list[str | int]) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise InputError.at(origin, path, "expected a list of strings")
    for i, v in enumerate(value):
        if not isinstance(v, str) or not v:
            raise InputError.at(origin, [*path, i], f"expected a non-empty string, got {v!r}")
    return [v for v in value if isinstance(v, str)]


def _exception(raw: object, origin: str, path: list[str | int]) -> PolicyException:
    if not isinstance(raw, dict):
        raise InputError.at(origin, path, "expected a mapping with rules and users/images/labels")
    for key in raw:
        if key not in _EXC_KEYS:
            raise InputError.at(origin, [*path, str(key)], f"unknown key (expected one of {', '.join(_EXC_KEYS)})")
    names = _str_list(raw.get("rules"), origin, [*path, "rules"])
    if not names:
        raise InputError.at(origin, [*path, "rules"], "an exception names the rules it waives")
    rules: set[PolicyRule] = set()
    for i, n in enumerate(names):
        if n == "all":
            rules.update(PolicyRule)
        else:
            rules.add(_rule(n, origin, [*path, "rules", i]))
    users = _str_list(raw.get("users"), origin, [*path, "users"])
    images = _str_list(raw.get("images"), origin, [*path, "images"])
    raw_labels = raw.get("labels") or {}
    if not isinstance(raw_labels, dict):
        raise InputError.at(origin, [*path, "labels"], "expected a mapping of label to value glob")
    labels = []
    for k, v in raw_labels.items():
        if not isinstance(k, str) or not isinstance(v, str):
            raise InputError.at(origin, [*path, "labels", str(k)], "label names and values are strings (quote them)")
        labels.append((k, v))
    if not (users or images or labels):
        raise InputError.at(
            origin, path, "an exception without users, images or labels would apply to everyone: turn the rule off"
        )
    comment = raw.get("comment", "")
    if not isinstance(comment, str):
        raise InputError.at(origin, [*path, "comment"], "expected a string")
    return PolicyException(frozenset(rules), tuple(users), tuple(images), tuple(labels), comment)


def rules_by_name(names: Iterable[str]) -> frozenset[PolicyRule]:
    """Rules from their names (for tests and the CLI)."""
    return frozenset(PolicyRule(n) for n in names)
