"""Pure parts of the network hardening: the challenge parser, realm checks, the deadline
watchdog (on a local socket pair), the deadline setting, config.json decoding and the escaping
of probe output."""

from __future__ import annotations

import json
import socket
import threading
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dockguard.channel import bounded_http
from dockguard.channel.bounded_http import Deadline, DeadlineExceeded, deadline_seconds, shown
from dockguard.channel.registry_api import (
    MAX_CHALLENGE,
    ChallengeError,
    check_realm,
    credentials_from_config,
    parse_challenge,
)
from dockguard.errors import OperationalError, UsageError
from dockguard.inputs import InputError
from dockguard.model import Finding, FindingKind, ProbeStep, Report, ReportSource, Severity, StepStatus, Surface
from dockguard.report.formats import render


def test_parse_challenge_quoting_and_forms() -> None:
    assert parse_challenge('Bearer realm="https://a/t?x=1,2",service=reg,scope="a \\"b\\""') == (
        "bearer", {"realm": "https://a/t?x=1,2", "service": "reg", "scope": 'a "b"'})
    assert parse_challenge("BASIC   realm = x") == ("basic", {"realm": "x"})
    # A token68 or a second challenge ends the parameters.
    assert parse_challenge("Negotiate abc==") == ("negotiate", {})
    assert parse_challenge('Basic realm="a", Bearer realm="b"') == ("basic", {"realm": "a"})
    assert parse_challenge("") == ("", {})


@pytest.mark.parametrize("header, message", [
    ('Bearer realm="x', "unterminated quote in realm"),
    ('Bearer realm="a",Realm="b"', "realm given twice"),
    ("Bearer " + "x" * MAX_CHALLENGE, "more than 8192"),
])
def test_parse_challenge_refuses(header: str, message: str) -> None:
    with pytest.raises(ChallengeError, match=message):
        parse_challenge(header)


def test_parse_challenge_is_linear() -> None:
    # The regex it replaced took quadratic time on a long run of name characters.
    t0 = time.perf_counter()
    for filler in ("a" * 8000, "a=" * 4000, '"' * 8000, "a=\"\\" * 2000, ", " * 4000):
        parse_challenge_or_error("Bearer " + filler[: MAX_CHALLENGE - 10])
    assert time.perf_counter() - t0 < 1.0


def parse_challenge_or_error(header: str) -> tuple[str, dict[str, str]] | ChallengeError:
    try:
        return parse_challenge(header)
    except ChallengeError as exc:
        return exc


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_parse_challenge_fuzz(header: str) -> None:
    result = parse_challenge_or_error(header)
    if not isinstance(result, ChallengeError):
        scheme, params = result
        assert isinstance(scheme, str) and all(isinstance(v, str) for v in params.values())


@pytest.mark.parametrize("realm", [
    "https://auth.example/token", "http://127.0.0.1:5001/t?a=b", "https://[::1]:443/t",
])
def test_check_realm_accepts(realm: str) -> None:
    assert check_realm(realm, "r") == realm


@pytest.mark.parametrize("realm", [
    "", "ftp://a/t", "file:///etc/passwd", "https://user:pw@a/t", "https://a:99999/t",
    "https:///t", "https://a/t b", "https://a/\x1b[2J", "https://a/" + "x" * 3000, "https://[::1/t",
])
def test_check_realm_refuses(realm: str) -> None:
    with pytest.raises(OperationalError, match="bad token realm"):
        check_realm(realm, "r")


def test_shown_escapes_and_shortens() -> None:
    assert shown("a\x1b[31mb\x07") == "a\\x1b[31mb\\x07"
    assert shown("x" * 500) == "x" * bounded_http.MAX_SHOWN + "..."
    assert shown("\u202eevil") == "\\x202eevil"


@pytest.mark.parametrize("value, expected", [("", 60.0), ("2.5", 2.5), (" 10 ", 10.0)])
def test_deadline_setting(value: str, expected: float) -> None:
    assert deadline_seconds({"DOCKGUARD_HTTP_DEADLINE": value}) == expected


