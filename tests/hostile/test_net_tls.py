"""A server certificate is attacker-chosen bytes: one `cryptography` cannot parse (here a SAN
with an EDIPartyName, which OpenSSL accepts) makes the certificate step FAILED, not a crash."""

from __future__ import annotations

import datetime as dt
import json
import ssl
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID, ObjectIdentifier

from tests.hostile.harness import MAX_RSS_MIB, run_cli
from tests.hostile.net_servers import HostileHttp, Reply

# subjectAltName = SEQUENCE { [5] ediPartyName { [1] partyName UTF8String "A" } }
EDI_PARTY_SAN = bytes.fromhex("3007a505a1030c0141")


def unparsable_cert_context(directory: Path) -> ssl.SSLContext:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "odd")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=9))
        # Built under a private OID, then renamed to subjectAltName (2.5.29.17) in the DER:
        # the builder would not encode this name type itself.
        .add_extension(x509.UnrecognizedExtension(ObjectIdentifier("2.5.29.99"), EDI_PARTY_SAN),
                       critical=False)
        .sign(key, hashes.SHA256())
    )
    der = cert.public_bytes(serialization.Encoding.DER)
    patched = der.replace(b"\x06\x03\x55\x1d\x63", b"\x06\x03\x55\x1d\x11")
    assert patched != der
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "cert.pem").write_text(ssl.DER_cert_to_PEM_cert(patched))
    (directory / "key.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(directory / "cert.pem", directory / "key.pem")
    return ctx


def test_unparsable_server_certificate(scratch: Path, tmp_path: Path) -> None:
    ctx = unparsable_cert_context(tmp_path / "pki")
    with HostileHttp(lambda seen: Reply(200, {}, b"{}"), ctx) as server:
        for args in (["registry", "probe", server.url], ["daemon", "probe", f"tcp://{server.host}"]):
            run = run_cli([*args, "--format", "json"], scratch=scratch / args[0], timeout=120)
            assert not run.traceback and "internal error" not in run.stderr, run.stderr
            assert run.max_rss_mib < MAX_RSS_MIB
            steps = {s["name"]: (s["status"], s["reason"]) for s in json.loads(run.stdout)["steps"]}
            assert steps["certificate"] == (
                "FAILED", "cannot parse the server certificate: x400Address/EDIPartyName are not "
                "supported types"), args
