"""Token (Bearer) authentication with a real docker-registry and a token server written here.

The registry runs with ``auth: token`` (realm = TokenServer, issuer/service chosen here,
rootcertbundle = the self-signed certificate whose key signs the tokens).  The tokens are ES256
JWTs carrying that certificate in ``x5c``, which is how distribution 2.8 finds the signing key:
it verifies the x5c chain against rootcertbundle, then the signature, issuer, audience and
times, and finally that ``access`` grants the requested type/name/action.
"""

from __future__ import annotations

import base64
import datetime as dt
import http.server
import json
import os
import secrets
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

from dockguard.cli import main
from tests.integration.probes import step_facts
from tests.integration.registry import Registry, push_image, start_registry, tar_of

USER, PASSWORD = "dave", "token-pw"
SERVICE, ISSUER = "dg-registry", "dg-token-issuer"
METADATA = b"Metadata-Version: 2.1\nName: token-pkg\nVersion: 7.8.9\n"
LAYER = tar_of({"usr/lib/python3/site-packages/token_pkg-7.8.9.dist-info/METADATA": METADATA})


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass(frozen=True)
class TokenRequest:
    """What the token server was asked for, and by whom."""

    user: str | None
    scopes: tuple[str, ...]
    granted: tuple[str, ...]


class TokenServer:
    """A Distribution token service on 127.0.0.1 (TLS).

    Authenticated users get pull, push and the catalog; anonymous clients get pull and the
    catalog when `anonymous` is True, else a token that grants nothing (like Docker Hub does
    for private repositories).  Wrong credentials get 401.
    """

    def __init__(self, tls: ssl.SSLContext, directory: Path, *, anonymous: bool) -> None:
        self.anonymous = anonymous
        self.requests: list[TokenRequest] = []
        self.key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "dg token signer")])
        now = dt.datetime.now(dt.UTC)
        self.cert = (
            x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self.key, hashes.SHA256())
        )
        self.bundle = directory / "token-signer.pem"
        self.bundle.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                query = parse_qs(parts.query)
                if parts.path != "/token" or query.get("service") != [SERVICE]:
                    self.send_error(400)
                    return
                user = server.authenticate(self.headers.get("Authorization"))
                if user is None:
                    self.send_error(401)
                    return
                scopes = tuple(query.get("scope", []))
                access = server.grant(user or None, scopes)
                server.requests.append(TokenRequest(
                    user or None, scopes,
                    tuple(f"{a['type']}:{a['name']}:{','.join(a['actions'])}" for a in access),
                ))
                body = json.dumps({"token": server.sign(user or "", access),
                                   "expires_in": 300}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True)
        self.port = int(self.httpd.server_address[1])
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def realm(self) -> str:
        return f"https://127.0.0.1:{self.port}/token"

    def authenticate(self, header: str | None) -> str | None:
        """The user name, "" for anonymous, None for wrong credentials."""
        if not header:
            return ""
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "basic":
            return None
        user, _, password = base64.b64decode(value).decode().partition(":")
        return user if (user, password) == (USER, PASSWORD) else None

    def grant(self, user: str | None, scopes: tuple[str, ...]) -> list[dict[str, Any]]:
        allowed = {"pull", "push", "*"} if user else {"pull", "*"} if self.anonymous else set()
        access = []
        for scope in scopes:
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            granted = [a for a in actions.split(",") if a in allowed]
            access.append({"type": kind, "name": name, "actions": granted})
        return access

    def sign(self, subject: str, access: list[dict[str, Any]]) -> str:
        now = int(time.time())
        header = {"typ": "JWT", "alg": "ES256",
                  "x5c": [base64.b64encode(self.cert.public_bytes(serialization.Encoding.DER))
                          .decode()]}
        claims = {"iss": ISSUER, "sub": subject, "aud": SERVICE, "exp": now + 300,
                  "nbf": now - 10, "iat": now, "jti": secrets.token_hex(8), "access": access}
        signing_input = (b64url(json.dumps(header).encode()) + "."
                         + b64url(json.dumps(claims).encode()))
        r, s = decode_dss_signature(
            self.key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256()))
        )
        return f"{signing_input}.{b64url(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=10)


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    authority = trustme.CA()
    d = tmp_path_factory.mktemp("token-pki")
    authority.cert_pem.write_to_path(str(d / "ca.pem"))
    leaf = authority.issue_cert("127.0.0.1")
    leaf.cert_chain_pems[0].write_to_path(str(d / "server.crt"))
    leaf.private_key_pem.write_to_path(str(d / "server.key"))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    leaf.configure_cert(ctx)
    return {"dir": d, "ca": str(d / "ca.pem"), "ctx": ctx}


