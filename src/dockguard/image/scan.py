"""From an image source to an inventory: cache lookup, layer analysis, squash, cataloguers;
then (`check_inventory`) to an `ImageScan`: matches, packages not checked and why, data age.

One `ScanBudget` (the source's) bounds the whole scan.  A scan that could not read something —
a layer cut short, a file over a cap, a package database it cannot read — still returns an
`Inventory`, with `Inventory.incomplete` naming each part and why; callers must show it and
must not let a gate pass on it (``image scan --fail-on`` exits 2).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dockguard.image import digests, osdetect
from dockguard.image.cache import LayerCache
from dockguard.image.inventory import CATALOGUERS, InventoryInput, collect_all
from dockguard.image.inventory.base import Cataloguer
from dockguard.image.layers import (
    LayerAnalysis,
    LayerInfo,
    analyse_directory,
    map_history,
    squash,
)
from dockguard.image.limits import BudgetExceeded, Limits, ScanBudget
from dockguard.image.packages import OSInfo, Package
from dockguard.image.secrets import SecretHit, scan_config_limited
from dockguard.image.sources import (
    ImageMetadata,
    ImageSource,
    LayerRef,
    RootfsSource,
)
from dockguard.image.tarstream import DIRECTORY, REGULAR, LayerStream
from dockguard.model import Severity

if TYPE_CHECKING:
    from dockguard.vuln.database import VulnDB
    from dockguard.vuln.match import MatchOptions, NotChecked, VulnMatch


@dataclass(frozen=True)
class NotableFile:
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
    setuid_files: tuple[NotableFile, ...]
    world_writable_dirs: tuple[NotableFile, ...]
    errors: tuple[str, ...]
    warnings: tuple[str, ...]
    incomplete: tuple[str, ...] = ()   # what was not read and why; empty for a complete scan
    secrets_omitted: int = 0           # secret hits beyond the per-file / per-layer bounds

    @property
    def complete(self) -> bool:
        """True when every layer and every package database was read in full."""
        return not self.incomplete


def _analyse(stream: LayerStream, limits: Limits, budget: ScanBudget,
             cataloguers: Sequence[Cataloguer] = CATALOGUERS, base: bool = True) -> LayerAnalysis:
    from dockguard.image.layers import analyse_layer

    try:
        return analyse_layer(stream.stream, seekable=stream.seekable, limits=limits, budget=budget,
                             cataloguers=cataloguers, base=base)
    finally:
        stream.stream.close()


def _short(diff_id: str) -> str:
    return diff_id[:19] if diff_id else "rootfs"


def _analyses(source: ImageSource, meta: ImageMetadata, cache: LayerCache | None,
              cataloguers: Sequence[Cataloguer]) -> list[LayerAnalysis]:
    """One analysis per layer position: from the cache (verified when stored) or read now.

    A layer whose base analysis is cached but some cataloguer's records are not (a new or
    changed cataloguer) is read again for the missing cataloguers only.
    """
    budget = source.budget
    found: dict[str, LayerAnalysis] = {}
    missing: list[LayerRef] = []
    partial: dict[str, set[str]] = {}   # diff id -> names of the cataloguers to run
    wanted: set[str] = set()
    for ref in meta.layers:
        if ref.diff_id in found or ref.diff_id in wanted:
            continue
        cached = None
        if cache is not None and digests.VERIFY:
            try:
                cached = cache.get(ref.diff_id, budget, cataloguers)
            except BudgetExceeded as exc:
                skipped = LayerAnalysis()
                skipped.not_read(f"cached analysis not loaded: {exc}")
                found[ref.diff_id] = skipped
                continue
        if cached is not None:
            found[ref.diff_id] = cached
            lacking = {c.name for c in cataloguers} - set(cached.parts)
            if lacking:
                partial[ref.diff_id] = lacking
                missing.append(ref)
                wanted.add(ref.diff_id)
        else:
            missing.append(ref)
            wanted.add(ref.diff_id)
    if missing:
        # One analyser for every layer read now (streaming sources run it over all layers in
        # one pass): all cataloguers and the base when any layer is not cached at all.
        full = any(ref.diff_id not in partial for ref in missing)
        names = set().union(*partial.values()) if not full else {c.name for c in cataloguers}
        run = [c for c in cataloguers if c.name in names]
        results = source.analyse_layers(missing, lambda s: _analyse(s, source.limits, budget, run, full))
        # Every layer was hashed and compared while it was read (a mismatch raised above):
        # only now is anything stored, and only what is complete and verified.
        for ref, result in results.items():
            analysis = result.analysis
            todo = partial.get(ref.diff_id)
            if todo is not None:
                analysis = _merge(found[ref.diff_id], analysis, todo, budget)
            found[ref.diff_id] = analysis
            if not result.verified:
                if not analysis.stopped:
                    analysis.not_read(f"content not checked against its diff_id: {result.note}")
            elif cache is not None and not analysis.incomplete and digests.VERIFY:
                cache.put(ref.diff_id, analysis, [c for c in run if todo is None or c.name in todo],
                          base=todo is None)
    return [found[ref.diff_id] for ref in meta.layers]


def _merge(cached: LayerAnalysis, fresh: LayerAnalysis, names: set[str], budget: ScanBudget) -> LayerAnalysis:
    """The cached analysis with `fresh`'s records of the cataloguers in `names`; the rest of
    `fresh` (a base analysis or parts the cache already had) is dropped and its memory released."""
    if cached is fresh:
        return cached
    kept = 0
    for name in names:
        if name in fresh.parts:
            cached.parts[name] = fresh.parts[name]
            held = fresh.part_held.get(name, 0)
            cached.part_held[name] = held
            cached.held += held
            kept += held
    budget.release(fresh.held - kept)
    cached.incomplete += fresh.incomplete
    cached.stopped = cached.stopped or fresh.stopped
    return cached


def build_inventory(source: ImageSource, cache: LayerCache | None = None,
                    cataloguers: Sequence[Cataloguer] = CATALOGUERS) -> Inventory:
    """Inventory an image, reading only layers the cache does not already know.

    Digests are verified as layers are read (`DigestMismatch` → exit 2, nothing cached).
    Whatever could not be read is listed in `Inventory.incomplete`.
    """
    budget = source.budget
    source.prepare(lambda s: _analyse(s, source.limits, budget, cataloguers))
    meta = source.metadata()
    errors: list[str] = []
    incomplete: list[str] = []
    if isinstance(source, RootfsSource):
        analyses = [analyse_directory(str(source.path), limits=source.limits, budget=budget,
                                      cataloguers=cataloguers)]
    else:
        analyses = _analyses(source, meta, cache, cataloguers)
    layer_ids = tuple(ref.diff_id for ref in meta.layers)
    reported: set[int] = set()
    for i, analysis in enumerate(analyses):
        short = _short(layer_ids[i])
        errors.extend(f"layer {i} ({short}): {e}" for e in analysis.errors)
        if id(analysis) not in reported:
            reported.add(id(analysis))
            incomplete.extend(f"layer {i} ({short}): {e}" for e in analysis.incomplete)
    fs = squash(analyses)

    def read(path: str) -> str | None:
        hit = fs.read(path)
        return hit[1][:65536].decode("utf-8", "replace") if hit else None

    detection = osdetect.detect(read)
    warnings = list(meta.warnings) + list(detection.warnings)
    inp = InventoryInput(fs, tuple(analyses), layer_ids, detection.os, source.limits)
    found = collect_all(inp, cataloguers)
    packages = found.packages
    warnings += found.warnings
    incomplete += found.incomplete

    config_hits, omitted = scan_config_limited(meta.config, source.limits.max_secret_hits)
    secrets: list[tuple[SecretHit, str]] = [(h, "") for h in config_hits]
    omitted += sum(a.secrets_omitted for a in {id(a): a for a in analyses}.values())
    for index, s in fs.secrets:
        hit = SecretHit(s["rule"], s["title"], Severity(s["severity"]), s["location"], s["redacted"])
        secrets.append((hit, inp.layer_id(index)))
    setuid = []
    world = []
    for path, (index, entry) in sorted(fs.entries.items()):
        etype, mode = entry[0], entry[1]
        if etype == REGULAR and mode & 0o6000:
            setuid.append(NotableFile("/" + path, mode, inp.layer_id(index)))
        elif etype == DIRECTORY and mode & 0o002 and not mode & 0o1000:
            world.append(NotableFile("/" + path, mode, inp.layer_id(index)))
    return Inventory(
        metadata=meta,
        os=detection.os,
        packages=tuple(packages),
        layers=tuple(map_history(meta.config, [ref.diff_id for ref in meta.layers])) if meta.config else (),
        secrets=tuple(secrets),
        setuid_files=tuple(setuid),
        world_writable_dirs=tuple(world),
        errors=tuple(errors),
        warnings=tuple(warnings),
        incomplete=tuple(incomplete),
        secrets_omitted=omitted,
    )


@dataclass(frozen=True)
class ImageScan:
    """An inventory matched against a vulnerability database.

    `not_checked` lists the packages whose vulnerabilities could not be looked up, grouped by
    reason (a distribution without public data such as Amazon Linux, conda packages, runtimes
    built from source, an ecosystem the database holds no feed for): a report must show them
    and must not call those packages clean.  `staleness` is the warning to show when the data
    the scan used is older than the database's freshness limit (None when fresh).
    """

    inventory: Inventory
    matches: tuple[VulnMatch, ...]
    not_checked: tuple[NotChecked, ...]
    staleness: str | None = None

    @property
    def warnings(self) -> tuple[str, ...]:
        """The sentences a report shows: one per not-checked group, then the staleness warning."""
        out = [n.message() for n in self.not_checked]
        if self.staleness:
            out.append(self.staleness)
        return tuple(out)


def check_inventory(inv: Inventory, db: VulnDB, options: MatchOptions | None = None,
                    hint: str = "`dockguard db update`") -> ImageScan:
    """Match `inv` against `db`: findings, what could not be checked and why, data age.

    Only the feeds of the ecosystems the inventory's packages are looked up in count for the
    staleness warning (a stale Alpine feed does not alarm a Debian scan).
    """
    from dockguard.vuln.database import staleness_warning
    from dockguard.vuln.match import MatchOptions, check_packages, coverage

    result = check_packages(db, inv.os, inv.packages, options or MatchOptions())
    ecosystems: set[str] = set()
    for pkg in inv.packages:
        found = coverage(pkg, inv.os)
        if isinstance(found, tuple):
            ecosystems.update(found)
    stale = staleness_warning(db, sorted(ecosystems), hint=hint) if ecosystems else None
    return ImageScan(inv, result.matches, result.not_checked, stale)
