"""CIS Docker Benchmark 1.6.0 section 5: container runtime.

Like docker-bench, the per-container checks look at running containers (after the include /
exclude / label filters); with none running they are N/A ("no running containers").  5.4 and
5.5 also list created or stopped containers with extra privileges, since they run with them as
soon as they are started.  Every
check reads `ContainerFacts`, so facts from a compose file or a pod spec work the same way.

5.22 reads each container's classified seccomp setting (`ContainerFacts.seccomp`) and lints an
inline profile with `dockguard.seccomp.lint.security_issues`: a HIGH or CRITICAL message makes
the container a finding.  5.32 reads the daemon's sockets as the collector worked them out
(`HostFacts.docker_sockets`).
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable, Iterable

from dockguard.checks.catalogue import Check, check, manual
from dockguard.engine import Context, FactsMissing, per_object
from dockguard.model import Detail, Evaluation, Outcome, Severity
from dockguard.snapshot import ContainerFacts, MountPoint, NetworkFacts, ProcessFact, SeccompKind

CIS_URL = "https://www.cisecurity.org/benchmark/docker"
_RUN_REF = "https://docs.docker.com/engine/reference/run/"
_RUN_CLI = "https://docs.docker.com/engine/reference/commandline/run/"
_SECURITY = "https://docs.docker.com/engine/security/"
_BEST_PRACTICES = "https://docs.docker.com/develop/develop-images/dockerfile_best-practices/"

NO_RUNNING = "no running containers"

DEFAULT_CAPS = frozenset(
    {
        "AUDIT_WRITE",
        "CHOWN",
        "DAC_OVERRIDE",
        "FOWNER",
        "FSETID",
        "KILL",
        "MKNOD",
        "NET_BIND_SERVICE",
        "NET_RAW",
        "SETFCAP",
        "SETGID",
        "SETPCAP",
        "SETUID",
        "SYS_CHROOT",
    }
)
"""The 14 capabilities Docker grants a non-privileged container by default."""

SENSITIVE_DIRS = ("/", "/boot", "/dev", "/etc", "/lib", "/proc", "/sys", "/usr")
DEFAULT_DOCKER_SOCKET = "/var/run/docker.sock"


# --------------------------------------------------------------------------- helpers


def _each(ctx: Context, problem: Callable[[ContainerFacts], str | None], fail: Outcome = Outcome.WARN) -> Evaluation:
    """Run `problem` over running containers; N/A when none runs."""
    return per_object(((c.label, problem(c)) for c in ctx.running), fail=fail, none_reason=NO_RUNNING)


def _running_or_na(ctx: Context) -> tuple[ContainerFacts, ...]:
    running = ctx.running
    if not running:
        raise FactsMissing(NO_RUNNING)
    return running


def norm_cap(name: str) -> str:
    """``cap_net_admin`` / ``CAP_NET_ADMIN`` / ``NET_ADMIN`` -> ``NET_ADMIN``."""
    cap = name.strip().upper()
    return cap.removeprefix("CAP_")


def extra_capabilities(c: ContainerFacts) -> list[str]:
    """Capabilities beyond Docker's defaults, following moby's TweakCapabilities rules.

    ``ALL`` in CapAdd grants everything not dropped; ``ALL`` in CapDrop keeps only CapAdd;
    otherwise CapAdd is added to the (partly dropped) defaults, so dropping does not undo an add.
    """
    if c.privileged:
        return ["ALL (privileged)"]
    adds = {norm_cap(x) for x in c.cap_add}
    drops = {norm_cap(x) for x in c.cap_drop}
    if "ALL" in adds:
        return ["ALL" + (f" except {', '.join(sorted(drops))}" if drops else "")]
    return sorted(adds - DEFAULT_CAPS)


def _norm_path(path: str) -> str:
    if not path:
        return ""
    p = posixpath.normpath(path)
    return "/" if p == "//" else p


def _under(path: str, root: str) -> bool:
    return path == root or (root == "/" and path.startswith("/")) or path.startswith(root + "/")


def sensitive_source(m: MountPoint) -> str | None:
    """The sensitive host directory a bind mount exposes, or None."""
    if m.type != "bind":
        return None
    src = _norm_path(m.source)
    if not src:
        return None
    if src == "/":
        return "/"
    for d in SENSITIVE_DIRS[1:]:
        if _under(src, d):
            return d
    return None


def _run_equivalents(path: str) -> set[str]:
    """/var/run is a symlink to /run on every current distribution: treat both spellings alike."""
    p = _norm_path(path)
    out = {p}
    if p.startswith("/var/run/"):
        out.add("/run/" + p[len("/var/run/") :])
    elif p.startswith("/run/"):
        out.add("/var/run/" + p[len("/run/") :])
    return out


def docker_sockets(ctx: Context) -> tuple[set[str], str]:
    """Unix socket paths the daemon listens on (both spellings of /var/run), and a note when
    they were not collected and the default socket is assumed."""
    host = ctx.snapshot.host
    if host is None or host.docker_sockets is None:
        return _run_equivalents(DEFAULT_DOCKER_SOCKET), "daemon sockets not collected: assumed the default socket"
    paths: set[str] = set()
    for sock in host.docker_sockets or (DEFAULT_DOCKER_SOCKET,):
        paths |= _run_equivalents(sock)
    return paths, ""


def socket_exposure(m: MountPoint, sockets: set[str]) -> str | None:
    """Describe how mount `m` exposes a daemon socket, or None."""
    if m.type not in ("bind", ""):
        return None
    srcs = _run_equivalents(m.source) if m.source else set()
    for sock in sorted(sockets):
        if sock in srcs:
            return f"Docker socket {m.source} mounted at {m.destination}"
    for sock in sorted(sockets):
        for src in srcs:
            if src != sock and _under(sock, src):
                return f"host {m.source} mounted at {m.destination} contains the Docker socket {sock}"
    if posixpath.basename(_norm_path(m.source)) == "docker.sock":
        return f"a Docker socket {m.source} mounted at {m.destination}"
    return None


def _opt_kv(opt: str) -> tuple[str, str]:
    """Split a SecurityOpt entry; Docker accepts both ``key=value`` and legacy ``key:value``."""
    eq, colon = opt.find("="), opt.find(":")
    cuts = [i for i in (eq, colon) if i >= 0]
    if not cuts:
        return opt.strip(), ""
    i = min(cuts)
    return opt[:i].strip(), opt[i + 1 :]


# --------------------------------------------------------------------------- checks


def _c_5_1(ctx: Context) -> Evaluation:
    swarm = ctx.daemon.swarm
    if swarm.active:
        return Evaluation(
            Outcome.WARN,
            (Detail("daemon", f"swarm mode is {swarm.local_node_state}", Outcome.WARN),),
        )
    state = swarm.local_node_state or "inactive"
    return Evaluation(Outcome.PASS, (Detail("daemon", f"swarm mode is {state}", Outcome.PASS),))


def _c_5_2(ctx: Context) -> Evaluation:
    enabled = ctx.host.apparmor_enabled
    if enabled is None:
        raise FactsMissing("AppArmor support of the host not collected")
    if not enabled:
        raise FactsMissing("host has no AppArmor")

    def problem(c: ContainerFacts) -> str | None:
        prof = c.apparmor_profile.strip()
        if not prof:
            return "no AppArmor profile"
        if prof == "unconfined":
            return "AppArmor profile is unconfined"
        return None

    return _each(ctx, problem)


def selinux_problem(c: ContainerFacts) -> str | None:
    """Why a container has no effective SELinux options, or None."""
    labels = [v for k, v in map(_opt_kv, c.security_opt) if k == "label"]
    if any(v.strip() == "disable" for v in labels):
        # Docker adds label=disable by itself for --pid=host / --ipc=host / --privileged.
        return "SELinux labelling disabled (label=disable)"
    if not labels:
        return "no SELinux security options"
    return None


def _c_5_3(ctx: Context) -> Evaluation:
    if ctx.daemon.security_option("selinux") is None:
        raise FactsMissing("SELinux support is not enabled in the daemon")
    return _each(ctx, selinux_problem)


def _each_incl_stopped(ctx: Context, problem: Callable[[ContainerFacts], str | None]) -> Evaluation:
    """Like `_each`, plus non-running containers that have the problem.

    A created or stopped container keeps its privileges and starts with them again (restart
    policy, `docker start`), so it is listed too, marked "(not running)".
    """
    items: list[tuple[str, str | None]] = [(c.label, problem(c)) for c in ctx.running]
    for c in ctx.containers:
        if not c.running and (p := problem(c)) is not None:
            items.append((c.label, f"{p} (not running)"))
    return per_object(items, none_reason=NO_RUNNING)


def _c_5_4(ctx: Context) -> Evaluation:
    def problem(c: ContainerFacts) -> str | None:
        extra = extra_capabilities(c)
        return f"capabilities beyond Docker's defaults: {', '.join(extra)}" if extra else None

    return _each_incl_stopped(ctx, problem)


def _c_5_5(ctx: Context) -> Evaluation:
    return _each_incl_stopped(ctx, lambda c: "privileged" if c.privileged else None)


def _c_5_6(ctx: Context) -> Evaluation:
    def problem(c: ContainerFacts) -> str | None:
        hits = []
        for m in c.mounts:
            if sensitive_source(m) is None:
                continue
            ro = "" if m.rw else " (read-only)"
            hits.append(f"host {m.source} mounted at {m.destination}{ro}")
        return "; ".join(hits) if hits else None

    return _each(ctx, problem)


def _is_sshd(word: str) -> bool:
    base = posixpath.basename(word.strip()).rstrip(":")
    return base == "sshd"


_INTERPRETERS = re.compile(r"^(sh|bash|dash|ash|busybox|python[0-9.]*|perl|ruby)$")


def _runs_sshd(p: ProcessFact) -> bool:
    """comm, argv[0], or the script an interpreter runs (``/bin/sh /usr/sbin/sshd``) is sshd."""
    argv = [w for a in p.cmdline[:1] for w in a.split()[:1]] + list(p.cmdline[1:2])
    if _is_sshd(p.comm) or (argv and _is_sshd(argv[0])):
        return True
    return len(argv) > 1 and bool(_INTERPRETERS.match(posixpath.basename(argv[0]))) and _is_sshd(argv[1])


def _c_5_7(ctx: Context) -> Evaluation:
    running = _running_or_na(ctx)
    warn: list[Detail] = []
    errors: list[Detail] = []
    good: list[Detail] = []
    for c in running:
        if c.processes is None:
            why = c.processes_error or "processes not collected"
            errors.append(Detail(c.label, f"cannot list processes: {why}", Outcome.ERROR))
            continue
        sshd = [p for p in c.processes if _runs_sshd(p)]
        if sshd:
            pids = ", ".join(str(p.pid) for p in sshd)
            warn.append(Detail(c.label, f"sshd running (pid {pids})", Outcome.WARN))
        else:
            good.append(Detail(c.label, "ok", Outcome.PASS))
    details = tuple(warn + errors + good)
    if warn:
        return Evaluation(Outcome.WARN, details)
    if errors:
        names = ", ".join(d.obj for d in errors)
        return Evaluation(Outcome.ERROR, details, f"could not list processes of {names}")
    return Evaluation(Outcome.PASS, details)


def _published(c: ContainerFacts) -> list[str]:
    out = []
    for p in c.ports:
        if p.host_port is None:
            continue
        ip = p.host_ip or "0.0.0.0"
        host = f"[{ip}]" if ":" in ip else ip
        out.append(f"{host}:{p.host_port}->{p.container_port}/{p.protocol}")
    return sorted(set(out))


def _c_5_8(ctx: Context) -> Evaluation:
    def problem(c: ContainerFacts) -> str | None:
        low = sorted({p.host_port for p in c.ports if p.host_port is not None and 0 < p.host_port < 1024})
        return f"privileged host port(s) {', '.join(map(str, low))}" if low else None

    return _each(ctx, problem)


def _c_5_9(ctx: Context) -> Evaluation:
    running = _running_or_na(ctx)
    details = tuple(Detail(c.label, "published port", Outcome.INFO, b) for c in running for b in _published(c))
    if not details:
        return Evaluation(Outcome.NOTE, reason="no running container publishes ports")
    return Evaluation(Outcome.INFO, details, "review that each published port is needed")


def _c_5_10(ctx: Context) -> Evaluation:
    return _each(ctx, lambda c: "uses the host network namespace" if c.network_mode == "host" else None)


def _c_5_11(ctx: Context) -> Evaluation:
    return _each(ctx, lambda c: "no memory limit" if c.memory <= 0 else None)


def _c_5_12(ctx: Context) -> Evaluation:
    def problem(c: ContainerFacts) -> str | None:
        # CIS: CpuShares of 0 or 1024 is the default weight, i.e. no priority was set.
        if c.cpu_shares in (0, 1024) and c.nano_cpus <= 0 and c.cpu_quota <= 0:
            return "no CPU shares, CPU quota or --cpus limit"
        return None

    return _each(ctx, problem)


def _c_5_13(ctx: Context) -> Evaluation:
    return _each(ctx, lambda c: None if c.readonly_rootfs else "root filesystem is writable")


_WILDCARDS = frozenset({"", "0.0.0.0", "::", "[::]"})


def _c_5_14(ctx: Context) -> Evaluation:
    def problem(c: ContainerFacts) -> str | None:
        wild = sorted(
            {
                f"{p.host_port}/{p.protocol}"
                for p in c.ports
                if p.host_port is not None and p.host_ip.strip() in _WILDCARDS
            }
        )
        return f"port(s) bound to all host interfaces: {', '.join(wild)}" if wild else None

    return _each(ctx, problem)


def _c_5_15(ctx: Context) -> Evaluation:
    running = _running_or_na(ctx)
    details: list[Detail] = []
    outcome = Outcome.PASS
    for c in running:
        policy = c.restart_policy.strip().lower()
        if policy == "on-failure" and (c.restart_max_retries > 5 or c.restart_max_retries <= 0):
            n = c.restart_max_retries
            shown = "unlimited" if n <= 0 else str(n)
            details.append(
                Detail(
                    c.label,
                    f"on-failure restart policy with {shown} retries",
                    Outcome.WARN,
                    f"on-failure:{n}",
                )
            )
            outcome = Outcome.WARN
        elif policy in ("always", "unless-stopped"):
            details.append(Detail(c.label, f"restart policy {policy} restarts without limit", Outcome.INFO, policy))
            if outcome is Outcome.PASS:
                outcome = Outcome.INFO
        else:
            details.append(Detail(c.label, "ok", Outcome.PASS, policy or "no"))
    return Evaluation(outcome, tuple(details))


def _c_5_16(ctx: Context) -> Evaluation:
    return _each(ctx, lambda c: "shares the host PID namespace" if c.pid_mode == "host" else None)


def _c_5_17(ctx: Context) -> Evaluation:
    return _each(ctx, lambda c: "shares the host IPC namespace" if c.ipc_mode == "host" else None)


def _c_5_18(ctx: Context) -> Evaluation:
    running = _running_or_na(ctx)
    details = tuple(
        Detail(
            c.label,
            f"host device {d.path_on_host} exposed at {d.path_in_container} ({d.permissions})",
            Outcome.WARN,
            d.path_on_host,
        )
        for c in running
        for d in c.devices
    )
    if details:
        return Evaluation(Outcome.INFO, details, "review that each device is needed")
    return Evaluation(Outcome.PASS, (), "no running container has host devices")


def _c_5_19(ctx: Context) -> Evaluation:
    running = _running_or_na(ctx)
    details = []
    for c in running:
        if c.ulimits:
            details.append(Detail(c.label, f"ulimits set: {', '.join(c.ulimits)}", Outcome.INFO))
        else:
            details.append(Detail(c.label, "uses the daemon's default ulimits", Outcome.INFO))
    return Evaluation(Outcome.INFO, tuple(details), "confirm overrides are needed")


def _c_5_20(ctx: Context) -> Evaluation:
    def problem(c: ContainerFacts) -> str | None:
        shared = [
            f"{m.destination} ({m.propagation})"
            for m in c.mounts
            if m.propagation.strip().lower() in ("shared", "rshared")
        ]
        return f"shared mount propagation: {', '.join(shared)}" if shared else None

    return _each(ctx, problem)


def _c_5_21(ctx: Context) -> Evaluation:
    return _each(ctx, lambda c: "shares the host UTS namespace" if c.uts_mode == "host" else None)


def _lint_inline(profile: str) -> list[str]:
    """The HIGH/CRITICAL messages of the seccomp linter on an inline profile."""
    from dockguard.seccomp.lint import security_issues

    return [message for severity, message in security_issues(profile)
            if str(severity).upper() in ("HIGH", "CRITICAL")]


def _seccomp_detail(c: ContainerFacts, daemon_seccomp: dict[str, str] | None, known: bool) -> Detail:
    from dockguard.seccomp.container import classify_setting

    setting = c.seccomp or classify_setting(c.privileged, c.security_opt)
    kind = setting.kind
    if kind is SeccompKind.PRIVILEGED:
        return Detail(c.label, "privileged: no seccomp filter is applied", Outcome.WARN)
    if kind is SeccompKind.UNCONFINED:
        return Detail(c.label, "seccomp disabled", Outcome.WARN, "seccomp=unconfined")
    if kind is SeccompKind.INLINE:
        if not setting.profile:
            return Detail(c.label, "custom profile: the profile's text was not collected", Outcome.ERROR)
        try:
            bad = _lint_inline(setting.profile)
        except Exception as exc:  # a failing linter must not hide the other containers
            return Detail(c.label, f"custom profile: lint failed: {exc}", Outcome.ERROR)
        if bad:
            return Detail(c.label, "custom profile: " + "; ".join(bad), Outcome.WARN)
        return Detail(c.label, "custom profile", Outcome.PASS)
    if kind in (SeccompKind.LOCALHOST, SeccompKind.OTHER):
        return Detail(c.label, f"seccomp={setting.profile}", Outcome.PASS)
    if known and (daemon_seccomp is None or daemon_seccomp.get("profile") == "unconfined"):
        return Detail(c.label, "daemon applies no seccomp profile", Outcome.WARN)
    return Detail(c.label, "default profile", Outcome.PASS)


def _c_5_22(ctx: Context) -> Evaluation:
    running = _running_or_na(ctx)
    daemon = ctx.snapshot.daemon
    daemon_seccomp = daemon.security_option("seccomp") if daemon is not None else None
    details = [_seccomp_detail(c, daemon_seccomp, daemon is not None) for c in running]
    order = {Outcome.WARN: 0, Outcome.ERROR: 1, Outcome.PASS: 2}
    details.sort(key=lambda d: order.get(d.outcome, 3))
    outcomes = {d.outcome for d in details}
    if Outcome.WARN in outcomes:
        return Evaluation(Outcome.WARN, tuple(details))
    if Outcome.ERROR in outcomes:
        return Evaluation(Outcome.ERROR, tuple(details), "seccomp lint failed")
    return Evaluation(Outcome.PASS, tuple(details))


def _c_5_23(ctx: Context) -> Evaluation:
    _running_or_na(ctx)
    return Evaluation(
        Outcome.NOTE,
        reason="needs the host's audit log of `docker exec` events, which is not collected: "
        "check `ausearch -k docker | grep exec | grep privileged`",
    )


def _c_5_25(ctx: Context) -> Evaluation:
    return _each(ctx, lambda c: f"cgroup parent set to {c.cgroup_parent}" if c.cgroup_parent else None)


_TRUE = frozenset({"", "true", "1", "t", "yes"})


def _nnp(c: ContainerFacts) -> bool | None:
    """The container's own no-new-privileges setting (last one wins), None when absent."""
    value: bool | None = None
    for opt in c.security_opt:
        key, val = _opt_kv(opt)
        if key == "no-new-privileges":
            value = val.strip().lower() in _TRUE
    return value


