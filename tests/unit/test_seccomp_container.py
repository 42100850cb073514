"""Classifying a container's seccomp setting: the one classifier, from HostConfig values
(collector, snapshot migration, CIS 5.22) or from inspect and /info documents (seccomp lint)."""

from __future__ import annotations

import pytest

from dockguard.collect.docker_api import container_facts
from dockguard.seccomp.container import classify, classify_setting
from dockguard.snapshot import SeccompKind, SeccompSetting

INFO = {"SecurityOptions": ["name=apparmor", "name=seccomp,profile=builtin", "name=cgroupns"]}


def test_inline_unconfined_privileged_and_default() -> None:
    inline = classify("a", {"HostConfig": {"SecurityOpt": ['seccomp={"defaultAction": "X"}']}}, INFO)
    assert inline.kind is SeccompKind.INLINE and inline.text == '{"defaultAction": "X"}'
    assert classify("b", {"HostConfig": {"SecurityOpt": ["seccomp:unconfined"]}}, INFO).kind is SeccompKind.UNCONFINED
    privileged = {"HostConfig": {"Privileged": True, "SecurityOpt": ['seccomp={"a": 1}']}}
    assert classify("c", privileged, INFO).kind is SeccompKind.PRIVILEGED
    default = classify("d", {"HostConfig": {"SecurityOpt": ["label=disable"]}}, INFO)
    assert (default.kind, default.daemon_profile) == (SeccompKind.DEFAULT, "builtin")


def test_daemon_custom_default_and_odd_values() -> None:
    info = {"SecurityOptions": ["name=seccomp,profile=/etc/docker/seccomp.json"]}
    default = classify("e", {"HostConfig": {}}, info)
    assert default.daemon_profile == "/etc/docker/seccomp.json"
    odd = classify("f", {"HostConfig": {"SecurityOpt": ["seccomp=/tmp/p.json"]}}, None)
    assert (odd.kind, odd.text) == (SeccompKind.OTHER, "/tmp/p.json")
    node = classify("g", {"HostConfig": {"SecurityOpt": ["seccomp=localhost/p.json"]}}, None)
    assert (node.kind, node.text) == (SeccompKind.LOCALHOST, "localhost/p.json")


@pytest.mark.parametrize(
    ("privileged", "options", "kind"),
    [
        (False, (), SeccompKind.DEFAULT),
        (False, ("seccomp=builtin",), SeccompKind.DEFAULT),
        (False, ("seccomp=unconfined", "seccomp=builtin"), SeccompKind.DEFAULT),  # the last one wins
        (False, ("seccomp=builtin", "seccomp=Unconfined"), SeccompKind.UNCONFINED),
        (True, ("seccomp=builtin",), SeccompKind.PRIVILEGED),
        (False, ("no-new-privileges", 'seccomp={"defaultAction": "SCMP_ACT_ERRNO"}'), SeccompKind.INLINE),
    ],
)
def test_classify_setting(privileged: bool, options: tuple[str, ...], kind: SeccompKind) -> None:
    assert classify_setting(privileged, options).kind is kind


def test_hostile_inspect_documents_count_as_absent() -> None:
    assert classify("x", {"HostConfig": {"SecurityOpt": "seccomp=unconfined"}}, None).kind is SeccompKind.DEFAULT
    assert classify("x", {"HostConfig": [1]}, {"SecurityOptions": 5}).kind is SeccompKind.DEFAULT
    assert classify("x", {"HostConfig": {"SecurityOpt": [5, "seccomp=unconfined"]}}, None).kind is (
        SeccompKind.UNCONFINED)


def test_the_collector_fills_the_setting_with_the_same_classifier() -> None:
    inspect = {"Id": "x", "Name": "/web", "State": {"Running": True},
               "HostConfig": {"SecurityOpt": ["seccomp=unconfined"], "Privileged": False}}
    facts = container_facts(inspect, ("name=seccomp,profile=builtin",))
    assert facts.seccomp == SeccompSetting(SeccompKind.UNCONFINED, daemon_profile="builtin")
    assert facts.seccomp == classify_setting(False, facts.security_opt, ("name=seccomp,profile=builtin",))


def test_lint_of_a_node_file_profile_says_it_was_not_read(monkeypatch: pytest.MonkeyPatch) -> None:
    from dockguard.pipeline import seccomp_lint
    from dockguard.seccomp import container as seccomp_container
    from dockguard.snapshot import SeccompKind, SeccompSetting

    setting = SeccompSetting(kind=SeccompKind.LOCALHOST, profile="localhost/profiles/web.json")
    monkeypatch.setattr(seccomp_container, "container_seccomp",
                        lambda name, docker_host=None: seccomp_container.ContainerSeccomp(name, setting))
    report = seccomp_lint.lint_report([], ["web"], arch="x86_64")
    (finding,) = report.findings
    assert finding.id == "seccomp.not-readable" and finding.obj == "container:web"
    assert "not linted" in finding.title + finding.description
    assert "daemon's default profile" not in " ".join(p.summary for p in report.source.profiles)
