"""`dockguard db import` on hostile advisory files: bombs, wrong types, oversized files.

Every refused import exits 2 with the file (or zip member) and the JSON path, prints no
traceback, stays under the documented memory ceiling, writes nothing outside the test's
directories, and leaves the existing database byte for byte as it was.
"""

from __future__ import annotations

import json
import os
import struct
import zipfile
import zlib
from pathlib import Path

import pytest

from dockguard.vuln.importers import bounded_decode
from tests.hostile.harness import MAX_RSS_MIB, CliRun, run_cli

RECORD = {
    "id": "PYSEC-2099-1",
    "modified": "2099-01-01T00:00:00Z",
    "aliases": ["CVE-2099-1"],
    "affected": [
        {
            "package": {"ecosystem": "PyPI", "name": "demo"},
            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "2.0"}]}],
        }
    ],
}


def _sane(run: CliRun, tmp_path: Path) -> None:
    assert not run.traceback, run.stderr
    assert "internal error" not in run.stderr
    assert run.max_rss_mib < MAX_RSS_MIB
    if run.writes:
        assert run.writes_outside(tmp_path) == []


def _refused(run: CliRun, tmp_path: Path, *needles: str) -> None:
    _sane(run, tmp_path)
    assert run.code == 2, (run.stdout, run.stderr)
    assert len(run.stderr.strip().splitlines()) == 1, run.stderr
    for needle in needles:
        assert needle in run.stderr, run.stderr


@pytest.fixture
def db(tmp_path: Path, scratch: Path) -> Path:
    """A database holding one PyPI record, made by the CLI."""
    src = tmp_path / "good"
    src.mkdir()
    (src / "PYSEC-2099-1.json").write_text(json.dumps(RECORD))
    path = tmp_path / "dbdir" / "vuln.db"
    run = run_cli(["db", "import", "--db", str(path), str(src)], scratch=scratch / "setup")
    assert run.code == 0, run.stderr
    return path


def _import(db: Path, scratch: Path, *paths: Path | str, extra: tuple[str, ...] = ()) -> CliRun:
    before = db.read_bytes()
    listing = sorted(os.listdir(db.parent))
    run = run_cli(["db", "import", "--db", str(db), *extra, *map(str, paths)], scratch=scratch, trace_writes=True)
    if run.code != 0:
        assert db.read_bytes() == before, "a failed import changed the database"
        assert sorted(os.listdir(db.parent)) == listing, "a failed import left files behind"
    return run


# --- bombs ------------------------------------------------------------------------------------


def test_yaml_billion_laughs_in_a_record(db: Path, scratch: Path, tmp_path: Path) -> None:
    levels = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for n in range(1, 9):
        prev, cur = chr(ord("a") + n - 1), chr(ord("a") + n)
        levels.append(f"{cur}: &{cur} [{','.join(['*' + prev] * 9)}]")
    text = "id: PYSEC-2099-2\n" + "\n".join(levels) + "\nsummary: *i\n"
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(text)
    assert len(text) < 600
    run = _import(db, scratch, bomb)
    _refused(run, tmp_path, "bomb.yaml", "aliases are not accepted")
    assert run.wall_s < 30


def _spaces_deflated(total: int) -> bytes:
    """A raw deflate stream of `total` spaces, ~1 KiB per MiB (independent flushed blocks)."""
    block = 1 << 20
    head = zlib.compressobj(9, zlib.DEFLATED, -15)
    repeat = head.compress(b" " * block) + head.flush(zlib.Z_FULL_FLUSH)
    tail = zlib.compressobj(9, zlib.DEFLATED, -15)
    last = tail.compress(b" " * block) + tail.flush()
    return repeat * (total // block - 1) + last


def _zip_one(path: Path, name: str, deflated: bytes, declared: int) -> None:
    """A zip of one deflated member whose headers declare `declared` bytes (zip64 sizes)."""
    raw_name = name.encode()
    extra = struct.pack("<2H2Q", 1, 16, declared, len(deflated))
    local = struct.pack("<4s5H3L2H", b"PK\x03\x04", 45, 0, 8, 0, 0, 0, 0xFFFFFFFF, 0xFFFFFFFF,
                        len(raw_name), len(extra)) + raw_name + extra
    central = struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 45, 45, 0, 8, 0, 0, 0, 0xFFFFFFFF, 0xFFFFFFFF,
                          len(raw_name), len(extra), 0, 0, 0, 0, 0) + raw_name + extra
    offset = len(local) + len(deflated)
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 1, 1, len(central), offset, 0)
    path.write_bytes(local + deflated + central + end)


