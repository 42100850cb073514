"""Bounded decoding of advisory files: every limit an import obeys lives here.

Advisory feeds are downloaded from the network or handed over as files: an attacker may have
written them.  Memory of an import stays bounded whatever the input:

- a document decoded whole (an OSV record, a secdb file, a small tracker export) has a byte cap
  and a cap on its number of values, checked *before* Python objects are built (a few bytes of
  ``[],`` become ~70 bytes of objects each);
- YAML is decoded from the parser's event stream into strings, lists and dicts only: every
  scalar stays a string (``1.10`` is a version, not the float 1.1), aliases are refused (no
  billion laughs), nesting and the node count are capped as the events arrive;
- zip archives are read from their central directory one entry at a time (never a list of
  every member), each member inflated with its declared size *and* the bytes actually produced
  checked against the cap, its CRC verified;
- a large JSON export (the Debian tracker, an OSV list) is walked as a stream: only the
  entries below a fixed number of levels are decoded, one at a time, each under its own cap.

Every failure is an `InputError` naming the file (or zip member) and the JSON path.
"""

from __future__ import annotations

import os
import re
import stat
import struct
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Protocol, TypeVar, overload

from dockguard.inputs import MAX_DEPTH, InputError, KiB, MiB, decode_utf8, expect, parse_json, read_bytes
from dockguard.jsontypes import Json, JsonObject

GiB = 1024 * MiB

#: One OSV record: a JSON/YAML file or a zip member (the largest real records are ~1 MiB).
MAX_RECORD_BYTES = 4 * MiB
#: A document decoded whole: an Alpine secdb file (~1 MiB today), an OSV list, a tracker
#: export small enough not to need streaming.
MAX_DOCUMENT_BYTES = 16 * MiB
#: Values (JSON) or nodes (YAML) in one document decoded whole; ~120 bytes of memory each at worst.
MAX_VALUES = 1_000_000
#: A JSON export walked as a stream: the Debian tracker (~70 MiB today).
MAX_STREAM_BYTES = 256 * MiB
#: One entry of a streamed export (a tracker package/CVE entry is ~1 KiB).
MAX_STREAM_ENTRY_BYTES = 1 * MiB
#: Files of one directory of records (their paths are listed in memory).
MAX_MEMBERS = 1_000_000
#: Members of one zip archive, read from the central directory one at a time (OSV's largest
#: all.zip, Chainguard's, holds ~1.4 million records today).
MAX_ZIP_MEMBERS = 4_000_000
#: Bytes of advisory data one import reads (inflated), all inputs together.
MAX_IMPORT_BYTES = 8 * GiB
#: Longest name of a zip member or JSON key at a streamed level.
MAX_NAME_BYTES = 64 * KiB

_CHUNK = 1 * MiB


@dataclass
class ImportBudget:
    """What one import has read so far, against `MAX_IMPORT_BYTES`."""

    limit: int = MAX_IMPORT_BYTES
    used: int = field(default=0)

    def spend(self, n: int, origin: str) -> None:
        """Count `n` bytes read from `origin`; past the limit the import stops."""
        self.used += n
        if self.used > self.limit:
            raise InputError(origin, f"the import read more than the {self.limit} bytes allowed for one import")


# --- whole documents --------------------------------------------------------------------------


def _value_bound(data: bytes) -> int:
    # Every JSON value but the first follows one of these bytes (strings may hold some too:
    # the bound only over-counts).
    return 1 + data.count(b",") + data.count(b":") + data.count(b"[") + data.count(b"{")


def decode_json(data: bytes, origin: str, *, max_values: int = MAX_VALUES) -> Json:
    """Parse a JSON document after checking that it cannot hold more than `max_values` values."""
    if _value_bound(data) > max_values:
        raise InputError(origin, f"JSON document with more than {max_values} values")
    return parse_json(data, origin)


def decode_yaml(data: bytes, origin: str, *, max_values: int = MAX_VALUES, max_depth: int = MAX_DEPTH) -> Json:
    """Parse one YAML document into strings, lists and dicts (every scalar a string).

    Aliases are refused, nesting is capped at `max_depth` and nodes at `max_values`, all while
    the parser's events arrive: nothing larger than the result is ever built.
    """
    import yaml

    text = decode_utf8(data, origin, "YAML")
    loader_cls = getattr(yaml, "CBaseLoader", yaml.BaseLoader)
    loader = loader_cls(text)
    try:
        return _build(loader, origin, max_values, max_depth)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise InputError(origin, f"invalid YAML: {problem}", where) from None
    finally:
        loader.dispose()


