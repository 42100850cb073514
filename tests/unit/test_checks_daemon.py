"""CIS section 2: Docker daemon configuration (effective config + Engine API facts)."""

from __future__ import annotations

from typing import Any

import pytest

from dockguard.checks import daemon_configuration as daemon_checks
from dockguard.engine import Context
from dockguard.model import Finding, FindingKind, Outcome, ProbeStep, Severity, StepStatus
from dockguard.snapshot import (
    DaemonConfig,
    DaemonFacts,
    EndpointProbeFacts,
    HostFacts,
    IndexConfig,
    ProcessFact,
    SwarmFacts,
)
from tests.unit.factories_123 import config, ctx, daemon, run, snap


def _cfg_ctx(values: dict[str, Any] | None = None, *, source: str = "file", **dkw: Any) -> Context:
    return ctx(snap(host=HostFacts(), daemon=daemon(config(values, source=source), **dkw)))


def _no_config() -> Context:
    """Daemon reachable but its effective configuration could not be read."""
    d = DaemonFacts(server_version="20.10.24", config=None)
    return ctx(snap(host=HostFacts(), daemon=d))


NO_DAEMON = ctx(snap(host=HostFacts()))

# Simple config-driven checks: id -> (passing config, failing config, text in failing detail)
SIMPLE: dict[str, tuple[dict[str, Any], dict[str, Any], str]] = {
    "2.2": ({"icc": False}, {}, "icc not set (Docker default: true)"),
    "2.3": ({}, {"log-level": "debug"}, "log-level=debug (daemon.json)"),
    "2.4": ({"iptables": True}, {"iptables": False}, "iptables=false (daemon.json)"),
    "2.10": ({}, {"cgroup-parent": "/foo"}, "cgroup-parent=/foo (daemon.json)"),
    "2.11": (
        {"storage-opts": ["overlay2.size=10G"]},
        {"storage-opts": ["dm.basesize=20G"]},
        "dm.basesize=20G",
    ),
    "2.12": ({"authorization-plugins": ["authz-broker"]}, {}, "no authorization plugin"),
    "2.14": ({"no-new-privileges": True}, {"no-new-privileges": False}, "no-new-privileges=false"),
    "2.16": ({"userland-proxy": False}, {}, "userland-proxy not set (Docker default: true)"),
}


@pytest.mark.parametrize("cid", sorted(SIMPLE))
def test_config_check_pass(cid: str) -> None:
    good, _, _ = SIMPLE[cid]
    r = run(cid, _cfg_ctx(good))
    assert r.outcome is Outcome.PASS, r
    assert r.details[0].obj == "daemon"


@pytest.mark.parametrize("cid", sorted(SIMPLE))
def test_config_check_warn(cid: str) -> None:
    _, bad, text = SIMPLE[cid]
    r = run(cid, _cfg_ctx(bad))
    assert r.outcome is Outcome.WARN, r
    assert text in r.details[0].message


@pytest.mark.parametrize("cid", sorted(SIMPLE))
def test_config_check_na_without_config(cid: str) -> None:
    assert run(cid, _no_config()).outcome is Outcome.NA
    r = run(cid, NO_DAEMON)
    assert r.outcome is Outcome.NA
    assert "not collected" in r.reason


def test_provenance_in_detail() -> None:
    assert run("2.2", _cfg_ctx({"icc": False})).details[0].message == "icc=false (daemon.json)"
    r = run("2.2", _cfg_ctx({"icc": False}, source="flag"))
    assert r.details[0].message == "icc=false (dockerd flag)"
    r = run("2.3", _cfg_ctx({"log-level": "INFO"}, source="flag+file"))
    assert r.outcome is Outcome.PASS
    assert "dockerd flag and daemon.json" in r.details[0].message


# -- 2.1 ---------------------------------------------------------------------------------------


def test_2_1_rootless_is_pass_like_note() -> None:
    c = _cfg_ctx(security_options=("name=seccomp,profile=default", "name=rootless"))
    r = run("2.1", c)
    assert r.outcome is Outcome.NOTE  # manual: the engine never scores it
    assert "rootless" in r.details[0].message
    raw = daemon_checks.CHECKS[0].fn
    assert raw is not None and raw(c).outcome is Outcome.PASS


