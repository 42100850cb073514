"""``dockguard registry probe URL``: transport, authentication and anonymous access.

Steps: connect (TLS or plain HTTP), TLS versions / certificate / chain, the ``/v2/`` challenge
and API version header, the given credentials, an anonymous token (Bearer registries), then
what an anonymous client may do: list the catalog, list tags and pull a manifest, and - only
with ``--try-push`` - start a blob upload (cancelled at once).

The anonymous steps run with TLS verification off on purpose (the certificate steps judge the
certificate), so credentials are kept apart: they are sent only in requests that verify TLS
(against ``--ca-cert`` or the system store, host name included), only when the
certificate-chain step verified, and never over plain HTTP - except to a loopback registry or
token realm when the caller allows it explicitly (``allow_plain_http_credentials``).  Every
request has a total deadline (`dockguard.channel.bounded_http`), every body read is capped at
MAX_BODY, redirects are not followed and their bodies never read.
"""

from __future__ import annotations

import base64
import re
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from http.client import HTTPException
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit

import requests

from dockguard.channel import tlsprobe
from dockguard.channel.bounded_http import (
    BoundedSession,
    Deadline,
    deadline_seconds,
    read_capped,
    short,
    shown,
)
from dockguard.channel.registry_api import (
    ACCEPT,
    Credentials,
    check_realm,
    is_insecure_host,
    parse_challenge,
)
from dockguard.channel.result import ProbeResult, StepLog, make_finding
from dockguard.errors import OperationalError, UsageError
from dockguard.inputs import InputError, parse_json
from dockguard.model import Finding, FindingKind, Severity, evidence

KIND = FindingKind.REGISTRY
PUSH_REPOSITORY = "dockguard-probe/push-test"
MAX_BODY = 1024 * 1024
"""Bytes read from one 2xx answer (catalog, tags, token); other answers' bodies are not read."""
MAX_LISTED = 1000
"""Repository names and tags kept from one answer."""
_NAME_RE = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$")
_TAG_RE = re.compile(r"^[\w][\w.-]{0,127}$")

_STEPS = (
    "connect",
    "tls-versions",
    "certificate",
    "certificate-chain",
    "api",
    "credentials",
    "anonymous-token",
    "anonymous-catalog",
    "anonymous-pull",
    "anonymous-push",
)


@dataclass(frozen=True)
class RegistryTarget:
    """Where the registry is; `scheme` is None when the user did not say."""

    scheme: str | None
    host: str
    port: int

    @property
    def netloc(self) -> str:
        """``host:port`` as used in URLs."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def parse_target(text: str) -> RegistryTarget:
    """``https://host[:port]``, ``http://host[:port]`` or ``host[:port]``."""
    raw = text.strip()
    scheme: str | None = None
    if "://" in raw:
        scheme = raw.split("://", 1)[0].lower()
        if scheme not in ("http", "https"):
            raise UsageError(f"unsupported registry URL {text!r}: use http:// or https://")
    else:
        raw = f"//{raw}"
    parts = urlsplit(raw)
    try:
        port = parts.port
    except ValueError:
        raise UsageError(f"invalid port in {text!r}") from None
    if not parts.hostname or parts.path.strip("/") not in ("", "v2"):
        raise UsageError(f"invalid registry URL {text!r}: expected [scheme://]host[:port]")
    if port is None:
        port = 80 if scheme == "http" else 443
    return RegistryTarget(scheme, parts.hostname, port)


class ProbeHttpError(OperationalError):
    """One probe request failed (transport, deadline, oversized answer)."""


