"""TLS probing shared by the daemon endpoint and registry probes.

Everything here talks to one ``host:port`` with the standard ``ssl`` module and classifies what
happened by OpenSSL's reason string, because the same Python exception covers "the server does
not speak this version", "the server wants a client certificate" and "this is not TLS at all".

Two traps shape the code (see docs/channels.md):

* With TLS 1.3 the client-side handshake completes even when the server requires a client
  certificate; the refusal arrives with the first read.  So every attempt sends a request and
  reads the answer before calling the server "open".
* OpenSSL 3 refuses TLS 1.0/1.1 on the client side at the default security level, which would
  make every server look modern.  Old versions are tried with ``@SECLEVEL=0``.

Every attempt has a total deadline (connect, handshake, request and answer; see
`dockguard.channel.bounded_http.Deadline`), so a server that drips its handshake or answer one byte
at a time ends as an ERROR outcome saying so, not as a probe that never returns.  Answers are
read by `http.client` (at most 100 header lines of 64 KiB) with a MAX_ANSWER body cap.
"""

from __future__ import annotations

import datetime as dt
import enum
import http.client
import ipaddress
import socket
import ssl
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from dockguard.channel.bounded_http import Deadline, deadline_seconds
from dockguard.model import Finding, FindingKind, Severity, evidence

TLS_VERSIONS: tuple[str, ...] = ("TLSv1.0", "TLSv1.1", "TLSv1.2", "TLSv1.3")
"""Protocol versions tried one at a time, oldest first."""

_SSL_VERSION = {
    "TLSv1.0": ssl.TLSVersion.TLSv1,
    "TLSv1.1": ssl.TLSVersion.TLSv1_1,
    "TLSv1.2": ssl.TLSVersion.TLSv1_2,
    "TLSv1.3": ssl.TLSVersion.TLSv1_3,
}

# The server got far enough to judge our (missing or foreign) client certificate.
_CLIENT_CERT_ALERTS = frozenset(
    {
        "TLSV13_ALERT_CERTIFICATE_REQUIRED",
        "SSLV3_ALERT_BAD_CERTIFICATE",
        "SSLV3_ALERT_CERTIFICATE_UNKNOWN",
        "SSLV3_ALERT_UNSUPPORTED_CERTIFICATE",
        "SSLV3_ALERT_CERTIFICATE_EXPIRED",
        "SSLV3_ALERT_CERTIFICATE_REVOKED",
        "TLSV1_ALERT_UNKNOWN_CA",
        "TLSV1_ALERT_ACCESS_DENIED",
        "TLSV1_ALERT_DECRYPT_ERROR",
    }
)
_VERSION_ALERTS = frozenset(
    {
        "TLSV1_ALERT_PROTOCOL_VERSION",
        "UNSUPPORTED_PROTOCOL",
        "NO_PROTOCOLS_AVAILABLE",
        "WRONG_SSL_VERSION",
        "VERSION_TOO_LOW",
        "TLSV1_ALERT_INSUFFICIENT_SECURITY",
        "NO_SHARED_CIPHER",
        "NO_CIPHERS_AVAILABLE",
    }
)
_NOT_TLS = frozenset({"WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE", "HTTP_REQUEST"})

MAX_ANSWER = 64 * 1024
"""Bytes read from an HTTP answer while probing; enough for any /_ping or /v2/ answer."""


class HandshakeOutcome(enum.StrEnum):
    """How one TLS attempt ended."""

    ANSWERED = "answered"
    """Handshake done and the HTTP request answered (any status)."""
    CLIENT_CERT_REJECTED = "client-cert-rejected"
    CLOSED_AFTER_HANDSHAKE = "closed-after-handshake"
    """The handshake completed but the server hung up without an alert or an answer."""
    VERSION_REFUSED = "version-refused"
    SERVER_CERT_UNTRUSTED = "server-cert-untrusted"
    NOT_TLS = "not-tls"
    UNREACHABLE = "unreachable"
    ERROR = "error"


@dataclass(frozen=True)
class HttpAnswer:
    """Status, lower-cased headers and (bounded) body of one HTTP answer."""

    status: int
    reason: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


@dataclass(frozen=True)
class ClientCert:
    """A client certificate and its key (PEM files)."""

    cert: str
    key: str


