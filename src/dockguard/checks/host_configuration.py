"""CIS Docker Benchmark 1.6.0 section 1: host configuration.

Audit checks look for a watch on the path Docker really uses on this host (DockerRootDir from
the API, unit files where systemd finds them, binaries at their resolved location); a path
that does not exist makes the check N/A, not a warning.
"""

from __future__ import annotations

import posixpath
import re
import shlex
import time
from datetime import UTC, datetime

from dockguard.checks._common import (
    CIS_BENCHMARK,
    DEFAULT_CONTAINERD_SOCKET,
    containerd_socket_path,
    daemon_json_path,
    file_label,
    lookup,
    unit_searched,
)
from dockguard.checks.catalogue import Check, CheckFn, check, manual
from dockguard.engine import Context, FactsMissing
from dockguard.model import Detail, Evaluation, Outcome, Severity
from dockguard.snapshot import MountFact

_AUDIT_DOC = "https://docs.docker.com/engine/security/"
_ROOTDIR_DOC = "https://docs.docker.com/engine/daemon/#daemon-data-directory"
_SOCKET_DOC = "https://docs.docker.com/engine/security/#docker-daemon-attack-surface"
_RELEASES_DOC = "https://docs.docker.com/engine/release-notes/"


def _norm(path: str) -> str:
    return posixpath.normpath(path) if path else path