class _Http:
    """Bounded requests to the registry; TLS verification is off unless a call asks for it."""

    def __init__(self, base: str, timeout: float, deadline: float) -> None:
        self.base = base
        self.deadline = deadline
        # Directly, like the TLS steps: a proxy in between would be probed instead.
        self.http = BoundedSession("dockguard-probe", timeout, use_proxies=False)

    def call(
        self,
        method: str,
        path: str,
        headers: dict[str, str] | None = None,
        *,
        url: str | None = None,
        verify: bool | str = False,
    ) -> tuple[int, Mapping[str, str], bytes]:
        """(status, headers, body); the body only of a 2xx answer, at most MAX_BODY bytes."""
        target = url if url is not None else self.base + path
        what = f"{method} {shown(target)}"
        try:
            with Deadline(self.deadline, what) as dl:
                # Unverified by default on purpose: the certificate-chain step reports on trust.
                response = self.http.open(method, target, dl, headers=headers, verify=verify)
                with response:
                    body = b""
                    if 200 <= response.status_code < 300 and method != "HEAD":
                        body = read_capped(response, MAX_BODY, what)
                    return response.status_code, response.headers, body
        except requests.RequestException as exc:
            raise ProbeHttpError(f"{what}: {short(exc)}") from None

    def close(self) -> None:
        """Close pooled connections."""
        self.http.close()


def _basic(credentials: Credentials) -> str:
    raw = f"{credentials.username}:{credentials.password}".encode()
    return "Basic " + base64.b64encode(raw).decode()


def probe(
    url: str,
    *,
    credentials: Credentials | None = None,
    ca_cert: str | None = None,
    try_push: bool = False,
    repository: str | None = None,
    timeout: float = 5.0,
    allow_plain_http_credentials: bool = False,
    deadline: float | None = None,
) -> ProbeResult:
    """Probe one registry; see the module docstring for the steps.

    `deadline` is the total seconds per request (default: ``$DOCKGUARD_HTTP_DEADLINE`` or 60).
    """
    target = parse_target(url)
    if repository is not None and not _NAME_RE.match(repository):
        raise UsageError(f"invalid repository name {repository!r}")
    options = _Options(
        credentials, ca_cert, try_push, repository, timeout,
        deadline_seconds() if deadline is None else deadline, allow_plain_http_credentials,
    )
    started = time.time()
    log = StepLog()
    with tempfile.TemporaryDirectory(prefix="dockguard-foreign-") as tmp:
        foreign = tlsprobe.throwaway_client(Path(tmp) / "pki")
        _run(target, options, foreign, log)
    return log.result(url, KIND, started)


@dataclass(frozen=True)
class _Options:
    credentials: Credentials | None
    ca_cert: str | None
    try_push: bool
    repository: str | None
    timeout: float
    deadline: float
    allow_plain_http_credentials: bool

    @property
    def trusted(self) -> bool | str:
        """`verify` for requests that carry credentials."""
        return self.ca_cert or True


def _finding(code: str, severity: Severity, title: str, obj: str, **kw: Any) -> Finding:
    return make_finding(KIND, code, severity, title, obj, **kw)


