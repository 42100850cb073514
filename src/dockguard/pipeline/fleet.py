"""The fleet: hosts' audits recorded in the store, and the one `Report` over all of them.

Recording (``audit --store`` / ``collect --store``)::

    run_audit(observer=FleetRecorder) → Report ─┐
    the snapshot, each image's inventory ───────┴→ HostAudit → store (dockguard.store.fleet)

Reporting (``fleet report``)::

    store: every host's latest two audits (items, containers, images)
         + the current vulnerability findings of the images they run (merge_current)
      → FleetFacts (typed rows)  → fleet_report → Report (Surface.FLEET)

The fleet `Report` has one finding per failing check of a host (object ``host:LABEL``) and
per finding of its latest audit (``host:LABEL/image:NAME`` for an image's); ``change`` is
``new`` for what the host's previous audit did not have, and what it had that is gone is kept
as ``fixed`` and suppressed (what is unchanged has no ``change``: it is still a live problem).
An image's vulnerabilities are its current stored findings (what the latest audit, registry
scan or ``store rematch`` left), so a rematch after a new advisory reaches every host running
the image without a new audit; they are compared with the host's previous audit too, and say
in evidence (``vulns_as_of``) and a host note when another run than the latest audit left them.
Evidence names the host, the containers running the image, the image ID and the layer, so
the layouts (`dockguard.report.fleet_view`) answer "where does CVE-X run" from the report alone.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from dockguard.errors import UsageError
from dockguard.model import (
    Change,
    Finding,
    FindingKind,
    HostSubject,
    NoteStatus,
    Outcome,
    PackageRef,
    Report,
    ReportNote,
    ReportSource,
    Severity,
    Surface,
    VulnerabilityInfo,
    VulnState,
    evidence,
)
from dockguard.store.fleet import (
    HostAudit,
    HostContainer,
    HostImage,
    HostItem,
    HostLatest,
    ImageVulns,
    Suppressed,
)

if TYPE_CHECKING:
    from dockguard.image.scan import Inventory
    from dockguard.jsontypes import JsonObject
    from dockguard.snapshot import Snapshot
    from dockguard.store import HostIdentity, Store, StoreURL

#: The item kind of a failing check (every other kind is a `FindingKind` value).
CHECK = "check"
#: Findings in one fleet report (every format, HTML the biggest, stays under the 512 MiB
#: ceiling: 26,000 findings of 200 hosts render to HTML at a 393 MiB peak); beyond it the
#: vulnerabilities that do not fit are left out and the report says INCOMPLETE (ask with --cve).
MAX_FINDINGS = 30_000
#: ``--cve`` values in one report.
MAX_CVES = 100
FIXED_REASON = "fixed since the host's previous audit"


# --------------------------------------------------------------------------- recording


@dataclass
class FleetRecorder:
    """The `dockguard.pipeline.audit.AuditObserver` of ``audit --store``: keeps the snapshot
    and, per image, the inventory document (not the inventory: its size is bounded by the
    document's caps)."""

    snapshot_facts: Snapshot | None = None
    inventories: dict[str, InventoryFacts] = field(default_factory=dict)

    def snapshot(self, snapshot: Snapshot) -> None:
        """See `AuditObserver.snapshot`."""
        self.snapshot_facts = snapshot

    def inventory(self, image_id: str, inventory: Inventory) -> None:
        """See `AuditObserver.inventory`."""
        from dockguard.scale.image_adapter import inventory_doc, inventory_key

        doc = inventory_doc(inventory)
        self.inventories[image_id] = InventoryFacts(doc, inventory_key(doc), inventory.complete,
                                                    len(inventory.packages))


@dataclass(frozen=True)
class InventoryFacts:
    """One image's inventory as the store keeps it."""

    doc: JsonObject
    match_key: str
    complete: bool
    packages: int


@dataclass(frozen=True)
class Recorded:
    """What was recorded: the host, the run, and whether the daemon ID was missing."""

    host: HostIdentity
    run: str
    hostname_only: bool


def host_identity(snapshot: Snapshot | None) -> tuple[HostIdentity, bool]:
    """The host of a snapshot: the daemon's ID and name from ``/info``; (hostname only, True)
    when the daemon could not be reached."""
    from dockguard.store import HostIdentity

    daemon = snapshot.daemon if snapshot is not None else None
    if daemon is not None and daemon.id:
        return HostIdentity(daemon.id, daemon.name or (snapshot.hostname if snapshot else "") or "unknown"), False
    name = (snapshot.hostname if snapshot is not None else "") or socket.gethostname() or "unknown"
    return HostIdentity("", name), True


def _containers(snapshot: Snapshot) -> tuple[HostContainer, ...]:
    digests = {i.id: i.repo_digests for i in snapshot.images or ()}
    return tuple(HostContainer(c.id, c.name, c.image, c.image_id, tuple(digests.get(c.image_id, ())))
                 for c in snapshot.containers or ())


def _key(*parts: str) -> str:
    from dockguard.store import finding_key

    return finding_key(*parts)


def _item_key(f: Finding, image_id: str) -> str:
    p = f.package
    if f.kind is FindingKind.VULNERABILITY:
        return _key(f.kind.value, f.id, image_id or f.obj, p.name if p else "", p.version if p else "", f.path)
    return _key(f.kind.value, f.id, image_id or f.obj, f.title, f.path, str(f.line or ""))


def suppressed_items(report: Report, image_ids: dict[str, str]) -> tuple[Suppressed, ...]:
    """The vulnerabilities of a host's report its suppressions or VEX accepted, by item key (a
    ``store rematch`` finds them again in the image's stored findings: the fleet keeps them out)."""
    return tuple(Suppressed(_item_key(f, image_ids.get(f.obj, "")), f.id, f.suppressed or "")
                 for f in report.findings if f.suppressed and f.kind is FindingKind.VULNERABILITY)


def report_items(report: Report, image_ids: dict[str, str]) -> tuple[HostItem, ...]:
    """The failing checks and the findings of a host's report as store rows (suppressed ones
    left out: they were accepted).  `image_ids` maps an image label (``image:NAME``) to its ID."""
    items: list[HostItem] = []
    for r in report.results:
        if r.outcome is Outcome.WARN and not r.suppressed:
            items.append(HostItem(_key(CHECK, r.id), CHECK, r.id, r.meta.severity.value, r.meta.title, ""))
    for f in report.findings:
        if f.suppressed:
            continue
        image_id = image_ids.get(f.obj, "")
        p, v = f.package, f.vulnerability
        ikey = _item_key(f, image_id)
        items.append(HostItem(
            ikey, f.kind.value, f.id, f.severity.value, f.title, f.obj, image_id,
            f.obj.removeprefix("image:") if image_id else "",
            p.name if p else "", p.version if p else "", (v.fixed or "") if v else "",
            v.state.value if v else "", p.type if p else "", p.purl if p else "", p.layer if p else "", f.path,
            tuple(v.aliases) if v else ()))
    return tuple(items)


def _worst(items: Iterable[HostItem]) -> str:
    ranks = [Severity(i.severity) for i in items if i.severity in Severity.__members__.values()]
    return max(ranks, key=lambda s: s.rank).value if ranks else ""


def build_host_audit(report: Report, recorder: FleetRecorder, run: str) -> tuple[HostAudit, bool]:
    """The store rows of one audit (and whether the host is known by its hostname only)."""
    from dockguard.jsontypes import to_json_object
    from dockguard.pipeline.audit import DAEMON_PART
    from dockguard.report.json import report_dict
    from dockguard.serial import to_jsonable

    snapshot = recorder.snapshot_facts
    host, hostname_only = host_identity(snapshot)
    scans = (snapshot.image_scans if snapshot is not None else None) or ()
    image_ids = {f"image:{s.image}": s.image_id for s in scans if s.image_id}
    images = tuple(
        HostImage(s.image_id, s.image, s.complete and not s.error,
                  recorder.inventories[s.image_id].packages if s.image_id in recorder.inventories else 0,
                  s.error or "")
        for s in scans if s.image_id)
    items = report_items(report, image_ids)
    reachable = not any(n.part == DAEMON_PART and n.status is NoteStatus.NOT_CHECKED for n in report.notes)
    snap_doc = to_jsonable(snapshot) if snapshot is not None else None
    return HostAudit(
        host=host, run=run, taken=report.finished, reachable=reachable, complete=report.complete,
        worst=_worst(items), report=to_json_object(report_dict(report)),
        snapshot=snap_doc if isinstance(snap_doc, dict) else None,
        containers=_containers(snapshot) if snapshot is not None else (),
        images=images, items=items, suppressed=suppressed_items(report, image_ids),
    ), hostname_only


def record_audit(url: StoreURL, report: Report, recorder: FleetRecorder) -> Recorded:
    """Store one audit under its host (`dockguard.store.fleet.record_audit`) and the scanned
    images' inventories and findings under their image IDs (``store rematch`` re-matches them)."""
    from dockguard.scale import image_adapter as adapter
    from dockguard.store import RunKind, RunStatus, Store
    from dockguard.store import fleet as fleet_store

    with Store.open(url) as store:
        host, _ = host_identity(recorder.snapshot_facts)
        run = store.start_run(RunKind.AUDIT, report.source.docker_host or host.hostname,
                              {"daemon_id": host.daemon_id, "hostname": host.hostname})
        audit, hostname_only = build_host_audit(report, recorder, run)
        fleet_store.record_audit(store, audit)
        labels = {i.image_id: f"image:{i.name}" for i in audit.images}
        for image_id, inv in sorted(recorder.inventories.items()):
            store.put_inventory(run, image_id, adapter.CATALOGUER_KEY, inv.doc, complete=inv.complete,
                                packages=inv.packages, match_key=inv.match_key)
            label = labels.get(image_id, f"image:{image_id}")
            rows = [adapter.finding_row(f) for f in report.findings if f.obj == label and not f.suppressed]
            store.replace_findings(run, image_id, rows, None, record_changes=store.has_findings(image_id))
        status = RunStatus.COMPLETE if audit.complete else RunStatus.PARTIAL
        store.finish_run(run, status, {"hostname": host.hostname, "daemon_id": host.daemon_id,
                                       "items": len(audit.items), "containers": len(audit.containers),
                                       "images": len(audit.images), "reachable": audit.reachable})
    return Recorded(audit.host, run, hostname_only)


def record_collect(url: StoreURL, snapshot: Snapshot) -> Recorded:
    """Store a ``collect`` snapshot and its containers under the snapshot's host."""
    from dockguard.serial import to_jsonable
    from dockguard.store import RunKind, RunStatus, Store
    from dockguard.store import fleet as fleet_store

    host, hostname_only = host_identity(snapshot)
    doc = to_jsonable(snapshot)
    if not isinstance(doc, dict):
        raise AssertionError("a snapshot serialises to an object")
    with Store.open(url) as store:
        run = store.start_run(RunKind.COLLECT, snapshot.docker_host or host.hostname,
                              {"daemon_id": host.daemon_id, "hostname": host.hostname})
        containers = _containers(snapshot)
        fleet_store.record_collect(store, run, host, snapshot.created or time.time(), doc, containers)
        store.finish_run(run, RunStatus.COMPLETE, {"hostname": host.hostname, "daemon_id": host.daemon_id,
                                                   "containers": len(containers)})
    return Recorded(host, run, hostname_only)


# --------------------------------------------------------------------------- the fleet report


@dataclass(frozen=True)
class HostFacts:
    """One host as the fleet report reads it from the store."""

    latest: HostLatest
    label: str
    items: tuple[HostItem, ...] = ()
    previous_items: tuple[HostItem, ...] | None = None
    containers: tuple[HostContainer, ...] = ()
    images: tuple[HostImage, ...] = ()
    collected: float | None = None
    current: tuple[ImageVulns, ...] = ()


@dataclass(frozen=True)
class FleetFacts:
    """What the store holds about the fleet: every host with its latest audit's rows (its
    images' vulnerabilities replaced by their current findings, `merge_current`) and the
    previous audit's items (for the difference)."""

    store: str
    hosts: tuple[HostFacts, ...]


def host_labels(hosts: Sequence[HostIdentity]) -> dict[HostIdentity, str]:
    """Each host's label: its hostname, with ``@`` and the daemon ID's start when several
    daemons share the hostname (or ``@no-daemon-id`` when the daemon was never reached)."""
    count: dict[str, int] = {}
    for h in hosts:
        count[h.hostname] = count.get(h.hostname, 0) + 1
    out = {}
    for h in hosts:
        if count[h.hostname] == 1:
            out[h] = h.hostname
        else:
            out[h] = f"{h.hostname}@{h.daemon_id.replace(':', '')[:12] or 'no-daemon-id'}"
    return out


def _image_names(images: Sequence[HostImage], containers: Sequence[HostContainer]) -> dict[str, str]:
    """Image ID → the name the host knows it by (the audit's scan, else a container's reference)."""
    names = {c.image_id: c.image_ref or c.image_id for c in reversed(containers) if c.image_id}
    names.update({i.image_id: i.name or i.image_id for i in images if i.image_id})
    return names


def merge_current(items: Sequence[HostItem], images: Sequence[HostImage], containers: Sequence[HostContainer],
                  current: dict[str, ImageVulns], suppressed: Collection[str] = (),
                  ) -> tuple[tuple[HostItem, ...], tuple[ImageVulns, ...]]:
    """A host's latest audit's items with the vulnerabilities of each image it scanned or runs
    replaced by the image's current stored findings (`current`, image ID → findings) where the
    store has them, less those the audit accepted (`suppressed` item keys); failing checks and
    the images' other findings stay the audit's.  Returns the items (by key) and the current
    findings used."""
    names = _image_names(images, containers)
    used = {i: current[i] for i in sorted(names) if i in current}
    kept = [i for i in items if not (i.kind == FindingKind.VULNERABILITY.value and i.image_id in used)]
    for image_id, iv in used.items():
        name = names[image_id]
        for v in iv.vulns:
            kept.append(replace(v, ikey=_key(FindingKind.VULNERABILITY.value, v.id, image_id, v.package, v.version,
                                              v.path),
                                obj=f"image:{name}", image_id=image_id, image=name))
    merged = sorted({i.ikey: i for i in kept if i.ikey not in suppressed}.values(), key=lambda i: i.ikey)
    return tuple(merged), tuple(used.values())


def read_fleet(store: Store) -> FleetFacts:
    """Every host's latest two audits from the store (rows; of documents only the current
    vulnerability findings of the images the hosts run)."""
    from dockguard.scale.image_adapter import CATALOGUER_KEY
    from dockguard.store import fleet as fleet_store

    latest = fleet_store.fleet_hosts(store)
    labels = host_labels([h.host for h in latest])
    runs = [h.latest.run for h in latest if h.latest]
    previous = [h.previous.run for h in latest if h.previous]
    items = fleet_store.items_of_runs(store, runs + previous)
    containers = fleet_store.containers_of_runs(store, runs)
    images = fleet_store.images_of_runs(store, runs)
    accepted = fleet_store.suppressed_of_runs(store, runs)
    wanted: dict[str, set[str]] = {}
    for run in runs:
        for c in containers.get(run, ()):
            if c.image_id:
                wanted.setdefault(c.image_id, set()).update(c.repo_digests)
        for i in images.get(run, ()):
            if i.image_id:
                wanted.setdefault(i.image_id, set())
    current = fleet_store.current_vulnerabilities(
        store, {i: tuple(sorted(d)) for i, d in wanted.items()}, CATALOGUER_KEY)
    hosts = []
    for h in latest:
        if h.latest is None:
            collected = fleet_store.latest_collect(store, h.host)
            hosts.append(HostFacts(h, labels[h.host], collected=collected[1] if collected else None))
            continue
        mine, used = merge_current(items.get(h.latest.run, ()), images.get(h.latest.run, ()),
                                   containers.get(h.latest.run, ()), current, accepted.get(h.latest.run, {}))
        hosts.append(HostFacts(
            h, labels[h.host], mine, tuple(items.get(h.previous.run, ())) if h.previous else None,
            tuple(containers.get(h.latest.run, ())), tuple(images.get(h.latest.run, ())), current=used))
    return FleetFacts(store.url.display(), tuple(hosts))


def parse_cves(values: Sequence[str]) -> tuple[str, ...]:
    """``--cve`` values, upper-cased and checked (letters, digits, ``-._:``)."""
    import re

    if len(values) > MAX_CVES:
        raise UsageError(f"--cve: at most {MAX_CVES} identifiers")
    out = []
    for v in values:
        text = v.strip().upper()
        if not re.fullmatch(r"[A-Z0-9][A-Z0-9._:-]{0,99}", text):
            raise UsageError(f"--cve: invalid vulnerability identifier {v[:100]!r}")
        out.append(text)
    return tuple(dict.fromkeys(out))


def _matches(item: HostItem, cves: Sequence[str]) -> bool:
    return item.kind == FindingKind.VULNERABILITY.value and (
        item.id.upper() in cves or any(a.upper() in cves for a in item.aliases))


def _severity(text: str) -> Severity:
    try:
        return Severity(text)
    except ValueError:
        return Severity.UNKNOWN


def _state(text: str) -> VulnState:
    try:
        return VulnState(text)
    except ValueError:
        return VulnState.UNKNOWN


def _when(at: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(at))


def _as_of(iv: ImageVulns) -> str:
    return f"{iv.run_kind or 'run'} {iv.run} at {_when(iv.at)}"


def _newer(h: HostFacts) -> dict[str, ImageVulns]:
    """Image ID → its current findings, for the images whose findings another run than the
    host's latest audit left (a later ``store rematch``, a registry scan, another host's audit)."""
    latest = h.latest.latest
    run = latest.run if latest is not None else ""
    return {iv.image_id: iv for iv in h.current if iv.run != run}


def item_finding(item: HostItem, host: HostFacts, change: Change | None,
                 running: dict[str, list[str]], current: ImageVulns | None = None) -> Finding:
    """A stored item of `host` as a fleet finding (see the module docstring); `current` is the
    evaluation its vulnerability comes from when not the host's latest audit."""
    latest = host.latest.latest
    run = latest.run if latest is not None else ""
    facts = evidence(host=host.label, hostname=host.latest.host.hostname, daemon_id=host.latest.host.daemon_id,
                     run=run, image_id=item.image_id, image=item.image,
                     containers=sorted(running.get(item.image_id, [])) if item.image_id else None,
                     layer=item.layer, vulns_as_of=_as_of(current) if current else None,
                     vulns_source=current.source if current and current.source != item.image_id else None)
    if item.kind == CHECK:
        return Finding(id=item.id, kind=FindingKind.CHECK, severity=_severity(item.severity), title=item.title,
                       obj=f"host:{host.label}", evidence=facts, change=change)
    try:
        kind = FindingKind(item.kind)
    except ValueError:
        kind = FindingKind.CHECK
    package = (PackageRef(name=item.package, version=item.version, type=item.ptype, purl=item.purl,
                          path=item.path, layer=item.layer) if item.package else None)
    vuln = (VulnerabilityInfo(state=_state(item.state), installed=item.version, fixed=item.fixed or None,
                              aliases=item.aliases) if kind is FindingKind.VULNERABILITY else None)
    obj = f"host:{host.label}/{item.obj}" if item.obj else f"host:{host.label}"
    return Finding(id=item.id, kind=kind, severity=_severity(item.severity), title=item.title, obj=obj,
                   path=item.path, package=package, vulnerability=vuln, evidence=facts, change=change,
                   remediation=f"Upgrade {item.package} to {item.fixed}" if item.fixed and item.package else "")


def _subject(h: HostFacts) -> HostSubject:
    latest, previous = h.latest.latest, h.latest.previous
    return HostSubject(
        label=h.label, hostname=h.latest.host.hostname, daemon_id=h.latest.host.daemon_id,
        run=latest.run if latest else "", taken=latest.taken if latest else h.collected,
        previous_run=previous.run if previous else "", previous_taken=previous.taken if previous else None,
        audited=latest is not None, reachable=latest.reachable if latest else False,
        complete=latest.complete if latest else False, containers=len(h.containers), images=len(h.images))


def _host_notes(h: HostFacts) -> list[ReportNote]:
    latest, part = h.latest.latest, f"host:{h.label}"
    notes = []
    if latest is not None:
        groups: dict[tuple[str, str, float], list[ImageVulns]] = {}
        for iv in _newer(h).values():
            groups.setdefault((iv.run, iv.run_kind, iv.at), []).append(iv)
        for (_, _, at), ivs in sorted(groups.items(), key=lambda kv: (kv[0][2], kv[0][0])):
            side = "newer than" if at > latest.taken else "not from"
            notes.append(ReportNote(part, NoteStatus.WARNING,
                                    f"vulnerabilities of {len(ivs)} image(s) as of {_as_of(ivs[0])}, {side} the "
                                    f"latest audit (run {latest.run} at {_when(latest.taken)})"))
    return notes + _reach_notes(h)


def _reach_notes(h: HostFacts) -> list[ReportNote]:
    latest, part = h.latest.latest, f"host:{h.label}"
    if latest is None:
        return [ReportNote(part, NoteStatus.NOT_CHECKED, "no audit recorded (only `collect --store`)")]
    if not latest.reachable:
        return [ReportNote(part, NoteStatus.NOT_CHECKED,
                           f"the daemon could not be reached in the latest audit (run {latest.run}): "
                           "its containers and images are unknown")]
    if not latest.complete:
        return [ReportNote(part, NoteStatus.INCOMPLETE,
                           f"the latest audit (run {latest.run}) did not check or read everything: "
                           "see its report")]
    return []


def fleet_report(facts: FleetFacts, cves: Sequence[str] = (), *, started: float | None = None) -> Report:
    """The fleet as one `Report` (see the module docstring); with `cves` only those
    vulnerabilities' findings (the answer to "where does CVE-X run"), with a note for each
    identifier no host has."""
    from dockguard import __version__

    begun = time.time() if started is None else started
    findings: list[Finding] = []
    notes: list[ReportNote] = []
    found: set[str] = set()
    for h in facts.hosts:
        notes += _host_notes(h)
        running: dict[str, list[str]] = {}
        for c in h.containers:
            running.setdefault(c.image_id, []).append(c.name)
        keep = [i for i in h.items if not cves or _matches(i, cves)]
        found.update(i.id.upper() for i in keep)
        found.update(a.upper() for i in keep for a in i.aliases)
        before = {i.ikey for i in h.previous_items} if h.previous_items is not None else None
        newer = _newer(h)
        for item in keep:
            # Unchanged stays None (not UNCHANGED): it is a live problem, not a diff's baseline.
            change = Change.NEW if before is not None and item.ikey not in before else None
            source = newer.get(item.image_id) if item.kind == FindingKind.VULNERABILITY.value else None
            findings.append(item_finding(item, h, change, running, source))
        if h.previous_items is not None:
            now = {i.ikey for i in h.items}
            for item in h.previous_items:
                if item.ikey not in now and (not cves or _matches(item, cves)):
                    findings.append(replace(item_finding(item, h, Change.FIXED, {}), suppressed=FIXED_REASON))
    if not facts.hosts:
        notes.append(ReportNote("fleet", NoteStatus.NOT_CHECKED,
                                "no host in the store: record hosts with `dockguard audit --store URL`"))
    for cve in cves:
        if cve not in found:
            notes.append(ReportNote(f"cve:{cve}", NoteStatus.NOT_APPLICABLE,
                                    "on no host (its latest audit, its images' current findings) and not fixed "
                                    "since a host's previous audit"))
    if len(findings) > MAX_FINDINGS:
        others = [f for f in findings if f.kind is not FindingKind.VULNERABILITY]
        vulns = [f for f in findings if f.kind is FindingKind.VULNERABILITY]
        kept = others[:MAX_FINDINGS] + vulns[:max(0, MAX_FINDINGS - len(others))]
        notes.append(ReportNote("fleet", NoteStatus.INCOMPLETE,
                                f"{len(findings) - len(kept)} more findings not listed (at most {MAX_FINDINGS}; "
                                "failing checks first): ask where vulnerabilities run with --cve"))
        findings = kept
    target = f"fleet of {len(facts.hosts)} host(s) in {facts.store}"
    if cves:
        from dockguard.report.fleet_view import ASKED_PREFIX

        target = f"{ASKED_PREFIX}{', '.join(cves)} run{'s' if len(cves) == 1 else ''} in the {target}"
    return Report(
        tool_version=__version__, started=begun, finished=time.time(),
        source=ReportSource(Surface.FLEET, target=target, hosts=tuple(_subject(h) for h in facts.hosts)),
        findings=tuple(findings), notes=tuple(notes),
    )


def open_fleet_report(url: StoreURL, cves: Sequence[str] = ()) -> Report:
    """``dockguard fleet report``: read the store at `url` and build the report."""
    from dockguard.errors import OperationalError
    from dockguard.store import Store

    started = time.time()
    if url.path is not None and not url.path.exists():
        raise OperationalError(f"no store at {url.path}: record hosts with `dockguard audit --store URL` first")
    with Store.open(url) as store:
        facts = read_fleet(store)
    return fleet_report(facts, cves, started=started)