@pytest.mark.parametrize(("declared", "message"), [
    (4 << 30, "zip member of 4294967296 bytes is larger than the 4194304 allowed"),
    (100, "inflates past the 4194304 bytes allowed (its header says 100)"),
])
def test_zip_member_inflating_to_4_gib(db: Path, scratch: Path, tmp_path: Path, declared: int, message: str) -> None:
    bomb = tmp_path / "all.zip"
    _zip_one(bomb, "GHSA-bomb.json", _spaces_deflated(4 << 30), declared)
    assert bomb.stat().st_size < 6 << 20
    assert zipfile.is_zipfile(bomb)
    run = _import(db, scratch, bomb)
    _refused(run, tmp_path, "all.zip:GHSA-bomb.json", message)
    assert run.wall_s < 60


def test_deeply_nested_osv_record(db: Path, scratch: Path, tmp_path: Path) -> None:
    bad = tmp_path / "deep.json"
    bad.write_text('{"id": "X-1", "affected": ' + "[" * 100_000 + "]" * 100_000 + "}")
    _refused(_import(db, scratch, bad), tmp_path, "deep.json", "nested deeper than 64 levels")


def test_value_bombs_are_refused_before_they_are_built(db: Path, scratch: Path, tmp_path: Path) -> None:
    """~15 MiB of `[],` (5M lists, ~400 MB as objects) and 4 MiB of YAML `a,` nodes."""
    lists = tmp_path / "lists.json"
    with lists.open("w") as f:
        f.write('{"id": "X-1", "affected": [')
        f.write("[]," * (5_000_000 - 1) + "[]")
        f.write("]}")
    run = _import(db, scratch, lists)
    _refused(run, tmp_path, "lists.json", f"more than {bounded_decode.MAX_VALUES} values")
    nodes = tmp_path / "nodes.yaml"
    nodes.write_text("id: X-1\naliases: [" + "a," * 1_500_000 + "a]\n")
    run = _import(db, scratch, nodes)
    _refused(run, tmp_path, "nodes.yaml", f"more than {bounded_decode.MAX_VALUES} nodes")


# --- size caps --------------------------------------------------------------------------------


def _sparse(path: Path, size: int, head: bytes = b"") -> Path:
    with path.open("wb") as f:
        f.write(head)
        f.truncate(size)
    return path


def test_size_caps(db: Path, scratch: Path, tmp_path: Path) -> None:
    osv_dir = tmp_path / "osv"
    osv_dir.mkdir()
    _sparse(osv_dir / "huge.json", bounded_decode.MAX_RECORD_BYTES + 1, b'{"id": "X-1", "summary": "')
    _refused(_import(db, scratch, osv_dir), tmp_path, "huge.json", f"larger than the {bounded_decode.MAX_RECORD_BYTES}")

    secdb = _sparse(tmp_path / "main.yaml", bounded_decode.MAX_DOCUMENT_BYTES + 1, b"distroversion: v3.19\npackages:\n")
    _refused(_import(db, scratch, secdb), tmp_path, "main.yaml", f"larger than the {bounded_decode.MAX_DOCUMENT_BYTES}")

    tracker = _sparse(tmp_path / "tracker.json", bounded_decode.MAX_STREAM_BYTES + 1, b"{")
    _refused(_import(db, scratch, tracker), tmp_path, "tracker.json",
             f"larger than the {bounded_decode.MAX_STREAM_BYTES}")

    _refused(_import(db, scratch, "/dev/zero"), tmp_path, "/dev/zero",
             f"larger than the {bounded_decode.MAX_DOCUMENT_BYTES}")


def test_streamed_tracker_entry_cap(db: Path, scratch: Path, tmp_path: Path) -> None:
    """A tracker export over the whole-document cap is streamed; one oversized entry fails it."""
    tracker = tmp_path / "tracker.json"
    entry = {"description": "x", "releases": {"bookworm": {"status": "open", "urgency": "low"}}}
    with tracker.open("w") as f:
        f.write('{"pkg": {')
        n = 0
        while f.tell() < bounded_decode.MAX_DOCUMENT_BYTES + (1 << 20):
            f.write(f'"CVE-2099-{n}": {json.dumps(entry)},')
            n += 1
        f.write('"CVE-2099-BIG": {"description": "' + "x" * (bounded_decode.MAX_STREAM_ENTRY_BYTES + 10) + '"}}}')
    run = _import(db, scratch, tracker)
    _refused(run, tmp_path, "tracker.json: $.pkg.CVE-2099-BIG", "entry larger than the 1048576 bytes allowed")


