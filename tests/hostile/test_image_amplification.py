"""Amplification: a few MB of image must not cost gigabytes of memory or unbounded time.

Each test builds the hostile image on disk (streamed, compressed), runs the real CLI and
asserts the exit code, the message, peak RSS under `MAX_RSS_MIB` and a bounded wall time.
"""

from __future__ import annotations

import gzip
import json
import random
import sqlite3
import tarfile
from pathlib import Path
from typing import Any

from tests.hostile.harness import MAX_RSS_MIB, CliRun, run_cli
from tests.hostile.image_inputs import (
    DEMO_META,
    DEMO_PATH,
    OS_RELEASE,
    Fill,
    M,
    config_for,
    docker_save,
    empty_files_layer,
    good_layers,
    oci_layout,
    put_blob,
    write_layer,
)
from tests.image_json import complete, incomplete

MiB = 1024 * 1024
#: 4 KiB of path-like text: repeated, gzip packs it about 170:1 (under the 1000:1 refusal).
_RNG = random.Random(1)
TEXT = bytes(_RNG.choice(b"abcdefghijklmnop/\n") for _ in range(4096))


def scan(scratch: Path, *args: str, timeout: float = 180) -> CliRun:
    run = run_cli(["image", "scan", *args], scratch=scratch, timeout=timeout)
    assert not run.traceback and "internal error" not in run.stderr, run.stderr
    assert run.max_rss_mib < MAX_RSS_MIB, run.max_rss_mib
    return run


def packages(run: CliRun) -> tuple[dict[str, Any], list[str]]:
    doc = json.loads(run.stdout)
    return doc, [p["name"] for p in doc["packages"]]


def test_rpmdb_view_over_an_endless_recursive_query(tmp_path: Path, scratch: Path) -> None:
    db = tmp_path / "rpmdb.sqlite"
    conn = sqlite3.connect(db)
    conn.execute("CREATE VIEW Packages AS WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) "
                 "SELECT zeroblob(64) AS blob FROM c")
    conn.commit()
    conn.close()
    layer = write_layer(tmp_path / "l.tar.gz", [
        M("etc/os-release", b'ID="rhel"\nVERSION_ID="9.3"\n'),
        M("var/lib/rpm/rpmdb.sqlite", db.read_bytes()),
    ])
    tar = docker_save(tmp_path / "img.tar", [layer])
    run = scan(scratch, "--list-packages", "--format", "json", str(tar), timeout=60)
    assert run.code == 0 and run.wall_s < 30
    doc, names = packages(run)
    assert names == [] and complete(doc) is False
    assert any("Packages is a view, not a table" in r for r in incomplete(doc)), incomplete(doc)


def test_rpmdb_query_has_a_deadline() -> None:
    """The same endless query, run directly: the progress handler stops it (unit level)."""
    import time

    import pytest

    from dockguard.image.inventory.rpm import RpmError, run_bounded
    from dockguard.image.limits import Limits

    conn = sqlite3.connect(":memory:")
    t0 = time.monotonic()
    with pytest.raises(RpmError, match="query stopped"):
        run_bounded(conn, "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) "
                    "SELECT count(*) FROM c", 10, Limits(sqlite_seconds=0.5))
    assert time.monotonic() - t0 < 5
    rows, more = run_bounded(conn, "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c "
                             "LIMIT 1000) SELECT x FROM c", 10, Limits())
    assert len(rows) == 10 and more


def _nested_index(root: Path, depth: int, copies: int) -> Path:
    """An OCI layout whose index.json nests `depth` indexes, each listing its child `copies` times."""
    good = good_layers(root.parent)
    oci_layout(root, good)
    desc = json.loads((root / "index.json").read_text())["manifests"][0]
    for _ in range(depth):
        child = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                 "manifests": [desc] * copies}
        desc = {"mediaType": "application/vnd.oci.image.index.v1+json", **put_blob(root, json.dumps(child).encode())}
    (root / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [desc] * copies}))
    return root


def test_oci_index_nested_four_deep_with_sixty_copies_is_refused(tmp_path: Path, scratch: Path) -> None:
    layout = _nested_index(tmp_path / "oci", 4, 60)
    run = scan(scratch, "--list-packages", f"oci:{layout}", timeout=60)
    assert run.code == 2 and run.wall_s < 30
    assert "image indexes nested more than 2 levels deep" in run.stderr


def test_repeated_descriptors_are_read_once(tmp_path: Path, scratch: Path) -> None:
    layout = _nested_index(tmp_path / "oci", 2, 60)  # allowed depth: 60^3 paths, 3 distinct documents
    run = scan(scratch, "--list-packages", "--format", "json", f"oci:{layout}", timeout=60)
    assert run.code == 0 and run.wall_s < 30, run.stderr
    doc, names = packages(run)
    assert names == ["demo-pkg"] and complete(doc) is True


