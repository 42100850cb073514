"""CIS Docker Benchmark 1.6.0 section 2: Docker daemon configuration.

Settings come from the effective configuration (daemon.json merged with the dockerd command
line); every detail says where a value came from, e.g. ``icc=false (daemon.json)``.  Where
the Engine API reports what the daemon really does (storage driver, logging driver,
registries, seccomp), that is what is judged.
"""

from __future__ import annotations

import ipaddress

from dockguard.checks._common import CIS_BENCHMARK, provenance
from dockguard.checks.catalogue import Check, check, manual
from dockguard.engine import Context, FactsMissing
from dockguard.model import Detail, Evaluation, Outcome, Severity, StepStatus
from dockguard.snapshot import DaemonConfig, EndpointProbeFacts, JsonValue, TcpListener

_DOCKERD = "https://docs.docker.com/reference/cli/dockerd/"
_DAEMON_JSON = "https://docs.docker.com/reference/cli/dockerd/#daemon-configuration-file"

# Docker always treats loopback registries as insecure; that is not an operator's choice.
BUILTIN_INSECURE_CIDRS = frozenset({"127.0.0.0/8", "::1/128"})

LOCAL_LOG_DRIVERS = frozenset({"json-file", "local", "none"})


def _setting(cfg: DaemonConfig, key: str, *, default: str | None = None) -> str:
    """``key=value (where)`` for a detail message; unset keys show Docker's default."""
    value = cfg.get(key)
    if value is None:
        if default is None:
            return f"{key} not set"
        return f"{key} not set (Docker default: {default})"
    return f"{key}={_fmt(value)} ({provenance(cfg.source(key))})"


def _fmt(value: JsonValue) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value)
    if isinstance(value, dict):
        return ",".join(f"{k}={_fmt_ulimit(v)}" for k, v in sorted(value.items()))
    return str(value)


def _fmt_ulimit(v: JsonValue) -> str:
    if isinstance(v, dict) and ("Soft" in v or "Hard" in v):
        return f"{v.get('Soft')}:{v.get('Hard')}"
    return str(v)


def _one(outcome: Outcome, message: str, value: str | None = None, reason: str = "") -> Evaluation:
    return Evaluation(outcome, (Detail("daemon", message, outcome, value),), reason)


# -- 2.1 -------------------------------------------------------------------------------------


def _c_2_1(ctx: Context) -> Evaluation:
    daemon = ctx.daemon
    if daemon.security_option("rootless") is not None:
        return _one(Outcome.PASS, "daemon runs in rootless mode (SecurityOptions name=rootless)")
    proc = ctx.snapshot.host.dockerd if ctx.snapshot.host else None
    if proc is not None and proc.user and proc.user not in ("root", "0"):
        return _one(Outcome.PASS, f"dockerd runs as user {proc.user}", proc.user)
    who = f"as {proc.user}" if proc is not None and proc.user else "as root (not rootless)"
    return _one(Outcome.WARN, f"dockerd runs {who}; consider rootless mode")


# -- 2.2 - 2.4 -------------------------------------------------------------------------------


def _c_2_2(ctx: Context) -> Evaluation:
    cfg = ctx.config
    text = _setting(cfg, "icc", default="true")
    if cfg.get("icc") is False:
        return _one(Outcome.PASS, text, "false")
    return _one(Outcome.WARN, f"{text}: containers on the default bridge can reach each other")


def _c_2_3(ctx: Context) -> Evaluation:
    cfg = ctx.config
    level = cfg.get("log-level")
    text = _setting(cfg, "log-level", default="info")
    if level is None or str(level).lower() == "info":
        return _one(Outcome.PASS, text, "info")
    return _one(Outcome.WARN, text, str(level))


def _c_2_4(ctx: Context) -> Evaluation:
    cfg = ctx.config
    text = _setting(cfg, "iptables", default="true")
    if cfg.get("iptables") is False:
        return _one(Outcome.WARN, f"{text}: Docker cannot manage its firewall rules", "false")
    return _one(Outcome.PASS, text)