def _run(
    target: RegistryTarget,
    opts: _Options,
    foreign: tlsprobe.ClientCert,
    log: StepLog,
) -> None:
    host, port = target.host, target.port
    scheme = target.scheme
    timeout = opts.timeout

    # connect: TLS or plain?
    if scheme in (None, "https"):
        first = tlsprobe.attempt(host, port, path="/v2/", timeout=timeout, deadline=opts.deadline)
        if first.outcome is tlsprobe.HandshakeOutcome.UNREACHABLE:
            log.failed("connect", f"cannot connect to {target.netloc}: {first.reason}")
            log.skip_rest(_STEPS, "target unreachable")
            return
        if first.outcome is tlsprobe.HandshakeOutcome.NOT_TLS and scheme is None:
            scheme = "http"
        elif first.outcome is tlsprobe.HandshakeOutcome.NOT_TLS:
            log.failed("connect", f"https requested but {target.netloc} does not speak TLS")
            log.skip_rest(_STEPS, "no TLS")
            return
        else:
            scheme = "https"
            if first.outcome in (tlsprobe.HandshakeOutcome.ANSWERED,):
                log.completed("connect", f"TLS ({first.version})")
            elif first.outcome is tlsprobe.HandshakeOutcome.CLIENT_CERT_REJECTED:
                log.completed("connect", f"TLS, client certificate required ({first.reason})")
            else:
                log.failed("connect", f"TLS handshake failed: {first.reason}")
                log.skip_rest(_STEPS, "no TLS handshake possible")
                return
    log.facts["scheme"] = scheme
    obj = f"{scheme}://{target.netloc}"
    if scheme == "http":
        try:
            tlsprobe.plain_http(host, port, "/v2/", timeout, deadline=opts.deadline)
        except OSError as exc:
            log.failed("connect", f"cannot connect to {target.netloc}: {exc.strerror or exc}")
            log.skip_rest(_STEPS, "target unreachable")
            return
        except HTTPException as exc:
            log.failed("connect", f"no HTTP answer from {target.netloc}: {shown(repr(exc))}")
            log.skip_rest(_STEPS, "not an HTTP server")
            return
        log.completed("connect", "plain HTTP")
        for name in ("tls-versions", "certificate", "certificate-chain"):
            log.skipped(name, "plain HTTP")
        if is_insecure_host(target.netloc) and opts.allow_plain_http_credentials:
            block = None
        elif is_insecure_host(target.netloc):
            block = ("refusing to send credentials over plain HTTP (allowed for a loopback "
                     "registry with --allow-plain-http-credentials)")
        else:
            block = "refusing to send credentials over plain HTTP"
    else:
        block = _tls_steps(target, opts, foreign, obj, log)

    http = _Http(f"{scheme}://{target.netloc}", timeout, opts.deadline)
    try:
        _api_steps(http, scheme, obj, opts, block, log)
    except OperationalError as exc:
        name = next(n for n in _STEPS if n not in {s.name for s in log.steps})
        log.failed(name, f"request failed: {exc}")
        log.skip_rest(_STEPS, "an earlier request failed")
    finally:
        http.close()


def _tls_steps(
    target: RegistryTarget,
    opts: _Options,
    foreign: tlsprobe.ClientCert,
    obj: str,
    log: StepLog,
) -> str | None:
    """Run the TLS steps; return None when the chain verified, else why credentials stay home."""
    host, port = target.host, target.port
    ca_cert, timeout, deadline = opts.ca_cert, opts.timeout, opts.deadline
    versions = tlsprobe.probe_versions(host, port, client=foreign, timeout=timeout,
                                       deadline=deadline)
    log.facts["tls_versions"] = versions
    if any(v in ("accepted", "refused") for v in versions.values()):
        accepted = [v for v, r in versions.items() if r == "accepted"]
        log.completed("tls-versions", "accepted: " + (", ".join(accepted) or "none"))
        for f in tlsprobe.version_findings(versions, obj, KIND):
            log.add(f)
    else:
        log.failed("tls-versions", "no version could be classified")

    seen = tlsprobe.attempt(host, port, path=None, timeout=timeout, deadline=deadline)
    info: tlsprobe.CertInfo | None = None
    try:
        info = tlsprobe.parse_certificate(seen.peer_der) if seen.peer_der else None
    except tlsprobe.CertificateError as exc:
        log.failed("certificate", str(exc))
    else:
        if info is None:
            log.failed("certificate", f"no certificate seen: {seen.reason}")
    if info is not None:
        log.facts["certificate"] = {
            "subject": info.subject,
            "issuer": info.issuer,
            "not_after": info.not_after,
            "days_left": info.days_left,
            "san": list(info.dns_names + info.ip_addresses),
            "key": f"{info.key_type} {info.key_bits}",
            "signature": info.signature_algorithm,
            "eku": list(info.ext_key_usage) if info.ext_key_usage is not None else None,
        }
        log.completed("certificate", f"{info.subject}, {info.days_left} days left")
        for f in tlsprobe.certificate_findings(info, host, obj, KIND):
            log.add(f)

    chain, weak = tlsprobe.verify_chain(host, port, cafile=ca_cert, timeout=timeout,
                                        deadline=deadline)
    anchor = ca_cert or "the system trust store"
    if chain.outcome in (tlsprobe.HandshakeOutcome.ANSWERED, tlsprobe.HandshakeOutcome.CLIENT_CERT_REJECTED):
        log.completed("certificate-chain", f"verifies against {anchor}" + (
            f" only at OpenSSL security level 0 ({weak})" if weak else ""
        ))
        if weak:
            return ("refusing to send credentials: the certificate chain verifies only at "
                    f"OpenSSL security level 0 ({weak})")
        return None
    if chain.outcome is tlsprobe.HandshakeOutcome.SERVER_CERT_UNTRUSTED:
        reason = chain.verify_message or chain.reason
        log.completed("certificate-chain", reason)
        found = tlsprobe.chain_finding(chain, ca_cert, obj, KIND, info)
        if found:
            log.add(found)
        return f"refusing to send credentials: the certificate chain does not verify ({reason})"
    log.failed("certificate-chain", f"{chain.outcome.value}: {chain.reason}")
    return "refusing to send credentials: the certificate chain could not be checked"


