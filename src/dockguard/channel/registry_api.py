"""Pulling images from a registry over the Distribution API, without any daemon.

* References are parsed like docker does (``host[:port]/path:tag@sha256:…``; a first component
  without ``.`` or ``:`` that is not ``localhost`` means Docker Hub, single names get
  ``library/``).
* Auth: anonymous, Basic and the Bearer token flow (realm/service/scope from the challenge);
  credentials from the caller, ``~/.docker/config.json`` ``auths`` or a credential helper
  (``credHelpers`` / ``credsStore``, i.e. ``docker-credential-<name> get``).
* Manifest lists and OCI indexes are followed to the requested platform.  Manifests, indexes
  and configs are size-bounded and verified against their digest; layers are streamed to a
  temporary file while being hashed, so nothing unverified ever reaches a parser.
* TLS verification is on unless ``insecure``.  Plain HTTP is used only when the server does not
  speak TLS at all and the registry is insecure (``insecure`` or loopback, like dockerd's
  default ``127.0.0.0/8``).  Redirects are followed by hand and never carry the registry's
  Authorization header to another host, nor go from HTTPS to HTTP.
* Credentials (Basic, or Basic to the token realm) are sent only over verified TLS - never with
  ``insecure`` - or over plain HTTP to a loopback registry/realm when the caller allows it
  explicitly (``allow_plain_http_credentials``); otherwise they are withheld and the pull is
  anonymous.
* Every request has a total deadline and every body a byte cap (see `dockguard.channel.bounded_http`);
  JSON goes through `dockguard.inputs.parse_json` (depth cap, one error type).
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlencode, urljoin, urlsplit

import requests

from dockguard.channel.bounded_http import (
    MIN_RATE,
    BoundedSession,
    Deadline,
    deadline_seconds,
    raw_chunks,
    read_capped,
    short,
    shown,
)
from dockguard.errors import OperationalError, UsageError
from dockguard.image import decode
from dockguard.image.decode import Descriptor as Descriptor  # the one OCI descriptor type
from dockguard.image.digests import DigestMismatch, algorithm, check_bytes
from dockguard.image.limits import DEFAULT_LIMITS
from dockguard.inputs import MAX_POLICY, InputError, parse_json, read_bytes
from dockguard.jsontypes import Json, JsonObject

DOCKER_HUB = "docker.io"
DOCKER_HUB_API = "registry-1.docker.io"
DOCKER_HUB_AUTH_KEY = "https://index.docker.io/v1/"

MEDIA_OCI_INDEX = "application/vnd.oci.image.index.v1+json"
MEDIA_DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
MEDIA_OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MEDIA_DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
INDEX_TYPES = (MEDIA_OCI_INDEX, MEDIA_DOCKER_LIST)
MANIFEST_TYPES = (MEDIA_OCI_MANIFEST, MEDIA_DOCKER_MANIFEST)
ACCEPT = ", ".join((*INDEX_TYPES, *MANIFEST_TYPES))

MAX_MANIFEST = 4 * 1024 * 1024
MAX_CONFIG = 16 * 1024 * 1024
MAX_BLOB = 64 * 1024**3
MAX_REDIRECTS = 5
MAX_TOKEN = 1024 * 1024
MAX_TOKEN_HEADER = 64 * 1024
"""Characters of a Bearer token we are willing to put in a header."""
MAX_CHALLENGE = 8 * 1024
"""Characters of a WWW-Authenticate header we parse."""
MAX_REALM = 2048
MAX_HELPER_OUTPUT = 1024 * 1024

# distribution/reference grammar
_ALNUM = r"[a-z0-9]+"
_SEP = r"(?:[._]|__|[-]+)"
_COMPONENT = rf"{_ALNUM}(?:{_SEP}{_ALNUM})*"
_PATH_RE = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*$")
_TAG_RE = re.compile(r"^[\w][\w.-]{0,127}$")
_DIGEST_RE = re.compile(r"^sha256:[a-f0-9]{64}$|^sha512:[a-f0-9]{128}$")
_DOMAIN_RE = re.compile(
    r"^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*"
    r"|\[[0-9a-fA-F:.]+\])(?::[0-9]+)?$"
)


@dataclass(frozen=True)
class Reference:
    """A parsed image reference."""

    registry: str
    repository: str
    tag: str | None = None
    digest: str | None = None

    @property
    def api_host(self) -> str:
        """Where the Distribution API lives (Docker Hub's differs from its name)."""
        return DOCKER_HUB_API if self.registry == DOCKER_HUB else self.registry

    @property
    def reference(self) -> str:
        """What to ask the manifests endpoint for: the digest if pinned, else the tag."""
        return self.digest or self.tag or "latest"

    def __str__(self) -> str:
        out = f"{self.registry}/{self.repository}"
        if self.tag:
            out += f":{self.tag}"
        if self.digest:
            out += f"@{self.digest}"
        return out


def parse_reference(text: str) -> Reference:
    """Parse like ``docker pull`` does; raise UsageError for invalid references."""
    original = text
    if not text or text != text.strip() or "://" in text:
        raise UsageError(f"invalid image reference {original!r}")
    digest = None
    if "@" in text:
        text, digest = text.split("@", 1)
        if not _DIGEST_RE.match(digest):
            raise UsageError(f"invalid digest in {original!r}")
    tag = None
    slash = text.rfind("/")
    colon = text.rfind(":")
    if colon > slash:
        text, tag = text[:colon], text[colon + 1 :]
        if not _TAG_RE.match(tag):
            raise UsageError(f"invalid tag {tag!r} in {original!r}")
    first, sep, rest = text.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost" or first != first.lower()):
        registry, path = first, rest
        if not _DOMAIN_RE.match(registry):
            raise UsageError(f"invalid registry {registry!r} in {original!r}")
    else:
        registry, path = DOCKER_HUB, text
    if registry in ("index.docker.io", "registry-1.docker.io"):
        registry = DOCKER_HUB
    if registry == DOCKER_HUB and "/" not in path:
        path = f"library/{path}"
    if not _PATH_RE.match(path) or len(path) > 255:
        raise UsageError(
            f"invalid repository {path!r} in {original!r} (lower-case letters, digits, . _ - /)"
        )
    if tag is None and digest is None:
        tag = "latest"
    return Reference(registry, path, tag, digest)


def looks_like_reference(text: str) -> bool:
    """True when `text` names a registry host explicitly (``host.tld/…``, ``host:port/…``).

    Bare names (``alpine:3``) are left to the daemon source, like docker run does with local
    images; they can be pulled with an explicit ``docker.io/`` prefix.
    """
    first, sep, _ = text.partition("/")
    if not sep or not ("." in first or ":" in first or first == "localhost"):
        return False
    if text.startswith(("./", "../", "/")) or os.path.exists(text):
        return False
    try:
        parse_reference(text)
    except UsageError:
        return False
    return True


# --- credentials -------------------------------------------------------------------------


@dataclass(frozen=True)
class Credentials:
    """A user name and password (or token) for Basic auth and token requests."""

    username: str
    password: str
    source: str = "flags"

    def __repr__(self) -> str:
        return f"Credentials(username={self.username!r}, source={self.source!r})"


def _auth_key(key: str) -> str:
    key = key.strip()
    if "://" in key:
        try:
            key = urlsplit(key).netloc
        except ValueError:
            return ""
    return key.rstrip("/").split("/", 1)[0]


def docker_config_dir(env: Mapping[str, str]) -> Path:
    """``$DOCKER_CONFIG`` or ``~/.docker``."""
    if env.get("DOCKER_CONFIG"):
        return Path(env["DOCKER_CONFIG"])
    return Path(env.get("HOME") or Path.home()) / ".docker"


def credentials_from_config(
    registry: str, env: Mapping[str, str] | None = None, timeout: float = 30.0
) -> Credentials | None:
    """Look `registry` up in docker's config.json: credHelpers, auths, then credsStore."""
    env = os.environ if env is None else env
    path = docker_config_dir(env) / "config.json"
    if not path.exists():
        return None
    config = parse_json(read_bytes(path, limit=MAX_POLICY, what="docker config"), str(path))
    if not isinstance(config, dict):
        raise InputError(str(path), "not a JSON object")
    wanted = {_auth_key(registry)}
    if registry == DOCKER_HUB:
        wanted |= {_auth_key(DOCKER_HUB_AUTH_KEY), "index.docker.io", DOCKER_HUB_API}

    helpers = config.get("credHelpers") or {}
    auths = config.get("auths") or {}
    if not isinstance(helpers, dict):
        raise InputError(str(path), "not an object", "$.credHelpers")
    if not isinstance(auths, dict):
        raise InputError(str(path), "not an object", "$.auths")
    for key, helper in helpers.items():
        if _auth_key(key) in wanted and isinstance(helper, str):
            return credential_helper(helper, _server_url(registry, key), env, timeout)
    for key, entry in auths.items():
        if _auth_key(key) not in wanted or not isinstance(entry, dict):
            continue
        auth, user, password = entry.get("auth"), entry.get("username"), entry.get("password")
        if auth:
            try:
                if not isinstance(auth, str):
                    raise ValueError(auth)
                user, _, password = base64.b64decode(auth, validate=True).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                raise InputError(str(path), "not base64 user:password",
                                 f"$.auths[{key!r}].auth") from None
            return Credentials(user, password, f"{path}")
        if isinstance(user, str) and isinstance(password, str) and user and password:
            return Credentials(user, password, f"{path}")
    store = config.get("credsStore")
    if isinstance(store, str) and store:
        return credential_helper(store, _server_url(registry, registry), env, timeout)
    return None


def _server_url(registry: str, key: str) -> str:
    return DOCKER_HUB_AUTH_KEY if registry == DOCKER_HUB else key


def credential_helper(
    name: str, server: str, env: Mapping[str, str], timeout: float = 30.0
) -> Credentials | None:
    """Run ``docker-credential-<name> get`` for `server`; None when it has nothing."""
    if not re.fullmatch(r"[A-Za-z0-9._-]+", name):
        raise OperationalError(f"invalid credential helper name {name!r}")
    program = shutil.which(f"docker-credential-{name}", path=env.get("PATH"))
    if program is None:
        raise OperationalError(f"credential helper docker-credential-{name} is not installed")
    try:
        proc = subprocess.run(
            [program, "get"],
            input=server.encode(),
            capture_output=True,
            timeout=timeout,
            env=dict(env),
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise OperationalError(f"docker-credential-{name} failed: {exc}") from None
    out = proc.stdout.decode(errors="replace").strip()
    if proc.returncode != 0:
        if "credentials not found" in out.lower():
            return None
        raise OperationalError(f"docker-credential-{name} get failed: {out[:200]}")
    try:
        if len(out) > MAX_HELPER_OUTPUT:
            raise ValueError(len(out))
        data = parse_json(out, f"docker-credential-{name}")
        if not isinstance(data, dict):
            raise TypeError(data)
        user, secret = data["Username"], data["Secret"]
        if not isinstance(user, str) or not isinstance(secret, str):
            raise TypeError(user)
    except (OperationalError, ValueError, KeyError, TypeError):
        raise OperationalError(f"docker-credential-{name} returned malformed JSON") from None
    return Credentials(user, secret, f"docker-credential-{name}")


# --- HTTP --------------------------------------------------------------------------------


class ChallengeError(OperationalError):
    """A WWW-Authenticate header that cannot be parsed."""


_TOKEN_CHARS = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """``Bearer realm="…",service="…"`` -> ("bearer", {realm, service, ...}).

    One linear pass (RFC 9110 auth-params, quoted strings with backslash escapes); a header
    longer than MAX_CHALLENGE, a repeated parameter or an unterminated quote is a
    ChallengeError.  Parsing stops at anything that is not ``name=value`` (a second challenge,
    a token68).
    """
    if len(header) > MAX_CHALLENGE:
        raise ChallengeError(
            f"WWW-Authenticate header of {len(header)} characters (more than {MAX_CHALLENGE})"
        )
    text, n = header, len(header)
    i = 0

    def skip(chars: str) -> None:
        nonlocal i
        while i < n and text[i] in chars:
            i += 1

    def token() -> str:
        nonlocal i
        start = i
        while i < n and text[i] in _TOKEN_CHARS:
            i += 1
        return text[start:i]

    skip(" \t")
    scheme = token().lower()
    params: dict[str, str] = {}
    while i < n:
        skip(" \t,")
        key = token().lower()
        skip(" \t")
        if not key or i >= n or text[i] != "=" or text[i + 1 : i + 2] == "=":
            break  # not name=value: a token68 ("abc=="), or the next challenge
        i += 1
        skip(" \t")
        if i < n and text[i] == '"':
            i += 1
            value: list[str] = []
            while i < n and text[i] != '"':
                if text[i] == "\\" and i + 1 < n:
                    i += 1
                value.append(text[i])
                i += 1
            if i >= n:
                raise ChallengeError(f"WWW-Authenticate: unterminated quote in {key}")
            i += 1
            val = "".join(value)
        else:
            start = i
            while i < n and text[i] not in ", \t":
                i += 1
            val = text[start:i]
        if key in params:
            raise ChallengeError(f"WWW-Authenticate: {key} given twice")
        params[key] = val
    return scheme, params


def is_insecure_host(registry: str) -> bool:
    """Loopback hosts, which dockerd treats as insecure registries by default."""
    try:
        host = urlsplit(f"//{registry}").hostname or ""
    except ValueError:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_realm(realm: str, what: str) -> str:
    """The token realm if it is a plain ``http(s)://host[:port]/path`` URL, else an error."""
    try:
        parts = urlsplit(realm)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        parts = None
    if (
        parts is None
        or parts.scheme not in ("https", "http")
        or not parts.hostname
        or parts.username is not None
        or len(realm) > MAX_REALM
        or any(not c.isprintable() or c.isspace() for c in realm)
    ):
        raise OperationalError(f"{what}: bad token realm {shown(realm)!r}")
    return realm


def _hasher(digest: str) -> Any:
    algo = algorithm(digest)
    if algo is None:
        raise DigestMismatch(f"malformed or unsupported digest {digest[:150]!r}")
    return hashlib.new(algo)


def _pullable(desc: Descriptor, what: str, path: list[str | int]) -> Descriptor:
    """`desc` if a pull can fetch it: its size known (deadlines and caps need it), no foreign URLs."""
    if desc.size is None:
        raise InputError.at(what, [*path, "size"], "a descriptor needs its size")
    if desc.urls:
        raise OperationalError(f"{what}: foreign layers (urls) are not fetched")
    return desc


def parse_descriptor(data: Json, what: str, path: list[str | int] | None = None) -> Descriptor:
    """One descriptor of a manifest or index, decoded by `dockguard.image.decode` (shape,
    digest form, platform) and checked for a pull (`_pullable`)."""
    where = path or []
    return _pullable(decode.descriptor(data, what, where), what, where)


def _size(desc: Descriptor) -> int:
    if desc.size is None:  # parse_descriptor refused it; a hand-made descriptor may lack one
        raise OperationalError(f"blob {desc.digest}: size unknown")
    return desc.size


def _index_entries(doc: Json, what: str) -> list[Descriptor]:
    """The entries of an image index (none when the document is not one)."""
    index = decode.oci_document(doc, what, DEFAULT_LIMITS)
    if not isinstance(index, decode.OciIndex):
        return []
    return [_pullable(d, what, ["manifests", i]) for i, d in enumerate(index.manifests)]


def _manifest(doc: Json, what: str) -> decode.OciManifest:
    """A schema-2 / OCI image manifest, every descriptor checked for a pull."""
    manifest = decode.oci_document(doc, what, DEFAULT_LIMITS)
    if not isinstance(manifest, decode.OciManifest):
        raise OperationalError(f"{what}: not an image manifest")
    return decode.OciManifest(
        config=_pullable(manifest.config, what, ["config"]),
        layers=tuple(_pullable(d, what, ["layers", i]) for i, d in enumerate(manifest.layers)),
    )


@dataclass(frozen=True)
class PulledImage:
    """A resolved image: which manifest, its config (verified) and layer descriptors."""

    reference: Reference
    manifest_digest: str
    manifest_media_type: str
    index_digest: str | None
    platform: str
    config: JsonObject
    config_digest: str
    layers: tuple[Descriptor, ...]


_REDIRECTS = (301, 302, 303, 307, 308)


class RegistryClient:
    """A small Distribution API client for one registry (pull only).

    Credentials (Basic, or the user's Bearer tokens) are sent only over a verified TLS
    connection, or over plain HTTP to a loopback registry when `allow_plain_http_credentials`
    is set; otherwise they are withheld, the pull goes on anonymously and an access error says
    why.  Every request has a total deadline (`deadline` seconds, default
    ``$DOCKGUARD_HTTP_DEADLINE`` or 60; blobs get size / MIN_RATE more) and every body a cap.
    """

    def __init__(
        self,
        registry: str,
        *,
        credentials: Credentials | None = None,
        insecure: bool = False,
        ca_cert: str | None = None,
        timeout: float = 30.0,
        allow_plain_http_credentials: bool = False,
        deadline: float | None = None,
    ) -> None:
        self.registry = registry
        self.api_host = DOCKER_HUB_API if registry == DOCKER_HUB else registry
        self.credentials = credentials
        self.insecure = insecure
        self.verify: bool | str = False if insecure else (ca_cert or True)
        self.timeout = timeout
        self.allow_plain_http_credentials = allow_plain_http_credentials
        self.deadline = deadline_seconds() if deadline is None else deadline
        self.http = BoundedSession("dockguard", timeout)
        self.withheld: str | None = None
        """Why credentials were not sent, once that happened."""
        self._scheme: str | None = None
        self._tokens: dict[str, str] = {}
        self._basic = False

    def close(self) -> None:
        """Close pooled connections."""
        self.http.close()

    # -- transport

    def base_url(self) -> str:
        """``https://host`` (or ``http://host`` for an insecure registry without TLS)."""
        if self._scheme is None:
            with Deadline(self.deadline, f"connecting to {self.registry}") as dl:
                self._scheme = self._pick_scheme(dl)
        return f"{self._scheme}://{self.api_host}"

    def _pick_scheme(self, deadline: Deadline) -> str:
        try:
            self.http.open("GET", f"https://{self.api_host}/v2/", deadline,
                           verify=self.verify).close()
            return "https"
        except requests.exceptions.SSLError as exc:
            text = str(exc)
            plain = "WRONG_VERSION_NUMBER" in text or "record layer failure" in text
            if plain and (self.insecure or is_insecure_host(self.registry)):
                return "http"
            if plain:
                raise OperationalError(
                    f"{self.registry} does not speak TLS; use --insecure to pull over plain HTTP"
                ) from None
            raise OperationalError(f"TLS error talking to {self.registry}: {short(exc)}") from None
        except requests.RequestException as exc:
            raise OperationalError(f"cannot reach {self.registry}: {short(exc)}") from None

    def credential_block(self) -> str | None:
        """None when credentials may go to the registry, else why they may not."""
        if self.credentials is None:
            return None
        if self.base_url().startswith("https://"):
            if self.insecure:
                return ("TLS verification is off (--insecure); give the registry's CA with "
                        "--ca-cert instead")
            return None
        if not is_insecure_host(self.registry):
            return f"{self.registry} speaks plain HTTP"
        if not self.allow_plain_http_credentials:
            return (f"{self.registry} speaks plain HTTP (allow it for a loopback registry with "
                    "--allow-plain-http-credentials)")
        return None

    def _realm_block(self, realm: str) -> str | None:
        parts = urlsplit(realm)
        if parts.scheme == "https":
            return None  # verified like the registry itself (self.verify is never False here)
        host = parts.netloc.rpartition("@")[2]
        if is_insecure_host(host) and self.allow_plain_http_credentials:
            return None
        return f"the token realm {shown(realm)} is plain HTTP"

    def _auth_header(self, scope: str) -> dict[str, str]:
        token = self._tokens.get(scope)
        if token:
            return {"Authorization": f"Bearer {token}"}
        if self._basic and self.credentials and self.credential_block() is None:
            raw = f"{self.credentials.username}:{self.credentials.password}".encode()
            return {"Authorization": "Basic " + base64.b64encode(raw).decode()}
        return {}

    def _request(
        self,
        method: str,
        path: str,
        scope: str,
        deadline: Deadline,
        headers: Mapping[str, str] | None = None,
    ) -> requests.Response:
        """Send a streamed request to the registry, authenticating on a 401 challenge."""
        url = self.base_url() + path
        response = self._send(method, url, {**(headers or {}), **self._auth_header(scope)},
                              deadline)
        if response.status_code == 401:
            challenge = response.headers.get("WWW-Authenticate", "")
            response.close()
            self._authenticate(challenge, scope)
            response = self._send(method, url, {**(headers or {}), **self._auth_header(scope)},
                                  deadline)
        return response

    def _send(
        self, method: str, url: str, headers: dict[str, str], deadline: Deadline
    ) -> requests.Response:
        """One request, following redirects by hand; a redirect's body is never read."""
        origin = _origin(url)
        for _ in range(MAX_REDIRECTS + 1):
            try:
                response = self.http.open(method, url, deadline, headers=headers,
                                          verify=self.verify)
            except requests.RequestException as exc:
                raise OperationalError(f"{method} {shown(url)}: {short(exc)}") from None
            if response.status_code not in _REDIRECTS:
                return response
            location = response.headers.get("Location", "")
            response.close()
            if not location:
                raise OperationalError(f"{method} {shown(url)}: redirect without a Location")
            try:
                target = urljoin(url, location)
                scheme = urlsplit(target).scheme
                _origin(target)
            except ValueError:
                raise OperationalError(f"refusing redirect to {shown(location)}") from None
            if scheme not in ("https", "http"):
                raise OperationalError(f"refusing redirect to {shown(target)}")
            if scheme == "http" and urlsplit(url).scheme == "https":
                # Even with --insecure, which is about the registry's own transport.
                raise OperationalError(f"refusing redirect from HTTPS to {shown(target)}")
            if _origin(target) != origin:
                # Blob storage on another host must never see the registry's credentials.
                headers = {k: v for k, v in headers.items() if k.lower() != "authorization"}
            url = target
            if response.status_code == 303:
                method = "GET"
        raise OperationalError(f"{method} {shown(url)}: more than {MAX_REDIRECTS} redirects")

    def _authenticate(self, challenge: str, scope: str) -> None:
        scheme, params = parse_challenge(challenge)
        if scheme == "basic":
            if not self.credentials:
                raise OperationalError(
                    f"{self.registry} requires a login (Basic auth): give --username and "
                    "--password-stdin or log in with docker"
                )
            block = self.credential_block()
            if block:
                self.withheld = block
                raise OperationalError(
                    f"{self.registry} requires a login (Basic auth); refusing to send "
                    f"credentials: {block}"
                )
            self._basic = True
            return
        if scheme != "bearer" or not params.get("realm"):
            raise OperationalError(
                f"{self.registry}: unsupported auth challenge {shown(challenge)!r}"
            )
        self._tokens[scope] = self.fetch_token(params, scope)

    def fetch_token(self, params: Mapping[str, str], scope: str) -> str:
        """Get a Bearer token from the challenge's realm.

        The credentials go along (Basic) only when they may go to the registry and the realm
        is HTTPS (verified like the registry) or a loopback realm allowed by
        `allow_plain_http_credentials`; otherwise the token is anonymous.
        """
        realm = check_realm(params["realm"], self.registry)
        credentials = self.credentials
        if credentials is not None:
            block = self.credential_block() or self._realm_block(realm)
            if block:
                self.withheld = block
                credentials = None
        query = {"scope": scope}
        if params.get("service"):
            query["service"] = params["service"]
        headers = {}
        if credentials is not None:
            raw = f"{credentials.username}:{credentials.password}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(raw).decode()
        url = f"{realm}{'&' if '?' in realm else '?'}{urlencode(query)}"
        what = f"token request to {shown(realm)}"
        with Deadline(self.deadline, what) as dl, self._send("GET", url, headers, dl) as response:
            if response.status_code != 200:
                raise OperationalError(f"{what} for {scope}: HTTP {response.status_code}")
            body = read_capped(response, MAX_TOKEN, f"{what}: answer")
        try:
            data = parse_json(body, f"{what}: answer")
        except InputError:
            data = None
        token = data.get("token") or data.get("access_token") if isinstance(data, dict) else None
        if not isinstance(token, str) or not token:
            raise OperationalError(f"{what}: no token in the answer")
        if len(token) > MAX_TOKEN_HEADER or any(not c.isprintable() for c in token):
            raise OperationalError(f"{what}: the token is not a usable header value")
        return token

    def _denied(self, what: str, status: int) -> OperationalError:
        note = f"; credentials were not sent: {self.withheld}" if self.withheld else ""
        return OperationalError(f"{what}: access denied (HTTP {status}){note}")

    # -- content

    def get_manifest(self, repository: str, reference: str) -> tuple[str, bytes, str]:
        """(media type, raw bytes, digest) of a manifest or index, bounded and verified."""
        scope = f"repository:{repository}:pull"
        what = f"manifest {self.registry}/{repository}:{reference}"
        with Deadline(self.deadline, what) as dl, self._request(
            "GET", f"/v2/{repository}/manifests/{reference}", scope, dl, {"Accept": ACCEPT}
        ) as response:
            if response.status_code == 404:
                raise OperationalError(f"{self.registry}/{repository}:{reference}: not found")
            if response.status_code in (401, 403):
                raise self._denied(f"{self.registry}/{repository}", response.status_code)
            if response.status_code != 200:
                raise OperationalError(
                    f"manifest {repository}:{reference}: HTTP {response.status_code}"
                )
            body = read_capped(response, MAX_MANIFEST, "manifest")
            media_type = response.headers.get("Content-Type", "").split(";")[0].strip()
            header_digest = response.headers.get("Docker-Content-Digest", "")
        if _DIGEST_RE.match(reference):
            check_bytes(body, reference, f"manifest {repository}@{reference}")
            digest = reference
        else:
            digest = "sha256:" + hashlib.sha256(body).hexdigest()
            if header_digest and _DIGEST_RE.match(header_digest):
                check_bytes(body, header_digest, f"manifest {repository}:{reference}")
                digest = header_digest
        doc = parse_json(body, what)
        doc_media = doc.get("mediaType") if isinstance(doc, dict) else None
        if isinstance(doc_media, str):
            media_type = doc_media
        return shown(media_type), body, digest

    def resolve(self, ref: Reference, platform: str) -> PulledImage:
        """Manifest (following an index to `platform`), verified config, layer descriptors."""
        media_type, body, digest = self.get_manifest(ref.repository, ref.reference)
        doc = parse_json(body, f"manifest of {ref}")
        index_digest = None
        chosen_platform = ""
        if media_type in INDEX_TYPES or (isinstance(doc, dict) and "manifests" in doc):
            index_digest = digest
            entries = _index_entries(doc, f"index of {ref}")
            chosen = select_platform(entries, platform)
            if chosen is None:
                found = sorted({shown(str(e.platform)) for e in entries if e.platform and e.platform.os})
                listed = ", ".join(found[:20]) + (", ..." if len(found) > 20 else "")
                raise OperationalError(
                    f"{ref} has no image for {platform} (has: {listed or 'none'})"
                )
            chosen_platform = str(chosen.platform) if chosen.platform else ""
            media_type, body, digest = self.get_manifest(ref.repository, chosen.digest)
            doc = parse_json(body, f"manifest {chosen.digest} of {ref}")
        if not isinstance(doc, dict) or doc.get("schemaVersion") != 2 or "config" not in doc:
            raise OperationalError(
                f"{ref}: unsupported manifest ({media_type or 'no media type'}); "
                "only schema 2 / OCI manifests are supported"
            )
        manifest = _manifest(doc, f"manifest of {ref}")
        config_desc, layers = manifest.config, manifest.layers
        if _size(config_desc) > MAX_CONFIG:
            raise OperationalError(f"{ref}: config of {config_desc.size} bytes is too large")
        config_bytes = self.read_blob(ref.repository, config_desc, MAX_CONFIG)
        config = parse_json(config_bytes, f"image config of {ref}")
        if not isinstance(config, dict):
            raise OperationalError(f"{ref}: image config is not an object")
        if not chosen_platform:
            fields = [config.get("os"), config.get("architecture"), config.get("variant")]
            chosen_platform = "/".join(shown(f) for f in fields[:2] if isinstance(f, str))
            if isinstance(fields[2], str) and fields[2]:
                chosen_platform += f"/{shown(fields[2])}"
        return PulledImage(
            reference=ref,
            manifest_digest=digest,
            manifest_media_type=media_type,
            index_digest=index_digest,
            platform=chosen_platform,
            config=config,
            config_digest=config_desc.digest,
            layers=layers,
        )

    def _open_blob_response(
        self, repository: str, desc: Descriptor, deadline: Deadline
    ) -> requests.Response:
        response = self._request("GET", f"/v2/{repository}/blobs/{desc.digest}",
                                 f"repository:{repository}:pull", deadline)
        if response.status_code != 200:
            response.close()
            if response.status_code in (401, 403):
                raise self._denied(f"blob {desc.digest}", response.status_code)
            raise OperationalError(f"blob {desc.digest}: HTTP {response.status_code}")
        return response

    def blob_deadline(self, desc: Descriptor) -> Deadline:
        """The deadline for fetching `desc`: the request deadline plus size / MIN_RATE."""
        return Deadline(self.deadline + _size(desc) / MIN_RATE, f"blob {desc.digest}")

    def read_blob(self, repository: str, desc: Descriptor, limit: int) -> bytes:
        """A small blob (config) in memory, size-checked and verified."""
        with self.blob_deadline(desc) as dl, self._open_blob_response(
            repository, desc, dl
        ) as response:
            data = read_capped(response, min(limit, _size(desc)), f"blob {desc.digest}")
        if len(data) != desc.size:
            raise OperationalError(f"blob {desc.digest}: {len(data)} bytes, expected {desc.size}")
        check_bytes(data, desc.digest, f"blob {desc.digest}")
        return data

    def download_blob(self, repository: str, desc: Descriptor, out: IO[bytes]) -> None:
        """Stream a blob into `out`, hashing as it goes; DigestMismatch on any difference."""
        size = _size(desc)
        if size > MAX_BLOB:
            raise OperationalError(f"blob {desc.digest}: {size} bytes is too large")
        h = _hasher(desc.digest)
        total = 0
        with self.blob_deadline(desc) as dl, self._open_blob_response(
            repository, desc, dl
        ) as response:
            for chunk in raw_chunks(response, f"blob {desc.digest}"):
                total += len(chunk)
                if total > size:
                    raise DigestMismatch(
                        f"blob {desc.digest}: more than the {desc.size} bytes announced"
                    )
                h.update(chunk)
                out.write(chunk)
        if total != size:
            raise DigestMismatch(f"blob {desc.digest}: {total} bytes, expected {desc.size}")
        got = f"{desc.digest.split(':', 1)[0]}:{h.hexdigest()}"
        if got != desc.digest:
            raise DigestMismatch(f"blob {desc.digest}: digest mismatch (got {got})")

    def open_blob(self, repository: str, desc: Descriptor) -> IO[bytes]:
        """A verified, seekable copy of a blob in an anonymous temporary file."""
        tmp = tempfile.TemporaryFile(prefix="dockguard-blob-")  # noqa: SIM115 - returned
        try:
            self.download_blob(repository, desc, tmp)
            tmp.seek(0)
        except BaseException:
            tmp.close()
            raise
        return tmp


def _origin(url: str) -> tuple[str, str, int | None]:
    """(scheme, host, port) with the default port filled in: where credentials may go."""
    parts = urlsplit(url)
    port = parts.port or {"https": 443, "http": 80}.get(parts.scheme)
    return parts.scheme, (parts.hostname or "").lower(), port


def select_platform(entries: list[Descriptor], platform: str) -> Descriptor | None:
    """The index entry for ``os/arch[/variant]`` (arm64's variant defaults to v8)."""
    os_, _, rest = platform.partition("/")
    arch, _, variant = rest.partition("/")
    fallback = None
    for e in entries:
        p = e.platform
        if p is None or p.os != os_ or p.architecture != arch:
            continue
        if variant == p.variant or (arch == "arm64" and {variant, p.variant} <= {"", "v8"}):
            return e
        if not variant and fallback is None:
            fallback = e
    return fallback
