"""The result store on both engines: a private PostgreSQL server and an SQLite file.

Migrations (from empty and from every earlier version, with data), concurrent writers in
separate processes, concurrent migration, documents read back with bounds, the fleet tables.
"""

from __future__ import annotations

import multiprocessing
import sqlite3
from pathlib import Path

import pytest

from dockguard.errors import OperationalError
from dockguard.inputs import InputError
from dockguard.store import (
    SCHEMA_VERSION,
    FindingRow,
    HostIdentity,
    ImageRef,
    ImageRow,
    ImageStatus,
    LayerFailureKind,
    LayerRow,
    RunKind,
    RunStatus,
    Store,
    parse_store_url,
)
from dockguard.store.backend import Connection
from dockguard.store.documents import pack
from dockguard.store.schema import MIGRATIONS, current_version, migrate
from tests.integration.scale_fixtures import dockguard

WRITERS = 4
IMAGES = 20


def image_row(i: int) -> ImageRow:
    base = LayerRow(f"sha256:{'b' * 64}", f"sha256:{'c' * 64}", 1000, "application/vnd.oci.image.layer.v1.tar+gzip")
    own = LayerRow(f"sha256:{i:064x}", f"sha256:{i + 10**6:064x}", 10 + i, "application/vnd.oci.image.layer.v1.tar")
    return ImageRow(f"sha256:{i + 10**7:064x}", f"sha256:{i + 10**8:064x}",
                    "application/vnd.oci.image.manifest.v1+json", "linux/amd64", (base, own),
                    {"config": {"User": str(i)}, "rootfs": {"diff_ids": []}})


def finding(i: int, cve: str) -> FindingRow:
    return FindingRow(f"{cve}-{i}", "vulnerability", cve, "HIGH", "pkg", "1.0", "1.1", {"id": cve, "image": i})


def write_same_images(url: str, barrier: multiprocessing.synchronize.Barrier, writer: int) -> None:
    """One of several processes writing the same images, layers and findings at once."""
    store = Store.open(url)
    try:
        run = store.start_run(RunKind.REGISTRY_SCAN, "registry.test", {"writer": writer})
        barrier.wait(timeout=60)
        for i in range(IMAGES):
            row = image_row(i)
            store.record_image(run, row, [ImageRef("registry.test", f"team/app{i % 3}", f"v{i}"),
                                          ImageRef("registry.test", "all/latest", f"w{writer}")])
            for layer in row.layers:
                store.put_layer_result(run, layer.diff_id, "layers-v3", b"payload-" + layer.diff_id.encode(), 9, (),
                                       digest=layer.digest, size=layer.size, media_type=layer.media_type)
            store.put_inventory(run, row.digest, "inv-1", {"packages": [{"name": "pkg", "i": i}]},
                                complete=True, packages=1, match_key=f"k{i % 2}")
            store.replace_findings(run, row.digest, [finding(i, "CVE-1"), finding(i, "CVE-2")], None)
            store.mark_image(run, row.digest, ImageStatus.STORED, "", {"writer": writer})
        store.finish_run(run, RunStatus.COMPLETE, {"images": IMAGES})
    finally:
        store.close()