class _EventSource(Protocol):
    """The part of a PyYAML loader `_build` uses."""

    def get_event(self) -> object:
        """The next parse event, or None at the end."""
        ...


def _build(loader: _EventSource, origin: str, max_values: int, max_depth: int) -> Json:
    import yaml

    stack: list[tuple[list[Json] | dict[str, Json], list[str | None]]] = []
    result: Json = None
    documents = nodes = 0
    while True:
        event = loader.get_event()
        if event is None or isinstance(event, yaml.StreamEndEvent):
            return result
        if isinstance(event, yaml.DocumentStartEvent):
            documents += 1
            if documents > 1:
                raise InputError(origin, "more than one YAML document", _line(event))
            continue
        if isinstance(event, yaml.AliasEvent):
            raise InputError(origin, "YAML aliases are not accepted", _line(event))
        value: str | list[Json] | dict[str, Json]
        if isinstance(event, yaml.ScalarEvent):
            value = event.value
        elif isinstance(event, yaml.SequenceStartEvent | yaml.MappingStartEvent):
            if len(stack) >= max_depth:
                raise InputError(origin, f"YAML nested deeper than {max_depth} levels", _line(event))
            value = [] if isinstance(event, yaml.SequenceStartEvent) else {}
        elif isinstance(event, yaml.SequenceEndEvent | yaml.MappingEndEvent):
            done, _ = stack.pop()
            if not stack:
                result = done
            continue
        else:  # stream start, document end
            continue
        nodes += 1
        if nodes > max_values:
            raise InputError(origin, f"YAML document with more than {max_values} nodes")
        if stack:
            parent, key = stack[-1]
            if isinstance(parent, list):
                parent.append(value)
            elif key[0] is None:
                if not isinstance(value, str):
                    raise InputError(origin, "a YAML mapping key must be a plain value", _line(event))
                key[0] = value
            else:
                parent[key[0]] = value
                key[0] = None
        elif not isinstance(value, list | dict):
            result = value
        if isinstance(value, list | dict):
            stack.append((value, [None]))


def _line(event: object) -> str:
    mark = getattr(event, "start_mark", None)
    return f"line {mark.line + 1}" if mark is not None else ""


def is_yaml_name(name: str) -> bool:
    """True for ``.yaml``/``.yml`` names (everything else is decoded as JSON)."""
    return name.endswith((".yaml", ".yml"))


def decode_document(data: bytes, origin: str, *, yaml_syntax: bool) -> Json:
    """`decode_yaml` or `decode_json`."""
    return decode_yaml(data, origin) if yaml_syntax else decode_json(data, origin)


def read_document(path: Path, *, limit: int, budget: ImportBudget, what: str) -> bytes:
    """The bytes of one file, at most `limit` (counted against the import's budget)."""
    data = read_bytes(path, limit=limit, what=what)
    budget.spend(len(data), str(path))
    return data


def regular_size(path: Path) -> int | None:
    """Size of a regular file, None for a stream (FIFO, device)."""
    try:
        st = os.stat(path)
    except OSError as exc:
        raise InputError(str(path), f"cannot read: {exc.strerror or exc}") from None
    return st.st_size if stat.S_ISREG(st.st_mode) else None


# --- zip archives -----------------------------------------------------------------------------

_EOCD = struct.Struct("<4s4H2LH")
_EOCD64_LOCATOR = struct.Struct("<4sLQL")
_EOCD64 = struct.Struct("<4sQ2H2L4Q")
_CENTRAL = struct.Struct("<4s6H3L5H2L")
_LOCAL = struct.Struct("<4s5H3L2H")


@dataclass(frozen=True)
class _Member:
    name: str
    flags: int
    method: int
    crc: int
    compressed: int
    size: int
    offset: int


def zip_members(
    path: Path,
    budget: ImportBudget,
    *,
    suffixes: Sequence[str],
    limit: int = MAX_RECORD_BYTES,
    label: str | None = None,
) -> Iterator[tuple[str, bytes]]:
    """(member name, bytes) of every member whose name ends with one of `suffixes`.

    Messages name the archive as `label` (a download's URL) when given, else by its path.

    The central directory is read one entry at a time; a member is refused when its declared
    size is over `limit`, when inflating it produces more than `limit` bytes (whatever the
    header says) or not exactly the declared size, or when its CRC differs.
    """
    origin = label or str(path)
    try:
        with open(path, "rb") as directory, open(path, "rb") as data:
            count, cd_size, cd_offset = _end_record(directory, origin)
            if count > MAX_ZIP_MEMBERS:
                raise InputError(origin, f"zip archive of {count} members (more than {MAX_ZIP_MEMBERS})")
            directory.seek(cd_offset)
            seen = 0
            consumed = 0
            while consumed < cd_size:
                member, used = _central_entry(directory, origin)
                consumed += used
                seen += 1
                if seen > MAX_ZIP_MEMBERS:
                    raise InputError(origin, f"zip archive of more than {MAX_ZIP_MEMBERS} members")
                if member.name.endswith("/") or not member.name.endswith(tuple(suffixes)):
                    continue
                yield member.name, _inflate(data, member, f"{origin}:{member.name}", limit, budget)
    except OSError as exc:
        raise InputError(origin, f"cannot read zip archive: {exc.strerror or exc}") from None


