"""``dockguard registry probe URL``: transport, authentication and anonymous access.

Steps, one function each: ``connect`` (TLS or plain HTTP), the TLS steps shared with the
daemon probe (`dockguard.channel.tls_steps`: ``tls-versions``, ``certificate``,
``certificate-chain``), ``api`` (the ``/v2/`` challenge and API version header),
``credentials`` (the given ones), ``anonymous-token`` (Bearer registries), then what an
anonymous client may do: ``anonymous-catalog``, ``anonymous-pull`` (tags and a manifest) and -
only with ``--try-push`` - ``anonymous-push`` (a blob upload, cancelled at once).  `probe`
returns the `Report` and the typed `RegistryFacts`.

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
import enum
import functools
import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from http.client import HTTPException
from pathlib import Path
from urllib.parse import urlencode, urljoin, urlsplit

import requests

from dockguard.channel import tls_steps, tlsprobe
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
from dockguard.channel.result import (
    Evidence,
    ProbeRun,
    StepResult,
    StepSequence,
    completed,
    failed,
    make_finding,
    skipped,
)
from dockguard.channel.tls_steps import ChainFacts, TlsTarget
from dockguard.channel.tlsprobe import CertInfo, ClientCert, HandshakeOutcome, VersionProbe
from dockguard.errors import OperationalError, UsageError
from dockguard.inputs import InputError, parse_json
from dockguard.model import FindingKind, Severity, StepStatus, Surface, evidence

KIND = FindingKind.REGISTRY
_finding = functools.partial(make_finding, KIND)
PUSH_REPOSITORY = "dockguard-probe/push-test"
MAX_BODY = 1024 * 1024
"""Bytes read from one 2xx answer (catalog, tags, token); other answers' bodies are not read."""
MAX_LISTED = 1000
"""Repository names and tags kept from one answer."""
_NAME_RE = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$")
_TAG_RE = re.compile(r"^[\w][\w.-]{0,127}$")
_CATALOG_SCOPE = "registry:catalog:*"

CONNECT = "connect"
API = "api"
CREDENTIALS = "credentials"
ANONYMOUS_TOKEN = "anonymous-token"
ANONYMOUS_CATALOG = "anonymous-catalog"
ANONYMOUS_PULL = "anonymous-pull"
ANONYMOUS_PUSH = "anonymous-push"
_TLS = (tls_steps.TLS_VERSIONS, tls_steps.CERTIFICATE, tls_steps.CERTIFICATE_CHAIN)
STEPS = (CONNECT, *_TLS, API, CREDENTIALS, ANONYMOUS_TOKEN, ANONYMOUS_CATALOG, ANONYMOUS_PULL,
         ANONYMOUS_PUSH)


class Scheme(enum.StrEnum):
    """How the registry is served."""

    HTTP = "http"
    HTTPS = "https"


class AuthScheme(enum.StrEnum):
    """The authentication the registry's ``/v2/`` asks for."""

    NONE = "none"
    """``/v2/`` answered 200: no authentication."""
    BASIC = "basic"
    BEARER = "bearer"
    OTHER = "other"
    """A scheme dockguard does not speak (`ApiFacts.challenge` names it)."""
    UNKNOWN = "unknown"
    """``/v2/`` refused without a challenge."""


class Access(enum.StrEnum):
    """How an anonymous client got in."""

    ANONYMOUS = "anonymous"
    """Without any credentials."""
    ANONYMOUS_TOKEN = "anonymous token"
    """With a token the token service hands to anyone."""


@dataclass(frozen=True)
class RegistryTarget:
    """Where the registry is; `scheme` is None when the user did not say."""

    scheme: Scheme | None
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
    scheme: Scheme | None = None
    if "://" in raw:
        word = raw.split("://", 1)[0].lower()
        if word not in ("http", "https"):
            raise UsageError(f"unsupported registry URL {text!r}: use http:// or https://")
        scheme = Scheme(word)
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
        port = 80 if scheme is Scheme.HTTP else 443
    return RegistryTarget(scheme, parts.hostname, port)


