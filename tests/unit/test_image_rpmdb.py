"""rpm Berkeley DB and ndb databases: written by real tools where Debian has them, read by rpm too.

Berkeley DB: rpmbuild builds real packages, rpm installs them into a sqlite rpmdb, and the very
header blobs are loaded into a Berkeley DB hash database by Debian's ``db5.3_load`` (little- and
big-endian, small pages that force overflow chains, large pages that keep headers inline).
Debian's own ``rpm`` (its read-only ``bdb_ro`` backend) lists the result: that listing, the
sqlite reader and the Berkeley DB reader must agree.  Debian's rpm is built without ndb, so the
ndb file is written here from the same blobs by the layout of rpm's ``rpmpkg.c``.
"""

from __future__ import annotations

import shutil
import sqlite3
import struct
import subprocess
import zlib
from pathlib import Path

import pytest

from dockguard.image.inventory import rpmdb
from dockguard.image.inventory.rpm import headers_of, read_sqlite
from dockguard.image.limits import Limits
from dockguard.image.scan import build_inventory
from dockguard.image.sources import open_target
from tests.unit.test_image_inventory import RPM, RPMBUILD, _build_rpmdb

DB_LOAD = shutil.which("db5.3_load") or shutil.which("db_load")


def _tool(path: str | None) -> str:
    """A tool found by `shutil.which` (the tests that use it are skipped without it)."""
    assert path is not None
    return path
needs_tools = pytest.mark.skipif(not (RPM and RPMBUILD and DB_LOAD), reason="rpm, rpmbuild and db5.3-util needed")
QF = "%{NAME}|%{EPOCHNUM}|%{VERSION}-%{RELEASE}|%{ARCH}|%{SOURCERPM}|%{LICENSE}\n"


def _key(h: object) -> str:
    return f"{h.name}|{h.epoch or 0}|{h.version}-{h.release}|{h.arch}|{h.source_rpm}|{h.license}"  # type: ignore[attr-defined]


def _blobs(sqlite_dir: Path) -> list[tuple[int, bytes]]:
    con = sqlite3.connect(f"file:{sqlite_dir / 'rpmdb.sqlite'}?mode=ro", uri=True)
    try:
        return [(int(h), bytes(b)) for h, b in con.execute("SELECT hnum, blob FROM Packages")]
    finally:
        con.close()


def _db_load(tmp: Path, rows: list[tuple[int, bytes]], pagesize: int, big_endian: bool) -> Path:
    """A Berkeley DB hash ``Packages`` written by db_load from a dump in db_dump's format."""
    order = ">" if big_endian else "<"
    lines = ["VERSION=3", "format=bytevalue", "type=hash", f"db_pagesize={pagesize}",
             f"db_lorder={4321 if big_endian else 1234}", "HEADER=END"]
    for hnum, blob in rows:
        lines += [" " + struct.pack(order + "I", hnum).hex(), " " + blob.hex()]
    lines.append("DATA=END")
    out = tmp / f"bdb-{pagesize}-{order}"
    out.mkdir()
    (tmp / "dump.txt").write_text("\n".join(lines) + "\n")
    subprocess.run([_tool(DB_LOAD), "-f", str(tmp / "dump.txt"), str(out / "Packages")],
                   check=True, capture_output=True)
    return out


def _rpm_lists(dbpath: Path, backend: str) -> list[str]:
    run = subprocess.run([_tool(RPM), "--dbpath", str(dbpath), "--define", f"_db_backend {backend}", "-qa", "--qf", QF],
                         capture_output=True, text=True, check=True)
    return sorted(run.stdout.split("\n")[:-1])


@needs_tools
@pytest.mark.parametrize(("pagesize", "big_endian"), [(512, False), (512, True), (16384, False)])
def test_bdb_written_by_db_load_read_like_rpm_and_sqlite(tmp_path: Path, pagesize: int, big_endian: bool) -> None:
    sqlite_dir = _build_rpmdb(tmp_path)
    rows = _blobs(sqlite_dir)
    bdb = _db_load(tmp_path, rows, pagesize, big_endian)
    oracle = _rpm_lists(bdb, "bdb_ro")
    assert oracle == _rpm_lists(sqlite_dir, "sqlite") and len(oracle) == 2
    data = (bdb / "Packages").read_bytes()
    assert struct.unpack_from(">I" if big_endian else "<I", data, 12)[0] == rpmdb.HASH_MAGIC
    got = rpmdb.read_bdb(data)
    assert got.problems == []
    assert sorted(_key(h) for h in headers_of(got.blobs, [], Limits()).headers) == oracle
    assert sorted(_key(h) for h in read_sqlite((sqlite_dir / "rpmdb.sqlite").read_bytes())) == oracle
    # Through a scan of a root filesystem holding the database (CentOS 7 layout).
    root = tmp_path / "root"
    (root / "var/lib/rpm").mkdir(parents=True, exist_ok=True)
    for stale in (root / "var/lib/rpm").iterdir():
        stale.unlink()
    shutil.copy(bdb / "Packages", root / "var/lib/rpm/Packages")
    (root / "etc").mkdir(exist_ok=True)
    (root / "etc/os-release").write_text('ID="centos"\nVERSION_ID="7"\n')
    inv = build_inventory(open_target(str(root)))
    assert inv.complete, inv.incomplete
    assert {(p.name, p.version, p.path) for p in inv.packages} == {
        ("epochy", "2:1.0-1", "/var/lib/rpm/Packages"), ("hello", "2.10-3.el9", "/var/lib/rpm/Packages")}