# -- 2.5 -------------------------------------------------------------------------------------


def _canonical_cidr(entry: str) -> str:
    try:
        return str(ipaddress.ip_network(entry, strict=False))
    except ValueError:
        return entry


def _c_2_5(ctx: Context) -> Evaluation:
    daemon = ctx.daemon
    cfg = daemon.config
    found: dict[str, list[str]] = {}

    def add(entry: str, where: str) -> None:
        key = _canonical_cidr(entry)
        if key in BUILTIN_INSECURE_CIDRS:
            return
        found.setdefault(key, [])
        if where not in found[key]:
            found[key].append(where)

    if cfg is not None:
        where = provenance(cfg.source("insecure-registries"))
        for entry in cfg.strings("insecure-registries"):
            add(entry, where)
    for cidr in daemon.insecure_registry_cidrs:
        add(cidr, "reported by the daemon")
    for index in daemon.index_configs:
        if not index.secure:
            add(index.name, "reported by the daemon")
    if not found:
        reason = "" if cfg is not None else "effective daemon configuration not collected"
        return Evaluation(
            Outcome.PASS,
            (
                Detail(
                    "daemon",
                    "no insecure registries besides Docker's loopback default",
                    Outcome.PASS,
                ),
            ),
            reason,
        )
    details = tuple(
        Detail("daemon", f"insecure registry {name} ({'; '.join(where)})", Outcome.WARN, name)
        for name, where in sorted(found.items())
    )
    return Evaluation(Outcome.WARN, details)


# -- 2.6 -------------------------------------------------------------------------------------


def _c_2_6(ctx: Context) -> Evaluation:
    driver = ctx.daemon.driver
    if not driver:
        raise FactsMissing("storage driver not reported by the daemon")
    if driver == "aufs":
        return _one(Outcome.WARN, "storage driver is aufs", driver)
    return _one(Outcome.PASS, f"storage driver is {driver}", driver)


# -- 2.7 -------------------------------------------------------------------------------------


def tcp_listeners(ctx: Context) -> tuple[TcpListener, ...]:
    """Every TCP endpoint the daemon serves, as the collector worked them out (`-H`/``hosts``,
    and docker.socket's ListenStream when the daemon is socket-activated)."""
    return ctx.need(ctx.host.docker_tcp_listeners, "the daemon's TCP listeners", "daemon-config")


def probe_verdict(probe: EndpointProbeFacts) -> tuple[Outcome, str]:
    """CIS 2.7's reading of what a probe observed: WARN when the endpoint answered a client
    that had no certificate from its CA, PASS when it refused both kinds, INFO when no step
    could tell (never read as a pass)."""
    if probe.plain_http or probe.client_verification is False or probe.foreign_client_cert_accepted is True:
        titles = "; ".join(f.title for f in probe.findings) or "answers clients without authentication"
        return Outcome.WARN, titles
    if probe.client_verification is True and probe.foreign_client_cert_accepted is False:
        return Outcome.PASS, "answers only clients with a certificate from its CA (probed)"
    failed = ", ".join(s.name for s in probe.steps if s.status is StepStatus.FAILED) or "no conclusive step"
    return Outcome.INFO, f"probe could not tell ({failed})"


def _probe_details(ctx: Context) -> list[Detail]:
    """One detail per endpoint probed during collection; a WARN is a finding here because it
    shows what the endpoint really accepts."""
    details = []
    for probe in ctx.snapshot.endpoint_probes or ():
        outcome, message = probe_verdict(probe)
        details.append(Detail(f"endpoint:{probe.address}", f"probe: {message}", outcome, probe.address))
    return details


