"""HTML report structure: self-contained, escaped everywhere, CSP matching the inline code."""

from __future__ import annotations

import base64
import dataclasses
import enum
import fnmatch
import hashlib
import inspect
import json
import re
import tomllib
from html.parser import HTMLParser
from pathlib import Path

import jinja2
import pytest

from dockguard.model import (
    CheckResult,
    CollectionError,
    Detail,
    Outcome,
    PackageRef,
    Report,
    ReportSource,
    Severity,
    Surface,
)
from dockguard.report import html, score
from dockguard.report import json as json_report
from dockguard.report._labels import section_title
from tests.conftest import REPO
from tests.report_sample import EVIL, EVIL_ATTR, EVIL_JSON, meta, sample_report

SRC = ReportSource(Surface.BENCH)


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.scripts: list[tuple[dict[str, str | None], str]] = []
        self.styles: list[str] = []
        self._in: tuple[str, dict[str, str | None]] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag in ("script", "style"):
            self._in = (tag, dict(attrs))

    def handle_endtag(self, tag: str) -> None:
        self._in = None

    def handle_data(self, data: str) -> None:
        if self._in and self._in[0] == "script":
            self.scripts.append((self._in[1], data))
        elif self._in and self._in[0] == "style":
            self.styles.append(data)
        else:
            self.text.append(data)


@pytest.fixture(scope="module")
def page() -> str:
    return html.render(sample_report())


@pytest.fixture(scope="module")
def parsed(page: str) -> _Collect:
    collector = _Collect()
    collector.feed(page)
    return collector


def test_exactly_two_scripts_and_no_event_handlers(parsed: _Collect) -> None:
    scripts = [a for t, a in parsed.tags if t == "script"]
    assert [a.get("type") for a in scripts] == ["application/json", None]
    for tag, attrs in parsed.tags:
        assert not [a for a in attrs if a.startswith("on")], (tag, attrs)
        assert tag not in ("iframe", "img", "object", "embed", "link", "base", "form"), tag


def test_no_network_loads(page: str, parsed: _Collect) -> None:
    for tag, attrs in parsed.tags:
        for name in ("src", "srcset", "data", "action", "poster", "background"):
            assert name not in attrs, (tag, attrs)
        if "href" in attrs:
            # only anchors (navigation, not loads) may point outside the page
            assert tag == "a", (tag, attrs)
            href = attrs["href"] or ""
            assert href.startswith(("#", "https://", "http://")), href
    for style in parsed.styles:
        assert "url(" not in style and "@import" not in style
    assert not re.search(r"(?i)\b(fetch|XMLHttpRequest|import\(|WebSocket|EventSource)\b",
                         parsed.scripts[1][1])


def test_csp_allows_exactly_the_inline_code(parsed: _Collect) -> None:
    csp = next(
        a["content"] for t, a in parsed.tags
        if t == "meta" and a.get("http-equiv") == "Content-Security-Policy"
    )
    assert csp is not None
    assert "default-src 'none'" in csp

    def sha(text: str) -> str:
        return "sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()

    assert f"script-src '{sha(parsed.scripts[1][1])}'" in csp
    assert f"style-src '{sha(parsed.styles[0])}'" in csp


def test_attacker_strings_are_text_only(page: str, parsed: _Collect) -> None:
    assert EVIL not in page
    assert "onmouseover=\"alert(3)\"" not in page
    assert page.count("<script") == 2
    assert page.count("</script>") == 2
    text = "".join(parsed.text)
    assert EVIL in text  # displayed as text
    assert EVIL_ATTR in text
    # attributes decode back to the exact attacker value
    titles = [a.get("title") for _, a in parsed.tags if a.get("title")]
    assert titles  # suppression reasons are in title attributes


def test_embedded_json_is_the_report(parsed: _Collect) -> None:
    attrs, data = parsed.scripts[0]
    assert attrs.get("id") == "dockguard-data"
    assert "</" not in data and "<" not in data
    assert json.loads(data) == json.loads(json_report.render(sample_report()))
    assert EVIL_JSON in json.loads(data)["source"]["target"]


