"""NuGet packages of .NET applications: ``*.deps.json``.

The ``libraries`` object of a deps.json names every library as ``Name/Version`` with a
``type``; ``package`` entries came from NuGet (``project`` entries are the application's own,
``reference`` ones the framework's).
"""

from __future__ import annotations

from dockguard.image.inventory.base import Catalogue, CatalogueInput, Cataloguer, Triggers, Want, truncate
from dockguard.image.limits import Limits
from dockguard.image.packages import Package
from dockguard.image.purl import make_purl
from dockguard.inputs import InputError, parse_json
from dockguard.vuln.ecosystems import PackageType


def parse_deps(data: bytes, origin: str) -> list[tuple[str, str]]:
    """(name, version) of every NuGet package library; `InputError` when it is not a deps.json."""
    doc = parse_json(data, origin, max_depth=64)
    libraries = doc.get("libraries") if isinstance(doc, dict) else None
    if not isinstance(libraries, dict):
        raise InputError(origin, "no libraries object", "$.libraries")
    out = []
    for key, lib in libraries.items():
        if not isinstance(lib, dict) or lib.get("type") != "package":
            continue
        name, sep, version = key.rpartition("/")
        if sep and name and version:
            out.append((name, version))
    return out


class DotnetCataloguer(Cataloguer):
    """NuGet packages listed by .NET dependency manifests."""

    name = "dotnet"
    version = "1"
    triggers = Triggers(suffixes=(".deps.json",))

    def wants(self, path: str, size: int, mode: int, limits: Limits) -> Want | None:
        return Want(limits.max_read)

    def collect(self, inp: CatalogueInput, limit: int) -> Catalogue:
        out = Catalogue()
        found: list[Package] = []
        for path, index, data in inp.sorted_files():
            if len(found) > limit:
                break
            try:
                entries = parse_deps(data, "/" + path)
            except InputError as exc:
                out.incomplete.append(f"/{path}: {exc}")
                continue
            for name, version in entries:
                found.append(Package(
                    type=PackageType.NUGET, name=name, version=version, source_name=name,
                    source_version=version, purl=make_purl("nuget", name, version),
                    layer=inp.layer_id(index), path="/" + path,
                ))
        out.packages = truncate(found, limit, out, ".NET deps.json files")
        return out