def _c_2_7(ctx: Context) -> Evaluation:
    cfg = ctx.config
    listeners = tcp_listeners(ctx)
    probes = _probe_details(ctx)
    if not listeners:
        outcome = Outcome.WARN if any(d.outcome is Outcome.WARN for d in probes) else Outcome.PASS
        return Evaluation(outcome, tuple(probes), "daemon does not listen on TCP")
    verify = cfg.get("tlsverify")
    tls = cfg.get("tls")
    if verify is True:
        status = f"{_setting(cfg, 'tlsverify')}: clients must present a certificate"
        outcome = Outcome.PASS
    elif verify is False:
        # dockerd turns TLS on whenever tlsverify is given, even as false.
        status = (
            f"{_setting(cfg, 'tlsverify')}: TLS without verification, clients are not authenticated"
        )
        outcome = Outcome.WARN
    elif tls is True:
        status = f"{_setting(cfg, 'tls')} without tlsverify: clients are not authenticated"
        outcome = Outcome.WARN
    else:
        status = "no TLS: anyone who reaches the port controls the daemon"
        outcome = Outcome.WARN
    details = [
        Detail(f"endpoint:{ls.address}", f"TCP listener ({provenance(ls.source)}); {status}", outcome, ls.address)
        for ls in listeners
    ]
    if outcome is Outcome.PASS:
        for key in ("tlscacert", "tlscert", "tlskey"):
            if cfg.get(key):
                details.append(Detail("daemon", _setting(cfg, key), Outcome.PASS))
    details += probes
    if any(d.outcome is Outcome.WARN for d in probes):
        outcome = Outcome.WARN
    return Evaluation(outcome, tuple(details))


# -- 2.8 - 2.18 ------------------------------------------------------------------------------


def _c_2_8(ctx: Context) -> Evaluation:
    cfg = ctx.config
    limits = cfg.get("default-ulimits")
    if limits:
        return _one(Outcome.PASS, _setting(cfg, "default-ulimits"), _fmt(limits))
    return _one(
        Outcome.INFO,
        "default-ulimits not set: containers inherit the daemon's limits",
        reason="default ulimit does not appear to be set",
    )


def _c_2_9(ctx: Context) -> Evaluation:
    daemon = ctx.daemon
    cfg = daemon.config
    if cfg is not None and cfg.get("userns-remap"):
        return _one(Outcome.PASS, _setting(cfg, "userns-remap"), str(cfg.get("userns-remap")))
    if daemon.security_option("userns") is not None:
        return _one(Outcome.PASS, "user namespace remapping active (SecurityOptions name=userns)")
    if daemon.security_option("rootless") is not None:
        return _one(Outcome.PASS, "rootless mode: the daemon itself runs in a user namespace")
    if cfg is None:
        raise FactsMissing("effective daemon configuration not collected")
    return _one(Outcome.WARN, "userns-remap not set: root in a container is root on the host")


def _c_2_10(ctx: Context) -> Evaluation:
    cfg = ctx.config
    parent = cfg.get("cgroup-parent")
    if parent:
        return _one(
            Outcome.WARN, f"{_setting(cfg, 'cgroup-parent')}: confirm this is intended", str(parent)
        )
    return _one(Outcome.PASS, "cgroup-parent not set (Docker default)")


def _c_2_11(ctx: Context) -> Evaluation:
    cfg = ctx.config
    opts = cfg.strings("storage-opts")
    changed = [o for o in opts if o.replace(" ", "").startswith("dm.basesize")]
    if changed:
        where = provenance(cfg.source("storage-opts"))
        return Evaluation(
            Outcome.WARN,
            tuple(
                Detail("daemon", f"storage-opts {o} ({where})", Outcome.WARN, o) for o in changed
            ),
        )
    return _one(Outcome.PASS, "base device size not changed (no dm.basesize storage option)")