def test_json_for_script_escapes_everything_that_could_end_the_element() -> None:
    nasty = {"a": "</script><!-- <script> & \u2028\u2029 </SCRIPT >"}
    out = html.json_for_script(nasty)
    assert not re.search(r"[<>&\u2028\u2029]", out)
    assert json.loads(out) == nasty


def test_summary_shows_scores_and_counts(parsed: _Collect, page: str) -> None:
    sc = score.compute(sample_report())
    assert f'id="score">{sc.value}<' in page
    assert f'id="classic-score">{sample_report().classic_score}<' in page
    ids = {a.get("id") for _, a in parsed.tags}
    assert {"summary", "checks", "findings", "objects", "chart-severity", "chart-sections",
            "checks-table", "findings-table", "download-json"} <= ids


def test_tables_have_a_row_per_item_with_filter_data(parsed: _Collect) -> None:
    rows = [a for t, a in parsed.tags if t == "tr" and "data-outcome" in a]
    assert len(rows) == len(sample_report().results)
    assert sum(1 for r in rows if "data-suppressed" in r) == 1
    findings = [a for t, a in parsed.tags if t == "tr" and "data-fixable" in a]
    assert len(findings) == len(sample_report().findings)
    assert [f["data-severity"] for f in findings][:2] == ["CRITICAL", "HIGH"]


def test_per_object_views(parsed: _Collect) -> None:
    text = "".join(parsed.text)
    assert "Containers (3)" in text and "Images (3)" in text
    kinds = [a.get("data-kind") for t, a in parsed.tags if t == "details" and "data-kind" in a]
    assert kinds.count("container") == 3 and kinds.count("image") == 3


def test_javascript_references_are_not_links() -> None:
    report = sample_report()
    bad = dataclasses.replace(
        report.findings[0],
        references=("javascript:alert(1)", "https://ok.example/a b", "https://ok.example/x"),
    )
    page = html.render(dataclasses.replace(report, findings=(bad,)))
    assert 'href="javascript' not in page
    assert 'href="https://ok.example/a' not in page
    assert 'href="https://ok.example/x"' in page


def test_empty_report_renders() -> None:
    page = html.render(Report(tool_version="0.1.0", started=0.0, finished=0.0, source=SRC))
    assert "No checks were run." in page and "No findings." in page
    assert 'id="score">100<' in page


# --- the template engine: escaping by default --------------------------------------------------


class _Node:
    def __init__(self, tag: str, attrs: dict[str, str | None]) -> None:
        self.tag = tag
        self.attrs = attrs
        self.children: list[_Node | str] = []

    def text(self, *, skip: tuple[str, ...] = ()) -> str:
        return "".join(c if isinstance(c, str) else ("" if c.tag in skip else c.text(skip=skip))
                       for c in self.children)

    def find_all(self, tag: str, cls: str | None = None) -> list[_Node]:
        found = []
        for c in self.children:
            if isinstance(c, _Node):
                if c.tag == tag and (cls is None or cls in (c.attrs.get("class") or "").split()):
                    found.append(c)
                found += c.find_all(tag, cls)
        return found

    def by_id(self, ident: str) -> _Node:
        for c in self.children:
            if isinstance(c, _Node):
                if c.attrs.get("id") == ident:
                    return c
                try:
                    return c.by_id(ident)
                except KeyError:
                    pass
        raise KeyError(ident)


_VOID = {"meta", "input", "br", "hr", "img", "link"}


