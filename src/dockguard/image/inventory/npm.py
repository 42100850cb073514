"""npm packages from ``node_modules/**/package.json``."""

from __future__ import annotations

import re

from dockguard.image.inventory.base import Catalogue, CatalogueInput, Cataloguer, Triggers, Want, truncate
from dockguard.image.limits import Limits
from dockguard.image.packages import Package
from dockguard.image.purl import make_purl
from dockguard.inputs import InputError, parse_json

_NPM_PKG = re.compile(r"(?:^|/)node_modules/(?:@[^/]+/)?[^/@][^/]*/package\.json$")


class NpmCataloguer(Cataloguer):
    """One package per package.json with a name and a version."""

    name = "npm"
    version = "1"
    triggers = Triggers(names=frozenset({"package.json"}))

    def wants(self, path: str, size: int, mode: int, limits: Limits) -> Want | None:
        if "node_modules/" in path and _NPM_PKG.search(path):
            return Want(limits.max_manifest_file)
        return None

    def collect(self, inp: CatalogueInput, limit: int) -> Catalogue:
        out = Catalogue()
        found: list[Package] = []
        for path, index, data in inp.sorted_files():
            if len(found) > limit:
                break
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
            found.append(
                Package(
                    type="npm", name=name, version=version, source_name=name, source_version=version,
                    purl=make_purl("npm", name, version), layer=inp.layer_id(index), path="/" + path,
                    licenses=(lic,) if isinstance(lic, str) and lic else (),
                )
            )
        out.packages = truncate(found, limit, out, "npm package.json files")
        return out
