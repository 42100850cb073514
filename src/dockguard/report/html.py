"""A single self-contained HTML report: summary, charts, sortable and filterable tables.

Everything is rendered server-side with every report value escaped (container names, labels,
messages and image metadata are attacker-controlled): text and attribute values go through
`html.escape`, links are only made from plain ``http(s)://`` references, and the embedded JSON
copy of the report has ``<``, ``>``, ``&`` and the JavaScript line separators escaped so it
cannot end its ``<script>`` element.  The inline script only sorts, filters and hides rows and
offers the JSON for download; it never builds markup from data.  A Content-Security-Policy
allows exactly the page's own style and script (by hash) and no network fetch at all.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html import escape

from dockguard.model import CheckResult, Finding, Outcome, Report
from dockguard.report import score as scoring
from dockguard.report._labels import (
    SEVERITY_ORDER,
    clean_text,
    data_str,
    finding_location,
    section_key,
    section_title,
    split_obj,
)

_URL = re.compile(r"https?://[^\s<>\"'`\\]+")
_OUTCOME_CLASS = {
    Outcome.PASS: "pass",
    Outcome.WARN: "warn",
    Outcome.INFO: "info",
    Outcome.NOTE: "note",
    Outcome.NA: "na",
    Outcome.ERROR: "error",
}
_OUTCOME_ORDER = (Outcome.WARN, Outcome.ERROR, Outcome.PASS, Outcome.INFO, Outcome.NOTE, Outcome.NA)


def e(text: object) -> str:
    """Escape any value for HTML text or a double-quoted attribute."""
    return escape(clean_text(str(text)), quote=True)


def json_for_script(data: object) -> str:
    """JSON that is safe inside ``<script type="application/json">`` (no ``</script>``)."""
    text = json.dumps(data, ensure_ascii=False, sort_keys=False)
    return (
        text.replace("&", "\\u0026")
        .replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


def render(report: Report) -> str:
    """The report as one HTML page with inline CSS and JavaScript and no external resources."""
    from dockguard.report.json import report_dict

    body = "\n".join(
        (
            _header(report),
            _summary(report),
            _checks_table(report.results),
            _findings_table(report.findings),
            _objects_view(report),
            _notes(report),
        )
    )
    data = json_for_script(report_dict(report))
    csp = (
        "default-src 'none'; "
        f"style-src '{_hash(_CSS)}'; script-src '{_hash(_JS)}'; "
        "img-src data:; base-uri 'none'; form-action 'none'"
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{e(csp)}">\n'
        '<meta name="referrer" content="no-referrer">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>dockguard report — {e(_when(report.started))}</title>\n"
        f"<style>{_CSS}</style>\n</head>\n<body>\n"
        f"{body}\n"
        f'<script type="application/json" id="dockguard-data">{data}</script>\n'
        f"<script>{_JS}</script>\n</body>\n</html>\n"
    )


def _hash(text: str) -> str:
    digest = hashlib.sha256(text.encode()).digest()
    return "sha256-" + base64.b64encode(digest).decode()


def _when(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _header(report: Report) -> str:
    labels = {"docker_host": "Docker host", "hostname": "host", "snapshot_file": "snapshot", "target": "target"}
    parts = [f"{labels[k]}: {v}" for k, v in sorted(report.source.items()) if k in labels and _scalar(v) and v]
    created = report.source.get("snapshot_created")
    if isinstance(created, int | float) and created and abs(created - report.started) > 5:
        parts.append(f"facts collected {_when(float(created))}")
    source = ", ".join(parts)
    duration = max(0.0, report.finished - report.started)
    return (
        '<header><h1>dockguard report</h1><p class="meta">'
        f"Generated {e(_when(report.started))} in {duration:.1f} s by dockguard "
        f"{e(report.tool_version)}"
        + (f" · <span class=\"source\">{e(source)}</span>" if source else "")
        + '</p><nav><a href="#checks">Checks</a> <a href="#findings">Findings</a> '
        '<a href="#objects">Containers &amp; images</a> '
        '<button type="button" id="download-json">Download JSON</button></nav></header>'
    )


def _summary(report: Report) -> str:
    sc = scoring.compute(report)
    cards = [
        '<div class="card score">'
        f'<div class="big grade-{sc.grade.lower()}" id="score">{sc.value}</div>'
        f"<div>score / 100 · grade {sc.grade}</div>"
        f'<div class="small">checks {sc.checks_earned}/{sc.checks_possible} weighted, '
        f"finding penalty {sc.finding_penalty}</div></div>"
    ]
    if report.results:
        cards.append(
            '<div class="card"><div class="big" id="classic-score">'
            f"{report.classic_score}</div><div>docker-bench score</div>"
            '<div class="small">+1 per scored PASS, −1 per scored WARN</div></div>'
        )
        counts = "".join(
            f'<li><span class="badge o-{_OUTCOME_CLASS[o]}">{e(o.value)}</span> '
            f"{report.count(o)}</li>"
            for o in _OUTCOME_ORDER
        )
        cards.append(f'<div class="card"><div>Checks ({len(report.results)})</div>'
                     f'<ul class="counts">{counts}</ul></div>')
    if report.findings:
        counts = "".join(
            f'<li><span class="badge s-{s.value.lower()}">{e(s.value)}</span> {n}</li>'
            for s in SEVERITY_ORDER
            if (n := sum(1 for f in report.findings if f.severity is s and not f.suppressed))
        )
        cards.append(f'<div class="card"><div>Findings ({len(report.findings)})</div>'
                     f'<ul class="counts">{counts}</ul></div>')
    suppressed = sum(1 for r in report.results if r.suppressed) + sum(
        1 for f in report.findings if f.suppressed
    )
    if suppressed:
        cards.append(f'<div class="card"><div class="big">{suppressed}</div>'
                     "<div>suppressed</div></div>")
    charts = [_severity_chart(report)]
    if report.results:
        charts.append(_section_chart(report.results))
    return (
        '<section id="summary"><h2>Summary</h2>'
        f'<div class="cards">{"".join(cards)}</div>'
        f'<div class="charts">{"".join(charts)}</div></section>'
    )


def _severity_chart(report: Report) -> str:
    """Open problems by severity: failing checks and findings, stacked."""
    rows = []
    for sev in SEVERITY_ORDER:
        checks = sum(
            1 for r in report.results
            if r.outcome is Outcome.WARN and not r.suppressed and r.meta.severity is sev
        )
        findings = sum(1 for f in report.findings if f.severity is sev and not f.suppressed)
        rows.append((sev, checks, findings))
    top = max((c + f for _, c, f in rows), default=0) or 1
    width, bar_x, bar_w, row_h = 420, 110, 260, 24
    parts = [
        f'<svg class="chart" id="chart-severity" width="{width}" height="{row_h * 6 + 30}" '
        f'viewBox="0 0 {width} {row_h * 6 + 30}" role="img" '
        'aria-label="Open problems by severity"><text x="0" y="14" class="ct">'
        "Open problems by severity (failed checks + findings)</text>"
    ]
    for i, (sev, checks, findings) in enumerate(rows):
        y = 24 + i * row_h
        w1 = round(bar_w * checks / top)
        w2 = round(bar_w * findings / top)
        parts.append(
            f'<text x="0" y="{y + 15}" class="cl">{sev.value}</text>'
            f'<rect x="{bar_x}" y="{y + 3}" width="{w1}" height="16" class="s-{sev.value.lower()}">'
            f"<title>{sev.value}: {checks} failed checks</title></rect>"
            f'<rect x="{bar_x + w1}" y="{y + 3}" width="{w2}" height="16" '
            f'class="s-{sev.value.lower()} light"><title>{sev.value}: {findings} findings'
            f"</title></rect>"
            f'<text x="{bar_x + w1 + w2 + 6}" y="{y + 15}" class="cl">{checks + findings}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _section_chart(results: tuple[CheckResult, ...]) -> str:
    """Outcomes per section as stacked bars."""
    sections: dict[str, dict[Outcome, int]] = {}
    for r in results:
        sections.setdefault(r.meta.section, {o: 0 for o in Outcome})[r.outcome] += 1
    ordered = sorted(sections, key=section_key)
    top = max(sum(v.values()) for v in sections.values())
    width, bar_x, bar_w, row_h = 460, 150, 280, 24
    height = 24 + row_h * len(ordered) + 24
    parts = [
        f'<svg class="chart" id="chart-sections" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="Check outcomes per section">'
        '<text x="0" y="14" class="ct">Check outcomes per section</text>'
    ]
    for i, section in enumerate(ordered):
        y = 24 + i * row_h
        label = section_title(section)
        short = label if len(label) <= 22 else label[:21] + "…"
        parts.append(f'<text x="0" y="{y + 15}" class="cl"><title>{e(label)}</title>'
                     f"{e(short)}</text>")
        x = bar_x
        for outcome in _OUTCOME_ORDER:
            n = sections[section][outcome]
            if not n:
                continue
            w = max(1, round(bar_w * n / top))
            parts.append(
                f'<rect x="{x}" y="{y + 3}" width="{w}" height="16" '
                f'class="o-{_OUTCOME_CLASS[outcome]}"><title>{e(label)}: {n} '
                f"{e(outcome.value)}</title></rect>"
            )
            x += w
    legend_y = 24 + row_h * len(ordered) + 14
    x = 0
    for outcome in _OUTCOME_ORDER:
        parts.append(
            f'<rect x="{x}" y="{legend_y - 10}" width="10" height="10" '
            f'class="o-{_OUTCOME_CLASS[outcome]}"></rect>'
            f'<text x="{x + 14}" y="{legend_y}" class="cl">{e(outcome.value)}</text>'
        )
        x += 70
    parts.append("</svg>")
    return "".join(parts)


def _filters(table: str, selects: Iterable[tuple[str, str, Iterable[str]]]) -> str:
    parts = [
        f'<div class="filters" data-table="{table}">'
        '<input type="search" data-filter="text" placeholder="Filter…" '
        f'aria-label="Filter {table}">'
    ]
    for name, label, values in selects:
        options = "".join(f'<option value="{e(v)}">{e(v)}</option>' for v in values)
        parts.append(
            f'<label>{e(label)} <select data-filter="{name}"><option value="">all</option>'
            f"{options}</select></label>"
        )
    parts.append(
        '<label><input type="checkbox" data-filter="hide-suppressed"> hide suppressed</label>'
        f'<span class="shown" data-shown-for="{table}"></span></div>'
    )
    return "".join(parts)


def _th(label: str, kind: str = "text") -> str:
    return f'<th data-sort="{kind}" tabindex="0" aria-sort="none">{e(label)}</th>'


def _checks_table(results: tuple[CheckResult, ...]) -> str:
    if not results:
        return '<section id="checks"><h2>Checks</h2><p>No checks were run.</p></section>'
    sections = sorted({r.meta.section for r in results}, key=section_key)
    rows = []
    for r in results:
        m = r.meta
        details = "".join(
            f'<li><span class="badge o-{_OUTCOME_CLASS[d.outcome]}">{e(d.outcome.value)}</span> '
            f'<code class="obj">{e(d.obj)}</code> {e(d.message)}'
            + (f' <code class="val">{e(d.value)}</code>' if d.value is not None else "")
            + "</li>"
            for d in r.details
        )
        extra = f'<p class="reason">{e(r.reason)}</p>' if r.reason else ""
        if details:
            extra += (f"<details><summary>{len(r.details)} object(s)</summary>"
                      f"<ul>{details}</ul></details>")
        if r.outcome not in (Outcome.PASS, Outcome.NA) and m.remediation:
            extra += f'<p class="remediation"><b>Remediation:</b> {e(m.remediation)}</p>'
        extra += _links(m.references)
        supp = (f'<span class="badge suppressed" title="{e(r.suppressed)}">suppressed</span> '
                f'<span class="why">{e(r.suppressed)}</span>') if r.suppressed else ""
        rows.append(
            f'<tr data-outcome="{e(r.outcome.value)}" data-severity="{e(m.severity.value)}" '
            f'data-section="{e(m.section)}" data-level="{m.level}"'
            f'{" data-suppressed" if r.suppressed else ""}>'
            f'<td data-v="{e(_id_key(m.id))}">{e(m.id)}</td>'
            f'<td><div class="title">{e(m.cis_title)}</div>{extra}</td>'
            f'<td data-v="{e(section_key(m.section)[0])}">{e(section_title(m.section))}</td>'
            f"<td>{m.level}</td>"
            f'<td data-v="{m.severity.rank}"><span class="badge s-{m.severity.value.lower()}">'
            f"{e(m.severity.value)}</span></td>"
            f'<td data-v="{_OUTCOME_ORDER.index(r.outcome)}"><span class="badge '
            f'o-{_OUTCOME_CLASS[r.outcome]}">{e(r.outcome.value)}</span> {supp}</td>'
            "</tr>"
        )
    head = "".join(
        (_th("ID", "key"), _th("Check"), _th("Section", "num"), _th("Level", "num"),
         _th("Severity", "num"), _th("Outcome", "num"))
    )
    filters = _filters(
        "checks-table",
        (
            ("outcome", "Outcome", [o.value for o in _OUTCOME_ORDER]),
            ("severity", "Severity", [s.value for s in SEVERITY_ORDER]),
            ("section", "Section", sections),
            ("level", "Level", ["1", "2"]),
        ),
    )
    return (
        '<section id="checks"><h2>Checks</h2>'
        f"{filters}"
        f'<table id="checks-table" class="sortable"><thead><tr>{head}</tr></thead>'
        f'<tbody>{"".join(rows)}</tbody></table></section>'
    )


def _findings_table(findings: tuple[Finding, ...]) -> str:
    if not findings:
        return '<section id="findings"><h2>Findings</h2><p>No findings.</p></section>'
    rank = {s: i for i, s in enumerate(SEVERITY_ORDER)}
    ordered = sorted(findings, key=lambda f: (rank[f.severity], f.id, f.obj))
    rows = []
    for f in ordered:
        package = data_str(f, "package", "name")
        installed = data_str(f, "installed_version", "installed", "version")
        fixed = data_str(f, "fixed_version", "fixed")
        extra = f'<p class="desc">{e(f.description)}</p>' if f.description else ""
        purl = data_str(f, "purl")
        if purl:
            extra += f'<p class="small">purl <code>{e(purl)}</code></p>'
        if f.remediation:
            extra += f'<p class="remediation"><b>Remediation:</b> {e(f.remediation)}</p>'
        extra += _links(f.references)
        supp = (f' <span class="badge suppressed" title="{e(f.suppressed)}">suppressed</span> '
                f'<span class="why">{e(f.suppressed)}</span>') if f.suppressed else ""
        rows.append(
            f'<tr data-severity="{e(f.severity.value)}" data-kind="{e(f.kind)}" '
            f'data-fixable="{"yes" if fixed else "no"}"'
            f'{" data-suppressed" if f.suppressed else ""}>'
            f'<td data-v="{f.severity.rank}"><span class="badge s-{f.severity.value.lower()}">'
            f"{e(f.severity.value)}</span>{supp}</td>"
            f"<td>{e(f.id)}</td>"
            f"<td>{e(f.kind)}</td>"
            f'<td><code class="obj">{e(finding_location(f))}</code></td>'
            f"<td>{e(package)}</td><td>{e(installed)}</td><td>{e(fixed)}</td>"
            f'<td><div class="title">{e(f.title)}</div>{extra}</td>'
            "</tr>"
        )
    head = "".join(
        (_th("Severity", "num"), _th("ID"), _th("Kind"), _th("Object"), _th("Package"),
         _th("Installed"), _th("Fixed in"), _th("Title"))
    )
    filters = _filters(
        "findings-table",
        (
            ("severity", "Severity", [s.value for s in SEVERITY_ORDER]),
            ("kind", "Kind", sorted({f.kind for f in findings})),
            ("fixable", "Fix available", ["yes", "no"]),
        ),
    )
    return (
        '<section id="findings"><h2>Findings</h2>'
        f"{filters}"
        f'<table id="findings-table" class="sortable"><thead><tr>{head}</tr></thead>'
        f'<tbody>{"".join(rows)}</tbody></table></section>'
    )


@dataclass
class _ObjectView:
    rows: list[str] = field(default_factory=list)
    warn: int = 0
    findings: int = 0
    worst: int = -1


def _objects_view(report: Report) -> str:
    """Per-container and per-image views: everything that names one object."""
    views: dict[str, _ObjectView] = {}
    for r in report.results:
        for d in r.details:
            view = views.setdefault(d.obj, _ObjectView())
            if d.outcome is Outcome.WARN and not r.suppressed:
                view.warn += 1
                view.worst = max(view.worst, r.meta.severity.rank)
            view.rows.append(
                f'<tr><td>{e(r.id)}</td><td><span class="badge o-{_OUTCOME_CLASS[d.outcome]}">'
                f"{e(d.outcome.value)}</span></td>"
                f'<td><span class="badge s-{r.meta.severity.value.lower()}">'
                f"{e(r.meta.severity.value)}</span></td>"
                f"<td>{e(r.meta.title)}: {e(d.message)}"
                + (" (suppressed)" if r.suppressed else "")
                + "</td></tr>"
            )
    for f in report.findings:
        view = views.setdefault(f.obj, _ObjectView())
        if not f.suppressed:
            view.findings += 1
            view.worst = max(view.worst, f.severity.rank)
        view.rows.append(
            f"<tr><td>{e(f.id)}</td><td>{e(f.kind)}</td>"
            f'<td><span class="badge s-{f.severity.value.lower()}">{e(f.severity.value)}</span>'
            f"</td><td>{e(f.title)}"
            + (f" <code>{e(data_str(f, 'package'))}</code>" if data_str(f, "package") else "")
            + (" (suppressed)" if f.suppressed else "")
            + "</td></tr>"
        )
    if not views:
        return ""
    groups: dict[str, list[str]] = {"container": [], "image": [], "other": []}
    for obj in sorted(views, key=lambda o: (-views[o].worst, o)):
        kind, name = split_obj(obj)
        group = kind if kind in ("container", "image") else "other"
        groups[group].append(obj)
    titles = {"container": "Containers", "image": "Images", "other": "Host, daemon and files"}
    parts = ['<section id="objects"><h2>Containers &amp; images</h2>',
             '<div class="filters" data-table="objects"><input type="search" data-filter="text" '
             'placeholder="Filter objects…" aria-label="Filter objects">'
             '<span class="shown" data-shown-for="objects"></span></div>',
             '<div id="objects-list">']
    for group, objs in groups.items():
        if not objs:
            continue
        parts.append(f"<h3>{titles[group]} ({len(objs)})</h3>")
        for obj in objs:
            view = views[obj]
            kind, name = split_obj(obj)
            label = name if group != "other" else obj
            summary = f"{view.warn} failed check(s), {view.findings} finding(s)"
            parts.append(
                f'<details class="object" data-kind="{e(kind)}"><summary><code>{e(label)}'
                f'</code> <span class="small">{summary}</span></summary>'
                '<table class="inner"><thead><tr><th>ID</th><th>Outcome / kind</th>'
                f'<th>Severity</th><th>What</th></tr></thead><tbody>{"".join(view.rows)}'
                "</tbody></table></details>"
            )
    parts.append("</div></section>")
    return "".join(parts)


def _notes(report: Report) -> str:
    items = [
        f"<li><b>{e(s.name)}</b>: {e(s.status)}" + (f" — {e(s.reason)}" if s.reason else "")
        + "</li>"
        for s in report.sections
    ]
    items += [
        "<li>collection: " + e("; ".join(f"{k}: {v}" for k, v in err.items())) + "</li>"
        for err in report.collection_errors
    ]
    if not items:
        return ""
    return f'<section id="notes"><h2>Notes</h2><ul>{"".join(items)}</ul></section>'


def _links(references: tuple[str, ...]) -> str:
    links = [r for r in references if _URL.fullmatch(r)]
    if not links:
        return ""
    return '<p class="refs">' + " ".join(
        f'<a href="{e(r)}" rel="noopener noreferrer" target="_blank">{e(r)}</a>' for r in links
    ) + "</p>"


def _id_key(check_id: str) -> str:
    """Zero-padded numeric parts so that 5.10 sorts after 5.9."""
    return ".".join(p.zfill(4) if p.isdigit() else p for p in check_id.split("."))


def _scalar(value: object) -> bool:
    return isinstance(value, str | int | float | bool)


_CSS = """
:root{--fg:#1d2330;--muted:#5b6475;--bg:#f6f7f9;--card:#fff;--line:#dde1e7}
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);
background:var(--bg);margin:0;padding:0 24px 40px}
header{padding:18px 0 8px;border-bottom:1px solid var(--line)}
h1{margin:0;font-size:22px}h2{font-size:18px;margin:28px 0 10px}h3{font-size:15px}
.meta,.small{color:var(--muted);font-size:12px}
nav a{margin-right:14px}nav button{font:inherit;padding:2px 10px}
.cards{display:flex;flex-wrap:wrap;gap:12px}
.card{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:12px 16px;
min-width:150px}
.big{font-size:34px;font-weight:700}
.grade-a{color:#2e7d32}.grade-b{color:#689f38}.grade-c{color:#f9a825}.grade-d{color:#e65100}
.grade-f{color:#b71c1c}
.counts{list-style:none;margin:6px 0 0;padding:0}.counts li{margin:2px 0}
.charts{display:flex;flex-wrap:wrap;gap:24px;margin-top:16px}
.chart{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:6px}
.ct{font-size:12px;font-weight:600;fill:var(--fg)}.cl{font-size:11px;fill:var(--fg)}
.light{opacity:.55}
.filters{display:flex;flex-wrap:wrap;gap:12px;align-items:center;margin:8px 0}
.filters input[type=search]{padding:4px 8px;min-width:220px}
.shown{color:var(--muted);font-size:12px}
table{border-collapse:collapse;width:100%;background:var(--card)}
th,td{border-bottom:1px solid var(--line);padding:6px 8px;text-align:left;vertical-align:top}
th[data-sort]{cursor:pointer;user-select:none;background:#eef0f4;position:sticky;top:0}
th[aria-sort=ascending]::after{content:" ▲"}th[aria-sort=descending]::after{content:" ▼"}
tr[data-suppressed]{opacity:.6}
.title{font-weight:600}.reason,.desc,.remediation,.refs{margin:4px 0;font-size:12px}
.refs a{word-break:break-all;margin-right:8px}
code{font:12px ui-monospace,SFMono-Regular,Menlo,monospace;word-break:break-all}
details ul{margin:4px 0;padding-left:18px}
.badge{display:inline-block;border-radius:4px;padding:0 6px;font-size:11px;font-weight:700;
color:#fff;background:#757575}
.why{font-size:11px;color:var(--muted)}
.o-pass{background:#2e7d32;fill:#2e7d32}.o-warn{background:#c62828;fill:#c62828}
.o-info{background:#0277bd;fill:#0277bd}.o-note{background:#6a1b9a;fill:#6a1b9a}
.o-na{background:#9e9e9e;fill:#9e9e9e}.o-error{background:#212121;fill:#212121}
.s-critical{background:#7f0000;fill:#7f0000}.s-high{background:#d84315;fill:#d84315}
.s-medium{background:#f9a825;fill:#f9a825;color:#222}.s-low{background:#1565c0;fill:#1565c0}
.s-negligible{background:#78909c;fill:#78909c}.s-unknown{background:#616161;fill:#616161}
.suppressed{background:#5d4037}
details.object{background:var(--card);border:1px solid var(--line);border-radius:6px;
margin:6px 0;padding:6px 10px}
table.inner{margin-top:6px}
"""

_JS = """
(function () {
  "use strict";
  function cellValue(row, index, kind) {
    var cell = row.cells[index];
    if (!cell) { return ""; }
    var v = cell.hasAttribute("data-v") ? cell.getAttribute("data-v") : cell.textContent;
    if (kind === "num") { var n = parseFloat(v); return isNaN(n) ? -1 : n; }
    return v.trim().toLowerCase();
  }
  function sortTable(table, th) {
    var index = Array.prototype.indexOf.call(th.parentNode.children, th);
    var kind = th.getAttribute("data-sort");
    var dir = th.getAttribute("aria-sort") === "ascending" ? "descending" : "ascending";
    table.querySelectorAll("th[data-sort]").forEach(function (h) {
      h.setAttribute("aria-sort", "none");
    });
    th.setAttribute("aria-sort", dir);
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    var sign = dir === "ascending" ? 1 : -1;
    rows.sort(function (a, b) {
      var x = cellValue(a, index, kind), y = cellValue(b, index, kind);
      return (x < y ? -1 : x > y ? 1 : 0) * sign;
    });
    rows.forEach(function (r) { body.appendChild(r); });
  }
  document.querySelectorAll("table.sortable").forEach(function (table) {
    table.querySelectorAll("th[data-sort]").forEach(function (th) {
      th.addEventListener("click", function () { sortTable(table, th); });
      th.addEventListener("keydown", function (ev) {
        if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); sortTable(table, th); }
      });
    });
  });
  function applyFilters(bar) {
    var target = bar.getAttribute("data-table");
    var items = target === "objects"
      ? document.querySelectorAll("#objects-list details.object")
      : document.querySelectorAll("#" + target + " tbody tr");
    var text = "", selects = [], hideSuppressed = false;
    bar.querySelectorAll("[data-filter]").forEach(function (el) {
      var name = el.getAttribute("data-filter");
      if (name === "text") { text = el.value.trim().toLowerCase(); }
      else if (name === "hide-suppressed") { hideSuppressed = el.checked; }
      else if (el.value) { selects.push([name, el.value]); }
    });
    var shown = 0;
    items.forEach(function (item) {
      var ok = !text || item.textContent.toLowerCase().indexOf(text) !== -1;
      selects.forEach(function (s) {
        if (item.getAttribute("data-" + s[0]) !== s[1]) { ok = false; }
      });
      if (hideSuppressed && item.hasAttribute("data-suppressed")) { ok = false; }
      item.hidden = !ok;
      if (ok) { shown += 1; }
    });
    var label = document.querySelector('[data-shown-for="' + target + '"]');
    if (label) { label.textContent = shown + " of " + items.length + " shown"; }
  }
  document.querySelectorAll(".filters").forEach(function (bar) {
    bar.querySelectorAll("[data-filter]").forEach(function (el) {
      el.addEventListener("input", function () { applyFilters(bar); });
      el.addEventListener("change", function () { applyFilters(bar); });
    });
    applyFilters(bar);
  });
  var button = document.getElementById("download-json");
  var data = document.getElementById("dockguard-data");
  if (button && data) {
    button.addEventListener("click", function () {
      var blob = new Blob([data.textContent], {type: "application/json"});
      var a = document.createElement("a");
      a.href = URL.createObjectURL(blob);
      a.download = "dockguard-report.json";
      document.body.appendChild(a);
      a.click();
      setTimeout(function () { URL.revokeObjectURL(a.href); a.remove(); }, 0);
    });
  }
})();
"""
