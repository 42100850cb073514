"""``dockguard daemon probe``: how well is the Docker daemon's API endpoint protected?

For a unix socket, two steps: ``socket`` (owner, group, mode and who is in that group) and
``ping``.  For TCP, in order: ``plain-http`` (does it answer plain HTTP),
``tls-without-client-cert`` (does TLS let us in without a client certificate),
``foreign-client-cert`` (is a client certificate from a foreign CA accepted), ``client-cert``
(is the given one accepted), then the TLS steps shared with the registry probe
(`dockguard.channel.tls_steps`): ``certificate-chain``, ``tls-versions``, ``certificate``.
Each step is one function returning a `StepResult`; a refused connection is a FAILED step,
never a clean result.  `probe` returns the `Report` and the typed `DaemonEndpointFacts`.
"""

from __future__ import annotations

import contextlib
import enum
import functools
import grp
import http.client
import os
import pwd
import socket
import stat
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

from dockguard.channel import tls_steps, tlsprobe
from dockguard.channel.bounded_http import Deadline, deadline_seconds, shown
from dockguard.channel.result import (
    Evidence,
    ProbeRun,
    StepResult,
    StepSequence,
    bool_text,
    completed,
    failed,
    make_finding,
    skipped,
)
from dockguard.channel.tls_steps import ChainFacts, TlsTarget
from dockguard.channel.tlsprobe import CertInfo, ClientCert, HandshakeOutcome, VersionProbe, VersionSupport
from dockguard.errors import UsageError
from dockguard.model import FindingKind, Severity, Surface, evidence

DEFAULT_SOCKET = "/var/run/docker.sock"
KIND = FindingKind.ENDPOINT
_finding = functools.partial(make_finding, KIND)

SOCKET, PING = "socket", "ping"
UNIX_STEPS = (SOCKET, PING)
PLAIN_HTTP = "plain-http"
TLS_WITHOUT_CLIENT_CERT = "tls-without-client-cert"
FOREIGN_CLIENT_CERT = "foreign-client-cert"
CLIENT_CERT = "client-cert"
TCP_STEPS = (
    PLAIN_HTTP,
    TLS_WITHOUT_CLIENT_CERT,
    FOREIGN_CLIENT_CERT,
    CLIENT_CERT,
    tls_steps.CERTIFICATE_CHAIN,
    tls_steps.TLS_VERSIONS,
    tls_steps.CERTIFICATE,
)


class Transport(enum.StrEnum):
    """How the daemon's API is reached."""

    UNIX = "unix"
    TCP = "tcp"


@dataclass(frozen=True)
class DaemonEndpoint:
    """A daemon endpoint: a unix socket path or a TCP host and port."""

    scheme: Transport
    path: str = ""
    host: str = ""
    port: int = 0

    def __str__(self) -> str:
        if self.scheme is Transport.UNIX:
            return f"unix://{self.path}"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"tcp://{host}:{self.port}"


@dataclass(frozen=True)
class CertPath:
    """A DOCKER_CERT_PATH-style directory: ``ca.pem``, ``cert.pem``, ``key.pem``."""

    directory: Path
    ca: str | None
    client: ClientCert | None


def parse_endpoint(text: str, *, tls: bool = False) -> DaemonEndpoint:
    """Parse ``unix:///path``, ``/path``, ``tcp://host[:port]``; raise UsageError otherwise."""
    text = text.strip()
    if text.startswith("/"):
        return DaemonEndpoint(Transport.UNIX, path=text)
    parts = urlsplit(text)
    if parts.scheme == "unix":
        path = parts.path or parts.netloc
        if not path:
            raise UsageError(f"invalid endpoint {text!r}: no socket path")
        return DaemonEndpoint(Transport.UNIX, path=path)
    if parts.scheme in ("tcp", "http", "https"):
        try:
            port = parts.port
        except ValueError:
            raise UsageError(f"invalid endpoint {text!r}: bad port") from None
        if not parts.hostname:
            raise UsageError(f"invalid endpoint {text!r}: no host")
        if port is None:
            port = 2376 if tls or parts.scheme == "https" else 2375
        return DaemonEndpoint(Transport.TCP, host=parts.hostname, port=port)
    raise UsageError(
        f"unsupported endpoint {text!r}: use unix:///path or tcp://host:port"
    )


