"""Text layout of a probe report (``daemon probe``, ``registry probe``).

Steps first, so that a probe that could not run is obvious; then the facts the steps
established (their evidence, by name); then the findings worst first, each with its fix.
A probed server chooses much of what is printed (headers, realm, repository names,
certificate subjects): control characters are shown as ``\\xNN`` so it cannot drive the
terminal.
"""

from __future__ import annotations

from dockguard.model import Report, Surface
from dockguard.report.text import TextOptions

_TITLES = {Surface.DAEMON_PROBE: "endpoint probe", Surface.REGISTRY_PROBE: "registry probe"}


def render(report: Report, opts: TextOptions | None = None) -> str:
    """The probe report as text (no option changes it: probes print no colour)."""
    return "\n".join(clean(line) for line in _lines(report)) + "\n"


def clean(text: str) -> str:
    """`text` with every non-printable character shown as ``\\xNN``."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in text)


def _lines(report: Report) -> list[str]:
    title = _TITLES.get(report.surface, f"{report.surface.value}")
    lines = [f"{title}: {report.source.target}", "", "Steps:"]
    width = max((len(s.name) for s in report.steps), default=10)
    for s in report.steps:
        reason = f"  {s.reason}" if s.reason else ""
        lines.append(f"  {s.name:<{width}}  {s.status.value:<9}{reason}")
    facts = {name: value for s in report.steps for name, value in s.evidence}
    if facts:
        lines += ["", "Facts:"]
        lines += [f"  {name}: {facts[name]}" for name in sorted(facts)]
    lines += ["", "Findings:"]
    if not report.findings:
        if report.reachable:
            lines.append("  none in the steps that completed")
        else:
            lines.append("  none: nothing could be probed (see the steps above)")
    for f in sorted(report.findings, key=lambda f: (-f.severity.rank, f.id, f.obj)):
        suppressed = f"  (suppressed: {f.suppressed})" if f.suppressed else ""
        lines.append(f"  {f.severity.value:<8} {f.id}  {f.title}{suppressed}")
        if f.description:
            lines.append(f"           {f.description}")
        if f.remediation:
            lines.append(f"           fix: {f.remediation}")
    if report.notes:
        lines.append("")
        lines += [f"[{n.status}] {n.part}: {n.reason}" for n in report.notes]
    return lines