def _end_record(f: IO[bytes], origin: str) -> tuple[int, int, int]:
    f.seek(0, os.SEEK_END)
    size = f.tell()
    tail_len = min(size, _EOCD.size + 65535)
    f.seek(size - tail_len)
    tail = f.read(tail_len)
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or len(tail) - at < _EOCD.size:
        raise InputError(origin, "not a zip archive (no end of central directory)")
    _, _, _, _, count, cd_size, cd_offset, _ = _EOCD.unpack_from(tail, at)
    if count == 0xFFFF or cd_size == 0xFFFFFFFF or cd_offset == 0xFFFFFFFF:
        loc = at - _EOCD64_LOCATOR.size
        if loc < 0 or tail[loc : loc + 4] != b"PK\x06\x07":
            raise InputError(origin, "zip64 archive without its end record locator")
        _, _, eocd64_offset, _ = _EOCD64_LOCATOR.unpack_from(tail, loc)
        f.seek(eocd64_offset)
        raw = f.read(_EOCD64.size)
        if len(raw) < _EOCD64.size or raw[:4] != b"PK\x06\x06":
            raise InputError(origin, "zip64 end of central directory is missing")
        fields = _EOCD64.unpack(raw)
        count, cd_size, cd_offset = fields[7], fields[8], fields[9]
    if cd_offset + cd_size > size:
        raise InputError(origin, "zip central directory lies past the end of the file")
    return count, cd_size, cd_offset


def _central_entry(f: IO[bytes], origin: str) -> tuple[_Member, int]:
    head = f.read(_CENTRAL.size)
    if len(head) < _CENTRAL.size or head[:4] != b"PK\x01\x02":
        raise InputError(origin, "corrupt zip central directory")
    (_, _, _, flags, method, _, _, crc, compressed, size, name_len, extra_len, comment_len, _, _, _, offset) = (
        _CENTRAL.unpack(head)
    )
    rest = f.read(name_len + extra_len + comment_len)
    if len(rest) < name_len + extra_len + comment_len:
        raise InputError(origin, "corrupt zip central directory")
    raw_name = rest[:name_len]
    name = raw_name.decode("utf-8" if flags & 0x800 else "cp437", errors="replace")
    extra = rest[name_len : name_len + extra_len]
    if 0xFFFFFFFF in (compressed, size, offset):
        size, compressed, offset = _zip64_extra(extra, size, compressed, offset, origin)
    return _Member(name, flags, method, crc, compressed, size, offset), _CENTRAL.size + len(rest)


def _zip64_extra(extra: bytes, size: int, compressed: int, offset: int, origin: str) -> tuple[int, int, int]:
    pos = 0
    while pos + 4 <= len(extra):
        tag, length = struct.unpack_from("<2H", extra, pos)
        if tag == 1:
            values = list(struct.unpack_from(f"<{length // 8}Q", extra, pos + 4))
            if size == 0xFFFFFFFF and values:
                size = values.pop(0)
            if compressed == 0xFFFFFFFF and values:
                compressed = values.pop(0)
            if offset == 0xFFFFFFFF and values:
                offset = values.pop(0)
            return size, compressed, offset
        pos += 4 + length
    raise InputError(origin, "zip64 member without its size field")


