"""The synthetic CIS part of the report benchmarks (bench_reports, bench_html, bench_diff).

117 checks in the catalogue's section sizes; the runtime sections (4, 5) — and, when asked, the
first daemon checks of section 2 — carry one detail per container, two in three of them WARN.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.report_sample import meta  # noqa: E402

from dockguard.model import CheckResult, Detail, Finding, Outcome, Report, ReportSource, Severity, Surface  # noqa: E402

#: Checks per CIS section in the catalogue (117 in all).
SECTION_SIZES = {"1": 13, "2": 18, "3": 24, "4": 11, "5": 31, "6": 2, "7": 18}
OUTCOMES = (Outcome.PASS, Outcome.WARN, Outcome.WARN, Outcome.INFO, Outcome.NA, Outcome.NOTE)
SEVERITIES = tuple(Severity)


def cis_results(containers: int, *, daemon_details: int = 0,
                outcomes: Sequence[Outcome] = OUTCOMES) -> tuple[CheckResult, ...]:
    """One result per check; checks without per-object details cycle through `outcomes`."""
    names = [f"container:app-{i:03d}" for i in range(containers)]
    results: list[CheckResult] = []
    checks = ((s, k) for s, size in SECTION_SIZES.items() for k in range(1, size + 1))
    for n, (section, k) in enumerate(checks):
        cis = f"{section}.{k}"
        details: tuple[Detail, ...] = ()
        outcome = outcomes[n % len(outcomes)]
        if section in ("4", "5") or (section == "2" and k <= daemon_details):
            details = tuple(Detail(name, f"setting {k} of {name} is {'bad' if i % 3 else 'fine'}",
                                   Outcome.WARN if i % 3 else Outcome.PASS, value=str(i))
                            for i, name in enumerate(names))
            outcome = Outcome.WARN
        results.append(CheckResult(meta(cis, f"Ensure that check {cis} holds for every object", SEVERITIES[n % 4]),
                                   outcome, details, reason=f"reason for {cis}"))
    return tuple(results)


def audit_report(results: Iterable[CheckResult], findings: Iterable[Finding]) -> Report:
    """An audit report of fixed times holding `results` and `findings`."""
    return Report(tool_version="0.1.0", started=1_767_225_600.0, finished=1_767_225_660.0,
                  source=ReportSource(Surface.AUDIT, hostname="bench"), results=tuple(results),
                  findings=tuple(findings))