def _c_2_12(ctx: Context) -> Evaluation:
    daemon = ctx.daemon
    cfg = daemon.config
    if cfg is not None and cfg.get("authorization-plugins"):
        plugins = cfg.strings("authorization-plugins")
        return _one(Outcome.PASS, _setting(cfg, "authorization-plugins"), ",".join(plugins))
    if daemon.authorization_plugins:
        return _one(
            Outcome.PASS,
            "authorization plugins reported by the daemon: "
            + ", ".join(daemon.authorization_plugins),
        )
    if cfg is None:
        raise FactsMissing("effective daemon configuration not collected")
    return _one(Outcome.WARN, "no authorization plugin: any socket user can run every command")


def _c_2_13(ctx: Context) -> Evaluation:
    driver = ctx.daemon.logging_driver
    if not driver:
        raise FactsMissing("logging driver not reported by the daemon")
    if driver in LOCAL_LOG_DRIVERS:
        return _one(Outcome.WARN, f"logging driver {driver} keeps logs on this host only", driver)
    return _one(Outcome.PASS, f"logging driver {driver}", driver)


def _c_2_14(ctx: Context) -> Evaluation:
    cfg = ctx.config
    text = _setting(cfg, "no-new-privileges", default="false")
    if cfg.get("no-new-privileges") is True:
        return _one(Outcome.PASS, text, "true")
    return _one(Outcome.WARN, text)


def _c_2_15(ctx: Context) -> Evaluation:
    daemon = ctx.daemon
    if daemon.swarm.active:
        raise FactsMissing("live restore is incompatible with swarm mode (node is in a swarm)")
    if daemon.live_restore:
        return _one(Outcome.PASS, "live restore enabled (LiveRestoreEnabled=true)", "true")
    return _one(
        Outcome.WARN, "live restore disabled: containers stop when the daemon stops", "false"
    )


def _c_2_16(ctx: Context) -> Evaluation:
    cfg = ctx.config
    text = _setting(cfg, "userland-proxy", default="true")
    if cfg.get("userland-proxy") is False:
        return _one(Outcome.PASS, text, "false")
    return _one(Outcome.WARN, text)


def _c_2_17(ctx: Context) -> Evaluation:
    daemon = ctx.daemon
    opt = daemon.security_option("seccomp")
    cfg = daemon.config
    where = ""
    if cfg is not None and cfg.get("seccomp-profile"):
        where = f" ({_setting(cfg, 'seccomp-profile')})"
    if opt is None:
        return _one(Outcome.WARN, "seccomp is not active on the daemon (not in SecurityOptions)")
    profile = opt.get("profile", "")
    if profile in ("", "default", "builtin"):
        return _one(
            Outcome.INFO,
            f"Docker's default seccomp profile is applied{where}",
            profile or "default",
        )
    if profile == "unconfined":
        return _one(Outcome.WARN, f"daemon-wide seccomp profile is unconfined{where}", profile)
    return _one(Outcome.PASS, f"custom seccomp profile {profile}{where}", profile)


def _c_2_18(ctx: Context) -> Evaluation:
    if ctx.daemon.experimental:
        return _one(Outcome.WARN, "experimental features are enabled", "true")
    return _one(Outcome.PASS, "experimental features are disabled", "false")


# -- declarations ----------------------------------------------------------------------------