def test_large_tracker_streams_in_bounded_memory(tmp_path: Path, scratch: Path) -> None:
    """~40 MiB of valid tracker data: every entry imported, peak memory far below the ceiling."""
    tracker = tmp_path / "tracker.json"
    releases = {c: {"status": "resolved", "fixed_version": "1.2-3", "urgency": "low",
                    "repositories": {c: "1.2-2"}} for c in ("bullseye", "bookworm", "trixie")}
    n = 0
    with tracker.open("w") as f:
        f.write("{")
        while f.tell() < 40 << 20:
            cves = {f"CVE-2099-{n + i}": {"description": "d " * 40, "releases": releases} for i in range(50)}
            f.write(("," if n else "") + json.dumps(f"pkg{n}") + ":" + json.dumps(cves))
            n += 50
        f.write("}")
    db = tmp_path / "t.db"
    run = run_cli(["db", "import", "--db", str(db), str(tracker)], scratch=scratch, timeout=300)
    _sane(run, tmp_path)
    assert run.code == 0, run.stderr
    assert f"debian-tracker/Debian:12: {n} records" in run.stdout
    assert run.max_rss_mib < 200, run.max_rss_mib


# --- wrong types ------------------------------------------------------------------------------

_TRACKER_OK = {"description": "d", "releases": {"bookworm": {"status": "open", "urgency": "low"}}}

WRONG = [
    ("osv.json", {**RECORD, "affected": {"a": 1}}, "$.affected: expected a list, got an object"),
    ("osv.json", {**RECORD, "affected": [{"package": {"ecosystem": "PyPI", "name": "demo"}, "ranges": [
        {"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": 5}]}]}]},
     "$.affected[0].ranges[0].events[1].fixed: expected a string, got an integer"),
    ("osv.json", {**RECORD, "aliases": "CVE-1"}, "$.aliases: expected a list, got a string"),
    ("osv.json", [{"modified": "x"}], "$[0].id: is missing"),
    ("osv.json", {**RECORD, "affected": [{"package": {"ecosystem": "PyPI", "name": ["x"]}}]},
     "$.affected[0].package.name: expected a string, got a list"),
    ("osv.json", [RECORD, {**RECORD, "summary": 5}], "$[1].summary: expected a string, got an integer"),
    ("osv.yaml", "id: X-1\nsummary: {a: b}\n", "$.summary: expected a string, got an object"),
    ("secdb.json", {"distroversion": "v3.19", "reponame": "main",
                    "packages": [{"pkg": {"name": "zlib", "secfixes": {"1.2.4-r2": 5}}}]},
     "$.packages[0].pkg.secfixes.1.2.4-r2: expected a list, got an integer"),
    ("secdb.json", {"distroversion": "v3.19", "packages": {"pkg": 1}}, "$.packages: expected a list, got an object"),
    ("secdb.json", {"distroversion": 3.19, "packages": []}, "$.distroversion: expected a string, got a number"),
    ("secdb.json", {"distroversion": "v3.19", "packages": [{"pkg": {"name": "z", "secfixes": {"1-r0": [7]}}}]},
     "$.packages[0].pkg.secfixes.1-r0[0]: expected a string, got an integer"),
    ("tracker.json", {"openssl": {"CVE-2024-1": {"releases": []}}},
     "$.openssl.CVE-2024-1.releases: expected an object, got a list"),
    ("tracker.json", {"openssl": {"CVE-2024-1": {"releases": {"bookworm": {"status": "resolved",
                                                                           "fixed_version": 3}}}}},
     "$.openssl.CVE-2024-1.releases.bookworm.fixed_version: expected a string, got an integer"),
    ("tracker.json", {"a": {"CVE-2024-1": _TRACKER_OK}, "b": []}, "$.b: expected an object, got a list"),
    ("tracker.json", {"a": {"CVE-2024-1": _TRACKER_OK, "CVE-2024-2": "x"}},
     "$.a.CVE-2024-2: expected an object, got a string"),
]


