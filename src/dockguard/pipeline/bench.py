"""The CIS bench pipeline: facts (a live daemon and its host, or a saved snapshot) → `Report`.

    collect (collect/gather.py) or Snapshot.load ─┐
                                                  ├─ evaluate (engine.py, checks/) ─┐
    snapshot findings: daemon-side registry       │                                 ├─ Report
    configuration, endpoint probes ───────────────┘─────────────────────────────────┘

``dockguard bench`` is `run_bench`; ``dockguard collect`` is `save_snapshot`; ``dockguard audit``
(`dockguard.pipeline.audit`) assembles its report with `assemble` and `snapshot_findings`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from dockguard.checks.catalogue import Check
from dockguard.collect.gather import CollectOptions
from dockguard.engine import Options, evaluate
from dockguard.model import Finding, Report, ReportNote, Surface
from dockguard.snapshot import Snapshot

#: Progress of a long collection: (what, done, total).
CollectProgress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class BenchRequest:
    """What ``dockguard bench`` was asked: the checks, the options that affect verdicts, and
    where the facts come from (`snapshot_file`, else a live collection with `collect`)."""

    checks: tuple[Check, ...]
    options: Options = field(default_factory=Options)
    snapshot_file: str | None = None
    collect: CollectOptions = field(default_factory=CollectOptions)


def snapshot_findings(snapshot: Snapshot) -> tuple[Finding, ...]:
    """The findings a snapshot carries besides the CIS checks: the daemon-side registry
    configuration (insecure registries, mirrors, certs.d) and the endpoint probes."""
    from dockguard.channel.daemon_registry import daemon_registry_findings

    found = list(daemon_registry_findings(snapshot.daemon, snapshot.host))
    for probe in snapshot.endpoint_probes or ():
        found.extend(probe.findings)
    return tuple(found)


def assemble(
    snapshot: Snapshot,
    checks: Sequence[Check],
    options: Options,
    *,
    started: float,
    surface: Surface = Surface.BENCH,
    findings: Sequence[Finding] = (),
    notes: Sequence[ReportNote] = (),
    snapshot_file: str = "",
) -> Report:
    """Evaluate `checks` over `snapshot` and make the Report with `findings` and `notes`."""
    report = evaluate(snapshot, checks, options, started=started, surface=surface)
    source = replace(report.source, snapshot_file=snapshot_file) if snapshot_file else report.source
    return replace(report, source=source, findings=tuple(findings), notes=tuple(notes))


def run_bench(request: BenchRequest, progress: CollectProgress | None = None) -> Report:
    """``dockguard bench``: load the snapshot or collect live, evaluate, add the snapshot's findings."""
    started = time.time()
    if request.snapshot_file:
        snapshot = Snapshot.load(request.snapshot_file)
    else:
        from dockguard.collect.gather import collect_snapshot

        snapshot = collect_snapshot(request.collect, progress=progress)
    return assemble(snapshot, request.checks, request.options, started=started,
                    findings=snapshot_findings(snapshot), snapshot_file=request.snapshot_file or "")


def save_snapshot(
    options: CollectOptions,
    output: str | None,
    *,
    progress: CollectProgress | None = None,
    note: Callable[[str], None] | None = None,
) -> Snapshot:
    """``dockguard collect``: collect (refusing more containers or images than a snapshot may
    hold), write the snapshot to `output` (None or ``-``: stdout) and tell `note` each
    collection problem."""
    from dockguard.collect.gather import collect_snapshot
    from dockguard.outputs import write_text

    snapshot = collect_snapshot(replace(options, for_snapshot_file=True), progress=progress)
    write_text(None if output in (None, "-") else output, snapshot.to_json() + "\n")
    for e in snapshot.errors:
        if note is not None:
            note(f"{e.source}: {e.target}: {e.message}")
    return snapshot
