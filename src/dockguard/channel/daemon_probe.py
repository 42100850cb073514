"""``dockguard daemon probe``: how well is the Docker daemon's API endpoint protected?

For a unix socket: owner, group, mode and who is in that group.  For TCP, in order: does it
answer plain HTTP, does TLS let us in without a client certificate, is a client certificate
from a foreign CA accepted, is the given client certificate accepted, which TLS versions are
accepted, and what does the server certificate look like.  Each step records whether it ran;
a refused connection is a FAILED step, never a clean result.
"""

from __future__ import annotations

import contextlib
import grp
import http.client
import os
import pwd
import socket
import stat
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from dockguard.channel import tlsprobe
from dockguard.channel.bounded_http import Deadline, deadline_seconds, shown
from dockguard.channel.result import ProbeResult, StepLog, make_finding
from dockguard.errors import UsageError
from dockguard.model import Finding, FindingKind, Severity, StepStatus, evidence

DEFAULT_SOCKET = "/var/run/docker.sock"
KIND = FindingKind.ENDPOINT


@dataclass(frozen=True)
class DaemonEndpoint:
    """A daemon endpoint: a unix socket path or a TCP host and port."""

    scheme: str
    path: str = ""
    host: str = ""
    port: int = 0

    def __str__(self) -> str:
        if self.scheme == "unix":
            return f"unix://{self.path}"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"tcp://{host}:{self.port}"


@dataclass(frozen=True)
class CertPath:
    """A DOCKER_CERT_PATH-style directory: ``ca.pem``, ``cert.pem``, ``key.pem``."""

    directory: Path
    ca: str | None
    client: tlsprobe.ClientCert | None


def parse_endpoint(text: str, *, tls: bool = False) -> DaemonEndpoint:
    """Parse ``unix:///path``, ``/path``, ``tcp://host[:port]``; raise UsageError otherwise."""
    text = text.strip()
    if text.startswith("/"):
        return DaemonEndpoint("unix", path=text)
    parts = urlsplit(text)
    if parts.scheme == "unix":
        path = parts.path or parts.netloc
        if not path:
            raise UsageError(f"invalid endpoint {text!r}: no socket path")
        return DaemonEndpoint("unix", path=path)
    if parts.scheme in ("tcp", "http", "https"):
        try:
            port = parts.port
        except ValueError:
            raise UsageError(f"invalid endpoint {text!r}: bad port") from None
        if not parts.hostname:
            raise UsageError(f"invalid endpoint {text!r}: no host")
        if port is None:
            port = 2376 if tls or parts.scheme == "https" else 2375
        return DaemonEndpoint("tcp", host=parts.hostname, port=port)
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
        client = tlsprobe.ClientCert(str(cert), str(key))
    elif cert.exists() or key.exists():
        raise UsageError(f"{d} has only one of cert.pem and key.pem")
    if client is None and not ca.exists():
        raise UsageError(f"{d} holds none of ca.pem, cert.pem, key.pem")
    return CertPath(d, str(ca) if ca.exists() else None, client)


def probe(
    endpoint: DaemonEndpoint,
    cert_path: CertPath | None = None,
    timeout: float = 5.0,
    *,
    host_root: str | None = None,
) -> ProbeResult:
    """Probe one endpoint and return steps, findings and facts.

    `host_root`: where the host's filesystem is mounted when dockguard runs in a container; the
    unix socket's owner, group and group members are then named from the host's /etc/passwd
    and /etc/group, not from the container's.
    """
    started = time.time()
    log = StepLog()
    log.facts["transport"] = endpoint.scheme
    if endpoint.scheme == "unix":
        _probe_unix(endpoint, log, timeout, _HostAccounts(host_root) if host_root else None)
    else:
        _probe_tcp(endpoint, cert_path, log, timeout)
    return log.result(str(endpoint), KIND, started)


def _finding(code: str, severity: Severity, title: str, obj: str, **kw: Any) -> Finding:
    return make_finding(KIND, code, severity, title, obj, **kw)


# --- unix socket -------------------------------------------------------------------------


def group_members(gid: int) -> tuple[str, ...]:
    """Accounts in group `gid`: explicit members plus users whose primary group it is."""
    members: set[str] = set()
    with contextlib.suppress(KeyError):
        members.update(grp.getgrgid(gid).gr_mem)
    members.update(p.pw_name for p in pwd.getpwall() if p.pw_gid == gid)
    return tuple(sorted(members))


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


