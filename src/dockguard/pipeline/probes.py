"""The probe pipelines: ``daemon probe`` and ``registry probe`` → `Report`.

    request ─ validate (deadline setting, timeout, cert path, endpoint/URL) ─┐
                                                                             ├─ steps ─ Report
    channel/daemon_probe.py or channel/registry_probe.py ────────────────────┘

Each step is one function (`dockguard.channel.result.StepResult`); the TLS steps are shared
(`dockguard.channel.tls_steps`).  The Report's surface is DAEMON_PROBE or REGISTRY_PROBE, so
`dockguard.exit_policy` exits 2 when no step reached the target.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from dockguard.channel.registry_api import Credentials
from dockguard.errors import UsageError
from dockguard.model import Report

MAX_TIMEOUT = 3600.0
"""Seconds a single connect or read may be given (``--timeout``)."""


@dataclass(frozen=True)
class DaemonProbeRequest:
    """What ``dockguard daemon probe`` was asked.

    `endpoint` None means ``DOCKER_HOST`` from `env`, else the local socket; `cert_dir` None
    means ``DOCKER_CERT_PATH`` from `env`.
    """

    endpoint: str | None = None
    cert_dir: str | None = None
    timeout: float = 5.0
    env: Mapping[str, str] | None = None


@dataclass(frozen=True)
class RegistryProbeRequest:
    """What ``dockguard registry probe`` was asked."""

    url: str
    credentials: Credentials | None = None
    ca_cert: str | None = None
    try_push: bool = False
    repository: str | None = None
    timeout: float = 5.0
    allow_plain_http_credentials: bool = False


def check_timeout(timeout: float) -> None:
    """UsageError unless 0 < `timeout` <= MAX_TIMEOUT."""
    if not 0 < timeout <= MAX_TIMEOUT:
        raise UsageError(f"--timeout must be between 0 and {MAX_TIMEOUT:g} seconds")


def daemon_probe(request: DaemonProbeRequest) -> Report:
    """Probe one daemon endpoint (unix socket or TCP) and return its Report."""
    import os

    from dockguard.channel import daemon_probe as probe
    from dockguard.channel.bounded_http import deadline_seconds

    env = os.environ if request.env is None else request.env
    deadline_seconds()  # a bad DOCKGUARD_HTTP_DEADLINE is a usage error before any probing
    check_timeout(request.timeout)
    cert_path = probe.load_cert_path(request.cert_dir or env.get("DOCKER_CERT_PATH"))
    endpoint = probe.parse_endpoint(request.endpoint or probe.default_endpoint(env),
                                    tls=cert_path is not None)
    return probe.probe(endpoint, cert_path, timeout=request.timeout).report


def registry_probe(request: RegistryProbeRequest) -> Report:
    """Probe one registry and return its Report."""
    from dockguard.channel import registry_probe as probe
    from dockguard.channel.bounded_http import deadline_seconds

    deadline = deadline_seconds()
    check_timeout(request.timeout)
    if request.ca_cert:
        try:
            with open(request.ca_cert, "rb"):
                pass
        except OSError as exc:
            raise UsageError(f"cannot read --ca-cert {request.ca_cert}: {exc.strerror}") from None
    return probe.probe(
        request.url,
        credentials=request.credentials,
        ca_cert=request.ca_cert,
        try_push=request.try_push,
        repository=request.repository,
        timeout=request.timeout,
        allow_plain_http_credentials=request.allow_plain_http_credentials,
        deadline=deadline,
    ).report