def _inflate(f: IO[bytes], m: _Member, origin: str, limit: int, budget: ImportBudget) -> bytes:
    if m.flags & 0x1:
        raise InputError(origin, "encrypted zip member")
    if m.method not in (0, 8):
        raise InputError(origin, f"zip member compressed with method {m.method} (only stored and deflate)")
    if m.size > limit:
        raise InputError(origin, f"zip member of {m.size} bytes is larger than the {limit} allowed")
    f.seek(m.offset)
    head = f.read(_LOCAL.size)
    if len(head) < _LOCAL.size or head[:4] != b"PK\x03\x04":
        raise InputError(origin, "corrupt zip member header")
    name_len, extra_len = _LOCAL.unpack(head)[9:11]
    f.seek(m.offset + _LOCAL.size + name_len + extra_len)
    inflater = zlib.decompressobj(-15) if m.method == 8 else None
    out = bytearray()
    left = m.compressed
    try:
        # max_length is always >= 1 here (0 would mean "no limit"); input zlib could not
        # inflate within it stays in unconsumed_tail and is fed again only while under the cap.
        while left > 0 and len(out) <= limit:
            chunk = f.read(min(left, _CHUNK))
            if not chunk:
                raise InputError(origin, "zip member is truncated")
            left -= len(chunk)
            if inflater is None:
                out += chunk
                continue
            out += inflater.decompress(chunk, limit + 1 - len(out))
            while inflater.unconsumed_tail and len(out) <= limit:
                out += inflater.decompress(inflater.unconsumed_tail, limit + 1 - len(out))
        if inflater is not None and len(out) <= limit:
            out += inflater.decompress(b"", limit + 1 - len(out))
    except zlib.error as exc:
        raise InputError(origin, f"corrupt zip member: {exc}") from None
    if len(out) > limit:
        raise InputError(origin, f"zip member inflates past the {limit} bytes allowed (its header says {m.size})")
    if len(out) != m.size:
        raise InputError(origin, f"zip member holds {len(out)} bytes, its header says {m.size}")
    if zlib.crc32(out) != m.crc:
        raise InputError(origin, "zip member fails its CRC check")
    budget.spend(len(out), origin)
    return bytes(out)


# --- streamed JSON exports --------------------------------------------------------------------

_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')
_TOKEN = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]|"')
_SPACE = b" \t\r\n"


class JsonStream:
    """Walk a large JSON document level by level; decode only the entries below the walk.

    ``entries(("object", "object"))`` on ``{"a": {"x": {...}, "y": {...}}}`` yields
    ``(("a", "x"), {...})`` and ``(("a", "y"), {...})``: each entry is found by scanning its
    bytes (strings skipped, brackets counted, nesting capped) and decoded alone, so memory
    holds one entry and a read buffer, whatever the document's size.
    """

    def __init__(
        self,
        f: IO[bytes],
        origin: str,
        *,
        limit: int = MAX_STREAM_BYTES,
        entry_limit: int = MAX_STREAM_ENTRY_BYTES,
        budget: ImportBudget | None = None,
    ) -> None:
        self._f = f
        self.origin = origin
        self._limit = limit
        self._entry_limit = entry_limit
        self._budget = budget or ImportBudget()
        self._buf = bytearray()
        self._pos = 0
        self._read = 0
        self._eof = False

    def _more(self) -> bool:
        if self._eof:
            return False
        if self._pos > _CHUNK:
            del self._buf[: self._pos]
            self._pos = 0
        chunk = self._f.read(_CHUNK)
        if not chunk:
            self._eof = True
            return False
        self._read += len(chunk)
        if self._read > self._limit:
            raise InputError(self.origin, f"file is larger than the {self._limit} bytes allowed")
        self._budget.spend(len(chunk), self.origin)
        self._buf += chunk
        return True

    def _peek(self, path: Sequence[str | int]) -> int:
        while True:
            while self._pos < len(self._buf) and self._buf[self._pos] in _SPACE:
                self._pos += 1
            if self._pos < len(self._buf):
                return self._buf[self._pos]
            if not self._more():
                raise InputError.at(self.origin, path, "JSON ends too early")

    def _expect(self, byte: bytes, path: Sequence[str | int], what: str) -> None:
        if self._peek(path) != byte[0]:
            raise InputError.at(self.origin, path, f"expected {what}")
        self._pos += 1

    def _key(self, path: Sequence[str | int]) -> str:
        if self._peek(path) != ord('"'):
            raise InputError.at(self.origin, path, "expected a string key")
        while True:
            m = _STRING.match(self._buf, self._pos)
            if m is not None:
                break
            if len(self._buf) - self._pos > MAX_NAME_BYTES or not self._more():
                raise InputError.at(self.origin, path, "key string is unterminated or too long")
        self._pos = m.end()
        key = parse_json(m.group(), self.origin)
        assert isinstance(key, str)
        return key

    def _entry(self, path: Sequence[str | int]) -> Json:
        # Offsets are kept relative to the entry's start: `_more` may move the buffer.
        start = self._pos
        rel = 0
        depth = 0
        while True:
            m = _TOKEN.search(self._buf, start + rel)
            if m is None or m.group() == b'"':  # the buffer ends inside the entry
                rel = (m.start() if m is not None else len(self._buf)) - start
                if rel > self._entry_limit:
                    break
                if not self._more():
                    raise InputError.at(self.origin, path, "JSON ends inside this entry")
                start = self._pos
                continue
            tok = m.group()
            rel = m.end() - start
            if rel > self._entry_limit:
                break
            if tok in (b"{", b"["):
                depth += 1
                if depth > MAX_DEPTH:
                    raise InputError.at(self.origin, path, f"nested deeper than {MAX_DEPTH} levels")
            elif tok in (b"}", b"]"):
                depth -= 1
                if depth == 0:
                    break
        if rel > self._entry_limit:
            raise InputError.at(self.origin, path, f"entry larger than the {self._entry_limit} bytes allowed")
        raw = bytes(self._buf[start : start + rel])
        self._pos = start + rel
        try:
            value = parse_json(raw, self.origin)
        except InputError as exc:
            raise InputError.at(self.origin, path, exc.problem) from None
        return value

    def entries(self, levels: Sequence[str]) -> Iterator[tuple[tuple[str | int, ...], Json]]:
        """(keys, value) of every entry `len(levels)` levels down; `levels` names each container."""
        yield from self._walk(levels, ())
        while True:
            while self._pos < len(self._buf) and self._buf[self._pos] in _SPACE:
                self._pos += 1
            if self._pos < len(self._buf):
                raise InputError(self.origin, "unexpected data after the JSON document")
            if not self._more():
                return

    def _walk(self, levels: Sequence[str], path: tuple[str | int, ...]) -> Iterator[tuple[tuple[str | int, ...], Json]]:
        kind = levels[0]
        is_object = kind == "object"
        self._expect(b"{" if is_object else b"[", path, "an object" if is_object else "a list")
        close = ord("}") if is_object else ord("]")
        index = 0
        if self._peek(path) == close:
            self._pos += 1
            return
        while True:
            if is_object:
                key: str | int = self._key(path)
                self._expect(b":", path, "':' after a key")
            else:
                key = index
            here = (*path, key)
            if len(levels) > 1:
                yield from self._walk(levels[1:], here)
            else:
                if self._peek(here) != ord("{"):
                    raise InputError.at(self.origin, here, "expected an object")
                yield here, self._entry(here)
            index += 1
            nxt = self._peek(path)
            self._pos += 1
            if nxt == close:
                return
            if nxt != ord(","):
                raise InputError.at(self.origin, path, "expected ',' or the end of the container")


