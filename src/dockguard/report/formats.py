"""One table of report formats, so every command offers the same ones the same way."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from dockguard.model import Report
from dockguard.report.text import TextOptions


@dataclass(frozen=True)
class RenderOptions:
    """Options some formats honour: colour/remediation/limit for text, limit for docker-bench."""

    text: TextOptions = field(default_factory=TextOptions)


def _text(report: Report, o: RenderOptions) -> str:
    from dockguard.report import text

    return text.render(report, o.text)


def _json(report: Report, o: RenderOptions) -> str:
    from dockguard.report import json as json_report

    return json_report.render(report)


def _dockerbench(report: Report, o: RenderOptions) -> str:
    from dockguard.report import dockerbench_json

    return dockerbench_json.render(report, limit=o.text.limit, remediation=o.text.remediation)


def _sarif(report: Report, o: RenderOptions) -> str:
    from dockguard.report import sarif

    return sarif.render(report)


def _junit(report: Report, o: RenderOptions) -> str:
    from dockguard.report import junit

    return junit.render(report)


def _html(report: Report, o: RenderOptions) -> str:
    from dockguard.report import html

    return html.render(report)


FORMATS: dict[str, Callable[[Report, RenderOptions], str]] = {
    "text": _text,
    "json": _json,
    "docker-bench-json": _dockerbench,
    "sarif": _sarif,
    "junit": _junit,
    "html": _html,
}


def render(report: Report, fmt: str, options: RenderOptions | None = None) -> str:
    """Render `report` in format `fmt` (one of FORMATS)."""
    return FORMATS[fmt](report, options or RenderOptions())
