"""``dockguard daemon tls-init``: a CA, a server and a client certificate for dockerd.

What Docker's "Protect the Docker daemon socket" guide does with a dozen openssl commands, done
with ``cryptography``: the server certificate names every host and IP in its SAN and has EKU
serverAuth, the client certificate has EKU clientAuth, keys are written 0400 and certificates
0444.  The file names follow what dockerd's examples and the docker client
(``DOCKER_CERT_PATH`` = ``ca.pem``, ``cert.pem``, ``key.pem``) expect.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from dockguard.errors import OperationalError, UsageError

CA_CERT, CA_KEY = "ca.pem", "ca-key.pem"
SERVER_CERT, SERVER_KEY = "server-cert.pem", "server-key.pem"
CLIENT_CERT, CLIENT_KEY = "cert.pem", "key.pem"
ALL_FILES = (CA_CERT, CA_KEY, SERVER_CERT, SERVER_KEY, CLIENT_CERT, CLIENT_KEY)

KEY_MODE = 0o400
CERT_MODE = 0o444
DEFAULT_PORT = 2376

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


@dataclass(frozen=True)
class TlsFiles:
    """Paths of everything tls-init wrote."""

    directory: Path
    ca_cert: Path
    ca_key: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    host: str
    ips: tuple[str, ...]
    not_after: str

    def daemon_json(self, port: int = DEFAULT_PORT) -> dict[str, bool | str | list[str]]:
        """The daemon.json settings that enable mutual TLS with these files."""
        return {
            "tlsverify": True,
            "tlscacert": str(self.ca_cert),
            "tlscert": str(self.server_cert),
            "tlskey": str(self.server_key),
            "hosts": ["unix:///var/run/docker.sock", f"tcp://0.0.0.0:{port}"],
        }

    def client_env(self, port: int = DEFAULT_PORT) -> dict[str, str]:
        """Environment for a docker client using the client certificate."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return {
            "DOCKER_HOST": f"tcp://{host}:{port}",
            "DOCKER_TLS_VERIFY": "1",
            "DOCKER_CERT_PATH": str(self.directory),
        }


def _new_key(key_type: str) -> PrivateKey:
    if key_type == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=4096)
    if key_type == "ecdsa":
        return ec.generate_private_key(ec.SECP256R1())
    raise UsageError(f"unknown key type {key_type!r} (choose rsa or ecdsa)")


def _name(cn: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "dockguard tls-init"),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


def _key_usage(key: PrivateKey, *, ca: bool) -> x509.KeyUsage:
    rsa_key = isinstance(key, rsa.RSAPrivateKey)
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=rsa_key and not ca,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def _san(host: str, ips: tuple[str, ...]) -> x509.SubjectAlternativeName:
    names: list[x509.GeneralName] = []
    try:
        names.append(x509.IPAddress(ipaddress.ip_address(host)))
    except ValueError:
        names.append(x509.DNSName(host))
    for ip in ips:
        entry = x509.IPAddress(ipaddress.ip_address(ip))
        if entry not in names:
            names.append(entry)
    return x509.SubjectAlternativeName(names)


def _validate(host: str, ips: tuple[str, ...], days: int) -> None:
    bad = not host or any(c.isspace() or c in "/@[]" for c in host)
    if not bad and ":" in host:
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            bad = True
    if bad:
        raise UsageError(f"invalid --host {host!r}: give a DNS name or an IP address")
    for ip in ips:
        try:
            ipaddress.ip_address(ip)
        except ValueError:
            raise UsageError(f"invalid --ip {ip!r}: not an IP address") from None
    if not 1 <= days <= 3650:
        raise UsageError(f"--days must be between 1 and 3650, got {days}")


