"""JSON documents in the store: zstd-compressed on the way in, bounded on the way back.

What comes back from a store is data like any other input — a shared PostgreSQL database can
be written by anyone holding its credentials — so `unpack` checks the announced size against a
cap before decompressing, decompresses at most that many bytes, compares the result with the
size stored beside it and parses it with `dockguard.inputs.parse_json` (nesting and node caps,
one `InputError` naming the row).  `clean` makes any text safe for both engines (PostgreSQL
refuses NUL characters and unpaired surrogates in TEXT).
"""

from __future__ import annotations

import io
import json

from dockguard.inputs import InputError, parse_json
from dockguard.jsontypes import Json, JsonObject

MiB = 1024 * 1024
MAX_CONFIG_DOC = 16 * MiB
"""An image config (the registry client's own cap)."""
MAX_INVENTORY_DOC = 256 * MiB
"""One image's package inventory (100,000 packages of up to a few KB each)."""
MAX_HOST_DOC = 256 * MiB
"""A host snapshot or an audit report (the caps of ``dockguard diff`` / snapshot loading)."""
MAX_FINDING_DOC = 4 * MiB
"""One finding's JSON document."""
MAX_NODES = 5_000_000
"""Objects and arrays in one document (100,000 packages with their licence lists)."""


def dumps(doc: object) -> str:
    """Compact JSON, ASCII only (so any string, even one with lone surrogates, round-trips)."""
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=True, allow_nan=False)


def pack(doc: object) -> tuple[bytes, int]:
    """(zstd-compressed JSON, uncompressed size)."""
    import zstandard

    raw = dumps(doc).encode("ascii")
    return zstandard.ZstdCompressor(level=3, write_checksum=True).compress(raw), len(raw)


def unpack(blob: object, size: object, cap: int, origin: str) -> Json:
    """The document stored as `blob` with uncompressed `size`, or `InputError`."""
    import zstandard

    if not isinstance(blob, (bytes, bytearray, memoryview)):
        raise InputError(origin, "not a stored document (not bytes)")
    if not isinstance(size, int) or isinstance(size, bool) or not 0 <= size <= cap:
        raise InputError(origin, f"stored document of {size!r} bytes: more than the {cap} allowed")
    try:
        with zstandard.ZstdDecompressor().stream_reader(io.BytesIO(bytes(blob))) as z:
            data = z.read(size + 1)
    except zstandard.ZstdError as exc:
        raise InputError(origin, f"damaged stored document: {exc}") from None
    if len(data) != size:
        raise InputError(origin, f"damaged stored document: {len(data)} bytes where {size} were stored")
    doc: Json = parse_json(data, origin, max_nodes=MAX_NODES)
    return doc


def load_text(text: object, cap: int, origin: str) -> Json:
    """A JSON document stored as text (findings, summaries), bounded like `unpack`."""
    if not isinstance(text, str):
        raise InputError(origin, "not a stored JSON text")
    if len(text) > cap:
        raise InputError(origin, f"stored JSON of {len(text)} characters: more than the {cap} allowed")
    doc: Json = parse_json(text, origin, max_nodes=MAX_NODES)
    return doc


def load_object(text: object, cap: int, origin: str) -> JsonObject:
    """`load_text` of a document that must be a JSON object."""
    doc = load_text(text, cap, origin)
    if not isinstance(doc, dict):
        raise InputError(origin, "not a JSON object", "$")
    return doc


def unpack_object(blob: object, size: object, cap: int, origin: str) -> JsonObject:
    """`unpack` of a document that must be a JSON object."""
    doc = unpack(blob, size, cap, origin)
    if not isinstance(doc, dict):
        raise InputError(origin, "not a JSON object", "$")
    return doc


def clean(text: object, limit: int = 64 * 1024) -> str:
    """`text` as a string both engines accept: NUL and unpaired surrogates escaped, bounded."""
    s = text if isinstance(text, str) else str(text)
    if len(s) > limit:
        s = s[:limit] + "…"
    if "\x00" in s:
        s = s.replace("\x00", "\\x00")
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        s = s.encode("utf-8", "backslashreplace").decode("utf-8")
    return s