def _probe_unix(endpoint: DaemonEndpoint, log: StepLog, timeout: float, host: _HostAccounts | None = None) -> None:
    obj = str(endpoint)
    try:
        st = os.stat(endpoint.path)
    except OSError as exc:
        log.failed("socket", f"cannot stat {endpoint.path}: {exc.strerror}")
        log.skipped("ping", "no socket")
        return
    if not stat.S_ISSOCK(st.st_mode):
        log.failed("socket", f"{endpoint.path} is not a socket")
        log.skipped("ping", "no socket")
        return
    mode = stat.S_IMODE(st.st_mode)
    owner = host.user(st.st_uid) if host else _user(st.st_uid)
    group = host.group(st.st_gid) if host else _group(st.st_gid)
    members = host.members(st.st_gid) if host else group_members(st.st_gid)
    log.facts.update(
        {"owner": owner, "group": group, "mode": f"{mode:04o}", "group_members": list(members)}
    )
    log.completed("socket", f"{owner}:{group} {mode:04o}")
    if mode & 0o006:
        log.add(
            _finding(
                "socket-world-accessible",
                Severity.CRITICAL,
                f"the daemon socket is accessible by every local user (mode {mode:04o})",
                obj,
                description="Whoever can write to the socket controls the daemon, i.e. is root.",
                remediation=f"chmod 660 {endpoint.path}",
            )
        )
    if st.st_uid != 0:
        log.add(
            _finding(
                "socket-owner",
                Severity.HIGH,
                f"the daemon socket is owned by {owner}, not root",
                obj,
                remediation=f"chown root:docker {endpoint.path}",
            )
        )
    if mode & 0o060 and group not in ("docker", "root"):
        log.add(
            _finding(
                "socket-group",
                Severity.MEDIUM,
                f"the daemon socket is group-accessible to {group!r}, not docker",
                obj,
                remediation=f"chown root:docker {endpoint.path}",
            )
        )
    if mode & 0o060 and members:
        log.add(
            _finding(
                "socket-group-members",
                Severity.LOW,
                f"{len(members)} account(s) in group {group} are root-equivalent: "
                + ", ".join(members),
                obj,
                description="Members of the socket's group can control the daemon.",
                remediation="Keep the group to the administrators who need it.",
                evidence=evidence(members=list(members)),
            )
        )
    try:
        answer = _unix_get(endpoint.path, "/_ping", timeout)
    except OSError as exc:
        log.failed("ping", f"cannot talk to the socket: {exc.strerror or exc}")
        return
    except http.client.HTTPException as exc:
        log.failed("ping", f"not an HTTP answer: {shown(repr(exc))}")
        return
    api = answer.headers.get("api-version", "")
    log.facts["api_version"] = api
    log.completed("ping", f"HTTP {answer.status}" + (f", API {api}" if api else ""))


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