def generate(
    out: Path,
    host: str,
    ips: tuple[str, ...] = (),
    days: int = 365,
    *,
    force: bool = False,
    key_type: str = "ecdsa",
    now: dt.datetime | None = None,
) -> TlsFiles:
    """Create CA, server and client certificates in `out`; refuse to overwrite unless `force`."""
    _validate(host, ips, days)
    existing = [name for name in ALL_FILES if (out / name).exists()]
    if existing and not force:
        raise UsageError(
            f"{out} already holds {', '.join(existing)}; use --force to overwrite them"
        )
    try:
        out.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise OperationalError(f"cannot create {out}: {exc.strerror}") from None
    from dockguard.outputs import check_target

    for name in ALL_FILES:  # refuse a link or directory in the way before writing any key
        check_target(out / name)

    now = now or dt.datetime.now(dt.UTC)
    start = now - dt.timedelta(minutes=5)  # tolerate small clock skew between machines
    end = now + dt.timedelta(days=days)

    ca_key = _new_key(key_type)
    ca_name = _name("dockguard CA")
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(ca_key, ca=True), critical=True)
        .add_extension(ca_ski, critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    def leaf(cn: str, eku: x509.ObjectIdentifier, san: x509.SubjectAlternativeName | None) -> tuple[
        PrivateKey, x509.Certificate
    ]:
        key = _new_key(key_type)
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(cn))
            .issuer_name(ca_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(end)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_key_usage(key, ca=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([eku]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski),
                critical=False,
            )
        )
        if san is not None:
            builder = builder.add_extension(san, critical=False)
        return key, builder.sign(ca_key, hashes.SHA256())

    server_key, server_cert = leaf(host, ExtendedKeyUsageOID.SERVER_AUTH, _san(host, ips))
    client_key, client_cert = leaf("client", ExtendedKeyUsageOID.CLIENT_AUTH, None)

    _write(out / CA_KEY, _key_pem(ca_key), KEY_MODE)
    _write(out / CA_CERT, ca_cert.public_bytes(serialization.Encoding.PEM), CERT_MODE)
    _write(out / SERVER_KEY, _key_pem(server_key), KEY_MODE)
    _write(out / SERVER_CERT, server_cert.public_bytes(serialization.Encoding.PEM), CERT_MODE)
    _write(out / CLIENT_KEY, _key_pem(client_key), KEY_MODE)
    _write(out / CLIENT_CERT, client_cert.public_bytes(serialization.Encoding.PEM), CERT_MODE)
    return TlsFiles(
        directory=out.resolve(),
        ca_cert=(out / CA_CERT).resolve(),
        ca_key=(out / CA_KEY).resolve(),
        server_cert=(out / SERVER_CERT).resolve(),
        server_key=(out / SERVER_KEY).resolve(),
        client_cert=(out / CLIENT_CERT).resolve(),
        client_key=(out / CLIENT_KEY).resolve(),
        host=host,
        ips=ips,
        not_after=end.isoformat(timespec="seconds"),
    )


def _key_pem(key: PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _write(path: Path, data: bytes, mode: int) -> None:
    """Write `data` through the safe writer: a temporary file that is never readable by others,
    renamed into place with its final `mode` (a link or directory in the way is refused)."""
    from dockguard.outputs import write_bytes

    write_bytes(path, data, mode=mode)


def instructions(files: TlsFiles, port: int = DEFAULT_PORT) -> str:
    """The text printed after generation: files, daemon.json snippet, client environment."""
    lines = [f"Wrote to {files.directory} (valid until {files.not_after}):"]
    for label, path, mode in (
        ("CA certificate", files.ca_cert, CERT_MODE),
        ("CA key (keep offline)", files.ca_key, KEY_MODE),
        ("server certificate", files.server_cert, CERT_MODE),
        ("server key", files.server_key, KEY_MODE),
        ("client certificate", files.client_cert, CERT_MODE),
        ("client key", files.client_key, KEY_MODE),
    ):
        lines.append(f"  {oct(mode)[2:]:>4}  {path.name:<16} {label}")
    lines += [
        "",
        "daemon.json (remove -H/--host from the service's command line if you set hosts here):",
        json.dumps(files.daemon_json(port), indent=2),
        "",
        "Client environment:",
        *(f"  export {k}={v}" for k, v in files.client_env(port).items()),
        "",
        f"Then check it: dockguard daemon probe tcp://{files.host}:{port} "
        f"--cert-path {files.directory}",
    ]
    return "\n".join(lines) + "\n"
