"""Text layout of ``dockguard diff``: new and fixed problems, and the counts.

```
dockguard diff old.json -> new.json

New (2):
  CRITICAL   5.4  container:web  Ensure that privileged containers are not used: Privileged: true
  MEDIUM     CVE-2024-2511  image:app:1.0  openssl unbounded memory growth

Fixed (1):
  CRITICAL   CVE-2022-37434  image:app:1.0  zlib inflateGetHeader heap-based buffer over-read

Summary: 2 new, 1 fixed, 12 unchanged
```

A new problem matched by ``--suppressions`` keeps its line with the reason and is counted in
the summary as suppressed.
"""

from __future__ import annotations

from dockguard.model import Change, Finding, FindingKind, Report
from dockguard.report.text import TextOptions

_PLAIN = TextOptions()


def render(report: Report, opts: TextOptions = _PLAIN) -> str:
    """The diff report as text."""
    new = [f for f in report.findings if f.change is Change.NEW]
    fixed = [f for f in report.findings if f.change is Change.FIXED]
    unchanged = sum(1 for f in report.findings if f.change is Change.UNCHANGED)
    lines = [f"dockguard diff {report.source.target}"]
    for label, items in (("New", new), ("Fixed", fixed)):
        lines.append("")
        lines.append(f"{label} ({len(items)}):")
        if not items:
            lines.append("  (none)")
        lines.extend(_line(f, suppressed=label == "New") for f in items)
    lines.append("")
    suppressed = sum(1 for f in new if f.suppressed)
    new_text = f"{len(new)} new ({suppressed} suppressed)" if suppressed else f"{len(new)} new"
    lines.append(f"Summary: {new_text}, {len(fixed)} fixed, {unchanged} unchanged")
    lines.extend(f"[{n.status}] {n.part}: {n.reason}" for n in report.notes)
    return "\n".join(lines) + "\n"


def _line(f: Finding, *, suppressed: bool) -> str:
    where = f"  {f.obj}" if f.obj else ""
    # A check's problem carries the failing object's message; a finding's title says it all.
    text = f"{f.title}: {f.description}" if f.kind is FindingKind.CHECK and f.description else f.title
    suffix = f"  (suppressed: {f.suppressed})" if suppressed and f.suppressed else ""
    return f"  {f.severity.value:<10} {f.id}{where}  {text}{suffix}"