# --- the facts ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConnectFacts:
    """How the registry is served."""

    scheme: Scheme
    tls_version: str = ""

    def evidence(self) -> Evidence:
        """scheme."""
        return (("scheme", self.scheme.value),)


@dataclass(frozen=True)
class ApiFacts:
    """The registry's answer to ``GET /v2/``."""

    v2_status: int
    api_version_header: str
    auth: AuthScheme
    challenge: str = ""
    """The challenge's scheme as the server wrote it (lower case), shown for OTHER."""
    realm: str = ""
    service: str = ""

    @property
    def auth_label(self) -> str:
        """The authentication as the report shows it."""
        return shown(self.challenge) if self.auth is AuthScheme.OTHER else self.auth.value

    @property
    def token_realm(self) -> str:
        """The token service of a Bearer registry."""
        return self.realm if self.auth is AuthScheme.BEARER else ""

    def evidence(self) -> Evidence:
        """v2_status, api_version_header, auth and the realm."""
        pairs = [("v2_status", str(self.v2_status))]
        if self.api_version_header:
            pairs.append(("api_version_header", self.api_version_header))
        pairs.append(("auth", self.auth_label))
        if self.realm:
            pairs.append(("token_realm" if self.auth is AuthScheme.BEARER else "auth_realm", shown(self.realm)))
        return tuple(pairs)


@dataclass(frozen=True)
class CredentialsFacts:
    """Whether the given credentials were accepted (None: the token service failed)."""

    accepted: bool | None

    def evidence(self) -> Evidence:
        """None: the step's reason says it."""
        return ()


@dataclass(frozen=True)
class TokenFacts:
    """Whether the token service issues tokens to anyone (None: it failed)."""

    issued: bool | None

    def evidence(self) -> Evidence:
        """None: the step's reason says it."""
        return ()


@dataclass(frozen=True)
class CatalogFacts:
    """Who may list the repositories, and the ones seen (None: none could be listed)."""

    access: Access | None
    """None: an anonymous client was refused."""
    repositories: tuple[str, ...] | None = None

    def evidence(self) -> Evidence:
        """repositories, when listed."""
        if self.repositories is None:
            return ()
        return (("repositories", ", ".join(self.repositories) or "(none)"),)


@dataclass(frozen=True)
class PullFacts:
    """Whether an anonymous client may list tags and pull from `repository`."""

    repository: str
    access: Access | None
    """None: refused."""
    tags: tuple[str, ...] = ()
    manifest_status: int | None = None

    def evidence(self) -> Evidence:
        """pull_repository."""
        return (("pull_repository", self.repository),)


@dataclass(frozen=True)
class PushFacts:
    """Whether an anonymous client may start an upload to `repository`."""

    repository: str
    access: Access | None
    """None: refused."""
    cancelled: str = ""

    def evidence(self) -> Evidence:
        """None: the step's reason says it."""
        return ()


@dataclass(frozen=True)
class RegistryFacts:
    """Everything a registry probe established, typed.  None means the probe could not tell."""

    target: str
    reachable: bool
    failed_steps: tuple[str, ...] = ()
    scheme: Scheme | None = None
    tls_versions: tuple[VersionProbe, ...] = ()
    certificate: CertInfo | None = None
    chain: ChainFacts | None = None
    v2_status: int | None = None
    api_version_header: str = ""
    auth: AuthScheme | None = None
    token_realm: str = ""
    credentials_accepted: bool | None = None
    anonymous_token: bool | None = None
    repositories: tuple[str, ...] | None = None
    anonymous_catalog: Access | None = None
    anonymous_pull: Access | None = None
    anonymous_push: Access | None = None


