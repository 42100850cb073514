"""Go build information embedded in ELF binaries.

The Go linker writes a ``.go.buildinfo`` blob that starts with the 14-byte magic
``\\xff Go buildinf:``, a pointer-size byte and a flags byte.  Before Go 1.18 it is followed by
two pointers to Go string headers (runtime.buildVersion, runtime.modinfo) that must be resolved
through the ELF program headers; from Go 1.18 on (flag bit 1) both strings follow inline,
each prefixed with its uvarint length.  The module info text is wrapped in 16-byte sentinels.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass

MAGIC = b"\xff Go buildinf:"
_SENTINEL_LEN = 16
MAX_SCAN = 256 * 1024 * 1024

ReadAt = Callable[[int, int], bytes]


@dataclass(frozen=True)
class BuildInfo:
    """The Go version and the raw module-info text of one binary."""

    go_version: str
    modinfo: str


def _uvarint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while pos < len(data):
        b = data[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if b < 0x80:
            return value, pos
        shift += 7
        if shift > 63:
            break
    raise ValueError("bad uvarint")


def _strip_modinfo(raw: bytes) -> str:
    if (len(raw) >= 2 * _SENTINEL_LEN + 1 and raw[-_SENTINEL_LEN - 1] == ord("\n")) or len(raw) >= 2 * _SENTINEL_LEN:
        raw = raw[_SENTINEL_LEN:-_SENTINEL_LEN]
    return raw.decode("utf-8", "replace")


def parse_inline(blob: bytes) -> BuildInfo | None:
    """Parse a Go ≥ 1.18 inline build-info blob (starting with the magic)."""
    if not blob.startswith(MAGIC) or len(blob) < 32 or not blob[15] & 0x2:
        return None
    try:
        n, pos = _uvarint(blob, 32)
        version = blob[pos : pos + n].decode("utf-8", "replace")
        pos += n
        n, pos = _uvarint(blob, pos)
        if pos + n > len(blob):
            return None
        mod = blob[pos : pos + n]
    except ValueError:
        return None
    return BuildInfo(version, _strip_modinfo(mod) if mod else "")


class Elf:
    """Just enough ELF to find a section or map a virtual address (bounded reads)."""

    def __init__(self, read_at: ReadAt, size: int):
        self.read_at = read_at
        self.size = size
        ident = read_at(0, 64)
        if len(ident) < 52 or ident[:4] != b"\x7fELF":
            raise ValueError("not ELF")
        self.is64 = ident[4] == 2
        self.end = "<" if ident[5] == 1 else ">"
        e = self.end
        if self.is64:
            (self.phoff, self.shoff) = struct.unpack_from(e + "QQ", ident, 32)
            (self.phentsize, self.phnum, self.shentsize, self.shnum, self.shstrndx) = (
                struct.unpack_from(e + "HHHHH", ident, 54)
            )
        else:
            (self.phoff, self.shoff) = struct.unpack_from(e + "II", ident, 28)
            (self.phentsize, self.phnum, self.shentsize, self.shnum, self.shstrndx) = (
                struct.unpack_from(e + "HHHHH", ident, 42)
            )

    def segments(self) -> list[tuple[int, int, int, int, int]]:
        """(type, flags, offset, vaddr, filesz) per program header."""
        out: list[tuple[int, int, int, int, int]] = []
        if not self.phnum or self.phnum > 4096:
            return out
        table = self.read_at(self.phoff, self.phentsize * self.phnum)
        for i in range(self.phnum):
            base = i * self.phentsize
            if self.is64:
                ptype, flags, off, vaddr, _pa, filesz = struct.unpack_from(
                    self.end + "IIQQQQ", table, base
                )
            else:
                ptype, off, vaddr, _pa, filesz, _memsz, flags = struct.unpack_from(
                    self.end + "IIIIIII", table, base
                )
            out.append((ptype, flags, off, vaddr, filesz))
        return out

    def section(self, wanted: str) -> tuple[int, int] | None:
        """(offset, size) of a named section, if section headers exist."""
        if not self.shnum or self.shnum > 65535 or self.shstrndx >= self.shnum:
            return None
        table = self.read_at(self.shoff, self.shentsize * self.shnum)
        if len(table) < self.shentsize * self.shnum:
            return None

        def sh(i: int) -> tuple[int, int, int]:
            base = i * self.shentsize
            if self.is64:
                name, _t, _f, _a, off, size = struct.unpack_from(self.end + "IIQQQQ", table, base)
            else:
                name, _t, _f, _a, off, size = struct.unpack_from(self.end + "IIIIII", table, base)
            return name, off, size

        _, stroff, strsize = sh(self.shstrndx)
        names = self.read_at(stroff, min(strsize, 1 << 20))
        key = wanted.encode()
        for i in range(self.shnum):
            name, off, size = sh(i)
            end = names.find(b"\0", name)
            if names[name:end] == key:
                return off, size
        return None

    def read_vaddr(self, addr: int, n: int) -> bytes:
        for ptype, _flags, off, vaddr, filesz in self.segments():
            if ptype == 1 and vaddr <= addr < vaddr + filesz:
                return self.read_at(off + addr - vaddr, min(n, vaddr + filesz - addr))
        return b""


def _read_pointer_format(elf: Elf, blob: bytes) -> BuildInfo | None:
    ptr_size = blob[14]
    if ptr_size not in (4, 8):
        return None
    end = ">" if blob[15] & 0x1 else "<"
    fmt = end + ("Q" if ptr_size == 8 else "I")

    def read_string(header_addr: int) -> str:
        header = elf.read_vaddr(header_addr, 2 * ptr_size)
        if len(header) < 2 * ptr_size:
            return ""
        data_addr = struct.unpack_from(fmt, header, 0)[0]
        length = struct.unpack_from(fmt, header, ptr_size)[0]
        if length > 1 << 20:
            return ""
        return elf.read_vaddr(data_addr, length).decode("utf-8", "replace")

    version_ptr = struct.unpack_from(fmt, blob, 16)[0]
    mod_ptr = struct.unpack_from(fmt, blob, 16 + ptr_size)[0]
    version = read_string(version_ptr)
    mod = read_string(mod_ptr)
    raw = mod.encode("utf-8", "replace")
    return BuildInfo(version, _strip_modinfo(raw) if raw else "")


def read_buildinfo(read_at: ReadAt, size: int) -> BuildInfo | None:
    """Build info of an ELF file given random access to it; None for non-Go files."""
    try:
        elf = Elf(read_at, size)
    except (ValueError, struct.error):
        return None
    try:
        blob = b""
        sec = elf.section(".go.buildinfo")
        if sec is not None:
            blob = read_at(sec[0], min(sec[1], 64 * 1024))
        else:
            # No section table: search the first writable loadable segment like Go does.
            for ptype, flags, off, _vaddr, filesz in elf.segments():
                if ptype == 1 and flags & 0x2:
                    data = read_at(off, min(filesz, MAX_SCAN))
                    at = _aligned_find(data)
                    if at >= 0:
                        blob = data[at : at + 64 * 1024]
                    break
        if not blob.startswith(MAGIC):
            return None
        if blob[15] & 0x2:
            return parse_inline(blob)
        return _read_pointer_format(elf, blob)
    except (ValueError, struct.error):
        return None


def _aligned_find(data: bytes) -> int:
    at = data.find(MAGIC)
    while at >= 0 and at % 16:
        at = data.find(MAGIC, at + 1)
    return at


def scan_stream(chunks: Iterable[bytes]) -> BuildInfo | None:
    """Find inline (Go ≥ 1.18) build info in a sequential stream, keeping little in memory."""
    tail = b""
    capture: bytes | None = None
    for chunk in chunks:
        if capture is not None:
            if len(capture) < 64 * 1024:
                capture += chunk[: 64 * 1024]
            continue
        buf = tail + chunk
        at = buf.find(MAGIC)
        if at >= 0:
            capture = buf[at:]
        else:
            tail = buf[-(len(MAGIC) - 1) :]
    if capture is None:
        return None
    return parse_inline(capture)
