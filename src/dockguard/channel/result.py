"""Results of a channel probe (daemon endpoint or registry): steps, findings, facts.

A probe is a sequence of steps.  Each step either COMPLETED (it ran and its verdict is
meaningful, finding or not), FAILED (it could not run: connection refused, timeout, protocol
error) or was SKIPPED (not applicable or not asked for).  A failed step must never read as a
clean one, which is why findings and steps are kept apart.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from dockguard.model import Finding, FindingKind, ProbeStep, Severity, StepStatus
from dockguard.serial import to_jsonable


@dataclass(frozen=True)
class ProbeResult:
    """Everything one probe found out about one target."""

    target: str
    kind: str
    """``endpoint`` or ``registry``."""
    steps: tuple[ProbeStep, ...] = ()
    findings: tuple[Finding, ...] = ()
    facts: dict[str, Any] = field(default_factory=dict)
    started: float = 0.0
    finished: float = 0.0

    @property
    def reachable(self) -> bool:
        """True when at least one step that talks to the target completed."""
        return any(s.status is StepStatus.COMPLETED for s in self.steps)

    def step(self, name: str) -> ProbeStep | None:
        """The step called `name`, if it was recorded."""
        for s in self.steps:
            if s.name == name:
                return s
        return None

    def worst(self) -> Severity | None:
        """The highest severity among the findings, or None when there are none."""
        if not self.findings:
            return None
        return max((f.severity for f in self.findings), key=lambda s: s.rank)


def make_finding(kind: FindingKind, code: str, severity: Severity, title: str, obj: str, **kw: Any) -> Finding:
    """A channel finding with the id ``<kind>.<code>`` (e.g. ``registry.plain-http``)."""
    return Finding(id=f"{kind}.{code}", kind=kind, severity=severity, title=title, obj=obj, **kw)


class StepLog:
    """Mutable collector used while a probe runs; frozen into a ProbeResult at the end."""

    def __init__(self) -> None:
        self.steps: list[ProbeStep] = []
        self.findings: list[Finding] = []
        self.facts: dict[str, Any] = {}

    def completed(self, name: str, reason: str = "") -> None:
        """Record a step that ran."""
        self.steps.append(ProbeStep(name, StepStatus.COMPLETED, reason))

    def failed(self, name: str, reason: str) -> None:
        """Record a step that could not run, with why."""
        self.steps.append(ProbeStep(name, StepStatus.FAILED, reason))

    def skipped(self, name: str, reason: str) -> None:
        """Record a step that was not attempted, with why."""
        self.steps.append(ProbeStep(name, StepStatus.SKIPPED, reason))

    def add(self, finding: Finding) -> None:
        """Record a finding."""
        self.findings.append(finding)

    def skip_rest(self, names: Sequence[str], reason: str) -> None:
        """Mark every step of `names` not recorded yet as skipped, with one reason."""
        done = {s.name for s in self.steps}
        for name in names:
            if name not in done:
                self.skipped(name, reason)

    def result(self, target: str, kind: str, started: float) -> ProbeResult:
        """Freeze what was recorded into a ProbeResult finished now."""
        import time

        return ProbeResult(
            target=target,
            kind=kind,
            steps=tuple(self.steps),
            findings=tuple(self.findings),
            facts=self.facts,
            started=started,
            finished=time.time(),
        )


def result_to_json(result: ProbeResult) -> str:
    """Indented JSON for ``--format json``."""
    from dockguard.report.json import finding_dict

    doc = to_jsonable(result)
    doc["findings"] = [finding_dict(f) for f in result.findings]
    return json.dumps(doc, indent=2, sort_keys=True, default=str)


def _clean(text: str) -> str:
    """`text` without control characters: a probed server chooses much of what is printed
    (headers, realm, repository names, certificate subjects) and must not drive the terminal."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in text)


def render_text(result: ProbeResult) -> str:
    """Human-readable report: steps first (so a failed probe is obvious), then findings.

    Control characters in anything printed are shown as ``\\xNN``.
    """
    return "\n".join(_clean(line) for line in _render_lines(result)) + "\n"


def _render_lines(result: ProbeResult) -> list[str]:
    lines = [f"{result.kind} probe: {result.target}", "", "Steps:"]
    width = max((len(s.name) for s in result.steps), default=10)
    for s in result.steps:
        reason = f"  {s.reason}" if s.reason else ""
        lines.append(f"  {s.name:<{width}}  {s.status.value:<9}{reason}")
    if result.facts:
        lines += ["", "Facts:"]
        for key in sorted(result.facts):
            lines.append(f"  {key}: {_fact(result.facts[key])}")
    lines += ["", "Findings:"]
    if not result.findings:
        if result.reachable:
            lines.append("  none in the steps that completed")
        else:
            lines.append("  none: nothing could be probed (see the steps above)")
    for f in sorted(result.findings, key=lambda f: (-f.severity.rank, f.id, f.obj)):
        lines.append(f"  {f.severity.value:<8} {f.id}  {f.title}")
        if f.description:
            lines.append(f"           {f.description}")
        if f.remediation:
            lines.append(f"           fix: {f.remediation}")
    return lines


def _fact(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value) if value else "(none)"
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    return str(value)


def exit_code(result: ProbeResult, fail_on: Severity | None) -> int:
    """0 clean or below threshold, 1 a finding at/above `fail_on`, 2 nothing could be probed."""
    if not result.reachable:
        return 2
    if fail_on is None:
        return 0
    if any(f.severity.rank >= fail_on.rank and not f.suppressed for f in result.findings):
        return 1
    return 0
