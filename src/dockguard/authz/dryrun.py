"""``dockguard authz check``: what the policy would refuse, before it is enforced.

The daemon's existing containers are read with GET requests only (list, inspect, volumes) and
translated by the bench collector's own `container_facts`; compose services come from
`compose`.  Both are judged by the same `Decider` the plugin uses, as if they were being
created now.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

from dockguard.authz.compose import load_compose
from dockguard.authz.decide import Decider, Decision
from dockguard.authz.lookup import DaemonLookup, VolumeInfo, volume_info
from dockguard.authz.policy import Policy
from dockguard.authz.translate import CONTAINER_FACETS, Subject, apparmor_of, volume_binds
from dockguard.errors import OperationalError
from dockguard.snapshot import ContainerFacts, MountPoint

WORKERS = 8


@dataclass(frozen=True)
class DryRunVerdict:
    """The decision on one existing container or compose service."""

    what: str
    source: str
    decision: Decision


def _short(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300] or type(exc).__name__


def _unix_path(docker_host: str) -> tuple[str, ...]:
    return (docker_host[len("unix://"):],) if docker_host.startswith("unix://") else ()


def existing_subjects(client: Any) -> list[Subject]:
    """Every container of the daemon (GET only), as if it were being created now."""
    import docker

    from dockguard.collect.docker_api import container_facts

    try:
        summaries = client.containers(all=True)
        raw_volumes = (client.volumes() or {}).get("Volumes") or []
    except (docker.errors.DockerException, OSError) as exc:
        raise OperationalError(f"cannot list containers: {_short(exc)}") from None
    by_mountpoint: dict[str, VolumeInfo] = {}
    for v in raw_volumes:
        if isinstance(v, dict) and v.get("Mountpoint"):
            by_mountpoint[str(v["Mountpoint"])] = volume_info(v)

    def inspect(cid: str) -> dict[str, Any] | None:
        try:
            data = client.inspect_container(cid)
        except docker.errors.NotFound:
            return None  # removed meanwhile
        except (docker.errors.DockerException, OSError) as exc:
            raise OperationalError(f"cannot inspect container {cid[:12]}: {_short(exc)}") from None
        return data if isinstance(data, dict) else None

    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        inspected = list(pool.map(inspect, [str(s.get("Id", "")) for s in summaries]))
    out = []
    for data in inspected:
        if data is None:
            continue
        c = container_facts(data)
        out.append(existing_subject(c, by_mountpoint))
    return out


def existing_subject(c: ContainerFacts, volumes: dict[str, VolumeInfo]) -> Subject:
    """An inspected container as a create request: its volumes' hidden binds included."""
    mounts: list[MountPoint] = list(c.mounts)
    for m in c.mounts:
        vi = volumes.get(m.source) if m.type == "volume" else None
        if vi is not None:
            mounts.extend(volume_binds(vi.driver, vi.options, m.destination, m.rw))
    facts = replace(
        c,
        running=True,
        status="running",
        apparmor_profile=apparmor_of(c.security_opt),
        mounts=tuple(mounts),
    )
    return Subject(facts=facts, facets=CONTAINER_FACETS, what=f"container {c.name}", image=c.image,
                   labels=dict(c.labels))


def dry_run(
    policy: Policy,
    *,
    docker_host: str | None,
    compose: Sequence[str] = (),
    user: str = "",
) -> list[DryRunVerdict]:
    """Judge the daemon's containers (unless `docker_host` is None) and the compose services."""
    files = [load_compose(path) for path in compose]
    lookup = DaemonLookup(docker_host) if docker_host else None
    decider = Decider(policy, lookup, docker_sockets=_unix_path(docker_host or ""))
    verdicts: list[DryRunVerdict] = []
    try:
        if docker_host:
            from dockguard.collect.docker_api import connect

            client = connect(docker_host)
            try:
                subjects = existing_subjects(client)
            finally:
                client.close()
            for s in sorted(subjects, key=lambda s: s.what):
                verdicts.append(DryRunVerdict(s.what, "daemon", decider.judge([s], user)))
        for f in files:
            for s in f.subjects:
                verdicts.append(DryRunVerdict(s.what, f.path, decider.judge([s], user)))
    finally:
        if lookup is not None:
            lookup.close()
    return verdicts


def render_text(verdicts: Sequence[DryRunVerdict], policy: Policy) -> str:
    """One line per refusal (and per waived refusal), then a summary."""
    lines = []
    for v in verdicts:
        where = "" if v.source == "daemon" else f" ({v.source})"
        for r in v.decision.refusals:
            lines.append(f"would refuse  {v.what}{where}: {r.render()}")
        for r in v.decision.waived:
            lines.append(f"exception     {v.what}{where}: {r.render()}")
    refused = sum(1 for v in verdicts if not v.decision.allow)
    daemon = sum(1 for v in verdicts if v.source == "daemon")
    lines.append(
        f"dockguard authz check: {refused} of {len(verdicts)} would be refused "
        f"({daemon} containers, {len(verdicts) - daemon} compose services; policy: {policy.origin})"
    )
    return "\n".join(lines) + "\n"


def render_json(verdicts: Sequence[DryRunVerdict], policy: Policy) -> str:
    """The verdicts as a JSON document."""
    doc = {
        "policy": policy.origin,
        "refused": sum(1 for v in verdicts if not v.decision.allow),
        "items": [
            {
                "what": v.what,
                "source": v.source,
                "decision": "allow" if v.decision.allow else "refuse",
                "refusals": [{"rule": r.rule, "cis": r.cis, "reason": r.render()} for r in v.decision.refusals],
                "waived": [{"rule": r.rule, "cis": r.cis, "reason": r.render()} for r in v.decision.waived],
            }
            for v in verdicts
        ],
    }
    return json.dumps(doc, indent=1) + "\n"
