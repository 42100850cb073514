"""The registry scan as the one `Report` (`scan_report`), and the store's status as text and JSON.

The scan's text layout is `dockguard.report.registry_scan_text`; names that come from a
registry are printed through `shown` (control characters escaped, length bounded).
"""

from __future__ import annotations

import time

from dockguard.channel.bounded_http import shown
from dockguard.jsontypes import JsonObject
from dockguard.model import (
    Finding,
    ImageSubject,
    NoteStatus,
    ProbeStep,
    Report,
    ReportNote,
    ReportSource,
    StepStatus,
    Surface,
    evidence,
)
from dockguard.scale.registry_scan import ImageResult, ScanResult
from dockguard.store import ImageStatus, RunStatus, StoreStatus, StoreURL

SEVERITIES = ("CRITICAL", "HIGH", "MEDIUM", "UNKNOWN", "LOW", "NEGLIGIBLE")


def _mib(n: int) -> str:
    return f"{n / 1048576:.1f} MiB"


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


# -- the registry scan as the one Report ---------------------------------------------------------

#: Findings of one registry scan report; beyond it the report says INCOMPLETE (the store has all).
MAX_REPORT_FINDINGS = 200_000
#: Step names of a registry scan report (their evidence holds the run's figures).
CATALOG, LAYERS, IMAGES, RUN = "catalog", "layers", "images", "run"


def image_label(image: ImageResult) -> str:
    """The object label of an image's findings and notes (``image:<first name>``)."""
    return f"image:{image.names[0] if image.names else image.digest}"


def _steps(result: ScanResult) -> tuple[ProbeStep, ...]:
    by_status = {s.value: sum(1 for i in result.images if i.status is s) for s in ImageStatus}
    repo_errors = [s for s, _ in result.errors
                   if not s.startswith(("image ", "layer ")) and ":" not in s.rsplit("/", 1)[-1]]
    catalog = ProbeStep(CATALOG, StepStatus.FAILED if repo_errors else StepStatus.COMPLETED,
                        f"{len(repo_errors)} repositories could not be listed" if repo_errors else "",
                        evidence(registry=result.registry, platform=result.platform, repositories=result.repositories,
                                 tags=result.tags, skipped=len(result.skipped)))
    layers = ProbeStep(LAYERS, StepStatus.FAILED if result.layers_failed else StepStatus.COMPLETED,
                       f"{result.layers_failed} layers failed" if result.layers_failed else "",
                       evidence(referenced=result.layers_referenced, distinct=result.layers_distinct,
                                dedupe_factor=f"{result.dedupe_factor:.3f}", analysed=result.layers_analysed,
                                reused=result.layers_reused, unusable=result.layers_unusable,
                                failed=result.layers_failed, bytes_fetched=result.bytes_fetched))
    failed = by_status[ImageStatus.FAILED.value]
    earlier = [i.digest for i in result.images if i.from_earlier_attempt]
    images = ProbeStep(IMAGES, StepStatus.FAILED if failed else StepStatus.COMPLETED,
                       f"{failed} images failed" if failed else "",
                       (("images", str(len(result.images))), *((k, str(v)) for k, v in by_status.items()),
                        *evidence(from_earlier_attempt=earlier)))
    run = ProbeStep(RUN, StepStatus.COMPLETED if result.status is RunStatus.COMPLETE else StepStatus.FAILED,
                    "" if result.status is RunStatus.COMPLETE else f"run {result.status.value}",
                    evidence(run=result.run, status=result.status.value, store=result.store, engine=result.engine,
                             workers=result.workers, seconds=f"{result.finished - result.started:.3f}"))
    return catalog, layers, images, run


def _notes(result: ScanResult) -> list[ReportNote]:
    notes: list[ReportNote] = []
    for i in sorted(result.images, key=image_label):
        part = image_label(i)
        if i.status is ImageStatus.FAILED:
            notes.append(ReportNote(part, NoteStatus.ERROR, i.error or "failed"))
        notes += [ReportNote(part, NoteStatus.INCOMPLETE, r) for r in i.incomplete]
        notes += [ReportNote(part, NoteStatus.NOT_CHECKED, r) for r in i.not_checked]
    failed_images = {f"image {i.digest}" for i in result.images if i.status is ImageStatus.FAILED}
    notes += [ReportNote(subject, NoteStatus.ERROR, error) for subject, error in result.errors
              if subject not in failed_images]
    notes += [ReportNote(subject, NoteStatus.NOT_APPLICABLE, reason) for subject, reason in result.skipped]
    notes += [ReportNote("registry scan", NoteStatus.WARNING, w) for w in result.warnings]
    return notes


def scan_report(result: ScanResult, url: StoreURL) -> Report:
    """The registry scan as the one `Report` (`Surface.REGISTRY_SCAN`): every image's findings
    as stored (labelled ``image:<first name>``), each image as a subject, notes for what failed,
    was not read or not checked, and the run's figures as the evidence of four steps
    (catalog, layers, images, run)."""
    from dockguard import __version__
    from dockguard.report.load import from_document
    from dockguard.store import Store

    findings: list[Finding] = []
    notes = _notes(result)
    total = 0
    with Store.open(url) as store:
        for i in sorted(result.images, key=image_label):
            if i.status is ImageStatus.FAILED:
                continue
            rows = store.findings(i.digest)
            total += len(rows)
            if len(findings) + len(rows) > MAX_REPORT_FINDINGS:
                continue
            doc: JsonObject = {"schema_version": 2, "source": {"surface": Surface.REGISTRY_SCAN.value},
                               "findings": [r.doc for r in rows]}
            findings += from_document(doc, f"store {url.display()}: findings of {i.digest}").findings
    if total > len(findings):
        notes.append(ReportNote("registry scan", NoteStatus.INCOMPLETE,
                                f"{total - len(findings)} findings not listed (at most {MAX_REPORT_FINDINGS}); "
                                "all are in the store"))
    subjects = tuple(ImageSubject(target=i.names[0] if i.names else i.digest, source_kind="registry",
                                  image_id=i.digest, repo_tags=tuple(i.names), platform=result.platform,
                                  package_count=i.packages, complete=i.status is ImageStatus.STORED)
                     for i in sorted(result.images, key=image_label))
    return Report(
        tool_version=__version__, started=result.started, finished=result.finished or time.time(),
        source=ReportSource(Surface.REGISTRY_SCAN, target=result.registry, images=subjects),
        findings=tuple(findings), notes=tuple(notes), steps=_steps(result),
    )
