"""A small, bounded, streaming tar reader for hostile input.

Python's `tarfile` is general but slow per entry and happy to read whatever sizes a header
claims.  Image layers only need headers (ustar, GNU long names, pax path/linkpath/size) and,
for a few members, bounded bodies.  Bodies that nobody reads are skipped with ``seek`` when the
underlying stream allows it, otherwise read and discarded in chunks.

Compression is recognised by magic (gzip, zstd, else plain), and decompression is bounded both
in total output and in the expansion ratio so that a bomb stops with an error instead of
exhausting memory or time.
"""

from __future__ import annotations

import gzip
import io
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, BinaryIO, cast

from dockguard.image.limits import DEFAULT_LIMITS, BudgetExceeded, Limits, ScanBudget

BLOCK = 512
GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"

REGULAR = "0"
HARDLINK = "1"
SYMLINK = "2"
CHARDEV = "3"
BLOCKDEV = "4"
DIRECTORY = "5"
FIFO = "6"


class TarError(Exception):
    """The tar stream is corrupt, truncated or exceeds a safety bound."""




@dataclass
class TarEntry:
    """One member header; `offset` is where its body starts in the (decompressed) stream."""

    path: str
    type: str
    mode: int
    uid: int
    gid: int
    size: int
    linkname: str
    offset: int


def _num(field: bytes) -> int:
    if field and field[0] & 0x80:  # GNU base-256
        value = int.from_bytes(field[1:], "big")
        if field[0] & 0x40:
            raise TarError("negative number in tar header")
        return value
    text = field.split(b"\0", 1)[0].strip(b" \0")
    if not text:
        return 0
    try:
        return int(text, 8)
    except ValueError:
        raise TarError(f"bad number {text[:20]!r} in tar header") from None


def _str(field: bytes) -> str:
    # Undecodable bytes become U+FFFD: names end up in reports, which must stay valid UTF-8.
    return field.split(b"\0", 1)[0].decode("utf-8", "replace")


def _pax_int(pax: dict[str, str], key: str, default: int) -> int:
    if key not in pax:
        return default
    text = pax[key].strip()
    if not text.isdigit() or len(text) > 20:
        raise TarError(f"bad pax {key} {text[:20]!r}")
    return int(text)


def _parse_pax(data: bytes) -> dict[str, str]:
    out: dict[str, str] = {}
    pos = 0
    while pos < len(data):
        sp = data.find(b" ", pos)
        if sp < 0:
            break
        digits = data[pos:sp]
        if not digits.isdigit() or len(digits) > 12:
            raise TarError("bad pax header")
        length = int(digits)
        if length <= 0 or pos + length > len(data):
            raise TarError("bad pax record length")
        record = data[sp + 1 : pos + length - 1]
        key, _, value = record.partition(b"=")
        out[key.decode("utf-8", "replace")] = value.decode("utf-8", "replace")
        pos += length
    return out


