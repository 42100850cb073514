"""dockguard's severity-weighted security score (0–100), shown by the text and HTML reports.

The formula (also documented in ``docs/report-formats.md``)::

    weight:  CRITICAL 10, HIGH 6, MEDIUM 3, UNKNOWN 2, LOW 1, NEGLIGIBLE 0

    checks   C = Σ weight(passed) / Σ weight(evaluated)          (1.0 when nothing was evaluated)
             over scored, unsuppressed check results whose outcome is PASS, WARN or ERROR;
             WARN and ERROR count as not passed (a check that could not run earns nothing).
             INFO, NOTE (manual) and N/A results are left out.
    findings F = 0.5 ** (Σ weight(unsuppressed findings) / 20)   (halves per 20 weight points:
             two CRITICAL or twenty LOW findings halve the score)
    score    = floor(100 × C × F)    (rounded down: only a clean report scores 100)

A report with nothing wrong scores 100; a report with no passed checks scores 0. The classic
docker-bench score (+1 per scored PASS, −1 per scored WARN) is `Report.classic_score` and is
shown next to this one for the CIS part.

No score is given (`Score.value` is None, `Score.withheld` says why and what to do) when the
CIS part could not run: the report has a NOT CHECKED note on the daemon (``audit`` without a
reachable daemon), or it has scored checks and every one of them is N/A.  A score over the few
checks that need no daemon would read better than a real audit of a risky host.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from dockguard.model import NoteStatus, Outcome, Report, Severity

WEIGHTS: dict[Severity, int] = {
    Severity.CRITICAL: 10,
    Severity.HIGH: 6,
    Severity.MEDIUM: 3,
    Severity.UNKNOWN: 2,
    Severity.LOW: 1,
    Severity.NEGLIGIBLE: 0,
}

#: Σ finding weight that halves the score.
HALVING_WEIGHT = 20

_EVALUATED = (Outcome.PASS, Outcome.WARN, Outcome.ERROR)

#: The report note part that names the Docker daemon (``NOT CHECKED``: it could not be reached).
DAEMON_NOTE = "daemon"

#: How to get a report with a score when the daemon could not be reached.
WHAT_TO_DO = (
    "start Docker, pass -H/--docker-host or set DOCKER_HOST, or evaluate a saved snapshot with "
    "`dockguard bench --snapshot FILE`"
)


@dataclass(frozen=True)
class Score:
    """The score and the numbers it was computed from (so reports can explain it)."""

    value: int | None
    """The score, or None when it is withheld."""
    checks_earned: int
    checks_possible: int
    finding_penalty: int
    withheld: str | None = None
    """Why there is no score and what to do, when `value` is None."""

    @property
    def checks_factor(self) -> float:
        """C in the formula: share of check weight earned (1.0 when none evaluated)."""
        if self.checks_possible == 0:
            return 1.0
        return self.checks_earned / self.checks_possible

    @property
    def findings_factor(self) -> float:
        """F in the formula: decay caused by unsuppressed findings."""
        return float(0.5 ** (self.finding_penalty / HALVING_WEIGHT))

    @property
    def grade(self) -> str | None:
        """A letter for dashboards: A ≥ 90, B ≥ 75, C ≥ 50, D ≥ 25, else F (None: no score)."""
        if self.value is None:
            return None
        for limit, letter in ((90, "A"), (75, "B"), (50, "C"), (25, "D")):
            if self.value >= limit:
                return letter
        return "F"


def withheld(report: Report) -> str | None:
    """Why `report` gets no score (the CIS part could not run), or None when it gets one."""
    for note in report.notes:
        if note.part == DAEMON_NOTE and note.status is NoteStatus.NOT_CHECKED:
            why = f"the CIS checks that need the Docker daemon could not run ({note.reason})"
            return f"{why}; for a score, {WHAT_TO_DO}"
    scored = [r for r in report.results if r.meta.scored and not r.suppressed]
    if scored and not any(r.outcome in _EVALUATED for r in scored):
        return f"none of the {len(scored)} scored CIS checks could be evaluated (all N/A); for a score, {WHAT_TO_DO}"
    return None


def compute(report: Report) -> Score:
    """Compute the severity-weighted score of `report` (suppressed items are ignored)."""
    earned = possible = 0
    for result in report.results:
        if result.suppressed or not result.meta.scored or result.outcome not in _EVALUATED:
            continue
        weight = WEIGHTS[result.meta.severity]
        possible += weight
        if result.outcome is Outcome.PASS:
            earned += weight
    penalty = sum(WEIGHTS[f.severity] for f in report.findings if not f.suppressed)
    factor = (earned / possible if possible else 1.0) * 0.5 ** (penalty / HALVING_WEIGHT)
    reason = withheld(report)
    return Score(
        value=None if reason else math.floor(100 * factor),
        checks_earned=earned,
        checks_possible=possible,
        finding_penalty=penalty,
        withheld=reason,
    )
