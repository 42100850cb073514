"""npm packages from ``node_modules/**/package.json``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dockguard.image.layers import wanted_kind
from dockguard.image.packages import Package
from dockguard.image.purl import make_purl
from dockguard.inputs import InputError, parse_json

if TYPE_CHECKING:
    from dockguard.image.inventory import InventoryInput


def collect(inp: InventoryInput) -> list[Package]:
    """All packages of `collect_limited`."""
    return collect_limited(inp, None)[0]


def collect_limited(inp: InventoryInput, limit: int | None) -> tuple[list[Package], bool]:
    """One package per package.json with a name and a version (at most `limit`)."""
    out: list[Package] = []
    for path, (index, data) in sorted(inp.fs.files.items()):
        if wanted_kind(path) != "npm":
            continue
        if limit is not None and len(out) >= limit:
            return out, True
        try:
            doc = parse_json(data, path, max_depth=32)
        except InputError:
            continue
        if not isinstance(doc, dict):
            continue
        name, version = doc.get("name"), doc.get("version")
        if not isinstance(name, str) or not isinstance(version, str) or not name or not version:
            continue
        lic = doc.get("license")
        out.append(
            Package(
                type="npm", name=name, version=version, source_name=name, source_version=version,
                purl=make_purl("npm", name, version), layer=inp.layer_id(index), path="/" + path,
                licenses=(lic,) if isinstance(lic, str) and lic else (),
            )
        )
    return out, False
