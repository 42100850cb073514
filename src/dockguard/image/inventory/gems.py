"""Ruby gems from installed gem specifications: ``…/specifications/*.gemspec``.

RubyGems writes one evaluated gemspec per installed gem (``gems/<ver>/specifications``,
``specifications/default`` for default gems); Debian's ``ruby-*`` packages write theirs to
``/usr/share/rubygems-integration/<ver>/specifications``.  The files are Ruby code: only the
literal ``name`` and ``version`` assignments are read (never evaluated).
"""

from __future__ import annotations

import re

from dockguard.image.inventory.base import Catalogue, CatalogueInput, Cataloguer, Triggers, Want, truncate
from dockguard.image.limits import Limits
from dockguard.image.packages import Package
from dockguard.image.purl import make_purl
from dockguard.vuln.ecosystems import PackageType

_NAME = re.compile(rb"""^\s*\w+\.name\s*=\s*["']([^"'\n]{1,200})["']""", re.M)
_VERSION = re.compile(rb"""^\s*\w+\.version\s*=\s*(?:Gem::Version\.new\()?["']([^"'\n]{1,100})["']""", re.M)
_LICENSES = re.compile(rb"""^\s*\w+\.licenses?\s*=\s*\[?\s*["']([^"'\n]{1,100})["']""", re.M)


def parse_gemspec(data: bytes) -> tuple[str, str, str] | None:
    """(name, version, first license) of a gemspec's literal assignments."""
    name, version = _NAME.search(data), _VERSION.search(data)
    if not name or not version:
        return None
    lic = _LICENSES.search(data)
    return (name.group(1).decode("utf-8", "replace"), version.group(1).decode("utf-8", "replace"),
            lic.group(1).decode("utf-8", "replace") if lic else "")


class GemCataloguer(Cataloguer):
    """One gem per installed specification."""

    name = "gem"
    version = "1"
    triggers = Triggers(suffixes=(".gemspec",))

    def wants(self, path: str, size: int, mode: int, limits: Limits) -> Want | None:
        return Want(limits.max_archive_member) if "specifications/" in path else None

    def collect(self, inp: CatalogueInput, limit: int) -> Catalogue:
        out = Catalogue()
        found: list[Package] = []
        for path, index, data in inp.sorted_files():
            if len(found) > limit:
                break
            parsed = parse_gemspec(data)
            if parsed is None:
                out.warnings.append(f"/{path}: no literal name and version in the gem specification")
                continue
            name, version, lic = parsed
            found.append(Package(
                type=PackageType.GEM, name=name, version=version, source_name=name, source_version=version,
                purl=make_purl("gem", name, version), layer=inp.layer_id(index), path="/" + path,
                licenses=(lic,) if lic else (),
            ))
        out.packages = truncate(found, limit, out, "gem specifications")
        return out