def _api_steps(
    http: _Http,
    scheme: str,
    obj: str,
    opts: _Options,
    block: str | None,
    log: StepLog,
) -> None:
    credentials, try_push, repository = opts.credentials, opts.try_push, opts.repository
    status, headers, _ = http.call("GET", "/v2/")
    challenge = headers.get("WWW-Authenticate", "")
    api_header = shown(headers.get("Docker-Distribution-API-Version", ""))
    auth_scheme, params = parse_challenge(challenge) if challenge else ("", {})
    log.facts.update(
        {"v2_status": status, "api_version_header": api_header or None,
         "auth": shown(auth_scheme) or ("none" if status == 200 else "unknown")}
    )
    if status not in (200, 401):
        log.failed("api", f"/v2/ answered HTTP {status}: not a registry API")
        log.skip_rest(_STEPS, "no registry API")
        return
    note = f"/v2/ HTTP {status}" + (f", {shown(auth_scheme)} challenge" if auth_scheme else ", open")
    note += f", {api_header}" if api_header else ", no Docker-Distribution-API-Version header"
    log.completed("api", note)
    realm = params.get("realm", "")
    if realm:
        log.facts["token_realm" if auth_scheme == "bearer" else "auth_realm"] = shown(realm)

    if scheme == "http":
        log.add(_finding(
            "plain-http", Severity.HIGH, "the registry is served over plain HTTP", obj,
            description="Images and credentials travel unencrypted and can be altered in "
            "transit; clients must list it in insecure-registries.",
            remediation="Serve the registry over TLS (http.tls in its config).",
        ))
    if auth_scheme == "basic" and scheme == "http":
        log.add(_finding(
            "basic-over-http", Severity.CRITICAL,
            "the registry asks for Basic credentials over plain HTTP", obj,
            description="Every login sends the password in clear text.",
            remediation="Enable TLS before enabling htpasswd authentication.",
        ))
    if auth_scheme == "bearer" and realm.lower().startswith("http://"):
        log.add(_finding(
            "bearer-realm-http", Severity.HIGH,
            f"the token realm is plain HTTP: {shown(realm)}", obj,
            description="Clients send their credentials to the token server unencrypted.",
            remediation="Serve the token service over https and set auth.token.realm to it.",
            evidence=evidence(realm=shown(realm)),
        ))

    # The given credentials: only in requests that verify TLS (or to an allowed loopback).
    auth_header: dict[str, str] = {}
    if credentials is None:
        log.skipped("credentials", "no credentials given (--username, --password-stdin)")
    elif block is not None:
        log.skipped("credentials", block)
    elif auth_scheme == "basic":
        try:
            code, _, _ = http.call("GET", "/v2/", {"Authorization": _basic(credentials)},
                                   verify=opts.trusted)
        except OperationalError as exc:
            log.skipped("credentials", f"refusing to send credentials: {exc}")
        else:
            if code == 200:
                auth_header = {"Authorization": _basic(credentials)}
            log.completed("credentials", "accepted" if code == 200 else f"refused: HTTP {code}")
    elif auth_scheme == "bearer":
        realm_block = _realm_block(realm, opts)
        if realm_block:
            log.skipped("credentials", realm_block)
        else:
            token, why, failed = _token(http, params, "registry:catalog:*", credentials,
                                        verify=opts.trusted)
            if token:
                auth_header = {"Authorization": f"Bearer {token}"}
                log.completed("credentials", "token issued")
            elif failed:
                log.failed("credentials", f"no token: {why}")
            else:
                log.completed("credentials", f"refused: {why}")
    else:
        log.skipped("credentials", "the registry asks for no authentication")

    # An anonymous token (Bearer only): what does the token service hand out to anyone?
    anon_tokens: dict[str, str] = {}
    if auth_scheme == "bearer" and realm:
        token, why, failed = _token(http, params, "registry:catalog:*", None)
        if token:
            anon_tokens["registry:catalog:*"] = token
            log.completed("anonymous-token", "issued for registry:catalog:*")
        elif failed:
            log.failed("anonymous-token", why)
        else:
            log.completed("anonymous-token", f"refused: {why}")
    else:
        log.skipped("anonymous-token", "the registry does not use token authentication")

    def anonymous(method: str, path: str, scope: str,
                  extra: dict[str, str] | None = None) -> tuple[int, Mapping[str, str], bytes, str]:
        code, hdrs, body = http.call(method, path, extra)
        if code != 401 or auth_scheme != "bearer" or not realm:
            return code, hdrs, body, "anonymous"
        token = anon_tokens.get(scope)
        if token is None:
            token, _, _ = _token(http, params, scope, None)
            if token is None:
                return code, hdrs, body, "anonymous"
            anon_tokens[scope] = token
        code, hdrs, body = http.call(method, path, {**(extra or {}),
                                                     "Authorization": f"Bearer {token}"})
        return code, hdrs, body, "anonymous token"

    # Catalog.
    code, _, body, via = anonymous("GET", "/v2/_catalog?n=100", "registry:catalog:*")
    repos: list[str] = []
    if code == 200:
        repos = _names(body, "repositories", _NAME_RE)
        log.facts["repositories"] = repos
        log.completed("anonymous-catalog", f"allowed ({via}): {len(repos)} repositories")
        log.add(_finding(
            "anonymous-catalog", Severity.MEDIUM,
            f"anyone can list the repositories ({via})", obj,
            remediation="Require authentication for the catalog (registry:catalog:*).",
            evidence=evidence(via=via, repositories=repos[:20]),
        ))
    else:
        log.completed("anonymous-catalog", f"refused: HTTP {code}")
        if auth_header:
            c2, _, b2 = http.call("GET", "/v2/_catalog?n=100", auth_header, verify=opts.trusted)
            if c2 == 200:
                repos = _names(b2, "repositories", _NAME_RE)
                log.facts["repositories"] = repos

    # Tags list and a manifest pull.
    repo = repository or (repos[0] if repos else None)
    if repo is None:
        log.skipped("anonymous-pull", "no repository known: give --repository NAME")
    else:
        log.facts["pull_repository"] = repo
        scope = f"repository:{repo}:pull"
        code, _, body, via = anonymous("GET", f"/v2/{repo}/tags/list", scope)
        if code != 200:
            log.completed("anonymous-pull", f"refused: tags list HTTP {code}")
        else:
            tags = sorted(_names(body, "tags", _TAG_RE))
            if not tags:
                log.completed("anonymous-pull", f"tags list allowed ({via}) but {repo} has no tag")
                tag_note = "tags list only"
            else:
                mcode, _, _, via = anonymous(
                    "GET", f"/v2/{repo}/manifests/{tags[0]}", scope, {"Accept": ACCEPT}
                )
                tag_note = f"manifest {repo}:{tags[0]} HTTP {mcode}"
                log.completed("anonymous-pull", f"tags list allowed ({via}); {tag_note}")
            log.add(_finding(
                "anonymous-pull", Severity.MEDIUM,
                f"anyone can list tags and pull from {repo} ({via})", obj,
                description="Fine for a public registry; a leak for a private one.",
                remediation="Require authentication for pull if the images are not public.",
                evidence=evidence(via=via, repository=repo, detail=tag_note),
            ))

    # Push: only when asked, since it touches the registry.
    if not try_push:
        log.skipped("anonymous-push", "not attempted (use --try-push)")
        return
    push_repo = repository or PUSH_REPOSITORY
    scope = f"repository:{push_repo}:push,pull"
    code, hdrs, _, via = anonymous("POST", f"/v2/{push_repo}/blobs/uploads/", scope)
    if code == 202:
        cancelled = _cancel_upload(http, push_repo, hdrs.get("Location", ""),
                                   anon_tokens.get(scope) if via == "anonymous token" else None)
        log.completed("anonymous-push", f"allowed ({via}); {cancelled}")
        log.add(_finding(
            "anonymous-push", Severity.CRITICAL,
            f"anyone can push to {push_repo} ({via})", obj,
            description="An anonymous client started a blob upload: anyone can replace "
            "images that others pull.",
            remediation="Require authentication for push.",
            evidence=evidence(via=via, repository=push_repo),
        ))
    else:
        log.completed("anonymous-push", f"refused: HTTP {code}")