class _Tree(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = _Node("#root", {})
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = _Node(tag, dict(attrs))
        self.stack[-1].children.append(node)
        if tag not in _VOID:
            self.stack.append(node)

    def handle_endtag(self, tag: str) -> None:
        while len(self.stack) > 1:
            if self.stack.pop().tag == tag:
                break

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(data)


def _tree(page: str) -> _Node:
    t = _Tree()
    t.feed(page)
    t.close()
    return t.root


def _poison(value: object, path: str) -> object:
    """Every string of a report (not enum values, not dict keys) prefixed with live markup."""
    if isinstance(value, enum.Enum):
        return value
    if isinstance(value, str):
        return f'<xq data-p="{path}">{value}'
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {f.name: _poison(getattr(value, f.name), f"{path}.{f.name}") for f in dataclasses.fields(value)}
        return dataclasses.replace(value, **changes)
    if isinstance(value, tuple):
        return tuple(_poison(v, f"{path}[{i}]") for i, v in enumerate(value))
    if isinstance(value, dict):
        return {k: _poison(v, f"{path}.{k}") for k, v in value.items()}
    return value


def test_every_report_string_is_escaped_wherever_it_is_printed() -> None:
    report = dataclasses.replace(
        sample_report(),
        source=ReportSource(Surface.AUDIT, hostname="h", docker_host="unix:///x", target="t"),
        collection_errors=(CollectionError("host", "/etc", "value"),),
    )
    poisoned = _poison(report, "r")
    assert isinstance(poisoned, Report)
    page = html.render(poisoned)
    assert "<xq" not in page  # not one string reached the page as markup
    text = "".join(_tree(page).text(skip=("script", "style")))
    shown = set(re.findall(r'<xq data-p="([^"]+)">', text))
    # the poison is visible as text from every part of the report the page prints
    for path in ("r.results[8].details[1].obj", "r.results[0].meta.title", "r.results[2].details[0].value",
                 "r.results[6].suppressed", "r.results[1].meta.remediation", "r.findings[0].description",
                 "r.findings[0].package.name", "r.findings[0].package.purl", "r.findings[0].obj",
                 "r.findings[4].suppressed", "r.notes[0].reason", "r.source.hostname", "r.tool_version",
                 "r.collection_errors[0].target"):
        assert path in shown, path
    # titles (tooltips) decode back to the poisoned value too
    titles = {a.attrs.get("title") for a in _tree(page).find_all("span", "suppressed")}
    assert '<xq data-p="r.results[6].suppressed">content trust is not used in this lab (SEC-42)' in titles


def test_templates_mark_nothing_safe_and_the_environment_is_strict() -> None:
    templates = Path(html.__file__).parent / "templates"
    names = sorted(p.name for p in templates.glob("*.j2"))
    assert "report.html.j2" in names and len(names) >= 5
    for name in names:
        source = re.sub(r"\{#.*?#\}", "", (templates / name).read_text(encoding="utf-8"), flags=re.DOTALL)
        for word in ("safe", "autoescape", "Markup", "escape"):
            assert not re.search(rf"\b{word}\b", source, re.IGNORECASE), (name, word)
    env = html._environment()
    assert env.autoescape is True and env.undefined is jinja2.StrictUndefined
    with pytest.raises(jinja2.UndefinedError):
        env.get_template("_notes.html.j2").render(page=object())
    # Markup is made in one place, for the constant CSS/JS and the JSON island only
    source = inspect.getsource(html)
    assert source.count("Markup(") == 3
    assert inspect.getsource(html._page).count("Markup(") == 3


def test_control_characters_become_replacement_characters() -> None:
    report = sample_report()
    bad = dataclasses.replace(report.results[9], details=(Detail("container:a\x00b\x1bc\ufffe", "m\x0bx"),))
    page = html.render(dataclasses.replace(report, results=(bad,), findings=()))
    assert not re.search("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]", page)
    assert "container:a\ufffdb\ufffdc\ufffd" in page and "m\ufffdx" in page


def test_templates_are_package_data() -> None:
    with (REPO / "pyproject.toml").open("rb") as fh:
        patterns = tomllib.load(fh)["tool"]["setuptools"]["package-data"]["dockguard"]
    package = Path(html.__file__).parent.parent
    for path in (Path(html.__file__).parent / "templates").iterdir():
        relative = path.relative_to(package).as_posix()
        assert any(fnmatch.fnmatch(relative, p) for p in patterns), relative


def test_finding_facts_is_the_one_reader_of_package_facts() -> None:
    finding = sample_report().findings[0]
    facts = html.finding_facts(finding)
    assert (facts.package, facts.installed, facts.fixed) == ("openssl", "1.1.1n-0+deb11u3", "1.1.1n-0+deb11u4")
    assert facts.location == "image:app:1.0//var/lib/dpkg/status"
    other = dataclasses.replace(finding, path="", package=PackageRef("zlib", "7", "deb"), vulnerability=None)
    assert html.finding_facts(other) == html.FindingFacts("zlib", "7", "", "", "image:app:1.0")
    # nothing else in the module reads a finding's package facts or location
    rest = inspect.getsource(html).replace(inspect.getsource(html.finding_facts), "")
    readers = ("package_facts(", "finding_location(", "finding_path(", "finding_purl(", ".package.", ".vulnerability.")
    for reader in readers:
        assert reader not in rest, reader


# --- issue 11: failing objects named inline, whole section titles in the chart -----------------


def _check_report(failing: int, passing: int = 1) -> Report:
    details = tuple(Detail(f"container:c{i}", f"bad {i}") for i in range(failing)) + tuple(
        Detail(f"container:ok{i}", "fine", Outcome.PASS) for i in range(passing))
    result = CheckResult(meta("5.4", "Ensure that privileged containers are not used", Severity.HIGH),
                         Outcome.WARN, details)
    return Report(tool_version="0.1.0", started=0.0, finished=0.0, source=SRC, results=(result,))


def _row(page: str, check_id: str) -> _Node:
    for tr in _tree(page).find_all("tr"):
        cells = [c for c in tr.children if isinstance(c, _Node) and c.tag == "td"]
        if cells and cells[0].text() == check_id:
            return tr
    raise KeyError(check_id)


def test_failing_objects_are_named_in_the_row() -> None:
    row = _row(html.render(_check_report(failing=5)), "5.4")
    [failing] = row.find_all("p", "failing")
    assert failing.text() == "Failing: container:c0, container:c1, container:c2"
    assert [c.text() for c in failing.find_all("code", "obj")] == ["container:c0", "container:c1", "container:c2"]
    [summary] = row.find_all("summary")
    assert summary.text() == "and 2 more failing · 6 object(s)"
    # every object, failing or not, is still in the collapsible list
    assert len(row.find_all("details")[0].find_all("li")) == 6


def test_few_failing_objects_are_all_named_and_none_are_announced_as_more() -> None:
    row = _row(html.render(_check_report(failing=3)), "5.4")
    assert row.find_all("p", "failing")[0].text() == "Failing: container:c0, container:c1, container:c2"
    assert row.find_all("summary")[0].text() == "4 object(s)"
    row = _row(html.render(_check_report(failing=0, passing=2)), "5.4")
    assert row.find_all("p", "failing") == []


def test_failing_attacker_names_are_text_in_the_row(page: str) -> None:
    [failing] = _row(page, "5.4").find_all("p", "failing")
    assert [c.text() for c in failing.find_all("code")] == [f"container:{EVIL}", f"container:{EVIL_ATTR}"]


def _chart_labels(page: str) -> list[_Node]:
    return _tree(page).by_id("chart-sections").find_all("text", "label")


def test_section_chart_labels_are_whole_titles(page: str) -> None:
    labels = [" ".join(t.text() for t in label.find_all("tspan")) for label in _chart_labels(page)]
    assert labels == [section_title(s) for s in "1234567"]
    assert "2 Docker daemon configuration" in labels and "3 Docker daemon configuration files" in labels
    assert not any("…" in label for label in labels)
    # the whole title is the label itself, not only a tooltip
    assert all(label.find_all("title") == [] for label in _chart_labels(page))


def test_long_section_names_wrap_and_are_cut_only_past_three_lines() -> None:
    long = "Custom checks for the build farm " * 5
    report = _check_report(failing=1)
    result = dataclasses.replace(report.results[0], meta=dataclasses.replace(report.results[0].meta, section=long))
    page = html.render(dataclasses.replace(report, results=(report.results[0], result)))
    first, second = _chart_labels(page)
    assert [t.text() for t in first.find_all("tspan")] == ["5 Container Runtime"]
    lines = [t.text() for t in second.find_all("tspan")]
    assert len(lines) == 3 and all(len(line) <= 36 for line in lines) and lines[-1].endswith("…")
    assert second.find_all("title")[0].text() == long
    ys = [int(t.attrs["y"] or 0) for t in second.find_all("tspan")]
    assert ys == sorted(set(ys))  # one line under the other
    assert html.wrap_label("short") == ("short",)
    assert html.wrap_label("a" * 80, 36, 3) == ("a" * 36, "a" * 36, "a" * 8)