def test_2_1_root_daemon_details() -> None:
    h = HostFacts(dockerd=ProcessFact(1234, "/usr/sbin/dockerd", user="root"))
    c = ctx(snap(host=h, daemon=daemon()))
    raw = daemon_checks.CHECKS[0].fn
    assert raw is not None
    ev = raw(c)
    assert ev.outcome is Outcome.WARN
    assert "as root" in ev.details[0].message
    assert run("2.1", NO_DAEMON).outcome is Outcome.NA


# -- 2.5 ---------------------------------------------------------------------------------------


def test_2_5_loopback_default_is_not_a_finding() -> None:
    c = _cfg_ctx({}, insecure_registry_cidrs=("127.0.0.0/8", "::1/128"))
    assert run("2.5", c).outcome is Outcome.PASS


def test_2_5_config_and_api_are_both_evaluated() -> None:
    c = _cfg_ctx(
        {"insecure-registries": ["10.0.0.0/8", "reg.local:5000"]},
        insecure_registry_cidrs=("127.0.0.0/8", "10.0.0.0/8"),
        index_configs=(
            IndexConfig("docker.io", True, True),
            IndexConfig("reg.local:5000", False),
        ),
    )
    r = run("2.5", c)
    assert r.outcome is Outcome.WARN
    by_value = {d.value: d.message for d in r.details}
    assert set(by_value) == {"10.0.0.0/8", "reg.local:5000"}
    assert "daemon.json; reported by the daemon" in by_value["10.0.0.0/8"]


def test_2_5_api_only_when_config_missing() -> None:
    d = DaemonFacts(insecure_registry_cidrs=("127.0.0.0/8", "192.168.0.0/16"), config=None)
    r = run("2.5", ctx(snap(daemon=d)))
    assert r.outcome is Outcome.WARN
    assert r.details[0].value == "192.168.0.0/16"
    clean = DaemonFacts(insecure_registry_cidrs=("127.0.0.0/8",), config=None)
    r = run("2.5", ctx(snap(daemon=clean)))
    assert r.outcome is Outcome.PASS
    assert "configuration not collected" in r.reason


def test_2_5_na_without_daemon() -> None:
    assert run("2.5", NO_DAEMON).outcome is Outcome.NA


# -- 2.6, 2.13, 2.15, 2.17, 2.18: API facts ----------------------------------------------------


def test_2_6_storage_driver() -> None:
    assert run("2.6", _cfg_ctx(driver="overlay2")).outcome is Outcome.PASS
    assert run("2.6", _cfg_ctx(driver="aufs")).outcome is Outcome.WARN
    assert run("2.6", _cfg_ctx(driver="")).outcome is Outcome.NA
    assert run("2.6", NO_DAEMON).outcome is Outcome.NA


@pytest.mark.parametrize(
    ("driver", "outcome"),
    [
        ("json-file", Outcome.WARN),
        ("local", Outcome.WARN),
        ("none", Outcome.WARN),
        ("syslog", Outcome.PASS),
        ("journald", Outcome.PASS),
        ("fluentd", Outcome.PASS),
    ],
)
def test_2_13_logging_driver(driver: str, outcome: Outcome) -> None:
    assert run("2.13", _cfg_ctx(logging_driver=driver)).outcome is outcome


def test_2_13_na() -> None:
    assert run("2.13", _cfg_ctx(logging_driver="")).outcome is Outcome.NA
    assert run("2.13", NO_DAEMON).outcome is Outcome.NA


def test_2_15_live_restore() -> None:
    assert run("2.15", _cfg_ctx(live_restore=True)).outcome is Outcome.PASS
    assert run("2.15", _cfg_ctx(live_restore=False)).outcome is Outcome.WARN
    swarm = SwarmFacts(local_node_state="active", node_id="n1")
    r = run("2.15", _cfg_ctx(live_restore=False, swarm=swarm))
    assert r.outcome is Outcome.NA
    assert "swarm" in r.reason
    assert run("2.15", NO_DAEMON).outcome is Outcome.NA


@pytest.mark.parametrize(
    ("options", "outcome"),
    [
        (("name=seccomp,profile=default",), Outcome.INFO),
        (("name=seccomp,profile=builtin",), Outcome.INFO),
        (("name=seccomp,profile=/etc/docker/seccomp-strict.json",), Outcome.PASS),
        (("name=seccomp,profile=unconfined",), Outcome.WARN),
        (("name=apparmor", "name=cgroupns"), Outcome.WARN),
    ],
)
def test_2_17_seccomp(options: tuple[str, ...], outcome: Outcome) -> None:
    assert run("2.17", _cfg_ctx(security_options=options)).outcome is outcome


