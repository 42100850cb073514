"""CIS Docker Benchmark 1.6.0 section 7: Docker swarm configuration.

Every check except 7.3 is N/A when this node is not part of a swarm.

7.1 ("minimum number of manager nodes"): CIS asks for no more managers than the wanted fault
tolerance requires; a swarm of N managers survives (N-1)//2 manager failures.  An even count
adds a manager without adding tolerance, and Docker advises against more than seven managers,
so those are findings; an odd count up to seven passes with the tolerance it buys.  (docker-bench
counts "Leader" lines, which is always one, so it can never fail.)
"""

from __future__ import annotations

from dockguard.checks.catalogue import Check, check, manual
from dockguard.engine import Context, FactsMissing
from dockguard.model import Detail, Evaluation, Outcome, Severity
from dockguard.snapshot import SwarmFacts

CIS_URL = "https://www.cisecurity.org/benchmark/docker"
_SWARM = "https://docs.docker.com/engine/swarm/"
_ADMIN = _SWARM + "admin_guide/"

DEFAULT_NODE_CERT_EXPIRY_NS = 90 * 24 * 3600 * 10**9
"""Docker's default node certificate validity (``--cert-expiry 2160h``)."""

MAX_MANAGERS = 7


def _swarm(ctx: Context) -> SwarmFacts:
    swarm = ctx.daemon.swarm
    if not swarm.active:
        raise FactsMissing("swarm mode is not active")
    return swarm


def _c_7_1(ctx: Context) -> Evaluation:
    swarm = _swarm(ctx)
    n = swarm.managers
    if n is None or (n == 0 and not swarm.control_available):
        raise FactsMissing("manager count not available (this node is not a swarm manager)")
    tolerance = (n - 1) // 2
    if n > MAX_MANAGERS:
        msg = f"{n} managers: more than the {MAX_MANAGERS} Docker recommends at most"
        return Evaluation(Outcome.WARN, (Detail("swarm", msg, Outcome.WARN, str(n)),))
    if n % 2 == 0:
        msg = f"{n} managers tolerate {tolerance} failure(s), no more than {n - 1} would; demote one"
        return Evaluation(Outcome.WARN, (Detail("swarm", msg, Outcome.WARN, str(n)),))
    msg = f"{n} manager(s), tolerating {tolerance} manager failure(s)"
    return Evaluation(Outcome.PASS, (Detail("swarm", msg, Outcome.PASS, str(n)),))


_WILDCARD_HOSTS = frozenset({"", "0.0.0.0", "::", "*"})


def listen_host(addr: str) -> str:
    """Host part of a swarm listen address (``0.0.0.0:2377``, ``[::]:2377``, ``eth0``)."""
    a = addr.strip()
    if a.startswith("["):
        return a[1:].split("]", 1)[0]
    if a.count(":") == 1:
        return a.split(":", 1)[0]
    return a


def _c_7_2(ctx: Context) -> Evaluation:
    swarm = _swarm(ctx)
    addrs = ctx.need(swarm.listen_addr, "swarm listen address", "docker")
    # The collector lists every local address listening on 2377, comma-separated.
    details = []
    for addr in (a.strip() for a in addrs.split(",") if a.strip()):
        if listen_host(addr) in _WILDCARD_HOSTS:
            details.append(Detail("swarm", f"listens on all interfaces ({addr})", Outcome.WARN, addr))
        else:
            details.append(Detail("swarm", f"listens on {addr}", Outcome.PASS, addr))
    if not details:
        raise FactsMissing("swarm listen address not collected")
    if any(d.outcome is Outcome.WARN for d in details):
        return Evaluation(Outcome.WARN, tuple(details))
    return Evaluation(Outcome.PASS, tuple(details))


def _c_7_3(ctx: Context) -> Evaluation:
    networks = ctx.need(ctx.snapshot.networks, "network list", "docker")
    overlay = sorted((n for n in networks if n.driver == "overlay"), key=lambda n: n.name)
    if not overlay:
        return Evaluation(Outcome.PASS, (), "no overlay networks")
    # The overlay driver enables encryption when the option is present, whatever its value.
    details = tuple(
        Detail(f"network:{n.name}", "encrypted", Outcome.PASS)
        if "encrypted" in n.options
        else Detail(f"network:{n.name}", f"unencrypted overlay network ({n.scope or 'swarm'})", Outcome.WARN)
        for n in overlay
    )
    if any(d.outcome is Outcome.WARN for d in details):
        ordered = tuple(d for d in details if d.outcome is Outcome.WARN) + tuple(
            d for d in details if d.outcome is not Outcome.WARN
        )
        return Evaluation(Outcome.WARN, ordered)
    return Evaluation(Outcome.PASS, details)


def _c_7_5(ctx: Context) -> Evaluation:
    swarm = _swarm(ctx)
    autolock = ctx.need(swarm.autolock, "swarm autolock setting (manager only)", "docker")
    if autolock:
        return Evaluation(Outcome.PASS, (Detail("swarm", "autolock enabled", Outcome.PASS),))
    return Evaluation(Outcome.WARN, (Detail("swarm", "autolock disabled", Outcome.WARN),))


def _days(ns: int) -> str:
    hours = ns / 3_600_000_000_000
    return f"{hours / 24:g} days" if hours >= 24 else f"{hours:g} hours"