# --- the probe ------------------------------------------------------------------------------


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
) -> ProbeRun[RegistryFacts]:
    """Probe one registry (see the module docstring): the Report and the typed facts.

    `deadline` is the total seconds per request (default: ``$DOCKGUARD_HTTP_DEADLINE`` or 60).
    """
    target = parse_target(url)
    if repository is not None and not _NAME_RE.match(repository):
        raise UsageError(f"invalid repository name {repository!r}")
    options = _Options(
        credentials, ca_cert, try_push, repository, timeout,
        deadline_seconds() if deadline is None else deadline, allow_plain_http_credentials,
    )
    steps = StepSequence(STEPS)
    with tempfile.TemporaryDirectory(prefix="dockguard-foreign-") as tmp:
        foreign = tlsprobe.throwaway_client(Path(tmp) / "pki")
        _run(target, options, foreign, steps)
    report = steps.report(Surface.REGISTRY_PROBE, url)
    return ProbeRun(report, _facts(url, steps, report.reachable))


def _facts(url: str, steps: StepSequence, reachable: bool) -> RegistryFacts:
    connect = steps.facts(CONNECT, ConnectFacts)
    versions = steps.facts(tls_steps.TLS_VERSIONS, tls_steps.TlsVersionsFacts)
    cert = steps.facts(tls_steps.CERTIFICATE, tls_steps.CertificateFacts)
    api = steps.facts(API, ApiFacts)
    creds = steps.facts(CREDENTIALS, CredentialsFacts)
    token = steps.facts(ANONYMOUS_TOKEN, TokenFacts)
    catalog = steps.facts(ANONYMOUS_CATALOG, CatalogFacts)
    pull = steps.facts(ANONYMOUS_PULL, PullFacts)
    push = steps.facts(ANONYMOUS_PUSH, PushFacts)
    return RegistryFacts(
        target=url,
        reachable=reachable,
        failed_steps=steps.failed_steps(),
        scheme=connect.scheme if connect else None,
        tls_versions=versions.versions if versions else (),
        certificate=cert.certificate if cert else None,
        chain=steps.facts(tls_steps.CERTIFICATE_CHAIN, ChainFacts),
        v2_status=api.v2_status if api else None,
        api_version_header=api.api_version_header if api else "",
        auth=api.auth if api else None,
        token_realm=api.token_realm if api else "",
        credentials_accepted=creds.accepted if creds else None,
        anonymous_token=token.issued if token else None,
        repositories=catalog.repositories if catalog else None,
        anonymous_catalog=catalog.access if catalog else None,
        anonymous_pull=pull.access if pull else None,
        anonymous_push=push.access if push else None,
    )


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


def _run(target: RegistryTarget, opts: _Options, foreign: ClientCert, steps: StepSequence) -> None:
    connect = steps.add(connect_step(target, opts))
    if connect.halt or connect.facts is None:
        return
    scheme = connect.facts.scheme
    obj = f"{scheme}://{target.netloc}"
    if scheme is Scheme.HTTP:
        for name in _TLS:
            steps.add(skipped(name, "plain HTTP"))
        block = _plain_http_block(target, opts)
    else:
        tls = TlsTarget(target.host, target.port, obj, KIND, opts.timeout, opts.deadline)
        steps.add(tls_steps.tls_versions(tls, foreign))
        seen = tls_steps.fetch_certificate(tls)
        steps.add(tls_steps.certificate(tls, seen))
        block = _credentials_block(steps.add(
            tls_steps.certificate_chain(tls, cafile=opts.ca_cert, client=None, leaf=seen.info)))

    http = _Http(f"{scheme}://{target.netloc}", opts.timeout, opts.deadline)
    try:
        api = steps.add(api_step(http, scheme, obj))
        if api.halt or api.facts is None:
            return
        client = _Client(http, api.facts, obj)
        credentials, authorization = credentials_step(client, opts, block)
        steps.add(credentials)
        steps.add(anonymous_token_step(client))
        catalog = steps.add(anonymous_catalog_step(client, opts, authorization))
        repos = catalog.facts.repositories if catalog.facts else None
        steps.add(anonymous_pull_step(client, opts.repository or (repos[0] if repos else None)))
        steps.add(anonymous_push_step(client, opts))
    except OperationalError as exc:
        pending = steps.pending
        if pending is not None:
            steps.add(failed(pending, f"request failed: {exc}", halt="an earlier request failed"))
    finally:
        http.close()