CHECKS: tuple[Check, ...] = (
    manual(
        "2.1",
        "Run the Docker daemon as a non-root user, if possible",
        level=1,
        severity=Severity.MEDIUM,
        remediation="Where your workloads allow it, run Docker in rootless mode "
        "(dockerd-rootless-setuptool.sh install) so a daemon compromise is not root on the host.",
        impact="Rootless mode lacks some features: privileged ports, some storage and network "
        "drivers, AppArmor, checkpointing.",
        references=(CIS_BENCHMARK, "https://docs.docker.com/engine/security/rootless/"),
        fn=_c_2_1,
    ),
    check(
        "2.2",
        "Ensure network traffic is restricted between containers on the default bridge",
        level=1,
        severity=Severity.MEDIUM,
        remediation='Set `"icc": false` in daemon.json (or `--icc=false`) and connect '
        "containers that must talk through user-defined networks or explicit links.",
        impact="Containers on the default bridge can no longer reach each other unless linked.",
        references=(CIS_BENCHMARK, "https://docs.docker.com/engine/network/drivers/bridge/"),
        fn=_c_2_2,
    ),
    check(
        "2.3",
        "Ensure the logging level is set to 'info'",
        level=1,
        severity=Severity.LOW,
        remediation='Remove the log-level override or set `"log-level": "info"` in '
        "daemon.json (`--log-level=info`).",
        impact="None.",
        references=(CIS_BENCHMARK, _DOCKERD),
        fn=_c_2_3,
    ),
    check(
        "2.4",
        "Ensure Docker is allowed to make changes to iptables",
        level=1,
        severity=Severity.MEDIUM,
        remediation='Remove `"iptables": false` from daemon.json and `--iptables=false` from '
        "the dockerd command line so Docker maintains its own firewall rules.",
        impact="Docker edits the host's iptables rules; coordinate with other firewall tooling.",
        references=(
            CIS_BENCHMARK,
            "https://docs.docker.com/engine/network/packet-filtering-firewalls/",
        ),
        fn=_c_2_4,
    ),
    check(
        "2.5",
        "Ensure insecure registries are not used",
        level=1,
        severity=Severity.HIGH,
        remediation="Drop entries from `insecure-registries`; give each private registry a TLS "
        "certificate and place its CA under /etc/docker/certs.d/<registry>/.",
        impact="Registries without TLS become unreachable until they get certificates.",
        references=(CIS_BENCHMARK, "https://docs.docker.com/registry/insecure/"),
        fn=_c_2_5,
    ),
    check(
        "2.6",
        "Ensure aufs storage driver is not used",
        level=1,
        severity=Severity.MEDIUM,
        remediation='Switch to overlay2 (`"storage-driver": "overlay2"`); export images '
        "and containers you need first.",
        impact="Changing the driver hides existing images and containers until migrated.",
        references=(
            CIS_BENCHMARK,
            "https://docs.docker.com/engine/storage/drivers/select-storage-driver/",
        ),
        fn=_c_2_6,
    ),
    check(
        "2.7",
        "Ensure TLS authentication for Docker daemon is configured",
        level=1,
        severity=Severity.CRITICAL,
        remediation="Expose the daemon over TCP only with mutual TLS: set tlsverify with "
        "tlscacert, tlscert and tlskey (`dockguard daemon tls-init` creates them), or use "
        "SSH or the unix socket instead.",
        impact="Every remote client needs a certificate signed by the CA.",
        references=(CIS_BENCHMARK, "https://docs.docker.com/engine/security/protect-access/"),
        fn=_c_2_7,
    ),
    # CIS marks 2.8 and 2.17 Manual; they are evaluated but not scored.
    check(
        "2.8",
        "Ensure the default ulimit is configured appropriately",
        level=1,
        severity=Severity.LOW,
        scored=False,
        remediation='Set `"default-ulimits"` in daemon.json (e.g. nofile and nproc) to values '
        "suited to your workloads.",
        impact="Limits set too low make containers fail under load.",
        references=(CIS_BENCHMARK, _DAEMON_JSON),
        fn=_c_2_8,
    ),
    check(
        "2.9",
        "Enable user namespace support",
        level=2,
        severity=Severity.MEDIUM,
        remediation='Set `"userns-remap": "default"` (or a dedicated user) in daemon.json with '
        "matching /etc/subuid and /etc/subgid ranges.",
        impact="Remapping breaks sharing host namespaces and some volume permissions; existing "
        "images are stored again under the remapped root.",
        references=(CIS_BENCHMARK, "https://docs.docker.com/engine/security/userns-remap/"),
        fn=_c_2_9,
    ),
    check(
        "2.10",
        "Ensure the default cgroup usage has been confirmed",
        level=2,
        severity=Severity.LOW,
        remediation="Leave `cgroup-parent` unset unless a documented requirement places all "
        "containers under a specific cgroup.",
        impact="None.",
        references=(CIS_BENCHMARK, _DOCKERD),
        fn=_c_2_10,
    ),
    check(
        "2.11",
        "Ensure base device size is not changed until needed",
        level=2,
        severity=Severity.LOW,
        remediation="Remove `dm.basesize` from `storage-opts` unless containers need a larger "
        "base device.",
        impact="None.",
        references=(CIS_BENCHMARK, _DOCKERD),
        fn=_c_2_11,
    ),
    check(
        "2.12",
        "Ensure that authorization for Docker client commands is enabled",
        level=2,
        severity=Severity.MEDIUM,
        remediation="Install an authorization plugin and list it in `authorization-plugins` "
        "to control which users may run which API calls.",
        impact="A misconfigured plugin can block legitimate operations.",
        references=(CIS_BENCHMARK, "https://docs.docker.com/engine/extend/plugins_authorization/"),
        fn=_c_2_12,
    ),
    check(
        "2.13",
        "Ensure centralized and remote logging is configured",
        level=2,
        severity=Severity.LOW,
        remediation="Send container logs off the host: set `log-driver` to syslog, journald "
        "(with journal forwarding), gelf, fluentd or another remote driver.",
        impact="`docker logs` is unavailable with some remote drivers unless dual logging is on.",
        references=(CIS_BENCHMARK, "https://docs.docker.com/engine/logging/configure/"),
        fn=_c_2_13,
    ),
    check(
        "2.14",
        "Ensure containers are restricted from acquiring new privileges",
        level=1,
        severity=Severity.MEDIUM,
        remediation='Set `"no-new-privileges": true` in daemon.json so setuid binaries in '
        "containers cannot raise privileges.",
        impact="Containers that rely on setuid or file capabilities to escalate stop working.",
        references=(CIS_BENCHMARK, _DOCKERD),
        fn=_c_2_14,
    ),
    check(
        "2.15",
        "Ensure live restore is enabled",
        level=1,
        severity=Severity.LOW,
        remediation='Set `"live-restore": true` in daemon.json so containers keep running '
        "while the daemon restarts or is upgraded.",
        impact="Not available in swarm mode.",
        references=(CIS_BENCHMARK, "https://docs.docker.com/engine/daemon/live-restore/"),
        fn=_c_2_15,
    ),
    check(
        "2.16",
        "Ensure Userland Proxy is Disabled",
        level=1,
        severity=Severity.LOW,
        remediation='Set `"userland-proxy": false` in daemon.json so published ports use '
        "hairpin NAT instead of a proxy process per port.",
        impact="Old kernels without hairpin NAT support lose loopback access to published ports.",
        references=(
            CIS_BENCHMARK,
            "https://docs.docker.com/engine/network/packet-filtering-firewalls/",
        ),
        fn=_c_2_16,
    ),
    check(
        "2.17",
        "Ensure that a daemon-wide custom seccomp profile is applied if appropriate",
        level=2,
        severity=Severity.MEDIUM,
        scored=False,
        remediation="Keep seccomp enabled; where the default profile is too broad, write a "
        "tighter one and set it with `seccomp-profile` in daemon.json.",
        impact="A profile that is too strict makes containers fail on denied system calls.",
        references=(CIS_BENCHMARK, "https://docs.docker.com/engine/security/seccomp/"),
        fn=_c_2_17,
    ),
    check(
        "2.18",
        "Ensure that experimental features are not implemented in production",
        level=1,
        severity=Severity.LOW,
        remediation='Remove `"experimental": true` and `--experimental` from production daemons.',
        impact="Experimental features in use stop working.",
        references=(CIS_BENCHMARK, _DOCKERD),
        fn=_c_2_18,
    ),
)