def default_endpoint(env: Mapping[str, str]) -> str:
    """``DOCKER_HOST`` when set, else the local socket."""
    return env.get("DOCKER_HOST") or f"unix://{DEFAULT_SOCKET}"


def load_cert_path(directory: str | None) -> CertPath | None:
    """Read a cert directory; UsageError when it lacks a usable key pair."""
    if not directory:
        return None
    d = Path(directory)
    if not d.is_dir():
        raise UsageError(f"certificate path {d} is not a directory")
    ca = d / "ca.pem"
    cert, key = d / "cert.pem", d / "key.pem"
    client = None
    if cert.exists() and key.exists():
        client = ClientCert(str(cert), str(key))
    elif cert.exists() or key.exists():
        raise UsageError(f"{d} has only one of cert.pem and key.pem")
    if client is None and not ca.exists():
        raise UsageError(f"{d} holds none of ca.pem, cert.pem, key.pem")
    return CertPath(d, str(ca) if ca.exists() else None, client)


# --- the facts ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SocketFacts:
    """Owner, group, mode and group members of the daemon's unix socket."""

    owner: str
    group: str
    mode: int
    group_members: tuple[str, ...]

    def evidence(self) -> Evidence:
        """owner, group, mode (octal) and group_members."""
        return (("owner", self.owner), ("group", self.group), ("mode", f"{self.mode:04o}"),
                ("group_members", ", ".join(self.group_members) or "(none)"))


@dataclass(frozen=True)
class PingFacts:
    """The daemon's answer to ``GET /_ping``."""

    status: int
    api_version: str

    def evidence(self) -> Evidence:
        """api_version, when the daemon sent one."""
        return (("api_version", self.api_version),) if self.api_version else ()


@dataclass(frozen=True)
class PlainHttpFacts:
    """Whether the Docker API answers plain HTTP."""

    plain_http: bool
    api_version: str = ""

    def evidence(self) -> Evidence:
        """plain_http, and the API version it gave away."""
        pairs = [("plain_http", bool_text(self.plain_http))]
        if self.api_version:
            pairs.append(("api_version", self.api_version))
        return tuple(pairs)


@dataclass(frozen=True)
class AnonymousTlsFacts:
    """What a TLS client without a certificate got."""

    client_verification: bool | None
    """True: refused; False: answered; None: could not tell."""
    peer_der: bytes | None = field(default=None, repr=False)
    """The server certificate the handshake showed."""

    def evidence(self) -> Evidence:
        """client_verification, when known."""
        if self.client_verification is None:
            return ()
        return (("client_verification", bool_text(self.client_verification)),)


@dataclass(frozen=True)
class ForeignCertFacts:
    """What a client certificate from a CA the daemon cannot know got."""

    accepted: bool | None
    peer_der: bytes | None = field(default=None, repr=False)

    def evidence(self) -> Evidence:
        """foreign_client_cert_accepted, when known."""
        if self.accepted is None:
            return ()
        return (("foreign_client_cert_accepted", bool_text(self.accepted)),)


@dataclass(frozen=True)
class ClientCertFacts:
    """What the ``--cert-path`` client certificate got."""

    accepted: bool | None
    tls_version: str = ""
    api_version: str = ""
    peer_der: bytes | None = field(default=None, repr=False)

    def evidence(self) -> Evidence:
        """tls_version_negotiated and api_version, when it was answered."""
        pairs = []
        if self.api_version:
            pairs.append(("api_version", self.api_version))
        if self.tls_version:
            pairs.append(("tls_version_negotiated", self.tls_version))
        return tuple(pairs)


