"""``dockguard store rematch``: stored inventories against a newer database, with the registry
gone — the result must equal a fresh scan with that database, and say what changed."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from dockguard.store import Store
from tests.integration.registry import start_registry
from tests.integration.scale_fixtures import PostgresServer, build_db, dockguard, push_fleet

COUNT = 12


@pytest.fixture(scope="module")
def databases(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("dbs")
    return {name: build_db(d / f"{name}.db", d / f"osv-{name}", packages) for name, packages in (
        ("jinja2", ("jinja2",)), ("both", ("jinja2", "urllib3")), ("urllib3", ("urllib3",)))}


_n = iter(range(1_000_000))


@pytest.fixture(params=["sqlite", "postgresql"])
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str]:
    """Two fresh stores of one engine: one to re-match, one for fresh scans to compare with."""
    if request.param == "sqlite":
        return str(tmp_path / "a.sqlite"), str(tmp_path / "b.sqlite")
    server: PostgresServer = request.getfixturevalue("postgres")
    n = next(_n)
    return server.create_database(f"dg_rm_a{n}"), server.create_database(f"dg_rm_b{n}")


def env() -> dict[str, str]:
    return {**{k: v for k, v in os.environ.items() if k != "DOCKGUARD_DEBUG"},
            "DOCKER_CONFIG": "/nonexistent-docker-config"}


def vulns(store_url: str) -> dict[str, set[str]]:
    with Store.open(store_url) as store:
        digests = [str(r[0]) for r in store.conn.execute("SELECT digest FROM images")]
        return {d: {f"{f.id}/{f.package}" for f in store.findings(d, ["vulnerability"])} for d in digests}


def test_rematch_equals_a_fresh_scan(tmp_path: Path, databases: dict[str, Path], stores: tuple[str, str]) -> None:
    store, fresh = stores
    reg = start_registry(tmp_path / "registry")
    try:
        push_fleet(reg.url, COUNT, repos=3, with_indexes=False)
        r = dockguard(["registry", "scan", reg.host, "--store", store, "--db", str(databases["jinja2"])], env=env())
        assert r.returncode == 0, r.stderr
        expected = {}
        for name in ("both", "urllib3"):
            r = dockguard(["registry", "scan", reg.host, "--store", fresh, "--db", str(databases[name])], env=env())
            assert r.returncode == 0, r.stderr
            expected[name] = vulns(fresh)
        with Store.open(store) as s:
            config_before = {d: sorted(f.fkey for f in s.findings(d) if f.kind != "vulnerability")
                             for d in vulns(store)}
    finally:
        reg.stop()  # from here on, no registry: re-matching needs none
    before = vulns(store)
    assert all(all(v.endswith("/jinja2") for v in found) for found in before.values())

    r = dockguard(["store", "rematch", "--store", store, "--db", str(databases["both"]), "--format", "json"],
                  env=env())
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    after = vulns(store)
    assert after == expected["both"]
    assert doc["images"] == COUNT and doc["fixed"] == 0
    assert doc["distinct_inventories"] < COUNT  # images with the same packages are matched once
    new = {c["digest"]: {f"{f['id']}/{f['package']}" for f in c["new"]} for c in doc["changed"]}
    assert new == {d: after[d] - before[d] for d in after if after[d] - before[d]}
    assert doc["new"] == sum(len(v) for v in new.values()) > 0
    assert all(v.endswith("/urllib3") for found in new.values() for v in found)

    r = dockguard(["store", "rematch", "--store", store, "--db", str(databases["urllib3"])], env=env())
    assert r.returncode == 0, r.stderr
    assert "fixed:" in r.stdout and "  - " in r.stdout
    assert vulns(store) == expected["urllib3"]
    with Store.open(store) as s:
        runs = s.runs(10)
        assert [x.kind.value for x in runs[:2]] == ["rematch", "rematch"]
        changes = s.finding_changes(runs[0].id)
        fixed = {(d, f"{f.id}/{f.package}") for d, change, f in changes if change == "fixed"}
        assert fixed == {(d, v) for d in after for v in after[d] - expected["urllib3"][d]}
        assert all(change == "fixed" for _, change, _ in changes)
        # configuration findings are the image's own: a re-match keeps them
        assert {d: sorted(f.fkey for f in s.findings(d) if f.kind != "vulnerability") for d in after} == config_before
    r = dockguard(["store", "rematch", "--store", store, "--db", str(tmp_path / "none.db")], env=env())
    assert r.returncode == 2 and "no vulnerability database" in r.stderr


def test_rematch_of_a_tampered_store(tmp_path: Path, databases: dict[str, Path]) -> None:
    store = str(tmp_path / "s.sqlite")
    reg = start_registry(tmp_path / "registry")
    try:
        push_fleet(reg.url, 3, repos=1, with_indexes=False)
        r = dockguard(["registry", "scan", reg.host, "--store", store, "--db", str(databases["both"])], env=env())
        assert r.returncode == 0, r.stderr
    finally:
        reg.stop()
    import sqlite3

    import zstandard

    doc = json.dumps({"os": None, "packages": [{"type": "pypi", "name": 5}]}).encode()
    with sqlite3.connect(store) as conn:
        conn.execute("UPDATE inventories SET doc = ?, doc_size = ?",
                     (zstandard.ZstdCompressor().compress(doc), len(doc)))
    r = dockguard(["store", "rematch", "--store", store, "--db", str(databases["both"])], env=env())
    assert r.returncode == 2
    assert "inventory of sha256:" in r.stderr and "$.packages[0].name" in r.stderr
    assert "internal error" not in r.stderr and "Traceback" not in r.stderr
