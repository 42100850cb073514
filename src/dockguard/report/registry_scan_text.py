"""A registry scan as text (the layout of `Surface.REGISTRY_SCAN` in `dockguard.report.text`).

The run's figures are the evidence of the report's steps (catalog, layers, images, run: see
`dockguard.scale.report.scan_report`); names from a registry are printed through `shown`.
"""

from __future__ import annotations

from dockguard.channel.bounded_http import shown
from dockguard.model import ImageSubject, NoteStatus, Report, Severity
from dockguard.report.text import TextOptions

COLUMNS = (Severity.CRITICAL, Severity.HIGH, Severity.MEDIUM, Severity.UNKNOWN, Severity.LOW, Severity.NEGLIGIBLE)
MAX_LISTED = 50
"""Images, errors and skipped tags listed (the JSON report lists them all)."""


def _mib(n: int) -> str:
    return f"{n / 1048576:.1f} MiB"


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        return 0


def _float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return 0.0


def render(report: Report, opts: TextOptions) -> str:
    """The scan's figures, its images (most severe first), what was incomplete, failed or skipped."""
    facts = {s.name: dict(s.evidence) for s in report.steps}
    cat, lay, run = (facts.get(k, {}) for k in ("catalog", "layers", "run"))
    platform = cat.get("platform", "")
    labels = {s.label: s for s in report.source.images}
    counts: dict[str, dict[Severity, int]] = {label: {} for label in labels}
    for f in report.findings:
        if not f.suppressed:
            c = counts.setdefault(f.obj, {})
            c[f.severity] = c.get(f.severity, 0) + 1
    failed = {n.part for n in report.notes if n.status is NoteStatus.ERROR}

    def status(s: ImageSubject) -> str:
        return "failed" if s.label in failed else "stored" if s.complete else "incomplete"

    by_status: dict[str, int] = {}
    for s in report.source.images:
        by_status[status(s)] = by_status.get(status(s), 0) + 1
    skipped = [n for n in report.notes if n.status is NoteStatus.NOT_APPLICABLE]
    totals = {sev: sum(c.get(sev, 0) for c in counts.values()) for sev in COLUMNS}
    lines = [
        f"Registry scan of {shown(report.source.target)} ({platform}): run {run.get('run', '')}, "
        f"{run.get('status', '')}",
        f"Store: {run.get('store', '')}",
        f"Repositories {cat.get('repositories', '0')}, tags {cat.get('tags', '0')}, images {len(report.source.images)} "
        f"({', '.join(f'{k} {v}' for k, v in sorted(by_status.items())) or 'none'})"
        + (f", {len(skipped)} tags without a {platform} image" if skipped else ""),
        f"Layers: {lay.get('referenced', '0')} referenced, {lay.get('distinct', '0')} distinct "
        f"(dedupe factor {_float(lay.get('dedupe_factor', '1')):.2f}); {lay.get('analysed', '0')} analysed now, "
        f"{lay.get('reused', '0')} already in the store, {lay.get('unusable', '0')} unusable, "
        f"{lay.get('failed', '0')} failed",
        f"Fetched {_mib(_int(lay.get('bytes_fetched', '0')))} in {_float(run.get('seconds', '0')):.1f} s on "
        f"{run.get('engine', '')}",
        "Findings: " + "  ".join(f"{s.value} {totals[s]}" for s in COLUMNS),
        "",
    ]
    ranked = sorted(report.source.images,
                    key=lambda s: (tuple(-counts[s.label].get(sev, 0) for sev in COLUMNS), s.target))
    if ranked:
        lines.append("Images (most severe first):")
        lines.append("  CRIT  HIGH   MED  PKGS  STATUS      IMAGE")
        for s in ranked[:MAX_LISTED]:
            c = counts[s.label]
            more = f" (+{len(s.repo_tags) - 1} names)" if len(s.repo_tags) > 1 else ""
            lines.append(f"  {c.get(Severity.CRITICAL, 0):>4}  {c.get(Severity.HIGH, 0):>4}  "
                         f"{c.get(Severity.MEDIUM, 0):>4}  {s.package_count:>4}  {status(s):<10}  "
                         f"{shown(s.target)}{more}")
        if len(ranked) > MAX_LISTED:
            lines.append(f"  … {len(ranked) - MAX_LISTED} more (see --format json)")
        lines.append("")
    incomplete: dict[str, str] = {}
    for n in report.notes:
        if n.status is NoteStatus.INCOMPLETE and n.part in labels:
            incomplete.setdefault(n.part, n.reason)
    if incomplete:
        lines.append(f"INCOMPLETE: {len(incomplete)} image(s) were not read in full; findings may be missing:")
        lines += [f"  {shown(part[6:])}: {shown(reason)}" for part, reason in list(incomplete.items())[:MAX_LISTED]]
        lines.append("")
    errors = [n for n in report.notes if n.status is NoteStatus.ERROR]
    if errors:
        lines.append(f"FAILED: {len(errors)}")
        lines += [f"  {shown(n.part)}: {shown(n.reason)}" for n in errors[:MAX_LISTED]]
        lines.append("")
    if skipped:
        lines.append(f"Skipped (no {platform} image): {len(skipped)}")
        lines += [f"  {shown(n.part)}" for n in skipped[:MAX_LISTED]]
        lines.append("")
    for n in report.notes:
        if n.status is NoteStatus.WARNING:
            lines.append(f"warning: {shown(n.reason)}")
        elif n.status is NoteStatus.INCOMPLETE and n.part not in labels:
            lines.append(f"INCOMPLETE: {shown(n.reason)}")
    return "\n".join(lines).rstrip() + "\n"
