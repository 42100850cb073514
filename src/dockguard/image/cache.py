"""Per-layer analysis cache keyed by *verified* layer diff id and analyser version.

Entries live under ``$DOCKGUARD_CACHE_DIR`` or the user cache directory
(``~/.cache/dockguard/layers``): the base analysis of a layer (headers, whiteouts, OS release
files, secrets) under ``layers/v<ANALYSER_VERSION>/``, and each cataloguer's records of the
layer under ``layers/<name>-v<version>/``, so that a new or changed cataloguer leaves every
other cataloguer's records valid (the layer is then read again for that cataloguer alone).
Each entry is one zstd stream (with a content checksum) holding a one-line summary, JSON
records of at most 1000 items per line (so that loading an entry never holds one huge string)
and the collected bodies.  Writes are
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
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any

from dockguard.image import decode
from dockguard.image.digests import digest_bytes
from dockguard.image.inventory.base import Cataloguer
from dockguard.image.layers import ANALYSER_VERSION, LayerAnalysis, default_cataloguers
from dockguard.image.limits import DEFAULT_LIMITS, BudgetExceeded, Limits, ScanBudget
from dockguard.inputs import InputError, read_bytes
from dockguard.jsontypes import JsonObject

_DIGEST = re.compile(r"^(sha256|sha512):([0-9a-f]{64}|[0-9a-f]{128})$")
_PART_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,40}$")
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

    def part_dir(self, cataloguer: Cataloguer) -> Path:
        """Where the records of `cataloguer` live (one directory per name and version)."""
        if not _PART_NAME.match(cataloguer.name) or not _PART_NAME.match(cataloguer.version):
            raise ValueError(f"cataloguer name/version unfit for a cache path: {cataloguer.name!r}")
        return self.root / "layers" / f"{cataloguer.name}-v{cataloguer.version}"

    def get(self, diff_id: str, budget: ScanBudget | None = None,
            cataloguers: Sequence[Cataloguer] | None = None) -> LayerAnalysis | None:
        """The cached base analysis with every cataloguer part found, or None (no base).

        Parts missing from the cache are missing from `LayerAnalysis.parts`: the caller reads the
        layer again for those cataloguers.  Memory is charged to `budget`; `BudgetExceeded` when
        it does not fit (nothing beyond a one-line summary is read then).
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
        cats = default_cataloguers() if cataloguers is None else cataloguers
        empty = set(analysis.empty_parts)
        try:
            for cat in cats:
                if f"{cat.name}-v{cat.version}" in empty:
                    analysis.parts[cat.name] = {}
                    continue
                part_path = self._path(self.part_dir(cat), diff_id, ".zst")
                if part_path is None or not part_path.is_file():
                    continue
                try:
                    loaded = self._load(part_path, budget)
                except BudgetExceeded:
                    raise
                except Exception:
                    loaded = None
                if loaded is not None:
                    analysis.parts[cat.name] = loaded.files
                    analysis.part_held[cat.name] = loaded.held
                    analysis.held += loaded.held
        except BudgetExceeded:
            budget.release(analysis.held)
            raise
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

    def put(self, diff_id: str, analysis: LayerAnalysis, cataloguers: Sequence[Cataloguer] | None = None,
            base: bool = True) -> None:
        """Store the base analysis (when `base`) and the parts of `cataloguers` it holds.

        Silently skipped when the cache dir is not writable.  The caller guarantees that the
        analysis is complete and that the layer content was hashed to `diff_id` while it was
        analysed.
        """
        path = self._path(self.layers_dir, diff_id, ".zst")
        if path is None:
            return
        cats = default_cataloguers() if cataloguers is None else cataloguers
        if base:
            # Cataloguers that kept nothing are named in the base entry, not given a file each.
            analysis.empty_parts = [f"{c.name}-v{c.version}" for c in cats if analysis.parts.get(c.name) == {}]
            base_held = analysis.held - sum(analysis.part_held.values())
            self._put_records(path, base_held, analysis.records(), analysis.bodies())
        for cat in cats:
            records = analysis.parts.get(cat.name)
            part_path = self._path(self.part_dir(cat), diff_id, ".zst")
            if records is None or part_path is None or (base and not records):
                continue
            held = analysis.part_held.get(cat.name, 0)
            self._put_records(part_path, held, _part_records(records), list(records.values()))

    def _put_records(self, path: Path, held: int, records: Iterable[list[object]], blobs: list[bytes]) -> None:
        import zstandard

        summary = {"held": max(held, sum(len(b) for b in blobs)), "bodies": sum(len(b) for b in blobs)}

        def fill(out: IO[bytes]) -> None:
            with zstandard.ZstdCompressor(level=3, write_checksum=True).stream_writer(out, closefd=False) as z:
                z.write(json.dumps(summary).encode() + b"\n")
                for record in records:
                    z.write(json.dumps(record, separators=(",", ":")).encode() + b"\n")
                z.write(b'["end"]\n')
                for blob in blobs:
                    z.write(blob)

        self._write(path, fill)

    def get_config(self, image_id: str, limits: Limits = DEFAULT_LIMITS) -> JsonObject | None:
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

    def put_config(self, image_id: str, config: JsonObject) -> None:
        """Remember an image config by image id."""
        path = self._path(self.configs_dir, image_id, ".json")
        if path is None:
            return
        data = json.dumps(config, sort_keys=True, separators=(",", ":")).encode()
        record = digest_bytes(data).encode() + b"\n" + data
        self._write(path, lambda f: f.write(record))

    @staticmethod
    def _write(path: Path, fill: Callable[[IO[bytes]], object]) -> None:
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


def _part_records(records: dict[str, bytes], batch: int = 1000) -> Iterator[list[object]]:
    items: list[object] = [[p, len(d)] for p, d in records.items()]
    for start in range(0, len(items), batch):
        yield ["f", items[start : start + batch]]
    yield ["n", {"secrets_omitted": 0, "held": 0}]


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
