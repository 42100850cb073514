"""The explicit check registry: metadata plus evaluation function per check.

Check modules define plain functions and a ``CHECKS`` tuple built with `check()` /
`manual()`; `catalogue()` concatenates those tuples in section order.  Nothing registers
itself at import time, so importing a module never changes what runs.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dockguard.errors import UsageError
from dockguard.model import CheckMeta, Evaluation, Severity

if TYPE_CHECKING:
    from dockguard.engine import Context

CheckFn = Callable[["Context"], Evaluation]

SECTIONS: dict[str, str] = {
    "1": "Host Configuration",
    "2": "Docker daemon configuration",
    "3": "Docker daemon configuration files",
    "4": "Container Images and Build File",
    "5": "Container Runtime",
    "6": "Docker Security Operations",
    "7": "Docker Swarm Configuration",
}

# docker-bench's group names (functions in its tests/*.sh) so that `-c host_configuration`
# keeps working for users who script it.
SECTION_GROUPS: dict[str, str] = {
    "host_configuration": "1",
    "docker_daemon_configuration": "2",
    "docker_daemon_files": "3",
    "container_images": "4",
    "container_runtime": "5",
    "docker_security_operations": "6",
    "docker_swarm_configuration": "7",
}


@dataclass(frozen=True)
class Check:
    """A check: frozen metadata and the pure function that evaluates it (None for manual)."""

    meta: CheckMeta
    fn: CheckFn | None


def check(
    cis: str,
    title: str,
    *,
    level: int,
    severity: Severity,
    remediation: str,
    fn: CheckFn,
    scored: bool = True,
    impact: str = "None.",
    references: tuple[str, ...] = (),
    description: str = "",
) -> Check:
    """Declare an automated CIS check."""
    return _declare(cis, title, level, True, scored, severity, remediation, impact, references, description, fn)


def manual(
    cis: str,
    title: str,
    *,
    level: int,
    remediation: str,
    severity: Severity = Severity.LOW,
    fn: CheckFn | None = None,
    impact: str = "None.",
    references: tuple[str, ...] = (),
    description: str = "",
) -> Check:
    """Declare a manual CIS check; `fn`, if given, adds facts for the human (NOTE/INFO)."""
    return _declare(cis, title, level, False, False, severity, remediation, impact, references, description, fn)


def _declare(
    cis: str,
    title: str,
    level: int,
    automated: bool,
    scored: bool,
    severity: Severity,
    remediation: str,
    impact: str,
    references: tuple[str, ...],
    description: str,
    fn: CheckFn | None,
) -> Check:
    meta = CheckMeta(
        id=cis,
        cis=cis,
        title=title,
        section=cis.split(".")[0],
        level=level,
        automated=automated,
        scored=scored,
        severity=severity,
        remediation=remediation,
        remediation_impact=impact,
        references=references,
        description=description,
    )
    return Check(meta, fn)


def _id_key(check_id: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", check_id))


def catalogue() -> tuple[Check, ...]:
    """Every CIS check in id order."""
    from dockguard.checks import (
        container_images,
        container_runtime,
        daemon_configuration,
        daemon_files,
        host_configuration,
        security_operations,
        swarm_configuration,
    )

    checks: list[Check] = []
    for module in (host_configuration, daemon_configuration, daemon_files, container_images, container_runtime,
                   security_operations, swarm_configuration):
        checks.extend(module.CHECKS)
    checks.sort(key=lambda c: _id_key(c.meta.id))
    return tuple(checks)


def normalise_id(token: str) -> str:
    """Accept ``2.2``, ``2_2``, ``check_2_2`` and ``cis_2.2`` for the same check."""
    t = token.strip().lower()
    for prefix in ("check_", "cis_", "cis-"):
        if t.startswith(prefix) and t[len(prefix) :][:1].isdigit():
            t = t[len(prefix) :]
    return t.replace("_", ".")


def select(
    checks: Iterable[Check],
    include: Iterable[str] = (),
    exclude: Iterable[str] = (),
    level: int | None = None,
) -> tuple[Check, ...]:
    """Choose checks by exact id, section group or level; unknown tokens raise UsageError.

    Tokens: a check id (``2.2`` matches only 2.2, never 1.2.2), a section number (``2``), a
    docker-bench group name (``docker_daemon_configuration``), ``cis_level1``/``cis_level2``.
    Level 1 selects level-1 checks; level 2 selects both levels, as CIS profiles nest.
    """
    all_checks = tuple(checks)
    ids = {c.meta.id for c in all_checks}

    def matcher(token: str) -> Callable[[Check], bool]:
        raw = token.strip().lower()
        if raw in SECTION_GROUPS:
            sec = SECTION_GROUPS[raw]
            return lambda c: c.meta.section == sec
        if raw in ("cis_level1", "level1", "cis_level2", "level2"):
            lvl = 1 if raw.endswith("1") else 2
            return lambda c: c.meta.level <= lvl
        tid = normalise_id(raw)
        if tid in ids:
            return lambda c: c.meta.id == tid
        if tid in SECTIONS:
            return lambda c: c.meta.section == tid
        if any(cid.startswith(tid + ".") for cid in ids):
            return lambda c: c.meta.id.startswith(tid + ".")
        raise UsageError(f"unknown check id or group: {token!r}")

    inc = [matcher(t) for t in include if t.strip()]
    exc = [matcher(t) for t in exclude if t.strip()]
    chosen = []
    for c in all_checks:
        if inc and not any(m(c) for m in inc):
            continue
        if any(m(c) for m in exc):
            continue
        if level is not None and c.meta.level > level:
            continue
        chosen.append(c)
    return tuple(chosen)
