"""``dockguard diff OLD.json NEW.json``: what is new, fixed and unchanged between two runs.

Both files are dockguard JSON reports (``--format json`` of any command), read one at a time
through `dockguard.report.load` (at most 16 MiB each, nesting capped).  The problems
compared are failing check objects, keyed by (check id, detail object) — a WARN check without
per-object details counts once with an empty object — and findings, keyed by (finding id,
object).  Suppressed items are not problems: a suppression that expires or is removed makes
its item show up as new.  ``--fail-on-new SEVERITY`` exits 1 when a new problem is at or above
that severity, for CI gates that accept existing debt but no regression.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from typing import Any

from dockguard.errors import UsageError
from dockguard.model import Outcome, Report, Severity
from dockguard.suppress import Suppression, active_index, covering

DIFF_SCHEMA_VERSION = 1


@dataclass(frozen=True)
class Problem:
    """One failing check object or one finding, as compared between runs."""

    id: str
    obj: str
    kind: str
    severity: Severity
    title: str
    message: str = ""

    @property
    def key(self) -> tuple[str, str]:
        """Identity across runs."""
        return (self.id, self.obj)


@dataclass(frozen=True)
class Diff:
    """The outcome of comparing two reports."""

    new: tuple[Problem, ...]
    fixed: tuple[Problem, ...]
    unchanged: tuple[Problem, ...]

    def new_at_or_above(self, threshold: Severity) -> tuple[Problem, ...]:
        """New problems whose severity ranks at or above `threshold`."""
        return tuple(p for p in self.new if p.severity.rank >= threshold.rank)


def problems(
    report: Report, suppressions: tuple[Suppression, ...] = ()
) -> dict[tuple[str, str], Problem]:
    """The unsuppressed problems of a report by key (highest severity wins on collisions).

    `suppressions` (already applied to `report`) are also matched per failing check object,
    so that a container-scoped entry hides that container's problem even when the check
    still fails for other containers.
    """
    out: dict[tuple[str, str], Problem] = {}
    index = active_index(suppressions)

    def add(problem: Problem) -> None:
        old = out.get(problem.key)
        if old is None or problem.severity.rank > old.severity.rank:
            out[problem.key] = problem

    for result in report.results:
        if result.suppressed or result.outcome is not Outcome.WARN:
            continue
        failing = [d for d in result.details if d.outcome is Outcome.WARN]
        if not failing:
            add(Problem(result.id, "", "check", result.meta.severity, result.meta.title,
                        result.reason))
        for detail in failing:
            if covering(index, result.id, detail.obj):
                continue
            add(Problem(result.id, detail.obj, "check", result.meta.severity, result.meta.title,
                        detail.message))
    for finding in report.findings:
        if finding.suppressed:
            continue
        add(Problem(finding.id, finding.obj, finding.kind, finding.severity, finding.title))
    return out


def compare(old: Report, new: Report, suppressions: tuple[Suppression, ...] = ()) -> Diff:
    """Problems only in `new`, only in `old`, and in both (with `new`'s data)."""
    return compare_problems(problems(old, suppressions), problems(new, suppressions))


def compare_problems(
    before: dict[tuple[str, str], Problem], after: dict[tuple[str, str], Problem]
) -> Diff:
    """`compare` on the `problems` of two reports."""
    return Diff(
        new=_sorted(p for k, p in after.items() if k not in before),
        fixed=_sorted(p for k, p in before.items() if k not in after),
        unchanged=_sorted(p for k, p in after.items() if k in before),
    )


def _sorted(items: Any) -> tuple[Problem, ...]:
    return tuple(sorted(items, key=lambda p: (-p.severity.rank, p.id, p.obj)))


def render_text(diff: Diff, old_name: str, new_name: str) -> str:
    """Human-readable diff."""
    lines = [f"dockguard diff {old_name} -> {new_name}"]
    for label, items in (("New", diff.new), ("Fixed", diff.fixed)):
        lines.append("")
        lines.append(f"{label} ({len(items)}):")
        if not items:
            lines.append("  (none)")
        for p in items:
            where = f"  {p.obj}" if p.obj else ""
            text = f"{p.title}: {p.message}" if p.message else p.title
            lines.append(f"  {p.severity.value:<10} {p.id}{where}  {text}")
    lines.append("")
    lines.append(
        f"Summary: {len(diff.new)} new, {len(diff.fixed)} fixed, {len(diff.unchanged)} unchanged"
    )
    return "\n".join(lines) + "\n"


def render_json(diff: Diff, old_name: str, new_name: str) -> str:
    """Machine-readable diff (``schema_version`` 1)."""

    def item(p: Problem) -> dict[str, str]:
        return {
            "id": p.id,
            "obj": p.obj,
            "kind": p.kind,
            "severity": p.severity.value,
            "title": p.title,
            "message": p.message,
        }

    doc = {
        "schema_version": DIFF_SCHEMA_VERSION,
        "old": old_name,
        "new": new_name,
        "summary": {
            "new": len(diff.new),
            "fixed": len(diff.fixed),
            "unchanged": len(diff.unchanged),
        },
        "new_problems": [item(p) for p in diff.new],
        "fixed_problems": [item(p) for p in diff.fixed],
        "unchanged_problems": [item(p) for p in diff.unchanged],
    }
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def register(sub: Any) -> None:
    """Add the ``diff`` subcommand."""
    from dockguard import suppress

    p = sub.add_parser(
        "diff",
        help="compare two JSON reports: new, fixed and unchanged problems",
        description="Compare two dockguard JSON reports (--format json) and list the problems "
        "that are new, fixed or unchanged. Check results are compared per object "
        "(check id, container/image/file), findings by (id, object).",
    )
    p.add_argument("old", metavar="OLD.json", help="the earlier report")
    p.add_argument("new", metavar="NEW.json", help="the later report")
    p.add_argument(
        "--fail-on-new",
        metavar="SEVERITY",
        help="exit 1 when a new problem has this severity or a higher one "
        "(CRITICAL, HIGH, MEDIUM, UNKNOWN, LOW, NEGLIGIBLE)",
    )
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of stdout")
    suppress.add_argument(p)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Load both reports, apply suppressions, compare, render, gate."""
    from dockguard import suppress
    from dockguard.commands.common import check_outputs, write_output
    from dockguard.report import load

    threshold: Severity | None = None
    if args.fail_on_new:
        try:
            threshold = Severity.parse(args.fail_on_new)
        except ValueError as exc:
            raise UsageError(f"--fail-on-new: {exc}") from None
    check_outputs(args.output)
    entries = suppress.load(args.suppressions) if args.suppressions else ()
    if entries:
        for message in suppress.expired_warnings(entries):
            print(f"dockguard: warning: {message}", file=sys.stderr)

    def reduce(path: str) -> dict[tuple[str, str], Problem]:
        # One report in memory at a time: only its problems are kept for the comparison.
        report = load.load(path)
        return problems(suppress.apply(report, entries) if entries else report, entries)

    diff = compare_problems(reduce(args.old), reduce(args.new))
    render = render_json if args.format == "json" else render_text
    write_output(render(diff, args.old, args.new), args.output)
    if threshold is not None and diff.new_at_or_above(threshold):
        return 1
    return 0
