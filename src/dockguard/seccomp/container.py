"""Which seccomp profile a container runs with: the one classifier of a container's setting.

The docker CLI sends a ``--security-opt seccomp=FILE`` profile inline, so inspect shows
``seccomp=<json>`` in ``HostConfig.SecurityOpt``; ``seccomp=unconfined`` disables it; no
option means the daemon's default (Docker's built-in profile unless the daemon was given
``--seccomp-profile``).  Privileged containers run without seccomp whatever is set.

`classify_setting` is pure and is what everything uses: the collector fills
`ContainerFacts.seccomp` with it (CIS 5.22 reads that), snapshot schema 1 is migrated with it,
and `container_seccomp` (``dockguard seccomp lint --container``) inspects one container and
classifies it the same way.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from dockguard.errors import OperationalError, UsageError
from dockguard.snapshot import SeccompKind, SeccompSetting

#: Option values that name Docker's default profile explicitly.
_DEFAULT_NAMES = frozenset({"", "builtin", "default", "runtime/default", "docker/default"})


def _option(opt: str) -> tuple[str, str]:
    """Split a SecurityOpt entry; Docker accepts both ``key=value`` and legacy ``key:value``."""
    eq, colon = opt.find("="), opt.find(":")
    cuts = [i for i in (eq, colon) if i >= 0]
    if not cuts:
        return opt.strip(), ""
    i = min(cuts)
    return opt[:i].strip(), opt[i + 1 :].strip()


def daemon_seccomp_profile(security_options: Iterable[str] | None) -> str | None:
    """The ``profile`` of the daemon's ``name=seccomp,…`` SecurityOptions entry, if any."""
    for entry in security_options or ():
        fields = dict(part.partition("=")[::2] for part in entry.split(","))
        if fields.get("name") == "seccomp":
            return fields.get("profile") or None
    return None


def classify_setting(
    privileged: bool, security_opt: Iterable[str], daemon_security_options: Iterable[str] | None = None
) -> SeccompSetting:
    """Classify a container's seccomp setting from its HostConfig (pure).

    The last ``seccomp`` option wins, as in dockerd.  `daemon_security_options` (the daemon's
    /info SecurityOptions) names the default profile for a container without an option.
    """
    daemon_profile = daemon_seccomp_profile(daemon_security_options)
    if privileged:
        return SeccompSetting(SeccompKind.PRIVILEGED, daemon_profile=daemon_profile)
    value: str | None = None
    for opt in security_opt:
        key, val = _option(opt)
        if key == "seccomp":
            value = val
    if value is None or value.lower() in _DEFAULT_NAMES:
        return SeccompSetting(SeccompKind.DEFAULT, daemon_profile=daemon_profile)
    if value.lower() == "unconfined":
        return SeccompSetting(SeccompKind.UNCONFINED, daemon_profile=daemon_profile)
    if value.startswith("{"):
        return SeccompSetting(SeccompKind.INLINE, value, daemon_profile)
    if value.startswith("localhost/"):
        return SeccompSetting(SeccompKind.LOCALHOST, value, daemon_profile)
    return SeccompSetting(SeccompKind.OTHER, value, daemon_profile)


@dataclass(frozen=True)
class ContainerSeccomp:
    """A named container and its classified seccomp setting."""

    container: str
    setting: SeccompSetting

    @property
    def kind(self) -> SeccompKind:
        """The setting's kind."""
        return self.setting.kind

    @property
    def text(self) -> str | None:
        """The inline profile's JSON (INLINE) or the option's value (LOCALHOST, OTHER)."""
        return self.setting.profile

    @property
    def daemon_profile(self) -> str | None:
        """The daemon's default profile when known (``builtin``, ``unconfined``, a path)."""
        return self.setting.daemon_profile


def classify(name: str, inspect: object, info: object | None) -> ContainerSeccomp:
    """Classify a container from its inspect document and the daemon's /info (pure).

    Both are untrusted JSON: values of the wrong type count as absent.
    """
    host = inspect.get("HostConfig") if isinstance(inspect, Mapping) else None
    host = host if isinstance(host, Mapping) else {}
    options = host.get("SecurityOpt")
    security_opt = [o for o in options if isinstance(o, str)] if isinstance(options, list) else []
    security = info.get("SecurityOptions") if isinstance(info, Mapping) else None
    daemon = [e for e in security if isinstance(e, str)] if isinstance(security, list) else None
    return ContainerSeccomp(name, classify_setting(host.get("Privileged") is True, security_opt, daemon))


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