def _c_5_26(ctx: Context) -> Evaluation:
    running = _running_or_na(ctx)
    daemon = ctx.snapshot.daemon
    daemon_nnp = bool(
        daemon is not None and daemon.config is not None and daemon.config.get("no-new-privileges") is True
    )
    items: list[tuple[str, str | None]] = []
    for c in running:
        own = _nnp(c)
        if own is False:
            items.append((c.label, "no-new-privileges turned off by the container"))
        elif own is None and not daemon_nnp:
            items.append((c.label, "privileges not restricted (no no-new-privileges)"))
        else:
            items.append((c.label, None))
    ev = per_object(items, none_reason=NO_RUNNING)
    if daemon_nnp:
        ev = Evaluation(
            ev.outcome,
            (*ev.details, Detail("daemon", "no-new-privileges set daemon-wide", Outcome.PASS)),
            ev.reason,
        )
    return ev


def _c_5_27(ctx: Context) -> Evaluation:
    return _each(ctx, lambda c: "no health check at runtime" if c.health_status is None else None)


def _c_5_29(ctx: Context) -> Evaluation:
    def problem(c: ContainerFacts) -> str | None:
        if c.pids_limit is None or c.pids_limit <= 0:
            return "no PIDs limit"
        return None

    return _each(ctx, problem)


