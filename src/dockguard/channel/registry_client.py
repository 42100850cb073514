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
  Authorization header to another host.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import json
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
import urllib3

from dockguard.errors import OperationalError, UsageError

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
CHUNK = 1 << 16

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
        key = urlsplit(key).netloc
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
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise OperationalError(f"cannot read {path}: {exc}") from None
    if not isinstance(config, dict):
        raise OperationalError(f"{path}: not a JSON object")
    wanted = {_auth_key(registry)}
    if registry == DOCKER_HUB:
        wanted |= {_auth_key(DOCKER_HUB_AUTH_KEY), "index.docker.io", DOCKER_HUB_API}

    helpers = config.get("credHelpers") or {}
    for key, helper in helpers.items():
        if _auth_key(key) in wanted and isinstance(helper, str):
            return credential_helper(helper, _server_url(registry, key), env, timeout)
    auths = config.get("auths") or {}
    for key, entry in auths.items():
        if _auth_key(key) not in wanted or not isinstance(entry, dict):
            continue
        if entry.get("auth"):
            try:
                user, _, password = base64.b64decode(entry["auth"]).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                raise OperationalError(f"{path}: auths[{key!r}].auth is not base64") from None
            return Credentials(user, password, f"{path}")
        if entry.get("username") and entry.get("password"):
            return Credentials(entry["username"], entry["password"], f"{path}")
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
        data = json.loads(out)
        user, secret = str(data["Username"]), str(data["Secret"])
    except (ValueError, KeyError, TypeError):
        raise OperationalError(f"docker-credential-{name} returned malformed JSON") from None
    return Credentials(user, secret, f"docker-credential-{name}")


# --- HTTP --------------------------------------------------------------------------------


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """``Bearer realm="…",service="…"`` -> ("bearer", {realm, service, ...})."""
    scheme, _, rest = header.strip().partition(" ")
    params = {
        m.group(1).lower(): m.group(2) if m.group(2) is not None else m.group(3)
        for m in re.finditer(r'([A-Za-z0-9_-]+)=(?:"([^"]*)"|([^,\s]*))', rest)
    }
    return scheme.lower(), params


def is_insecure_host(registry: str) -> bool:
    """Loopback hosts, which dockerd treats as insecure registries by default."""
    host = urlsplit(f"//{registry}").hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class DigestMismatch(OperationalError):
    """A blob or manifest did not hash to its digest."""


def _hasher(digest: str) -> Any:
    algo = digest.split(":", 1)[0]
    if algo not in ("sha256", "sha512"):
        raise OperationalError(f"unsupported digest algorithm in {digest!r}")
    return hashlib.new(algo)


def verify_bytes(data: bytes, digest: str, what: str) -> None:
    """Raise DigestMismatch unless `data` hashes to `digest`."""
    h = _hasher(digest)
    h.update(data)
    got = f"{digest.split(':', 1)[0]}:{h.hexdigest()}"
    if got != digest:
        raise DigestMismatch(f"{what}: digest mismatch (expected {digest}, got {got})")


@dataclass(frozen=True)
class Descriptor:
    """A content descriptor from a manifest."""

    media_type: str
    digest: str
    size: int
    platform: str = ""

    @classmethod
    def parse(cls, data: Any, what: str) -> Descriptor:
        """Validate one descriptor object."""
        if not isinstance(data, dict):
            raise OperationalError(f"{what}: descriptor is not an object")
        digest, size = data.get("digest"), data.get("size")
        if not isinstance(digest, str) or not _DIGEST_RE.match(digest):
            raise OperationalError(f"{what}: invalid digest {digest!r}")
        if not isinstance(size, int) or size < 0:
            raise OperationalError(f"{what}: invalid size {size!r}")
        if data.get("urls"):
            raise OperationalError(f"{what}: foreign layers (urls) are not fetched")
        plat = data.get("platform") or {}
        platform = ""
        if isinstance(plat, dict) and plat.get("os"):
            platform = f"{plat.get('os')}/{plat.get('architecture', '')}"
            if plat.get("variant"):
                platform += f"/{plat['variant']}"
        return cls(str(data.get("mediaType", "")), digest, size, platform)