@dataclass(frozen=True)
class TlsAttempt:
    """What one connection attempt established."""

    outcome: HandshakeOutcome
    reason: str = ""
    version: str | None = None
    cipher: str | None = None
    peer_der: bytes | None = None
    answer: HttpAnswer | None = None
    verify_message: str | None = None


def make_context(
    *,
    version: str | None = None,
    client: ClientCert | None = None,
    cafile: str | None = None,
    verify: bool = False,
    lenient: bool = False,
) -> ssl.SSLContext:
    """A client context pinned to `version` (or any), optionally verifying against `cafile`.

    `lenient` verifies at OpenSSL security level 0, i.e. accepts small keys and SHA-1
    signatures, so that a chain can be judged apart from those (reported on their own).
    """
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    if verify:
        ctx.verify_mode = ssl.CERT_REQUIRED
        if cafile:
            ctx.load_verify_locations(cafile=cafile)
        else:
            ctx.load_default_certs()
    else:
        ctx.verify_mode = ssl.CERT_NONE
    if version is not None:
        with warnings.catch_warnings():
            # Deprecated on purpose: probing for them is the point.
            warnings.simplefilter("ignore", DeprecationWarning)
            ctx.minimum_version = _SSL_VERSION[version]
            ctx.maximum_version = _SSL_VERSION[version]
    if not verify or lenient or version in ("TLSv1.0", "TLSv1.1"):
        # OpenSSL 3 disables old protocols (and small keys) at security level 1+ even when
        # asked for them; a probe must be able to see them to report them.
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    if client is not None:
        ctx.load_cert_chain(client.cert, client.key)
    return ctx


def _reason(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None)
    if isinstance(reason, str) and reason:
        return reason
    return str(exc) or type(exc).__name__


def _classify(exc: BaseException) -> HandshakeOutcome:
    if isinstance(exc, ssl.SSLCertVerificationError):
        return HandshakeOutcome.SERVER_CERT_UNTRUSTED
    if isinstance(exc, ssl.SSLError):
        reason = _reason(exc)
        if reason in _CLIENT_CERT_ALERTS:
            return HandshakeOutcome.CLIENT_CERT_REJECTED
        if reason in _VERSION_ALERTS:
            return HandshakeOutcome.VERSION_REFUSED
        if reason in _NOT_TLS:
            return HandshakeOutcome.NOT_TLS
        return HandshakeOutcome.ERROR
    if isinstance(exc, ConnectionRefusedError | socket.gaierror | TimeoutError):
        return HandshakeOutcome.UNREACHABLE
    if isinstance(exc, ConnectionResetError | BrokenPipeError | http.client.HTTPException):
        return HandshakeOutcome.ERROR
    if isinstance(exc, OSError):
        return HandshakeOutcome.UNREACHABLE
    return HandshakeOutcome.ERROR


def read_answer(sock: socket.socket, method: str = "GET") -> HttpAnswer:
    """Read one HTTP/1.x answer (status, headers, up to MAX_ANSWER body bytes) from `sock`."""
    resp = http.client.HTTPResponse(sock, method=method)
    try:
        resp.begin()
        body = resp.read(MAX_ANSWER)
    finally:
        resp.close()
    headers = {k.lower(): v for k, v in resp.getheaders()}
    return HttpAnswer(resp.status, resp.reason, headers, body)


def send_request(sock: socket.socket, host_header: str, path: str, method: str = "GET") -> None:
    """Send a minimal HTTP/1.1 request that asks the server to close afterwards."""
    sock.sendall(
        f"{method} {path} HTTP/1.1\r\nHost: {host_header}\r\nUser-Agent: dockguard\r\n"
        "Accept: */*\r\nConnection: close\r\n\r\n".encode("ascii")
    )


