"""Probe the daemon's TCP endpoints during collection (CIS 2.7 is then backed by evidence).

The probe results are stored in ``Snapshot.extras["endpoint_probe"]`` as plain JSON so a
saved snapshot gives the same verdicts offline.
"""

from __future__ import annotations

import os
from typing import Any

from dockguard.serial import to_jsonable
from dockguard.snapshot import DaemonConfig, HostFacts

_WILDCARDS = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "[::]": "[::1]", "::": "[::1]"}


def tcp_targets(docker_host: str, config: DaemonConfig | None, host: HostFacts | None) -> list[str]:
    """TCP endpoints to probe: DOCKER_HOST when it is TCP, and the daemon's own TCP listeners.

    A listener on a wildcard address is probed on loopback, which it also serves.
    """
    targets: list[str] = []
    if docker_host.startswith("tcp://"):
        targets.append(docker_host)
    hosts = list((config.get("hosts") if config else None) or [])
    if host is not None:
        hosts += [f"tcp://{ls}" if ":" in ls or ls.isdigit() else ls for ls in host.docker_socket_listen]
    for h in hosts:
        if h.isdigit():
            h = f"tcp://0.0.0.0:{h}"
        if not h.startswith("tcp://"):
            continue
        addr = h.removeprefix("tcp://")
        hostpart, _, port = addr.rpartition(":")
        if not port.isdigit():
            continue
        hostpart = _WILDCARDS.get(hostpart, hostpart)
        targets.append(f"tcp://{hostpart}:{port}")
    return list(dict.fromkeys(targets))


def probe_endpoints(targets: list[str], cert_dir: str | None = None) -> list[dict[str, Any]]:
    """Probe each target; one JSON-safe summary per target with its findings."""
    from dockguard.channel.daemon_probe import endpoint_summary, load_cert_path, parse_endpoint, probe

    cert_path = load_cert_path(cert_dir or os.environ.get("DOCKER_CERT_PATH"))
    out = []
    for target in targets:
        result = probe(parse_endpoint(target), cert_path)
        summary = endpoint_summary(result)
        verdict = summary["tls_authentication"]
        if verdict is True:
            outcome, message = "PASS", "answers only clients with a certificate from its CA (probed)"
        elif verdict is False:
            titles = "; ".join(f["title"] for f in summary["findings"]) or "answers clients without authentication"
            outcome, message = "WARN", titles
        else:
            failed = ", ".join(summary["failed_steps"]) or "no conclusive step"
            outcome, message = "INFO", f"probe could not tell ({failed})"
        out.append(
            {
                "address": target,
                "outcome": outcome,
                "message": message,
                "summary": summary,
                "findings": [to_jsonable(f) for f in result.findings],
            }
        )
    return out
