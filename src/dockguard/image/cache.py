"""Per-layer analysis cache keyed by layer diff id and analyser version.

Entries live under ``$DOCKGUARD_CACHE_DIR`` or the user cache directory
(``~/.cache/dockguard/layers``); each is one zstd-compressed file holding a JSON header and
the collected file bodies.  Writes are atomic (temp file + rename) so a crash never leaves a
half-written entry, and unreadable entries are treated as misses.  The daemon source also
keeps image configs here, keyed by image id, so that a warm rescan needs no export at all.
"""

from __future__ import annotations

import json
import os
import re
import struct
import tempfile
from pathlib import Path
from typing import Any

from dockguard.image.layers import ANALYSER_VERSION, LayerAnalysis

_DIGEST = re.compile(r"^(sha256|sha512):([0-9a-f]{32,128})$")


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

    def get(self, diff_id: str) -> LayerAnalysis | None:
        """The cached analysis or None."""
        path = self._path(self.layers_dir, diff_id, ".zst")
        if path is None or not path.is_file():
            self.misses += 1
            return None
        try:
            import zstandard

            raw = zstandard.ZstdDecompressor().decompress(path.read_bytes())
            (hlen,) = struct.unpack_from(">Q", raw, 0)
            meta = json.loads(raw[8 : 8 + hlen])
            blobs = []
            pos = 8 + hlen
            for size in meta["blob_sizes"]:
                blobs.append(raw[pos : pos + size])
                pos += size
            analysis = LayerAnalysis.from_json(meta["analysis"], blobs)
        except Exception:
            self.misses += 1
            return None
        self.hits += 1
        return analysis

    def put(self, diff_id: str, analysis: LayerAnalysis) -> None:
        """Store an analysis (silently skipped when the cache dir is not writable)."""
        path = self._path(self.layers_dir, diff_id, ".zst")
        if path is None:
            return
        import zstandard

        meta, blobs = analysis.to_json()
        header = json.dumps(
            {"analysis": meta, "blob_sizes": [len(b) for b in blobs]}, separators=(",", ":")
        ).encode()
        raw = struct.pack(">Q", len(header)) + header + b"".join(blobs)
        self._write(path, zstandard.ZstdCompressor(level=3).compress(raw))

    def get_config(self, image_id: str) -> dict[str, Any] | None:
        """A cached image config (daemon source) or None."""
        path = self._path(self.configs_dir, image_id, ".json")
        if path is None or not path.is_file():
            return None
        try:
            data = json.loads(path.read_bytes())
        except ValueError:
            return None
        return data if isinstance(data, dict) else None

    def put_config(self, image_id: str, config: dict[str, Any]) -> None:
        """Remember an image config by image id."""
        path = self._path(self.configs_dir, image_id, ".json")
        if path is not None:
            self._write(path, json.dumps(config).encode())

    @staticmethod
    def _write(path: Path, data: bytes) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
        except OSError:
            pass
