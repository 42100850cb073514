"""Engine API request URIs: normalisation and the table of endpoints dockguard knows.

dockerd passes the plugin the raw request URI.  Its router matches the *decoded, cleaned* path
(gorilla/mux on ``r.URL.Path``), so ``/v1.41/containers%2Fcreate``, ``//containers/create/``
and the absolute form ``http://x/v1.23/containers/c/start`` all reach real handlers; a plugin
that matches the raw string is walked around.  `normalise` decodes once (as Go does), collapses
slashes, resolves dot segments, drops a trailing slash, takes the ``/v1.xx`` prefix off and
parses the query; `match` then returns *every* endpoint pattern the path fits (container names
may hold slashes in the route patterns), so an ambiguous path gets every judgement that applies.

`ENDPOINTS` is the coverage table of ``docs/authz.md`` (Engine API v1.12–v1.45).
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, unquote, urlsplit


class Kind(enum.StrEnum):
    """How the plugin judges an endpoint."""

    CONTAINER_CREATE = "container-create"
    CONTAINER_START = "container-start"
    CONTAINER_UPDATE = "container-update"
    EXEC_CREATE = "exec-create"
    VOLUME_CREATE = "volume-create"
    SERVICE_CREATE = "service-create"
    SERVICE_UPDATE = "service-update"
    BUILD = "build"
    GRPC = "buildkit-grpc"
    PLUGIN_PULL = "plugin-pull"
    PLUGIN_UPGRADE = "plugin-upgrade"
    PLUGIN_CREATE = "plugin-create"
    PLUGIN_MANAGE = "plugin-manage"
    SWARM_JOIN = "swarm-join"
    CHECKPOINT_CREATE = "checkpoint-create"
    CHECKPOINT_DELETE = "checkpoint-delete"
    ALLOW = "allow"


#: Endpoints whose JSON body decides: without the body in the AuthZ request, refuse.
BODY_DECIDES = frozenset(
    {
        Kind.CONTAINER_CREATE,
        Kind.CONTAINER_UPDATE,
        Kind.EXEC_CREATE,
        Kind.VOLUME_CREATE,
        Kind.SERVICE_CREATE,
        Kind.SERVICE_UPDATE,
        Kind.PLUGIN_PULL,
        Kind.PLUGIN_UPGRADE,
        Kind.CHECKPOINT_CREATE,
    }
)

#: Endpoints whose query (form) parameters decide: a form-encoded body could override them unseen.
QUERY_DECIDES = frozenset(
    {
        Kind.BUILD,
        Kind.CONTAINER_START,
        Kind.PLUGIN_PULL,
        Kind.PLUGIN_UPGRADE,
        Kind.PLUGIN_CREATE,
        Kind.PLUGIN_MANAGE,
        Kind.CHECKPOINT_DELETE,
    }
)


@dataclass(frozen=True)
class ApiRoute:
    """One Engine API endpoint: method, path pattern, first API version, how it is judged."""

    method: str
    pattern: str
    kind: Kind
    since: str = "1.12"
    note: str = ""
    regex: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        rx = re.escape(self.pattern)
        rx = re.sub(r"\\\{(\w+)\\\}", lambda m: f"(?P<{m.group(1)}>.+)", rx)
        object.__setattr__(self, "regex", re.compile(f"^{rx}$", re.IGNORECASE | re.DOTALL))


def _e(method: str, pattern: str, kind: Kind = Kind.ALLOW, since: str = "1.12", note: str = "") -> ApiRoute:
    return ApiRoute(method, pattern, kind, since, note)


K = Kind
ENDPOINTS: tuple[ApiRoute, ...] = (
    # containers
    _e("GET", "/containers/json"),
    _e("POST", "/containers/create", K.CONTAINER_CREATE, note="Config + HostConfig (also HostConfig fields at the "
       "top level, which dockerd still honours), NetworkingConfig"),
    _e("GET", "/containers/{id}/json"),
    _e("GET", "/containers/{id}/top"),
    _e("GET", "/containers/{id}/logs"),
    _e("GET", "/containers/{id}/changes"),
    _e("GET", "/containers/{id}/export"),
    _e("GET", "/containers/{id}/stats", since="1.17"),
    _e("POST", "/containers/{id}/resize"),
    _e("POST", "/containers/{id}/start", K.CONTAINER_START, note="API < 1.24: the body is a HostConfig, judged "
       "like a create; checkpoint-dir refused"),
    _e("POST", "/containers/{id}/stop"),
    _e("POST", "/containers/{id}/restart"),
    _e("POST", "/containers/{id}/kill"),
    _e("POST", "/containers/{id}/update", K.CONTAINER_UPDATE, since="1.22", note="Resources (devices, limits), "
       "RestartPolicy: the fields present are judged"),
    _e("POST", "/containers/{id}/rename", since="1.17"),
    _e("POST", "/containers/{id}/pause"),
    _e("POST", "/containers/{id}/unpause"),
    _e("POST", "/containers/{id}/attach"),
    _e("GET", "/containers/{id}/attach/ws"),
    _e("POST", "/containers/{id}/wait"),
    _e("DELETE", "/containers/{id}"),
    _e("POST", "/containers/{id}/copy", note="removed in 1.24; copies out of the container"),
    _e("HEAD", "/containers/{id}/archive", since="1.20"),
    _e("GET", "/containers/{id}/archive", since="1.20"),
    _e("PUT", "/containers/{id}/archive", since="1.20", note="writes inside the container's filesystem"),
    _e("POST", "/containers/prune", since="1.25"),
    _e("POST", "/containers/{id}/exec", K.EXEC_CREATE, note="Privileged (5.23), User (5.24)"),
    _e("GET", "/containers/{id}/checkpoints", since="1.25"),
    _e("POST", "/containers/{id}/checkpoints", K.CHECKPOINT_CREATE, since="1.25", note="CheckpointDir refused"),
    _e("DELETE", "/containers/{id}/checkpoints/{checkpoint}", K.CHECKPOINT_DELETE, since="1.25",
       note="dir refused"),
    # exec
    _e("POST", "/exec/{id}/start"),
    _e("POST", "/exec/{id}/resize"),
    _e("GET", "/exec/{id}/json"),
    # images
    _e("GET", "/images/json"),
    _e("POST", "/build", K.BUILD, note="query: networkmode host/container:<id>, cgroupparent"),
    _e("POST", "/build/prune", since="1.31"),
    _e("POST", "/build/cancel", since="1.38"),
    _e("POST", "/images/create"),
    _e("GET", "/images/{name}/json"),
    _e("GET", "/images/{name}/history"),
    _e("POST", "/images/{name}/push"),
    _e("POST", "/images/{name}/tag"),
    _e("DELETE", "/images/{name}"),
    _e("GET", "/images/search"),
    _e("POST", "/images/prune", since="1.25"),
    _e("POST", "/commit"),
    _e("GET", "/images/{name}/get"),
    _e("GET", "/images/get"),
    _e("POST", "/images/load"),
    _e("GET", "/distribution/{name}/json", since="1.30"),
    # system
    _e("GET", "/_ping"),
    _e("HEAD", "/_ping", since="1.40"),
    _e("GET", "/version"),
    _e("GET", "/info"),
    _e("POST", "/auth"),
    _e("GET", "/events"),
    _e("GET", "/system/df", since="1.25"),
    _e("POST", "/session", since="1.31", note="BuildKit session for /build (the build options are in /build)"),
    _e("POST", "/grpc", K.GRPC, since="1.40", note="BuildKit gRPC (buildx): build options not visible"),
    # networks
    _e("GET", "/networks", since="1.21"),
    _e("GET", "/networks/{id}", since="1.21"),
    _e("DELETE", "/networks/{id}", since="1.21"),
    _e("POST", "/networks/create", since="1.21"),
    _e("POST", "/networks/{id}/connect", since="1.21"),
    _e("POST", "/networks/{id}/disconnect", since="1.21"),
    _e("POST", "/networks/prune", since="1.25"),
    # volumes
    _e("GET", "/volumes", since="1.21"),
    _e("POST", "/volumes/create", K.VOLUME_CREATE, since="1.21", note="local driver: type=none/o=bind/device, "
       "block devices, overlay lowerdir/upperdir"),
    _e("GET", "/volumes/{name}", since="1.21"),
    _e("PUT", "/volumes/{name}", since="1.42", note="cluster (CSI) volume availability"),
    _e("DELETE", "/volumes/{name}", since="1.21"),
    _e("POST", "/volumes/prune", since="1.25"),
    # plugins
    _e("GET", "/plugins", since="1.25"),
    _e("GET", "/plugins/privileges", since="1.25"),
    _e("POST", "/plugins/pull", K.PLUGIN_PULL, since="1.25", note="body: privileges granted; name of this plugin"),
    _e("GET", "/plugins/{name}/json", since="1.25"),
    _e("DELETE", "/plugins/{name}", K.PLUGIN_MANAGE, since="1.25", note="this plugin: refused"),
    _e("POST", "/plugins/{name}/enable", K.PLUGIN_MANAGE, since="1.25", note="this plugin: refused"),
    _e("POST", "/plugins/{name}/disable", K.PLUGIN_MANAGE, since="1.25", note="this plugin: refused"),
    _e("POST", "/plugins/{name}/upgrade", K.PLUGIN_UPGRADE, since="1.26", note="body: privileges; this plugin: "
       "refused"),
    _e("POST", "/plugins/create", K.PLUGIN_CREATE, since="1.25", note="privileges not visible: refused"),
    _e("POST", "/plugins/{name}/push", K.PLUGIN_MANAGE, since="1.25"),
    _e("POST", "/plugins/{name}/set", K.PLUGIN_MANAGE, since="1.25", note="this plugin: refused"),
    # swarm
    _e("GET", "/swarm", since="1.24"),
    _e("POST", "/swarm/init", since="1.24"),
    _e("POST", "/swarm/join", K.SWARM_JOIN, since="1.24"),
    _e("POST", "/swarm/leave", since="1.24"),
    _e("POST", "/swarm/update", since="1.24"),
    _e("GET", "/swarm/unlockkey", since="1.25"),
    _e("POST", "/swarm/unlock", since="1.25"),
    _e("GET", "/nodes", since="1.24"),
    _e("GET", "/nodes/{id}", since="1.24"),
    _e("DELETE", "/nodes/{id}", since="1.24"),
    _e("POST", "/nodes/{id}/update", since="1.24"),
    _e("GET", "/services", since="1.24"),
    _e("POST", "/services/create", K.SERVICE_CREATE, since="1.24", note="ContainerSpec (mounts, privileges, "
       "capabilities), host network, PluginSpec privileges"),
    _e("GET", "/services/{id}", since="1.24"),
    _e("DELETE", "/services/{id}", since="1.24"),
    _e("POST", "/services/{id}/update", K.SERVICE_UPDATE, since="1.24", note="as create"),
    _e("GET", "/services/{id}/logs", since="1.29"),
    _e("GET", "/tasks", since="1.24"),
    _e("GET", "/tasks/{id}", since="1.24"),
    _e("GET", "/tasks/{id}/logs", since="1.29"),
    _e("GET", "/secrets", since="1.25"),
    _e("POST", "/secrets/create", since="1.25"),
    _e("GET", "/secrets/{id}", since="1.25"),
    _e("DELETE", "/secrets/{id}", since="1.25"),
    _e("POST", "/secrets/{id}/update", since="1.28"),
    _e("GET", "/configs", since="1.30"),
    _e("POST", "/configs/create", since="1.30"),
    _e("GET", "/configs/{id}", since="1.30"),
    _e("DELETE", "/configs/{id}", since="1.30"),
    _e("POST", "/configs/{id}/update", since="1.30"),
)


OPTIONS = _e("OPTIONS", "/{path}", note="CORS preflight, any path")


@dataclass(frozen=True)
class Route:
    """A normalised request: API version (None: the daemon's own), clean path, query, matches."""

    method: str
    path: str
    version: str | None
    query: tuple[tuple[str, str], ...]
    matches: tuple[tuple[ApiRoute, dict[str, str]], ...]

    def params(self, name: str) -> list[str]:
        """Every value of query parameter `name` (matched case-insensitively)."""
        low = name.lower()
        return [v for k, v in self.query if k.lower() == low]

    @property
    def kinds(self) -> frozenset[Kind]:
        """How each matching endpoint is judged."""
        return frozenset(e.kind for e, _ in self.matches)

    def var(self, kind: Kind, name: str) -> str:
        """Path variable `name` of the first match of `kind` ('' when none)."""
        for e, groups in self.matches:
            if e.kind is kind and name in groups:
                return groups[name]
        return ""

    def older_than(self, version: str) -> bool:
        """True when the request's API version is below `version` (moby's comparison)."""
        return self.version is not None and compare_versions(self.version, version) < 0


_VERSION = re.compile(r"^/v([0-9.]+)(?=/|$)")


def clean_path(raw: str) -> str:
    """Percent-decode once, collapse slashes, resolve ``.``/``..``, drop a trailing slash."""
    path = unquote(raw, errors="surrogateescape")
    parts: list[str] = []
    for seg in path.split("/"):
        if seg in ("", "."):
            continue
        if seg == "..":
            if parts:
                parts.pop()
            continue
        parts.append(seg)
    return "/" + "/".join(parts)


def normalise(method: str, uri: str) -> Route:
    """Parse a RequestUri the way dockerd's router sees it and match it against `ENDPOINTS`."""
    raw = uri
    if not raw.startswith("/"):
        # absolute-form request target (``http://host/v1.23/...``): Go routes on its path
        split = urlsplit(raw)
        raw = split.path + (f"?{split.query}" if split.query else "")
    raw_path, _, raw_query = raw.partition("?")
    path = clean_path(raw_path)
    version = None
    m = _VERSION.match(path)
    if m:
        version = m.group(1)
        path = path[m.end() :] or "/"
    query = tuple(parse_qsl(raw_query, keep_blank_values=True, errors="surrogateescape"))
    meth = method.strip().upper()
    if meth == "OPTIONS":  # dockerd answers CORS preflight for any path without acting
        return Route(meth, path, version, query, ((OPTIONS, {}),))
    matches = []
    first = path.split("/", 2)[1].lower()
    for e in _INDEX.get((meth, first), ()) + (_INDEX.get(("GET", first), ()) if meth == "HEAD" else ()):
        mm = e.regex.match(path)
        if mm:
            matches.append((e, mm.groupdict()))
    return Route(meth, path, version, query, tuple(matches))


def _index() -> dict[tuple[str, str], tuple[ApiRoute, ...]]:
    out: dict[tuple[str, str], list[ApiRoute]] = {}
    for e in ENDPOINTS:
        out.setdefault((e.method, e.pattern.split("/", 2)[1].lower()), []).append(e)
    return {k: tuple(v) for k, v in out.items()}


_INDEX = _index()
"""Endpoints by (method, first path segment): the first segment is never a variable."""


def compare_versions(a: str, b: str) -> int:
    """moby's API version comparison: dot-separated integers, missing or bad parts count as 0."""

    def part(parts: list[str], i: int) -> int:
        if i >= len(parts):
            return 0
        p = parts[i]
        return int(p) if p.isdigit() and len(p) <= 18 else 0

    pa, pb = a.split("."), b.split(".")
    for i in range(max(len(pa), len(pb))):
        x, y = part(pa, i), part(pb, i)
        if x != y:
            return 1 if x > y else -1
    return 0