def _cancel_upload(http: _Http, repo: str, location: str, token: str | None) -> str:
    """DELETE the upload we started, if its Location is on the registry itself."""
    if not location:
        return "no upload location to cancel"
    try:
        upload = urljoin(http.base + f"/v2/{repo}/blobs/uploads/", location)
        same = _origin(upload) == _origin(http.base)
    except ValueError:
        same = False
    if not same:
        return f"upload location {shown(location)} is not on the registry: not cancelled"
    extra = {"Authorization": f"Bearer {token}"} if token else {}
    dcode, _, _ = http.call("DELETE", "", extra, url=upload)
    return f"upload cancelled (HTTP {dcode})"


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    return parts.scheme, (parts.hostname or "").lower(), parts.port


def _realm_block(realm: str, opts: _Options) -> str | None:
    """None when the credentials may go to `realm`, else why not."""
    try:
        check_realm(realm, "token realm")
    except OperationalError as exc:
        return f"refusing to send credentials: {exc}"
    parts = urlsplit(realm)
    if parts.scheme == "https":
        return None  # the request itself verifies (opts.trusted)
    if not is_insecure_host(parts.netloc):
        return "refusing to send credentials over plain HTTP"
    if not opts.allow_plain_http_credentials:
        return ("refusing to send credentials over plain HTTP (allowed for a loopback token "
                "realm with --allow-plain-http-credentials)")
    return None