def attempt(
    host: str,
    port: int,
    *,
    version: str | None = None,
    client: ClientCert | None = None,
    cafile: str | None = None,
    verify: bool = False,
    lenient: bool = False,
    path: str | None = "/_ping",
    timeout: float = 5.0,
    deadline: float | None = None,
) -> TlsAttempt:
    """Connect, handshake and (unless `path` is None) send ``GET path`` and read the answer.

    When the server closes right after the handshake the alert that says why can be lost in a
    race with our request; one retry usually gets the reason, else the outcome says so.
    `deadline` bounds each try in total (default: ``$DOCKGUARD_HTTP_DEADLINE`` or 60 s).
    """
    ctx = make_context(version=version, client=client, cafile=cafile, verify=verify, lenient=lenient)
    seconds = deadline_seconds() if deadline is None else deadline
    result = _attempt_once(host, port, ctx, path, timeout, seconds)
    for _ in range(2):
        if result.outcome is not HandshakeOutcome.CLOSED_AFTER_HANDSHAKE:
            break
        result = _attempt_once(host, port, ctx, path, timeout, seconds)
    return result


def _attempt_once(
    host: str, port: int, ctx: ssl.SSLContext, path: str | None, timeout: float, seconds: float
) -> TlsAttempt:
    dl = Deadline(seconds, f"{host}:{port}", raise_on_expiry=False)
    with dl:
        result = _attempt_within(host, port, ctx, path, timeout, dl)
    if dl.expired or (result.outcome is not HandshakeOutcome.ANSWERED and dl.over()):
        return replace(result, outcome=HandshakeOutcome.ERROR,
                       reason=f"no complete answer within the {seconds:g} s deadline")
    return result


def _attempt_within(
    host: str, port: int, ctx: ssl.SSLContext, path: str | None, timeout: float, dl: Deadline
) -> TlsAttempt:
    try:
        raw = socket.create_connection((host, port), timeout=dl.timeout(timeout))
    except OSError as exc:
        return TlsAttempt(_classify(exc), _reason(exc))
    dl.watch(raw)
    with raw:
        try:
            tls = ctx.wrap_socket(raw, server_hostname=host)
        except (ssl.SSLError, OSError) as exc:
            verify_message = getattr(exc, "verify_message", None)
            return TlsAttempt(_classify(exc), _reason(exc), verify_message=verify_message)
        with tls:
            negotiated = tls.version()
            cipher = tls.cipher()
            der = tls.getpeercert(binary_form=True)
            seen = TlsAttempt(
                HandshakeOutcome.ANSWERED,
                "handshake completed",
                version=_normalise_version(negotiated),
                cipher=cipher[0] if cipher else None,
                peer_der=der,
            )
            if path is None:
                return seen
            try:
                send_request(tls, _host_header(host, port), path)
                answer = read_answer(tls)
            except (ssl.SSLError, OSError, http.client.HTTPException) as exc:
                outcome = _classify(exc)
                if outcome in (HandshakeOutcome.ERROR, HandshakeOutcome.UNREACHABLE) and isinstance(
                    exc, ssl.SSLEOFError | ConnectionError | http.client.RemoteDisconnected
                ):
                    return replace(
                        seen, outcome=HandshakeOutcome.CLOSED_AFTER_HANDSHAKE,
                        reason=f"closed after the handshake without an answer ({_reason(exc)})",
                    )
                return replace(seen, outcome=outcome, reason=_reason(exc))
            return replace(seen, reason=f"HTTP {answer.status}", answer=answer)


def plain_http(
    host: str, port: int, path: str, timeout: float = 5.0, deadline: float | None = None
) -> HttpAnswer:
    """``GET path`` over a plain TCP connection; raises OSError / HTTPException on failure.

    The whole exchange has `deadline` seconds (default ``$DOCKGUARD_HTTP_DEADLINE`` or 60);
    past it, TimeoutError.
    """
    seconds = deadline_seconds() if deadline is None else deadline
    dl = Deadline(seconds, f"{host}:{port}", raise_on_expiry=False)
    try:
        with dl, socket.create_connection((host, port), timeout=dl.timeout(timeout)) as sock:
            dl.watch(sock)
            send_request(sock, _host_header(host, port), path)
            answer = read_answer(sock)
    except (OSError, http.client.HTTPException):
        if not dl.expired:
            raise
    if dl.expired:
        raise TimeoutError(f"no complete answer within the {seconds:g} s deadline")
    return answer