def token_registry(ca: dict[str, Any], anonymous: bool) -> Iterator[tuple[Registry, TokenServer]]:
    tokens = TokenServer(ca["ctx"], ca["dir"], anonymous=anonymous)
    reg = start_registry(
        Path(tempfile.mkdtemp(prefix="dg-registry-token-")),
        tls=(ca["dir"] / "server.crt", ca["dir"] / "server.key"),
        token={"realm": tokens.realm, "service": SERVICE, "issuer": ISSUER,
               "rootcertbundle": str(tokens.bundle)},
    )
    try:
        # Push as the authenticated user, through the Bearer flow.
        s = requests.Session()
        s.trust_env = False
        s.verify = ca["ca"]
        r = s.get(tokens.realm, params={"service": SERVICE, "scope": "repository:tok/app:push,pull"},
                  auth=(USER, PASSWORD))
        assert r.status_code == 200
        s.headers["Authorization"] = f"Bearer {r.json()['token']}"
        push_image(s, reg.url, "tok/app", "1", [LAYER])
        tokens.requests.clear()
        yield reg, tokens
    finally:
        reg.stop()
        tokens.stop()


@pytest.fixture(scope="module")
def public(ca: dict[str, Any]) -> Iterator[tuple[Registry, TokenServer]]:
    yield from token_registry(ca, anonymous=True)


@pytest.fixture(scope="module")
def private(ca: dict[str, Any]) -> Iterator[tuple[Registry, TokenServer]]:
    yield from token_registry(ca, anonymous=False)


def probe(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any]]:
    code = main(["registry", "probe", *argv, "--format", "json"])
    return code, json.loads(capsys.readouterr().out)


def reasons(result: dict[str, Any]) -> dict[str, str]:
    return {s["name"]: s["reason"] for s in result["steps"]}


def findings(result: dict[str, Any]) -> dict[str, str]:
    return {f["id"]: f["severity"] for f in result["findings"]}


def scan(reference: str, ca_cert: str, home: Path, password: str | None = None
         ) -> subprocess.CompletedProcess[str]:
    login = ["--username", USER, "--password-stdin"] if password else []
    return subprocess.run(
        [sys.executable, "-m", "dockguard", "image", "scan", reference, "--ca-cert", ca_cert,
         *login, "--list-packages", "--format", "json", "--no-cache"],
        input=(password or "") + "\n", capture_output=True, text=True, timeout=120,
        env=dict(os.environ, DOCKER_CONFIG=str(home)),
    )


def test_registry_refuses_without_a_token(
    public: tuple[Registry, TokenServer], ca: dict[str, Any]
) -> None:
    """The control: without a token the registry itself lets nothing through."""
    reg, tokens = public
    r = requests.get(f"{reg.url}/v2/_catalog", verify=ca["ca"], timeout=10)
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"].startswith(f'Bearer realm="{tokens.realm}"')


def test_registry_verifies_the_token_signature(
    public: tuple[Registry, TokenServer], ca: dict[str, Any], tmp_path: Path
) -> None:
    """Tokens from a signer outside rootcertbundle are refused: the registry really checks."""
    reg, tokens = public
    forger = TokenServer(ca["ctx"], tmp_path, anonymous=True)
    try:
        scope = ("registry:catalog:*",)
        for signer, status in ((forger, 401), (tokens, 200)):
            token = signer.sign("", signer.grant(None, scope))
            r = requests.get(f"{reg.url}/v2/_catalog", verify=ca["ca"], timeout=10,
                             headers={"Authorization": f"Bearer {token}"})
            assert r.status_code == status, (signer is forger, r.text)
    finally:
        forger.stop()


