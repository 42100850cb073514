"""``dockguard diff OLD.json NEW.json``: two JSON reports → one `Report` of what changed.

The model.  The problems of a report are its unsuppressed failing check objects — keyed by
(check id, detail object); a WARN check without per-object details counts once with an empty
object — and its unsuppressed findings, keyed by (finding id, object); the highest severity
wins when a key repeats.  Each problem becomes a `Finding` of the diff report (a check's as kind
CHECK, with the check's severity, title, remediation and the object's message as description;
a finding as it was, package and vulnerability included) whose `change` says what happened:

- NEW (in NEW only): unsuppressed, with its severity — the only problems ``--fail-on``
  (``--fail-on-new``) evaluates, the only ones SARIF lists;
- FIXED (in OLD only) and UNCHANGED (in both): marked suppressed with the reason ("fixed: not in
  NEW.json", "unchanged: already in OLD.json"), so they are listed in JSON, HTML and JUnit but
  count for no gate, score or summary.

Findings are ordered new, fixed, unchanged; within each, worst first, then id and object.
``--suppressions`` is applied to this report like any other (by `finish_report`): a new problem
it matches stays listed, marked suppressed, and no longer trips the gate.

Completeness: a part the NEW run could not check (its notes NOT CHECKED, INCOMPLETE, ERROR) may
hide new problems, so those notes are carried over as they are and a gate cannot pass (exit 2);
the OLD run's become WARNINGs — an incomplete OLD run can only make problems look new,
never hide one.  The reports are read one at a time (`dockguard.report.load`, 16 MiB each):
only the problems of the first are kept while the second is read.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterable
from dataclasses import dataclass

from dockguard.model import (
    UNDECIDED,
    Change,
    CollectionError,
    Finding,
    FindingKind,
    NoteStatus,
    Outcome,
    Report,
    ReportNote,
    ReportSource,
    Surface,
    evidence,
)

Key = tuple[str, str]


@dataclass(frozen=True)
class RunProblems:
    """What the diff keeps of one report: its problems by key, its notes and its provenance."""

    problems: dict[Key, Finding]
    notes: tuple[ReportNote, ...]
    source: ReportSource
    collection_errors: tuple[CollectionError, ...] = ()


def problems(report: Report) -> dict[Key, Finding]:
    """The unsuppressed problems of a report by (id, object), as findings."""
    out: dict[Key, Finding] = {}

    def add(finding: Finding) -> None:
        key = (finding.id, finding.obj)
        old = out.get(key)
        if old is None or finding.severity.rank > old.severity.rank:
            out[key] = finding

    for result in report.results:
        if result.suppressed or result.outcome is not Outcome.WARN:
            continue
        meta = result.meta
        failing = [d for d in result.details if d.outcome is Outcome.WARN]
        for obj, message, value in [(d.obj, d.message, d.value) for d in failing] or [("", result.reason, None)]:
            add(Finding(id=meta.id, kind=FindingKind.CHECK, severity=meta.severity, title=meta.title, obj=obj,
                        description=message, references=meta.references, remediation=meta.remediation,
                        evidence=evidence(value=value)))
    for finding in report.findings:
        if not finding.suppressed:
            add(dataclasses.replace(finding, change=None))
    return out


def reduce(report: Report) -> RunProblems:
    """`problems` plus what the diff report carries over from a run."""
    return RunProblems(problems(report), report.notes, report.source, report.collection_errors)


def compare(before: dict[Key, Finding], after: dict[Key, Finding], old_name: str = "OLD",
            new_name: str = "NEW") -> tuple[Finding, ...]:
    """New, fixed and unchanged problems as diff findings (see the module docstring)."""
    new = [dataclasses.replace(f, change=Change.NEW) for k, f in after.items() if k not in before]
    fixed = [dataclasses.replace(f, change=Change.FIXED, suppressed=f"fixed: not in {new_name}")
             for k, f in before.items() if k not in after]
    unchanged = [dataclasses.replace(f, change=Change.UNCHANGED, suppressed=f"unchanged: already in {old_name}")
                 for k, f in after.items() if k in before]
    return (*_sorted(new), *_sorted(fixed), *_sorted(unchanged))


def _sorted(items: Iterable[Finding]) -> list[Finding]:
    return sorted(items, key=lambda f: (-f.severity.rank, f.id, f.obj))


def diff_runs(old: RunProblems, new: RunProblems, old_name: str, new_name: str,
              started: float | None = None) -> Report:
    """The diff report of two reduced runs."""
    from dockguard import __version__

    notes = tuple(ReportNote(f"{new_name}: {n.part}", n.status, n.reason) for n in new.notes
                  if n.status in UNDECIDED)
    notes += tuple(
        ReportNote(f"{old_name}: {n.part}", NoteStatus.WARNING,
                   f"{n.status.value} in the earlier run: {n.reason}" if n.reason else
                   f"{n.status.value} in the earlier run")
        for n in old.notes if n.status in UNDECIDED
    )
    source = ReportSource(Surface.DIFF, target=f"{old_name} -> {new_name}",
                          docker_host=new.source.docker_host, hostname=new.source.hostname)
    return Report(tool_version=__version__, started=time.time() if started is None else started,
                  finished=time.time(), source=source,
                  findings=compare(old.problems, new.problems, old_name, new_name),
                  notes=notes, collection_errors=new.collection_errors)


def diff_report(old_path: str, new_path: str) -> Report:
    """Read both JSON reports (one at a time) and compare them."""
    from dockguard.report import load

    started = time.time()
    old = reduce(load.load(old_path))
    new = reduce(load.load(new_path))
    return diff_runs(old, new, old_path, new_path, started)
