"""A single self-contained HTML report: summary, charts, sortable and filterable tables.

The page is a Jinja2 template (``report/templates/report.html.j2`` and its partials) rendered
with autoescape on and `StrictUndefined`: every value printed with ``{{ }}`` is HTML-escaped
(text and quoted attributes alike), and `clean_text` then replaces, in the whole page, the
control characters HTML cannot carry.  Container names, labels, messages and image metadata are attacker-controlled,
so escaping is the default rather than a discipline; neither the templates nor this module mark
any report value as safe.  The template only loops and prints: grouping, counting, sorting keys
and chart geometry are computed here into frozen view dataclasses.

Exactly three strings reach the page unescaped, all wrapped in `Markup` by `_page` and nowhere
else: the constant stylesheet and script (``templates/report.css``/``report.js``, package
data, hashed into the Content-Security-Policy from the exact text emitted), and the JSON copy
of the report in ``<script type="application/json">``.  HTML escaping would corrupt that JSON
(a script element's text is not entity-decoded); it is safe because `json_for_script` writes
``<``, ``>`` and ``&`` as ``\\u003c``, ``\\u003e`` and ``\\u0026``, so the text can contain
neither ``</script`` nor ``<!--`` — the only sequences that end or alter a script element —
and the JavaScript line separators are escaped too.  Links are only made from plain
``http(s)://`` references.  The inline script only sorts, filters and hides rows and offers the
JSON for download; it never builds markup from data.  The CSP allows exactly the page's own
style and script (by hash) and no network fetch at all.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import re
import textwrap
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import jinja2
from markupsafe import Markup

from dockguard.model import CheckResult, Finding, Outcome, ProbeStep, Report, Severity, StepStatus, Surface
from dockguard.report import score as scoring

if TYPE_CHECKING:
    from dockguard.report.fleet_view import FleetView
from dockguard.report._labels import (
    SEVERITY_ORDER,
    clean_text,
    finding_location,
    package_facts,
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

# Failing objects named in a check's row before the collapsible list of all of them.
INLINE_FAILING = 3
# Section chart: label column and wrapping.  The longest CIS section title ("3 Docker daemon
# configuration files", 35 characters) fits on one line in DejaVu Sans 11px, the widest common
# sans-serif; longer (non-CIS) names wrap, and past `_LABEL_LINES` lines end with "…".
_LABEL_CHARS = 36
_LABEL_LINES = 3
_LINE_HEIGHT = 13


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
    page = _environment().get_template("report.html.j2").render(page=_page(report))
    # One pass over the page rather than one per printed value: attacker strings may carry
    # characters HTML/XML cannot (NUL, other C0 controls, U+FFFE, lone surrogates); the
    # template text, stylesheet and script have none, so the CSP hashes stay exact.
    return clean_text(page)


# --- template environment -------------------------------------------------------------------


@functools.cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("dockguard.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


@functools.cache
def _asset(name: str) -> str:
    """A constant file from the templates folder (the stylesheet or the script), verbatim."""
    loader = _environment().loader
    assert loader is not None
    source, _, _ = loader.get_source(_environment(), name)
    return source


def _hash(text: str) -> str:
    digest = hashlib.sha256(text.encode()).digest()
    return "sha256-" + base64.b64encode(digest).decode()


# --- view model -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Badge:
    """A coloured label: its text and its CSS class."""

    text: str
    css: str


_OUTCOME_BADGE = {o: Badge(o.value, f"o-{_OUTCOME_CLASS[o]}") for o in Outcome}
_SEVERITY_BADGE = {s: Badge(s.value, f"s-{s.value.lower()}") for s in Severity}


def outcome_badge(outcome: Outcome) -> Badge:
    """The badge of a check or detail outcome."""
    return _OUTCOME_BADGE[outcome]


def severity_badge(severity: Severity) -> Badge:
    """The badge of a severity."""
    return _SEVERITY_BADGE[severity]


@dataclass(frozen=True)
class Count:
    """One line of a summary card: a badge and how many."""

    badge: Badge
    n: int


@dataclass(frozen=True)
class Header:
    """The page header: when, how long, which version, about what."""

    generated: str
    duration: str
    version: str
    source: str


@dataclass(frozen=True)
class Bar:
    """One rectangle of a stacked bar, with its tooltip."""

    x: int
    y: int
    width: int
    css: str
    tooltip: str


@dataclass(frozen=True)
class TextLine:
    """One line of text in a chart, at a baseline."""

    x: int
    y: int
    text: str


@dataclass(frozen=True)
class ChartRow:
    """A labelled row of a bar chart; `tooltip` is set only when the label had to be cut."""

    label: tuple[TextLine, ...]
    tooltip: str
    bars: tuple[Bar, ...]
    total: TextLine | None


@dataclass(frozen=True)
class LegendItem:
    """A colour swatch and its meaning."""

    swatch: Bar
    text: TextLine


@dataclass(frozen=True)
class Chart:
    """A horizontal stacked bar chart drawn as inline SVG."""

    id: str
    heading: str
    aria_label: str
    width: int
    height: int
    rows: tuple[ChartRow, ...]
    legend: tuple[LegendItem, ...] = ()


@dataclass(frozen=True)
class Summary:
    """Score cards, outcome and severity counts, and the charts."""

    score: scoring.Score
    classic_score: int
    checks: int
    check_counts: tuple[Count, ...]
    findings: int
    finding_counts: tuple[Count, ...]
    suppressed: int
    charts: tuple[Chart, ...]


@dataclass(frozen=True)
class FilterSelect:
    """A drop-down filter over a ``data-<name>`` attribute of the rows."""

    name: str
    label: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class Column:
    """A sortable column header; `sort` is ``text``, ``num`` or ``key``."""

    label: str
    sort: str = "text"


@dataclass(frozen=True)
class DetailItem:
    """One object's outcome in a check."""

    badge: Badge
    obj: str
    message: str
    value: str | None