@dataclass(frozen=True)
class DaemonEndpointFacts:
    """Everything a daemon endpoint probe established, typed (for CIS 2.7 and audit).

    A value of None means the probe could not tell (its step failed or was skipped) - never
    read it as a pass.
    """

    target: str
    transport: Transport
    reachable: bool
    failed_steps: tuple[str, ...] = ()
    socket: SocketFacts | None = None
    api_version: str = ""
    plain_http: bool | None = None
    client_verification: bool | None = None
    foreign_client_cert_accepted: bool | None = None
    tls_version_negotiated: str = ""
    tls_versions: tuple[VersionProbe, ...] = ()
    certificate: CertInfo | None = None
    chain: ChainFacts | None = None

    @property
    def tls_versions_accepted(self) -> tuple[str, ...] | None:
        """The TLS versions the endpoint accepted (None: they were not probed)."""
        if not self.tls_versions:
            return None
        return tuple(v.version for v in self.tls_versions if v.support is VersionSupport.ACCEPTED)

    @property
    def tls_authentication(self) -> bool | None:
        """True only when the daemon refused a client without a certificate and one with a
        foreign certificate; False when it answered plain HTTP or either client; None when
        the probe could not tell."""
        if self.plain_http or self.client_verification is False or self.foreign_client_cert_accepted:
            return False
        if self.client_verification is True and self.foreign_client_cert_accepted is False:
            return True
        return None


# --- the probe ------------------------------------------------------------------------------


def probe(
    endpoint: DaemonEndpoint,
    cert_path: CertPath | None = None,
    timeout: float = 5.0,
    *,
    host_root: str | None = None,
) -> ProbeRun[DaemonEndpointFacts]:
    """Probe one endpoint: the Report (steps, findings) and the typed facts.

    `host_root`: where the host's filesystem is mounted when dockguard runs in a container; the
    unix socket's owner, group and group members are then named from the host's /etc/passwd
    and /etc/group, not from the container's.
    """
    if endpoint.scheme is Transport.UNIX:
        steps = StepSequence(UNIX_STEPS)
        accounts: _Accounts = _HostAccounts(host_root) if host_root else _LocalAccounts()
        _probe_unix(endpoint, steps, timeout, accounts)
    else:
        steps = StepSequence(TCP_STEPS)
        with tempfile.TemporaryDirectory(prefix="dockguard-foreign-") as tmp:
            ctx = _TcpContext(
                endpoint,
                TlsTarget(endpoint.host, endpoint.port, str(endpoint), KIND, timeout),
                cert_path.client if cert_path else None,
                cert_path.ca if cert_path else None,
                tlsprobe.throwaway_client(Path(tmp) / "pki"),
            )
            _probe_tcp(ctx, steps)
    report = steps.report(Surface.DAEMON_PROBE, str(endpoint))
    return ProbeRun(report, _facts(endpoint, steps, report.reachable))


def endpoint_facts(
    endpoint: DaemonEndpoint, cert_path: CertPath | None = None, timeout: float = 5.0
) -> DaemonEndpointFacts:
    """Only the typed facts of `probe` (its steps and findings are in ``probe(...).report``)."""
    return probe(endpoint, cert_path, timeout).facts


def _facts(endpoint: DaemonEndpoint, steps: StepSequence, reachable: bool) -> DaemonEndpointFacts:
    ping = steps.facts(PING, PingFacts)
    plain = steps.facts(PLAIN_HTTP, PlainHttpFacts)
    anon = steps.facts(TLS_WITHOUT_CLIENT_CERT, AnonymousTlsFacts)
    alien = steps.facts(FOREIGN_CLIENT_CERT, ForeignCertFacts)
    own = steps.facts(CLIENT_CERT, ClientCertFacts)
    versions = steps.facts(tls_steps.TLS_VERSIONS, tls_steps.TlsVersionsFacts)
    cert = steps.facts(tls_steps.CERTIFICATE, tls_steps.CertificateFacts)
    api = (ping.api_version if ping else "") or (plain.api_version if plain else "") or (
        own.api_version if own else "")
    return DaemonEndpointFacts(
        target=str(endpoint),
        transport=endpoint.scheme,
        reachable=reachable,
        failed_steps=steps.failed_steps(),
        socket=steps.facts(SOCKET, SocketFacts),
        api_version=api,
        plain_http=plain.plain_http if plain else None,
        client_verification=anon.client_verification if anon else None,
        foreign_client_cert_accepted=alien.accepted if alien else None,
        tls_version_negotiated=own.tls_version if own else "",
        tls_versions=versions.versions if versions else (),
        certificate=cert.certificate if cert else None,
        chain=steps.facts(tls_steps.CERTIFICATE_CHAIN, ChainFacts),
    )


