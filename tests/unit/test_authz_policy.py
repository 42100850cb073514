"""The authz policy: default text, validation, exceptions."""

from __future__ import annotations

import pytest

from dockguard.authz.policy import (
    DEFAULT_RULES,
    RULES,
    Policy,
    PolicyException,
    PolicyRule,
    default_policy_text,
    image_names,
    load_policy,
    parse_policy,
)
from dockguard.inputs import InputError


def test_the_printed_default_is_the_default() -> None:
    p = parse_policy(default_policy_text(), "default")
    assert p.rules == DEFAULT_RULES == Policy().rules
    assert p.default_allow is False and p.exceptions == () and p.plugin_name == "dockguard"
    for info in RULES:
        assert f"  {info.rule.value}: {'on' if info.default_on else 'off'}" in default_policy_text()
    assert {r.rule for r in RULES} == set(PolicyRule)


def test_rules_on_off_and_default() -> None:
    p = parse_policy("default: allow\nrules:\n  privileged: off\n  host-network: on\n", "p.yaml")
    assert p.default_allow
    assert not p.on(PolicyRule.PRIVILEGED) and p.on(PolicyRule.HOST_NETWORK) and p.on(PolicyRule.CAPABILITIES)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("rulez: {}\n", "p.yaml: $.rulez: unknown key"),
        ("rules:\n  privilegd: off\n", "unknown rule 'privilegd'"),
        ("rules:\n  privileged: maybe\n", "$.rules.privileged: expected on or off"),
        ("default: no\n", "$.default: expected allow or deny"),
        ("version: 2\n", "policy version 2 is not supported"),
        ("docker_sockets: [relative.sock]\n", "$.docker_sockets[0]: expected an absolute path"),
        ("exceptions:\n  - rules: [privileged]\n", "would apply to everyone"),
        ("exceptions:\n  - users: [a]\n", "$.exceptions[0].rules: an exception names the rules"),
        ("exceptions:\n  - users: [a]\n    rules: [privileged]\n    labels: {tier: 1}\n", "quote them"),
        ("exceptions:\n  - users: a\n    rules: [privileged]\n", "expected a list of strings"),
        ("a: &x 1\nb: *x\n", "aliases are not accepted"),
        ("- 1\n", "a policy is a mapping"),
    ],
)
def test_invalid_policies_name_the_problem(text: str, message: str) -> None:
    with pytest.raises(InputError) as exc:
        parse_policy(text, "p.yaml")
    assert message in str(exc.value)


def test_policy_file_size_cap(tmp_path) -> None:  # type: ignore[no-untyped-def]
    big = tmp_path / "big.yaml"
    with open(big, "wb") as f:
        f.truncate(5 * 1024 * 1024)
    with pytest.raises(InputError, match="larger than"):
        load_policy(str(big))


def test_exception_matching() -> None:
    e = PolicyException(frozenset({PolicyRule.HOST_PID}), users=("ops",), images=("registry.example/mon/*",),
                        labels=(("role", "mon*"),))
    assert e.matches(PolicyRule.HOST_PID, "ops", "registry.example/mon/node:1", {"role": "monitoring"})
    assert not e.matches(PolicyRule.PRIVILEGED, "ops", "registry.example/mon/node:1", {"role": "monitoring"})
    assert not e.matches(PolicyRule.HOST_PID, "", "registry.example/mon/node:1", {"role": "monitoring"})
    assert not e.matches(PolicyRule.HOST_PID, "ops", "registry.example/app:1", {"role": "monitoring"})
    assert not e.matches(PolicyRule.HOST_PID, "ops", "registry.example/mon/node:1", {"role": "web"})
    assert not e.matches(PolicyRule.HOST_PID, "ops", None, None)


def test_all_rules_and_image_names() -> None:
    p = parse_policy("exceptions:\n  - users: [root-ci]\n    rules: [all]\n", "p")
    assert p.exceptions[0].rules == frozenset(PolicyRule)
    assert image_names("busybox") == ("busybox", "docker.io/library/busybox:latest")
    assert image_names("me/app:2") == ("me/app:2", "docker.io/me/app:2")
    assert image_names("localhost:5000/app") == ("localhost:5000/app", "localhost:5000/app:latest")
    assert image_names("quay.io/x/y@sha256:ab") == ("quay.io/x/y@sha256:ab",)


def test_docs_describe_every_rule() -> None:
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "docs" / "authz.md").read_text()
    for info in RULES:
        row = f"| `{info.rule.value}` | {'on' if info.default_on else 'off'} | {info.cis or '–'} |"
        assert row in text, row