# --- typed access -----------------------------------------------------------------------------

Path_ = tuple[str | int, ...]


_T = TypeVar("_T")


@overload
def get(obj: JsonObject, key: str, kind: type[dict[str, Json]], origin: str, path: Path_) -> JsonObject | None: ...
@overload
def get(obj: JsonObject, key: str, kind: type[list[Json]], origin: str, path: Path_) -> list[Json] | None: ...
@overload
def get(obj: JsonObject, key: str, kind: type[_T], origin: str, path: Path_) -> _T | None: ...
def get(obj: JsonObject, key: str, kind: type, origin: str, path: Path_) -> object:
    """``obj[key]`` checked to be a `kind`; None when absent or null."""
    value = obj.get(key)
    if value is None:
        return None
    return expect(value, kind, origin, (*path, key))


@overload
def need(obj: JsonObject, key: str, kind: type[dict[str, Json]], origin: str, path: Path_) -> JsonObject: ...
@overload
def need(obj: JsonObject, key: str, kind: type[list[Json]], origin: str, path: Path_) -> list[Json]: ...
@overload
def need(obj: JsonObject, key: str, kind: type[_T], origin: str, path: Path_) -> _T: ...
def need(obj: JsonObject, key: str, kind: type, origin: str, path: Path_) -> object:
    """``obj[key]`` checked to be a `kind`; absent or null is an error."""
    value = get(obj, key, kind, origin, path)
    if value is None:
        raise InputError.at(origin, (*path, key), "is missing")
    return value


def strings(obj: JsonObject, key: str, origin: str, path: Path_) -> tuple[str, ...]:
    """``obj[key]`` as a list of strings (absent or null: empty)."""
    items = get(obj, key, list, origin, path) or []
    return tuple(expect(v, str, origin, (*path, key, i)) for i, v in enumerate(items))


def objects(obj: JsonObject, key: str, origin: str, path: Path_) -> Iterator[tuple[Path_, JsonObject]]:
    """(path, item) of each object in the list ``obj[key]`` (absent or null: none)."""
    items = get(obj, key, list, origin, path) or []
    for i, item in enumerate(items):
        here = (*path, key, i)
        yield here, expect(item, dict, origin, here)
