"""Text and JSON renderings of a registry scan, a re-match and the store's status.

The JSON shapes are documented in docs/scale.md; text is for people.  Names that come from a
registry are printed through `shown` (control characters escaped, length bounded).
"""

from __future__ import annotations

import json
import time

from dockguard.channel.bounded_http import shown
from dockguard.scale.registry_scan import ImageResult, ScanResult
from dockguard.store import StoreStatus

SEVERITIES = ("CRITICAL", "HIGH", "MEDIUM", "UNKNOWN", "LOW", "NEGLIGIBLE")
MAX_LISTED = 50
"""Images, errors and changes listed in text output (JSON lists them all)."""


def _mib(n: int) -> str:
    return f"{n / 1048576:.1f} MiB"


def _worst_key(image: ImageResult) -> tuple[int, ...]:
    return tuple(-image.severities.get(s, 0) for s in SEVERITIES)


def scan_json(result: ScanResult) -> str:
    """The registry scan as JSON: the run's counts and one entry per image."""
    doc = {
        "run": result.run,
        "status": result.status.value,
        "complete": result.status.value == "complete",
        "store": result.store,
        **result.summary(),
        "images": [
            {"digest": i.digest, "names": i.names, "status": i.status.value, "error": i.error,
             "packages": i.packages, "findings": {s: i.severities.get(s, 0) for s in SEVERITIES},
             "incomplete": i.incomplete, "not_checked": i.not_checked,
             "from_earlier_attempt": i.from_earlier_attempt}
            for i in sorted(result.images, key=lambda i: i.names[0] if i.names else i.digest)
        ],
        "skipped": [{"subject": s, "reason": r} for s, r in result.skipped],
        "errors": [{"subject": s, "error": e} for s, e in result.errors],
        "warnings": result.warnings,
    }
    return json.dumps(doc, indent=2)


def scan_text(result: ScanResult) -> str:
    """The registry scan for people."""
    by_status: dict[str, int] = {}
    for i in result.images:
        by_status[i.status.value] = by_status.get(i.status.value, 0) + 1
    totals = {s: sum(i.severities.get(s, 0) for i in result.images) for s in SEVERITIES}
    lines = [
        f"Registry scan of {shown(result.registry)} ({result.platform}): run {result.run}, {result.status.value}",
        f"Store: {result.store}",
        f"Repositories {result.repositories}, tags {result.tags}, images {len(result.images)} "
        f"({', '.join(f'{k} {v}' for k, v in sorted(by_status.items())) or 'none'})"
        + (f", {len(result.skipped)} tags without a {result.platform} image" if result.skipped else ""),
        f"Layers: {result.layers_referenced} referenced, {result.layers_distinct} distinct "
        f"(dedupe factor {result.dedupe_factor:.2f}); {result.layers_analysed} analysed now, "
        f"{result.layers_reused} already in the store, {result.layers_unusable} unusable, "
        f"{result.layers_failed} failed",
        f"Fetched {_mib(result.bytes_fetched)} in {result.finished - result.started:.1f} s on {result.engine}",
        "Findings: " + "  ".join(f"{s} {totals[s]}" for s in SEVERITIES),
        "",
    ]
    ranked = sorted(result.images, key=lambda i: (_worst_key(i), i.names[0] if i.names else i.digest))
    if ranked:
        lines.append("Images (most severe first):")
        lines.append("  CRIT  HIGH   MED  PKGS  STATUS      IMAGE")
        for i in ranked[:MAX_LISTED]:
            name = shown(i.names[0]) if i.names else i.digest
            more = f" (+{len(i.names) - 1} names)" if len(i.names) > 1 else ""
            lines.append(f"  {i.severities.get('CRITICAL', 0):>4}  {i.severities.get('HIGH', 0):>4}  "
                         f"{i.severities.get('MEDIUM', 0):>4}  {i.packages:>4}  {i.status.value:<10}  {name}{more}")
        if len(ranked) > MAX_LISTED:
            lines.append(f"  … {len(ranked) - MAX_LISTED} more (see --format json)")
        lines.append("")
    incomplete = [i for i in result.images if i.incomplete]
    if incomplete:
        lines.append(f"INCOMPLETE: {len(incomplete)} image(s) were not read in full; findings may be missing:")
        for i in incomplete[:MAX_LISTED]:
            lines.append(f"  {shown(i.names[0]) if i.names else i.digest}: {shown(i.incomplete[0])}")
        lines.append("")
    if result.errors:
        lines.append(f"FAILED: {len(result.errors)}")
        for subject, error in result.errors[:MAX_LISTED]:
            lines.append(f"  {shown(subject)}: {shown(error)}")
        lines.append("")
    if result.skipped:
        lines.append(f"Skipped (no {result.platform} image): {len(result.skipped)}")
        for subject, _reason in result.skipped[:MAX_LISTED]:
            lines.append(f"  {shown(subject)}")
        lines.append("")
    for w in result.warnings:
        lines.append(f"warning: {shown(w)}")
    return "\n".join(lines).rstrip() + "\n"


def status_doc(st: StoreStatus) -> dict[str, object]:
    """``store status`` as a JSON-able document."""
    return {
        "store": st.url, "schema_version": st.schema_version, "runs": st.runs, "images": st.images,
        "refs": st.refs, "layers_referenced": st.layers_referenced, "layers_distinct": st.layers_distinct,
        "dedupe_factor": round(st.dedupe_factor, 3), "layer_results": st.layer_results,
        "layer_failures": st.layer_failures, "layer_bytes": st.layer_bytes, "inventories": st.inventories,
        "findings": st.findings, "hosts": st.hosts, "size_bytes": st.size_bytes,
        "last_runs": [{"run": r.id, "kind": r.kind.value, "target": r.target, "status": r.status.value,
                       "started": r.started, "finished": r.finished} for r in st.last_runs],
    }


def status_text(st: StoreStatus) -> str:
    """``store status`` for people."""
    size = _mib(st.size_bytes) if st.size_bytes is not None else "?"
    lines = [
        f"Store: {st.url} (schema {st.schema_version}, {size})",
        f"Runs {st.runs}; images {st.images} under {st.refs} names; hosts {st.hosts}",
        f"Layers: {st.layers_referenced} referenced by images, {st.layers_distinct} distinct "
        f"(dedupe factor {st.dedupe_factor:.2f}); {st.layer_results} analyses stored "
        f"({_mib(st.layer_bytes)}), {st.layer_failures} unusable blobs",
        f"Inventories {st.inventories}; findings "
        + ("  ".join(f"{s} {st.findings.get(s, 0)}" for s in SEVERITIES if st.findings.get(s)) or "none"),
    ]
    if st.last_runs:
        lines.append("Last runs:")
        for r in st.last_runs:
            when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(r.started))
            lines.append(f"  {r.id}  {when}Z  {r.kind.value:<14} {r.status.value:<9} {shown(r.target)}")
    return "\n".join(lines) + "\n"
