"""Weak server certificates against real TLS servers: `openssl s_server` and docker-registry.

The certificates are made with the openssl command line, which (unlike the `cryptography`
build here) still signs with SHA-1.  Each server binds 127.0.0.1 and is stopped by the test.
`openssl s_server` needs ``@SECLEVEL=0`` to load a 1024-bit key or a SHA-1-signed certificate.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from dockguard.cli import main
from tests.integration.dockerd import free_port
from tests.integration.probes import step_facts
from tests.integration.registry import start_registry
from tests.integration.test_channel_daemon import wait_port

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")

GOOD_SAN = "IP:127.0.0.1,DNS:localhost"


@dataclass(frozen=True)
class Leaf:
    """How to make one server certificate, and what the probes must say about it."""

    key: str
    """``openssl req -newkey`` argument."""
    digest: str
    san: str
    eku: str
    expected: dict[str, str]
    """Finding code (without the kind) -> severity."""
    foreign: bool = False
    """Issued by a CA the probe is not told about."""


LEAVES = {
    "good": Leaf("ec:{ec}", "sha256", GOOD_SAN, "serverAuth", {}),
    "rsa1024": Leaf("rsa:1024", "sha256", GOOD_SAN, "serverAuth", {"cert-weak-key": "HIGH"}),
    "sha1": Leaf("ec:{ec}", "sha1", GOOD_SAN, "serverAuth", {"cert-weak-signature": "HIGH"}),
    "client-eku": Leaf("ec:{ec}", "sha256", GOOD_SAN, "clientAuth", {"cert-eku": "MEDIUM"}),
    "san-mismatch": Leaf("ec:{ec}", "sha256", "DNS:registry.example", "serverAuth",
                         {"cert-san-mismatch": "MEDIUM"}),
    # The security-level error OpenSSL gives first must not hide an unknown issuer.
    "rsa1024-foreign": Leaf("rsa:1024", "sha256", GOOD_SAN, "serverAuth",
                            {"cert-weak-key": "HIGH", "cert-untrusted": "MEDIUM"}, foreign=True),
}


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_ca(d: Path, name: str) -> None:
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key",
            "-out", f"{name}.pem", "-days", "365", "-sha256", "-subj", f"/CN=dockguard {name}",
            cwd=d)


def issue(d: Path, name: str, ca: str, key: str, digest: str, extensions: str) -> None:
    """An openssl-signed certificate ``name.pem`` with its key ``name.key``."""
    openssl("req", "-new", "-newkey", key.format(ec=d / "ec.param"), "-nodes",
            "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", "/CN=127.0.0.1", cwd=d)
    (d / f"{name}.ext").write_text(extensions)
    openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key",
            "-CAcreateserial", "-days", "365", f"-{digest}", "-extfile", f"{name}.ext",
            "-out", f"{name}.pem", cwd=d)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("weak-pki")
    openssl("ecparam", "-name", "prime256v1", "-out", "ec.param", cwd=d)
    make_ca(d, "ca")
    make_ca(d, "foreign-ca")
    for name, leaf in LEAVES.items():
        issue(d, name, "foreign-ca" if leaf.foreign else "ca", leaf.key, leaf.digest,
              f"subjectAltName={leaf.san}\nextendedKeyUsage={leaf.eku}\n")
    # The client pair for --cert-path, as DOCKER_CERT_PATH holds it.
    issue(d, "client", "ca", "ec:{ec}", "sha256", "extendedKeyUsage=clientAuth\n")
    certs = d / "client-certs"
    certs.mkdir()
    shutil.copy(d / "ca.pem", certs / "ca.pem")
    shutil.copy(d / "client.pem", certs / "cert.pem")
    shutil.copy(d / "client.key", certs / "key.pem")
    return d


@pytest.fixture
def s_server(pki: Path) -> Iterator[Any]:
    """Factory: `openssl s_server` presenting a leaf, requiring a client cert from ``ca``."""
    procs: list[subprocess.Popen[bytes]] = []

    def start(name: str) -> int:
        port = free_port()
        proc = subprocess.Popen(
            ["openssl", "s_server", "-accept", f"127.0.0.1:{port}", "-quiet", "-www",
             "-cert", str(pki / f"{name}.pem"), "-key", str(pki / f"{name}.key"),
             "-CAfile", str(pki / "ca.pem"), "-Verify", "1", "-verify_return_error",
             # Else OpenSSL 3 refuses to load a 1024-bit key or a SHA-1 certificate.
             "-cipher", "DEFAULT:@SECLEVEL=0", "-no_tls1", "-no_tls1_1"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        procs.append(proc)
        wait_port(port, proc)
        return port

    yield start
    for proc in procs:
        proc.terminate()
        proc.wait(timeout=10)


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any]]:
    code = main([*argv, "--format", "json"])
    return code, json.loads(capsys.readouterr().out)


def findings(result: dict[str, Any]) -> dict[str, str]:
    return {f["id"]: f["severity"] for f in result["findings"]}


def reasons(result: dict[str, Any]) -> dict[str, str]:
    return {s["name"]: s["reason"] for s in result["steps"]}


def expected(name: str, kind: str) -> dict[str, str]:
    return {f"{kind}.{code}": sev for code, sev in LEAVES[name].expected.items()}


@pytest.mark.parametrize("name", list(LEAVES))
def test_daemon_probe_reports_the_server_certificate(
    name: str, pki: Path, s_server: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    port = s_server(name)
    code, result = run_json(capsys, "daemon", "probe", f"tcp://127.0.0.1:{port}",
                            "--cert-path", str(pki / "client-certs"), "--fail-on", "medium")
    # The server verifies client certificates: the only findings are about its own.
    assert findings(result) == expected(name, "endpoint"), result["findings"]
    assert code == (1 if LEAVES[name].expected else 0)
    assert {s["status"] for s in result["steps"]} == {"COMPLETED"}, result["steps"]
    facts = step_facts(result)
    assert facts["client_verification"] == "True"
    assert facts["foreign_client_cert_accepted"] == "False"
    cert = {k.removeprefix("certificate."): v for k, v in facts.items() if k.startswith("certificate.")}
    chain = reasons(result)["certificate-chain"]
    if name.startswith("rsa1024"):
        assert cert["key"] == "RSA 1024"
    else:
        assert cert["key"] == "EC secp256r1 256"
    if name == "rsa1024":
        # OpenSSL's default level refuses the key; the chain itself is fine.
        assert chain.endswith("only at OpenSSL security level 0 (EE certificate key too weak)")
    elif name == "sha1":
        assert cert["signature"] == "sha1WithRSAEncryption"
        assert "CA signature digest algorithm too weak" in chain
    elif name == "client-eku":
        assert cert["eku"] == "clientAuth"
        assert chain == "unsuitable certificate purpose"
    elif name == "san-mismatch":
        assert cert["san"] == "registry.example"
        assert cert["subject"] == "CN=127.0.0.1"  # the CN is ignored, like Go does
    elif name == "rsa1024-foreign":
        assert chain == "unable to get local issuer certificate"
    else:
        assert chain == f"verifies against {pki / 'client-certs' / 'ca.pem'}"
        assert cert["signature"] == "sha256WithRSAEncryption"


@pytest.mark.parametrize("name", list(LEAVES))
def test_registry_probe_reports_the_server_certificate(
    name: str, pki: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Go's TLS server presents any of these certificates without complaint.
    reg = start_registry(Path(tempfile.mkdtemp(prefix="dg-registry-cert-")),
                         tls=(pki / f"{name}.pem", pki / f"{name}.key"))
    try:
        code, result = run_json(capsys, "registry", "probe", reg.url,
                                "--ca-cert", str(pki / "ca.pem"), "--fail-on", "high")
    finally:
        reg.stop()
    # An empty registry without auth: the catalog is open, there is nothing to pull.
    want = {**expected(name, "registry"), "registry.anonymous-catalog": "MEDIUM"}
    assert findings(result) == want, result["findings"]
    assert code == (1 if "HIGH" in want.values() else 0)
    assert step_facts(result)["scheme"] == "https"
    assert reasons(result)["anonymous-pull"] == "no repository known: give --repository NAME"
    if name == "client-eku":
        assert step_facts(result)["certificate.eku"] == "clientAuth"
