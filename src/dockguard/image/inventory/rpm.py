"""RPM packages from the sqlite rpmdb (``rpmdb.sqlite``, RHEL 9 / Fedora ≥ 33).

Each row of the ``Packages`` table holds one header blob: big-endian ``il`` (index entries)
and ``dl`` (data bytes), ``il`` 16-byte entries ``(tag, type, offset, count)``, then the data
store.  Berkeley DB and ndb databases are not read.
"""

from __future__ import annotations

import sqlite3
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from dockguard.image.model import Package
from dockguard.image.purl import os_purl

if TYPE_CHECKING:
    from dockguard.image.inventory import InventoryInput

DB_PATHS = ("var/lib/rpm/rpmdb.sqlite", "usr/lib/sysimage/rpm/rpmdb.sqlite")
LEGACY = ("var/lib/rpm/Packages", "var/lib/rpm/Packages.db")

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


def parse_header(blob: bytes) -> RpmHeader:
    """Parse one header blob; ValueError when malformed."""
    if len(blob) < 8:
        raise ValueError("rpm header too short")
    il, dl = struct.unpack_from(">ii", blob, 0)
    if il <= 0 or dl < 0 or il > MAX_ENTRIES or 8 + 16 * il + dl > len(blob):
        raise ValueError("rpm header sizes out of range")
    data_start = 8 + 16 * il
    data = blob[data_start : data_start + dl]
    values: dict[int, str | int] = {}
    for i in range(il):
        tag, typ, off, count = struct.unpack_from(">iiii", blob, 8 + 16 * i)
        if tag not in (TAG_NAME, TAG_VERSION, TAG_RELEASE, TAG_EPOCH, TAG_LICENSE, TAG_ARCH,
                       TAG_SOURCERPM, TAG_VENDOR):
            continue
        if off < 0 or off >= len(data):
            raise ValueError(f"rpm tag {tag} offset out of range")
        if typ == _INT32 and count >= 1:
            values[tag] = struct.unpack_from(">i", data, off)[0]
        elif typ in (_STRING, _I18N):
            end = data.find(b"\0", off)
            if end < 0:
                raise ValueError(f"rpm tag {tag} string not terminated")
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


def read_sqlite(db: bytes, wal: bytes | None = None) -> list[RpmHeader]:
    """Headers of every package in an rpmdb.sqlite image (and its WAL, when not empty)."""
    with tempfile.TemporaryDirectory(prefix="dockguard-rpmdb-") as tmp:
        # sqlite needs a real file to apply a write-ahead log; the copy lives in a temp dir.
        path = Path(tmp) / "rpmdb.sqlite"
        path.write_bytes(db)
        if wal:
            (Path(tmp) / "rpmdb.sqlite-wal").write_bytes(wal)
        conn = sqlite3.connect(f"file:{path}?mode={'rw' if wal else 'ro'}", uri=True)
        try:
            rows = conn.execute("SELECT blob FROM Packages").fetchall()
        except sqlite3.DatabaseError as exc:
            raise ValueError(f"not an rpm sqlite database: {exc}") from None
        finally:
            conn.close()
    out = []
    for (blob,) in rows:
        header = parse_header(bytes(blob))
        if header.name and header.name != "gpg-pubkey":
            out.append(header)
    return out


def split_source_rpm(source_rpm: str) -> tuple[str, str]:
    """``openssl-3.0.7-24.el9.src.rpm`` → (``openssl``, ``3.0.7-24.el9``)."""
    base = source_rpm.removesuffix(".rpm")
    base = base.rsplit(".", 1)[0] if base.endswith((".src", ".nosrc")) else base
    parts = base.rsplit("-", 2)
    if len(parts) != 3:
        return "", ""
    return parts[0], f"{parts[1]}-{parts[2]}"


def collect(inp: InventoryInput) -> tuple[list[Package], list[str]]:
    """Installed rpm packages, and a warning for databases that cannot be read."""
    warnings: list[str] = []
    out: list[Package] = []
    family = inp.os.family if inp.os else "redhat"
    ns = {"rhel": "redhat", "centos": "centos", "fedora": "fedora", "rocky": "rocky",
          "almalinux": "almalinux", "amzn": "amazon", "ol": "oracle"}.get(family, family)
    distro = f"{family}-{inp.os.version}" if inp.os and inp.os.version else ""
    for db_path in DB_PATHS:
        hit = inp.fs.files.get(db_path)
        if hit is None:
            continue
        index, data = hit
        wal = inp.fs.files.get(db_path + "-wal")
        try:
            headers = read_sqlite(data, wal[1] if wal else None)
        except ValueError as exc:
            warnings.append(f"/{db_path}: {exc}")
            continue
        for h in headers:
            src_name, src_ver = split_source_rpm(h.source_rpm)
            version = f"{h.version}-{h.release}"
            evr = h.evr
            out.append(
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
    for legacy in LEGACY:
        if legacy in inp.fs.entries and not out:
            warnings.append(f"/{legacy}: Berkeley DB / ndb rpm databases are not read")
    return out, warnings