def connect_step(target: RegistryTarget, opts: _Options) -> StepResult[ConnectFacts]:
    """Step ``connect``: TLS or plain HTTP (plain only when no scheme or ``http://`` was given)."""
    host, port, netloc = target.host, target.port, target.netloc
    if target.scheme in (None, Scheme.HTTPS):
        first = tlsprobe.attempt(host, port, path="/v2/", timeout=opts.timeout, deadline=opts.deadline)
        if first.outcome is HandshakeOutcome.UNREACHABLE:
            return failed(CONNECT, f"cannot connect to {netloc}: {first.reason}", halt="target unreachable")
        if first.outcome is HandshakeOutcome.NOT_TLS and target.scheme is Scheme.HTTPS:
            return failed(CONNECT, f"https requested but {netloc} does not speak TLS", halt="no TLS")
        if first.outcome is HandshakeOutcome.ANSWERED:
            return completed(CONNECT, f"TLS ({first.version})", ConnectFacts(Scheme.HTTPS, first.version or ""))
        if first.outcome is HandshakeOutcome.CLIENT_CERT_REJECTED:
            return completed(CONNECT, f"TLS, client certificate required ({first.reason})",
                             ConnectFacts(Scheme.HTTPS))
        if first.outcome is not HandshakeOutcome.NOT_TLS:
            return failed(CONNECT, f"TLS handshake failed: {first.reason}", halt="no TLS handshake possible")
    try:
        tlsprobe.plain_http(host, port, "/v2/", opts.timeout, deadline=opts.deadline)
    except OSError as exc:
        return failed(CONNECT, f"cannot connect to {netloc}: {exc.strerror or exc}", halt="target unreachable")
    except HTTPException as exc:
        return failed(CONNECT, f"no HTTP answer from {netloc}: {shown(repr(exc))}", halt="not an HTTP server")
    return completed(CONNECT, "plain HTTP", ConnectFacts(Scheme.HTTP))


def _plain_http_block(target: RegistryTarget, opts: _Options) -> str | None:
    """None when credentials may go to this plain-HTTP registry, else why not."""
    if not is_insecure_host(target.netloc):
        return "refusing to send credentials over plain HTTP"
    if not opts.allow_plain_http_credentials:
        return ("refusing to send credentials over plain HTTP (allowed for a loopback "
                "registry with --allow-plain-http-credentials)")
    return None


def _credentials_block(chain: StepResult[ChainFacts]) -> str | None:
    """None when the certificate-chain step verified, else why credentials stay home."""
    facts = chain.facts
    if chain.status is not StepStatus.COMPLETED or facts is None:
        return "refusing to send credentials: the certificate chain could not be checked"
    if not facts.verified:
        return f"refusing to send credentials: the certificate chain does not verify ({facts.message})"
    if facts.weak:
        return ("refusing to send credentials: the certificate chain verifies only at "
                f"OpenSSL security level 0 ({facts.weak})")
    return None


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


