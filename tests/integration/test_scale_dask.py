"""Registry scans on Dask: a local cluster (``--workers``) and a real scheduler with two worker
processes started with the ``dask`` CLI, one of which is killed while tasks run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dockguard.store import Store
from tests.integration.registry import Registry, start_registry
from tests.integration.scale_fixtures import (
    DISTS,
    Fleet,
    PostgresServer,
    build_db,
    dockguard,
    push_fleet,
    scan_facts,
    start_dask,
)

pytestmark = pytest.mark.slow
COUNT = 50


@pytest.fixture(scope="module")
def fleet_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Registry, Fleet]]:
    reg = start_registry(tmp_path_factory.mktemp("dask-registry"))
    try:
        yield reg, push_fleet(reg.url, COUNT, repos=4)
    finally:
        reg.stop()


@pytest.fixture(scope="module")
def vulndb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("vulndb")
    return build_db(d / "vuln.db", d / "osv", tuple(DISTS))


def env(**extra: str) -> dict[str, str]:
    e = {k: v for k, v in os.environ.items() if k != "DOCKGUARD_DEBUG"}
    e["DOCKER_CONFIG"] = "/nonexistent-docker-config"
    return {**e, **extra}


def per_image(store_url: str) -> dict[str, list[tuple[str, str, str]]]:
    with Store.open(store_url) as store:
        digests = [str(r[0]) for r in store.conn.execute("SELECT digest FROM images ORDER BY digest")]
        return {d: sorted((f.kind, f.id, f.package) for f in store.findings(d)) for d in digests}


def test_local_cluster_gives_the_in_process_result(fleet_registry: tuple[Registry, Fleet], vulndb: Path,
                                                   tmp_path: Path) -> None:
    reg, fleet = fleet_registry
    results = {}
    for name, extra in (("inline", []), ("cluster", ["--workers", "2"])):
        store = str(tmp_path / f"{name}.sqlite")
        r = dockguard(["registry", "scan", reg.host, "--store", store, "--db", str(vulndb), "--format", "json",
                       *extra], env=env())
        assert r.returncode == 0, r.stderr
        assert "internal error" not in r.stderr
        doc = scan_facts(json.loads(r.stdout))
        assert len(doc["images"]) == COUNT and doc["status"] == "complete"
        results[name] = (doc, per_image(store))
    (inline, inline_findings), (cluster, cluster_findings) = results["inline"], results["cluster"]
    assert cluster["engine"] == "local Dask cluster of 2 worker processes" and cluster["workers"] == 2
    assert inline["engine"] == "in-process"
    assert cluster["layers_analysed"] == inline["layers_analysed"] == len(fleet.distinct_diff_ids)
    assert cluster_findings == inline_findings and len(cluster_findings) == COUNT
    assert sum(len(v) for v in cluster_findings.values()) > COUNT


def test_worker_killed_mid_run(fleet_registry: tuple[Registry, Fleet], vulndb: Path, postgres: PostgresServer,
                               tmp_path: Path) -> None:
    reg, fleet = fleet_registry
    store_url = postgres.create_database("dg_dask_kill")
    cluster = start_dask(tmp_path / "dask", env(DOCKGUARD_TEST_TASK_DELAY="0.25"), workers=2)
    try:
        victim = cluster.workers[0]
        scan = subprocess.Popen(
            [str(Path(sys.executable).parent / "dockguard"), "registry", "scan", reg.host, "--store", store_url,
             "--db", str(vulndb), "--scheduler", cluster.address, "--format", "json"],
            env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 120
        stored = 0
        while time.monotonic() < deadline and scan.poll() is None:
            try:
                with Store.open(store_url) as store:
                    stored = int(str(store.conn.execute("SELECT COUNT(*) FROM layer_results")[0][0]))
            except Exception:
                stored = 0
            if stored >= 4:
                break
            time.sleep(0.1)
        assert scan.poll() is None and 4 <= stored < len(fleet.distinct_diff_ids), "nothing to interrupt"
        victim.send_signal(signal.SIGKILL)
        assert victim.wait(timeout=30) == -signal.SIGKILL
        out, err = scan.communicate(timeout=300)
    finally:
        if "scan" in locals() and scan.poll() is None:
            scan.kill()
            scan.communicate()
        cluster.stop()
    assert scan.returncode == 0, err
    assert "internal error" not in err
    doc = scan_facts(json.loads(out))
    assert doc["status"] == "complete" and doc["errors"] == []
    assert doc["engine"] == f"Dask scheduler {cluster.address}" and doc["workers"] == 2
    assert sorted(i["digest"] for i in doc["images"]) == sorted(fleet.digests)
    with Store.open(store_url) as store:
        c = store.conn
        # every image stored exactly once, every layer analysed once, nothing lost with the worker
        assert c.one("SELECT COUNT(*), COUNT(DISTINCT digest) FROM images") == (COUNT, COUNT)
        assert c.one("SELECT COUNT(*) FROM run_images WHERE run = ? AND status = 'stored'", (doc["run"],)) == (COUNT,)
        assert c.one("SELECT COUNT(*) FROM inventories") == (COUNT,)
        assert c.one("SELECT COUNT(*) FROM layer_results") == (len(fleet.distinct_diff_ids),)
        dupes = c.execute("SELECT image, fkey, COUNT(*) FROM findings GROUP BY image, fkey HAVING COUNT(*) > 1")
        assert dupes == []
    assert "worker0" in cluster.log("scheduler") or "Remove worker" in cluster.log("scheduler")


def test_remote_scheduler_rules(tmp_path: Path, vulndb: Path) -> None:
    r = dockguard(["registry", "scan", "127.0.0.1:5000", "--db", str(vulndb), "--store",
                   "postgresql://u:pw@127.0.0.1:1/db", "--scheduler", "tcp://127.0.0.1:1"], env=env())
    assert r.returncode == 2 and "PGPASSWORD" in r.stderr and "pw@" not in r.stderr
    r = dockguard(["registry", "scan", "127.0.0.1:1", "--db", str(vulndb), "--store", str(tmp_path / "s.sqlite"),
                   "--scheduler", "tcp://127.0.0.1:1"], env=env(), timeout=120)
    assert r.returncode == 2 and "internal error" not in r.stderr, r.stderr
