"""Which seccomp profile a container runs with, read from the Engine API (inspect).

The docker CLI sends a ``--security-opt seccomp=FILE`` profile inline, so inspect shows
``seccomp=<json>`` in ``HostConfig.SecurityOpt``; ``seccomp=unconfined`` disables it; no
option means the daemon's default (Docker's built-in profile unless the daemon was given
``--seccomp-profile``).  Privileged containers run without seccomp whatever is set.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dockguard.errors import OperationalError, UsageError


@dataclass(frozen=True)
class ContainerSeccomp:
    """What a container's seccomp setting is.

    `kind` is ``inline`` (profile text in `text`), ``unconfined``, ``privileged``,
    ``default`` (the daemon's default; `daemon_profile` says which when known) or ``other``
    (an option value that is neither JSON nor a keyword, in `text`).
    """

    container: str
    kind: str
    text: str | None = None
    daemon_profile: str | None = None


def classify(name: str, inspect: dict[str, Any], info: dict[str, Any] | None) -> ContainerSeccomp:
    """Classify a container from its inspect document and the daemon's /info (pure)."""
    host = inspect.get("HostConfig") or {}
    if host.get("Privileged"):
        return ContainerSeccomp(name, "privileged")
    for opt in host.get("SecurityOpt") or ():
        key, sep, value = opt.partition("=")
        if not sep:
            key, sep, value = opt.partition(":")
        if key.strip() != "seccomp":
            continue
        value = value.strip()
        if value == "unconfined":
            return ContainerSeccomp(name, "unconfined")
        if value.startswith("{"):
            return ContainerSeccomp(name, "inline", value)
        if value in ("", "builtin", "default"):
            break
        return ContainerSeccomp(name, "other", value)
    daemon_profile = None
    for entry in (info or {}).get("SecurityOptions") or ():
        fields = dict(part.partition("=")[::2] for part in entry.split(","))
        if fields.get("name") == "seccomp":
            daemon_profile = fields.get("profile") or None
    return ContainerSeccomp(name, "default", daemon_profile=daemon_profile)


def container_seccomp(name: str, docker_host: str | None = None) -> ContainerSeccomp:
    """Inspect container `name` on the daemon and classify its seccomp setting."""
    import docker
    import requests

    from dockguard.collect.docker_api import connect

    client = connect(docker_host)
    try:
        try:
            inspect = client.inspect_container(name)
        except docker.errors.NotFound:
            raise UsageError(f"no such container: {name}") from None
        try:
            info = client.info()
        except docker.errors.DockerException:
            info = None
    except (docker.errors.DockerException, requests.RequestException) as exc:
        raise OperationalError(f"cannot inspect container {name}: {exc}") from None
    finally:
        client.close()
    return classify(inspect.get("Name", name).lstrip("/") or name, inspect, info)
