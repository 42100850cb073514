"""Unit tests for CIS sections 6 (security operations) and 7 (swarm configuration)."""

from __future__ import annotations

from typing import Any

import pytest

from dockguard.checks import security_operations, swarm_configuration
from dockguard.checks.swarm_configuration import listen_host
from dockguard.model import Outcome
from dockguard.snapshot import NetworkFacts, Snapshot

from .factories_4567 import CHECKS, active_swarm, container, daemon, image, objs, run, snapshot

DAY_NS = 24 * 3600 * 10**9


def test_sections_6_and_7_metadata() -> None:
    assert [c.meta.id for c in security_operations.CHECKS] == ["6.1", "6.2"]
    assert all(c.meta.manual for c in security_operations.CHECKS)
    assert [c.meta.id for c in swarm_configuration.CHECKS] == [f"7.{i}" for i in range(1, 10)]
    assert {c.meta.id for c in swarm_configuration.CHECKS if c.meta.automated} == {"7.1", "7.2", "7.3", "7.5"}
    for c in (*security_operations.CHECKS, *swarm_configuration.CHECKS):
        assert c.meta.level == 1 and c.meta.remediation and c.meta.references


def test_all_55_checks_of_sections_4_to_7() -> None:
    assert len(CHECKS) == 55


# ---------------------------------------------------------------- 6.1 / 6.2


def test_6_1_image_sprawl() -> None:
    a, b, c = image("a:1"), image("b:1"), image("c:1")
    containers = (
        container("x", image_id=a.id),
        container("y", image_id=a.id, running=False),
        container("z", image_id=b.id),
    )
    res = run("6.1", snapshot(imgs=(a, b, c), containers=containers))
    assert res.outcome is Outcome.INFO
    assert res.details[0].message == "3 images, 2 in use by containers"
    assert objs(res)[1:] == ["image:c:1"]
    assert run("6.1", snapshot(imgs=None)).outcome is Outcome.NA
    assert run("6.1", snapshot(containers=None, imgs=(a,))).outcome is Outcome.NA


def test_6_2_container_sprawl() -> None:
    containers = (container("a"), container("b", running=False, status="exited"))
    res = run("6.2", snapshot(containers=containers))
    assert res.outcome is Outcome.INFO
    assert res.details[0].message == "2 containers, 1 running"
    assert res.details[1].obj == "container:b" and "exited" in res.details[1].message
    empty = run("6.2", snapshot(containers=()))
    assert empty.outcome is Outcome.INFO and empty.details[0].value == "0/0"
    assert run("6.2", snapshot(containers=None)).outcome is Outcome.NA


# ---------------------------------------------------------------- swarm inactive


@pytest.mark.parametrize("cid", ["7.1", "7.2", "7.4", "7.5", "7.6", "7.7", "7.8", "7.9"])
def test_swarm_checks_na_when_inactive(cid: str) -> None:
    res = run(cid, snapshot())
    assert res.outcome is Outcome.NA and res.reason == "swarm mode is not active"


def _swarm_snap(**kw: Any) -> Snapshot:
    return snapshot(dmn=daemon(swarm_facts=active_swarm(**kw)))


# ---------------------------------------------------------------- 7.1


@pytest.mark.parametrize(
    ("managers", "outcome"),
    [(1, "PASS"), (3, "PASS"), (7, "PASS"), (2, "WARN"), (4, "WARN"), (9, "WARN")],
)
def test_7_1_manager_count(managers: int, outcome: str) -> None:
    res = run("7.1", _swarm_snap(managers=managers))
    assert res.outcome is Outcome(outcome)


def test_7_1_worker_node_na() -> None:
    res = run("7.1", _swarm_snap(managers=None, control_available=False))
    assert res.outcome is Outcome.NA and "manager" in res.reason


# ---------------------------------------------------------------- 7.2


@pytest.mark.parametrize(
    ("addr", "host"),
    [
        ("0.0.0.0:2377", "0.0.0.0"),
        ("[::]:2377", "::"),
        ("10.0.0.1:2377", "10.0.0.1"),
        ("eth0:2377", "eth0"),
        ("::", "::"),
        ("10.0.0.1", "10.0.0.1"),
    ],
)
def test_listen_host(addr: str, host: str) -> None:
    assert listen_host(addr) == host


def test_7_2_listen_address() -> None:
    assert run("7.2", _swarm_snap()).outcome is Outcome.PASS
    assert run("7.2", _swarm_snap(listen_addr="10.0.0.1,fd00::1")).outcome is Outcome.PASS
    for addr in ("0.0.0.0:2377", "[::]:2377", "10.0.0.1,::", "0.0.0.0"):
        res = run("7.2", _swarm_snap(listen_addr=addr))
        assert res.outcome is Outcome.WARN, addr
    assert run("7.2", _swarm_snap(listen_addr=None)).outcome is Outcome.NA


# ---------------------------------------------------------------- 7.3 (also without swarm)


def test_7_3_overlay_encryption() -> None:
    enc = NetworkFacts("1", "secure", driver="overlay", scope="swarm", options={"encrypted": ""})
    plain = NetworkFacts("2", "ingress", driver="overlay", scope="swarm")
    bridge = NetworkFacts("3", "bridge", driver="bridge")
    ok = run("7.3", snapshot(networks=(enc, bridge)))
    assert ok.outcome is Outcome.PASS and objs(ok) == ["network:secure"]
    bad = run("7.3", snapshot(networks=(enc, plain, bridge)))
    assert bad.outcome is Outcome.WARN and objs(bad, Outcome.WARN) == ["network:ingress"]
    none = run("7.3", snapshot(networks=(bridge,)))
    assert none.outcome is Outcome.PASS and none.reason == "no overlay networks"
    assert run("7.3", snapshot(networks=None)).outcome is Outcome.NA


# ---------------------------------------------------------------- 7.5


def test_7_5_autolock() -> None:
    assert run("7.5", _swarm_snap()).outcome is Outcome.PASS
    assert run("7.5", _swarm_snap(autolock=False)).outcome is Outcome.WARN
    assert run("7.5", _swarm_snap(autolock=None)).outcome is Outcome.NA


# ---------------------------------------------------------------- 7.7 / manual ones


def test_7_7_node_cert_expiry() -> None:
    long = run("7.7", _swarm_snap(node_cert_expiry_ns=365 * DAY_NS))
    assert long.outcome is Outcome.INFO and "365 days" in long.details[0].message
    short = run("7.7", _swarm_snap(node_cert_expiry_ns=2 * DAY_NS))
    assert short.outcome is Outcome.NOTE and "2 days" in short.details[0].message
    na = run("7.7", _swarm_snap(node_cert_expiry_ns=None))
    assert na.outcome is Outcome.NA


def test_manual_swarm_checks_note_when_active() -> None:
    snap = _swarm_snap()
    for cid in ("7.4", "7.6", "7.8"):
        assert run(cid, snap).outcome is Outcome.NOTE, cid


def test_7_9_plane_separation() -> None:
    sep = run("7.9", _swarm_snap(data_path_addr="192.168.9.1"))
    assert sep.outcome is Outcome.INFO and "differs" in sep.details[0].message
    shared = run("7.9", _swarm_snap(data_path_addr=None))
    assert shared.outcome is Outcome.NOTE and "share 10.0.0.1" in shared.details[0].message
