"""Credentials go only over verified TLS (or, when allowed explicitly, plain HTTP to loopback).

Each server here records every request; the assertion is that no ``Authorization`` header ever
reached a server whose certificate did not verify, nor a plain-HTTP server or token realm that
was not explicitly allowed.  Positive controls show the same servers do receive the
credentials once the connection verifies (so the assertions can fail).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.hostile.harness import MAX_RSS_MIB, CliRun, run_cli
from tests.hostile.net_servers import HostileHttp, Pki, Reply, Seen, make_pki

USER, PASSWORD = "mallory-victim", "hunter2-secret"


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return make_pki(tmp_path / "pki")


@pytest.fixture
def other_pki(tmp_path: Path) -> Pki:
    """A second CA: its certificates do not verify against `pki`."""
    return make_pki(tmp_path / "other-pki")


def basic_registry(seen: Seen) -> Reply:
    """A registry that wants Basic auth for everything and accepts any credentials."""
    if "authorization" in seen.headers:
        return Reply(200 if seen.path == "/v2/" else 404, {"Content-Type": "application/json"},
                     b"{}")
    return Reply(401, {"WWW-Authenticate": 'Basic realm="hostile"'}, b"")


def bearer_registry(realm: str) -> Callable[[Seen], Reply]:
    def route(seen: Seen) -> Reply:
        if seen.headers.get("authorization", "").startswith("Bearer "):
            return Reply(404, {}, b"")
        return Reply(401, {"WWW-Authenticate": f'Bearer realm="{realm}",service="hostile"'}, b"")
    return route


def token_server(seen: Seen) -> Reply:
    """Hands out a token to anyone: ``user-token`` for a Basic login, else ``anon-token``."""
    token = b"user-token" if seen.headers.get("authorization", "").startswith("Basic ") \
        else b"anon-token"
    return Reply(200, {"Content-Type": "application/json"}, b'{"token": "' + token + b'"}')


def secrets(server: HostileHttp) -> list[str]:
    """Authorization headers that carry the user's credentials (or a token they bought)."""
    return [a for a in server.authorizations() if a != "Bearer anon-token"]


def check(run: CliRun) -> None:
    assert not run.traceback, run.stderr
    assert "internal error" not in run.stderr
    assert run.max_rss_mib < MAX_RSS_MIB
    assert len(run.stderr.strip().splitlines()) <= 1, run.stderr


def probe(url: str, scratch: Path, *extra: str) -> tuple[CliRun, dict[str, Any]]:
    run = run_cli(["registry", "probe", url, "--username", USER, "--password-stdin",
                   "--format", "json", "--timeout", "5", *extra],
                  scratch=scratch, stdin=f"{PASSWORD}\n".encode(), timeout=120)
    check(run)
    return run, json.loads(run.stdout)


