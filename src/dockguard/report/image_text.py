"""The ``image scan`` table: vulnerabilities grouped by package, then the image configuration,
then counts per severity; and the ``--list-packages`` inventory table.

An incomplete scan starts with an ``INCOMPLETE SCAN`` banner listing what was not read; a scan
whose vulnerabilities were not checked (no database, a distribution without data) says so where
the vulnerabilities would be.  Warnings are not repeated here: the command prints them on stderr.
"""

from __future__ import annotations

from collections import Counter

from dockguard.model import Finding, FindingKind, ImageSubject, NoteStatus, Report, ReportNote, Severity
from dockguard.report.text import TextOptions

#: Reasons listed in the INCOMPLETE banner (JSON and SARIF have them all).
MAX_LISTED = 50

#: The part of the notes about the vulnerability database (see `dockguard.pipeline.image_scan`).
_VULNERABILITIES = "vulnerabilities"


def _subject(report: Report) -> ImageSubject:
    return report.source.images[0] if report.source.images else ImageSubject(target=report.source.target)


def _more(note: ReportNote) -> int | None:
    """K of a capped list's last note ``… K more``, else None."""
    text = note.reason
    if text.startswith("… ") and text.endswith(" more") and text[2:-5].isdigit():
        return int(text[2:-5])
    return None


def incomplete_lines(report: Report) -> list[str]:
    """The banner of an incomplete scan (empty for a complete one)."""
    notes = [n for n in report.notes if n.status is NoteStatus.INCOMPLETE]
    if not notes:
        return []
    reasons = [n.reason for n in notes if _more(n) is None]
    total = len(reasons) + sum(_more(n) or 0 for n in notes)
    lines = [f"INCOMPLETE SCAN: {total} part(s) of the image were not read; "
             "packages and findings may be missing.", "Not read:"]
    lines += [f"  - {r}" for r in reasons[:MAX_LISTED]]
    if total > MAX_LISTED:
        lines.append(f"  … {total - MAX_LISTED} more (see --format json)")
    return [*lines, ""]


def _os_line(s: ImageSubject) -> str:
    name = (s.os_name or f"{s.os_family} {s.os_version}") if s.os_family else "unknown"
    return f"OS: {name}" + (" [END OF LIFE]" if s.os_eol else "")


def render(report: Report, opts: TextOptions | None = None) -> str:
    """The image scan table (the layout of `Surface.IMAGE_SCAN` in `report.text`)."""
    s = _subject(report)
    platform = f", {s.platform}" if s.platform not in ("", "/") else ""
    kinds = Counter(p.type for p in report.packages)
    lines = [
        *incomplete_lines(report),
        f"Image: {s.label[6:]} ({s.source_kind}{platform})",
        _os_line(s),
        f"Packages: {s.package_count} (" + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items())) + ")",
        "",
    ]
    not_checked = [n for n in report.notes if n.status is NoteStatus.NOT_CHECKED]
    db_missing = [n for n in not_checked if n.part == _VULNERABILITIES]
    vulns = [f for f in report.findings if f.kind is FindingKind.VULNERABILITY and f.package and f.vulnerability]
    groups: dict[tuple[str, str, str, str], list[Finding]] = {}
    for f in vulns:
        assert f.package is not None
        key = (f.package.name, f.package.version, f.package.path, f.package.type)
        groups.setdefault(key, []).append(f)
    if db_missing:
        lines += [f"Vulnerabilities: NOT CHECKED: {n.reason.removeprefix('vulnerabilities not checked: ')}"
                  for n in db_missing]
        lines.append("")
    elif not vulns:
        lines.append("No vulnerabilities found.")
    for (name, version, path, ptype), items in sorted(groups.items()):
        lines.append(f"{name} {version} ({ptype})  {path}")
        items.sort(key=lambda f: (-f.severity.rank, f.id))
        for f in items:
            assert f.vulnerability is not None
            fixed = f.vulnerability.fixed
            state = f.vulnerability.state.value
            fix_text = f"fixed in {fixed}" if fixed else state.replace("_", " ") or "no fix"
            mark = f"  [suppressed: {f.suppressed}]" if f.suppressed else ""
            title = f.title if f.title != f.id else ""
            lines.append(f"  {f.severity.value:<10} {f.id:<20} {fix_text:<28} {title[:70]}{mark}")
        lines.append("")
    others = [n for n in not_checked if n.part != _VULNERABILITIES]
    if others:
        lines.append("Not checked:")
        lines += [f"  - {n.reason}" for n in others]
        lines.append("")
    config = [f for f in report.findings if f.kind is FindingKind.IMAGE_CONFIG]
    if config:
        lines.append("Image configuration:")
        for f in sorted(config, key=lambda f: (-f.severity.rank, f.id, f.title)):
            mark = f"  [suppressed: {f.suppressed}]" if f.suppressed else ""
            extra = f"  ({f.fact('redacted')})" if f.fact("redacted") else ""
            lines.append(f"  {f.severity.value:<10} {f.id:<24} {f.title}{extra}{mark}")
        lines.append("")
    lines.append("Summary (vulnerabilities not checked):" if db_missing else "Summary:")
    for sev in Severity:
        items = [f for f in report.findings if f.severity is sev and not f.suppressed]
        fixable = sum(1 for f in items if f.vulnerability is not None and f.vulnerability.fixed)
        nv = sum(1 for f in items if f.kind is FindingKind.VULNERABILITY)
        lines.append(f"  {sev.value:<10} {len(items):>4}  ({nv} vulnerabilities, {fixable} fixable; "
                     f"{len(items) - nv} configuration)")
    suppressed = sum(1 for f in report.findings if f.suppressed)
    if suppressed:
        lines.append(f"  suppressed {suppressed}")
    return "\n".join(lines) + "\n"


def render_packages(report: Report) -> str:
    """``image scan --list-packages``: one row per package (``*``: files owned by an OS package)."""
    rows = [("TYPE", "NAME", "VERSION", "SOURCE", "LAYER", "PATH")]
    for p in report.packages:
        src = f"{p.source_name} {p.source_version}" if (p.source_name, p.source_version) != (
            p.name, p.version) else ""
        rows.append((p.type + ("*" if p.os_owned else ""), p.name, p.version, src, p.layer[7:19], p.path))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    table = ["  ".join(c.ljust(widths[i]) if i < 5 else c for i, c in enumerate(r)) for r in rows]
    return "\n".join([*incomplete_lines(report), *table]) + (
        f"\n{len(report.packages)} packages (* = files owned by an OS package)\n")