class TarReader:
    """Iterate the headers of a tar stream; read bodies on demand, bounded.

    The stream must be positioned at the start of the archive.  When `seekable` is true,
    unread bodies are skipped with a relative seek; otherwise they are read and discarded.
    """

    def __init__(self, stream: IO[bytes], *, seekable: bool, limits: Limits = DEFAULT_LIMITS,
                 budget: ScanBudget | None = None):
        self._f = stream
        self._budget = budget
        self._seekable = seekable
        self.limits = limits
        self.pos = 0
        self._body_left = 0   # unread bytes of the current body including padding
        self._entry: TarEntry | None = None
        self.count = 0
        # Absolute positions: body_stream() views move the shared file offset.
        self._base = stream.tell() if seekable else 0

    def _read_exact(self, n: int) -> bytes:
        data = self._f.read(n)
        if len(data) != n:
            # A short read may be a partial chunk from a pipe: keep reading.
            parts = [data]
            got = len(data)
            while got < n:
                more = self._f.read(n - got)
                if not more:
                    raise TarError("unexpected end of tar stream (truncated archive?)")
                parts.append(more)
                got += len(more)
            data = b"".join(parts)
        self.pos += n
        return data

    def _skip(self, n: int) -> None:
        if n <= 0:
            return
        if self._seekable:
            self.pos += n
            self._f.seek(self._base + self.pos)
            return
        while n:
            chunk = self._f.read(min(n, 1 << 20))
            if not chunk:
                raise TarError("unexpected end of tar stream (truncated archive?)")
            n -= len(chunk)
            self.pos += len(chunk)

    def _finish_body(self) -> None:
        self._skip(self._body_left)
        self._body_left = 0

    def read_body(self, limit: int | None = None) -> bytes:
        """The whole body of the current entry (once); TarError if larger than `limit`."""
        entry = self._entry
        if entry is None:
            raise TarError("no current entry")
        limit = self.limits.max_read if limit is None else limit
        if entry.size > limit:
            raise TarError(f"{entry.path}: {entry.size} bytes exceeds the read bound {limit}")
        padded = -(-entry.size // BLOCK) * BLOCK
        if self._body_left != padded:
            raise TarError(f"{entry.path}: body already consumed")
        if self._seekable:
            self._f.seek(self._base + self.pos)
        data = self._read_exact(entry.size)
        self._body_left = padded - entry.size
        return data

    def body_stream(self) -> BinaryIO:
        """A seekable view of the current body (seekable sources only)."""
        entry = self._entry
        if entry is None or not self._seekable:
            raise TarError("random access to a member needs a seekable stream")
        return Region(self._f, self._base + self.pos, entry.size)  # type: ignore[arg-type,return-value]

    def body_chunks(self, chunk: int = 1 << 20) -> Iterator[bytes]:
        """Stream the current body in chunks (consumes it)."""
        entry = self._entry
        if entry is None:
            return
        padded = -(-entry.size // BLOCK) * BLOCK
        if self._body_left != padded:
            raise TarError(f"{entry.path}: body already consumed")
        left = entry.size
        while left:
            data = self._f.read(min(left, chunk))
            if not data:
                raise TarError("unexpected end of tar stream (truncated archive?)")
            left -= len(data)
            self.pos += len(data)
            self._body_left -= len(data)
            yield data

    def __iter__(self) -> Iterator[TarEntry]:
        pax: dict[str, str] = {}
        longname: str | None = None
        longlink: str | None = None
        while True:
            self._finish_body()
            self._entry = None
            if self._seekable:
                self._f.seek(self._base + self.pos)
            header = self._f.read(BLOCK)
            if len(header) < BLOCK:
                if not header:
                    if self._seekable and self.pos > self._f.seek(0, io.SEEK_END):
                        raise TarError("unexpected end of tar stream (truncated archive?)")
                    if self.count == 0 and not pax and longname is None:
                        raise TarError("empty stream: not a tar archive")
                    return  # tolerate a missing end-of-archive marker
                while len(header) < BLOCK:
                    more = self._f.read(BLOCK - len(header))
                    if not more:
                        raise TarError("unexpected end of tar stream (truncated archive?)")
                    header += more
            self.pos += BLOCK
            if header == b"\0" * BLOCK:
                return
            chksum = _num(header[148:156])
            if chksum != sum(header[:148]) + 256 + sum(header[156:]):
                raise TarError(f"bad tar header checksum at offset {self.pos - BLOCK}")
            typeflag = chr(header[156]) if header[156] else REGULAR
            size = _pax_int(pax, "size", _num(header[124:136]))
            if size > self.limits.max_layer_bytes:
                raise TarError(f"member of {size} bytes is larger than a layer may be")
            padded = -(-size // BLOCK) * BLOCK
            if typeflag in ("x", "g", "L", "K"):
                if size > self.limits.max_pax:
                    raise TarError(f"extended header of {size} bytes exceeds the bound")
                data = self._read_exact(size)
                self._skip(padded - size)
                if typeflag == "x":
                    pax = _parse_pax(data)
                elif typeflag == "L":
                    longname = _str(data)
                elif typeflag == "K":
                    longlink = _str(data)
                continue
            self.count += 1
            if self.count > self.limits.max_entries:
                raise TarError(f"more than {self.limits.max_entries} entries")
            if self._budget is not None:
                try:
                    self._budget.charge_entry()
                except BudgetExceeded as exc:
                    raise TarError(str(exc)) from None
            if longname is not None:
                name = longname
            elif "path" in pax:
                name = pax["path"]
            else:
                name = _str(header[0:100])
                if header[257:262] == b"ustar":
                    prefix = _str(header[345:500])
                    if prefix:
                        name = f"{prefix}/{name}"
            if longlink is not None:
                linkname = longlink
            elif "linkpath" in pax:
                linkname = pax["linkpath"]
            else:
                linkname = _str(header[157:257])
            if typeflag == "7":
                typeflag = REGULAR
            entry = TarEntry(
                path=name,
                type=typeflag,
                mode=_num(header[100:108]) & 0o7777,
                uid=_pax_int(pax, "uid", _num(header[108:116])),
                gid=_pax_int(pax, "gid", _num(header[116:124])),
                size=size if typeflag in (REGULAR, "S") else 0,
                linkname=linkname,
                offset=self.pos,
            )
            self._body_left = padded
            pax, longname, longlink = {}, None, None
            self._entry = entry
            yield entry


class Region(io.RawIOBase):
    """A read-only, seekable window [start, start+size) of a seekable file."""

    def __init__(self, f: BinaryIO, start: int, size: int):
        self._f = f
        self._start = start
        self._size = size
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def span(self) -> tuple[BinaryIO, int, int]:
        """The underlying file, where the window starts in it and its size."""
        return self._f, self._start, self._size

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            pos = offset
        elif whence == io.SEEK_CUR:
            pos = self._pos + offset
        else:
            pos = self._size + offset
        self._pos = max(0, min(pos, self._size))
        return self._pos

    def read(self, n: int = -1) -> bytes:
        left = self._size - self._pos
        if n is None or n < 0 or n > left:
            n = left
        if n <= 0:
            return b""
        self._f.seek(self._start + self._pos)
        data = self._f.read(n)
        self._pos += len(data)
        return data

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        n = min(len(b), self._size - self._pos)
        if n <= 0:
            return 0
        self._f.seek(self._start + self._pos)
        # Straight into the caller's buffer: one copy instead of two.
        got = cast("io.BufferedIOBase", self._f).readinto(memoryview(b)[:n])
        self._pos += got
        return got


class _Counting(io.RawIOBase):
    def __init__(self, f: IO[bytes]):
        self._f = f
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self._f.read(len(b))
        b[: len(data)] = data
        self.count += len(data)
        return len(data)


class BoundedDecompressor(io.RawIOBase):
    """Decompressed view of a gzip or zstd stream that refuses bombs."""

    def __init__(self, raw: IO[bytes], kind: str, limits: Limits):
        self._counter = _Counting(raw)
        self._limits = limits
        self.out = 0
        self._inner: IO[bytes]
        if kind == "gzip":
            self._inner = gzip.GzipFile(fileobj=io.BufferedReader(self._counter, 1 << 16))  # type: ignore[assignment]
        else:
            import zstandard

            self._inner = zstandard.ZstdDecompressor().stream_reader(
                self._counter,  # type: ignore[arg-type]
                read_across_frames=True,
            )

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        try:
            data = self._inner.read(len(b))
        except EOFError:
            raise TarError("compressed layer is truncated (it ends before its end-of-stream marker)") from None
        except (OSError, ValueError) as exc:
            raise TarError(f"corrupt compressed layer: {exc}") from None
        except Exception as exc:  # zstandard.ZstdError is not an OSError
            raise TarError(f"corrupt compressed layer: {exc}") from None
        self.out += len(data)
        lim = self._limits
        if self.out > lim.max_layer_bytes:
            raise TarError(f"decompressed layer exceeds {lim.max_layer_bytes} bytes")
        if self.out > lim.max_read and self.out > lim.max_ratio * max(self._counter.count, 1):
            raise TarError(
                f"decompression ratio above {lim.max_ratio}:1 (decompression bomb?)"
            )
        b[: len(data)] = data
        return len(data)


def sniff(head: bytes) -> str:
    """``gzip``, ``zstd``, ``tar`` or ``unknown`` from the first bytes of a blob."""
    if head.startswith(GZIP_MAGIC):
        return "gzip"
    if head.startswith(ZSTD_MAGIC):
        return "zstd"
    if len(head) >= 263 and head[257:262] == b"ustar":
        return "tar"
    if len(head) >= BLOCK and head[:BLOCK] == b"\0" * BLOCK:
        return "tar"  # an empty layer is just the end-of-archive blocks
    if len(head) >= BLOCK and _looks_v7(head[:BLOCK]):
        return "tar"
    return "unknown"


def _looks_v7(header: bytes) -> bool:
    try:
        return _num(header[148:156]) == sum(header[:148]) + 256 + sum(header[156:512])
    except TarError:
        return False


@dataclass
class LayerStream:
    """A decompressed layer ready for `TarReader`, plus whether it can seek."""

    stream: IO[bytes]
    seekable: bool
    compression: str


def open_layer_stream(raw: IO[bytes], *, seekable: bool, limits: Limits = DEFAULT_LIMITS) -> LayerStream:
    """Detect compression by magic and wrap `raw` accordingly (raw must be at offset 0)."""
    if seekable:
        head = raw.read(BLOCK)
        raw.seek(0)
        reader: IO[bytes] = raw
    else:
        buffered = (
            raw if isinstance(raw, io.BufferedReader) else io.BufferedReader(cast(io.RawIOBase, raw), 1 << 16)
        )
        head = buffered.peek(BLOCK)[:BLOCK]
        reader = buffered
    kind = sniff(head)
    if kind in ("gzip", "zstd"):
        dec = io.BufferedReader(BoundedDecompressor(reader, kind, limits), 1 << 20)
        return LayerStream(dec, False, kind)
    if kind == "unknown":
        raise TarError("layer is neither a tar archive nor gzip/zstd compressed")
    return LayerStream(reader, seekable, "none")