def test_anonymous_tokens_grant_catalog_and_pull(
    public: tuple[Registry, TokenServer], ca: dict[str, Any],
    capsys: pytest.CaptureFixture[str],
) -> None:
    reg, tokens = public
    tokens.requests.clear()
    code, result = probe(capsys, reg.url, "--ca-cert", ca["ca"], "--try-push",
                         "--fail-on", "medium")
    assert code == 1
    assert findings(result) == {"registry.anonymous-catalog": "MEDIUM",
                                "registry.anonymous-pull": "MEDIUM"}
    assert {f["evidence"]["via"] for f in result["findings"]} == {"anonymous token"}
    assert step_facts(result)["auth"] == "bearer"
    assert step_facts(result)["token_realm"] == tokens.realm
    assert step_facts(result)["repositories"] == "tok/app"
    steps = reasons(result)
    assert steps["anonymous-token"] == "issued for registry:catalog:*"
    assert steps["anonymous-catalog"] == "allowed (anonymous token): 1 repositories"
    assert steps["anonymous-pull"] == "tags list allowed (anonymous token); manifest tok/app:1 HTTP 200"
    # The token service grants no push to anonymous clients, so the registry refuses it.
    assert steps["anonymous-push"] == "refused: HTTP 401"
    assert all(req.user is None for req in tokens.requests)
    assert ("repository:dockguard-probe/push-test:pull",) in {req.granted for req in tokens.requests}


def test_image_scan_pulls_through_the_bearer_flow(
    public: tuple[Registry, TokenServer], ca: dict[str, Any], tmp_path: Path
) -> None:
    reg, tokens = public
    tokens.requests.clear()
    proc = scan(f"{reg.host}/tok/app:1", ca["ca"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    packages = {(p["name"], p["version"]) for p in json.loads(proc.stdout)["packages"]}
    assert ("token-pkg", "7.8.9") in packages
    assert {req.scopes for req in tokens.requests} == {("repository:tok/app:pull",)}
    assert all(req.user is None for req in tokens.requests)


def test_private_token_service(
    private: tuple[Registry, TokenServer], ca: dict[str, Any],
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:
    """Anonymous tokens that grant nothing: no finding, and pulls need the credentials."""
    reg, tokens = private
    code, result = probe(capsys, reg.url, "--ca-cert", ca["ca"], "--repository", "tok/app",
                         "--try-push", "--fail-on", "low")
    assert code == 0, result
    assert result["findings"] == []
    steps = reasons(result)
    # A token is handed out, but the registry refuses what it (does not) grant.
    assert steps["anonymous-token"] == "issued for registry:catalog:*"
    assert steps["anonymous-catalog"] == "refused: HTTP 401"
    assert steps["anonymous-pull"] == "refused: tags list HTTP 401"
    assert steps["anonymous-push"] == "refused: HTTP 401"

    monkeypatch.setattr("sys.stdin", __import__("io").StringIO(PASSWORD + "\n"))
    code, result = probe(capsys, reg.url, "--ca-cert", ca["ca"], "--username", USER,
                         "--password-stdin")
    assert code == 0
    assert reasons(result)["credentials"] == "token issued"
    assert step_facts(result)["repositories"] == "tok/app"

    tokens.requests.clear()
    denied = scan(f"{reg.host}/tok/app:1", ca["ca"], tmp_path)
    assert denied.returncode == 2
    assert "access denied (HTTP 401)" in denied.stderr
    allowed = scan(f"{reg.host}/tok/app:1", ca["ca"], tmp_path, PASSWORD)
    assert allowed.returncode == 0, allowed.stderr
    assert ("token-pkg", "7.8.9") in {
        (p["name"], p["version"]) for p in json.loads(allowed.stdout)["packages"]
    }
    assert [req.user for req in tokens.requests] == [None, USER]
