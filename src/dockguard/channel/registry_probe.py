"""``dockguard registry probe URL``: transport, authentication and anonymous access.

Steps: connect (TLS or plain HTTP), TLS versions / certificate / chain, the ``/v2/`` challenge
and API version header, the given credentials, an anonymous token (Bearer registries), then
what an anonymous client may do: list the catalog, list tags and pull a manifest, and - only
with ``--try-push`` - start a blob upload (cancelled at once).  Credentials are never sent over
plain HTTP.
"""

from __future__ import annotations

import base64
import json
import tempfile
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from http.client import HTTPException
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit

import requests
import urllib3

from dockguard.channel import tlsprobe
from dockguard.channel.registry_client import ACCEPT, Credentials, parse_challenge
from dockguard.channel.result import ProbeResult, StepLog, make_finding
from dockguard.errors import UsageError
from dockguard.model import Finding, Severity

KIND = "registry"
PUSH_REPOSITORY = "dockguard-probe/push-test"
MAX_BODY = 1024 * 1024

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


class _Http:
    """requests with TLS verification off (the TLS steps judge the certificate)."""

    def __init__(self, base: str, timeout: float) -> None:
        self.base = base
        self.timeout = timeout
        self.session = requests.Session()
        self.session.trust_env = False
        self.session.headers["User-Agent"] = "dockguard-probe"

    def call(
        self, method: str, path_or_url: str, headers: dict[str, str] | None = None, **kw: Any
    ) -> tuple[int, Mapping[str, str], bytes]:
        url = path_or_url if "://" in path_or_url else self.base + path_or_url
        with warnings.catch_warnings():
            # Unverified on purpose: the certificate-chain step reports on trust.
            warnings.simplefilter("ignore", urllib3.exceptions.InsecureRequestWarning)
            response = self.session.request(
                method, url, headers=headers or {}, verify=False, timeout=self.timeout,
                allow_redirects=False, stream=True, **kw,
            )
        with response:
            body = response.raw.read(MAX_BODY, decode_content=True) or b""
            return response.status_code, response.headers, body


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
) -> ProbeResult:
    """Probe one registry; see the module docstring for the steps."""
    target = parse_target(url)
    started = time.time()
    log = StepLog()
    with tempfile.TemporaryDirectory(prefix="dockguard-foreign-") as tmp:
        foreign = tlsprobe.throwaway_client(Path(tmp) / "pki")
        _run(target, credentials, ca_cert, try_push, repository, timeout, foreign, log)
    return log.result(url, KIND, started)


def _finding(code: str, severity: Severity, title: str, obj: str, **kw: Any) -> Finding:
    return make_finding(KIND, code, severity, title, obj, **kw)


def _run(
    target: RegistryTarget,
    credentials: Credentials | None,
    ca_cert: str | None,
    try_push: bool,
    repository: str | None,
    timeout: float,
    foreign: tlsprobe.ClientCert,
    log: StepLog,
) -> None:
    host, port = target.host, target.port
    scheme = target.scheme

    # connect: TLS or plain?
    if scheme in (None, "https"):
        first = tlsprobe.attempt(host, port, path="/v2/", timeout=timeout)
        if first.outcome is tlsprobe.Outcome.UNREACHABLE:
            log.failed("connect", f"cannot connect to {target.netloc}: {first.reason}")
            log.skip_rest(_STEPS, "target unreachable")
            return
        if first.outcome is tlsprobe.Outcome.NOT_TLS and scheme is None:
            scheme = "http"
        elif first.outcome is tlsprobe.Outcome.NOT_TLS:
            log.failed("connect", f"https requested but {target.netloc} does not speak TLS")
            log.skip_rest(_STEPS, "no TLS")
            return
        else:
            scheme = "https"
            if first.outcome in (tlsprobe.Outcome.ANSWERED,):
                log.completed("connect", f"TLS ({first.version})")
            elif first.outcome is tlsprobe.Outcome.CLIENT_CERT_REJECTED:
                log.completed("connect", f"TLS, client certificate required ({first.reason})")
            else:
                log.failed("connect", f"TLS handshake failed: {first.reason}")
                log.skip_rest(_STEPS, "no TLS handshake possible")
                return
    log.facts["scheme"] = scheme
    obj = f"{scheme}://{target.netloc}"
    if scheme == "http":
        try:
            tlsprobe.plain_http(host, port, "/v2/", timeout)
        except OSError as exc:
            log.failed("connect", f"cannot connect to {target.netloc}: {exc.strerror or exc}")
            log.skip_rest(_STEPS, "target unreachable")
            return
        except HTTPException as exc:
            log.failed("connect", f"no HTTP answer from {target.netloc}: {exc!r}")
            log.skip_rest(_STEPS, "not an HTTP server")
            return
        log.completed("connect", "plain HTTP")
        for name in ("tls-versions", "certificate", "certificate-chain"):
            log.skipped(name, "plain HTTP")
    else:
        _tls_steps(target, ca_cert, foreign, obj, timeout, log)

    http = _Http(f"{scheme}://{target.netloc}", timeout)
    try:
        _api_steps(http, scheme, obj, credentials, try_push, repository, log)
    except requests.RequestException as exc:
        name = next(n for n in _STEPS if n not in {s.name for s in log.steps})
        log.failed(name, f"request failed: {exc.__class__.__name__}: {str(exc)[:200]}")
        log.skip_rest(_STEPS, "an earlier request failed")
    finally:
        http.session.close()


