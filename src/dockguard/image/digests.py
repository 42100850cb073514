"""Content digests: every byte of a layer blob is hashed once, while it is being analysed.

`DigestingReader` sits between a blob (or its decompressed stream) and the tar reader.  It
hashes every byte of the underlying stream exactly once and in order, even when the reader
skips bodies with ``seek`` (the skipped range is read and hashed when the reader moves past
it) and when it reads an ELF backwards (reads behind the hashed frontier are served from the
file without hashing them twice).  `DigestingReader.finish` hashes what is left and returns
the digests, so that a layer is verified in the same single pass that analysed it.

A blob digest (``LayerRef.digest``, the manifest's claim about the stored bytes) is checked
on the compressed bytes; a diff id (the config's ``rootfs.diff_ids``, the cache key) on the
decompressed tar.  A mismatch is a `DigestMismatch` (exit 2) and nothing is cached.
"""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Iterable
from typing import IO, Any

from dockguard.errors import OperationalError
from dockguard.image.limits import Budget

#: ``algorithm:hex`` as OCI allows it for the algorithms dockguard can check.
DIGEST_RE = re.compile(r"^(sha256:[0-9a-f]{64}|sha512:[0-9a-f]{128})$")
_BLOB_PATH = re.compile(r"^(?:.*/)?blobs/(sha256|sha512)/([0-9a-f]{64}|[0-9a-f]{128})$")
_CHUNK = 1 << 20

#: Only the benchmark (bench/bench_image.py) turns this off, in its own child process, to
#: measure what verification costs.  With it off nothing is hashed and nothing is cached.
VERIFY = True


class DigestMismatch(OperationalError):
    """Content did not hash to the digest the image claims for it."""


def algorithm(digest: str) -> str | None:
    """``sha256`` / ``sha512`` for a well-formed digest, else None."""
    return digest.split(":", 1)[0] if DIGEST_RE.match(digest) else None


def digest_from_path(path: str) -> str:
    """The digest a content-addressed member name claims (``blobs/sha256/<hex>``), or ''."""
    m = _BLOB_PATH.match(path)
    if m is None:
        return ""
    digest = f"{m.group(1)}:{m.group(2)}"
    return digest if DIGEST_RE.match(digest) else ""


def digest_bytes(data: bytes, algo: str = "sha256") -> str:
    """``algo:hex`` of `data`."""
    return f"{algo}:{hashlib.new(algo, data).hexdigest()}"


def check_bytes(data: bytes, digest: str, what: str) -> None:
    """Raise `DigestMismatch` unless `data` hashes to `digest` (a malformed digest is one too)."""
    algo = algorithm(digest)
    if algo is None:
        raise DigestMismatch(f"{what}: malformed digest {digest[:150]!r}")
    if not VERIFY:
        return
    got = digest_bytes(data, algo)
    if got != digest:
        raise DigestMismatch(f"{what}: content does not match its digest (claimed {digest}, got {got})")


class DigestingReader(io.RawIOBase):
    """Read-through view of `f` that hashes every byte of `f` once, in order.

    With `seekable`, `f` must be a seekable stream positioned at its start; forward seeks
    are allowed (the gap is hashed when it is crossed) and so are reads behind what has been
    hashed.  `budget` is charged for every byte hashed (decompressed layer bytes).
    """

    def __init__(self, f: IO[bytes], algos: Iterable[str], *, seekable: bool,
                 budget: Budget | None = None) -> None:
        self._f = f
        self._seekable = seekable
        self._hashers: dict[str, Any] = {a: hashlib.new(a) for a in set(algos)} if VERIFY else {}
        self._budget = budget
        self._pos = 0        # logical position of the reader
        self._frontier = 0   # bytes of `f` hashed so far
        self._raw_pos = 0    # where `f` is positioned (seekable only)
        self.total = 0       # bytes of `f` hashed (== frontier)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return self._seekable

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if not self._seekable:
            raise io.UnsupportedOperation("seek")
        if whence == io.SEEK_SET:
            pos = offset
        elif whence == io.SEEK_CUR:
            pos = self._pos + offset
        else:
            self._advance(None)
            pos = self._frontier + offset
        self._pos = max(0, pos)
        return self._pos

    def _update(self, data: bytes | memoryview) -> None:
        if not data:
            return
        self.total += len(data)
        if self._budget is not None:
            self._budget.charge_read(len(data))
        for h in self._hashers.values():
            h.update(data)

    def _raw_read_at(self, pos: int, n: int) -> bytes:
        if self._raw_pos != pos:
            self._f.seek(pos)
        data = self._f.read(n)
        self._raw_pos = pos + len(data)
        return data

    def _advance(self, target: int | None) -> None:
        """Hash `f` from the frontier up to `target` (None: to its end)."""
        while target is None or self._frontier < target:
            want = _CHUNK if target is None else min(_CHUNK, target - self._frontier)
            data = self._raw_read_at(self._frontier, want)
            if not data:
                return
            self._update(data)
            self._frontier += len(data)

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        n = len(b)
        if n == 0:
            return 0
        if not self._seekable:
            data = self._f.read(n)
            self._update(data)
            self._frontier += len(data)
        else:
            if self._pos > self._frontier and self._hashers:
                self._advance(self._pos)
            data = self._raw_read_at(self._pos, n)
            fresh = self._pos + len(data) - self._frontier
            if fresh > 0:
                self._update(memoryview(data)[len(data) - fresh:])
                self._frontier += fresh
        self._pos += len(data)
        b[: len(data)] = data
        return len(data)

    def finish(self) -> dict[str, str]:
        """Hash the rest of `f` and return ``{algorithm: "algorithm:hex"}``."""
        if self._hashers:
            if self._seekable:
                self._advance(None)
            else:
                while data := self._f.read(_CHUNK):
                    self._update(data)
                    self._frontier += len(data)
        return {a: f"{a}:{h.hexdigest()}" for a, h in self._hashers.items()}
