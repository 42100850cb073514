"""Package inventory of a squashed image: OS package databases and language metadata.

`collect` runs every cataloguer over the squashed view and the per-layer analyses and returns
the packages with purls and introducing layers, plus warnings.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from dockguard.image.gobuildinfo import BuildInfo
from dockguard.image.inventory import apk, dpkg, golang, npm, python, rpm
from dockguard.image.inventory._stanzas import Catalogue
from dockguard.image.layers import LayerAnalysis, Squashed
from dockguard.image.limits import DEFAULT_LIMITS, Limits
from dockguard.image.packages import OSInfo, Package


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


def collect_all(inp: InventoryInput) -> Catalogue:
    """All packages (sorted by type, name, version, path), warnings and what was not read."""
    out = Catalogue()
    limit = inp.limits.max_packages
    for catalogue in (dpkg.catalogue, apk.catalogue, rpm.catalogue):
        part = catalogue(inp, limit - len(out.packages))
        out.packages += part.packages
        out.warnings += part.warnings
        out.incomplete += part.incomplete
    lang, truncated = python.collect_limited(inp, limit - len(out.packages))
    more, cut = npm.collect_limited(inp, limit - len(out.packages) - len(lang))
    lang += more
    truncated = truncated or cut
    for path, (index, (go_version, modinfo)) in sorted(inp.fs.go.items()):
        left = limit - len(out.packages) - len(lang)
        found = golang.packages(BuildInfo(go_version, modinfo), "/" + path, inp.layer_id(index), False)
        if len(found) > left:
            lang += found[: max(left, 0)]
            truncated = True
            break
        lang += found
    if truncated:
        out.incomplete.append(f"more than the {limit} packages a scan reads: the rest not read")
    owned = dpkg.owned_paths(inp, {_owner_key(p) for p in lang})
    lang = [replace(p, os_owned=True) if _owner_key(p) in owned else p for p in lang]
    out.packages += lang
    out.packages.sort(key=lambda p: (p.type, p.name, p.version, p.path))
    return out


def collect(inp: InventoryInput) -> tuple[list[Package], list[str]]:
    """All packages (sorted) and the warnings and incompleteness messages together."""
    found = collect_all(inp)
    return found.packages, found.warnings + found.incomplete


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