def _tls_steps(
    target: RegistryTarget,
    ca_cert: str | None,
    foreign: tlsprobe.ClientCert,
    obj: str,
    timeout: float,
    log: StepLog,
) -> None:
    host, port = target.host, target.port
    versions = tlsprobe.probe_versions(host, port, client=foreign, timeout=timeout)
    log.facts["tls_versions"] = versions
    if any(v in ("accepted", "refused") for v in versions.values()):
        accepted = [v for v, r in versions.items() if r == "accepted"]
        log.completed("tls-versions", "accepted: " + (", ".join(accepted) or "none"))
        for f in tlsprobe.version_findings(versions, obj, KIND):
            log.add(f)
    else:
        log.failed("tls-versions", "no version could be classified")

    seen = tlsprobe.attempt(host, port, path=None, timeout=timeout)
    info: tlsprobe.CertInfo | None = None
    if seen.peer_der:
        info = tlsprobe.parse_certificate(seen.peer_der)
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
    else:
        log.failed("certificate", f"no certificate seen: {seen.reason}")

    chain, weak = tlsprobe.verify_chain(host, port, cafile=ca_cert, timeout=timeout)
    anchor = ca_cert or "the system trust store"
    if chain.outcome in (tlsprobe.Outcome.ANSWERED, tlsprobe.Outcome.CLIENT_CERT_REJECTED):
        log.completed("certificate-chain", f"verifies against {anchor}" + (
            f" only at OpenSSL security level 0 ({weak})" if weak else ""
        ))
    elif chain.outcome is tlsprobe.Outcome.SERVER_CERT_UNTRUSTED:
        log.completed("certificate-chain", chain.verify_message or chain.reason)
        found = tlsprobe.chain_finding(chain, ca_cert, obj, KIND, info)
        if found:
            log.add(found)
    else:
        log.failed("certificate-chain", f"{chain.outcome.value}: {chain.reason}")