def api_step(http: _Http, scheme: Scheme, obj: str) -> StepResult[ApiFacts]:
    """Step ``api``: ``GET /v2/``, its challenge and ``Docker-Distribution-API-Version``."""
    status, headers, _ = http.call("GET", "/v2/")
    challenge = headers.get("WWW-Authenticate", "")
    api_header = shown(headers.get("Docker-Distribution-API-Version", ""))
    word, params = parse_challenge(challenge) if challenge else ("", {})
    auth = {"basic": AuthScheme.BASIC, "bearer": AuthScheme.BEARER}.get(word, AuthScheme.OTHER)
    if not word:
        auth = AuthScheme.NONE if status == 200 else AuthScheme.UNKNOWN
    realm = params.get("realm", "")
    facts = ApiFacts(status, api_header, auth, word, realm, params.get("service", ""))
    if status not in (200, 401):
        return failed(API, f"/v2/ answered HTTP {status}: not a registry API", facts, halt="no registry API")
    note = f"/v2/ HTTP {status}" + (f", {shown(word)} challenge" if word else ", open")
    note += f", {api_header}" if api_header else ", no Docker-Distribution-API-Version header"
    found = []
    if scheme is Scheme.HTTP:
        found.append(_finding(
            "plain-http", Severity.HIGH, "the registry is served over plain HTTP", obj,
            description="Images and credentials travel unencrypted and can be altered in "
            "transit; clients must list it in insecure-registries.",
            remediation="Serve the registry over TLS (http.tls in its config).",
        ))
    if auth is AuthScheme.BASIC and scheme is Scheme.HTTP:
        found.append(_finding(
            "basic-over-http", Severity.CRITICAL,
            "the registry asks for Basic credentials over plain HTTP", obj,
            description="Every login sends the password in clear text.",
            remediation="Enable TLS before enabling htpasswd authentication.",
        ))
    if auth is AuthScheme.BEARER and realm.lower().startswith("http://"):
        found.append(_finding(
            "bearer-realm-http", Severity.HIGH,
            f"the token realm is plain HTTP: {shown(realm)}", obj,
            description="Clients send their credentials to the token server unencrypted.",
            remediation="Serve the token service over https and set auth.token.realm to it.",
            evidence=evidence(realm=shown(realm)),
        ))
    return completed(API, note, facts, tuple(found))


@dataclass(frozen=True)
class _TokenAnswer:
    token: str | None
    why: str = ""
    failed: bool = False
    """The token service failed (unreachable, bad realm) rather than refused."""


class _Client:
    """Requests after the ``api`` step: the challenge is known, anonymous tokens are cached."""

    def __init__(self, http: _Http, api: ApiFacts, obj: str) -> None:
        self.http = http
        self.api = api
        self.obj = obj
        self.tokens: dict[str, str] = {}
        """Anonymous tokens by scope."""

    def token(self, scope: str, credentials: Credentials | None, *, verify: bool | str = False) -> _TokenAnswer:
        """A token for `scope` from the realm, with `credentials` or anonymously."""
        try:
            realm = check_realm(self.api.realm, "token realm")
        except OperationalError as exc:
            return _TokenAnswer(None, str(exc), True)
        query = {"scope": scope}
        if self.api.service:
            query["service"] = self.api.service
        headers = {"Authorization": _basic(credentials)} if credentials else {}
        sep = "&" if "?" in realm else "?"
        try:
            code, _, body = self.http.call("GET", "", headers, url=f"{realm}{sep}{urlencode(query)}",
                                           verify=verify)
        except OperationalError as exc:
            return _TokenAnswer(None, f"token service unreachable ({exc})", True)
        if code != 200:
            return _TokenAnswer(None, f"token service HTTP {code}")
        try:
            data = parse_json(body, "token answer")
        except InputError:
            return _TokenAnswer(None, "token service answered no JSON")
        token = (data.get("token") or data.get("access_token")) if isinstance(data, dict) else None
        if not isinstance(token, str) or not token or not token.isprintable():
            return _TokenAnswer(None, "no token in the answer")
        return _TokenAnswer(token)

    def anonymous(
        self, method: str, path: str, scope: str, extra: dict[str, str] | None = None
    ) -> tuple[int, Mapping[str, str], bytes, Access]:
        """`method` `path` without credentials; on a Bearer 401 again with an anonymous token."""
        code, hdrs, body = self.http.call(method, path, extra)
        if code != 401 or self.api.auth is not AuthScheme.BEARER or not self.api.realm:
            return code, hdrs, body, Access.ANONYMOUS
        token = self.tokens.get(scope)
        if token is None:
            token = self.token(scope, None).token
            if token is None:
                return code, hdrs, body, Access.ANONYMOUS
            self.tokens[scope] = token
        code, hdrs, body = self.http.call(method, path, {**(extra or {}), "Authorization": f"Bearer {token}"})
        return code, hdrs, body, Access.ANONYMOUS_TOKEN