@dataclass(frozen=True)
class CheckRow:
    """One row of the checks table."""

    id: str
    sort_id: str
    title: str
    section: str
    section_sort: int
    section_title: str
    level: int
    severity: Badge
    severity_rank: int
    outcome: Badge
    outcome_rank: int
    suppressed: str
    reason: str
    failing: tuple[str, ...]
    more_failing: int
    details: tuple[DetailItem, ...]
    remediation: str
    links: tuple[str, ...]


@dataclass(frozen=True)
class FindingFacts:
    """What the page shows from a finding's free-form ``data``."""

    package: str
    installed: str
    fixed: str
    purl: str
    location: str


def finding_facts(finding: Finding) -> FindingFacts:
    """The one place that reads a finding's package facts and location for the page."""
    package, installed, fixed, purl = package_facts(finding)
    return FindingFacts(package=package, installed=installed, fixed=fixed, purl=purl,
                        location=finding_location(finding))


@dataclass(frozen=True)
class FindingRow:
    """One row of the findings table."""

    id: str
    kind: str
    title: str
    severity: Badge
    severity_rank: int
    facts: FindingFacts
    description: str
    remediation: str
    links: tuple[str, ...]
    suppressed: str


@dataclass(frozen=True)
class Table:
    """A sortable, filterable table: its filters, columns and rows."""

    id: str
    filters: tuple[FilterSelect, ...]
    columns: tuple[Column, ...]


@dataclass(frozen=True)
class ObjectItem:
    """A line of an object's view: a check detail (with `outcome`) or a finding (with `kind`)."""

    id: str
    outcome: Badge | None
    kind: str
    severity: Badge
    what: str
    package: str
    suppressed: bool


@dataclass(frozen=True)
class ObjectView:
    """Everything that names one container, image or other object."""

    kind: str
    label: str
    failed_checks: int
    findings: int
    items: tuple[ObjectItem, ...]


@dataclass(frozen=True)
class ObjectGroup:
    """Containers, images, or the rest."""

    title: str
    objects: tuple[ObjectView, ...]


@dataclass(frozen=True)
class Note:
    """A report section's status (skipped, failed…)."""

    name: str
    status: str
    reason: str


@dataclass(frozen=True)
class StepRow:
    """One probe step: name, status badge, why, and the facts it established."""

    name: str
    status: Badge
    reason: str
    evidence: tuple[tuple[str, str], ...]


_STEP_BADGE = {
    StepStatus.COMPLETED: Badge(StepStatus.COMPLETED.value, "o-pass"),
    StepStatus.FAILED: Badge(StepStatus.FAILED.value, "o-error"),
    StepStatus.SKIPPED: Badge(StepStatus.SKIPPED.value, "o-na"),
}


def step_rows(steps: tuple[ProbeStep, ...]) -> tuple[StepRow, ...]:
    """The steps of a probe, in the order they ran."""
    return tuple(StepRow(s.name, _STEP_BADGE[s.status], s.reason, s.evidence) for s in steps)


