"""Console output in docker-bench's familiar layout, coloured on a TTY."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from dockguard.checks.catalogue import SECTIONS
from dockguard.model import CheckResult, Finding, Outcome, Report, Severity, Surface

_COLOURS = {
    Outcome.PASS: "\033[1;32m",
    Outcome.WARN: "\033[1;31m",
    Outcome.INFO: "\033[1;34m",
    Outcome.NOTE: "\033[1;33m",
    Outcome.NA: "\033[0;37m",
    Outcome.ERROR: "\033[1;35m",
}
_SEV_COLOURS = {
    Severity.CRITICAL: "\033[1;35m",
    Severity.HIGH: "\033[1;31m",
    Severity.MEDIUM: "\033[1;33m",
    Severity.LOW: "\033[1;34m",
}
_RESET = "\033[0m"


@dataclass(frozen=True)
class TextOptions:
    """Rendering choices: colour, remediation (``-p``), detail limit (``-n``), verbosity."""

    colour: bool = False
    remediation: bool = False
    limit: int = 0
    show_passing_details: bool = False


def _tag(outcome: Outcome, colour: bool) -> str:
    word = outcome.value
    text = f"[{word}]"
    return f"{_COLOURS[outcome]}{text}{_RESET}" if colour else text


def render_result(r: CheckResult, opts: TextOptions) -> list[str]:
    """The lines for one check result."""
    title = r.meta.cis_title
    suffix = f"  (suppressed: {r.suppressed})" if r.suppressed else ""
    lines = [f"{_tag(r.outcome, opts.colour)} {r.meta.id} - {title}{suffix}"]
    details = [d for d in r.details if opts.show_passing_details or d.outcome is not Outcome.PASS]
    if r.reason and (r.outcome in (Outcome.NA, Outcome.ERROR) or not details):
        lines.append(f"{_tag(r.outcome, opts.colour)}      * {r.reason}")
    shown = details[: opts.limit] if opts.limit > 0 else details
    for d in shown:
        value = f" ({d.value})" if d.value else ""
        lines.append(f"{_tag(d.outcome, opts.colour)}      * {d.obj}: {d.message}{value}")
    if len(shown) < len(details):
        lines.append(f"{_tag(r.outcome, opts.colour)}      * ... and {len(details) - len(shown)} more")
    if opts.remediation and r.outcome not in (Outcome.PASS, Outcome.NA):
        lines.append(f"        * Remediation: {r.meta.remediation}")
        lines.append(f"        * Remediation Impact: {r.meta.remediation_impact}")
    return lines


def render_finding(f: Finding, colour: bool) -> str:
    """One line for a finding."""
    sev = f.severity.value
    if colour and f.severity in _SEV_COLOURS:
        sev = f"{_SEV_COLOURS[f.severity]}{sev}{_RESET}"
    supp = f"  (suppressed: {f.suppressed})" if f.suppressed else ""
    return f"[{sev}] {f.id} - {f.title} ({f.obj}){supp}"


def summary_lines(report: Report) -> list[str]:
    """Counts per outcome and the scores."""
    from dockguard.report.score import compute

    counts = ", ".join(f"{report.count(o)} {o.value}" for o in Outcome)
    score = compute(report)
    if score.value is None:
        classic, ours = "none", f"none: {score.withheld}"
    else:
        classic = str(report.classic_score)
        ours = f"{score.value}/100 (grade {score.grade}; severity-weighted, see docs/report-formats.md)"
    lines = [
        f"[INFO] Checks: {len(report.results)}",
        f"[INFO] Score: {classic}",
        f"Summary: {counts}",
        f"dockguard score: {ours}",
    ]
    suppressed = sum(1 for r in report.results if r.suppressed)
    if suppressed:
        lines.append(f"Suppressed: {suppressed}")
    return lines


#: Text layouts by surface, as ``module:function`` under ``dockguard.report`` (imported when
#: used); a surface not listed gets the CIS benchmark layout.  Every layout takes the same
#: `Report` and `TextOptions`.
SURFACE_LAYOUTS: dict[Surface, str] = {
    Surface.SECCOMP_LINT: "lint_text:render",
    Surface.DIFF: "diff_text:render",
    Surface.DAEMON_PROBE: "probe_text:render",
    Surface.REGISTRY_PROBE: "probe_text:render",
    Surface.IMAGE_SCAN: "image_text:render",
    Surface.FLEET: "fleet_text:render",
    Surface.REGISTRY_SCAN: "registry_scan_text:render",
}


def render(report: Report, opts: TextOptions = TextOptions()) -> str:
    """The whole report as text, in the layout of the command that produced it."""
    layout = SURFACE_LAYOUTS.get(report.surface)
    if layout is None:
        return render_benchmark(report, opts)
    import importlib

    module, _, function = layout.partition(":")
    renderer: Callable[[Report, TextOptions], str] = getattr(
        importlib.import_module(f"dockguard.report.{module}"), function)
    return renderer(report, opts)


def render_benchmark(report: Report, opts: TextOptions = TextOptions()) -> str:
    """A CIS benchmark (bench, audit) in docker-bench's layout, with findings and notes after it."""
    out = [
        "# " + "-" * 76,
        f"# dockguard {report.tool_version} - CIS Docker Benchmark 1.6.0",
        f"# Docker host: {report.source.docker_host}"
        + (f" on {report.source.hostname}" if report.source.hostname else ""),
        "# " + "-" * 76,
    ]
    if report.source.snapshot_file:
        when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(report.source.snapshot_created or 0))
        out.insert(3, f"# Snapshot: {report.source.snapshot_file} (collected {when})")
    section = None
    for r in report.results:
        if r.meta.section != section:
            section = r.meta.section
            out.append("")
            out.append(f"{_tag(Outcome.INFO, opts.colour)} {section} - {SECTIONS.get(section, section)}")
        out.extend(render_result(r, opts))
    if report.findings:
        out.append("")
        out.append("Findings:")
        out.extend(render_finding(f, opts.colour) for f in report.findings)
    for n in report.notes:
        out.append(f"[{n.status}] {n.part}: {n.reason}")
    if report.collection_errors:
        out.append("")
        out.append("Collection problems (checks depending on these facts are N/A):")
        for e in report.collection_errors:
            out.append(f"  - {e.source}: {e.target}: {e.message}")
    out.append("")
    out.extend(summary_lines(report))
    return "\n".join(out) + "\n"
