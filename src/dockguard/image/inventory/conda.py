"""conda packages: one ``conda-meta/<name>-<version>-<build>.json`` per installed package.

OSV publishes no conda ecosystem: these packages are listed (and in SBOMs) and the scan says
their vulnerabilities were not checked (`dockguard.vuln.ecosystems.UNPUBLISHED`).
"""

from __future__ import annotations

import json

from dockguard.image.inventory.base import (
    Blob,
    Catalogue,
    CatalogueInput,
    Cataloguer,
    Extracted,
    Triggers,
    Want,
    truncate,
)
from dockguard.image.limits import Limits
from dockguard.image.packages import Package
from dockguard.image.purl import make_purl
from dockguard.inputs import InputError, parse_json
from dockguard.vuln.ecosystems import PackageType


class CondaCataloguer(Cataloguer):
    """conda-meta records (name, version, build, channel kept; the file lists dropped)."""

    name = "conda"
    version = "1"
    triggers = Triggers(suffixes=(".json",))

    def wants(self, path: str, size: int, mode: int, limits: Limits) -> Want | None:
        head, _, base = path.rpartition("/")
        if head == "conda-meta" or head.endswith("/conda-meta"):
            return Want(limits.max_read) if base != "history" else None
        return None

    def extract(self, path: str, blob: Blob, limits: Limits) -> Extracted:
        try:
            doc = parse_json(blob.read_all(), "/" + path, max_depth=64)
        except InputError as exc:
            return Extracted(None, (str(exc),))
        if not isinstance(doc, dict):
            return Extracted(None)
        keep = {k: doc.get(k) for k in ("name", "version", "build", "channel", "license")
                if isinstance(doc.get(k), str)}
        return Extracted(json.dumps(keep).encode())

    def collect(self, inp: CatalogueInput, limit: int) -> Catalogue:
        out = Catalogue()
        found: list[Package] = []
        for path, index, data in inp.sorted_files():
            if len(found) > limit:
                break
            try:
                doc = json.loads(data)
            except ValueError:
                out.incomplete.append(f"/{path}: damaged conda record")
                continue
            name, version = doc.get("name"), doc.get("version")
            if not name or not version:
                continue
            quals = {"build": doc.get("build", ""), "channel": doc.get("channel", "")}
            found.append(Package(
                type=PackageType.CONDA, name=name, version=version, source_name=name, source_version=version,
                purl=make_purl("conda", name, version, qualifiers={"build": quals["build"]}),
                layer=inp.layer_id(index), path="/" + path,
                licenses=(doc["license"],) if doc.get("license") else (),
            ))
        out.packages = truncate(found, limit, out, "conda-meta records")
        return out
