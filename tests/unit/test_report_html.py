"""HTML report structure: self-contained, escaped everywhere, CSP matching the inline code."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import re
from html.parser import HTMLParser

import pytest

from dockguard.model import Report
from dockguard.report import html, score
from dockguard.report import json as json_report
from tests.report_sample import EVIL, EVIL_ATTR, EVIL_JSON, sample_report


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
    assert EVIL_JSON in json.loads(data)["source"]["label"]


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
    page = html.render(Report(tool_version="0.1.0", started=0.0, finished=0.0))
    assert "No checks were run." in page and "No findings." in page
    assert 'id="score">100<' in page
