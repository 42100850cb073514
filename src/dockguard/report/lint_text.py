"""Text layout of ``seccomp lint``: per profile a heading, its diagnostics, and the counts.

```
bad.json: current format, defaultAction SCMP_ACT_ERRNO (errno 1 (EPERM)), 5 rules, 7 syscall names
  ERROR   syscalls[0].names[2] (line 5, column 33): 'chmodd' is not a syscall on any architecture
  HIGH    defaultAction (line 2, column 3): clone3 gets errno 1 (EPERM): ...
  1 error(s), 1 warning(s)
```

The level is ``ERROR`` for validation errors, else the warning's severity; suppressed
diagnostics keep their line with the reason and are counted apart.
"""

from __future__ import annotations

from dockguard.model import Finding, ProfileSubject, Report
from dockguard.report._labels import split_obj
from dockguard.report.text import TextOptions

_PLAIN = TextOptions()

_ERROR = "ERROR"


def render(report: Report, opts: TextOptions = _PLAIN) -> str:
    """The lint report as text, profiles in the order they were given."""
    by_obj: dict[str, list[Finding]] = {}
    for f in report.findings:
        by_obj.setdefault(f.obj, []).append(f)
    lines: list[str] = []
    for subject in report.source.profiles:
        lines.extend(_profile(subject, by_obj.pop(subject.obj, [])))
    for obj, rest in by_obj.items():  # findings of no listed profile (a hand-made report)
        lines.extend(_profile(ProfileSubject(obj), rest))
    listed = {s.obj for s in report.source.profiles}
    lines.extend(f"[{n.status}] {n.part}: {n.reason}" for n in report.notes if n.part not in listed)
    return "\n".join(lines) + "\n"


def level(f: Finding) -> str:
    """``ERROR`` for a validation error, else the severity name."""
    return f.fact("level") or f.severity.value


def _profile(subject: ProfileSubject, findings: list[Finding]) -> list[str]:
    kind, name = split_obj(subject.obj)
    source = f"container {name}" if kind == "container" else name
    lines = [f"{source}: {subject.summary}" if subject.summary else source]
    for f in findings:
        location = f.fact("location")
        where = f"{location}: " if location else ""
        suffix = f"  (suppressed: {f.suppressed})" if f.suppressed else ""
        lines.append(f"  {level(f):<7} {where}{f.title}{suffix}")
    if not findings:
        lines.append("  no problems found")
    open_ = [f for f in findings if not f.suppressed]
    errors = sum(1 for f in open_ if level(f) == _ERROR)
    counts = f"  {errors} error(s), {len(open_) - errors} warning(s)"
    if len(open_) < len(findings):
        counts += f", {len(findings) - len(open_)} suppressed"
    lines.append(counts)
    return lines
