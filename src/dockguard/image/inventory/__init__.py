"""Package inventory of a squashed image: OS package databases, language metadata, binaries.

`CATALOGUERS` is the explicit, ordered list of cataloguers (`base.Cataloguer`).  The layer
reader gives each the files it wants and keeps its records per layer; `collect_all` runs each
over the records that survive the squash and returns the packages with purls and introducing
layers, plus warnings and what was not read.

To add a cataloguer: subclass `base.Cataloguer` in a module of this package, give it a unique
``name``, a ``version``, ``triggers`` and `wants`/`extract`/`collect`, and add an instance to
`CATALOGUERS` (OS databases first: they decide which language files belong to OS packages).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from dockguard.image.inventory import (
    apk,
    cargo,
    composer,
    conda,
    dotnet,
    dpkg,
    gems,
    golang,
    java,
    npm,
    python,
    rpm,
    runtimes,
)
from dockguard.image.inventory.base import Catalogue, CatalogueInput, Cataloguer, dedupe_names
from dockguard.image.limits import DEFAULT_LIMITS, Limits
from dockguard.image.packages import OSInfo, Package

if TYPE_CHECKING:
    from dockguard.image.layers import LayerAnalysis, Squashed

#: Every cataloguer, in the order their packages are listed.
CATALOGUERS: tuple[Cataloguer, ...] = (
    dpkg.DpkgCataloguer(),
    apk.ApkCataloguer(),
    rpm.RpmCataloguer(),
    python.PythonCataloguer(),
    npm.NpmCataloguer(),
    golang.GoCataloguer(),
    java.JavaCataloguer(),
    gems.GemCataloguer(),
    composer.ComposerCataloguer(),
    cargo.CargoAuditableCataloguer(),
    dotnet.DotnetCataloguer(),
    conda.CondaCataloguer(),
    runtimes.RuntimeCataloguer(),
)
dedupe_names(CATALOGUERS)


@dataclass(frozen=True)
class InventoryInput:
    """What cataloguers read: the squashed view, each layer's own analysis, layer ids, OS."""

    fs: Squashed
    analyses: tuple[LayerAnalysis, ...]
    layer_ids: tuple[str, ...]
    os: OSInfo | None
    limits: Limits = DEFAULT_LIMITS

    def layer_id(self, index: int) -> str:
        """The diff id of layer `index` ('' for a rootfs directory)."""
        return self.layer_ids[index] if 0 <= index < len(self.layer_ids) else ""

    def for_cataloguer(self, name: str) -> CatalogueInput:
        """The view `Cataloguer.collect` of `name` reads."""
        return CatalogueInput(
            files=self.fs.parts.get(name, {}),
            layers=tuple(a.parts.get(name, {}) for a in self.analyses),
            fs=self.fs, layer_ids=self.layer_ids, os=self.os, limits=self.limits,
        )


def collect_all(inp: InventoryInput, cataloguers: Sequence[Cataloguer] = CATALOGUERS) -> Catalogue:
    """All packages (sorted by type, name, version, path), warnings and what was not read."""
    out = Catalogue()
    limit = inp.limits.max_packages
    lang: list[Package] = []
    for cat in cataloguers:
        left = limit - len(out.packages) - len(lang)
        part = cat.collect(inp.for_cataloguer(cat.name), max(left, 0))
        if cat.os_database:
            out.packages += part.packages
        else:
            lang += part.packages
        out.warnings += part.warnings
        out.incomplete += part.incomplete
    owned = dpkg.owned_paths(inp.for_cataloguer("dpkg"), {_owner_key(p) for p in lang})
    lang = [replace(p, os_owned=True) if _owner_key(p) in owned else p for p in lang]
    out.packages += lang
    out.packages.sort(key=lambda p: (p.type, p.name, p.version, p.path))
    return out


def collect(inp: InventoryInput) -> tuple[list[Package], list[str]]:
    """All packages (sorted) and the warnings and incompleteness messages together."""
    found = collect_all(inp)
    return found.packages, found.warnings + found.incomplete


def _owner_key(p: Package) -> str:
    """The path a dpkg .list would contain for this package (metadata dir or file)."""
    path = p.path.split("!/", 1)[0]  # a jar inside a jar: the outer file is what dpkg lists
    if p.type == "pypi":
        if path.endswith(("/METADATA", "/PKG-INFO")):
            return path.rsplit("/", 1)[0]
        return path
    if p.type == "npm":
        return path.rsplit("/", 1)[0]
    return path