def default_bridge_networks(networks: Iterable[NetworkFacts] | None) -> tuple[set[str], str]:
    """Names of networks using docker0 / the default bridge, and a note when guessed."""
    if networks is None:
        return {"bridge"}, "network list not collected: assumed the default network 'bridge'"
    names = {
        n.name
        for n in networks
        if n.options.get("com.docker.network.bridge.name") == "docker0" or (n.name == "bridge" and n.driver == "bridge")
    }
    return names, ""


def _c_5_30(ctx: Context) -> Evaluation:
    running = _running_or_na(ctx)
    names, note = default_bridge_networks(ctx.snapshot.networks)
    details = []
    for c in running:
        on = sorted(set(c.networks) & names)
        if not c.networks and c.network_mode in ("default", "bridge") and "bridge" in names:
            on = ["bridge"]
        if on:
            details.append(Detail(c.label, f"attached to the default bridge ({', '.join(on)})", Outcome.WARN))
    if details:
        return Evaluation(Outcome.INFO, tuple(details), note)
    return Evaluation(Outcome.PASS, (), note or "no running container uses docker0")


def _c_5_31(ctx: Context) -> Evaluation:
    return _each(ctx, lambda c: "shares the host user namespace" if c.userns_mode == "host" else None)


def _c_5_32(ctx: Context) -> Evaluation:
    running = _running_or_na(ctx)
    sockets, note = docker_sockets(ctx)
    items = []
    for c in running:
        hits = [h for m in c.mounts if (h := socket_exposure(m, sockets))]
        items.append((c.label, "; ".join(hits) if hits else None))
    ev = per_object(items, none_reason=NO_RUNNING)
    if note:
        ev = Evaluation(ev.outcome, ev.details, note)
    return ev


