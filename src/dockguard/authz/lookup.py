"""Read-only daemon look-ups a decision needs: named volumes, other containers.

A request names things whose danger lies elsewhere: ``-v data:/x`` where ``data`` is a
``local`` volume created with ``o=bind,device=/etc``; ``--volumes-from c`` or
``--pid container:c`` where ``c`` has the host's /etc or PID namespace.  The plugin asks the
daemon (GET only) and judges what it learns with the same checks.  dockerd asks the plugin about
these GETs too, in parallel, so the server must be concurrent (it is).

Anything the daemon sends back is parsed defensively: labels and names are attacker-chosen.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from dockguard.errors import OperationalError
from dockguard.snapshot import MountPoint

if TYPE_CHECKING:
    import requests

LOOKUP_TIMEOUT = 5
"""Seconds a look-up may take: dockerd is waiting for the decision meanwhile."""


class LookupFailed(OperationalError):
    """The daemon could not be asked (down, timed out, refused)."""


@dataclass(frozen=True)
class VolumeInfo:
    """A named volume's driver and options."""

    name: str
    driver: str
    options: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ContainerInfo:
    """What a decision needs to know about an existing container."""

    id: str
    image: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)
    mounts: tuple[MountPoint, ...] = ()
    volume_names: tuple[tuple[str, str, bool], ...] = ()
    """(volume name, destination, rw) of its named-volume mounts."""
    pid_mode: str = ""
    ipc_mode: str = ""
    network_mode: str = ""


class Lookup(Protocol):
    """Where a decision looks things up; None results mean "no such object"."""

    def volume(self, name: str) -> VolumeInfo | None:
        """The named volume, or None when it does not exist."""

    def container(self, ref: str) -> ContainerInfo | None:
        """The container by name or id, or None when it does not exist."""


def _str_map(value: object) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    return {str(k): str(v) for k, v in value.items() if isinstance(v, str | int | float | bool)}


def _dict(value: object) -> dict[str, object]:
    return value if isinstance(value, dict) else {}


def volume_info(data: object) -> VolumeInfo:
    """VolumeInfo from a ``GET /volumes/{name}`` answer."""
    d = data if isinstance(data, dict) else {}
    return VolumeInfo(str(d.get("Name") or ""), str(d.get("Driver") or ""), _str_map(d.get("Options")))


def container_info(data: object) -> ContainerInfo:
    """ContainerInfo from a ``GET /containers/{id}/json`` answer."""
    d = data if isinstance(data, dict) else {}
    cfg = _dict(d.get("Config"))
    hc = _dict(d.get("HostConfig"))
    mounts: list[MountPoint] = []
    names: list[tuple[str, str, bool]] = []
    raw_mounts = d.get("Mounts")
    for m in raw_mounts if isinstance(raw_mounts, list) else ():
        if not isinstance(m, dict):
            continue
        typ, dst, rw = str(m.get("Type") or ""), str(m.get("Destination") or ""), bool(m.get("RW", True))
        if typ == "bind":
            mounts.append(MountPoint("bind", str(m.get("Source") or ""), dst, rw, str(m.get("Propagation") or "")))
        elif typ == "volume" and m.get("Name"):
            names.append((str(m["Name"]), dst, rw))
    return ContainerInfo(
        id=str(d.get("Id") or ""),
        image=str(cfg.get("Image") or ""),
        labels=_str_map(cfg.get("Labels")),
        mounts=tuple(mounts),
        volume_names=tuple(names),
        pid_mode=str(hc.get("PidMode") or ""),
        ipc_mode=str(hc.get("IpcMode") or ""),
        network_mode=str(hc.get("NetworkMode") or ""),
    )


class _EngineClient(Protocol):
    """The part of docker's ``APIClient`` the look-ups use (its raw GET helper)."""

    base_url: str
    _version: str

    def _get(self, url: str, **kwargs: object) -> requests.Response:
        """GET `url` with the client's session (TLS, timeout)."""
        ...

    def close(self) -> None:
        """Close the connection pool."""
        ...


class DaemonLookup:
    """Look-ups over the Engine API of `docker_host` (a client made on first use, then reused)."""

    def __init__(self, docker_host: str, timeout: int = LOOKUP_TIMEOUT) -> None:
        self.docker_host = docker_host
        self.timeout = timeout
        self._client: _EngineClient | None = None
        self._lock = threading.Lock()

    def _api(self) -> _EngineClient:
        with self._lock:
            if self._client is None:
                import docker
                from docker.utils import kwargs_from_env

                kwargs = kwargs_from_env()
                kwargs["base_url"] = self.docker_host
                # a fixed version: no /version round trip, and the plugin may start before dockerd
                try:
                    self._client = docker.APIClient(version="1.24", timeout=self.timeout, max_pool_size=32,
                                                    **kwargs)
                except docker.errors.DockerException as exc:
                    raise LookupFailed(f"cannot reach the daemon at {self.docker_host}: {exc}") from None
            return self._client

    def _get(self, path: str) -> object:
        import docker
        import requests

        api = self._api()
        try:
            res = api._get(f"{api.base_url}/v{api._version}{path}", allow_redirects=False)
            if res.status_code in (400, 404):
                return None  # no such object, or a name dockerd refuses anyway
            res.raise_for_status()
            answer: object = res.json()
            return answer
        except (docker.errors.DockerException, requests.RequestException, OSError, ValueError) as exc:
            raise LookupFailed(f"daemon look-up failed: {type(exc).__name__}") from None

    def volume(self, name: str) -> VolumeInfo | None:
        """GET /volumes/{name}."""
        data = self._get(f"/volumes/{_q(name)}")
        return None if data is None else volume_info(data)

    def container(self, ref: str) -> ContainerInfo | None:
        """GET /containers/{ref}/json."""
        data = self._get(f"/containers/{_q(ref)}/json")
        return None if data is None else container_info(data)

    def close(self) -> None:
        """Close the client."""
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None


def _q(text: str) -> str:
    from urllib.parse import quote

    return quote(text, safe="")