def endpoint_summary(run: ProbeRun[DaemonEndpointFacts]) -> dict[str, object]:
    """The schema-1 snapshot shape of a probe (``extras["endpoint_probe"][].summary``).

    ``tls_authentication`` is `DaemonEndpointFacts.tls_authentication`: None when the probe
    could not tell, which must never be read as a pass.
    """
    facts = run.facts
    versions = {v.version: v.label for v in facts.tls_versions} or None
    return {
        "target": facts.target,
        "transport": facts.transport.value,
        "reachable": facts.reachable,
        "plain_http": facts.plain_http,
        "client_verification": facts.client_verification,
        "foreign_client_cert_accepted": facts.foreign_client_cert_accepted,
        "tls_authentication": facts.tls_authentication,
        "tls_versions": versions,
        "steps": {s.name: s.status.value for s in run.report.steps},
        "failed_steps": list(facts.failed_steps),
        "findings": [
            {"id": f.id, "severity": f.severity.value, "title": f.title} for f in run.report.findings
        ],
    }


# --- unix socket ----------------------------------------------------------------------------


def group_members(gid: int) -> tuple[str, ...]:
    """Accounts in group `gid`: explicit members plus users whose primary group it is."""
    members: set[str] = set()
    with contextlib.suppress(KeyError):
        members.update(grp.getgrgid(gid).gr_mem)
    members.update(p.pw_name for p in pwd.getpwall() if p.pw_gid == gid)
    return tuple(sorted(members))


class _Accounts(Protocol):
    def user(self, uid: int) -> str: ...

    def group(self, gid: int) -> str: ...

    def members(self, gid: int) -> tuple[str, ...]: ...


class _LocalAccounts:
    """User and group names of the system dockguard runs on."""

    def user(self, uid: int) -> str:
        try:
            return pwd.getpwuid(uid).pw_name
        except KeyError:
            return str(uid)

    def group(self, gid: int) -> str:
        try:
            return grp.getgrgid(gid).gr_name
        except KeyError:
            return str(gid)

    def members(self, gid: int) -> tuple[str, ...]:
        return group_members(gid)


class _HostAccounts:
    """User and group names from a mounted host's /etc/passwd and /etc/group."""

    def __init__(self, root: str) -> None:
        from dockguard.collect.hostfs import HostFS, parse_group, parse_passwd

        fs = HostFS(root)

        def read(path: str) -> str:
            try:
                return fs.read_text(path)
            except OSError:
                return ""  # numeric ids are shown then, as for an unknown id on this system

        self.users = parse_passwd(read("/etc/passwd"))
        self.groups = parse_group(read("/etc/group"))

    def user(self, uid: int) -> str:
        return next((u.name for u in self.users if u.uid == uid), str(uid))

    def group(self, gid: int) -> str:
        return next((name for name, (g, _) in self.groups.items() if g == gid), str(gid))

    def members(self, gid: int) -> tuple[str, ...]:
        explicit = {m for _, (g, mem) in self.groups.items() if g == gid for m in mem}
        return tuple(sorted(explicit | {u.name for u in self.users if u.gid == gid}))


def _probe_unix(endpoint: DaemonEndpoint, steps: StepSequence, timeout: float, accounts: _Accounts) -> None:
    if steps.add(socket_step(endpoint, accounts)).halt:
        return
    steps.add(ping_step(endpoint, timeout))