def _unescape_mount(path: str) -> str:
    """mountinfo escapes space, tab, newline and backslash as octal (``\\040``)."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), path)


# -- 1.1.1 -----------------------------------------------------------------------------------


def _same_filesystem(a: MountFact, b: MountFact) -> bool:
    # Only block devices and paths identify a filesystem; "tmpfs" or "overlay" do not.
    return a.source.startswith("/") and a.source == b.source and a.fstype == b.fstype


def _c_1_1_1(ctx: Context) -> Evaluation:
    root_dir = ctx.daemon.docker_root_dir
    if not root_dir:
        raise FactsMissing("DockerRootDir not reported by the daemon")
    mounts = ctx.need(ctx.host.mounts, "host mount table")
    target = _norm(root_dir)
    obj = file_label(target)
    by_point: dict[str, list[MountFact]] = {}
    for m in mounts:
        by_point.setdefault(_norm(_unescape_mount(m.mount_point)), []).append(m)
    parent_point = max(
        (
            p
            for p in by_point
            if p != target and (p == "/" or target.startswith(p.rstrip("/") + "/"))
        ),
        key=len,
        default=None,
    )
    parent = by_point[parent_point][-1] if parent_point is not None else None
    at_target = by_point.get(target, [])
    # dockerd bind-mounts its data root onto itself (to set mount propagation), so a mount
    # point there proves nothing unless it holds a different filesystem than its parent.
    separate = [m for m in at_target if parent is None or not _same_filesystem(m, parent)]
    if separate:
        m = separate[0]
        return Evaluation(
            Outcome.PASS,
            (Detail(obj, f"is a separate mount ({m.fstype} from {m.source})", Outcome.PASS),),
        )
    where = parent_point or "/"
    if at_target and parent is not None:
        message = (
            f"is only a bind mount of the {where} filesystem ({parent.source}), "
            "not a separate partition"
        )
    else:
        message = f"is not a separate partition: it lives on the {where} mount"
    return Evaluation(Outcome.WARN, (Detail(obj, message, value=where),))


# -- 1.1.2 -----------------------------------------------------------------------------------


def _c_1_1_2(ctx: Context) -> Evaluation:
    groups = ctx.need(ctx.host.groups, "host groups (/etc/group)")
    docker = groups.get("docker")
    if docker is None:
        raise FactsMissing("no 'docker' group in /etc/group")
    members = dict.fromkeys(docker.members)
    reason = ""
    users = ctx.host.users
    if users is None:
        reason = "users whose primary group is docker unknown (/etc/passwd not collected)"
    else:
        for u in sorted(users.values(), key=lambda u: u.name):
            if u.gid == docker.gid:
                members.setdefault(u.name)
    names = list(members)
    if not names:
        return Evaluation(Outcome.PASS, (), "the docker group has no members")
    trusted = set(ctx.options.trusted_users)
    if not trusted:
        details = tuple(
            Detail(f"user:{n}", "can control the Docker daemon (docker group)", Outcome.INFO, n)
            for n in names
        )
        return Evaluation(
            Outcome.INFO,
            details,
            reason or "verify these users are trusted (pass --trusted-users to enforce)",
        )
    doubtful = [n for n in names if n not in trusted]
    details = tuple(
        Detail(f"user:{n}", "in the docker group but not a trusted user", Outcome.WARN, n)
        for n in doubtful
    ) + tuple(
        Detail(f"user:{n}", "trusted member of the docker group", Outcome.PASS, n)
        for n in names
        if n in trusted
    )
    return Evaluation(Outcome.WARN if doubtful else Outcome.PASS, details, reason)


# -- 1.1.3 - 1.1.18: audit rules -------------------------------------------------------------


def _rule_paths(rule: str) -> set[str]:
    """Paths a rule watches: ``-w PATH`` or ``-F path=PATH`` / ``-F dir=PATH``.

    A ``never`` rule suppresses auditing, so it watches nothing.
    """
    try:
        tokens = shlex.split(rule)
    except ValueError:
        tokens = rule.split()
    paths: set[str] = set()
    for i, tok in enumerate(tokens):
        nxt = tokens[i + 1] if i + 1 < len(tokens) else ""
        if tok in ("-a", "-A") and "never" in nxt.split(","):
            return set()
        if tok == "-w" and nxt:
            paths.add(_norm(nxt))
        elif tok == "-F" and nxt.startswith(("path=", "dir=")):
            paths.add(_norm(nxt.split("=", 1)[1]))
        elif tok.startswith("-F") and tok[2:].startswith(("path=", "dir=")):
            paths.add(_norm(tok[2:].split("=", 1)[1]))
    return paths


def _audit_watch(ctx: Context, path: str) -> Evaluation:
    audit = ctx.need(ctx.host.audit, "audit rules (auditctl -l or /etc/audit rules)")
    target = _norm(path)
    obj = file_label(target)
    matching = [r for r in audit.rules if target in _rule_paths(r)]
    if matching:
        return Evaluation(
            Outcome.PASS,
            tuple(Detail(obj, f"audited by: {r}", Outcome.PASS, r) for r in matching),
        )
    return Evaluation(
        Outcome.WARN,
        (Detail(obj, f"no audit rule watches this path (rules from {audit.source})"),),
    )


def _audit_file(ctx: Context, path: str) -> Evaluation:
    """Audit check for a path that must exist for the recommendation to apply."""
    fact = lookup(ctx, path)
    if fact.error:
        return Evaluation(Outcome.ERROR, reason=f"cannot stat {path}: {fact.error}")
    if not fact.exists:
        raise FactsMissing(f"{path} does not exist on this host")
    return _audit_watch(ctx, path)


def _audit_unit(ctx: Context, name: str) -> Evaluation:
    path = ctx.host.unit_files.get(name)
    if path is None:
        raise FactsMissing(f"{name} not found (searched: {', '.join(unit_searched(name))})")
    return _audit_file(ctx, path)


def _audit_binary(ctx: Context, name: str) -> Evaluation:
    path = ctx.host.binaries.get(name)
    if path is None:
        raise FactsMissing(f"{name} is not installed on this host")
    return _audit_watch(ctx, path)


def _c_1_1_3(ctx: Context) -> Evaluation:
    return _audit_binary(ctx, "dockerd")


def _c_1_1_4(ctx: Context) -> Evaluation:
    return _audit_file(ctx, "/run/containerd")


def _c_1_1_5(ctx: Context) -> Evaluation:
    root_dir = ctx.daemon.docker_root_dir
    if not root_dir:
        raise FactsMissing("DockerRootDir not reported by the daemon")
    return _audit_file(ctx, root_dir)


def _c_1_1_6(ctx: Context) -> Evaluation:
    return _audit_file(ctx, "/etc/docker")


def _c_1_1_7(ctx: Context) -> Evaluation:
    return _audit_unit(ctx, "docker.service")


def _c_1_1_8(ctx: Context) -> Evaluation:
    return _audit_file(ctx, containerd_socket_path(ctx))


def _c_1_1_9(ctx: Context) -> Evaluation:
    return _audit_unit(ctx, "docker.socket")


def _c_1_1_10(ctx: Context) -> Evaluation:
    return _audit_file(ctx, "/etc/default/docker")


def _c_1_1_11(ctx: Context) -> Evaluation:
    return _audit_file(ctx, daemon_json_path(ctx))


def _c_1_1_12(ctx: Context) -> Evaluation:
    return _audit_file(ctx, "/etc/containerd/config.toml")


def _c_1_1_13(ctx: Context) -> Evaluation:
    return _audit_file(ctx, "/etc/sysconfig/docker")


def _binary_check(name: str) -> CheckFn:
    def fn(ctx: Context) -> Evaluation:
        return _audit_binary(ctx, name)

    fn.__name__ = f"_audit_{name.replace('-', '_')}"
    return fn


# -- 1.2.2 -----------------------------------------------------------------------------------

_GO_LAYOUTS = (
    "%a %b %d %H:%M:%S %Y",  # Go's ANSIC, what `docker version` prints
    "%a %b %d %H:%M:%S %Z %Y",  # Go's UnixDate
    "%Y-%m-%d",
)


def parse_build_time(text: str) -> datetime | None:
    """Parse the daemon's BuildTime: RFC 3339 (API) or Docker's human format; None if neither."""
    text = text.strip()
    if not text:
        return None
    iso = text.replace("Z", "+00:00") if text.endswith("Z") else text
    try:
        parsed = datetime.fromisoformat(iso)
    except ValueError:
        parsed = None
    if parsed is None:
        collapsed = " ".join(text.split())
        for layout in _GO_LAYOUTS:
            try:
                parsed = datetime.strptime(collapsed, layout)
                break
            except ValueError:
                continue
    if parsed is None:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _c_1_2_2(ctx: Context) -> Evaluation:
    daemon = ctx.daemon
    version = daemon.server_version
    if not version:
        raise FactsMissing("server version not reported by the daemon")
    built = parse_build_time(daemon.build_time)
    if built is None:
        why = (
            f"build time {daemon.build_time!r} not understood"
            if daemon.build_time
            else ("build time unknown")
        )
        return Evaluation(
            Outcome.INFO,
            (
                Detail(
                    "daemon",
                    f"Docker {version}; {why}: verify it is up to date",
                    Outcome.INFO,
                    version,
                ),
            ),
            why,
        )
    # Age at collection time, so that re-evaluating an old snapshot gives the same verdict.
    now = ctx.snapshot.created or time.time()
    age_days = int((now - built.timestamp()) // 86400)
    limit = ctx.options.max_version_age_days
    text = f"Docker {version} built {built.date().isoformat()} ({age_days} days before the audit)"
    if limit > 0 and age_days > limit:
        return Evaluation(
            Outcome.WARN,
            (Detail("daemon", f"{text}, older than {limit} days", Outcome.WARN, version),),
        )
    return Evaluation(
        Outcome.INFO,
        (Detail("daemon", f"{text}; check your vendor's security updates", Outcome.INFO, version),),
    )


# -- declarations ----------------------------------------------------------------------------

_AUDIT_IMPACT = (
    "Audit logs grow with daemon activity: rotate and archive them, ideally on their own partition."
)


def _audit(cis: str, label: str, fn: CheckFn, example: str, *, level: int) -> Check:
    return check(
        cis,
        f"Ensure auditing is configured for Docker files and directories - {label}",
        level=level,
        severity=Severity.LOW,
        remediation=f"Add an audit watch for the path in use, e.g. `-w {example} -k docker` "
        "in /etc/audit/rules.d/docker.rules, then reload the rules (`augenrules --load`).",
        impact=_AUDIT_IMPACT,
        references=(CIS_BENCHMARK, _AUDIT_DOC),
        fn=fn,
    )


_BINARIES: tuple[tuple[str, str], ...] = (
    ("1.1.14", "containerd"),
    ("1.1.15", "containerd-shim"),
    ("1.1.16", "containerd-shim-runc-v1"),
    ("1.1.17", "containerd-shim-runc-v2"),
    ("1.1.18", "runc"),
)

CHECKS: tuple[Check, ...] = (
    check(
        "1.1.1",
        "Ensure a separate partition for containers has been created",
        level=1,
        severity=Severity.LOW,
        remediation="Put Docker's data root (DockerRootDir, /var/lib/docker by default) on its "
        "own partition or logical volume, mounted there at boot via /etc/fstab.",
        impact="Requires repartitioning or moving existing images and containers.",
        references=(CIS_BENCHMARK, _ROOTDIR_DOC),
        fn=_c_1_1_1,
    ),
    check(
        "1.1.2",
        "Ensure only trusted users are allowed to control Docker daemon",
        level=1,
        severity=Severity.HIGH,
        remediation="Remove untrusted users from the docker group (`gpasswd -d USER docker`): "
        "access to the daemon socket is equivalent to root on the host.",
        impact="Removed users can no longer run docker commands without sudo.",
        references=(CIS_BENCHMARK, _SOCKET_DOC),
        fn=_c_1_1_2,
    ),
    check(
        "1.1.3",
        "Ensure auditing is configured for the Docker daemon",
        level=1,
        severity=Severity.LOW,
        remediation="Add an audit watch on the dockerd binary actually installed, e.g. "
        "`-w /usr/sbin/dockerd -k docker` in /etc/audit/rules.d/docker.rules, and reload.",
        impact=_AUDIT_IMPACT,
        references=(CIS_BENCHMARK, _AUDIT_DOC),
        fn=_c_1_1_3,
    ),
    _audit("1.1.4", "/run/containerd", _c_1_1_4, "/run/containerd", level=1),
    _audit("1.1.5", "/var/lib/docker", _c_1_1_5, "/var/lib/docker", level=1),
    _audit("1.1.6", "/etc/docker", _c_1_1_6, "/etc/docker", level=1),
    _audit("1.1.7", "docker.service", _c_1_1_7, "/lib/systemd/system/docker.service", level=2),
    _audit("1.1.8", "containerd.sock", _c_1_1_8, DEFAULT_CONTAINERD_SOCKET, level=2),
    _audit("1.1.9", "docker.socket", _c_1_1_9, "/lib/systemd/system/docker.socket", level=2),
    _audit("1.1.10", "/etc/default/docker", _c_1_1_10, "/etc/default/docker", level=2),
    _audit("1.1.11", "/etc/docker/daemon.json", _c_1_1_11, "/etc/docker/daemon.json", level=2),
    _audit(
        "1.1.12", "/etc/containerd/config.toml", _c_1_1_12, "/etc/containerd/config.toml", level=2
    ),
    _audit("1.1.13", "/etc/sysconfig/docker", _c_1_1_13, "/etc/sysconfig/docker", level=2),
    *(
        _audit(cis, f"/usr/bin/{name}", _binary_check(name), f"/usr/bin/{name}", level=2)
        for cis, name in _BINARIES
    ),
    manual(
        "1.2.1",
        "Ensure the container host has been Hardened",
        level=1,
        severity=Severity.MEDIUM,
        remediation="Harden the host OS following its own CIS benchmark or your baseline: "
        "minimal packages, patched kernel, restricted logins, host firewall.",
        impact="Hardening can disable services that other workloads on the host rely on.",
        references=(CIS_BENCHMARK,),
    ),
    # CIS marks 1.2.2 Manual; it is evaluated (INFO, WARN when stale) but never scored.
    check(
        "1.2.2",
        "Ensure that the version of Docker is up to date",
        level=1,
        severity=Severity.MEDIUM,
        scored=False,
        remediation="Track Docker Engine releases and your distribution's security updates, "
        "and upgrade the engine on a regular schedule.",
        impact="Upgrades restart the daemon; plan for container downtime or live-restore.",
        references=(CIS_BENCHMARK, _RELEASES_DOC),
        fn=_c_1_2_2,
    ),
)
