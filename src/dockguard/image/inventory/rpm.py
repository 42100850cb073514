"""RPM packages from the rpm database: sqlite (``rpmdb.sqlite``, RHEL 9 / Fedora ≥ 33),
Berkeley DB (``Packages``, RHEL ≤ 8, CentOS, Amazon Linux 2) and ndb (``Packages.db``, SUSE).

Each package is one header blob: big-endian ``il`` (index entries) and ``dl`` (data bytes),
``il`` 16-byte entries ``(tag, type, offset, count)``, then the data store.  The sqlite
database keeps them in the ``Packages`` table; `dockguard.image.inventory.rpmdb` reads the
other two formats.

The database is the image's: it is copied to a private temp dir and opened read-only
(``immutable`` unless a write-ahead log has to be applied), with an untrusted schema, a
``Packages`` that must be a table, a deadline and a step limit on every query, a cap on
value size and on rows.
"""

from __future__ import annotations

import sqlite3
import struct
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from dockguard.image.inventory.base import Catalogue, CatalogueInput, Cataloguer, Triggers, Want
from dockguard.image.limits import DEFAULT_LIMITS, Limits
from dockguard.image.packages import Package
from dockguard.image.purl import os_purl

DB_PATHS = ("var/lib/rpm/rpmdb.sqlite", "usr/lib/sysimage/rpm/rpmdb.sqlite")
BDB_PATHS = ("var/lib/rpm/Packages", "usr/lib/sysimage/rpm/Packages")
NDB_PATHS = ("var/lib/rpm/Packages.db", "usr/lib/sysimage/rpm/Packages.db")
LEGACY = BDB_PATHS[:1] + NDB_PATHS[:1]

TAG_NAME, TAG_VERSION, TAG_RELEASE, TAG_EPOCH = 1000, 1001, 1002, 1003
TAG_LICENSE, TAG_ARCH, TAG_SOURCERPM, TAG_VENDOR = 1014, 1022, 1044, 1011
_INT32, _STRING, _I18N = 4, 6, 9
MAX_ENTRIES = 100_000


@dataclass(frozen=True)
class RpmHeader:
    """The fields dockguard needs from one rpm header."""

    name: str
    version: str
    release: str
    epoch: int | None
    arch: str
    source_rpm: str
    license: str
    vendor: str

    @property
    def evr(self) -> str:
        """``[epoch:]version-release``."""
        base = f"{self.version}-{self.release}"
        return f"{self.epoch}:{base}" if self.epoch else base


class RpmError(ValueError):
    """An rpm header or database that cannot be read."""


_WANTED = frozenset({TAG_NAME, TAG_VERSION, TAG_RELEASE, TAG_EPOCH, TAG_LICENSE, TAG_ARCH,
                     TAG_SOURCERPM, TAG_VENDOR})
MAX_STRING = 4096


def parse_header(blob: object) -> RpmHeader:
    """Parse one header blob; `RpmError` (a ValueError) when it is anything but a valid header."""
    if not isinstance(blob, bytes | bytearray | memoryview):
        raise RpmError(f"rpm header is {type(blob).__name__}, not a binary blob")
    blob = bytes(blob)
    if len(blob) < 8:
        raise RpmError("rpm header too short")
    il, dl = struct.unpack_from(">ii", blob, 0)
    if il <= 0 or dl < 0 or il > MAX_ENTRIES or 8 + 16 * il + dl > len(blob):
        raise RpmError("rpm header sizes out of range")
    data_start = 8 + 16 * il
    data = blob[data_start : data_start + dl]
    values: dict[int, str | int] = {}
    for i in range(il):
        tag, typ, off, count = struct.unpack_from(">iiii", blob, 8 + 16 * i)
        if tag not in _WANTED:
            continue
        if off < 0 or off >= len(data):
            raise RpmError(f"rpm tag {tag} offset out of range")
        if typ == _INT32 and count >= 1:
            if off + 4 > len(data):
                raise RpmError(f"rpm tag {tag} value runs past the data")
            values[tag] = struct.unpack_from(">i", data, off)[0]
        elif typ in (_STRING, _I18N):
            end = data.find(b"\0", off, off + MAX_STRING + 1)
            if end < 0:
                raise RpmError(f"rpm tag {tag} string not terminated within {MAX_STRING} bytes")
            values[tag] = data[off:end].decode("utf-8", "replace")

    def s(tag: int) -> str:
        v = values.get(tag, "")
        return v if isinstance(v, str) else str(v)

    epoch = values.get(TAG_EPOCH)
    return RpmHeader(
        name=s(TAG_NAME), version=s(TAG_VERSION), release=s(TAG_RELEASE),
        epoch=epoch if isinstance(epoch, int) else None, arch=s(TAG_ARCH),
        source_rpm=s(TAG_SOURCERPM), license=s(TAG_LICENSE), vendor=s(TAG_VENDOR),
    )


