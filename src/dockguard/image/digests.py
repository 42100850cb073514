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
import queue
import re
import threading
from collections.abc import Callable, Iterable
from typing import IO

from dockguard.errors import OperationalError
from dockguard.image.limits import ScanBudget

#: ``algorithm:hex`` as OCI allows it for the algorithms dockguard can check.
DIGEST_RE = re.compile(r"^(sha256:[0-9a-f]{64}|sha512:[0-9a-f]{128})$")
_BLOB_PATH = re.compile(r"^(?:.*/)?blobs/(sha256|sha512)/([0-9a-f]{64}|[0-9a-f]{128})$")
_CHUNK = 4 << 20  # gap reads and hashing batches: few GIL hand-offs to the hashing thread
_PREFETCH_GAP = 2 * _CHUNK  # a gap at least this long is read ahead in a thread of its own
_WORKER_GAP = 1 << 20  # a skipped body at least this long is read by the hashing worker

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


#: A positional reader of the stream a `DigestingReader` hashes: (read(offset, n), size).
Pread = tuple[Callable[[int, int], bytes], int]


class _Hasher:
    """Hashes chunks in a worker thread, in the order they were read.

    hashlib releases the GIL on large updates, so hashing runs beside the tar parsing on a
    second CPU.  The chunks are the very bytes objects the reader returned: what is hashed is
    exactly what was analysed, even on a filesystem that would answer a re-read differently.
    Small reads (tar headers) are gathered into one chunk first.

    A range nobody analyses (the body of a file no analyser wants) is queued as a gap
    ``(offset, length)`` when a positional reader is given: the worker reads it itself, in
    order, so that the analysis moves on (to the next layer too) while the worker hashes.  At
    most a few chunks of bytes are queued; gaps cost no memory.
    """

    def __init__(self, algos: Iterable[str], pread: Callable[[int, int], bytes] | None = None) -> None:
        self.hashers = {a: hashlib.new(a) for a in algos}
        self._pread = pread
        self._pending: list[bytes] = []
        self._pending_size = 0
        self._queue: queue.SimpleQueue[bytes | tuple[int, int] | None] = queue.SimpleQueue()
        self._room = threading.Semaphore(4)  # chunks of bytes queued at once
        self._abort = False
        self.error = ""
        self._thread = threading.Thread(target=self._run, name="dockguard-hash", daemon=True)
        self._thread.start()
        self._closed = False

    def _run(self) -> None:
        hashers = list(self.hashers.values())
        while (item := self._queue.get()) is not None:
            if isinstance(item, bytes):
                if not self._abort:
                    for h in hashers:
                        h.update(item)
                self._room.release()
                continue
            offset, left = item
            if left > _PREFETCH_GAP:
                self._hash_prefetched(hashers, offset, left)
                continue
            while left and not self._abort and not self.error:
                data = self._read_gap(offset, min(left, _CHUNK))
                if not data:
                    break
                for h in hashers:
                    h.update(data)
                offset += len(data)
                left -= len(data)

    def _read_gap(self, offset: int, n: int) -> bytes:
        """`n` bytes of the stream at `offset`; b"" with `error` set when it cannot be read."""
        try:
            data = self._pread(offset, n) if self._pread else b""
        except OSError as exc:
            data, self.error = b"", f"cannot read the layer: {exc}"
        if not data:
            self.error = self.error or "the layer ended while it was being hashed"
        return data

    def _hash_prefetched(self, hashers: list[hashlib._Hash], offset: int, left: int) -> None:
        """Hash a large gap with its reads one chunk ahead in another thread: reading and
        hashing in one thread would leave one of them idle (on a docker-save tar most of the
        bytes are such gaps, and the read alone is a third of the cost)."""
        chunks: queue.Queue[bytes | None] = queue.Queue(maxsize=2)

        def prefetch(offset: int = offset, left: int = left) -> None:
            while left and not self._abort and not self.error:
                data = self._read_gap(offset, min(left, _CHUNK))
                if not data:
                    break
                chunks.put(data)
                offset += len(data)
                left -= len(data)
            chunks.put(None)

        reader = threading.Thread(target=prefetch, name="dockguard-hash-read", daemon=True)
        reader.start()
        while (data := chunks.get()) is not None:
            if not self._abort:
                for h in hashers:
                    h.update(data)
        reader.join()

    def update(self, data: bytes) -> None:
        if self._closed:
            raise RuntimeError("hashing already finished")
        if len(data) >= _CHUNK // 4:
            self._flush()
            self._put(data)
            return
        self._pending.append(data)
        self._pending_size += len(data)
        if self._pending_size >= _CHUNK:
            self._flush()

    def gap(self, offset: int, length: int) -> None:
        """Hash `length` bytes of the stream from `offset`, read by the worker."""
        if self._closed:
            raise RuntimeError("hashing already finished")
        self._flush()
        self._queue.put((offset, length))

    def _put(self, data: bytes) -> None:
        self._room.acquire()
        self._queue.put(data)

    def _flush(self) -> None:
        if self._pending:
            self._put(b"".join(self._pending))
            self._pending.clear()
            self._pending_size = 0

    def close(self) -> None:
        """Stop the worker (after it has hashed everything queued)."""
        if not self._closed:
            self._closed = True
            self._flush()
            self._queue.put(None)
            self._thread.join()

    def abort(self) -> None:
        """Stop the worker without hashing what is still queued."""
        self._abort = True
        self.close()

    def digests(self) -> dict[str, str]:
        self.close()
        if self.error:
            raise OSError(self.error)
        return {a: f"{a}:{h.hexdigest()}" for a, h in self.hashers.items()}