@dataclass(frozen=True)
class Page:
    """Everything the template prints."""

    css: Markup
    script: Markup
    data: Markup
    csp: str
    header: Header
    summary: Summary
    checks_table: Table
    checks: tuple[CheckRow, ...]
    findings_table: Table
    findings: tuple[FindingRow, ...]
    objects: tuple[ObjectGroup, ...]
    notes: tuple[Note, ...]
    collection_errors: tuple[str, ...]
    steps: tuple[StepRow, ...] = ()
    fleet: FleetView | None = None
    fleet_columns: tuple[str, ...] = ()
    fleet_when: dict[str, str] = field(default_factory=dict)


def _page(report: Report) -> Page:
    from dockguard.report.json import report_dict

    css, script = _asset("report.css"), _asset("report.js")
    fleet, fleet_columns, fleet_when = _fleet(report)
    facts = tuple((f, finding_facts(f)) for f in report.findings)
    csp = (
        "default-src 'none'; "
        f"style-src '{_hash(css)}'; script-src '{_hash(script)}'; "
        "img-src data:; base-uri 'none'; form-action 'none'"
    )
    return Page(
        # The only unescaped insertions (see the module docstring for why each is safe).
        css=Markup(css),
        script=Markup(script),
        data=Markup(json_for_script(report_dict(report))),
        csp=csp,
        header=header(report),
        summary=summary(report),
        checks_table=_checks_table(report.results),
        checks=tuple(check_row(r) for r in report.results),
        findings_table=_findings_table(report.findings),
        findings=findings_rows(facts),
        objects=object_groups(report.results, facts),
        notes=tuple(Note(n.part, n.status.value, n.reason) for n in report.notes),
        collection_errors=tuple(f"source: {e.source}; target: {e.target}; message: {e.message}"
                                for e in report.collection_errors),
        steps=step_rows(report.steps),
        fleet=fleet, fleet_columns=fleet_columns, fleet_when=fleet_when,
    )


def _fleet(report: Report) -> tuple[FleetView | None, tuple[str, ...], dict[str, str]]:
    """The fleet sections' values (`dockguard.report.fleet_view`), for a fleet report only."""
    if report.surface is not Surface.FLEET:
        return None, (), {}
    from dockguard.report.fleet_view import COLUMNS, fleet_view

    return (fleet_view(report), tuple(s.value for s in COLUMNS),
            {h.label: _when(h.taken) if h.taken is not None else "never" for h in report.source.hosts})