def _c_7_7(ctx: Context) -> Evaluation:
    swarm = _swarm(ctx)
    ns = ctx.need(swarm.node_cert_expiry_ns, "node certificate expiry (manager only)", "docker")
    if ns > DEFAULT_NODE_CERT_EXPIRY_NS:
        msg = f"node certificates valid for {_days(ns)}, longer than Docker's default 90 days"
        return Evaluation(Outcome.INFO, (Detail("swarm", msg, Outcome.WARN, str(ns)),))
    msg = f"node certificates valid for {_days(ns)}"
    return Evaluation(
        Outcome.NOTE,
        (Detail("swarm", msg, Outcome.PASS, str(ns)),),
        "confirm the rotation period matches your policy",
    )


def _active_note(ctx: Context) -> Evaluation:
    _swarm(ctx)
    return Evaluation(Outcome.NOTE, reason="manual check: verify by hand")


def _c_7_9(ctx: Context) -> Evaluation:
    swarm = _swarm(ctx)
    data = (swarm.data_path_addr or "").strip()
    if data and data != swarm.node_addr:
        msg = f"data path address {data} differs from management address {swarm.node_addr}"
        return Evaluation(Outcome.INFO, (Detail("swarm", msg, Outcome.PASS),))
    msg = "management and data traffic share " + (swarm.node_addr or "the advertise address")
    return Evaluation(Outcome.NOTE, (Detail("swarm", msg, Outcome.INFO),), "verify by hand")


CHECKS: tuple[Check, ...] = (
    check(
        "7.1",
        "Ensure that the minimum number of manager nodes have been created in a swarm",
        level=1,
        severity=Severity.LOW,
        remediation="Keep an odd number of managers sized to the fault tolerance you need "
        "(at most seven); demote extra ones with `docker node demote <node>`.",
        references=(CIS_URL, _ADMIN + "#add-manager-nodes-for-fault-tolerance"),
        fn=_c_7_1,
    ),
    check(
        "7.2",
        "Ensure that swarm services are bound to a specific host interface",
        level=1,
        severity=Severity.MEDIUM,
        remediation="Initialise the swarm with --listen-addr <specific interface or IP>:2377 "
        "(this needs re-initialising the swarm).",
        impact="Re-initialising the swarm recreates its services.",
        references=(CIS_URL, "https://docs.docker.com/engine/reference/commandline/swarm_init/"),
        fn=_c_7_2,
    ),
    check(
        "7.3",
        "Ensure that all Docker swarm overlay networks are encrypted",
        level=1,
        severity=Severity.MEDIUM,
        remediation="Create overlay networks with `--opt encrypted` and move services onto them.",
        impact="IPsec encryption costs some throughput.",
        references=(
            CIS_URL,
            "https://docs.docker.com/network/overlay/#encrypt-traffic-on-an-overlay-network",
        ),
        fn=_c_7_3,
    ),
    manual(
        "7.4",
        "Ensure that Docker's secret management commands are used for managing secrets in a swarm cluster",
        level=1,
        severity=Severity.MEDIUM,
        remediation="Store service credentials with `docker secret` rather than environment variables or images.",
        references=(CIS_URL, _SWARM + "secrets/"),
        fn=_active_note,
    ),
    check(
        "7.5",
        "Ensure that swarm manager is run in auto-lock mode",
        level=1,
        severity=Severity.MEDIUM,
        remediation="Enable autolock with `docker swarm update --autolock=true` (or "
        "`docker swarm init --autolock`) and keep the unlock key safe.",
        impact="A restarted manager stays locked until an operator enters the unlock key.",
        references=(CIS_URL, _SWARM + "swarm_manager_locking/"),
        fn=_c_7_5,
    ),
    manual(
        "7.6",
        "Ensure that the swarm manager auto-lock key is rotated periodically",
        level=1,
        remediation="Rotate the unlock key with `docker swarm unlock-key --rotate` on a fixed "
        "schedule and record each rotation.",
        references=(CIS_URL, _SWARM + "swarm_manager_locking/"),
        fn=_active_note,
    ),
    manual(
        "7.7",
        "Ensure that node certificates are rotated as appropriate",
        level=1,
        remediation="Set the node certificate lifetime to your policy with "
        "`docker swarm update --cert-expiry <duration>`.",
        references=(CIS_URL, "https://docs.docker.com/engine/reference/commandline/swarm_update/"),
        fn=_c_7_7,
    ),
    manual(
        "7.8",
        "Ensure that CA certificates are rotated as appropriate",
        level=1,
        remediation="Rotate the swarm root CA with `docker swarm ca --rotate` on a schedule.",
        references=(CIS_URL, "https://docs.docker.com/engine/reference/commandline/swarm_ca/"),
        fn=_active_note,
    ),
    manual(
        "7.9",
        "Ensure that management plane traffic is separated from data plane traffic",
        level=1,
        remediation="Initialise the swarm with separate interfaces for management and data "
        "traffic: --advertise-addr <mgmt-ip> --data-path-addr <data-ip>.",
        impact="Each node needs two network interfaces.",
        references=(CIS_URL, "https://docs.docker.com/engine/reference/commandline/swarm_init/"),
        fn=_c_7_9,
    ),
)
