"""Package inventory of a squashed image: OS package databases and language metadata.

`collect` runs every cataloguer over the squashed view and the per-layer analyses and returns
the packages with purls and introducing layers, plus warnings.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from dockguard.image.gobuildinfo import BuildInfo
from dockguard.image.inventory import apk, dpkg, golang, npm, python, rpm
from dockguard.image.layers import LayerAnalysis, Squashed
from dockguard.image.model import OSInfo, Package


@dataclass(frozen=True)
class InventoryInput:
    """What cataloguers read: the squashed view, each layer's own analysis, layer ids, OS."""

    fs: Squashed
    analyses: tuple[LayerAnalysis, ...]
    layer_ids: tuple[str, ...]
    os: OSInfo | None

    def layer_id(self, index: int) -> str:
        """The diff id of layer `index` ('' for a rootfs directory)."""
        return self.layer_ids[index] if 0 <= index < len(self.layer_ids) else ""


def collect(inp: InventoryInput) -> tuple[list[Package], list[str]]:
    """All packages (sorted by type, name, version, path) and warnings."""
    warnings: list[str] = []
    packages: list[Package] = []
    packages += dpkg.collect(inp)
    packages += apk.collect(inp)
    rpm_pkgs, rpm_warn = rpm.collect(inp)
    packages += rpm_pkgs
    warnings += rpm_warn
    lang: list[Package] = []
    lang += python.collect(inp)
    lang += npm.collect(inp)
    for path, (index, (go_version, modinfo)) in sorted(inp.fs.go.items()):
        lang += golang.packages(BuildInfo(go_version, modinfo), "/" + path,
                                inp.layer_id(index), False)
    owned = dpkg.owned_paths(inp, {_owner_key(p) for p in lang})
    lang = [replace(p, os_owned=True) if _owner_key(p) in owned else p for p in lang]
    packages += lang
    packages.sort(key=lambda p: (p.type, p.name, p.version, p.path))
    return packages, warnings


def _owner_key(p: Package) -> str:
    """The path a dpkg .list would contain for this package (metadata dir or binary)."""
    if p.type == "pypi":
        path = p.path
        if path.endswith(("/METADATA", "/PKG-INFO")):
            return path.rsplit("/", 1)[0]
        return path
    if p.type == "npm":
        return p.path.rsplit("/", 1)[0]
    return p.path