@pytest.mark.parametrize(("name", "doc", "message"), WRONG, ids=[f"{w[0]}-{i}" for i, w in enumerate(WRONG)])
def test_wrong_types_name_the_file_and_path(db: Path, scratch: Path, tmp_path: Path, name: str, doc: object,
                                            message: str) -> None:
    bad = tmp_path / name
    bad.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    run = _import(db, scratch, bad)
    _refused(run, tmp_path, f"{bad}: {message}")


def test_one_bad_record_fails_the_whole_zip(db: Path, scratch: Path, tmp_path: Path) -> None:
    """Atomic: 20k good records and one bad one import nothing, and the message names the member."""
    archive = tmp_path / "all.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for i in range(20_000):
            zf.writestr(f"PYSEC-{i}.json", json.dumps({**RECORD, "id": f"PYSEC-{i}"}))
        zf.writestr("PYSEC-bad.json", json.dumps({**RECORD, "id": "PYSEC-bad", "modified": ["x"]}))
    run = _import(db, scratch, archive)
    _refused(run, tmp_path, "all.zip:PYSEC-bad.json: $.modified: expected a string, got a list")


def test_zip_structure_is_checked(db: Path, scratch: Path, tmp_path: Path) -> None:
    archive = tmp_path / "all.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("A-1.json", json.dumps({**RECORD, "id": "A-1"}))
    data = bytearray(archive.read_bytes())
    crc_at = data.index(b"PK\x01\x02") + 16  # the central directory's CRC of A-1.json
    data[crc_at] ^= 0xFF
    archive.write_bytes(bytes(data))
    _refused(_import(db, scratch, archive), tmp_path, "all.zip:A-1.json", "fails its CRC check")


def test_update_from_a_mirror_with_a_zip_bomb(db: Path, scratch: Path, tmp_path: Path) -> None:
    """`db update` reads downloaded zips through the same bounded reader."""
    mirror = tmp_path / "mirror"
    (mirror / "PyPI").mkdir(parents=True)
    _zip_one(mirror / "PyPI" / "all.zip", "GHSA-bomb.json", _spaces_deflated(1 << 30), 100)
    before = db.read_bytes()
    run = run_cli(["db", "update", "--db", str(db), "--ecosystem", "PyPI", "--source", mirror.as_uri()],
                  scratch=scratch, trace_writes=True)
    _sane(run, tmp_path)
    assert run.code == 2
    last = run.stderr.strip().splitlines()[-1]  # the line before it is the download's progress
    assert last.startswith(f"dockguard: error: {(mirror / 'PyPI' / 'all.zip').as_uri()}:GHSA-bomb.json: "), last
    assert "inflates past" in last and "left unchanged" in last
    assert db.read_bytes() == before
    assert sorted(os.listdir(db.parent)) == ["vuln.db"]


@pytest.mark.parametrize("kind", ["device", "fifo", "symlink", "directory"])
@pytest.mark.parametrize("command", ["import", "update"])
def test_db_path_that_a_replace_would_destroy_is_refused(kind: str, command: str, tmp_path: Path,
                                                         scratch: Path) -> None:
    """``--db /dev/null`` as root used to turn /dev/null into a regular file; now refused before any write."""
    import os
    import stat

    target = tmp_path / "db"
    if kind == "device":
        os.mknod(target, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    elif kind == "fifo":
        os.mkfifo(target)
    elif kind == "symlink":
        (tmp_path / "real.db").write_bytes(b"")
        target.symlink_to(tmp_path / "real.db")
    else:
        target.mkdir()
    feed = tmp_path / "feed"
    feed.mkdir()
    (feed / "a.json").write_text('{"id": "PYSEC-1", "modified": "2024-01-01T00:00:00Z", "affected": []}')
    args = ["db", "import", "--db", str(target), str(feed)] if command == "import" else [
        "db", "update", "--db", str(target), "--source", f"file://{feed}", "--ecosystem", "PyPI"]
    before = sorted(p.name for p in tmp_path.iterdir())
    run = run_cli(args, scratch=scratch, trace_writes=True)
    assert run.code == 2, run.stderr
    assert f"--db {target}:" in run.stderr
    assert "internal error" not in run.stderr and not run.traceback
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    if kind == "device":
        assert stat.S_ISCHR(target.lstat().st_mode)
    assert [w for w in run.writes if w.startswith(str(tmp_path)) and not w.startswith(str(scratch))] == []