@pytest.mark.parametrize("value", ["x", "0", "-3", "nan", "inf", "86401", "1e400"])
def test_deadline_setting_refused(value: str) -> None:
    with pytest.raises(UsageError, match="DOCKGUARD_HTTP_DEADLINE"):
        deadline_seconds({"DOCKGUARD_HTTP_DEADLINE": value})


def test_deadline_cuts_a_blocked_read() -> None:
    a, b = socket.socketpair()
    with a, b:
        a.settimeout(30)  # the per-read timeout that a drip never trips
        t0 = time.monotonic()
        with pytest.raises(DeadlineExceeded, match=r"no complete answer within 0\.3 s"), \
                Deadline(0.3, "slow peer") as dl:
            dl.watch(a)
            assert a.recv(10) == b""  # the shutdown ends the read like an EOF
        assert time.monotonic() - t0 < 5


def test_deadline_earned_time_and_quiet_exit() -> None:
    a, b = socket.socketpair()
    with a, b:
        dl = Deadline(0.3, "x", raise_on_expiry=False)
        with dl:
            dl.watch(a)
            dl.earn(bounded_http.MIN_RATE)  # one second more
            time.sleep(0.6)
            assert not dl.expired
            b.sendall(b"ok")
            assert a.recv(2) == b"ok"
        assert not dl.expired
        # After the block the timer is gone: nothing shuts the socket down later.
        time.sleep(1.0)
        b.sendall(b"later")
        assert a.recv(5) == b"later"


def test_deadline_expired_without_raising() -> None:
    a, b = socket.socketpair()
    with a, b:
        dl = Deadline(0.2, "x", raise_on_expiry=False)
        with dl:
            dl.watch(a)
            a.settimeout(10)
            assert a.recv(1) == b""
        assert dl.expired
        assert threading.active_count() < 50


def test_credentials_from_config_refuses_malformed(tmp_path: Path) -> None:
    env = {"DOCKER_CONFIG": str(tmp_path), "PATH": "/usr/bin"}
    config = tmp_path / "config.json"
    for content, message in [
        ("[" * 100_000, "nested deeper"),
        ('{"auths": [1]}', "$.auths: not an object"),
        ('{"credHelpers": "x"}', "$.credHelpers: not an object"),
        ('{"auths": {"reg.example": {"auth": 5}}}', "not base64"),
        ('{"auths": {"reg.example": {"auth": "!!!"}}}', "not base64"),
        ("[1]", "not a JSON object"),
    ]:
        config.write_text(content)
        with pytest.raises(InputError, match=message.replace("$", r"\$").replace("[", r"\[")):
            credentials_from_config("reg.example", env)
    config.write_text(json.dumps({"auths": {"reg.example": {"username": 5, "password": []}}}))
    assert credentials_from_config("reg.example", env) is None
    config.write_text(json.dumps({"auths": {"http://[::1": {"auth": "eDp5"}}}))
    assert credentials_from_config("reg.example", env) is None


def test_probe_text_escapes_control_characters() -> None:
    step = ProbeStep("api", StepStatus.COMPLETED, "HTTP 200, \x1b]0;owned\x07",
                     evidence=(("api_version_header", "v\x1b[2J"), ("repositories", "a\u202eb")))
    finding = Finding("registry.x", FindingKind.REGISTRY, Severity.LOW, "repo \x1b[31mred", "o")
    report = Report("t", 0, 0, ReportSource(Surface.REGISTRY_PROBE, target="t\x07"), steps=(step,),
                    findings=(finding,))
    text = render(report, "text")
    assert "\x1b" not in text and "\x07" not in text and "\u202e" not in text
    assert "HTTP 200, \\x1b]0;owned\\x07" in text
    assert "v\\x1b[2J" in text
    assert "repo \\x1b[31mred" in text
    assert text.startswith("registry probe: t\\x07\n")