@dataclass(frozen=True)
class PulledImage:
    """A resolved image: which manifest, its config (verified) and layer descriptors."""

    reference: Reference
    manifest_digest: str
    manifest_media_type: str
    index_digest: str | None
    platform: str
    config: dict[str, Any]
    config_digest: str
    layers: tuple[Descriptor, ...]


class RegistryClient:
    """A small Distribution API client for one registry (pull only)."""

    def __init__(
        self,
        registry: str,
        *,
        credentials: Credentials | None = None,
        insecure: bool = False,
        ca_cert: str | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.registry = registry
        self.api_host = DOCKER_HUB_API if registry == DOCKER_HUB else registry
        self.credentials = credentials
        self.insecure = insecure
        self.verify: bool | str = False if insecure else (ca_cert or True)
        self.timeout = timeout
        self.session = requests.Session()
        self.session.headers["User-Agent"] = "dockguard"
        # Digests are over the stored bytes: no transparent transport compression.
        self.session.headers["Accept-Encoding"] = "identity"
        self._scheme: str | None = None
        self._tokens: dict[str, str] = {}
        self._basic = False

    def close(self) -> None:
        """Close pooled connections."""
        self.session.close()

    # -- transport

    def base_url(self) -> str:
        """``https://host`` (or ``http://host`` for an insecure registry without TLS)."""
        if self._scheme is None:
            self._scheme = self._pick_scheme()
        return f"{self._scheme}://{self.api_host}"

    def _pick_scheme(self) -> str:
        try:
            self.session.get(
                f"https://{self.api_host}/v2/", verify=self.verify, timeout=self.timeout,
                allow_redirects=False,
            ).close()
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
            raise OperationalError(f"TLS error talking to {self.registry}: {_short(exc)}") from None
        except requests.RequestException as exc:
            raise OperationalError(f"cannot reach {self.registry}: {_short(exc)}") from None

    def _auth_header(self, scope: str) -> dict[str, str]:
        token = self._tokens.get(scope)
        if token:
            return {"Authorization": f"Bearer {token}"}
        if self._basic and self.credentials:
            raw = f"{self.credentials.username}:{self.credentials.password}".encode()
            return {"Authorization": "Basic " + base64.b64encode(raw).decode()}
        return {}

    def request(
        self, method: str, path: str, scope: str, headers: Mapping[str, str] | None = None
    ) -> requests.Response:
        """Send a streamed request to the registry, authenticating on a 401 challenge."""
        url = self.base_url() + path
        response = self._send(method, url, {**(headers or {}), **self._auth_header(scope)})
        if response.status_code == 401:
            challenge = response.headers.get("WWW-Authenticate", "")
            response.close()
            self._authenticate(challenge, scope)
            response = self._send(method, url, {**(headers or {}), **self._auth_header(scope)})
        return response

    def _send(self, method: str, url: str, headers: dict[str, str]) -> requests.Response:
        origin = _origin(url)
        for _ in range(MAX_REDIRECTS + 1):
            try:
                response = self.session.request(
                    method, url, headers=headers, stream=True, verify=self.verify,
                    timeout=self.timeout, allow_redirects=False,
                )
            except requests.RequestException as exc:
                raise OperationalError(f"{method} {url}: {_short(exc)}") from None
            if response.status_code not in (301, 302, 303, 307, 308):
                return response
            location = response.headers.get("Location", "")
            response.close()
            if not location:
                raise OperationalError(f"{method} {url}: redirect without a Location")
            target = urljoin(url, location)
            if urlsplit(target).scheme not in ("https", "http"):
                raise OperationalError(f"refusing redirect to {target}")
            if urlsplit(target).scheme == "http" and urlsplit(url).scheme == "https":
                # Even with --insecure, which is about the registry's own transport.
                raise OperationalError(f"refusing redirect from HTTPS to {target}")
            if _origin(target) != origin:
                # Blob storage on another host must never see the registry's credentials.
                headers = {k: v for k, v in headers.items() if k.lower() != "authorization"}
            url = target
            if response.status_code == 303:
                method = "GET"
        raise OperationalError(f"{method} {url}: more than {MAX_REDIRECTS} redirects")

    def _authenticate(self, challenge: str, scope: str) -> None:
        scheme, params = parse_challenge(challenge)
        if scheme == "basic":
            if not self.credentials:
                raise OperationalError(
                    f"{self.registry} requires a login (Basic auth): give --username and "
                    "--password-stdin or log in with docker"
                )
            self._basic = True
            return
        if scheme != "bearer" or not params.get("realm"):
            raise OperationalError(f"{self.registry}: unsupported auth challenge {challenge!r}")
        self._tokens[scope] = self.fetch_token(params, scope)

    def fetch_token(self, params: Mapping[str, str], scope: str) -> str:
        """Get a Bearer token from the challenge's realm (with Basic credentials if any)."""
        realm = params["realm"]
        if urlsplit(realm).scheme not in ("https", "http"):
            raise OperationalError(f"{self.registry}: bad token realm {realm!r}")
        if urlsplit(realm).scheme == "http" and self.credentials and not self.insecure:
            raise OperationalError(
                f"{self.registry}: token realm {realm} is plain HTTP; refusing to send "
                "credentials (use --insecure to allow)"
            )
        query = {"scope": scope}
        if params.get("service"):
            query["service"] = params["service"]
        auth = (self.credentials.username, self.credentials.password) if self.credentials else None
        try:
            response = self.session.get(
                f"{realm}{'&' if '?' in realm else '?'}{urlencode(query)}", auth=auth,
                verify=self.verify, timeout=self.timeout, stream=True,
            )
        except requests.RequestException as exc:
            raise OperationalError(f"token request to {realm}: {_short(exc)}") from None
        with response:
            if response.status_code != 200:
                raise OperationalError(
                    f"token request to {realm} for {scope}: HTTP {response.status_code}"
                )
            body = _read_bounded(response, MAX_TOKEN, "token response")
        try:
            data = json.loads(body)
            token = data.get("token") or data.get("access_token")
        except (ValueError, AttributeError):
            token = None
        if not isinstance(token, str) or not token:
            raise OperationalError(f"token request to {realm}: no token in the answer")
        return token

    # -- content

    def get_manifest(self, repository: str, reference: str) -> tuple[str, bytes, str]:
        """(media type, raw bytes, digest) of a manifest or index, bounded and verified."""
        scope = f"repository:{repository}:pull"
        with self.request(
            "GET", f"/v2/{repository}/manifests/{reference}", scope, {"Accept": ACCEPT}
        ) as response:
            if response.status_code == 404:
                raise OperationalError(f"{self.registry}/{repository}:{reference}: not found")
            if response.status_code in (401, 403):
                raise OperationalError(
                    f"{self.registry}/{repository}: access denied (HTTP {response.status_code})"
                )
            if response.status_code != 200:
                raise OperationalError(
                    f"manifest {repository}:{reference}: HTTP {response.status_code}"
                )
            body = _read_bounded(response, MAX_MANIFEST, "manifest")
            media_type = response.headers.get("Content-Type", "").split(";")[0].strip()
            header_digest = response.headers.get("Docker-Content-Digest", "")
        if _DIGEST_RE.match(reference):
            verify_bytes(body, reference, f"manifest {repository}@{reference}")
            digest = reference
        else:
            digest = "sha256:" + hashlib.sha256(body).hexdigest()
            if header_digest and _DIGEST_RE.match(header_digest):
                verify_bytes(body, header_digest, f"manifest {repository}:{reference}")
                digest = header_digest
        try:
            doc = json.loads(body)
        except ValueError:
            raise OperationalError(f"manifest {repository}:{reference} is not JSON") from None
        if isinstance(doc, dict) and isinstance(doc.get("mediaType"), str):
            media_type = doc["mediaType"]
        return media_type, body, digest

    def resolve(self, ref: Reference, platform: str) -> PulledImage:
        """Manifest (following an index to `platform`), verified config, layer descriptors."""
        media_type, body, digest = self.get_manifest(ref.repository, ref.reference)
        doc = json.loads(body)
        index_digest = None
        chosen_platform = ""
        if media_type in INDEX_TYPES or (isinstance(doc, dict) and "manifests" in doc):
            index_digest = digest
            entries = [
                Descriptor.parse(m, f"index of {ref}") for m in (doc.get("manifests") or [])
            ]
            chosen = select_platform(entries, platform)
            if chosen is None:
                found = ", ".join(sorted({e.platform for e in entries if e.platform})) or "none"
                raise OperationalError(f"{ref} has no image for {platform} (has: {found})")
            chosen_platform = chosen.platform
            media_type, body, digest = self.get_manifest(ref.repository, chosen.digest)
            doc = json.loads(body)
        if not isinstance(doc, dict) or doc.get("schemaVersion") != 2 or "config" not in doc:
            raise OperationalError(
                f"{ref}: unsupported manifest ({media_type or 'no media type'}); "
                "only schema 2 / OCI manifests are supported"
            )
        config_desc = Descriptor.parse(doc["config"], f"config of {ref}")
        layers = tuple(
            Descriptor.parse(layer, f"layer {i} of {ref}")
            for i, layer in enumerate(doc.get("layers") or [])
        )
        if config_desc.size > MAX_CONFIG:
            raise OperationalError(f"{ref}: config of {config_desc.size} bytes is too large")
        config_bytes = self.read_blob(ref.repository, config_desc, MAX_CONFIG)
        try:
            config = json.loads(config_bytes)
        except ValueError:
            raise OperationalError(f"{ref}: image config is not JSON") from None
        if not isinstance(config, dict):
            raise OperationalError(f"{ref}: image config is not an object")
        if not chosen_platform:
            chosen_platform = f"{config.get('os', '')}/{config.get('architecture', '')}"
            if config.get("variant"):
                chosen_platform += f"/{config['variant']}"
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

    def _open_blob_response(self, repository: str, desc: Descriptor) -> requests.Response:
        response = self.request("GET", f"/v2/{repository}/blobs/{desc.digest}",
                                f"repository:{repository}:pull")
        if response.status_code != 200:
            response.close()
            raise OperationalError(f"blob {desc.digest}: HTTP {response.status_code}")
        return response

    def read_blob(self, repository: str, desc: Descriptor, limit: int) -> bytes:
        """A small blob (config) in memory, size-checked and verified."""
        with self._open_blob_response(repository, desc) as response:
            data = _read_bounded(response, min(limit, desc.size), f"blob {desc.digest}")
        if len(data) != desc.size:
            raise OperationalError(f"blob {desc.digest}: {len(data)} bytes, expected {desc.size}")
        verify_bytes(data, desc.digest, f"blob {desc.digest}")
        return data

    def download_blob(self, repository: str, desc: Descriptor, out: IO[bytes]) -> None:
        """Stream a blob into `out`, hashing as it goes; DigestMismatch on any difference."""
        if desc.size > MAX_BLOB:
            raise OperationalError(f"blob {desc.digest}: {desc.size} bytes is too large")
        h = _hasher(desc.digest)
        total = 0
        with self._open_blob_response(repository, desc) as response:
            for chunk in _raw_chunks(response):
                total += len(chunk)
                if total > desc.size:
                    raise DigestMismatch(
                        f"blob {desc.digest}: more than the {desc.size} bytes announced"
                    )
                h.update(chunk)
                out.write(chunk)
        if total != desc.size:
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
        e_os, _, e_rest = e.platform.partition("/")
        e_arch, _, e_variant = e_rest.partition("/")
        if e_os != os_ or e_arch != arch:
            continue
        if variant == e_variant or (arch == "arm64" and {variant, e_variant} <= {"", "v8"}):
            return e
        if not variant and fallback is None:
            fallback = e
    return fallback


def _read_bounded(response: requests.Response, limit: int, what: str) -> bytes:
    length = response.headers.get("Content-Length")
    if length and length.isdigit() and int(length) > limit:
        raise OperationalError(f"{what}: {length} bytes is larger than the {limit} allowed")
    chunks: list[bytes] = []
    total = 0
    for chunk in _raw_chunks(response):
        total += len(chunk)
        if total > limit:
            raise OperationalError(f"{what}: larger than the {limit} bytes allowed")
        chunks.append(chunk)
    return b"".join(chunks)


def _raw_chunks(response: requests.Response) -> Any:
    try:
        yield from response.raw.stream(CHUNK, decode_content=False)
    except (requests.RequestException, OSError, urllib3.exceptions.HTTPError) as exc:
        raise OperationalError(f"reading {response.url}: {_short(exc)}") from None


def _short(exc: BaseException) -> str:
    text = str(exc)
    m = re.search(r"\[SSL: [A-Z_]+\][^(']*", text)
    if m:
        return m.group(0).strip()
    m = re.search(r"(Connection refused|timed out|Name or service not known)", text)
    return m.group(1) if m else text[:200]