def test_concurrent_writers_store_each_image_once(store_url: str) -> None:
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(WRITERS)
    procs = [ctx.Process(target=write_same_images, args=(store_url, barrier, w)) for w in range(WRITERS)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=180)
    assert [p.exitcode for p in procs] == [0] * WRITERS
    with Store.open(store_url) as store:
        c = store.conn
        assert c.one("SELECT COUNT(*) FROM images") == (IMAGES,)
        assert c.one("SELECT COUNT(DISTINCT image) FROM image_layers") == (IMAGES,)
        assert c.one("SELECT COUNT(*) FROM image_layers") == (2 * IMAGES,)
        assert c.one("SELECT COUNT(*) FROM layers") == (IMAGES + 1,)
        assert c.one("SELECT COUNT(*) FROM layers WHERE verified = 1") == (IMAGES + 1,)
        assert c.one("SELECT COUNT(*) FROM layer_results") == (IMAGES + 1,)
        assert c.one("SELECT COUNT(*) FROM inventories") == (IMAGES,)
        assert c.one("SELECT COUNT(*) FROM findings") == (2 * IMAGES,)
        # every tag once, plus the one tag each writer moved to every image in turn
        assert c.one("SELECT COUNT(*) FROM image_refs WHERE repository <> 'all/latest'") == (IMAGES,)
        assert c.one("SELECT COUNT(*) FROM image_refs WHERE repository = 'all/latest'") == (WRITERS * IMAGES,)
        assert c.one("SELECT COUNT(*) FROM runs WHERE status = 'complete'") == (WRITERS,)
        assert c.one("SELECT COUNT(*) FROM run_images") == (WRITERS * IMAGES,)
        groups = store.inventory_groups("inv-1")
        assert [(k, len(v)) for k, v in groups] == [("k0", IMAGES // 2), ("k1", IMAGES // 2)]
        st = store.status()
        assert st.images == IMAGES and st.layers_distinct == IMAGES + 1
        assert st.dedupe_factor == pytest.approx(2 * IMAGES / (IMAGES + 1))
        assert store.image(image_row(3).digest) == image_row(3)
        assert store.image(image_row(3).digest).config == image_row(3).config  # type: ignore[union-attr]


def open_and_migrate(url: str, barrier: multiprocessing.synchronize.Barrier) -> None:
    barrier.wait(timeout=60)
    Store.open(url).close()


def test_concurrent_first_opens_migrate_once(store_url: str) -> None:
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(WRITERS)
    procs = [ctx.Process(target=open_and_migrate, args=(store_url, barrier)) for _ in range(WRITERS)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    assert [p.exitcode for p in procs] == [0] * WRITERS
    conn = Connection(parse_store_url(store_url))
    try:
        versions = [r[0] for r in conn.execute("SELECT version FROM schema_version ORDER BY version")]
        assert versions == list(range(1, SCHEMA_VERSION + 1))
    finally:
        conn.close()


def switch_to_wal(path: str, barrier: multiprocessing.synchronize.Barrier) -> None:
    from dockguard.store.backend import _enable_wal

    barrier.wait(timeout=60)
    conn = sqlite3.connect(path, timeout=60, isolation_level=None)
    _enable_wal(conn)
    conn.close()


def test_many_processes_opening_a_new_sqlite_store_all_get_wal(tmp_path: Path) -> None:
    """SQLite refuses a concurrent journal-mode switch with "database is locked" at once (no
    busy wait): with 8 processes on a new file, raw `PRAGMA journal_mode=WAL` failed in 6 of
    160 opens here.  The store retries it."""
    ctx = multiprocessing.get_context("spawn")
    for trial in range(5):
        path = str(tmp_path / f"s{trial}.sqlite")
        barrier = ctx.Barrier(8)
        procs = [ctx.Process(target=switch_to_wal, args=(path, barrier)) for _ in range(8)]
        for p in procs:
            p.start()
        for p in procs:
            p.join(timeout=120)
        assert [p.exitcode for p in procs] == [0] * 8
        assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def _fill(conn: Connection, version: int) -> None:
    """Rows as a dockguard at schema `version` wrote them (raw SQL of that version)."""
    blob, size = pack({"config": {"User": "app"}})
    conn.execute("INSERT INTO runs (id, kind, target, options, tool_version, started, status, summary) "
                 "VALUES ('00aa00aa00aa00aa', 'registry-scan', 'reg.test', '{}', '0.0.1', 100.0, 'complete', '{}')")
    conn.execute("INSERT INTO images (digest, config_digest, media_type, platform, layer_count, size, config_size, "
                 "config, first_seen, last_seen) VALUES ('sha256:i1', 'sha256:c1', 'm', 'linux/amd64', 0, 0, ?, ?, "
                 "1.0, 2.0)", (size, blob))
    conn.execute("INSERT INTO findings (image, fkey, kind, id, severity, package, version, fixed, doc, run, stored) "
                 "VALUES ('sha256:i1', 'k1', 'vulnerability', 'CVE-1', 'HIGH', 'p', '1', '2', '{\"id\": \"CVE-1\"}', "
                 "'00aa00aa00aa00aa', 123.5)")
    if version >= 2:  # a version-2 writer sets first_seen itself
        conn.execute("UPDATE findings SET first_seen = 123.5")
    if version >= 2:
        conn.execute("INSERT INTO finding_changes (run, image, fkey, change, kind, id, severity, package, version, "
                     "doc) VALUES ('00aa00aa00aa00aa', 'sha256:i1', 'k1', 'new', 'vulnerability', 'CVE-1', 'HIGH', "
                     "'p', '1', '{}')")


@pytest.mark.parametrize("start", range(0, SCHEMA_VERSION))
def test_upgrade_from_each_version(store_url: str, start: int) -> None:
    conn = Connection(parse_store_url(store_url))
    try:
        if start:
            assert migrate(conn, start) == (0, start)
            assert current_version(conn) == start
            _fill(conn, start)
        assert migrate(conn) == (start, SCHEMA_VERSION)
        assert migrate(conn) == (SCHEMA_VERSION, SCHEMA_VERSION)  # idempotent
        versions = conn.execute("SELECT version, description FROM schema_version ORDER BY version")
        assert versions == [(m.version, m.description) for m in MIGRATIONS]
    finally:
        conn.close()
    with Store.open(store_url) as store:
        if start:
            # version 2 filled first_seen from stored for findings written before it
            assert store.conn.one("SELECT first_seen FROM findings WHERE fkey = 'k1'") == (123.5,)
            assert [f.id for f in store.findings("sha256:i1")] == ["CVE-1"]
            assert store.image("sha256:i1") is not None
            run = store.run("00aa00aa")
            assert run is not None and run.status is RunStatus.COMPLETE
        # the newest tables work after the upgrade
        host = HostIdentity("ABCD:EFGH", "node-1")
        store.record_host_snapshot("00aa00aa00aa00aa", host, 5.0, {"facts": {"x": 1}})
        assert store.host_documents(host, "snapshots") == [("00aa00aa00aa00aa", 5.0, {"facts": {"x": 1}})]


def test_newer_store_is_refused(store_url: str) -> None:
    Store.open(store_url).close()
    conn = Connection(parse_store_url(store_url))
    try:
        conn.execute("INSERT INTO schema_version (version, description, applied, tool_version) "
                     "VALUES (99, 'from the future', 0, '9.9')")
    finally:
        conn.close()
    with pytest.raises(OperationalError, match=f"schema version 99, newer than the {SCHEMA_VERSION}"):
        Store.open(store_url)


def test_documents_are_read_back_with_bounds(store_url: str) -> None:
    with Store.open(store_url) as store:
        run = store.start_run(RunKind.REGISTRY_SCAN, "reg.test", {})
        row = image_row(1)
        store.record_image(run, row, [ImageRef("reg.test", "a", "1")])
        store.put_inventory(run, row.digest, "inv", {"packages": []}, complete=True, packages=0, match_key="k")
        assert store.inventory(row.digest, "inv") == {"packages": []}

        def tamper(blob: bytes, size: int) -> None:
            store.conn.execute("UPDATE inventories SET doc = ?, doc_size = ? WHERE image = ?", (blob, size, row.digest))

        import zstandard

        z = zstandard.ZstdCompressor()
        tamper(b"not zstd", 8)
        with pytest.raises(InputError, match="damaged stored document"):
            store.inventory(row.digest, "inv")
        tamper(z.compress(b"\0" * (64 << 20)), 10)  # a bomb claiming 10 bytes: 11 are decompressed
        with pytest.raises(InputError, match="11 bytes where 10 were stored"):
            store.inventory(row.digest, "inv")
        tamper(b"x", 1 << 40)  # refused before anything is decompressed
        with pytest.raises(InputError, match="more than the"):
            store.inventory(row.digest, "inv")
        deep = b"[" * 100 + b"]" * 100
        tamper(z.compress(deep), len(deep))
        with pytest.raises(InputError, match="nested deeper"):
            store.inventory(row.digest, "inv")
        tamper(z.compress(b"[1, 2]"), 6)
        with pytest.raises(InputError, match="not a JSON object"):
            store.inventory(row.digest, "inv")
        store.conn.execute("UPDATE findings SET doc = '{' WHERE image = ?", (row.digest,))
        store.conn.execute("UPDATE runs SET summary = '[' WHERE id = ?", (run,))
        with pytest.raises(InputError, match=f"run {run}"):
            store.run(run)


def test_findings_replacement_and_text_hygiene(store_url: str) -> None:
    with Store.open(store_url) as store:
        run = store.start_run(RunKind.REGISTRY_SCAN, "reg\x00evil\udc80", {})
        image = image_row(2).digest
        store.record_image(run, image_row(2), [ImageRef("reg.test", "a", "1")])
        nasty = FindingRow("k-nasty", "vulnerability", "CVE-\x00-\udc80", "HIGH", "p\x00", "1", "",
                           {"title": "\x00\udc80"})
        first = store.replace_findings(run, image, [finding(2, "CVE-1"), nasty], None)
        assert {r.id for r in first.new} == {"CVE-1", "CVE-\x00-\udc80"}
        config = FindingRow("cfg", "image-config", "IMG-ROOT", "MEDIUM", "", "", "", {})
        store.replace_findings(run, image, [config], ["image-config"])
        second = store.replace_findings(run, image, [finding(2, "CVE-2")], ["vulnerability"], record_changes=True)
        assert [r.id for r in second.new] == ["CVE-2"]
        assert sorted(r.fkey for r in second.fixed) == ["CVE-1-2", "k-nasty"]
        assert sorted(f.id for f in store.findings(image)) == ["CVE-2", "IMG-ROOT"]
        changes = store.finding_changes(run)
        assert sorted((c, r.id) for _, c, r in changes) == [
            ("fixed", "CVE-1"), ("fixed", "CVE-\\x00-\\udc80"), ("new", "CVE-2")]
        info = store.run(run[:8])
        assert info is not None and info.target == "reg\\x00evil\\udc80"


def test_layer_results_and_failures(store_url: str) -> None:
    with Store.open(store_url) as store:
        run = store.start_run(RunKind.REGISTRY_SCAN, "reg.test", {})
        store.put_layer_result(run, "sha256:d1", "v3", b"abc", 7, ["a file over its cap"], digest="sha256:g1",
                               size=3, media_type="m")
        store.put_layer_result(run, "sha256:d1", "v3", b"other", 9, [], digest="sha256:g1b", size=5,
                               media_type="m")  # first analysis wins; both blobs are verified
        assert store.reusable_layers("v3", [("sha256:d1", "sha256:g1"), ("sha256:d1", "sha256:g1b"),
                                            ("sha256:d1", "sha256:forged")]) == {
            ("sha256:d1", "sha256:g1"), ("sha256:d1", "sha256:g1b")}
        store.put_layer_failure(run, "sha256:g2", "sha256:d2", "v3", LayerFailureKind.MISMATCH, "forged")
        assert store.stored_layers("v3", ["sha256:d1", "sha256:d2"]) == {"sha256:d1"}
        assert store.stored_layers("v4", ["sha256:d1"]) == set()
        info = store.layer_result_info("sha256:d1", "v3")
        assert info is not None and (info.held, info.payload_size, info.complete) == (7, 3, False)
        assert info.incomplete == ("a file over its cap",)
        assert store.layer_payload("sha256:d1", "v3") == b"abc"
        assert store.failed_layers("v3", ["sha256:g2"]) == {("sha256:g2", "sha256:d2"): ("mismatch", "forged")}


def test_cli_status_and_unusable_store_paths(tmp_path: Path) -> None:
    empty = tmp_path / "none.sqlite"
    r = dockguard(["store", "status", "--store", str(empty)])
    assert r.returncode == 2 and "no store at" in r.stderr and "internal error" not in r.stderr
    (tmp_path / "dir").mkdir()
    r = dockguard(["store", "status", "--store", str(tmp_path / "dir")])
    assert r.returncode == 2 and "not a regular file" in r.stderr, r.stderr
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"this is not sqlite" * 100)
    r = dockguard(["store", "status", "--store", str(junk)])
    assert r.returncode == 2 and "store" in r.stderr and "internal error" not in r.stderr, r.stderr
    r = dockguard(["store", "status", "--store", "mysql://x/y"])
    assert r.returncode == 2 and "unsupported store mysql://" in r.stderr
    r = dockguard(["store", "status", "--store", "postgresql://dockguard@127.0.0.1:1/none"])
    assert r.returncode == 2 and "cannot connect" in r.stderr and "internal error" not in r.stderr
    good = tmp_path / "good.sqlite"
    with Store.open(str(good)) as store:
        store.start_run(RunKind.REGISTRY_SCAN, "reg.test", {})
    r = dockguard(["store", "status", "--store", str(good), "--format", "json"])
    assert r.returncode == 0, r.stderr
    assert f'"schema_version": {SCHEMA_VERSION}' in r.stdout and '"runs": 1' in r.stdout
    assert sqlite3.connect(good).execute("PRAGMA journal_mode").fetchone() == ("wal",)
