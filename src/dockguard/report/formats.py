"""One table of report formats, so every command offers the same ones the same way."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from dockguard.model import Report, Surface
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

    # audit has no -p: its log is what DefectDojo imports, which shows remediation as the fix.
    remediation = o.text.remediation or report.surface is Surface.AUDIT
    return dockerbench_json.render(report, limit=o.text.limit, remediation=remediation)


def _sarif(report: Report, o: RenderOptions) -> str:
    from dockguard.report import sarif

    return sarif.render(report)


def _junit(report: Report, o: RenderOptions) -> str:
    from dockguard.report import junit

    return junit.render(report)


def _html(report: Report, o: RenderOptions) -> str:
    from dockguard.report import html

    return html.render(report)


def _cyclonedx(report: Report, o: RenderOptions) -> str:
    from dockguard.image import sbom

    return sbom.render_report(report)


FORMATS: dict[str, Callable[[Report, RenderOptions], str]] = {
    "text": _text,
    "json": _json,
    "docker-bench-json": _dockerbench,
    "sarif": _sarif,
    "junit": _junit,
    "html": _html,
    "cyclonedx": _cyclonedx,
}

_COMMON = ("text", "json", "sarif", "junit", "html")

#: The formats each surface offers (its first one is the default).  ``table`` is image scan's
#: name for its text layout; ``docker-bench-json`` exists where there are CIS results and
#: ``cyclonedx`` where there is a package inventory.
SURFACE_FORMATS: dict[Surface, tuple[str, ...]] = {
    Surface.BENCH: ("text", "json", "docker-bench-json", "sarif", "junit", "html"),
    Surface.AUDIT: ("text", "json", "docker-bench-json", "sarif", "junit", "html"),
    Surface.IMAGE_SCAN: ("table", *_COMMON, "cyclonedx"),
    Surface.DAEMON_PROBE: _COMMON,
    Surface.REGISTRY_PROBE: _COMMON,
    Surface.SECCOMP_LINT: _COMMON,
    Surface.DIFF: _COMMON,
    Surface.REGISTRY_SCAN: _COMMON,
    Surface.FLEET: ("text", "json", "html", "sarif"),
}
ALIASES = {"table": "text"}


def render(report: Report, fmt: str, options: RenderOptions | None = None) -> str:
    """Render `report` in format `fmt` (one of FORMATS, or an alias such as ``table``)."""
    return FORMATS[ALIASES.get(fmt, fmt)](report, options or RenderOptions())
