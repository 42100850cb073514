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
    host = inspect.get("HostConfig") if isinstance(inspect, dict) else None
    host = host if isinstance(host, dict) else {}
    if host.get("Privileged") is True:
        return ContainerSeccomp(name, "privileged")
    options = host.get("SecurityOpt")
    for opt in options if isinstance(options, list) else ():
        if not isinstance(opt, str):
            continue
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
    security = info.get("SecurityOptions") if isinstance(info, dict) else None
    for entry in security if isinstance(security, list) else ():
        if not isinstance(entry, str):
            continue
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
    shown = inspect.get("Name") if isinstance(inspect, dict) else None
    return classify(shown.lstrip("/") or name if isinstance(shown, str) else name, inspect, info)