@dataclass(frozen=True)
class RpmDb:
    """The headers read from an rpmdb and what could not be read."""

    headers: tuple[RpmHeader, ...]
    problems: tuple[str, ...] = ()


def _connect(path: Path, wal: bool) -> sqlite3.Connection:
    # The copy is ours, but its contents are the image's: read-only, schema untrusted.  A
    # write-ahead log is applied by sqlite only when the file is not declared immutable.
    mode = "ro" if wal else "ro&immutable=1"
    conn = sqlite3.connect(f"file:{path}?mode={mode}", uri=True)
    conn.execute("PRAGMA trusted_schema=OFF")
    conn.execute("PRAGMA query_only=ON")
    return conn


def run_bounded(conn: sqlite3.Connection, sql: str, max_rows: int, limits: Limits) -> tuple[list[Any], bool]:
    """Rows of `sql`, at most `max_rows` (and whether there were more), under a deadline.

    A progress handler stops the query after `Limits.sqlite_seconds` or
    `Limits.sqlite_steps` virtual-machine steps; values longer than `Limits.max_rpm_header`
    are refused by sqlite itself.  Failures are `RpmError`.
    """
    deadline = time.monotonic() + limits.sqlite_seconds
    every = 10_000
    steps = 0

    def progress() -> int:
        nonlocal steps
        steps += every
        return 1 if steps > limits.sqlite_steps or time.monotonic() > deadline else 0

    conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, limits.max_rpm_header)
    conn.set_progress_handler(progress, every)
    rows: list[Any] = []
    try:
        cursor = conn.execute(sql)
        while len(rows) <= max_rows:
            batch = cursor.fetchmany(256)
            if not batch:
                break
            rows.extend(batch)
    except sqlite3.OperationalError as exc:
        if "interrupted" in str(exc):
            raise RpmError(f"query stopped after {limits.sqlite_seconds:g} s / {limits.sqlite_steps} steps "
                           "(a hostile database?)") from None
        raise RpmError(f"not an rpm sqlite database: {exc}") from None
    except sqlite3.Error as exc:
        raise RpmError(f"not an rpm sqlite database: {exc}") from None
    finally:
        conn.set_progress_handler(None, 0)
    more = len(rows) > max_rows
    return rows[:max_rows], more


def read_rpmdb(db: bytes, wal: bytes | None = None, limits: Limits = DEFAULT_LIMITS) -> RpmDb:
    """Headers of the packages in an rpmdb.sqlite image (and its WAL, when not empty).

    `RpmError` when the database cannot be read at all; unreadable rows and rows beyond
    `Limits.max_packages` are reported in `RpmDb.problems`.
    """
    with tempfile.TemporaryDirectory(prefix="dockguard-rpmdb-") as tmp:
        # sqlite needs a real file to apply a write-ahead log; the copy lives in a temp dir.
        path = Path(tmp) / "rpmdb.sqlite"
        path.write_bytes(db)
        if wal:
            (Path(tmp) / "rpmdb.sqlite-wal").write_bytes(wal)
        try:
            conn = _connect(path, bool(wal))
        except sqlite3.Error as exc:
            raise RpmError(f"not an rpm sqlite database: {exc}") from None
        try:
            kind, _ = run_bounded(conn, "SELECT type FROM sqlite_master WHERE name = 'Packages'", 2, limits)
            if [tuple(r) for r in kind] != [("table",)]:
                found = kind[0][0] if kind else "missing"
                raise RpmError(f"not an rpm database: Packages is {'a ' + str(found) if kind else found}, "
                               "not a table")
            rows, more = run_bounded(conn, "SELECT blob FROM Packages", limits.max_packages, limits)
        finally:
            conn.close()
    out = []
    problems: list[str] = []
    bad = 0
    for (blob,) in rows:
        try:
            header = parse_header(blob)
        except RpmError as exc:
            bad += 1
            if bad == 1:
                problems.append(f"unreadable package header: {exc}")
            continue
        if header.name and header.name != "gpg-pubkey":
            out.append(header)
    if bad > 1:
        problems.append(f"{bad} package headers unreadable in all")
    if more:
        problems.append(f"more than {limits.max_packages} packages, the rest not read")
    return RpmDb(tuple(out), tuple(problems))


