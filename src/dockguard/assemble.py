"""What other parts of dockguard add when a snapshot becomes a report.

The CIS checks take optional evaluators and evidence through ``Options.extras`` (the seccomp
linter for 5.22, endpoint probes for 2.7, image scans for 4.4/4.8/4.10); the snapshot also
carries findings of its own (daemon-side registry configuration, endpoint probes).  Both
``bench`` and ``audit`` assemble their reports through these two functions.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dockguard.model import Finding
from dockguard.snapshot import Snapshot


def check_extras(snapshot: Snapshot, image_scans: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The ``Options.extras`` for evaluating `snapshot`."""
    from dockguard.seccomp.lint import security_issues

    extras: dict[str, Any] = {
        "seccomp_lint": security_issues,
        "endpoint_probe": snapshot.extras.get("endpoint_probe"),
    }
    if image_scans is not None:
        extras["image_scans"] = dict(image_scans)
    return extras


def snapshot_findings(snapshot: Snapshot) -> tuple[Finding, ...]:
    """Findings of the daemon-side registry checks and of the endpoint probes in `snapshot`."""
    from dockguard.channel.daemon_registry import daemon_registry_findings
    from dockguard.serial import from_jsonable

    found = list(daemon_registry_findings(snapshot.daemon, snapshot.host))
    for probe in snapshot.extras.get("endpoint_probe") or ():
        found.extend(from_jsonable(Finding, f) for f in probe.get("findings", ()))
    return tuple(found)
