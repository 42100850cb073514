"""The one exit policy: ``--fail-on`` parsed once and evaluated once, for every command.

Exit codes:

- **0**: the run completed and nothing unsuppressed is at or above the threshold (or no
  ``--fail-on`` was given);
- **1**: an unsuppressed finding, or a failed scored check, is at or above the threshold;
- **2**: the gate cannot be decided — a part that could change the verdict did not run or did
  not read everything (a note NOT CHECKED, INCOMPLETE or ERROR), a check at the threshold
  ended in ERROR, or a probe reached nothing — and also every usage or operational error,
  which the CLI maps before a report exists.

An undecided gate (2) wins over findings (1): a run that could not read everything says so
with its own exit code, whatever it did see, so CI tells "not checked" from "found".
"""

from __future__ import annotations

from dataclasses import dataclass

from dockguard.errors import UsageError
from dockguard.model import UNDECIDED, Outcome, Report, Severity, Surface

OK = 0
FINDINGS = 1
UNDECIDABLE = 2

#: Surfaces that are probes: nothing reached means nothing was probed.
_PROBES = frozenset({Surface.DAEMON_PROBE, Surface.REGISTRY_PROBE})


@dataclass(frozen=True)
class FailOn:
    """A gate: a severity threshold, or (``WARN``) any failed scored check and any finding."""

    threshold: Severity | None
    """None means ``WARN``: every scored WARN and every finding counts."""

    @property
    def label(self) -> str:
        """How the user wrote it."""
        return self.threshold.value if self.threshold else "WARN"

    def counts(self, severity: Severity) -> bool:
        """True when something of `severity` trips the gate."""
        return self.threshold is None or severity.rank >= self.threshold.rank


def parse_fail_on(text: str | None, *, allow_warn: bool = True) -> FailOn | None:
    """``--fail-on`` → FailOn (None when not given); UsageError naming the choices otherwise."""
    if text is None or not text.strip():
        return None
    if allow_warn and text.strip().upper() == "WARN":
        return FailOn(None)
    try:
        return FailOn(Severity.parse(text))
    except ValueError as exc:
        choices = "WARN or a severity" if allow_warn else "a severity"
        raise UsageError(f"--fail-on: {exc} ({choices})") from None


@dataclass(frozen=True)
class GateResult:
    """The exit code and, for 1 and 2, the one line that says why."""

    code: int
    reason: str = ""


def decide(report: Report, fail_on: FailOn | None) -> GateResult:
    """Evaluate `report` against `fail_on` (see the module docstring)."""
    if report.surface in _PROBES and report.steps and not report.reachable:
        return GateResult(UNDECIDABLE, "nothing could be probed (see the steps)")
    if fail_on is None:
        return GateResult(OK)
    errored = [
        r for r in report.results
        if r.outcome is Outcome.ERROR and r.meta.scored and not r.suppressed and fail_on.counts(r.meta.severity)
    ]
    undecided = [n for n in report.notes if n.status in UNDECIDED]
    if errored or undecided:
        parts = [f"{n.part}: {n.status.value}" for n in undecided[:3]]
        parts += [f"check {r.id}: ERROR" for r in errored[:3]]
        more = len(undecided) + len(errored) - len(parts)
        tail = f" and {more} more" if more > 0 else ""
        return GateResult(UNDECIDABLE, f"--fail-on {fail_on.label} cannot be decided: {'; '.join(parts)}{tail}")
    tripped = [f for f in report.findings if not f.suppressed and fail_on.counts(f.severity)]
    failed = [
        r for r in report.results
        if r.outcome is Outcome.WARN and r.meta.scored and not r.suppressed and fail_on.counts(r.meta.severity)
    ]
    if tripped or failed:
        what = [f"{len(tripped)} finding(s)"] if tripped else []
        what += [f"{len(failed)} failed check(s)"] if failed else []
        return GateResult(FINDINGS, f"{' and '.join(what)} at or above --fail-on {fail_on.label}")
    return GateResult(OK)


def exit_code(report: Report, fail_on: FailOn | None) -> int:
    """`decide`'s exit code, with its reason printed on stderr when the gate did not pass."""
    import sys

    result = decide(report, fail_on)
    if result.reason:
        print(f"dockguard: {result.reason}", file=sys.stderr)
    return result.code
