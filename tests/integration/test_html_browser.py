"""The HTML report in a real headless Chromium (Debian's, driven by Playwright).

The page must load without console errors or network requests, never run attacker strings,
and its filters, sorting and JSON download must work.  A screenshot is taken in the run.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dockguard.report import html, score
from dockguard.report import json as json_report
from tests.report_sample import EVIL, sample_report

pytestmark = pytest.mark.integration

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


_HOME = tempfile.mkdtemp(prefix="dg-chromium-home-")
atexit.register(shutil.rmtree, _HOME, True)


def launch(playwright: Any) -> Any:
    """Debian's chromium through Playwright (no browser download), its HOME in a temp dir."""
    env = dict(os.environ, HOME=_HOME, XDG_CONFIG_HOME=f"{_HOME}/.config", XDG_CACHE_HOME=f"{_HOME}/.cache")
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, env=env)


def screenshot(page_path: Path, png: Path, *, width: int = 1280, height: int = 1500) -> None:
    """Open `page_path` and save a screenshot of the top of the page (for the README)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = launch(p)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            page.goto(page_path.resolve().as_uri())
            page.screenshot(path=str(png))
        finally:
            browser.close()


class _Watch:
    """Everything the page did that a test may object to."""

    def __init__(self) -> None:
        self.console: list[tuple[str, str]] = []
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.dialogs: list[str] = []


@pytest.fixture(scope="module")
def browser_page(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, _Watch, Path]]:
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian chromium is not installed (make test-deps installs it)")
    from playwright.sync_api import sync_playwright

    out = tmp_path_factory.mktemp("html")
    page_path = out / "report.html"
    page_path.write_text(html.render(sample_report()), encoding="utf-8")
    watch = _Watch()
    with sync_playwright() as p:
        browser = launch(p)
        context = browser.new_context(viewport={"width": 1280, "height": 1500}, accept_downloads=True)
        page = context.new_page()
        page.on("console", lambda m: watch.console.append((m.type, m.text)))
        page.on("pageerror", lambda exc: watch.errors.append(str(exc)))
        page.on("request", lambda r: watch.requests.append(r.url))

        def on_dialog(dialog: Any) -> None:
            watch.dialogs.append(dialog.message)
            dialog.dismiss()

        page.on("dialog", on_dialog)
        page.goto(page_path.as_uri())
        page.wait_for_load_state("load")
        try:
            yield page, watch, out
        finally:
            context.close()
            browser.close()


_FIRST_CELLS = "rows => rows.map(r => r.cells[0].textContent)"


def _visible_rows(page: Any, table: str) -> int:
    return int(page.locator(f"#{table} tbody tr:visible").count())


def test_loads_without_errors_or_network(browser_page: tuple[Any, _Watch, Path]) -> None:
    page, watch, out = browser_page
    assert page.title() == "dockguard report — 2026-01-01 00:00:00 UTC"
    assert not watch.errors
    assert [c for c in watch.console if c[0] in ("error", "warning")] == []
    assert watch.requests == [(out / "report.html").as_uri()]
    assert watch.dialogs == []  # no attacker string ran
    # the evil container name is shown as text
    assert page.get_by_text(EVIL, exact=True).count() >= 1
    assert page.locator("#score").inner_text() == str(score.compute(sample_report()).value)
    assert page.locator("#classic-score").inner_text() == str(sample_report().classic_score)
    # the inline script ran under the CSP (it writes the row counters)
    assert page.locator('[data-shown-for="checks-table"]').inner_text() == "13 of 13 shown"


def test_hover_and_details_do_not_execute_attacker_markup(
    browser_page: tuple[Any, _Watch, Path],
) -> None:
    page, watch, _ = browser_page
    for details in page.locator("details").all():
        details.evaluate("d => { d.open = true; }")
    for code in page.locator("code.obj").all():
        code.hover()
    page.wait_for_timeout(100)
    assert watch.dialogs == []
    assert page.evaluate("document.querySelectorAll('script').length") == 2


def test_check_filters(browser_page: tuple[Any, _Watch, Path]) -> None:
    page, _, _ = browser_page
    bar = page.locator('.filters[data-table="checks-table"]')
    assert _visible_rows(page, "checks-table") == 13
    bar.locator('select[data-filter="outcome"]').select_option("WARN")
    assert _visible_rows(page, "checks-table") == 6
    bar.locator('input[data-filter="hide-suppressed"]').check()
    assert _visible_rows(page, "checks-table") == 5
    bar.locator('input[data-filter="text"]').fill("privileged")
    assert _visible_rows(page, "checks-table") == 1
    assert page.locator("#checks-table tbody tr:visible td").first.inner_text() == "5.4"
    assert page.locator('[data-shown-for="checks-table"]').inner_text() == "1 of 13 shown"
    bar.locator('input[data-filter="text"]').fill("")
    bar.locator('select[data-filter="outcome"]').select_option("")
    bar.locator('input[data-filter="hide-suppressed"]').uncheck()
    bar.locator('select[data-filter="section"]').select_option("5")
    assert _visible_rows(page, "checks-table") == 3
    bar.locator('select[data-filter="section"]').select_option("")
    assert _visible_rows(page, "checks-table") == 13


def test_finding_filters_and_sorting(browser_page: tuple[Any, _Watch, Path]) -> None:
    page, _, _ = browser_page
    bar = page.locator('.filters[data-table="findings-table"]')
    bar.locator('select[data-filter="severity"]').select_option("CRITICAL")
    assert _visible_rows(page, "findings-table") == 1
    bar.locator('select[data-filter="severity"]').select_option("")
    bar.locator('select[data-filter="fixable"]').select_option("yes")
    assert _visible_rows(page, "findings-table") == 3
    bar.locator('select[data-filter="fixable"]').select_option("")

    def severities() -> list[str]:
        return list(page.eval_on_selector_all("#findings-table tbody tr", "rows => rows.map(r => r.dataset.severity)"))

    assert severities()[0] == "CRITICAL"
    header = page.locator("#findings-table th", has_text="Severity")
    header.click()
    assert severities()[0] == "NEGLIGIBLE" and severities()[-1] == "CRITICAL"
    assert header.get_attribute("aria-sort") == "ascending"
    header.click()
    assert severities()[0] == "CRITICAL"

    page.locator("#checks-table th", has_text="ID").click()
    ids = page.eval_on_selector_all("#checks-table tbody tr", _FIRST_CELLS)
    assert ids.index("5.4") < ids.index("5.10") < ids.index("5.26")
    page.locator("#checks-table th", has_text="ID").click()
    ids = page.eval_on_selector_all("#checks-table tbody tr", _FIRST_CELLS)
    assert ids[0] == "7.1" and ids[-1] == "1.1.1"


def test_object_views_filter(browser_page: tuple[Any, _Watch, Path]) -> None:
    page, _, _ = browser_page
    bar = page.locator('.filters[data-table="objects"]')
    bar.locator('input[data-filter="text"]').fill("busybox")
    assert page.locator("#objects-list details.object:visible").count() == 1
    view = page.locator("#objects-list details.object:visible")
    view.evaluate("d => { d.open = false; }")  # an earlier test opened every <details>
    view.locator("summary").click()
    assert view.get_attribute("open") is not None
    assert "CVE-2021-42386" in view.inner_text()
    assert "4.6" in view.inner_text()
    bar.locator('input[data-filter="text"]').fill("")
    assert page.locator("#objects-list details.object:visible").count() == 9


def test_download_json_matches_report(browser_page: tuple[Any, _Watch, Path]) -> None:
    page, watch, out = browser_page
    with page.expect_download() as info:
        page.locator("#download-json").click()
    target = out / "downloaded.json"
    info.value.save_as(str(target))
    expected = json.loads(json_report.render(sample_report()))
    assert json.loads(target.read_text(encoding="utf-8")) == expected
    assert all(not u.startswith(("http:", "https:")) for u in watch.requests)


def test_failing_objects_are_visible_in_the_row(browser_page: tuple[Any, _Watch, Path]) -> None:
    page, watch, _ = browser_page
    page.reload()  # every <details> closed again, filters cleared
    row = page.locator("#checks-table tbody tr", has=page.locator("td", has_text="5.4")).first
    failing = row.locator("p.failing")
    assert failing.is_visible()
    assert failing.inner_text() == f"Failing: container:{EVIL}, container:\" onmouseover=\"alert(3)\" x='"
    details = row.locator("details")
    assert details.get_attribute("open") is None  # named without opening the list
    assert details.locator("summary").inner_text().endswith("3 object(s)")
    row = page.locator("#checks-table tbody tr", has=page.locator("td", has_text="4.6")).first
    assert row.locator("p.failing code.obj").all_inner_texts() == ["image:app:1.0", "image:dg-busybox:1"]
    assert watch.dialogs == []


def test_section_chart_labels_show_whole_titles(browser_page: tuple[Any, _Watch, Path]) -> None:
    page, _, _ = browser_page
    labels = page.eval_on_selector_all(
        "#chart-sections text.label",
        """nodes => nodes.map(t => {
            const box = t.getBBox();
            const bars = Array.from(t.ownerSVGElement.querySelectorAll("rect"))
              .filter(r => r.getBBox().height === 16).map(r => r.getBBox().x);
            return {text: Array.from(t.querySelectorAll("tspan")).map(s => s.textContent).join(" "),
                    right: box.x + box.width, left: box.x, width: t.ownerSVGElement.width.baseVal.value,
                    bars: Math.min(...bars)};
        })""",
    )
    texts = [label["text"] for label in labels]
    assert "2 Docker daemon configuration" in texts and "3 Docker daemon configuration files" in texts
    assert not any("…" in t for t in texts)
    for label in labels:
        # drawn whole inside the chart and clear of the bars it labels
        assert label["left"] >= 0 and label["right"] < label["bars"] <= label["width"], label
    assert page.get_by_text("2 Docker daemon configuration", exact=True).count() >= 1


def test_screenshot(browser_page: tuple[Any, _Watch, Path]) -> None:
    page, watch, out = browser_page
    page.reload()
    png = out / "html-report.png"
    page.screenshot(path=str(png), full_page=True)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert png.stat().st_size > 20_000
    assert not watch.errors