def test_dpkg_list_files_beyond_the_memory_budget(tmp_path: Path, scratch: Path) -> None:
    lists = [M(f"var/lib/dpkg/info/pkg{i}.list", size=20 * MiB, fill=TEXT) for i in range(30)]
    layer = write_layer(tmp_path / "l.tar.gz", [M("etc/os-release", OS_RELEASE), M(DEMO_PATH, DEMO_META), *lists])
    assert layer.size < 8 * MiB
    tar = docker_save(tmp_path / "img.tar", [layer])
    run = scan(scratch, "--list-packages", "--format", "json", str(tar))
    assert run.code == 0, run.stderr
    doc, names = packages(run)
    assert names == ["demo-pkg"]
    assert complete(doc) is False
    assert any("memory budget" in r and "pkg29.list" in r for r in incomplete(doc)), incomplete(doc)


def test_junk_members_in_a_compressed_archive(tmp_path: Path, scratch: Path) -> None:
    plain = docker_save(tmp_path / "img.tar", good_layers(tmp_path))
    gz = tmp_path / "img.tar.gz"
    with gzip.open(gz, "wb", compresslevel=6) as out, tarfile.open(fileobj=out, mode="w|") as tar:
        for i in range(100):
            info = tarfile.TarInfo(f"junk/{i}")
            info.size = 15 * MiB
            tar.addfile(info, Fill(info.size, TEXT))
        with tarfile.open(plain) as src:
            for member in src.getmembers():
                tar.addfile(member, src.extractfile(member))
    assert gz.stat().st_size < 24 * MiB
    run = scan(scratch, "--list-packages", "--format", "json", str(gz))
    assert run.code == 0, run.stderr
    doc, names = packages(run)
    assert names == ["demo-pkg"] and complete(doc) is True


def test_json_looking_junk_exhausts_the_metadata_budget(tmp_path: Path, scratch: Path) -> None:
    gz = tmp_path / "img.tar.gz"
    with gzip.open(gz, "wb") as out, tarfile.open(fileobj=out, mode="w|") as tar:
        for i in range(10):
            info = tarfile.TarInfo(f"junk{i}.json")
            info.size = 15 * MiB
            tar.addfile(info, Fill(info.size, b"[" + TEXT))
    run = scan(scratch, "--list-packages", str(gz))
    assert run.code == 2
    assert "image metadata larger than 67108864 bytes in total" in run.stderr


def test_sixty_megabyte_status_file_is_parsed_as_a_stream(tmp_path: Path, scratch: Path) -> None:
    description = b"Description: x\n " + TEXT.replace(b"\n", b"\n ") + b"\n\n"
    count = 60 * MiB // (len(description) + 80)
    status = b"".join(b"Package: pkg%d\nStatus: install ok installed\nVersion: 1.0\nArchitecture: amd64\n" % i
                      + description for i in range(count))
    assert len(status) > 59 * MiB
    layer = write_layer(tmp_path / "l.tar.gz", [M("etc/os-release", OS_RELEASE), M("var/lib/dpkg/status", status)])
    del status
    tar = docker_save(tmp_path / "img.tar", [layer])
    run = scan(scratch, "--list-packages", "--format", "json", str(tar))
    assert run.code == 0, run.stderr
    doc, names = packages(run)
    assert len(names) == count and "pkg0" in names and complete(doc) is True


def test_manifest_listing_one_layer_a_hundred_thousand_times(tmp_path: Path, scratch: Path) -> None:
    layer = good_layers(tmp_path)[1]
    name = "blobs/sha256/" + layer.digest[7:]
    cfg = config_for([layer.diff_id] * 100_000)
    tar = docker_save(tmp_path / "img.tar", [layer] * 100_000, config=cfg, layer_names=[name] * 100_000)
    run = scan(scratch, "--list-packages", str(tar), timeout=60)
    assert run.code == 2 and run.wall_s < 30
    assert "100000 layers: more than the 512 allowed" in run.stderr
    # Up to the limit, a repeated layer is read once.
    cfg = config_for([layer.diff_id] * 512)
    tar = docker_save(tmp_path / "ok.tar", [layer] * 512, config=cfg, layer_names=[name] * 512)
    run = scan(scratch, "--list-packages", "--format", "json", str(tar), timeout=60)
    assert run.code == 0 and run.wall_s < 30, run.stderr
    assert packages(run)[1] == ["demo-pkg"]


def test_a_million_entries(tmp_path: Path, scratch: Path) -> None:
    """The scan-wide entry budget: the layer stops, memory stays bounded, the scan says so."""
    # Written header by header: the test process must stay small (the child's peak RSS as
    # wait4 reports it includes what the parent had resident when it forked).
    layer = empty_files_layer(tmp_path / "l.tar.gz", 1_000_100, [M("etc/os-release", OS_RELEASE)])
    tar = docker_save(tmp_path / "img.tar", [layer])
    run = scan(scratch, "--list-packages", "--format", "json", str(tar), timeout=300)
    assert run.code == 0, run.stderr
    doc, _ = packages(run)
    assert complete(doc) is False
    assert any("more than 1000000 entries" in r for r in incomplete(doc)), incomplete(doc)