CHECKS: tuple[Check, ...] = (
    check(
        "5.1",
        "Ensure swarm mode is not Enabled, if not needed",
        level=1,
        severity=Severity.LOW,
        remediation="If this host does not need to take part in a swarm, leave it with `docker swarm leave`.",
        impact="Services and swarm-scoped networks on this node stop.",
        references=(CIS_URL, "https://docs.docker.com/engine/swarm/"),
        fn=_c_5_1,
    ),
    check(
        "5.2",
        "Ensure that, if applicable, an AppArmor Profile is enabled",
        level=1,
        severity=Severity.MEDIUM,
        remediation="Keep AppArmor enabled on the host and run containers with Docker's "
        "default profile or a tailored one (--security-opt apparmor=<profile>); never "
        "apparmor=unconfined.",
        impact="A too-strict profile can stop the application from working.",
        references=(CIS_URL, _SECURITY + "apparmor/"),
        fn=_c_5_2,
    ),
    check(
        "5.3",
        "Ensure that, if applicable, SELinux security options are set",
        level=2,
        severity=Severity.MEDIUM,
        remediation="Run the daemon with --selinux-enabled and start containers with suitable "
        "labels (--security-opt label=type:…/level:…); avoid label=disable.",
        impact="A misconfigured policy can break the application.",
        references=(CIS_URL, _RUN_REF + "#security-configuration"),
        fn=_c_5_3,
    ),
    check(
        "5.4",
        "Ensure that Linux kernel capabilities are restricted within containers",
        level=1,
        severity=Severity.HIGH,
        remediation="Drop every capability and add back only those the workload needs: "
        "--cap-drop=ALL --cap-add=<needed>.",
        impact="Missing capabilities make some operations fail (e.g. raw sockets without NET_RAW).",
        references=(CIS_URL, _RUN_REF + "#runtime-privilege-and-linux-capabilities"),
        fn=_c_5_4,
    ),
    check(
        "5.5",
        "Ensure that privileged containers are not used",
        level=1,
        severity=Severity.CRITICAL,
        remediation="Run containers without --privileged; grant individual capabilities and devices instead.",
        impact="Workloads that really manage the host need their privileges spelled out.",
        references=(CIS_URL, _RUN_REF + "#runtime-privilege-and-linux-capabilities"),
        fn=_c_5_5,
    ),
    check(
        "5.6",
        "Ensure sensitive host system directories are not mounted on containers",
        level=1,
        severity=Severity.HIGH,
        remediation="Do not bind-mount /, /boot, /dev, /etc, /lib, /proc, /sys, /usr or "
        "anything below them; use volumes or narrowly scoped, read-only mounts of what is "
        "really needed.",
        references=(CIS_URL, "https://docs.docker.com/storage/bind-mounts/"),
        fn=_c_5_6,
    ),
    check(
        "5.7",
        "Ensure sshd is not run within containers",
        level=1,
        severity=Severity.MEDIUM,
        remediation="Remove the SSH server from the image; use `docker exec` for troubleshooting.",
        references=(CIS_URL,),
        fn=_c_5_7,
    ),
    check(
        "5.8",
        "Ensure privileged ports are not mapped within containers",
        level=1,
        severity=Severity.LOW,
        remediation="Publish container ports on host ports 1024 and above, or front the "
        "service with a proxy that owns the low port.",
        references=(CIS_URL, "https://docs.docker.com/config/containers/container-networking/"),
        fn=_c_5_8,
    ),
    manual(
        "5.9",
        "Ensure that only needed ports are open on the container",
        level=1,
        remediation="Publish only the ports the service needs (-p host:container for each) "
        "rather than -P with every EXPOSEd port.",
        references=(CIS_URL, "https://docs.docker.com/config/containers/container-networking/"),
        fn=_c_5_9,
    ),
    check(
        "5.10",
        "Ensure that the host's network namespace is not shared",
        level=1,
        severity=Severity.HIGH,
        remediation="Do not start containers with --network=host.",
        references=(CIS_URL, _RUN_REF + "#network-settings"),
        fn=_c_5_10,
    ),
    check(
        "5.11",
        "Ensure that the memory usage for containers is limited",
        level=1,
        severity=Severity.MEDIUM,
        remediation="Set a memory limit sized for the workload with --memory.",
        impact="A too-low limit gets the container OOM-killed.",
        references=(CIS_URL, _RUN_REF + "#runtime-constraints-on-resources"),
        fn=_c_5_11,
    ),
    check(
        "5.12",
        "Ensure that CPU priority is set appropriately on containers",
        level=1,
        severity=Severity.LOW,
        remediation="Give containers a CPU weight or limit that matches their priority "
        "(--cpu-shares, --cpus or --cpu-quota).",
        impact="Wrong weights can starve important containers when the CPU is contended.",
        references=(CIS_URL, _RUN_REF + "#cpu-share-constraint"),
        fn=_c_5_12,
    ),
    check(
        "5.13",
        "Ensure that the container's root filesystem is mounted as read only",
        level=1,
        severity=Severity.MEDIUM,
        remediation="Run containers with --read-only and give writable paths explicit volumes or tmpfs mounts.",
        impact="Applications that write outside declared volumes fail until paths are added.",
        references=(CIS_URL, _RUN_CLI),
        fn=_c_5_13,
    ),
    check(
        "5.14",
        "Ensure that incoming container traffic is bound to a specific host interface",
        level=1,
        severity=Severity.MEDIUM,
        remediation="Publish ports on a specific address: -p <host-ip>:<host-port>:<port>.",
        references=(CIS_URL, "https://docs.docker.com/config/containers/container-networking/"),
        fn=_c_5_14,
    ),
    check(
        "5.15",
        "Ensure that the 'on-failure' container restart policy is set to '5'",
        level=1,
        severity=Severity.LOW,
        remediation="Use --restart=on-failure:5 (or fewer retries) instead of unbounded restart policies.",
        impact="A container that keeps failing stays down after five attempts.",
        references=(CIS_URL, _RUN_REF + "#restart-policies---restart"),
        fn=_c_5_15,
    ),
    check(
        "5.16",
        "Ensure that the host's process namespace is not shared",
        level=1,
        severity=Severity.HIGH,
        remediation="Do not start containers with --pid=host.",
        impact="Container processes can no longer see host processes.",
        references=(CIS_URL, _RUN_REF + "#pid-settings---pid"),
        fn=_c_5_16,
    ),
    check(
        "5.17",
        "Ensure that the host's IPC namespace is not shared",
        level=1,
        severity=Severity.HIGH,
        remediation="Do not start containers with --ipc=host; share IPC between containers "
        "with --ipc=container:<name> when needed.",
        impact="Applications using host shared memory need another arrangement.",
        references=(CIS_URL, _RUN_REF + "#ipc-settings---ipc"),
        fn=_c_5_17,
    ),
    manual(
        "5.18",
        "Ensure that host devices are not directly exposed to containers",
        level=1,
        severity=Severity.MEDIUM,
        remediation="Avoid --device; when a device is needed, expose only it with the least "
        "permissions (e.g. --device=/dev/ttyUSB0:/dev/ttyUSB0:r).",
        impact="Containers cannot use host devices directly.",
        references=(CIS_URL, _RUN_REF + "#runtime-privilege-and-linux-capabilities"),
        fn=_c_5_18,
    ),
    manual(
        "5.19",
        "Ensure that the default ulimit is overwritten at runtime if needed",
        level=1,
        remediation="Override the daemon's default ulimits per container (--ulimit) only "
        "where a workload needs different limits.",
        impact="Wrong limits can let one container exhaust host resources or break it.",
        references=(CIS_URL, _RUN_CLI),
        fn=_c_5_19,
    ),
    check(
        "5.20",
        "Ensure mount propagation mode is not set to shared",
        level=1,
        severity=Severity.MEDIUM,
        remediation="Do not mount volumes with shared or rshared propagation; use the default private propagation.",
        references=(
            CIS_URL,
            "https://docs.docker.com/storage/bind-mounts/#configure-bind-propagation",
        ),
        fn=_c_5_20,
    ),
    check(
        "5.21",
        "Ensure that the host's UTS namespace is not shared",
        level=1,
        severity=Severity.MEDIUM,
        remediation="Do not start containers with --uts=host.",
        references=(CIS_URL, _RUN_REF + "#uts-settings---uts"),
        fn=_c_5_21,
    ),
    check(
        "5.22",
        "Ensure the default seccomp profile is not Disabled",
        level=1,
        severity=Severity.HIGH,
        remediation="Do not run containers with --security-opt seccomp=unconfined; keep "
        "Docker's default profile or apply a reviewed custom profile.",
        impact="System calls outside the profile fail with an error.",
        references=(CIS_URL, _SECURITY + "seccomp/"),
        fn=_c_5_22,
    ),
    check(
        "5.23",
        "Ensure that docker exec commands are not used with the privileged option",
        level=2,
        severity=Severity.HIGH,
        scored=False,
        remediation="Do not use `docker exec --privileged`; give the container the specific "
        "capabilities it needs instead.",
        impact="Troubleshooting that needs extra privileges must be planned into the container.",
        references=(CIS_URL, "https://docs.docker.com/engine/reference/commandline/exec/"),
        fn=_c_5_23,
    ),
    manual(
        "5.24",
        "Ensure that docker exec commands are not used with the user=root option",
        level=2,
        severity=Severity.MEDIUM,
        remediation="Do not use `docker exec --user=root`; audit exec events on the host.",
        references=(CIS_URL, "https://docs.docker.com/engine/reference/commandline/exec/"),
    ),
    check(
        "5.25",
        "Ensure that cgroup usage is confirmed",
        level=1,
        severity=Severity.LOW,
        remediation="Do not use --cgroup-parent unless a specific cgroup is required, and then "
        "confirm it is the intended one.",
        references=(CIS_URL, _RUN_REF + "#specify-custom-cgroups"),
        fn=_c_5_25,
    ),
    check(
        "5.26",
        "Ensure that the container is restricted from acquiring additional privileges",
        level=1,
        severity=Severity.MEDIUM,
        remediation="Start containers with --security-opt=no-new-privileges, or set "
        '"no-new-privileges": true in daemon.json.',
        impact="setuid binaries no longer elevate privileges inside the container.",
        references=(CIS_URL, _RUN_REF + "#security-configuration"),
        fn=_c_5_26,
    ),
    check(
        "5.27",
        "Ensure that container health is checked at runtime",
        level=1,
        severity=Severity.LOW,
        remediation="Give containers a health check (HEALTHCHECK in the image or --health-cmd at run time).",
        references=(CIS_URL, _RUN_REF + "#healthcheck"),
        fn=_c_5_27,
    ),
    manual(
        "5.28",
        "Ensure that Docker commands always make use of the latest version of their image",
        level=1,
        remediation="Pin images by digest or immutable version tags and pull deliberately, so "
        "cached stale images are not reused by accident.",
        references=(CIS_URL, _BEST_PRACTICES),
    ),
    check(
        "5.29",
        "Ensure that the PIDs cgroup limit is used",
        level=1,
        severity=Severity.MEDIUM,
        remediation="Limit the number of processes per container with --pids-limit.",
        impact="A too-low limit makes fork() fail in the container.",
        references=(CIS_URL, _RUN_CLI),
        fn=_c_5_29,
    ),
    manual(
        "5.30",
        "Ensure that Docker's default bridge 'docker0' is not used",
        level=2,
        severity=Severity.LOW,
        remediation="Create user-defined networks and attach containers to them instead of the default bridge.",
        impact="User-defined networks have to be created and managed.",
        references=(CIS_URL, "https://docs.docker.com/network/bridge/"),
        fn=_c_5_30,
    ),
    check(
        "5.31",
        "Ensure that the host's user namespaces are not shared",
        level=1,
        severity=Severity.HIGH,
        remediation="Do not start containers with --userns=host.",
        references=(CIS_URL, _SECURITY + "userns-remap/"),
        fn=_c_5_31,
    ),
    check(
        "5.32",
        "Ensure that the Docker socket is not mounted inside any containers",
        level=1,
        severity=Severity.CRITICAL,
        remediation="Do not mount the Docker socket (or a directory holding it) into "
        "containers; give tools that need the API a narrowly scoped proxy instead.",
        impact="Tools that drive Docker from inside a container need another access path.",
        references=(CIS_URL, _SECURITY + "#docker-daemon-attack-surface"),
        fn=_c_5_32,
    ),
)
