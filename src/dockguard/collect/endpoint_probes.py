"""Probe the daemon's TCP endpoints during collection, so that CIS 2.7 rests on evidence.

What each probe observed is kept as `EndpointProbeFacts` in ``Snapshot.endpoint_probes`` (a
saved snapshot gives the same verdicts offline); the verdict is CIS 2.7's, not the collector's.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from dockguard.channel.daemon_probe import DaemonEndpointFacts
from dockguard.channel.result import ProbeRun
from dockguard.snapshot import EndpointProbeFacts, HostFacts

_WILDCARDS = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "[::]": "[::1]", "::": "[::1]"}


def tcp_targets(docker_host: str, host: HostFacts | None) -> list[str]:
    """TCP endpoints to probe: DOCKER_HOST when it is TCP, and the daemon's own TCP listeners
    (`HostFacts.docker_tcp_listeners`, worked out by the host collector).

    A listener on a wildcard address is probed on loopback, which it also serves; a listener
    given as a bare port (systemd ``ListenStream=2375``) listens on every address.
    """
    targets: list[str] = []
    if docker_host.startswith("tcp://"):
        targets.append(docker_host)
    listeners = host.docker_tcp_listeners if host is not None else None
    for listener in listeners or ():
        addr = listener.address.removeprefix("tcp://")
        if addr.isdigit():
            addr = f"0.0.0.0:{addr}"
        hostpart, _, port = addr.rpartition(":")
        if not port.isdigit():
            continue
        hostpart = _WILDCARDS.get(hostpart, hostpart)
        targets.append(f"tcp://{hostpart}:{port}")
    return list(dict.fromkeys(targets))


def probe_facts(address: str, run: ProbeRun[DaemonEndpointFacts]) -> EndpointProbeFacts:
    """What one probe observed, as snapshot facts (no verdict)."""
    facts = run.facts
    return EndpointProbeFacts(
        address=address,
        plain_http=facts.plain_http,
        client_verification=facts.client_verification,
        foreign_client_cert_accepted=facts.foreign_client_cert_accepted,
        tls_versions_accepted=facts.tls_versions_accepted,
        steps=run.steps,
        findings=run.findings,
    )


def probe_endpoints(targets: Sequence[str], cert_dir: str | None = None) -> tuple[EndpointProbeFacts, ...]:
    """Probe each target with the daemon probe (client certificates from `cert_dir` or
    DOCKER_CERT_PATH) and keep what it observed."""
    from dockguard.channel.daemon_probe import load_cert_path, parse_endpoint, probe

    cert_path = load_cert_path(cert_dir or os.environ.get("DOCKER_CERT_PATH"))
    return tuple(probe_facts(target, probe(parse_endpoint(target), cert_path)) for target in targets)