def _when(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def header(report: Report) -> Header:
    """The header line: generation time, duration, version and what was audited."""
    src = report.source
    labels = (("Docker host", src.docker_host), ("host", src.hostname), ("snapshot", src.snapshot_file),
              ("target", src.target))
    parts = [f"{label}: {value}" for label, value in labels if value]
    created = src.snapshot_created
    if created and abs(created - report.started) > 5:
        parts.append(f"facts collected {_when(created)}")
    return Header(
        generated=_when(report.started),
        duration=f"{max(0.0, report.finished - report.started):.1f}",
        version=report.tool_version,
        source=", ".join(parts),
    )


def summary(report: Report) -> Summary:
    """The summary cards and charts."""
    open_findings = [f for f in report.findings if not f.suppressed]
    finding_counts = []
    for sev in SEVERITY_ORDER:
        n = sum(1 for f in open_findings if f.severity is sev)
        if n:
            finding_counts.append(Count(severity_badge(sev), n))
    suppressed = sum(1 for r in report.results if r.suppressed) + (len(report.findings) - len(open_findings))
    charts = [severity_chart(report)]
    if report.results:
        charts.append(section_chart(report.results))
    return Summary(
        score=scoring.compute(report),
        classic_score=report.classic_score,
        checks=len(report.results),
        check_counts=tuple(Count(outcome_badge(o), report.count(o)) for o in _OUTCOME_ORDER),
        findings=len(report.findings),
        finding_counts=tuple(finding_counts),
        suppressed=suppressed,
        charts=tuple(charts),
    )


def severity_chart(report: Report) -> Chart:
    """Open problems by severity: failing checks and findings, stacked."""
    width, bar_x, bar_w, row_h = 420, 110, 260, 24
    counts = []
    for sev in SEVERITY_ORDER:
        checks = sum(
            1 for r in report.results
            if r.outcome is Outcome.WARN and not r.suppressed and r.meta.severity is sev
        )
        findings = sum(1 for f in report.findings if f.severity is sev and not f.suppressed)
        counts.append((sev, checks, findings))
    top = max((c + f for _, c, f in counts), default=0) or 1
    rows = []
    for i, (sev, checks, findings) in enumerate(counts):
        y = 24 + i * row_h
        w1 = round(bar_w * checks / top)
        w2 = round(bar_w * findings / top)
        css = severity_badge(sev).css
        rows.append(ChartRow(
            label=(TextLine(0, y + 15, sev.value),),
            tooltip="",
            bars=(Bar(bar_x, y + 3, w1, css, f"{sev.value}: {checks} failed checks"),
                  Bar(bar_x + w1, y + 3, w2, f"{css} light", f"{sev.value}: {findings} findings")),
            total=TextLine(bar_x + w1 + w2 + 6, y + 15, str(checks + findings)),
        ))
    return Chart(
        id="chart-severity",
        heading="Open problems by severity (failed checks + findings)",
        aria_label="Open problems by severity",
        width=width,
        height=row_h * len(rows) + 30,
        rows=tuple(rows),
    )


def wrap_label(label: str, width: int = _LABEL_CHARS, lines: int = _LABEL_LINES) -> tuple[str, ...]:
    """`label` in lines of at most `width` characters, cut with "…" past `lines` lines."""
    wrapped = textwrap.wrap(label, width, break_long_words=True, break_on_hyphens=False) or [""]
    if len(wrapped) <= lines:
        return tuple(wrapped)
    last = wrapped[lines - 1]
    return (*wrapped[: lines - 1], last[: width - 1] + "…")


def section_chart(results: tuple[CheckResult, ...]) -> Chart:
    """Outcomes per section as stacked bars, with the full section titles as labels."""
    sections: dict[str, dict[Outcome, int]] = {}
    for r in results:
        sections.setdefault(r.meta.section, {o: 0 for o in Outcome})[r.outcome] += 1
    top = max(sum(v.values()) for v in sections.values())
    width, bar_x, bar_w, row_h = 560, 250, 280, 24
    rows = []
    y = 24
    for section in sorted(sections, key=section_key):
        title = section_title(section)
        lines = wrap_label(title)
        label = tuple(TextLine(0, y + 15 + i * _LINE_HEIGHT, text) for i, text in enumerate(lines))
        bars = []
        x = bar_x
        for outcome in _OUTCOME_ORDER:
            n = sections[section][outcome]
            if not n:
                continue
            w = max(1, round(bar_w * n / top))
            bars.append(Bar(x, y + 3, w, outcome_badge(outcome).css, f"{title}: {n} {outcome.value}"))
            x += w
        cut = " ".join(lines) != " ".join(title.split())
        rows.append(ChartRow(label=label, tooltip=title if cut else "", bars=tuple(bars), total=None))
        y += row_h + _LINE_HEIGHT * (len(lines) - 1)
    legend_y = y + 14
    legend = tuple(
        LegendItem(Bar(i * 70, legend_y - 10, 10, outcome_badge(o).css, ""),
                   TextLine(i * 70 + 14, legend_y, o.value))
        for i, o in enumerate(_OUTCOME_ORDER)
    )
    return Chart(
        id="chart-sections",
        heading="Check outcomes per section",
        aria_label="Check outcomes per section",
        width=width,
        height=y + 24,
        rows=tuple(rows),
        legend=legend,
    )


def _checks_table(results: tuple[CheckResult, ...]) -> Table:
    return Table(
        id="checks-table",
        filters=(
            FilterSelect("outcome", "Outcome", tuple(o.value for o in _OUTCOME_ORDER)),
            FilterSelect("severity", "Severity", tuple(s.value for s in SEVERITY_ORDER)),
            FilterSelect("section", "Section", tuple(sorted({r.meta.section for r in results}, key=section_key))),
            FilterSelect("level", "Level", ("1", "2")),
        ),
        columns=(Column("ID", "key"), Column("Check"), Column("Section", "num"), Column("Level", "num"),
                 Column("Severity", "num"), Column("Outcome", "num")),
    )


def check_row(r: CheckResult) -> CheckRow:
    """A check with its failing objects named and its details listed."""
    m = r.meta
    failing = [d.obj for d in r.details if d.outcome is Outcome.WARN]
    shown = tuple(failing[:INLINE_FAILING])
    return CheckRow(
        id=m.id,
        sort_id=_id_key(m.id),
        title=m.cis_title,
        section=m.section,
        section_sort=section_key(m.section)[0],
        section_title=section_title(m.section),
        level=m.level,
        severity=severity_badge(m.severity),
        severity_rank=m.severity.rank,
        outcome=outcome_badge(r.outcome),
        outcome_rank=_OUTCOME_ORDER.index(r.outcome),
        suppressed=r.suppressed or "",
        reason=r.reason,
        failing=shown,
        more_failing=len(failing) - len(shown),
        details=tuple(DetailItem(outcome_badge(d.outcome), d.obj, d.message, d.value) for d in r.details),
        remediation=m.remediation if r.outcome not in (Outcome.PASS, Outcome.NA) else "",
        links=_links(m.references),
    )


def _findings_table(findings: tuple[Finding, ...]) -> Table:
    return Table(
        id="findings-table",
        filters=(
            FilterSelect("severity", "Severity", tuple(s.value for s in SEVERITY_ORDER)),
            FilterSelect("kind", "Kind", tuple(sorted({f.kind for f in findings}))),
            FilterSelect("fixable", "Fix available", ("yes", "no")),
        ),
        columns=(Column("Severity", "num"), Column("ID"), Column("Kind"), Column("Object"), Column("Package"),
                 Column("Installed"), Column("Fixed in"), Column("Title")),
    )


def findings_rows(findings: tuple[tuple[Finding, FindingFacts], ...]) -> tuple[FindingRow, ...]:
    """Findings (with their `finding_facts`) worst first, then by id and object."""
    rank = {s: i for i, s in enumerate(SEVERITY_ORDER)}
    return tuple(
        FindingRow(
            id=f.id,
            kind=f.kind,
            title=f.title,
            severity=severity_badge(f.severity),
            severity_rank=f.severity.rank,
            facts=facts,
            description=f.description,
            remediation=f.remediation,
            links=_links(f.references),
            suppressed=f.suppressed or "",
        )
        for f, facts in sorted(findings, key=lambda p: (rank[p[0].severity], p[0].id, p[0].obj))
    )


@dataclass
class _ObjectAcc:
    items: list[ObjectItem] = field(default_factory=list)
    warn: int = 0
    findings: int = 0
    worst: int = -1


def object_groups(
    results: tuple[CheckResult, ...], findings: tuple[tuple[Finding, FindingFacts], ...]
) -> tuple[ObjectGroup, ...]:
    """Per-container and per-image views, worst object first: everything that names one object."""
    views: dict[str, _ObjectAcc] = {}
    for r in results:
        severity = severity_badge(r.meta.severity)
        for d in r.details:
            view = views.setdefault(d.obj, _ObjectAcc())
            if d.outcome is Outcome.WARN and not r.suppressed:
                view.warn += 1
                view.worst = max(view.worst, r.meta.severity.rank)
            view.items.append(ObjectItem(r.id, outcome_badge(d.outcome), "", severity,
                                         f"{r.meta.title}: {d.message}", "", bool(r.suppressed)))
    for f, facts in findings:
        view = views.setdefault(f.obj, _ObjectAcc())
        if not f.suppressed:
            view.findings += 1
            view.worst = max(view.worst, f.severity.rank)
        view.items.append(ObjectItem(f.id, None, f.kind, severity_badge(f.severity), f.title,
                                     facts.package, bool(f.suppressed)))
    groups: dict[str, list[ObjectView]] = {"container": [], "image": [], "other": []}
    for obj in sorted(views, key=lambda o: (-views[o].worst, o)):
        kind, name = split_obj(obj)
        group = kind if kind in ("container", "image") else "other"
        acc = views[obj]
        groups[group].append(ObjectView(kind, name if group != "other" else obj, acc.warn, acc.findings,
                                        tuple(acc.items)))
    titles = {"container": "Containers", "image": "Images", "other": "Host, daemon and files"}
    return tuple(ObjectGroup(titles[g], tuple(objs)) for g, objs in groups.items() if objs)


def _links(references: tuple[str, ...]) -> tuple[str, ...]:
    """References that may become links: plain http(s) URLs only."""
    return tuple(r for r in references if _URL.fullmatch(r))


def _id_key(check_id: str) -> str:
    """Zero-padded numeric parts so that 5.10 sorts after 5.9."""
    return ".".join(p.zfill(4) if p.isdigit() else p for p in check_id.split("."))


