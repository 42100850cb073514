"""From an image source to an inventory: cache lookup, layer analysis, squash, cataloguers."""

from __future__ import annotations

from dataclasses import dataclass

from dockguard.image import osdetect
from dockguard.image.cache import LayerCache
from dockguard.image.inventory import InventoryInput, collect
from dockguard.image.layers import (
    LayerAnalysis,
    LayerInfo,
    analyse_directory,
    map_history,
    squash,
)
from dockguard.image.model import OSInfo, Package
from dockguard.image.secrets import SecretHit, scan_config
from dockguard.image.sources import (
    ImageMetadata,
    ImageSource,
    LayerRef,
    RootfsSource,
    StreamingArchiveSource,
)
from dockguard.image.tarstream import DIRECTORY, REGULAR, LayerStream
from dockguard.model import Severity


@dataclass(frozen=True)
class FileFact:
    """A notable file of the squashed image (setuid/setgid file, world-writable dir)."""

    path: str
    mode: int
    layer: str


@dataclass(frozen=True)
class Inventory:
    """Everything the scanner learned about one image, before vulnerability matching."""

    metadata: ImageMetadata
    os: OSInfo | None
    packages: tuple[Package, ...]
    layers: tuple[LayerInfo, ...]
    secrets: tuple[tuple[SecretHit, str], ...]  # hit and layer diff id ('' for config)
    setuid_files: tuple[FileFact, ...]
    world_writable_dirs: tuple[FileFact, ...]
    errors: tuple[str, ...]
    warnings: tuple[str, ...]


def _analyse(stream: LayerStream, source: ImageSource) -> LayerAnalysis:
    from dockguard.image.layers import analyse_layer

    try:
        return analyse_layer(stream.stream, seekable=stream.seekable, limits=source.limits)
    finally:
        stream.stream.close()


def build_inventory(source: ImageSource, cache: LayerCache | None = None) -> Inventory:
    """Inventory an image, reading only layers the cache does not already know."""
    if isinstance(source, StreamingArchiveSource):
        source.prepare(lambda s: _analyse(s, source))
    meta = source.metadata()
    errors: list[str] = []
    if isinstance(source, RootfsSource):
        analyses = [analyse_directory(str(source.path), limits=source.limits)]
    else:
        found: dict[str, LayerAnalysis] = {}
        missing: list[LayerRef] = []
        for ref in meta.layers:
            cached = cache.get(ref.diff_id) if cache is not None and ref.diff_id else None
            if cached is not None:
                found[ref.diff_id] = cached
            elif ref not in missing:
                missing.append(ref)
        if missing:
            results = source.analyse_layers(missing, lambda s: _analyse(s, source))
            for ref, analysis in results.items():
                found[ref.diff_id] = analysis
                stopped = any(e.startswith("layer stopped") for e in analysis.errors)
                if cache is not None and ref.diff_id and not stopped:
                    cache.put(ref.diff_id, analysis)
        analyses = [found[ref.diff_id] for ref in meta.layers]
    layer_ids = tuple(ref.diff_id for ref in meta.layers)
    for i, analysis in enumerate(analyses):
        short = layer_ids[i][:19] if layer_ids[i] else "rootfs"
        errors.extend(f"layer {i} ({short}): {e}" for e in analysis.errors)
    fs = squash(analyses)

    def read(path: str) -> str | None:
        hit = fs.read(path)
        return hit[1].decode("utf-8", "replace") if hit else None

    detection = osdetect.detect(read)
    warnings = list(meta.warnings) + list(detection.warnings)
    inp = InventoryInput(fs, tuple(analyses), layer_ids, detection.os)
    packages, inv_warnings = collect(inp)
    warnings += inv_warnings

    secrets: list[tuple[SecretHit, str]] = [(h, "") for h in scan_config(meta.config)]
    for index, s in fs.secrets:
        hit = SecretHit(s["rule"], s["title"], Severity(s["severity"]), s["location"], s["redacted"])
        secrets.append((hit, inp.layer_id(index)))
    setuid = []
    world = []
    for path, (index, entry) in sorted(fs.entries.items()):
        etype, mode = entry[0], entry[1]
        if etype == REGULAR and mode & 0o6000:
            setuid.append(FileFact("/" + path, mode, inp.layer_id(index)))
        elif etype == DIRECTORY and mode & 0o002 and not mode & 0o1000:
            world.append(FileFact("/" + path, mode, inp.layer_id(index)))
    return Inventory(
        metadata=meta,
        os=detection.os,
        packages=tuple(packages),
        layers=tuple(map_history(meta.config, list(layer_ids))) if meta.config else (),
        secrets=tuple(secrets),
        setuid_files=tuple(setuid),
        world_writable_dirs=tuple(world),
        errors=tuple(errors),
        warnings=tuple(warnings),
    )
