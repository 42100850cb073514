"""The TLS steps both probes run: ``tls-versions``, ``certificate`` and ``certificate-chain``.

The daemon endpoint probe and the registry probe judge a server's TLS the same way; only what
they hand in differs (the daemon probe presents the ``--cert-path`` client certificate and has
already seen the server certificate in its handshake steps; the registry probe fetches it with
a bare handshake and verifies against ``--ca-cert`` or the system store).
"""

from __future__ import annotations

from dataclasses import dataclass

from dockguard.channel import tlsprobe
from dockguard.channel.result import Evidence, StepResult, completed, failed
from dockguard.channel.tlsprobe import CertInfo, ClientCert, HandshakeOutcome, VersionProbe, VersionSupport
from dockguard.model import FindingKind

TLS_VERSIONS = "tls-versions"
CERTIFICATE = "certificate"
CERTIFICATE_CHAIN = "certificate-chain"
SYSTEM_STORE = "the system trust store"


@dataclass(frozen=True)
class TlsTarget:
    """The server the TLS steps talk to, and how their findings are labelled."""

    host: str
    port: int
    obj: str
    kind: FindingKind
    timeout: float = 5.0
    deadline: float | None = None
    """Total seconds per attempt (None: ``$DOCKGUARD_HTTP_DEADLINE`` or 60)."""


@dataclass(frozen=True)
class TlsVersionsFacts:
    """Which TLS versions the server accepts."""

    versions: tuple[VersionProbe, ...]

    @property
    def accepted(self) -> tuple[str, ...]:
        """The versions the server accepted, oldest first."""
        return tuple(v.version for v in self.versions if v.support is VersionSupport.ACCEPTED)

    def evidence(self) -> Evidence:
        """``tls_versions.TLSv1.2: accepted`` and so on."""
        return tuple((f"tls_versions.{v.version}", v.label) for v in self.versions)


def tls_versions(target: TlsTarget, client: ClientCert) -> StepResult[TlsVersionsFacts]:
    """Step ``tls-versions``: TLS 1.0 to 1.3 one at a time, presenting `client`."""
    versions = tlsprobe.probe_versions(target.host, target.port, client=client,
                                       timeout=target.timeout, deadline=target.deadline)
    facts = TlsVersionsFacts(versions)
    if all(v.support is VersionSupport.UNKNOWN for v in versions):
        return failed(TLS_VERSIONS, "no version could be classified", facts)
    findings = tuple(tlsprobe.version_findings(versions, target.obj, target.kind))
    return completed(TLS_VERSIONS, "accepted: " + (", ".join(facts.accepted) or "none"), facts, findings)


@dataclass(frozen=True)
class SeenCertificate:
    """The server certificate a handshake showed, parsed; or why there is none."""

    info: CertInfo | None
    problem: str = ""


def read_certificate(der: bytes | None, missing: str) -> SeenCertificate:
    """Parse `der`; `missing` says why there is none when it is None."""
    if der is None:
        return SeenCertificate(None, missing)
    try:
        return SeenCertificate(tlsprobe.parse_certificate(der))
    except tlsprobe.CertificateError as exc:
        return SeenCertificate(None, str(exc))


def fetch_certificate(target: TlsTarget) -> SeenCertificate:
    """The server certificate from a bare handshake (no client certificate, no request)."""
    seen = tlsprobe.attempt(target.host, target.port, path=None, timeout=target.timeout,
                            deadline=target.deadline)
    return read_certificate(seen.peer_der, f"no certificate seen: {seen.reason}")


@dataclass(frozen=True)
class CertificateFacts:
    """The server certificate."""

    certificate: CertInfo

    def evidence(self) -> Evidence:
        """``certificate.subject``, ``certificate.days_left`` and so on."""
        c = self.certificate
        pairs = [
            ("subject", c.subject),
            ("issuer", c.issuer),
            ("not_after", c.not_after),
            ("days_left", str(c.days_left)),
            ("san", ", ".join(c.dns_names + c.ip_addresses) or "(none)"),
            ("key", f"{c.key_type} {c.key_bits}"),
            ("signature", c.signature_algorithm),
        ]
        if c.ext_key_usage is not None:  # no extension: any use is allowed
            pairs.append(("eku", ", ".join(c.ext_key_usage) or "(none)"))
        return tuple((f"certificate.{name}", value) for name, value in pairs)


def certificate(target: TlsTarget, seen: SeenCertificate) -> StepResult[CertificateFacts]:
    """Step ``certificate``: expiry, SAN against the host, key, signature, EKU."""
    info = seen.info
    if info is None:
        return failed(CERTIFICATE, seen.problem)
    findings = tuple(tlsprobe.certificate_findings(info, target.host, target.obj, target.kind))
    return completed(CERTIFICATE, f"{info.subject}, {info.days_left} days left",
                     CertificateFacts(info), findings)


@dataclass(frozen=True)
class ChainFacts:
    """Whether the server's chain verifies against `anchor`."""

    anchor: str
    verified: bool
    weak: str = ""
    """When it verifies only at OpenSSL security level 0: the error the default level gave."""
    message: str = ""
    """Why it does not verify."""

    def evidence(self) -> Evidence:
        """None: the step's reason says it all."""
        return ()


def certificate_chain(
    target: TlsTarget, *, cafile: str | None, client: ClientCert | None, leaf: CertInfo | None
) -> StepResult[ChainFacts]:
    """Step ``certificate-chain``: verify the server chain against `cafile` (or the system store).

    `leaf` is the server certificate when known: a leaf without serverAuth has its own finding,
    so OpenSSL's purpose error is not reported again as an untrusted chain.
    """
    chain, weak = tlsprobe.verify_chain(target.host, target.port, cafile=cafile, client=client,
                                        timeout=target.timeout, deadline=target.deadline)
    anchor = cafile or SYSTEM_STORE
    # CLIENT_CERT_REJECTED (TLS 1.2): the server judged our certificate, so our side had
    # already accepted its chain.
    if chain.outcome in (HandshakeOutcome.ANSWERED, HandshakeOutcome.CLIENT_CERT_REJECTED):
        level = f" only at OpenSSL security level 0 ({weak})" if weak else ""
        return completed(CERTIFICATE_CHAIN, f"verifies against {anchor}{level}",
                         ChainFacts(anchor, True, weak=weak or ""))
    if chain.outcome is HandshakeOutcome.SERVER_CERT_UNTRUSTED:
        reason = chain.verify_message or chain.reason
        found = tlsprobe.chain_finding(chain, cafile, target.obj, target.kind, leaf)
        return completed(CERTIFICATE_CHAIN, reason, ChainFacts(anchor, False, message=reason),
                         (found,) if found else ())
    return failed(CERTIFICATE_CHAIN, f"{chain.outcome.value}: {chain.reason}")