def _user(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _group(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


# --- TCP ---------------------------------------------------------------------------------

# The server turned us away after the handshake: with an alert, or by hanging up unanswered.
_REFUSED = (tlsprobe.HandshakeOutcome.CLIENT_CERT_REJECTED, tlsprobe.HandshakeOutcome.CLOSED_AFTER_HANDSHAKE)

_TCP_STEPS = (
    "plain-http",
    "tls-without-client-cert",
    "foreign-client-cert",
    "client-cert",
    "certificate-chain",
    "tls-versions",
    "certificate",
)


def _probe_tcp(
    endpoint: DaemonEndpoint, cert_path: CertPath | None, log: StepLog, timeout: float
) -> None:
    with tempfile.TemporaryDirectory(prefix="dockguard-foreign-") as tmp:
        foreign = tlsprobe.throwaway_client(Path(tmp) / "pki")
        _probe_tcp_steps(endpoint, cert_path, foreign, log, timeout)


def _probe_tcp_steps(
    endpoint: DaemonEndpoint,
    cert_path: CertPath | None,
    foreign: tlsprobe.ClientCert,
    log: StepLog,
    timeout: float,
) -> None:
    host, port, obj = endpoint.host, endpoint.port, str(endpoint)
    client = cert_path.client if cert_path else None
    cafile = cert_path.ca if cert_path else None

    # 1. Plain HTTP.
    try:
        answer = tlsprobe.plain_http(host, port, "/_ping", timeout)
    except (ConnectionRefusedError, TimeoutError, socket.gaierror) as exc:
        log.failed("plain-http", f"cannot connect to {host}:{port}: {_why(exc)}")
        log.skip_rest(_TCP_STEPS, "target unreachable")
        return
    except OSError as exc:
        if isinstance(exc, ConnectionResetError | BrokenPipeError):
            log.completed("plain-http", f"connection closed without an HTTP answer ({_why(exc)})")
        else:
            log.failed("plain-http", f"cannot connect to {host}:{port}: {_why(exc)}")
            log.skip_rest(_TCP_STEPS, "target unreachable")
            return
    except http.client.HTTPException as exc:
        log.completed("plain-http", f"no HTTP answer ({type(exc).__name__}): not plain HTTP")
    else:
        if tlsprobe.is_tls_refusal_of_plain_http(answer):
            log.completed("plain-http", "refused: the port speaks TLS")
        elif "api-version" in answer.headers:
            log.facts["plain_http"] = True
            log.facts["api_version"] = answer.headers["api-version"]
            log.completed("plain-http", f"HTTP {answer.status}, API {log.facts['api_version']}")
            log.add(
                _finding(
                    "plain-http",
                    Severity.CRITICAL,
                    "the Docker API answers plain HTTP without any authentication",
                    obj,
                    description="Anyone who can reach this port controls the daemon, i.e. is "
                    "root on the host.",
                    remediation="Listen on TCP only with --tlsverify and certificates "
                    "(`dockguard daemon tls-init`), or not at all.",
                    evidence=evidence(status=answer.status),
                )
            )
            log.skip_rest(_TCP_STEPS, "the endpoint speaks plain HTTP")
            return
        else:
            log.completed("plain-http", f"HTTP {answer.status} but no Docker API")
    log.facts["plain_http"] = False

    # 2. TLS without a client certificate: send a request and read the answer (TLS 1.3 trap).
    anon = tlsprobe.attempt(host, port, path="/_ping", timeout=timeout)
    der = anon.peer_der
    no_verify = False
    if anon.outcome is tlsprobe.HandshakeOutcome.ANSWERED:
        assert anon.answer is not None
        no_verify = True
        log.facts["client_verification"] = False
        log.completed(
            "tls-without-client-cert", f"answered HTTP {anon.answer.status} over {anon.version}"
        )
        log.add(
            _finding(
                "tls-no-client-verify",
                Severity.CRITICAL,
                "TLS without client verification: the daemon answers any client",
                obj,
                description="The daemon runs with --tls but not --tlsverify; TLS only encrypts, "
                "anyone who can reach the port controls the daemon.",
                remediation="Run dockerd with --tlsverify and --tlscacert.",
                evidence=evidence(status=anon.answer.status, tls_version=anon.version),
            )
        )
    elif anon.outcome in _REFUSED:
        log.facts["client_verification"] = True
        log.completed("tls-without-client-cert", f"refused: {anon.reason}")
    else:
        log.failed("tls-without-client-cert", f"{anon.outcome.value}: {anon.reason}")
        if anon.outcome in (tlsprobe.HandshakeOutcome.UNREACHABLE, tlsprobe.HandshakeOutcome.NOT_TLS):
            log.skip_rest(_TCP_STEPS, "no TLS handshake possible")
            return

    # 3. A client certificate from a CA the daemon cannot know.
    alien = tlsprobe.attempt(host, port, client=foreign, path="/_ping", timeout=timeout)
    if alien.outcome is tlsprobe.HandshakeOutcome.ANSWERED:
        assert alien.answer is not None
        log.facts["foreign_client_cert_accepted"] = True
        if no_verify:
            log.completed("foreign-client-cert", "accepted (no client verification at all)")
        else:
            log.completed("foreign-client-cert", f"accepted: HTTP {alien.answer.status}")
            log.add(
                _finding(
                    "foreign-client-cert-accepted",
                    Severity.CRITICAL,
                    "a client certificate from a foreign CA is accepted",
                    obj,
                    description="Client certificates are requested but not verified against "
                    "the daemon's CA; anyone can make one.",
                    remediation="Run dockerd with --tlsverify --tlscacert=<your CA>.",
                )
            )
    elif alien.outcome in _REFUSED:
        log.facts["foreign_client_cert_accepted"] = False
        log.completed("foreign-client-cert", f"refused: {alien.reason}")
    else:
        log.failed("foreign-client-cert", f"{alien.outcome.value}: {alien.reason}")
    der = der or alien.peer_der

    # 4. The given client certificate.
    if client is None:
        log.skipped("client-cert", "no client certificate given (--cert-path / DOCKER_CERT_PATH)")
    else:
        own = tlsprobe.attempt(host, port, client=client, path="/_ping", timeout=timeout)
        der = der or own.peer_der
        if own.outcome is tlsprobe.HandshakeOutcome.ANSWERED:
            assert own.answer is not None
            api = own.answer.headers.get("api-version", "")
            if api:
                log.facts["api_version"] = api
            log.completed("client-cert", f"accepted: HTTP {own.answer.status} over {own.version}")
            log.facts["tls_version_negotiated"] = own.version
        elif own.outcome in _REFUSED:
            log.completed("client-cert", f"the given client certificate was refused: {own.reason}")
        else:
            log.failed("client-cert", f"{own.outcome.value}: {own.reason}")

    cert_error = ""
    try:
        info = tlsprobe.parse_certificate(der) if der else None
    except tlsprobe.CertificateError as exc:
        info, cert_error = None, str(exc)

    # 5. Chain to the given CA.
    if cafile is None:
        log.skipped("certificate-chain", "no CA given (ca.pem in --cert-path)")
    else:
        chain, weak = tlsprobe.verify_chain(
            host, port, client=client, cafile=cafile, timeout=timeout
        )
        verified = f"verifies against {cafile}" + (
            f" only at OpenSSL security level 0 ({weak})" if weak else ""
        )
        if chain.outcome is tlsprobe.HandshakeOutcome.ANSWERED:
            log.completed("certificate-chain", verified)
        elif chain.outcome is tlsprobe.HandshakeOutcome.SERVER_CERT_UNTRUSTED:
            log.completed("certificate-chain", chain.verify_message or chain.reason)
            found = tlsprobe.chain_finding(chain, cafile, obj, KIND, info)
            if found:
                log.add(found)
        elif chain.outcome is tlsprobe.HandshakeOutcome.CLIENT_CERT_REJECTED:
            # TLS 1.2: the server judged our certificate, so it accepted its own chain check.
            log.completed("certificate-chain", verified)
        else:
            log.failed("certificate-chain", f"{chain.outcome.value}: {chain.reason}")

    # 6. Versions.
    versions = tlsprobe.probe_versions(host, port, client=client or foreign, timeout=timeout)
    log.facts["tls_versions"] = versions
    if any(v in ("accepted", "refused") for v in versions.values()):
        accepted = [v for v, r in versions.items() if r == "accepted"]
        log.completed("tls-versions", "accepted: " + (", ".join(accepted) or "none"))
        for f in tlsprobe.version_findings(versions, obj, KIND):
            log.add(f)
    else:
        log.failed("tls-versions", "no version could be classified")

    # 7. The server certificate.
    if info is not None:
        log.facts["certificate"] = _cert_facts(info)
        log.completed("certificate", f"{info.subject}, {info.days_left} days left")
        for f in tlsprobe.certificate_findings(info, host, obj, KIND):
            log.add(f)
    else:
        log.failed("certificate",
                   cert_error or "no handshake completed, so no certificate was seen")


def _cert_facts(info: tlsprobe.CertInfo) -> dict[str, Any]:
    return {
        "subject": info.subject,
        "issuer": info.issuer,
        "not_after": info.not_after,
        "days_left": info.days_left,
        "san": list(info.dns_names + info.ip_addresses),
        "key": f"{info.key_type} {info.key_bits}",
        "signature": info.signature_algorithm,
        "eku": list(info.ext_key_usage) if info.ext_key_usage is not None else None,
    }


def _why(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return str(exc) if "deadline" in str(exc) else "timed out"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


def endpoint_summary(result: ProbeResult) -> dict[str, Any]:
    """A plain dict for CIS 2.7 (``options.extras["endpoint_probe"]``).

    ``tls_authentication`` is True only when the probe saw the daemon refuse a client without a
    certificate and refuse a foreign one; False when it saw it answer either; None when the
    probe could not tell (steps failed) - which must never be read as a pass.
    """
    steps = {s.name: s.status.value for s in result.steps}
    facts = result.facts
    verdict: bool | None
    if (
        facts.get("plain_http")
        or facts.get("client_verification") is False
        or facts.get("foreign_client_cert_accepted") is True
    ):
        verdict = False
    elif (
        facts.get("client_verification") is True
        and facts.get("foreign_client_cert_accepted") is False
    ):
        verdict = True
    else:
        verdict = None
    return {
        "target": result.target,
        "transport": facts.get("transport"),
        "reachable": result.reachable,
        "plain_http": facts.get("plain_http"),
        "client_verification": facts.get("client_verification"),
        "foreign_client_cert_accepted": facts.get("foreign_client_cert_accepted"),
        "tls_authentication": verdict,
        "tls_versions": facts.get("tls_versions"),
        "steps": steps,
        "failed_steps": [s.name for s in result.steps if s.status is StepStatus.FAILED],
        "findings": [
            {"id": f.id, "severity": f.severity.value, "title": f.title} for f in result.findings
        ],
    }