def _token(
    http: _Http,
    params: dict[str, str],
    scope: str,
    credentials: Credentials | None,
    *,
    verify: bool | str = False,
) -> tuple[str | None, str, bool]:
    """(token, why not, whether the token service failed rather than refused)."""
    try:
        realm = check_realm(params.get("realm", ""), "token realm")
    except OperationalError as exc:
        return None, str(exc), True
    query = {"scope": scope}
    if params.get("service"):
        query["service"] = params["service"]
    headers = {"Authorization": _basic(credentials)} if credentials else {}
    sep = "&" if "?" in realm else "?"
    try:
        code, _, body = http.call("GET", "", headers, url=f"{realm}{sep}{urlencode(query)}",
                                  verify=verify)
    except OperationalError as exc:
        return None, f"token service unreachable ({exc})", True
    if code != 200:
        return None, f"token service HTTP {code}", False
    try:
        data = parse_json(body, "token answer")
    except InputError:
        return None, "token service answered no JSON", False
    token = (data.get("token") or data.get("access_token")) if isinstance(data, dict) else None
    if not isinstance(token, str) or not token or not token.isprintable():
        return None, "no token in the answer", False
    return token, "", False


def _names(body: bytes, key: str, pattern: re.Pattern[str]) -> list[str]:
    """The valid names under `key` of a JSON answer (at most MAX_LISTED); others are dropped."""
    try:
        doc = parse_json(body, "registry answer")
    except InputError:
        return []
    items = doc.get(key) if isinstance(doc, dict) else None
    if not isinstance(items, list):
        return []
    return [i for i in items if isinstance(i, str) and pattern.match(i)][:MAX_LISTED]