def steps(result: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {s["name"]: (s["status"], s["reason"]) for s in result["steps"]}


@pytest.mark.parametrize("auth", ["basic", "bearer"])
def test_probe_keeps_credentials_from_a_self_signed_registry(
    auth: str, pki: Pki, other_pki: Pki, scratch: Path
) -> None:
    """The reported case: the chain step says "not trusted", so nothing is sent - Basic to
    the registry, Basic to a token realm on another port - even with a wrong --ca-cert."""
    with HostileHttp(token_server, pki.server_context()) as realm:
        route = basic_registry if auth == "basic" else bearer_registry(f"{realm.url}/token")
        with HostileHttp(route, pki.server_context()) as registry:
            run, result = probe(registry.url, scratch)
            assert run.code == 0, run.stderr
            status, reason = steps(result)["credentials"]
            assert status == "SKIPPED"
            assert reason.startswith("refusing to send credentials: the certificate chain does "
                                     "not verify ("), reason
            assert "registry.cert-untrusted" in {f["id"] for f in result["findings"]}

            run, result = probe(registry.url, scratch / "wrong-ca", "--ca-cert",
                                str(other_pki.ca_file))
            assert steps(result)["credentials"][0] == "SKIPPED"

            assert secrets(registry) == []
            assert secrets(realm) == []

            # Control: once the chain verifies, the same servers do get the credentials.
            run, result = probe(registry.url, scratch / "ok", "--ca-cert", str(pki.ca_file))
            expected = "accepted" if auth == "basic" else "token issued"
            assert steps(result)["credentials"] == ("COMPLETED", expected)
            target = registry if auth == "basic" else realm
            assert any(a.startswith("Basic ") for a in target.authorizations())


def test_probe_keeps_credentials_from_an_unverified_token_realm(
    pki: Pki, other_pki: Pki, scratch: Path
) -> None:
    """A verified registry whose realm (another port) has a certificate from another CA."""
    with HostileHttp(token_server, other_pki.server_context()) as realm, \
            HostileHttp(bearer_registry(f"{realm.url}/token"),
                        pki.server_context()) as registry:
        run, result = probe(registry.url, scratch, "--ca-cert", str(pki.ca_file))
        assert run.code == 0, run.stderr
        status, reason = steps(result)["credentials"]
        assert status == "FAILED"
        assert "CERTIFICATE_VERIFY_FAILED" in reason
        # The anonymous steps still ran against the realm, without credentials.
        assert realm.seen
        assert secrets(realm) == []


def test_probe_plain_http_realm_needs_loopback_and_the_flag(pki: Pki, scratch: Path) -> None:
    with HostileHttp(token_server) as realm, \
            HostileHttp(bearer_registry(f"{realm.url}/token"),
                        pki.server_context()) as registry:
        _, result = probe(registry.url, scratch, "--ca-cert", str(pki.ca_file))
        assert steps(result)["credentials"] == (
            "SKIPPED", "refusing to send credentials over plain HTTP (allowed for a loopback "
            "token realm with --allow-plain-http-credentials)")
        assert "registry.bearer-realm-http" in {f["id"] for f in result["findings"]}
        assert secrets(realm) == []

        _, result = probe(registry.url, scratch / "flag", "--ca-cert", str(pki.ca_file),
                          "--allow-plain-http-credentials")
        assert steps(result)["credentials"] == ("COMPLETED", "token issued")
        assert any(a.startswith("Basic ") for a in realm.authorizations())


def test_probe_plain_http_registry(scratch: Path) -> None:
    with HostileHttp(basic_registry) as registry:
        _, result = probe(registry.host, scratch)
        assert steps(result)["credentials"][0] == "SKIPPED"
        assert "--allow-plain-http-credentials" in steps(result)["credentials"][1]
        assert registry.authorizations() == []
        _, result = probe(registry.host, scratch / "flag", "--allow-plain-http-credentials")
        assert steps(result)["credentials"] == ("COMPLETED", "accepted")
        assert registry.authorizations()


def scan(ref: str, scratch: Path, *extra: str) -> CliRun:
    run = run_cli(["image", "scan", ref, "--username", USER, "--password-stdin", "--no-cache",
                   "--list-packages",
                   *extra], scratch=scratch, stdin=f"{PASSWORD}\n".encode(), timeout=120)
    check(run)
    return run


def test_pull_with_insecure_never_sends_basic_credentials(pki: Pki, scratch: Path) -> None:
    with HostileHttp(basic_registry, pki.server_context()) as registry:
        run = scan(f"{registry.host}/app:1", scratch, "--insecure")
        assert run.code == 2
        assert "requires a login (Basic auth); refusing to send credentials: TLS verification " \
               "is off (--insecure)" in run.stderr
        # Without --insecure the handshake itself fails: nothing is sent either.
        run = scan(f"{registry.host}/app:1", scratch / "strict")
        assert run.code == 2
        assert "CERTIFICATE_VERIFY_FAILED" in run.stderr
        assert registry.seen  # it was asked, just never told a secret
        assert registry.authorizations() == []


def test_pull_with_insecure_asks_the_realm_anonymously(pki: Pki, scratch: Path) -> None:
    with HostileHttp(token_server, pki.server_context()) as realm, \
            HostileHttp(bearer_registry(f"{realm.url}/token"),
                        pki.server_context()) as registry:
        run = scan(f"{registry.host}/app:1", scratch, "--insecure")
        assert run.code == 2
        assert realm.seen and realm.authorizations() == []
        assert "not found" in run.stderr, run.stderr
        assert secrets(registry) == []


def test_pull_token_realm_must_verify(pki: Pki, other_pki: Pki, scratch: Path) -> None:
    """Realm on another port: credentials only if its own certificate verifies."""
    with HostileHttp(token_server, other_pki.server_context()) as bad_realm, \
            HostileHttp(bearer_registry(f"{bad_realm.url}/token"),
                        pki.server_context()) as registry:
        run = scan(f"{registry.host}/app:1", scratch, "--ca-cert", str(pki.ca_file))
        assert run.code == 2
        assert f"GET {bad_realm.url}/token?" in run.stderr
        assert "CERTIFICATE_VERIFY_FAILED" in run.stderr
        assert bad_realm.authorizations() == []

    with HostileHttp(token_server) as http_realm, \
            HostileHttp(bearer_registry(f"{http_realm.url}/token"),
                        pki.server_context()) as registry:
        run = scan(f"{registry.host}/app:1", scratch / "http-realm", "--ca-cert",
                   str(pki.ca_file))
        assert run.code == 2
        assert http_realm.seen and http_realm.authorizations() == []

    # Control: a realm that verifies gets the credentials.
    with HostileHttp(token_server, pki.server_context()) as good_realm, \
            HostileHttp(bearer_registry(f"{good_realm.url}/token"),
                        pki.server_context()) as registry:
        run = scan(f"{registry.host}/app:1", scratch / "good", "--ca-cert", str(pki.ca_file))
        assert run.code == 2  # the registry has no such image
        assert "not found" in run.stderr
        assert any(a.startswith("Basic ") for a in good_realm.authorizations())
        assert "Bearer user-token" in registry.authorizations()


def test_pull_over_plain_http_keeps_credentials(scratch: Path) -> None:
    with HostileHttp(basic_registry) as registry:
        run = scan(f"{registry.host}/app:1", scratch)
        assert run.code == 2
        assert "refusing to send credentials" in run.stderr
        assert registry.seen and registry.authorizations() == []