class DigestingReader(io.RawIOBase):
    """Read-through view of `f` that hashes every byte of `f` once, in order.

    With `seekable`, `f` must be a seekable stream positioned at its start; forward seeks
    are allowed (the gap is hashed when it is crossed) and so are reads behind what has been
    hashed.  `budget` is charged for every byte hashed (decompressed layer bytes).
    """

    def __init__(self, f: IO[bytes], algos: Iterable[str], *, seekable: bool,
                 budget: ScanBudget | None = None, pread: Pread | None = None) -> None:
        self._f = f
        self._seekable = seekable
        wanted = set(algos)
        # Gaps go to the worker only for a seekable stream with an independent positional reader.
        self._gaps = pread if seekable else None
        self._hasher = _Hasher(wanted, self._gaps[0] if self._gaps else None) if VERIFY and wanted else None
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

    @property
    def _hashers(self) -> bool:
        return self._hasher is not None

    def _update(self, data: bytes) -> None:
        if not data:
            return
        self.total += len(data)
        if self._budget is not None:
            self._budget.charge_read(len(data))
        if self._hasher is not None:
            self._hasher.update(data)

    def _raw_read_at(self, pos: int, n: int) -> bytes:
        if self._raw_pos != pos:
            self._f.seek(pos)
        data = self._f.read(n)
        self._raw_pos = pos + len(data)
        return data

    def _advance(self, target: int | None) -> None:
        """Hash `f` from the frontier up to `target` (None: to its end)."""
        if self._gaps is not None and self._hasher is not None:
            end = self._gaps[1] if target is None else min(target, self._gaps[1])
            if end - self._frontier < _WORKER_GAP:
                # A small body (most files of an OS layer): read here and queued with the
                # headers around it; a gap per small file would cost a worker round trip each.
                self._read_and_hash(end)
            elif end > self._frontier:
                n = end - self._frontier
                self.total += n
                if self._budget is not None:
                    self._budget.charge_read(n)
                self._hasher.gap(self._frontier, n)
                self._frontier = end
            return
        self._read_and_hash(target)

    def _read_and_hash(self, target: int | None) -> None:
        """Read `f` from the frontier up to `target` (None: its end) and queue it for hashing."""
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
                self._update(data[len(data) - fresh:] if fresh < len(data) else data)
                self._frontier += fresh
        self._pos += len(data)
        b[: len(data)] = data
        return len(data)

    def finish(self) -> dict[str, str]:
        """Hash the rest of `f` and return ``{algorithm: "algorithm:hex"}``."""
        if self._hasher is None:
            return {}
        try:
            if self._seekable:
                self._advance(None)
            else:
                while data := self._f.read(_CHUNK):
                    self._update(data)
                    self._frontier += len(data)
        finally:
            self._hasher.close()
        return self._hasher.digests()

    def stop(self) -> None:
        """Stop the hashing worker without a result (cleanup after an error; idempotent).

        Closing the reader does not stop it: the analyser closes its stream, and `finish`
        still has to hash the rest.
        """
        if self._hasher is not None:
            self._hasher.abort()
