"""The fleet report as text (the layout of `Surface.FLEET` in `dockguard.report.text`)."""

from __future__ import annotations

import time

from dockguard.model import Finding, Report
from dockguard.report.fleet_view import COLUMNS, TOP, fleet_view
from dockguard.report.text import TextOptions


def _when(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(ts)) if ts is not None else "never"


def _title(text: str, width: int = 80) -> str:
    return text if len(text) <= width else text[:width - 1].rstrip() + "…"


def _line(f: Finding) -> str:
    return f"[{f.severity.value}] {f.id} - {_title(f.title)} ({f.obj})"


def _short(image_id: str) -> str:
    return image_id.removeprefix("sha256:")[:12]


def render(report: Report, opts: TextOptions) -> str:
    """Worst hosts, common failing checks, images by severity, where each vulnerability runs,
    the difference since each host's previous audit, and the notes."""
    view = fleet_view(report)
    heads = "  ".join(f"{s.value[:4]:>4}" for s in COLUMNS)
    out = [f"# dockguard {report.tool_version} - {report.source.target}", ""]
    if not view.asked:
        out.append(f"Worst hosts ({len(view.hosts)}):")
        out.append(f"  {heads}  CHECKS  NEW  FIXED  CONTAINERS  LAST AUDIT            HOST")
        for r in view.hosts[:TOP]:
            counts = "  ".join(f"{n:>4}" for n in r.counts)
            h = r.host
            state = "" if h.audited and h.reachable else " (not audited)" if not h.audited else " (unreachable)"
            out.append(f"  {counts}  {r.failing_checks:>6}  {r.new:>3}  {r.fixed:>5}  {h.containers:>10}  "
                       f"{_when(h.taken):<20}  {h.label}{state}")
        if len(view.hosts) > TOP:
            out.append(f"  … {len(view.hosts) - TOP} more (see --format json)")
        out += ["", f"Most common failing checks ({len(view.checks)}):"]
        for c in view.checks[:TOP]:
            out.append(f"  {len(c.hosts):>4} host(s)  [{c.severity.value}] {c.id} - {_title(c.title)}")
        out += ["", f"Images by severity ({len(view.images)}):", f"  {heads}  HOSTS  CONTAINERS  IMAGE"]
        for i in view.images[:TOP]:
            counts = "  ".join(f"{n:>4}" for n in i.counts)
            out.append(f"  {counts}  {len(i.hosts):>5}  {i.containers:>10}  {', '.join(i.names)} "
                       f"({_short(i.image_id)})")
        out.append("")
    title = "Where they run" if view.asked else f"Where the top {len(view.where)} vulnerabilities run"
    out.append(f"{title} (host → container → image → layer → package):")
    for w in view.where:
        out.append(f"  [{w.severity.value}] {w.id} - {_title(w.title)}: {w.hosts} host(s)")
        for loc in w.locations:
            containers = ", ".join(loc.containers) or "(no container)"
            fixed = f" (fixed in {loc.fixed})" if loc.fixed else ""
            out.append(f"    {loc.host} → {containers} → {loc.image} ({_short(loc.image_id)}) → "
                       f"layer {_short(loc.layer) or '?'} → {loc.package} {loc.version}{fixed}")
        if w.more:
            out.append(f"    … {w.more} more (see --format json)")
    if not view.where:
        out.append("  none")
    out += ["", "Since the previous audit of each host:"]
    for ch in view.changes:
        out.append(f"  {ch.host} (previous run {ch.previous_run}): {len(ch.new)} new, {len(ch.fixed)} fixed")
        out += [f"    + {_line(f)}" for f in ch.new[:TOP]]
        out += [f"    - {_line(f)}" for f in ch.fixed[:TOP]]
        hidden = max(0, len(ch.new) - TOP) + max(0, len(ch.fixed) - TOP)
        if hidden:
            out.append(f"    … {hidden} more (see --format json)")
    if not view.changes:
        out.append("  no host has two audits yet")
    if report.notes:
        out.append("")
        out += [f"[{n.status}] {n.part}: {n.reason}" for n in report.notes]
    return "\n".join(out) + "\n"