def credentials_step(
    client: _Client, opts: _Options, block: str | None
) -> tuple[StepResult[CredentialsFacts], dict[str, str]]:
    """Step ``credentials``: the given ones, only in requests that verify TLS (or to an allowed
    loopback registry); also the Authorization header later steps may use."""
    api, credentials = client.api, opts.credentials
    if credentials is None:
        return skipped(CREDENTIALS, "no credentials given (--username, --password-stdin)"), {}
    if block is not None:
        return skipped(CREDENTIALS, block), {}
    if api.auth is AuthScheme.BASIC:
        header = {"Authorization": _basic(credentials)}
        try:
            code, _, _ = client.http.call("GET", "/v2/", header, verify=opts.trusted)
        except OperationalError as exc:
            return skipped(CREDENTIALS, f"refusing to send credentials: {exc}"), {}
        if code == 200:
            return completed(CREDENTIALS, "accepted", CredentialsFacts(True)), header
        return completed(CREDENTIALS, f"refused: HTTP {code}", CredentialsFacts(False)), {}
    if api.auth is AuthScheme.BEARER:
        realm_block = _realm_block(api.realm, opts)
        if realm_block:
            return skipped(CREDENTIALS, realm_block), {}
        answer = client.token(_CATALOG_SCOPE, credentials, verify=opts.trusted)
        if answer.token:
            return (completed(CREDENTIALS, "token issued", CredentialsFacts(True)),
                    {"Authorization": f"Bearer {answer.token}"})
        if answer.failed:
            return failed(CREDENTIALS, f"no token: {answer.why}", CredentialsFacts(None)), {}
        return completed(CREDENTIALS, f"refused: {answer.why}", CredentialsFacts(False)), {}
    return skipped(CREDENTIALS, "the registry asks for no authentication"), {}


def anonymous_token_step(client: _Client) -> StepResult[TokenFacts]:
    """Step ``anonymous-token`` (Bearer only): what does the token service hand out to anyone?"""
    if client.api.auth is not AuthScheme.BEARER or not client.api.realm:
        return skipped(ANONYMOUS_TOKEN, "the registry does not use token authentication")
    answer = client.token(_CATALOG_SCOPE, None)
    if answer.token:
        client.tokens[_CATALOG_SCOPE] = answer.token
        return completed(ANONYMOUS_TOKEN, f"issued for {_CATALOG_SCOPE}", TokenFacts(True))
    if answer.failed:
        return failed(ANONYMOUS_TOKEN, answer.why, TokenFacts(None))
    return completed(ANONYMOUS_TOKEN, f"refused: {answer.why}", TokenFacts(False))


def anonymous_catalog_step(
    client: _Client, opts: _Options, authorization: dict[str, str]
) -> StepResult[CatalogFacts]:
    """Step ``anonymous-catalog``: ``/v2/_catalog`` without credentials.

    When that is refused but the credentials were accepted, the repositories are listed with
    them (for the pull step); that listing failing leaves them unknown.
    """
    code, _, body, via = client.anonymous("GET", "/v2/_catalog?n=100", _CATALOG_SCOPE)
    if code == 200:
        repos = _names(body, "repositories", _NAME_RE)
        found = _finding(
            "anonymous-catalog", Severity.MEDIUM, f"anyone can list the repositories ({via})", client.obj,
            remediation="Require authentication for the catalog (registry:catalog:*).",
            evidence=evidence(via=via.value, repositories=repos[:20]),
        )
        return completed(ANONYMOUS_CATALOG, f"allowed ({via}): {len(repos)} repositories",
                         CatalogFacts(via, repos), (found,))
    repos_seen: tuple[str, ...] | None = None
    if authorization:
        try:
            c2, _, b2 = client.http.call("GET", "/v2/_catalog?n=100", authorization, verify=opts.trusted)
        except OperationalError:
            c2, b2 = 0, b""
        if c2 == 200:
            repos_seen = _names(b2, "repositories", _NAME_RE)
    return completed(ANONYMOUS_CATALOG, f"refused: HTTP {code}", CatalogFacts(None, repos_seen))