def write_ndb(rows: list[tuple[int, bytes]]) -> bytes:
    """An ndb ``Packages.db`` (rpmpkg.c layout: header, one slot page, blobs in 16-byte blocks)."""
    blobs = bytearray()
    slots = bytearray()
    offset = 4096
    for hnum, blob in rows:
        body = b"BlbS" + struct.pack("<III", hnum, 1700000000, len(blob)) + blob
        pad = -(len(body) + 12) % 16
        chunk = body + b"\0" * pad + struct.pack("<II", zlib.adler32(body), len(blob)) + b"BlbE"
        slots += b"Slot" + struct.pack("<III", hnum, offset // 16, len(chunk) // 16)
        blobs += chunk
        offset += len(chunk)
    header = b"RpmP" + struct.pack("<IIII", 0, 1, 1, len(rows) + 1) + b"\0" * 12
    free = (4096 - len(header) - len(slots)) // 16
    return bytes(header + slots + (b"Slot" + b"\0" * 12) * free + blobs)


@needs_tools
def test_ndb_of_the_same_headers(tmp_path: Path) -> None:
    sqlite_dir = _build_rpmdb(tmp_path)
    rows = _blobs(sqlite_dir)
    oracle = _rpm_lists(sqlite_dir, "sqlite")
    got = rpmdb.read_ndb(write_ndb(rows))
    assert got.problems == []
    assert sorted(_key(h) for h in headers_of(got.blobs, [], Limits()).headers) == oracle


def test_hostile_bdb_and_ndb_are_bounded() -> None:
    with pytest.raises(rpmdb.RpmDbError, match="hash magic"):
        rpmdb.read_bdb(b"\0" * 4096)
    with pytest.raises(rpmdb.RpmDbError, match="RpmP"):
        rpmdb.read_ndb(b"\0" * 4096)
    # A hash page whose value is an off-page item pointing at a loop of overflow pages.
    ps = 512
    meta = bytearray(ps)
    struct.pack_into("<I", meta, 12, rpmdb.HASH_MAGIC)
    struct.pack_into("<I", meta, 20, ps)
    struct.pack_into("<I", meta, 32, 3)
    page = bytearray(ps)
    page[25] = rpmdb.P_HASH
    struct.pack_into("<H", page, 20, 2)
    struct.pack_into("<HH", page, 26, ps - 5, ps - 17)
    page[ps - 5] = rpmdb.H_KEYDATA
    page[ps - 17] = rpmdb.H_OFFPAGE
    struct.pack_into("<II", page, ps - 17 + 4, 2, 10_000)
    loop = bytearray(ps)
    loop[25] = rpmdb.P_OVERFLOW
    struct.pack_into("<I", loop, 16, 3)
    struct.pack_into("<H", loop, 22, 100)
    loop2 = bytearray(loop)
    struct.pack_into("<I", loop2, 16, 2)
    got = rpmdb.read_bdb(bytes(meta + page + loop + loop2))
    assert got.blobs == [] and any("reached twice" in p for p in got.problems)
    # An overflow header over the cap is refused before any page is read.
    struct.pack_into("<II", page, ps - 17 + 4, 2, 1 << 30)
    got = rpmdb.read_bdb(bytes(meta + page + loop + loop2), Limits(max_rpm_header=1 << 20))
    assert any("over the" in p for p in got.problems)
    # ndb: a slot pointing past the end of the file.
    ndb = bytearray(write_ndb([(1, b"\0\0\0\1\0\0\0\0" + b"\0" * 16)]))
    struct.pack_into("<I", ndb, 32 + 8, 1 << 24)
    got = rpmdb.read_ndb(bytes(ndb))
    assert got.blobs == [] and any("outside the file" in p for p in got.problems)
