"""``dockguard store rematch``: every stored inventory against the current database.

No registry and no layer is touched: the inventories (OS and packages) were stored by the
scans.  Matching depends only on an inventory's OS and packages and on the database, so
images with identical inventories — common when many tags share a base and an application
stack — are matched once: the store groups inventories by the digest of their OS and packages
(``match_key``, `image_adapter.inventory_key`) and one document per group is decoded.  Each image's vulnerability
findings are then replaced (its configuration findings stay), and what is new and what is
gone is recorded under the rematch run (``finding_changes``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from dockguard.store import FindingRow, RunKind, RunStatus, Store, StoreURL

if TYPE_CHECKING:
    from dockguard.vuln.database import VulnDB


@dataclass
class ChangedImage:
    """One image whose findings changed."""

    digest: str
    names: list[str]
    new: list[FindingRow]
    fixed: list[FindingRow]


@dataclass
class RematchResult:
    """What a re-match did."""

    run: str
    store: str
    db: str
    images: int = 0
    distinct_inventories: int = 0
    changed: list[ChangedImage] = field(default_factory=list)
    older_inventories: int = 0
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)

    @property
    def new(self) -> int:
        """New findings over all images."""
        return sum(len(c.new) for c in self.changed)

    @property
    def fixed(self) -> int:
        """Findings gone over all images."""
        return sum(len(c.fixed) for c in self.changed)

    def summary(self) -> dict[str, object]:
        """The run's stored summary."""
        return {"db": self.db, "images": self.images, "distinct_inventories": self.distinct_inventories,
                "images_changed": len(self.changed), "new": self.new, "fixed": self.fixed,
                "older_inventories": self.older_inventories, "seconds": round(self.seconds, 3)}


def rematch(store_url: StoreURL, db_path: str | None) -> RematchResult:
    """Re-evaluate every stored inventory; see the module docstring."""
    from dockguard.scale import image_adapter as adapter

    started = time.monotonic()
    db = adapter.open_vuln_db(db_path)
    try:
        store = Store.open(store_url)
        try:
            return _rematch(store, db, started)
        finally:
            store.close()
    finally:
        db.close()


def _rematch(store: Store, db: VulnDB, started: float) -> RematchResult:
    from dockguard.scale import image_adapter as adapter

    stale = adapter.stale_feeds(db)
    run = store.start_run(RunKind.REMATCH, store.url.display(), {"db": str(db.path)})
    result = RematchResult(run, store.url.display(), str(db.path))
    if stale:
        result.warnings.append(f"stale vulnerability data ({', '.join(stale)}): refresh with `dockguard db update`")
    groups = store.inventory_groups(adapter.CATALOGUER_KEY)
    try:
        for _key, images in groups:
            # One document of the group is decoded and matched: the key says they match alike.
            doc = store.inventory(images[0], adapter.CATALOGUER_KEY)
            if doc is None:
                continue  # replaced meanwhile
            origin = f"store {store.url.display()}: inventory of {images[0]}"
            os_info, packages = adapter.packages_from_doc(doc, origin)
            found = adapter.match(db, os_info, packages)
            for image in images:
                names = store.image_names(image)
                rows = adapter.vulnerability_rows(found, f"image:{names[0] if names else image}")
                changes = store.replace_findings(run, image, rows, [adapter.VULNERABILITY], record_changes=True)
                result.images += 1
                if changes.new or changes.fixed:
                    result.changed.append(ChangedImage(image, names, list(changes.new), list(changes.fixed)))
    except BaseException:
        store.finish_run(run, RunStatus.FAILED, result.summary())
        raise
    result.distinct_inventories = len(groups)
    result.older_inventories = store.images_without_inventory(adapter.CATALOGUER_KEY)
    if result.older_inventories:
        result.warnings.append(f"{result.older_inventories} image(s) have inventories from another dockguard "
                               "version only: scan their registry again to re-inventory them (no layer is "
                               "fetched again unless the layer analyser changed)")
    result.seconds = time.monotonic() - started
    store.finish_run(run, RunStatus.COMPLETE, result.summary())
    return result


def _row_json(r: FindingRow) -> dict[str, object]:
    return {"id": r.id, "kind": r.kind, "severity": r.severity, "package": r.package, "version": r.version,
            "fixed": r.fixed}


def rematch_json(result: RematchResult) -> dict[str, object]:
    """The re-match as a JSON-able document."""
    return {"run": result.run, "store": result.store, **result.summary(),
            "changed": [{"digest": c.digest, "names": c.names, "new": [_row_json(r) for r in c.new],
                         "fixed": [_row_json(r) for r in c.fixed]} for c in result.changed],
            "warnings": result.warnings}


def rematch_text(result: RematchResult, limit: int = 50) -> str:
    """The re-match for people."""
    from dockguard.channel.bounded_http import shown

    lines = [f"Re-matched {result.images} images ({result.distinct_inventories} distinct inventories) "
             f"against {result.db} in {result.seconds:.2f} s: run {result.run}",
             f"Store: {result.store}",
             f"New findings: {result.new} in {sum(1 for c in result.changed if c.new)} images; "
             f"fixed: {result.fixed} in {sum(1 for c in result.changed if c.fixed)} images", ""]
    for c in sorted(result.changed, key=lambda c: c.names[0] if c.names else c.digest)[:limit]:
        lines.append(shown(c.names[0]) if c.names else c.digest)
        for sign, rows in (("+", c.new), ("-", c.fixed)):
            for r in rows:
                fix = f" (fixed in {shown(r.fixed)})" if r.fixed else ""
                lines.append(f"  {sign} {r.severity:<10} {shown(r.id):<20} {shown(r.package)} {shown(r.version)}{fix}")
    if len(result.changed) > limit:
        lines.append(f"… {len(result.changed) - limit} more changed images (see --format json)")
    lines += [f"warning: {w}" for w in result.warnings]
    return "\n".join(lines).rstrip() + "\n"