def socket_step(endpoint: DaemonEndpoint, accounts: _Accounts) -> StepResult[SocketFacts]:
    """Step ``socket``: owner, group, mode and group members of the unix socket."""
    obj, path = str(endpoint), endpoint.path
    try:
        st = os.stat(path)
    except OSError as exc:
        return failed(SOCKET, f"cannot stat {path}: {exc.strerror}", halt="no socket")
    if not stat.S_ISSOCK(st.st_mode):
        return failed(SOCKET, f"{path} is not a socket", halt="no socket")
    mode = stat.S_IMODE(st.st_mode)
    facts = SocketFacts(accounts.user(st.st_uid), accounts.group(st.st_gid), mode,
                        accounts.members(st.st_gid))
    owner, group, members = facts.owner, facts.group, facts.group_members
    found = []
    if mode & 0o006:
        found.append(_finding(
            "socket-world-accessible", Severity.CRITICAL,
            f"the daemon socket is accessible by every local user (mode {mode:04o})", obj,
            description="Whoever can write to the socket controls the daemon, i.e. is root.",
            remediation=f"chmod 660 {path}",
        ))
    if st.st_uid != 0:
        found.append(_finding(
            "socket-owner", Severity.HIGH, f"the daemon socket is owned by {owner}, not root", obj,
            remediation=f"chown root:docker {path}",
        ))
    if mode & 0o060 and group not in ("docker", "root"):
        found.append(_finding(
            "socket-group", Severity.MEDIUM,
            f"the daemon socket is group-accessible to {group!r}, not docker", obj,
            remediation=f"chown root:docker {path}",
        ))
    if mode & 0o060 and members:
        found.append(_finding(
            "socket-group-members", Severity.LOW,
            f"{len(members)} account(s) in group {group} are root-equivalent: " + ", ".join(members),
            obj,
            description="Members of the socket's group can control the daemon.",
            remediation="Keep the group to the administrators who need it.",
            evidence=evidence(members=list(members)),
        ))
    return completed(SOCKET, f"{owner}:{group} {mode:04o}", facts, tuple(found))


def ping_step(endpoint: DaemonEndpoint, timeout: float) -> StepResult[PingFacts]:
    """Step ``ping``: ``GET /_ping`` over the socket."""
    try:
        answer = _unix_get(endpoint.path, "/_ping", timeout)
    except OSError as exc:
        return failed(PING, f"cannot talk to the socket: {exc.strerror or exc}")
    except http.client.HTTPException as exc:
        return failed(PING, f"not an HTTP answer: {shown(repr(exc))}")
    api = answer.headers.get("api-version", "")
    return completed(PING, f"HTTP {answer.status}" + (f", API {api}" if api else ""),
                     PingFacts(answer.status, api))


def _unix_get(path: str, url: str, timeout: float) -> tlsprobe.HttpAnswer:
    seconds = deadline_seconds()
    dl = Deadline(seconds, path, raise_on_expiry=False)
    try:
        with dl, socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            dl.watch(sock)
            sock.settimeout(dl.timeout(timeout))
            sock.connect(path)
            tlsprobe.send_request(sock, "docker", url)
            answer = tlsprobe.read_answer(sock)
    except (OSError, http.client.HTTPException):
        if not dl.expired:
            raise
    if dl.expired:
        raise TimeoutError(f"no complete answer within the {seconds:g} s deadline")
    return answer


# --- TCP ------------------------------------------------------------------------------------

# The server turned us away after the handshake: with an alert, or by hanging up unanswered.
_REFUSED = (HandshakeOutcome.CLIENT_CERT_REJECTED, HandshakeOutcome.CLOSED_AFTER_HANDSHAKE)