def _host_header(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _normalise_version(v: str | None) -> str | None:
    return "TLSv1.0" if v == "TLSv1" else v


def is_tls_refusal_of_plain_http(answer: HttpAnswer) -> bool:
    """True for Go's ``400 Client sent an HTTP request to an HTTPS server.``."""
    return answer.status == 400 and b"HTTPS server" in answer.body


class VersionSupport(enum.StrEnum):
    """Whether a server accepts one TLS version."""

    ACCEPTED = "accepted"
    REFUSED = "refused"
    UNKNOWN = "unknown"
    """The attempt ended in a way that says nothing about the version (the reason says how)."""


@dataclass(frozen=True)
class VersionProbe:
    """What trying one TLS version established."""

    version: str
    support: VersionSupport
    reason: str = ""
    """How an UNKNOWN attempt ended."""

    @property
    def label(self) -> str:
        """``accepted``, ``refused`` or ``unknown: <reason>``."""
        if self.support is VersionSupport.UNKNOWN:
            return f"unknown: {self.reason}"
        return self.support.value


def probe_versions(
    host: str, port: int, *, client: ClientCert, timeout: float = 5.0,
    deadline: float | None = None,
) -> tuple[VersionProbe, ...]:
    """Try each TLS version of TLS_VERSIONS, oldest first.

    Always present a client certificate (a throwaway one will do): an OpenSSL server that
    requires one answers a TLS 1.2 client without it with a bare handshake_failure, which would
    look like a version refusal.  A client-certificate alert means the handshake got past
    version negotiation, so the version *is* accepted even though we were turned away.
    """
    result: list[VersionProbe] = []
    for version in TLS_VERSIONS:
        a = attempt(host, port, version=version, client=client, path=None, timeout=timeout,
                    deadline=deadline)
        if a.outcome in (
            HandshakeOutcome.ANSWERED, HandshakeOutcome.CLIENT_CERT_REJECTED, HandshakeOutcome.CLOSED_AFTER_HANDSHAKE
        ):
            result.append(VersionProbe(version, VersionSupport.ACCEPTED))
        elif a.outcome is HandshakeOutcome.VERSION_REFUSED or a.reason == "SSLV3_ALERT_HANDSHAKE_FAILURE":
            result.append(VersionProbe(version, VersionSupport.REFUSED))
        else:
            result.append(VersionProbe(version, VersionSupport.UNKNOWN, a.reason))
    return tuple(result)


def throwaway_client(directory: Path) -> ClientCert:
    """A client certificate from a brand-new CA that no server can know (written to `directory`)."""
    from dockguard.channel import tlsinit

    files = tlsinit.generate(directory, "foreign-client.invalid", days=1)
    return ClientCert(str(files.client_cert), str(files.client_key))


def version_findings(versions: Sequence[VersionProbe], obj: str, kind: FindingKind) -> list[Finding]:
    """HIGH when TLS 1.0 or 1.1 is accepted."""
    old = [v.version for v in versions
           if v.version in ("TLSv1.0", "TLSv1.1") and v.support is VersionSupport.ACCEPTED]
    if not old:
        return []
    return [
        Finding(
            id=f"{kind}.tls-old-version",
            kind=kind,
            severity=Severity.HIGH,
            title=f"accepts obsolete TLS versions: {', '.join(old)}",
            obj=obj,
            description="TLS 1.0 and 1.1 are deprecated (RFC 8996).",
            remediation="Set the minimum TLS version to 1.2.",
            evidence=evidence(versions={v.version: v.label for v in versions}),
        )
    ]


@dataclass(frozen=True)
class CertInfo:
    """The security-relevant parts of a server certificate."""

    subject: str
    issuer: str
    serial: str
    not_before: str
    not_after: str
    days_left: int
    dns_names: tuple[str, ...]
    ip_addresses: tuple[str, ...]
    key_type: str
    key_bits: int
    signature_algorithm: str
    ext_key_usage: tuple[str, ...] | None
    """None when the certificate has no EKU extension (any use allowed)."""
    self_signed: bool

    @property
    def allows_server_auth(self) -> bool:
        """False when an EKU extension is present without serverAuth (or any usage)."""
        return self.ext_key_usage is None or bool(
            {"serverAuth", "anyExtendedKeyUsage"} & set(self.ext_key_usage)
        )

    def matches_host(self, host: str) -> bool:
        """Would a Go client (SAN only, CN ignored) accept this certificate for `host`?"""
        try:
            ip = ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            return any(_dns_match(pattern, host) for pattern in self.dns_names)
        return any(ipaddress.ip_address(a) == ip for a in self.ip_addresses)


def _dns_match(pattern: str, host: str) -> bool:
    pattern, host = pattern.lower().rstrip("."), host.lower().rstrip(".")
    if pattern.startswith("*."):
        head, _, rest = host.partition(".")
        return bool(head) and rest == pattern[2:]
    return pattern == host


class CertificateError(ValueError):
    """A server certificate that cannot be parsed (the server chose its bytes)."""


def parse_certificate(der: bytes, now: dt.datetime | None = None) -> CertInfo:
    """Parse a DER certificate into a CertInfo (days left counted from `now`).

    Raises CertificateError for anything `cryptography` refuses (malformed DER, duplicate
    extensions, unsupported name types or algorithms).
    """
    try:
        return _parse_certificate(der, now)
    except (ValueError, TypeError, x509.DuplicateExtension, x509.UnsupportedGeneralNameType,
            UnsupportedAlgorithm) as exc:
        raise CertificateError(f"cannot parse the server certificate: {exc}") from None


def _parse_certificate(der: bytes, now: dt.datetime | None) -> CertInfo:
    cert = x509.load_der_x509_certificate(der)
    now = now or dt.datetime.now(dt.UTC)
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        dns = tuple(san.get_values_for_type(x509.DNSName))
        ips = tuple(str(a) for a in san.get_values_for_type(x509.IPAddress))
    except x509.ExtensionNotFound:
        dns, ips = (), ()
    try:
        eku_ext = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        eku: tuple[str, ...] | None = tuple(_eku_name(o) for o in eku_ext)
    except x509.ExtensionNotFound:
        eku = None
    try:
        key_type, bits = _key(cert.public_key())
    except UnsupportedAlgorithm:
        key_type, bits = "unsupported", 0
    try:
        algo = cert.signature_hash_algorithm
    except UnsupportedAlgorithm:
        algo = None
    sig = cert.signature_algorithm_oid._name
    if algo is not None and algo.name not in sig.lower():
        sig = f"{sig} ({algo.name})"
    not_after = cert.not_valid_after_utc
    return CertInfo(
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        serial=format(cert.serial_number, "x"),
        not_before=cert.not_valid_before_utc.isoformat(),
        not_after=not_after.isoformat(),
        days_left=int((not_after - now).total_seconds() // 86400),
        dns_names=dns,
        ip_addresses=ips,
        key_type=key_type,
        key_bits=bits,
        signature_algorithm=sig,
        ext_key_usage=eku,
        self_signed=cert.subject == cert.issuer,
    )


def common_name(der: bytes) -> str:
    """The subject CN of a DER certificate, or an empty string."""
    cert = x509.load_der_x509_certificate(der)
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else ""


def _eku_name(oid: x509.ObjectIdentifier) -> str:
    return {
        ExtendedKeyUsageOID.SERVER_AUTH: "serverAuth",
        ExtendedKeyUsageOID.CLIENT_AUTH: "clientAuth",
        ExtendedKeyUsageOID.CODE_SIGNING: "codeSigning",
        ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE: "anyExtendedKeyUsage",
    }.get(oid, oid.dotted_string)


def _key(key: CertificatePublicKeyTypes) -> tuple[str, int]:
    if isinstance(key, rsa.RSAPublicKey):
        return "RSA", key.key_size
    if isinstance(key, ec.EllipticCurvePublicKey):
        return f"EC {key.curve.name}", key.curve.key_size
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "Ed25519", 256
    if isinstance(key, ed448.Ed448PublicKey):
        return "Ed448", 456
    if isinstance(key, dsa.DSAPublicKey):
        return "DSA", key.key_size
    return type(key).__name__, 0


def certificate_findings(info: CertInfo, host: str, obj: str, kind: FindingKind) -> list[Finding]:
    """Findings about a server certificate presented for `host`."""
    out: list[Finding] = []

    def add(code: str, severity: Severity, title: str, remediation: str, **data: object) -> None:
        out.append(
            Finding(
                id=f"{kind}.{code}",
                kind=kind,
                severity=severity,
                title=title,
                obj=obj,
                remediation=remediation,
                evidence=evidence(subject=info.subject, not_after=info.not_after, **data),
            )
        )

    renew = "Issue a new server certificate (see `dockguard daemon tls-init`)."
    if info.days_left < 0:
        add(
            "cert-expired",
            Severity.HIGH,
            f"server certificate expired {-info.days_left} days ago ({info.not_after})",
            renew,
            days_left=info.days_left,
        )
    elif info.days_left < 30:
        add(
            "cert-expiring",
            Severity.MEDIUM,
            f"server certificate expires in {info.days_left} days ({info.not_after})",
            renew,
            days_left=info.days_left,
        )
    if not info.matches_host(host):
        names = ", ".join(info.dns_names + info.ip_addresses) or "none"
        add(
            "cert-san-mismatch",
            Severity.MEDIUM,
            f"server certificate does not name {host} in its SAN (has: {names})",
            "Add the host name or IP address to the certificate's subjectAltName; "
            "Go clients ignore the common name.",
            host=host,
        )
    weak = (info.key_type == "RSA" and info.key_bits < 2048) or (
        info.key_type.startswith(("EC", "DSA")) and info.key_bits < 224
    )
    if weak or info.key_type == "DSA":
        add(
            "cert-weak-key",
            Severity.HIGH,
            f"server key is {info.key_type} {info.key_bits} bits",
            "Use RSA >= 2048 bits or ECDSA P-256 or better.",
        )
    sig = info.signature_algorithm.lower()
    if "md5" in sig or "sha1" in sig:
        add(
            "cert-weak-signature",
            Severity.HIGH,
            f"server certificate signed with {info.signature_algorithm}",
            "Re-issue the certificate with a SHA-256 (or better) signature.",
        )
    if not info.allows_server_auth:
        add(
            "cert-eku",
            Severity.MEDIUM,
            "server certificate lacks the serverAuth extended key usage "
            f"(has: {', '.join(info.ext_key_usage or ())})",
            "Re-issue the server certificate with extendedKeyUsage = serverAuth.",
        )
    return out


# OpenSSL's verify messages for keys and digests below its security level (Debian: 2).
# OpenSSL checks the leaf key before it even looks for the issuer, so such a message says
# nothing about the chain: it is checked again at level 0 (the weakness itself is reported
# by cert-weak-key / cert-weak-signature).
_SECLEVEL_ERRORS = (
    "EE certificate key too weak",
    "CA certificate key too weak",
    "CA signature digest algorithm too weak",
)
_PURPOSE_ERROR = "unsuitable certificate purpose"


def verify_chain(
    host: str,
    port: int,
    *,
    cafile: str | None,
    client: ClientCert | None = None,
    timeout: float = 5.0,
    deadline: float | None = None,
) -> tuple[TlsAttempt, str | None]:
    """Verify the server chain against `cafile` (or the system store).

    Returns the attempt and, when the chain only verifies at OpenSSL security level 0, the
    security-level error that the default level gave.
    """
    strict = attempt(host, port, client=client, cafile=cafile, verify=True, path=None,
                     timeout=timeout, deadline=deadline)
    message = strict.verify_message or ""
    if strict.outcome is not HandshakeOutcome.SERVER_CERT_UNTRUSTED or message not in _SECLEVEL_ERRORS:
        return strict, None
    relaxed = attempt(host, port, client=client, cafile=cafile, verify=True, lenient=True,
                      path=None, timeout=timeout, deadline=deadline)
    return relaxed, message


def chain_finding(
    a: TlsAttempt, cafile: str | None, obj: str, kind: FindingKind, leaf: CertInfo | None = None
) -> Finding | None:
    """A finding when the certificate chain does not verify.

    Expiry is reported separately, and so is a leaf without serverAuth (`leaf`): OpenSSL
    only checks the purpose once it has found the chain's trust anchor.
    """
    if a.outcome is not HandshakeOutcome.SERVER_CERT_UNTRUSTED:
        return None
    message = a.verify_message or a.reason
    if "expired" in message:
        return None
    if message == _PURPOSE_ERROR and leaf is not None and not leaf.allows_server_auth:
        return None
    anchor = cafile or "the system trust store"
    return Finding(
        id=f"{kind}.cert-untrusted",
        kind=kind,
        severity=Severity.MEDIUM,
        title=f"server certificate chain does not verify against {anchor}: {message}",
        obj=obj,
        remediation="Serve the full chain issued by the CA your clients trust.",
        evidence=evidence(verify_message=message),
    )
