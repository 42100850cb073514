"""PHP packages that Composer installed: ``vendor/composer/installed.json``.

Composer 1 writes a JSON array of packages; Composer 2 an object whose ``packages`` holds the
array (and ``dev-package-names`` the development-only ones, still installed).  Each package has
``name`` (``vendor/package``) and ``version`` (as installed: ``v1.2.3``, ``1.2.3``).
"""

from __future__ import annotations

from dockguard.image.inventory.base import Catalogue, CatalogueInput, Cataloguer, Triggers, Want, truncate
from dockguard.image.limits import Limits
from dockguard.image.packages import Package
from dockguard.image.purl import make_purl
from dockguard.inputs import InputError, parse_json
from dockguard.vuln.ecosystems import PackageType

INSTALLED = "vendor/composer/installed.json"


def parse_installed(data: bytes, origin: str) -> list[tuple[str, str, str]]:
    """(name, version, first license) of every package; `InputError` when it is not JSON."""
    doc = parse_json(data, origin, max_depth=64)
    items = doc.get("packages") if isinstance(doc, dict) else doc
    if not isinstance(items, list):
        raise InputError(origin, "neither a package array (Composer 1) nor an object with packages (Composer 2)",
                         "$")
    out = []
    for item in items:
        if not isinstance(item, dict):
            continue
        name, version = item.get("name"), item.get("version")
        if isinstance(name, str) and isinstance(version, str) and name and version:
            lic = item.get("license")
            first = lic[0] if isinstance(lic, list) and lic and isinstance(lic[0], str) else ""
            out.append((name, version, first))
    return out


class ComposerCataloguer(Cataloguer):
    """One package per entry of an installed.json."""

    name = "composer"
    version = "1"
    triggers = Triggers(names=frozenset({"installed.json"}))

    def wants(self, path: str, size: int, mode: int, limits: Limits) -> Want | None:
        return Want(limits.max_read) if path == INSTALLED or path.endswith("/" + INSTALLED) else None

    def collect(self, inp: CatalogueInput, limit: int) -> Catalogue:
        out = Catalogue()
        found: list[Package] = []
        for path, index, data in inp.sorted_files():
            if len(found) > limit:
                break
            try:
                entries = parse_installed(data, "/" + path)
            except InputError as exc:
                out.incomplete.append(f"/{path}: {exc}")
                continue
            for name, version, lic in entries:
                vendor, _, pkg = name.rpartition("/")
                found.append(Package(
                    type=PackageType.COMPOSER, name=name, version=version, source_name=name,
                    source_version=version, purl=make_purl("composer", pkg, version, namespace=vendor or None),
                    layer=inp.layer_id(index), path="/" + path, licenses=(lic,) if lic else (),
                ))
        out.packages = truncate(found, limit, out, "Composer installed.json files")
        return out