@dataclass(frozen=True)
class _TcpContext:
    endpoint: DaemonEndpoint
    tls: TlsTarget
    client: ClientCert | None
    """The ``--cert-path`` client certificate."""
    cafile: str | None
    foreign: ClientCert
    """A client certificate from a brand-new CA."""

    def attempt(self, client: ClientCert | None = None) -> tlsprobe.TlsAttempt:
        return tlsprobe.attempt(self.tls.host, self.tls.port, client=client, path="/_ping",
                                timeout=self.tls.timeout)


def _probe_tcp(ctx: _TcpContext, steps: StepSequence) -> None:
    if steps.add(plain_http_step(ctx)).halt:
        return
    anon = steps.add(tls_without_client_cert_step(ctx))
    if anon.halt:
        return
    no_verify = anon.facts is not None and anon.facts.client_verification is False
    alien = steps.add(foreign_client_cert_step(ctx, no_verify=no_verify))
    own = steps.add(client_cert_step(ctx))
    der = next((r.facts.peer_der for r in (anon, alien, own) if r.facts and r.facts.peer_der), None)
    seen = tls_steps.read_certificate(der, "no handshake completed, so no certificate was seen")
    steps.add(certificate_chain_step(ctx, seen.info))
    steps.add(tls_steps.tls_versions(ctx.tls, ctx.client or ctx.foreign))
    steps.add(tls_steps.certificate(ctx.tls, seen))


def plain_http_step(ctx: _TcpContext) -> StepResult[PlainHttpFacts]:
    """Step ``plain-http``: ``GET /_ping`` without TLS; an answer with ``Api-Version`` is an
    open API."""
    host, port, obj = ctx.tls.host, ctx.tls.port, ctx.tls.obj
    closed = PlainHttpFacts(False)
    try:
        answer = tlsprobe.plain_http(host, port, "/_ping", ctx.tls.timeout)
    except (ConnectionRefusedError, TimeoutError, socket.gaierror) as exc:
        return failed(PLAIN_HTTP, f"cannot connect to {host}:{port}: {_why(exc)}", halt="target unreachable")
    except OSError as exc:
        if isinstance(exc, ConnectionResetError | BrokenPipeError):
            return completed(PLAIN_HTTP, f"connection closed without an HTTP answer ({_why(exc)})", closed)
        return failed(PLAIN_HTTP, f"cannot connect to {host}:{port}: {_why(exc)}", halt="target unreachable")
    except http.client.HTTPException as exc:
        return completed(PLAIN_HTTP, f"no HTTP answer ({type(exc).__name__}): not plain HTTP", closed)
    if tlsprobe.is_tls_refusal_of_plain_http(answer):
        return completed(PLAIN_HTTP, "refused: the port speaks TLS", closed)
    if "api-version" not in answer.headers:
        return completed(PLAIN_HTTP, f"HTTP {answer.status} but no Docker API", closed)
    api = answer.headers["api-version"]
    found = _finding(
        "plain-http", Severity.CRITICAL,
        "the Docker API answers plain HTTP without any authentication", obj,
        description="Anyone who can reach this port controls the daemon, i.e. is root on the host.",
        remediation="Listen on TCP only with --tlsverify and certificates "
        "(`dockguard daemon tls-init`), or not at all.",
        evidence=evidence(status=answer.status),
    )
    return completed(PLAIN_HTTP, f"HTTP {answer.status}, API {api}", PlainHttpFacts(True, api), (found,),
                     halt="the endpoint speaks plain HTTP")