def anonymous_pull_step(client: _Client, repo: str | None) -> StepResult[PullFacts]:
    """Step ``anonymous-pull``: the tags list of `repo` and the manifest of its first tag."""
    if repo is None:
        return skipped(ANONYMOUS_PULL, "no repository known: give --repository NAME")
    scope = f"repository:{repo}:pull"
    code, _, body, via = client.anonymous("GET", f"/v2/{repo}/tags/list", scope)
    if code != 200:
        return completed(ANONYMOUS_PULL, f"refused: tags list HTTP {code}", PullFacts(repo, None))
    tags = tuple(sorted(_names(body, "tags", _TAG_RE)))
    if not tags:
        reason = f"tags list allowed ({via}) but {repo} has no tag"
        detail, facts = "tags list only", PullFacts(repo, via)
    else:
        mcode, _, _, via = client.anonymous("GET", f"/v2/{repo}/manifests/{tags[0]}", scope, {"Accept": ACCEPT})
        detail = f"manifest {repo}:{tags[0]} HTTP {mcode}"
        reason = f"tags list allowed ({via}); {detail}"
        facts = PullFacts(repo, via, tags, mcode)
    found = _finding(
        "anonymous-pull", Severity.MEDIUM, f"anyone can list tags and pull from {repo} ({via})", client.obj,
        description="Fine for a public registry; a leak for a private one.",
        remediation="Require authentication for pull if the images are not public.",
        evidence=evidence(via=via.value, repository=repo, detail=detail),
    )
    return completed(ANONYMOUS_PULL, reason, facts, (found,))


def anonymous_push_step(client: _Client, opts: _Options) -> StepResult[PushFacts]:
    """Step ``anonymous-push`` (only with ``--try-push``, since it touches the registry): start a
    blob upload anonymously and cancel it at once."""
    if not opts.try_push:
        return skipped(ANONYMOUS_PUSH, "not attempted (use --try-push)")
    repo = opts.repository or PUSH_REPOSITORY
    scope = f"repository:{repo}:push,pull"
    code, hdrs, _, via = client.anonymous("POST", f"/v2/{repo}/blobs/uploads/", scope)
    if code != 202:
        return completed(ANONYMOUS_PUSH, f"refused: HTTP {code}", PushFacts(repo, None))
    token = client.tokens.get(scope) if via is Access.ANONYMOUS_TOKEN else None
    cancelled = _cancel_upload(client.http, repo, hdrs.get("Location", ""), token)
    found = _finding(
        "anonymous-push", Severity.CRITICAL, f"anyone can push to {repo} ({via})", client.obj,
        description="An anonymous client started a blob upload: anyone can replace images that others pull.",
        remediation="Require authentication for push.",
        evidence=evidence(via=via.value, repository=repo),
    )
    return completed(ANONYMOUS_PUSH, f"allowed ({via}); {cancelled}", PushFacts(repo, via, cancelled), (found,))


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


def _names(body: bytes, key: str, pattern: re.Pattern[str]) -> tuple[str, ...]:
    """The valid names under `key` of a JSON answer (at most MAX_LISTED); others are dropped."""
    try:
        doc = parse_json(body, "registry answer")
    except InputError:
        return ()
    items = doc.get(key) if isinstance(doc, dict) else None
    if not isinstance(items, list):
        return ()
    return tuple(i for i in items if isinstance(i, str) and pattern.match(i))[:MAX_LISTED]
