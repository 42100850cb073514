"""Header blobs of the two older rpm database formats, read in pure Python and bounded.

**Berkeley DB** (``/var/lib/rpm/Packages``: RHEL/CentOS ≤ 8, Amazon Linux 2): a Berkeley DB
*hash* database whose keys are package instance numbers and whose values are header blobs.
Page 0 is the hash metadata page (magic ``0x061561`` at offset 12, in the byte order of the
machine that wrote it, page size at offset 20, last page number at offset 32).  Every other page
starts with a 26-byte header (next page at 16, entry count at 20, ``hf_offset`` at 22, type at
25).  Hash pages (types 2 and 13) hold an array of 2-byte item offsets after the header, keys
and values alternating; a value item is either inline (type 1: the bytes after the type byte,
up to the previous item) or off-page (type 3: first overflow page at +4, total length at +8).
Overflow pages (type 7) carry ``hf_offset`` bytes after their header and chain through "next".
Every hash page is read in file order, as rpm's own read-only backend does; the bucket
structure is not needed to list every value.

**ndb** (``Packages.db``: SUSE): little-endian.  A 16-byte header (magic ``RpmP``, version 0,
generation, number of slot pages), then 16-byte slots from offset 32 to the end of the slot
pages (magic ``Slot``, package index — 0 for a free slot —, block offset and block count in
16-byte blocks).  A blob starts at ``block offset × 16`` with its own 16-byte head (magic
``BlbS``, package index, time stamp, length) followed by the header blob.

Limits: the file is at most `Limits.max_read` (the layer reader's cap); at most
`Limits.max_packages` blobs, each at most `Limits.max_rpm_header` bytes; every page is visited
at most once (overflow chains that loop or cross are refused).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from dockguard.image.limits import DEFAULT_LIMITS, Limits

HASH_MAGIC = 0x061561
BTREE_MAGIC = 0x053162
P_HASH_UNSORTED, P_OVERFLOW, P_HASH = 2, 7, 13
H_KEYDATA, H_OFFPAGE = 1, 3
PAGE_HEADER = 26

NDB_MAGIC = b"RpmP"
SLOT_MAGIC = b"Slot"
BLOB_MAGIC = b"BlbS"
NDB_PAGE = 4096
NDB_BLOCK = 16


class RpmDbError(ValueError):
    """A database that is not one of the two formats at all."""


@dataclass
class Blobs:
    """The header blobs read, and what could not be read (each a message for the scan)."""

    blobs: list[bytes] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def problem(self, message: str) -> None:
        """Record a problem once per kind (bounded)."""
        if len(self.problems) < 20 and message not in self.problems:
            self.problems.append(message)


def read_bdb(data: bytes, limits: Limits = DEFAULT_LIMITS) -> Blobs:
    """Every header blob of a Berkeley DB hash ``Packages`` file."""
    if len(data) < 512:
        raise RpmDbError("not a Berkeley DB database: shorter than one page")
    order = ""
    for candidate in ("<", ">"):
        if struct.unpack_from(candidate + "I", data, 12)[0] == HASH_MAGIC:
            order = candidate
    if not order:
        if BTREE_MAGIC in (struct.unpack_from("<I", data, 12)[0], struct.unpack_from(">I", data, 12)[0]):
            raise RpmDbError("a Berkeley DB btree database, not the hash database rpm writes")
        raise RpmDbError("not a Berkeley DB hash database (no hash magic on page 0)")
    pagesize = struct.unpack_from(order + "I", data, 20)[0]
    if pagesize < 512 or pagesize > 65536 or pagesize & (pagesize - 1):
        raise RpmDbError(f"Berkeley DB page size {pagesize} is not a power of two from 512 to 65536")
    last = struct.unpack_from(order + "I", data, 32)[0]
    pages = len(data) // pagesize
    out = Blobs()
    if last >= pages:
        out.problem(f"the database names page {last} but the file holds {pages} pages: the file is cut short")
    used: set[int] = set()
    u16 = order + "H"
    for pgno in range(1, min(pages, last + 1)):
        base = pgno * pagesize
        ptype = data[base + 25]
        if ptype not in (P_HASH, P_HASH_UNSORTED):
            continue
        entries = struct.unpack_from(u16, data, base + 20)[0]
        if PAGE_HEADER + 2 * entries > pagesize:
            out.problem(f"hash page {pgno}: {entries} entries do not fit in the page")
            continue
        offsets = struct.unpack_from(order + f"{entries}H", data, base + PAGE_HEADER)
        for i in range(1, entries, 2):  # values: every second item
            off = offsets[i]
            end = offsets[i - 1]
            if not PAGE_HEADER + 2 * entries <= off < end <= pagesize:
                out.problem(f"hash page {pgno}: item {i} lies outside the page")
                continue
            kind = data[base + off]
            if kind == H_KEYDATA:
                blob = data[base + off + 1 : base + end]
                if len(blob) > 8:  # rpm's record 0 holds a 4-byte counter, not a header
                    _add(out, blob, limits)
            elif kind == H_OFFPAGE:
                if end - off < 12:
                    out.problem(f"hash page {pgno}: off-page item {i} too short")
                    continue
                first, total = struct.unpack_from(order + "II", data, base + off + 4)
                big = _overflow(data, order, pagesize, pages, first, total, used, out, limits)
                if big is not None:
                    _add(out, big, limits)
            else:
                out.problem(f"hash page {pgno}: item type {kind} (duplicates) is not used by rpm")
        if len(out.blobs) > limits.max_packages:
            break
    return _cap(out, limits)


def _overflow(data: bytes, order: str, pagesize: int, pages: int, pgno: int, total: int,
              used: set[int], out: Blobs, limits: Limits) -> bytes | None:
    if total > limits.max_rpm_header:
        out.problem(f"a header of {total} bytes is over the {limits.max_rpm_header}-byte cap")
        return None
    parts: list[bytes] = []
    got = 0
    while got < total:
        if pgno == 0 or pgno >= pages:
            out.problem(f"overflow chain runs to page {pgno}, outside the file")
            return None
        if pgno in used:
            out.problem(f"overflow page {pgno} is reached twice (a loop or crossed chains)")
            return None
        used.add(pgno)
        base = pgno * pagesize
        if data[base + 25] != P_OVERFLOW:
            out.problem(f"overflow chain reaches page {pgno} of type {data[base + 25]}")
            return None
        length = struct.unpack_from(order + "H", data, base + 22)[0]
        if length > pagesize - PAGE_HEADER:
            out.problem(f"overflow page {pgno} claims {length} bytes")
            return None
        take = min(length, total - got)
        parts.append(data[base + PAGE_HEADER : base + PAGE_HEADER + take])
        got += take
        pgno = struct.unpack_from(order + "I", data, base + 16)[0]
        if take == 0:
            out.problem("empty overflow page")
            return None
    return b"".join(parts)


def read_ndb(data: bytes, limits: Limits = DEFAULT_LIMITS) -> Blobs:
    """Every header blob of an ndb ``Packages.db`` file."""
    if len(data) < 32 or data[:4] != NDB_MAGIC:
        raise RpmDbError("not an ndb rpm database (no RpmP magic)")
    version, _generation, slot_pages = struct.unpack_from("<III", data, 4)
    if version != 0:
        raise RpmDbError(f"ndb version {version} is not the version 0 this reader knows")
    out = Blobs()
    if slot_pages == 0 or slot_pages * NDB_PAGE > len(data):
        raise RpmDbError(f"ndb database names {slot_pages} slot pages; the file holds {len(data)} bytes")
    seen: set[int] = set()
    for off in range(32, slot_pages * NDB_PAGE, 16):
        magic = data[off : off + 4]
        if magic != SLOT_MAGIC:
            out.problem(f"slot at byte {off} has no Slot magic")
            continue
        index, blkoff, blkcnt = struct.unpack_from("<III", data, off + 4)
        if index == 0:
            continue
        if index in seen:
            out.problem(f"package index {index} appears in two slots")
            continue
        seen.add(index)
        start = blkoff * NDB_BLOCK
        if start < slot_pages * NDB_PAGE or start + blkcnt * NDB_BLOCK > len(data) or blkcnt * NDB_BLOCK < 16:
            out.problem(f"slot of package {index} points outside the file")
            continue
        head = data[start : start + 16]
        bmagic = head[:4]
        bindex, _stamp, length = struct.unpack_from("<III", head, 4)
        if bmagic != BLOB_MAGIC or bindex != index:
            out.problem(f"blob of package {index} has no BlbS magic or names another package")
            continue
        if length > limits.max_rpm_header:
            out.problem(f"a header of {length} bytes is over the {limits.max_rpm_header}-byte cap")
            continue
        if 16 + length > blkcnt * NDB_BLOCK:
            out.problem(f"blob of package {index} is longer than its blocks")
            continue
        _add(out, data[start + 16 : start + 16 + length], limits)
        if len(out.blobs) > limits.max_packages:
            break
    return _cap(out, limits)


def _add(out: Blobs, blob: bytes, limits: Limits) -> None:
    if len(blob) > limits.max_rpm_header:
        out.problem(f"a header of {len(blob)} bytes is over the {limits.max_rpm_header}-byte cap")
        return
    out.blobs.append(blob)


def _cap(out: Blobs, limits: Limits) -> Blobs:
    if len(out.blobs) > limits.max_packages:
        out.blobs = out.blobs[: limits.max_packages]
        out.problem(f"more than {limits.max_packages} packages, the rest not read")
    return out