def tls_without_client_cert_step(ctx: _TcpContext) -> StepResult[AnonymousTlsFacts]:
    """Step ``tls-without-client-cert``: handshake and a request without a client certificate
    (with TLS 1.3 the refusal only arrives with the first read)."""
    anon = ctx.attempt()
    if anon.outcome is HandshakeOutcome.ANSWERED:
        assert anon.answer is not None
        found = _finding(
            "tls-no-client-verify", Severity.CRITICAL,
            "TLS without client verification: the daemon answers any client", ctx.tls.obj,
            description="The daemon runs with --tls but not --tlsverify; TLS only encrypts, "
            "anyone who can reach the port controls the daemon.",
            remediation="Run dockerd with --tlsverify and --tlscacert.",
            evidence=evidence(status=anon.answer.status, tls_version=anon.version),
        )
        return completed(TLS_WITHOUT_CLIENT_CERT, f"answered HTTP {anon.answer.status} over {anon.version}",
                         AnonymousTlsFacts(False, anon.peer_der), (found,))
    if anon.outcome in _REFUSED:
        return completed(TLS_WITHOUT_CLIENT_CERT, f"refused: {anon.reason}",
                         AnonymousTlsFacts(True, anon.peer_der))
    no_tls = anon.outcome in (HandshakeOutcome.UNREACHABLE, HandshakeOutcome.NOT_TLS)
    return failed(TLS_WITHOUT_CLIENT_CERT, f"{anon.outcome.value}: {anon.reason}",
                  AnonymousTlsFacts(None, anon.peer_der), halt="no TLS handshake possible" if no_tls else "")


def foreign_client_cert_step(ctx: _TcpContext, *, no_verify: bool) -> StepResult[ForeignCertFacts]:
    """Step ``foreign-client-cert``: a client certificate from a CA the daemon cannot know.

    `no_verify`: the daemon already answered a client without any certificate.
    """
    alien = ctx.attempt(ctx.foreign)
    if alien.outcome is HandshakeOutcome.ANSWERED:
        assert alien.answer is not None
        facts = ForeignCertFacts(True, alien.peer_der)
        if no_verify:
            return completed(FOREIGN_CLIENT_CERT, "accepted (no client verification at all)", facts)
        found = _finding(
            "foreign-client-cert-accepted", Severity.CRITICAL,
            "a client certificate from a foreign CA is accepted", ctx.tls.obj,
            description="Client certificates are requested but not verified against the daemon's "
            "CA; anyone can make one.",
            remediation="Run dockerd with --tlsverify --tlscacert=<your CA>.",
        )
        return completed(FOREIGN_CLIENT_CERT, f"accepted: HTTP {alien.answer.status}", facts, (found,))
    if alien.outcome in _REFUSED:
        return completed(FOREIGN_CLIENT_CERT, f"refused: {alien.reason}", ForeignCertFacts(False, alien.peer_der))
    return failed(FOREIGN_CLIENT_CERT, f"{alien.outcome.value}: {alien.reason}",
                  ForeignCertFacts(None, alien.peer_der))


def client_cert_step(ctx: _TcpContext) -> StepResult[ClientCertFacts]:
    """Step ``client-cert``: the ``--cert-path`` client certificate must be accepted."""
    if ctx.client is None:
        return skipped(CLIENT_CERT, "no client certificate given (--cert-path / DOCKER_CERT_PATH)")
    own = ctx.attempt(ctx.client)
    if own.outcome is HandshakeOutcome.ANSWERED:
        assert own.answer is not None
        facts = ClientCertFacts(True, own.version or "", own.answer.headers.get("api-version", ""),
                                own.peer_der)
        return completed(CLIENT_CERT, f"accepted: HTTP {own.answer.status} over {own.version}", facts)
    if own.outcome in _REFUSED:
        return completed(CLIENT_CERT, f"the given client certificate was refused: {own.reason}",
                         ClientCertFacts(False, peer_der=own.peer_der))
    return failed(CLIENT_CERT, f"{own.outcome.value}: {own.reason}", ClientCertFacts(None, peer_der=own.peer_der))


def certificate_chain_step(ctx: _TcpContext, leaf: CertInfo | None) -> StepResult[ChainFacts]:
    """Step ``certificate-chain``: the server chain against ``ca.pem`` of ``--cert-path``."""
    if ctx.cafile is None:
        return skipped(tls_steps.CERTIFICATE_CHAIN, "no CA given (ca.pem in --cert-path)")
    return tls_steps.certificate_chain(ctx.tls, cafile=ctx.cafile, client=ctx.client, leaf=leaf)


def _why(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return str(exc) if "deadline" in str(exc) else "timed out"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__

