"""Probe steps and the Report a probe produces.

A probe (daemon endpoint or registry) is a sequence of steps, each one function returning a
`StepResult` (after sslyze's ``ScanCommandAttempt``): COMPLETED (it ran and its verdict is
meaningful, finding or not), FAILED (it could not run: connection refused, timeout, protocol
error) or SKIPPED (not applicable or not asked for), with why, the typed facts it established
and its findings.  A failed step must never read as a clean one, which is why a step's status
is kept apart from its findings.

`StepSequence` collects the results while a probe runs and freezes them into the one `Report`
every format renders (``Report.steps`` with each step's facts as evidence, ``Report.findings``);
the probe returns that report together with its typed facts as a `ProbeRun`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Generic, Never, Protocol, TypeVar

from dockguard import __version__
from dockguard.model import (
    Finding,
    FindingKind,
    ProbeStep,
    Report,
    ReportSource,
    Severity,
    StepStatus,
    Surface,
)

Evidence = tuple[tuple[str, str], ...]


class StepFacts(Protocol):
    """The typed facts of one step; `evidence` is how the report shows them."""

    def evidence(self) -> Evidence:
        """(name, text) pairs for `ProbeStep.evidence`."""
        ...


F_co = TypeVar("F_co", bound=StepFacts, covariant=True)
F = TypeVar("F", bound=StepFacts)
P_co = TypeVar("P_co", covariant=True)


@dataclass(frozen=True)
class StepResult(Generic[F_co]):
    """What one probe step did: status, why, the facts it established and its findings.

    `halt` is set when the later steps cannot run (the target is unreachable, speaks no TLS,
    or already gave everything away); it is the reason they are skipped with.
    """

    name: str
    status: StepStatus
    reason: str = ""
    facts: F_co | None = None
    findings: tuple[Finding, ...] = ()
    halt: str = ""

    def probe_step(self) -> ProbeStep:
        """The step as the report carries it."""
        evidence = self.facts.evidence() if self.facts is not None else ()
        return ProbeStep(self.name, self.status, self.reason, evidence)


def completed(name: str, reason: str, facts: F | None = None, findings: tuple[Finding, ...] = (),
              *, halt: str = "") -> StepResult[F]:
    """A step that ran."""
    return StepResult(name, StepStatus.COMPLETED, reason, facts, findings, halt)


def failed(name: str, reason: str, facts: F | None = None, *, halt: str = "") -> StepResult[F]:
    """A step that could not run, with why (and whatever facts it still saw)."""
    return StepResult(name, StepStatus.FAILED, reason, facts, (), halt)


def skipped(name: str, reason: str) -> StepResult[Never]:
    """A step that was not attempted, with why."""
    return StepResult(name, StepStatus.SKIPPED, reason)


@dataclass(frozen=True)
class ProbeRun(Generic[P_co]):
    """A finished probe: the Report every format renders, and the probe's typed facts."""

    report: Report
    facts: P_co

    @property
    def steps(self) -> tuple[ProbeStep, ...]:
        """The report's steps."""
        return self.report.steps

    @property
    def findings(self) -> tuple[Finding, ...]:
        """The report's findings."""
        return self.report.findings


class StepSequence:
    """The steps of one probe run, in order; frozen into a Report at the end.

    `names` are all the steps the probe has, so that `skip_rest` can name the ones a halting
    step leaves out.
    """

    def __init__(self, names: tuple[str, ...]) -> None:
        self.names = names
        self.results: list[StepResult[StepFacts]] = []
        self.started = time.time()

    def add(self, result: StepResult[F]) -> StepResult[F]:
        """Record `result` (a step of `names`) and return it; when it halts, skip the rest."""
        if result.name not in self.names:
            raise ValueError(f"unknown probe step {result.name!r}")
        self.results.append(result)
        if result.halt:
            self.skip_rest(result.halt)
        return result

    def skip_rest(self, reason: str) -> None:
        """Mark every step not recorded yet as skipped, with one reason."""
        done = {r.name for r in self.results}
        self.results.extend(skipped(name, reason) for name in self.names if name not in done)

    @property
    def pending(self) -> str | None:
        """The first step not recorded yet, if any."""
        done = {r.name for r in self.results}
        return next((n for n in self.names if n not in done), None)

    def facts(self, name: str, kind: type[F]) -> F | None:
        """The facts step `name` established, if it recorded facts of type `kind`."""
        for r in self.results:
            if r.name == name and isinstance(r.facts, kind):
                return r.facts
        return None

    def failed_steps(self) -> tuple[str, ...]:
        """Names of the steps that could not run."""
        return tuple(r.name for r in self.results if r.status is StepStatus.FAILED)

    def report(self, surface: Surface, target: str) -> Report:
        """The Report of this run (steps in the order the probe has them), finished now."""
        order = {name: i for i, name in enumerate(self.names)}
        results = sorted(self.results, key=lambda r: order[r.name])
        return Report(
            tool_version=__version__,
            started=self.started,
            finished=time.time(),
            source=ReportSource(surface, target=target),
            findings=tuple(f for r in results for f in r.findings),
            steps=tuple(r.probe_step() for r in results),
        )


def make_finding(
    kind: FindingKind,
    code: str,
    severity: Severity,
    title: str,
    obj: str,
    *,
    description: str = "",
    remediation: str = "",
    evidence: Evidence = (),
) -> Finding:
    """A channel finding with the id ``<kind>.<code>`` (e.g. ``registry.plain-http``)."""
    return Finding(id=f"{kind}.{code}", kind=kind, severity=severity, title=title, obj=obj,
                   description=description, remediation=remediation, evidence=evidence)


def bool_text(value: bool) -> str:
    """How a boolean fact is shown: ``True``/``False``, as the text output always had it."""
    return str(value)
