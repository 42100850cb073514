"""Per-layer analysis cache keyed by *verified* layer diff id and analyser version.

Entries live under ``$DOCKGUARD_CACHE_DIR`` or the user cache directory
(``~/.cache/dockguard/layers``); each is one zstd stream (with a content checksum) holding a
one-line summary, JSON records of at most 1000 items per line (so that loading an entry never
holds one huge string) and the collected file bodies.  Writes are
streamed and atomic (temp file + rename) so a crash never leaves a half-written entry, and
unreadable entries are treated as misses.

Only an analysis whose layer content was hashed to its diff id in the same pass, and which is
complete, is ever stored (`dockguard.image.scan` decides): an image cannot place the analysis
of its own bytes under the diff id of another image's layer.  A warm rescan therefore skips
only layers whose content was verified when they were cached.

The daemon source also keeps image configs here, keyed by image id, so that a warm rescan
needs no export at all; each is stored with the digest of its bytes and checked when read
(the daemon source also compares its diff ids with what the daemon reports).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from dockguard.image import decode
from dockguard.image.digests import digest_bytes
from dockguard.image.layers import ANALYSER_VERSION, LayerAnalysis
from dockguard.image.limits import DEFAULT_LIMITS, BudgetExceeded, Limits, ScanBudget
from dockguard.inputs import InputError, read_bytes

_DIGEST = re.compile(r"^(sha256|sha512):([0-9a-f]{64}|[0-9a-f]{128})$")
#: A record holds at most 1000 items of at most a path each (4096 bytes, escaped up to 6×).
_MAX_LINE = 32 * 1024 * 1024


def default_cache_dir() -> Path:
    """``$DOCKGUARD_CACHE_DIR`` or the platform's user cache dir for dockguard."""
    env = os.environ.get("DOCKGUARD_CACHE_DIR")
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_cache_dir("dockguard"))


class LayerCache:
    """Load and store `LayerAnalysis` objects by diff id."""

    def __init__(self, root: Path | None = None):
        self.root = (root or default_cache_dir())
        self.layers_dir = self.root / "layers" / f"v{ANALYSER_VERSION}"
        self.configs_dir = self.root / "configs"
        self.hits = 0
        self.misses = 0

    def _path(self, base: Path, digest: str, suffix: str) -> Path | None:
        m = _DIGEST.match(digest)
        if not m:
            return None
        return base / f"{m.group(1)}-{m.group(2)}{suffix}"

    def get(self, diff_id: str, budget: ScanBudget | None = None) -> LayerAnalysis | None:
        """The cached analysis or None.

        Its memory is charged to `budget`; `BudgetExceeded` when it does not fit (nothing
        beyond a one-line summary is read then).
        """
        path = self._path(self.layers_dir, diff_id, ".zst")
        if path is None or not path.is_file():
            self.misses += 1
            return None
        budget = budget if budget is not None else ScanBudget()
        try:
            analysis = self._load(path, budget)
        except BudgetExceeded:
            raise
        except Exception:  # any damage to the entry is a miss, never a crash
            analysis = None
        if analysis is None:
            self.misses += 1
            return None
        self.hits += 1
        return analysis

    @staticmethod
    def _load(path: Path, budget: ScanBudget) -> LayerAnalysis | None:
        import zstandard

        limit = budget.limits.max_held
        with open(path, "rb") as raw, zstandard.ZstdDecompressor().stream_reader(raw) as z:
            f = io.BufferedReader(z, 1 << 20)
            summary = json.loads(f.readline(4096))
            held, bodies = int(summary["held"]), int(summary["bodies"])
            if not 0 <= bodies <= held:
                return None
            if held > limit or not budget.hold(held):
                raise BudgetExceeded(f"the cached layer needs {held} bytes of the scan's memory budget")
            analysis = None
            try:
                analysis = _read_entry(f, bodies)
            finally:
                if analysis is None:
                    budget.release(held)
            if analysis is not None:
                analysis.held = held
            return analysis

    def put(self, diff_id: str, analysis: LayerAnalysis) -> None:
        """Store an analysis (silently skipped when the cache dir is not writable).

        The caller guarantees that the analysis is complete and that the layer content was
        hashed to `diff_id` while it was analysed.
        """
        path = self._path(self.layers_dir, diff_id, ".zst")
        if path is None:
            return
        import zstandard

        blobs = analysis.bodies()
        summary = {"held": analysis.held, "bodies": sum(len(b) for b in blobs)}

        def fill(out: IO[bytes]) -> None:
            with zstandard.ZstdCompressor(level=3, write_checksum=True).stream_writer(out, closefd=False) as z:
                z.write(json.dumps(summary).encode() + b"\n")
                for record in analysis.records():
                    z.write(json.dumps(record, separators=(",", ":")).encode() + b"\n")
                z.write(b'["end"]\n')
                for blob in blobs:
                    z.write(blob)

        self._write(path, fill)

    def get_config(self, image_id: str, limits: Limits = DEFAULT_LIMITS) -> dict[str, Any] | None:
        """A cached image config (daemon source), checked against its stored digest, or None."""
        path = self._path(self.configs_dir, image_id, ".json")
        if path is None or not path.is_file():
            return None
        try:
            raw = read_bytes(path, limit=limits.max_json + 200, what="cached config")
            digest, _, data = raw.partition(b"\n")
            if digest_bytes(data) != digest.decode("ascii", "replace"):
                return None
            return decode.image_config(decode.load(data, str(path), limits), str(path), limits)
        except InputError:
            return None

    def put_config(self, image_id: str, config: dict[str, Any]) -> None:
        """Remember an image config by image id."""
        path = self._path(self.configs_dir, image_id, ".json")
        if path is None:
            return
        data = json.dumps(config, sort_keys=True, separators=(",", ":")).encode()
        record = digest_bytes(data).encode() + b"\n" + data
        self._write(path, lambda f: f.write(record))

    @staticmethod
    def _write(path: Path, fill: Callable[[IO[bytes]], Any]) -> None:
        tmp = ""
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
            with os.fdopen(fd, "wb") as f:
                fill(f)
            os.replace(tmp, path)
        except OSError:
            if tmp:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)


def _read_entry(f: IO[bytes], bodies: int) -> LayerAnalysis | None:
    def records() -> Iterator[Any]:
        while True:
            line = f.readline(_MAX_LINE + 1)
            if not line.endswith(b"\n"):
                raise ValueError("cache record cut short or too long")
            record = json.loads(line)
            if record == ["end"]:
                return
            yield record

    total = 0

    def read_body(size: int) -> bytes:
        nonlocal total
        total += size
        if size < 0 or total > bodies:
            raise ValueError("cached bodies larger than announced")
        return f.read(size)

    analysis = LayerAnalysis.from_records(records(), read_body)
    if total != bodies or f.read(1):
        return None
    return analysis