def test_2_17_names_config_provenance_and_na() -> None:
    c = _cfg_ctx(
        {"seccomp-profile": "/etc/docker/strict.json"},
        security_options=("name=seccomp,profile=/etc/docker/strict.json",),
    )
    r = run("2.17", c)
    assert "seccomp-profile=/etc/docker/strict.json (daemon.json)" in r.details[0].message
    assert run("2.17", NO_DAEMON).outcome is Outcome.NA


def test_2_18_experimental() -> None:
    assert run("2.18", _cfg_ctx(experimental=False)).outcome is Outcome.PASS
    assert run("2.18", _cfg_ctx(experimental=True)).outcome is Outcome.WARN
    assert run("2.18", NO_DAEMON).outcome is Outcome.NA


# -- 2.8, 2.9, 2.12 ----------------------------------------------------------------------------


def test_2_8_default_ulimits() -> None:
    limits = {"nofile": {"Name": "nofile", "Soft": 1024, "Hard": 2048}}
    r = run("2.8", _cfg_ctx({"default-ulimits": limits}))
    assert r.outcome is Outcome.PASS
    assert r.details[0].message == "default-ulimits=nofile=1024:2048 (daemon.json)"
    assert run("2.8", _cfg_ctx({})).outcome is Outcome.INFO
    assert run("2.8", _no_config()).outcome is Outcome.NA


def test_2_9_user_namespaces() -> None:
    assert run("2.9", _cfg_ctx({"userns-remap": "default"})).outcome is Outcome.PASS
    api_only = _cfg_ctx({}, security_options=("name=userns",))
    assert run("2.9", api_only).outcome is Outcome.PASS
    assert run("2.9", _cfg_ctx({})).outcome is Outcome.WARN
    assert run("2.9", _no_config()).outcome is Outcome.NA


def test_2_12_plugins_reported_by_api() -> None:
    c = _cfg_ctx({}, authorization_plugins=("opa-docker-authz",))
    assert run("2.12", c).outcome is Outcome.PASS


# -- 2.7 TLS -----------------------------------------------------------------------------------


def _tls_ctx(
    values: dict[str, Any], listen: tuple[str, ...] = (), host: bool = True,
    endpoint_probes: tuple[EndpointProbeFacts, ...] | None = None,
) -> Context:
    h = HostFacts(docker_socket_listen=listen) if host else None
    return ctx(snap(host=h, daemon=daemon(config(values)), endpoint_probes=endpoint_probes))


def test_2_7_no_tcp_listener_passes_with_reason() -> None:
    r = run("2.7", _tls_ctx({"hosts": ["unix:///var/run/docker.sock"]}))
    assert r.outcome is Outcome.PASS
    assert r.reason == "daemon does not listen on TCP"
    assert run("2.7", _tls_ctx({})).outcome is Outcome.PASS


def test_2_7_tlsverify_passes() -> None:
    values = {
        "hosts": ["tcp://0.0.0.0:2376", "unix:///var/run/docker.sock"],
        "tlsverify": True,
        "tlscacert": "/etc/docker/ca.pem",
    }
    r = run("2.7", _tls_ctx(values))
    assert r.outcome is Outcome.PASS
    assert r.details[0].obj == "endpoint:tcp://0.0.0.0:2376"
    assert "tlscacert=/etc/docker/ca.pem (daemon.json)" in [d.message for d in r.details]


def test_2_7_tls_without_verify_warns_clients_not_authenticated() -> None:
    r = run("2.7", _tls_ctx({"hosts": ["tcp://0.0.0.0:2376"], "tls": True}))
    assert r.outcome is Outcome.WARN
    assert "clients are not authenticated" in r.details[0].message


def test_2_7_tlsverify_false_still_warns() -> None:
    r = run("2.7", _tls_ctx({"hosts": ["tcp://0.0.0.0:2376"], "tlsverify": False}))
    assert r.outcome is Outcome.WARN
    assert "tlsverify=false (daemon.json)" in r.details[0].message
    assert "clients are not authenticated" in r.details[0].message


def test_2_7_plain_tcp_and_scheme_less_host() -> None:
    r = run("2.7", _tls_ctx({"hosts": ["127.0.0.1:2375"]}))
    assert r.outcome is Outcome.WARN
    assert "no TLS" in r.details[0].message


