"""Classifying a container's seccomp setting from inspect and /info documents."""

from __future__ import annotations

from dockguard.seccomp.container import classify

INFO = {"SecurityOptions": ["name=apparmor", "name=seccomp,profile=builtin", "name=cgroupns"]}


def test_inline_unconfined_privileged_and_default() -> None:
    inline = classify("a", {"HostConfig": {"SecurityOpt": ['seccomp={"defaultAction": "X"}']}}, INFO)
    assert inline.kind == "inline" and inline.text == '{"defaultAction": "X"}'
    assert classify("b", {"HostConfig": {"SecurityOpt": ["seccomp:unconfined"]}}, INFO).kind == ("unconfined")
    privileged = {"HostConfig": {"Privileged": True, "SecurityOpt": ['seccomp={"a": 1}']}}
    assert classify("c", privileged, INFO).kind == "privileged"
    default = classify("d", {"HostConfig": {"SecurityOpt": ["label=disable"]}}, INFO)
    assert (default.kind, default.daemon_profile) == ("default", "builtin")


def test_daemon_custom_default_and_odd_values() -> None:
    info = {"SecurityOptions": ["name=seccomp,profile=/etc/docker/seccomp.json"]}
    default = classify("e", {"HostConfig": {}}, info)
    assert default.daemon_profile == "/etc/docker/seccomp.json"
    odd = classify("f", {"HostConfig": {"SecurityOpt": ["seccomp=/tmp/p.json"]}}, None)
    assert (odd.kind, odd.text) == ("other", "/tmp/p.json")