def _api_steps(
    http: _Http,
    scheme: str,
    obj: str,
    credentials: Credentials | None,
    try_push: bool,
    repository: str | None,
    log: StepLog,
) -> None:
    status, headers, _ = http.call("GET", "/v2/")
    challenge = headers.get("WWW-Authenticate", "")
    api_header = headers.get("Docker-Distribution-API-Version", "")
    auth_scheme, params = parse_challenge(challenge) if challenge else ("", {})
    log.facts.update(
        {"v2_status": status, "api_version_header": api_header or None,
         "auth": auth_scheme or ("none" if status == 200 else "unknown")}
    )
    if status not in (200, 401):
        log.failed("api", f"/v2/ answered HTTP {status}: not a registry API")
        log.skip_rest(_STEPS, "no registry API")
        return
    note = f"/v2/ HTTP {status}" + (f", {auth_scheme} challenge" if auth_scheme else ", open")
    note += f", {api_header}" if api_header else ", no Docker-Distribution-API-Version header"
    log.completed("api", note)
    if params.get("realm"):
        log.facts["token_realm" if auth_scheme == "bearer" else "auth_realm"] = params["realm"]

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
    realm = params.get("realm", "")
    if auth_scheme == "bearer" and realm.lower().startswith("http://"):
        log.add(_finding(
            "bearer-realm-http", Severity.HIGH,
            f"the token realm is plain HTTP: {realm}", obj,
            description="Clients send their credentials to the token server unencrypted.",
            remediation="Serve the token service over https and set auth.token.realm to it.",
            data={"realm": realm},
        ))

    # The given credentials.
    auth_header: dict[str, str] = {}
    if credentials is None:
        log.skipped("credentials", "no credentials given (--username, --password-stdin)")
    elif scheme == "http" or (auth_scheme == "bearer" and realm.lower().startswith("http://")):
        log.skipped("credentials", "refusing to send credentials over plain HTTP")
    elif auth_scheme == "basic":
        code, _, _ = http.call("GET", "/v2/", {"Authorization": _basic(credentials)})
        if code == 200:
            auth_header = {"Authorization": _basic(credentials)}
        log.completed("credentials", "accepted" if code == 200 else f"refused: HTTP {code}")
    elif auth_scheme == "bearer":
        token, why = _token(http, params, "registry:catalog:*", credentials)
        if token:
            auth_header = {"Authorization": f"Bearer {token}"}
        log.completed("credentials", "token issued" if token else f"refused: {why}")
    else:
        log.skipped("credentials", "the registry asks for no authentication")

    # An anonymous token (Bearer only): what does the token service hand out to anyone?
    anon_tokens: dict[str, str] = {}
    if auth_scheme == "bearer" and realm:
        token, why = _token(http, params, "registry:catalog:*", None)
        if token:
            anon_tokens["registry:catalog:*"] = token
            log.completed("anonymous-token", "issued for registry:catalog:*")
        elif why.startswith("token service unreachable"):
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
            token, _ = _token(http, params, scope, None)
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
        repos = _repositories(body)
        log.facts["repositories"] = repos
        log.completed("anonymous-catalog", f"allowed ({via}): {len(repos)} repositories")
        log.add(_finding(
            "anonymous-catalog", Severity.MEDIUM,
            f"anyone can list the repositories ({via})", obj,
            remediation="Require authentication for the catalog (registry:catalog:*).",
            data={"via": via, "repositories": repos[:20]},
        ))
    else:
        log.completed("anonymous-catalog", f"refused: HTTP {code}")
        if auth_header:
            c2, _, b2 = http.call("GET", "/v2/_catalog?n=100", auth_header)
            if c2 == 200:
                repos = _repositories(b2)
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
            tags = _tags(body)
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
                data={"via": via, "repository": repo, "detail": tag_note},
            ))

    # Push: only when asked, since it touches the registry.
    if not try_push:
        log.skipped("anonymous-push", "not attempted (use --try-push)")
        return
    push_repo = repository or PUSH_REPOSITORY
    scope = f"repository:{push_repo}:push,pull"
    code, hdrs, _, via = anonymous("POST", f"/v2/{push_repo}/blobs/uploads/", scope)
    if code == 202:
        location = hdrs.get("Location", "")
        cancelled = "no upload location to cancel"
        if location:
            upload = urljoin(http.base + f"/v2/{push_repo}/blobs/uploads/", location)
            extra = {}
            if via == "anonymous token":
                extra = {"Authorization": f"Bearer {anon_tokens[scope]}"}
            dcode, _, _ = http.call("DELETE", upload, extra)
            cancelled = f"upload cancelled (HTTP {dcode})"
        log.completed("anonymous-push", f"allowed ({via}); {cancelled}")
        log.add(_finding(
            "anonymous-push", Severity.CRITICAL,
            f"anyone can push to {push_repo} ({via})", obj,
            description="An anonymous client started a blob upload: anyone can replace "
            "images that others pull.",
            remediation="Require authentication for push.",
            data={"via": via, "repository": push_repo},
        ))
    else:
        log.completed("anonymous-push", f"refused: HTTP {code}")


def _token(
    http: _Http, params: dict[str, str], scope: str, credentials: Credentials | None
) -> tuple[str | None, str]:
    realm = params.get("realm", "")
    if urlsplit(realm).scheme not in ("http", "https"):
        return None, f"bad realm {realm!r}"
    query = {"scope": scope}
    if params.get("service"):
        query["service"] = params["service"]
    headers = {"Authorization": _basic(credentials)} if credentials else {}
    sep = "&" if "?" in realm else "?"
    try:
        code, _, body = http.call("GET", f"{realm}{sep}{urlencode(query)}", headers)
    except requests.RequestException as exc:
        return None, f"token service unreachable ({exc.__class__.__name__})"
    if code != 200:
        return None, f"token service HTTP {code}"
    try:
        data = json.loads(body)
        token = data.get("token") or data.get("access_token")
    except (ValueError, AttributeError):
        return None, "token service answered no JSON"
    return (token, "") if isinstance(token, str) and token else (None, "no token in the answer")


def _repositories(body: bytes) -> list[str]:
    try:
        repos = json.loads(body).get("repositories") or []
    except (ValueError, AttributeError):
        return []
    return [str(r) for r in repos]


def _tags(body: bytes) -> list[str]:
    try:
        tags = json.loads(body).get("tags") or []
    except (ValueError, AttributeError):
        return []
    return sorted(str(t) for t in tags)
