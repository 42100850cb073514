"""The fleet: audits recorded per host in an SQLite store, and the fleet report built from them.

The audits are typed reports and snapshots as ``audit`` makes them (no daemon here); the
integration tests (tests/integration/test_fleet.py) record real ones from two dockerds.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path

import pytest

from dockguard.errors import UsageError
from dockguard.model import (
    Change,
    CheckResult,
    Finding,
    FindingKind,
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
)
from dockguard.pipeline.audit import DAEMON_PART
from dockguard.pipeline.fleet import (
    FIXED_REASON,
    FleetRecorder,
    host_labels,
    open_fleet_report,
    parse_cves,
    read_fleet,
    record_audit,
    record_collect,
)
from dockguard.report.fleet_view import fleet_view
from dockguard.report.formats import render
from dockguard.snapshot import ContainerFacts, DaemonFacts, ImageFacts, ImageScanSummary, Snapshot
from dockguard.store import HostIdentity, Store, parse_store_url
from tests.report_sample import meta

LAYER = "sha256:" + "ab" * 32


def _vuln(cve: str, image: str, package: str, version: str, severity: Severity = Severity.HIGH) -> Finding:
    return Finding(
        id=cve, kind=FindingKind.VULNERABILITY, severity=severity, title=f"{package}: a flaw", obj=f"image:{image}",
        package=PackageRef(name=package, version=version, type="deb", purl=f"pkg:deb/debian/{package}@{version}",
                           path="var/lib/dpkg/status", layer=LAYER),
        vulnerability=VulnerabilityInfo(state=VulnState.FIXED, installed=version, fixed="9.9",
                                        aliases=(cve.replace("CVE", "GHSA"),)),
    )


def _audit(daemon_id: str, name: str, containers: dict[str, str], findings: tuple[Finding, ...],
           failing: tuple[str, ...] = ("5.10",), *, reachable: bool = True, at: float = 100.0,
           ) -> tuple[Report, FleetRecorder]:
    """An audit report of a daemon running `containers` (name → image) and its recorder."""
    images = sorted(set(containers.values()))
    ids = {img: "sha256:" + hashlib.sha256(img.encode()).hexdigest() for img in images}
    snapshot = Snapshot(
        hostname="auditor", docker_host="unix:///run/d.sock",
        daemon=DaemonFacts(id=daemon_id, name=name) if reachable else None,
        containers=tuple(ContainerFacts(id=f"{n}-id", name=n, image=img, image_id=ids[img])
                         for n, img in containers.items()) if reachable else None,
        images=tuple(ImageFacts(id=ids[i]) for i in images) if reachable else None,
        image_scans=tuple(ImageScanSummary(image=i, image_id=ids[i]) for i in images) if reachable else None,
    )
    results = tuple(CheckResult(meta(c, f"check {c}", Severity.MEDIUM), Outcome.WARN) for c in failing)
    results += (CheckResult(meta("1.1.1", "passes", Severity.LOW), Outcome.PASS),)
    notes = () if reachable else (ReportNote(DAEMON_PART, NoteStatus.NOT_CHECKED, "refused"),)
    report = Report("0.test", at - 1, at, ReportSource(Surface.AUDIT, docker_host="unix:///run/d.sock",
                                                     hostname="auditor"),
                    results=results, findings=findings, notes=notes)
    recorder = FleetRecorder()
    recorder.snapshot(snapshot)
    return report, recorder


@pytest.fixture()
def store_url(tmp_path: Path):  # type: ignore[no-untyped-def]
    return parse_store_url(str(tmp_path / "fleet.sqlite"))


def test_two_hosts_where_a_cve_runs_and_what_changed(store_url) -> None:  # type: ignore[no-untyped-def]
    a1 = _audit("AAAA:1111", "node", {"web": "app:1", "db": "pg:15"},
                (_vuln("CVE-2024-1", "app:1", "openssl", "1.0"), _vuln("CVE-2024-2", "pg:15", "zlib", "1.2")))
    b1 = _audit("BBBB:2222", "node", {"api": "app:1"}, (_vuln("CVE-2024-1", "app:1", "openssl", "1.0"),),
                failing=("5.10", "2.1"))
    first_a = record_audit(store_url, *a1)
    record_audit(store_url, *b1)
    record_audit(store_url, *_audit("BBBB:2222", "node", {"api": "app:1"},  # the same again: nothing changed
                                    (_vuln("CVE-2024-1", "app:1", "openssl", "1.0"),), failing=("5.10", "2.1"),
                                    at=200.0))
    assert not first_a.hostname_only and first_a.host == HostIdentity("AAAA:1111", "node")

    report = open_fleet_report(store_url, parse_cves(["cve-2024-1"]))
    assert report.surface is Surface.FLEET and report.complete
    labels = sorted(h.label for h in report.source.hosts)
    assert labels == ["node@AAAA1111", "node@BBBB2222"]  # one hostname, two daemons: two hosts
    where = fleet_view(report).where
    assert [w.id for w in where] == ["CVE-2024-1"] and where[0].hosts == 2
    rows = {(loc.host, loc.containers, loc.image, loc.layer, loc.package, loc.version) for loc in where[0].locations}
    assert rows == {("node@AAAA1111", ("web",), "app:1", LAYER, "openssl", "1.0"),
                    ("node@BBBB2222", ("api",), "app:1", LAYER, "openssl", "1.0")}
    assert all(f.obj.endswith("/image:app:1") for f in report.findings)
    text = render(report, "text")
    assert "node@AAAA1111 → web → app:1" in text and "layer abababababab → openssl 1.0" in text
    # B's second audit equals its first: nothing is new (and nothing fixed).
    b_findings = [f for f in report.findings if f.fact("host") == "node@BBBB2222"]
    assert b_findings and all(f.change is None for f in b_findings)
    assert [h.previous_run != "" for h in report.source.hosts] == [False, True]

    # The alias answers too; an unknown CVE is a note, not an error.
    by_alias = open_fleet_report(store_url, parse_cves(["ghsa-2024-1", "CVE-1999-0"]))
    assert {f.id for f in by_alias.findings} == {"CVE-2024-1"}
    assert [n.part for n in by_alias.notes] == ["cve:CVE-1999-0"]

    # Host A: db removed, openssl upgraded, a new check fails.
    a2 = _audit("AAAA:1111", "node", {"web": "app:1"}, (_vuln("CVE-2024-3", "app:1", "curl", "7.0"),),
                failing=("5.10", "5.12"), at=300.0)
    record_audit(store_url, *a2)
    full = open_fleet_report(store_url)
    changes = {c.host: c for c in fleet_view(full).changes}
    a = changes["node@AAAA1111"]
    assert {f.id for f in a.new} == {"CVE-2024-3", "5.12"}
    assert {f.id for f in a.fixed} == {"CVE-2024-1", "CVE-2024-2"}
    assert all(f.suppressed == FIXED_REASON for f in a.fixed)
    assert changes["node@BBBB2222"].new == () and changes["node@BBBB2222"].fixed == ()
    view = fleet_view(full)
    assert view.checks[0].id == "5.10" and len(view.checks[0].hosts) == 2
    assert view.hosts[0].host.label in ("node@AAAA1111", "node@BBBB2222")
    text = render(full, "text")
    for heading in ("Worst hosts (2)", "Most common failing checks", "Images by severity",
                    "Where the top", "Since the previous audit"):
        assert heading in text
    doc = json.loads(render(full, "json"))
    assert doc["source"]["surface"] == "fleet" and len(doc["source"]["hosts"]) == 2
    sarif = json.loads(render(full, "sarif"))
    results = sarif["runs"][0]["results"]
    assert {r["ruleId"] for r in results} == {"CVE-2024-3", "5.10", "5.12", "2.1", "CVE-2024-1"}
    assert {r["ruleId"] for r in results if r.get("baselineState") == "new"} == {"CVE-2024-3", "5.12"}
    html = render(full, "html")
    assert 'id="fleet-where"' in html and "node@AAAA1111" in html


def test_unreachable_and_collect_only_hosts_make_the_report_incomplete(store_url) -> None:  # type: ignore[no-untyped-def]
    report, recorder = _audit("", "", {}, (), reachable=False)
    done = record_audit(store_url, report, recorder)
    assert done.hostname_only and done.host == HostIdentity("", "auditor")
    record_collect(store_url, Snapshot(hostname="x", daemon=DaemonFacts(id="CCCC", name="collected"),
                                       containers=(ContainerFacts(id="c1", name="c", image="i", image_id="sha256:1"),)))
    fleet = open_fleet_report(store_url)
    assert not fleet.complete
    notes = {n.part: n.status for n in fleet.notes}
    assert notes == {"host:auditor": NoteStatus.NOT_CHECKED, "host:collected": NoteStatus.NOT_CHECKED}
    with Store.open(store_url) as store:
        facts = read_fleet(store)
    collected = next(h for h in facts.hosts if h.label == "collected")
    assert collected.latest.latest is None and collected.collected is not None


def test_empty_store_and_bad_input(store_url, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from dockguard.errors import OperationalError

    with pytest.raises(OperationalError, match="no store at"):
        open_fleet_report(parse_store_url(str(tmp_path / "missing.sqlite")))
    Store.open(store_url).close()
    empty = open_fleet_report(store_url)
    assert [n.part for n in empty.notes] == ["fleet"] and not empty.complete
    for bad in ("", "CVE 1", "x" * 200, "CVE-1;DROP"):
        with pytest.raises(UsageError, match="--cve"):
            parse_cves([bad])
    assert parse_cves(["cve-1", "CVE-1"]) == ("CVE-1",)


def test_host_labels_only_disambiguate_shared_hostnames() -> None:
    hosts = [HostIdentity("A:B:C", "one"), HostIdentity("D", "two"), HostIdentity("", "two")]
    assert host_labels(hosts) == {hosts[0]: "one", hosts[1]: "two@D", hosts[2]: "two@no-daemon-id"}


def test_suppressed_findings_are_not_recorded(store_url) -> None:  # type: ignore[no-untyped-def]
    kept = _vuln("CVE-2024-9", "app:1", "bash", "5")
    report, recorder = _audit("EEEE", "solo", {"web": "app:1"},
                              (kept, replace(kept, id="CVE-2024-8", suppressed="VEX not_affected")))
    record_audit(store_url, *_with_inventories((report, recorder)))
    assert {f.id for f in open_fleet_report(store_url).findings if f.kind is FindingKind.VULNERABILITY} == {
        "CVE-2024-9"}
    # A rematch finds the accepted one again (and a new one): the audit's decision still holds.
    new = _vuln("CVE-2025-1", "app:1", "bash", "5")
    _rematch(store_url, _image_id("app:1"), [kept, replace(kept, id="CVE-2024-8"), new])
    assert {f.id for f in open_fleet_report(store_url).findings if f.kind is FindingKind.VULNERABILITY} == {
        "CVE-2024-9", "CVE-2025-1"}


def test_a_report_over_the_cap_keeps_the_checks_and_says_incomplete(store_url, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from dockguard.pipeline import fleet

    vulns = tuple(_vuln(f"CVE-2024-{i}", "app:1", f"p{i}", "1") for i in range(6))
    record_audit(store_url, *_audit("FFFF", "big", {"web": "app:1"}, vulns, failing=("1.1", "1.2", "1.3")))
    monkeypatch.setattr(fleet, "MAX_FINDINGS", 5)
    report = open_fleet_report(store_url)
    assert len(report.findings) == 5 and not report.complete
    assert sum(1 for f in report.findings if f.kind is FindingKind.CHECK) == 3
    assert [n.reason.split(" ")[0] for n in report.notes] == ["4"]


# -- the current findings of the images the hosts run ---------------------------------------


def _image_id(image: str) -> str:
    return "sha256:" + hashlib.sha256(image.encode()).hexdigest()


def _with_inventories(audit: tuple[Report, FleetRecorder]) -> tuple[Report, FleetRecorder]:
    """The audit as a real one records it: an inventory per scanned image."""
    from dockguard.pipeline.fleet import InventoryFacts

    report, recorder = audit
    assert recorder.snapshot_facts is not None
    for scan in recorder.snapshot_facts.image_scans or ():
        recorder.inventories[scan.image_id] = InventoryFacts({"os": None, "packages": []}, "key-" + scan.image, True, 1)
    return report, recorder


def _rematch(store_url, image_id: str, vulns: list[Finding]) -> str:  # type: ignore[no-untyped-def]
    """What `store rematch` records for one image: a complete rematch run replacing its vulnerabilities."""
    from dockguard.scale.image_adapter import VULNERABILITY, finding_row
    from dockguard.store import RunKind, RunStatus

    with Store.open(store_url) as store:
        run = store.start_run(RunKind.REMATCH, "test", {})
        store.replace_findings(run, image_id, [finding_row(v) for v in vulns], [VULNERABILITY], record_changes=True)
        store.finish_run(run, RunStatus.COMPLETE, {})
    return run


def test_a_cve_added_by_rematch_shows_on_every_host_running_the_image(store_url) -> None:  # type: ignore[no-untyped-def]
    old = _vuln("CVE-2024-1", "app:1", "openssl", "1.0")
    record_audit(store_url, *_with_inventories(_audit("AAAA", "a", {"web": "app:1", "db": "pg:15"}, (old,))))
    record_audit(store_url, *_with_inventories(_audit("BBBB", "b", {"api": "app:1"}, (old,))))
    audit_b2 = record_audit(store_url, *_with_inventories(_audit("BBBB", "b", {"api": "app:1"}, (old,), at=200.0)))
    assert open_fleet_report(store_url, parse_cves(["CVE-2025-7"])).findings == ()

    # A new advisory: openssl 1.0 is affected by CVE-2025-7 too; a rematch records it for app:1.
    new = _vuln("CVE-2025-7", "app:1", "openssl", "1.0", Severity.CRITICAL)
    run = _rematch(store_url, _image_id("app:1"), [old, new])
    report = open_fleet_report(store_url, parse_cves(["CVE-2025-7"]))
    where = fleet_view(report).where
    assert [w.id for w in where] == ["CVE-2025-7"] and where[0].hosts == 2
    assert {(loc.host, loc.containers, loc.image, loc.layer, loc.package) for loc in where[0].locations} == {
        ("a", ("web",), "app:1", LAYER, "openssl"), ("b", ("api",), "app:1", LAYER, "openssl")}
    assert all(f.fact("vulns_as_of").startswith(f"rematch {run} at ") for f in report.findings)
    assert all(f.fact("vulns_source") == "" for f in report.findings)  # the image ID's own findings
    assert all(f.severity is Severity.CRITICAL and f.vulnerability is not None
               and f.vulnerability.aliases == ("GHSA-2025-7",) for f in report.findings)
    # The rule: a vulnerability is new against what the host's previous audit recorded.
    assert {f.fact("host"): f.change for f in report.findings} == {"a": None, "b": Change.NEW}
    notes = [(n.part, n.status) for n in report.notes]
    assert notes == [("host:a", NoteStatus.WARNING), ("host:b", NoteStatus.WARNING)] and report.complete
    assert all(f"as of rematch {run}" in n.reason and "newer than the latest audit" in n.reason
               for n in report.notes)
    assert audit_b2.run in report.notes[1].reason

    # Checks and the images' other findings stay the audit's; pg:15 has no rematch and no
    # vulnerability (its audit found none): nothing is invented for it.
    full = open_fleet_report(store_url)
    assert {f.id for f in full.findings if f.fact("host") == "a"} == {"5.10", "CVE-2024-1", "CVE-2025-7"}
    unchanged = next(f for f in full.findings if f.fact("host") == "b" and f.id == "CVE-2024-1")
    assert unchanged.change is None

    # The next rematch finds openssl fixed: gone on both hosts, `fixed` on the one with a previous audit.
    _rematch(store_url, _image_id("app:1"), [])
    after = open_fleet_report(store_url)
    live = {(f.fact("host"), f.id) for f in after.findings if f.suppressed is None}
    assert live == {("a", "5.10"), ("b", "5.10")}
    assert {(f.fact("host"), f.id) for f in after.findings if f.change is Change.FIXED} == {("b", "CVE-2024-1")}


def test_the_audits_findings_stay_where_the_store_has_no_inventory(store_url) -> None:  # type: ignore[no-untyped-def]
    vuln = _vuln("CVE-2024-5", "app:1", "zlib", "1.2")
    record_audit(store_url, *_audit("AAAA", "old", {"web": "app:1"}, (vuln,)))  # no inventory (an old store)
    _rematch(store_url, _image_id("app:1"), [])  # findings without inventory: not an evaluation
    report = open_fleet_report(store_url)
    assert {f.id for f in report.findings} == {"5.10", "CVE-2024-5"}
    assert all(f.fact("vulns_as_of") == "" for f in report.findings) and report.notes == ()


def test_a_registry_scan_of_the_running_image_feeds_the_fleet(store_url) -> None:  # type: ignore[no-untyped-def]
    from dockguard.scale.image_adapter import CATALOGUER_KEY, finding_row
    from dockguard.store import ImageRow, LayerRow, RunKind, RunStatus

    image_id = _image_id("app:1")
    report, recorder = _audit("AAAA", "h", {"web": "app:1"}, ())
    assert recorder.snapshot_facts is not None  # the audit did not scan the image (--no-images)
    recorder.snapshot_facts = replace(recorder.snapshot_facts, image_scans=())
    record_audit(store_url, report, recorder)
    manifest = "sha256:" + "cd" * 32
    with Store.open(store_url) as store:
        run = store.start_run(RunKind.REGISTRY_SCAN, "reg", {})
        store.record_image(run, ImageRow(manifest, image_id, "m", "linux/amd64", (LayerRow(LAYER, LAYER, 1, "t"),)),
                           [])
        store.put_inventory(run, manifest, CATALOGUER_KEY, {}, complete=True, packages=1, match_key="k")
        store.replace_findings(run, manifest, [finding_row(_vuln("CVE-2024-6", "reg/app:1", "curl", "7"))], None)
        store.finish_run(run, RunStatus.COMPLETE, {})
    fleet = open_fleet_report(store_url, parse_cves(["CVE-2024-6"]))
    [f] = fleet.findings
    facts = (f.fact("host"), f.fact("containers"), f.fact("image"), f.fact("image_id"))
    assert facts == ("h", "web", "app:1", image_id)
    assert f.obj == "host:h/image:app:1" and f.fact("vulns_source") == manifest
    assert f.fact("vulns_as_of").startswith(f"registry-scan {run} at ")


def test_a_repo_digest_joins_a_registry_scanned_manifest(store_url) -> None:  # type: ignore[no-untyped-def]
    from dockguard.pipeline import fleet
    from dockguard.store import fleet as fleet_store

    manifest = "sha256:" + "ef" * 32
    with Store.open(store_url) as store:
        store.conn.write(lambda c: c.execute(
            "INSERT INTO inventories (image, cataloguer, complete, packages, match_key, doc_size, doc, run, stored) "
            "VALUES (?, 'old-cataloguer', 1, 0, 'k', 0, ?, 'r1', 5.0)", (manifest, b"")), "test")
        store.conn.write(lambda c: c.execute(
            "INSERT INTO images (digest, config_digest, media_type, platform, layer_count, size, config_size, "
            "config, first_seen, last_seen) VALUES (?, 'sha256:other', 'm', 'p', 0, 0, 0, ?, 1, 1)",
            (manifest, b"")), "test")
        found = fleet_store.current_vulnerabilities(
            store, {"sha256:local": (f"reg/app@{manifest}",), "sha256:unknown": ("reg/x@sha256:00",)},
            fleet.CHECK)
    assert list(found) == ["sha256:local"]
    assert (found["sha256:local"].source, found["sha256:local"].run, found["sha256:local"].vulns) == (
        manifest, "r1", ())