def read_sqlite(db: bytes, wal: bytes | None = None, limits: Limits = DEFAULT_LIMITS) -> list[RpmHeader]:
    """The headers of `read_rpmdb`; `RpmError` when anything could not be read."""
    result = read_rpmdb(db, wal, limits)
    if result.problems:
        raise RpmError("; ".join(result.problems))
    return list(result.headers)


def split_source_rpm(source_rpm: str) -> tuple[str, str]:
    """``openssl-3.0.7-24.el9.src.rpm`` → (``openssl``, ``3.0.7-24.el9``)."""
    base = source_rpm.removesuffix(".rpm")
    base = base.rsplit(".", 1)[0] if base.endswith((".src", ".nosrc")) else base
    parts = base.rsplit("-", 2)
    if len(parts) != 3:
        return "", ""
    return parts[0], f"{parts[1]}-{parts[2]}"


def _headers_db(path: str, data: bytes, wal: bytes | None, limits: Limits) -> RpmDb:
    from dockguard.image.inventory import rpmdb

    if path in DB_PATHS:
        return read_rpmdb(data, wal, limits)
    try:
        blobs = rpmdb.read_ndb(data, limits) if path in NDB_PATHS else rpmdb.read_bdb(data, limits)
    except rpmdb.RpmDbError as exc:
        raise RpmError(str(exc)) from None
    return headers_of(blobs.blobs, blobs.problems, limits)


def headers_of(blobs: list[bytes], problems: list[str], limits: Limits) -> RpmDb:
    """Parsed headers of header blobs read from a Berkeley DB or ndb database."""
    out = []
    bad = 0
    problems = list(problems)
    for blob in blobs:
        try:
            header = parse_header(blob)
        except RpmError as exc:
            bad += 1
            if bad == 1:
                problems.append(f"unreadable package header: {exc}")
            continue
        if header.name and header.name != "gpg-pubkey":
            out.append(header)
    if bad > 1:
        problems.append(f"{bad} package headers unreadable in all")
    return RpmDb(tuple(out), tuple(problems))


def catalogue(inp: CatalogueInput, limit: int | None = None) -> Catalogue:
    """Installed rpm packages (at most `limit`); an unreadable database makes the scan incomplete."""
    cat = Catalogue()
    limits = inp.limits if limit is None else replace(inp.limits, max_packages=max(limit, 0))
    family = inp.os.family if inp.os else "redhat"
    ns = {"rhel": "redhat", "centos": "centos", "fedora": "fedora", "rocky": "rocky",
          "almalinux": "almalinux", "amzn": "amazon", "ol": "oracle"}.get(family, family)
    distro = f"{family}-{inp.os.version}" if inp.os and inp.os.version else ""
    for db_path in DB_PATHS + NDB_PATHS + BDB_PATHS:
        hit = inp.files.get(db_path)
        if hit is None:
            continue
        index, data = hit
        wal = inp.files.get(db_path + "-wal") if db_path in DB_PATHS else None
        try:
            db = _headers_db(db_path, data, wal[1] if wal else None, limits)
        except RpmError as exc:
            cat.incomplete.append(f"/{db_path}: {exc}")
            continue
        cat.incomplete += [f"/{db_path}: {p}" for p in db.problems]
        headers = db.headers
        if len(headers) > limits.max_packages:
            cat.incomplete.append(f"/{db_path}: more than {limits.max_packages} packages, the rest not read")
            headers = headers[: limits.max_packages]
        for h in headers:
            src_name, src_ver = split_source_rpm(h.source_rpm)
            version = f"{h.version}-{h.release}"
            evr = h.evr
            cat.packages.append(
                Package(
                    type="rpm", name=h.name, version=evr,
                    source_name=src_name or h.name,
                    source_version=(f"{h.epoch}:{src_ver}" if h.epoch and src_ver else src_ver)
                    or evr,
                    arch=h.arch,
                    purl=os_purl("rpm", ns, h.name, f"{h.epoch}:{version}" if h.epoch else version,
                                 h.arch, distro),
                    layer=inp.layer_id(index), path="/" + db_path,
                    licenses=(h.license,) if h.license else (),
                )
            )
        break
    return cat


class RpmCataloguer(Cataloguer):
    """rpm databases: sqlite (with its write-ahead log), Berkeley DB hash and ndb."""

    name = "rpm"
    version = "1"
    os_database = True
    triggers = Triggers(paths=frozenset({*DB_PATHS, *(p + "-wal" for p in DB_PATHS), *BDB_PATHS, *NDB_PATHS}))

    def wants(self, path: str, size: int, mode: int, limits: Limits) -> Want | None:
        return Want(limits.max_read)

    def collect(self, inp: CatalogueInput, limit: int) -> Catalogue:
        return catalogue(inp, limit)
