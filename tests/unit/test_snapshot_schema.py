"""Snapshot schema 2, and schema 1 files migrated on load.

``data/snapshot_schema1.json`` is a real schema 1 snapshot: ``dockguard collect`` (commit
1f23a5f) of a private dockerd started with ``--host=tcp://127.0.0.1:PORT`` and
``--insecure-registry registry.invalid:5000``, running containers ``plain``,
``unconfined`` (seccomp=unconfined) and ``inline`` (an allow-all inline profile), and a created
``priv`` (privileged).  ``data/snapshot_schema1.verdicts.json`` holds what that dockguard's
``bench --snapshot`` said about it.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any

import pytest

from dockguard.checks.catalogue import catalogue
from dockguard.engine import Options
from dockguard.errors import OperationalError
from dockguard.model import CheckResult, Outcome, Report, Severity, StepStatus
from dockguard.pipeline.bench import BenchRequest, assemble, run_bench, snapshot_findings
from dockguard.snapshot import (
    SCHEMA_VERSION,
    ConfigSource,
    ImageScanSummary,
    SeccompKind,
    Snapshot,
    TcpListener,
)

DATA = Path(__file__).parent / "data"
SCHEMA_1 = DATA / "snapshot_schema1.json"


def _raw() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(SCHEMA_1.read_text())
    return data


def _results(report: Report) -> dict[str, CheckResult]:
    return {r.id: r for r in report.results}


def test_schema_1_file_is_migrated_to_typed_facts() -> None:
    raw = _raw()
    assert raw["schema_version"] == 1 and "endpoint_probe" in raw["extras"]
    snap = Snapshot.load(SCHEMA_1)
    assert snap.schema_version == SCHEMA_VERSION == 2
    # The endpoint probe: facts, no verdict.
    assert snap.endpoint_probes is not None and len(snap.endpoint_probes) == 1
    probe = snap.endpoint_probes[0]
    assert probe.address == raw["extras"]["endpoint_probe"][0]["address"]
    assert probe.plain_http is True and probe.client_verification is None and probe.reachable
    assert [f.id for f in probe.findings] == ["endpoint.plain-http"]
    assert dict((s.name, s.status) for s in probe.steps)["plain-http"] is StepStatus.COMPLETED
    # Each container's seccomp setting, classified once.
    assert snap.containers is not None
    kinds = {c.name: c.seccomp.kind for c in snap.containers if c.seccomp is not None}
    assert kinds == {"plain": SeccompKind.DEFAULT, "unconfined": SeccompKind.UNCONFINED,
                     "inline": SeccompKind.INLINE, "priv": SeccompKind.PRIVILEGED}
    inline = next(c for c in snap.containers if c.name == "inline")
    assert inline.seccomp is not None and inline.seccomp.profile is not None
    assert json.loads(inline.seccomp.profile)["defaultAction"] == "SCMP_ACT_ALLOW"
    assert inline.seccomp.daemon_profile == "default"
    # The daemon's sockets and listeners, worked out from its configuration.
    hosts = raw["daemon"]["config"]["values"]["hosts"]["value"]
    assert snap.host is not None
    assert snap.host.docker_sockets == (hosts[0].removeprefix("unix://"),)
    assert snap.host.docker_tcp_listeners == (TcpListener(hosts[1], ConfigSource.FLAG),)
    assert snap.image_scans is None
    # Saved again it is a schema 2 file that reads back the same.
    again = Snapshot.from_json(snap.to_json())
    assert again == snap and json.loads(snap.to_json())["schema_version"] == 2
    assert "extras" not in json.loads(snap.to_json())


def test_schema_1_file_keeps_its_verdicts() -> None:
    before = json.loads((DATA / "snapshot_schema1.verdicts.json").read_text())
    report = run_bench(BenchRequest(catalogue(), snapshot_file=str(SCHEMA_1)))
    outcomes = {r.id: r.outcome.value for r in report.results}
    assert outcomes == before["outcomes"]
    assert sorted(f.id for f in report.findings) == before["findings"]
    results = _results(report)
    # 2.7 now decides from the probe's facts; same verdict and words as the collector's was.
    probe_detail = results["2.7"].details[-1]
    assert probe_detail.outcome is Outcome.WARN
    assert probe_detail.message == "probe: the Docker API answers plain HTTP without any authentication"
    # 5.22 reads the migrated settings: the allow-all inline profile and unconfined warn.
    warned = {d.obj for d in results["5.22"].details if d.outcome is Outcome.WARN}
    assert warned == {"container:inline", "container:unconfined"}
    # 3.15/3.16 look at the daemon's own socket, as collected.
    assert results["3.15"].details[0].obj == "file:" + _raw()["daemon"]["config"]["values"]["hosts"]["value"][0][7:]
    # Sanctioned change: no WARN detail under a manual check's NOTE.
    assert results["2.1"].outcome is Outcome.NOTE
    assert [d.outcome for d in results["2.1"].details] == [Outcome.INFO]


def test_schema_1_doubled_slash_socket_is_found_under_the_normal_path(tmp_path: Path) -> None:
    raw = _raw()
    sock = raw["daemon"]["config"]["values"]["hosts"]["value"][0].removeprefix("unix://")
    doubled = sock.replace("/docker.sock", "//docker.sock/")
    raw["daemon"]["config"]["values"]["hosts"]["value"][0] = "unix://" + doubled
    fact = raw["host"]["files"].pop(sock)
    raw["host"]["files"][doubled] = {**fact, "path": doubled}
    path = tmp_path / "doubled.json"
    path.write_text(json.dumps(raw))
    snap = Snapshot.load(path)
    assert snap.host is not None and snap.host.docker_sockets == (sock,)
    results = _results(run_bench(BenchRequest(catalogue(), snapshot_file=str(path))))
    for cid in ("3.15", "3.16"):
        assert results[cid].outcome is Outcome.PASS, (cid, results[cid].reason)
        assert results[cid].details[0].obj == f"file:{sock}"


def test_schema_2_refuses_schema_1_extras() -> None:
    raw = _raw()
    raw["schema_version"] = 2
    with pytest.raises(OperationalError, match="unknown key"):
        Snapshot.from_json(json.dumps(raw))


@pytest.mark.parametrize(
    ("field", "value", "path"),
    [
        ("endpoint_probes", "garbage", "$.endpoint_probes"),
        ("endpoint_probes", [{"address": "tcp://h:1", "plain_http": "yes"}], "$.endpoint_probes[0].plain_http"),
        ("image_scans", [{"image": "a", "vulnerabilities": {"BAD": 1}}], "$.image_scans[0].vulnerabilities"),
        ("image_scans", [{"image": "a", "vulnerabilities": {"HIGH": -0.5}}], "$.image_scans[0].vulnerabilities.HIGH"),
    ],
)
def test_schema_2_typed_fields_refuse_wrong_types(field: str, value: object, path: str) -> None:
    with pytest.raises(OperationalError, match="snapshot is malformed") as err:
        Snapshot.from_json(json.dumps({"schema_version": 2, field: value}))
    assert path in str(err.value)


def test_seccomp_kind_and_config_source_are_enums_in_the_file() -> None:
    doc = {"schema_version": 2, "containers": [{"id": "a", "name": "a", "seccomp": {"kind": "maybe"}}]}
    with pytest.raises(OperationalError, match=r"\$\.containers\[0\]\.seccomp\.kind"):
        Snapshot.from_json(json.dumps(doc))
    doc = {"schema_version": 2, "daemon": {"config": {"values": {"icc": {"value": False, "source": "policy"}}}}}
    with pytest.raises(OperationalError, match="not a valid ConfigSource"):
        Snapshot.from_json(json.dumps(doc))


def test_bench_of_an_audit_snapshot_gives_the_same_image_verdicts(tmp_path: Path) -> None:
    """Image scans are facts in the snapshot: evaluated where audit made them, or later from
    the saved file, 4.4/4.8/4.10 say the same."""
    scans = (
        ImageScanSummary("app:1", "sha256:1", vulnerabilities={Severity.CRITICAL: 1},
                         setuid_files=("/bin/su",), secrets=("ENV K: A***",)),
        ImageScanSummary("part:1", "sha256:2", complete=False, not_read=("layer 2",), vulnerabilities={}),
    )
    snap = Snapshot.load(SCHEMA_1)
    audited = dataclasses.replace(snap, image_scans=scans)
    live = assemble(audited, catalogue(), Options(), started=time.time(), findings=snapshot_findings(audited))
    path = tmp_path / "audit-snapshot.json"
    audited.save(path)
    offline = run_bench(BenchRequest(catalogue(), snapshot_file=str(path)))
    for cid in ("4.4", "4.8", "4.10"):
        a, b = _results(live)[cid], _results(offline)[cid]
        assert (a.outcome, a.details, a.reason) == (b.outcome, b.details, b.reason), cid
        assert a.outcome is Outcome.INFO
        assert any(d.outcome is Outcome.NA and "incomplete" in d.message for d in a.details), cid