def test_2_7_socket_activation_tcp_listen_stream() -> None:
    r = run("2.7", _tls_ctx({"hosts": ["fd://"]}, listen=("/run/docker.sock", "0.0.0.0:2375")))
    assert r.outcome is Outcome.WARN
    assert r.details[0].obj == "endpoint:tcp://0.0.0.0:2375"
    assert "docker.socket ListenStream" in r.details[0].message
    unix_only = _tls_ctx({"hosts": ["fd://"]}, listen=("/run/docker.sock",))
    assert run("2.7", unix_only).outcome is Outcome.PASS


def test_2_7_na_when_activation_unknown_or_config_missing() -> None:
    r = run("2.7", _tls_ctx({"hosts": ["fd://"]}, host=False))
    assert r.outcome is Outcome.NA
    assert "host facts not collected" in r.reason
    assert run("2.7", _no_config()).outcome is Outcome.NA


def _probe(address: str, **facts: object) -> EndpointProbeFacts:
    return EndpointProbeFacts(address, **facts)  # type: ignore[arg-type]


def test_2_7_decides_from_the_probe_facts() -> None:
    values = {"hosts": ["tcp://0.0.0.0:2376"], "tlsverify": True}
    plain = Finding("endpoint.plain-http", FindingKind.ENDPOINT, Severity.CRITICAL, "answers plain HTTP",
                    "tcp://10.0.0.5:2376")
    answered = _probe("tcp://10.0.0.5:2376", plain_http=True, findings=(plain,),
                      steps=(ProbeStep("plain-http", StepStatus.COMPLETED),))
    r = run("2.7", _tls_ctx(values, endpoint_probes=(answered,)))
    assert r.outcome is Outcome.WARN
    assert r.details[-1].obj == "endpoint:tcp://10.0.0.5:2376"
    assert r.details[-1].message == "probe: answers plain HTTP"
    # TLS answered a client without a certificate, with no finding title: the verdict's own words.
    no_verify = _probe("tcp://10.0.0.5:2376", plain_http=False, client_verification=False)
    r = run("2.7", _tls_ctx(values, endpoint_probes=(no_verify,)))
    assert r.outcome is Outcome.WARN and "without authentication" in r.details[-1].message
    foreign = _probe("tcp://10.0.0.5:2376", plain_http=False, client_verification=True,
                     foreign_client_cert_accepted=True)
    assert run("2.7", _tls_ctx(values, endpoint_probes=(foreign,))).outcome is Outcome.WARN
    mutual = _probe("tcp://10.0.0.5:2376", plain_http=False, client_verification=True,
                    foreign_client_cert_accepted=False)
    r = run("2.7", _tls_ctx(values, endpoint_probes=(mutual,)))
    assert r.outcome is Outcome.PASS
    assert r.details[-1].outcome is Outcome.PASS and "certificate from its CA" in r.details[-1].message
    # A probe that could not tell is never read as a pass.
    failed = _probe("tcp://10.0.0.5:2376", steps=(ProbeStep("plain-http", StepStatus.FAILED, "refused"),))
    r = run("2.7", _tls_ctx(values, endpoint_probes=(failed,)))
    assert r.outcome is Outcome.PASS  # the configuration says tlsverify; the probe adds no evidence
    assert r.details[-1].outcome is Outcome.INFO and "could not tell (plain-http)" in r.details[-1].message


# -- metadata ----------------------------------------------------------------------------------


def test_section2_metadata() -> None:
    metas = [c.meta for c in daemon_checks.CHECKS]
    assert [m.id for m in metas] == [f"2.{i}" for i in range(1, 19)]
    assert [m.id for m in metas if m.manual] == ["2.1"]
    assert {m.id for m in metas if not m.scored} == {"2.1", "2.8", "2.17"}
    assert {m.id for m in metas if m.level == 2} == {"2.9", "2.10", "2.11", "2.12", "2.13", "2.17"}
    for m in metas:
        assert m.remediation and m.references and m.remediation_impact


def test_unset_config_uses_empty_dict() -> None:
    # A collected but empty configuration means "all Docker defaults", not "unknown".
    c = ctx(snap(daemon=daemon(DaemonConfig())))
    assert run("2.2", c).outcome is Outcome.WARN
    assert run("2.16", c).outcome is Outcome.WARN
    assert run("2.14", c).outcome is Outcome.WARN
    assert run("2.3", c).outcome is Outcome.PASS
