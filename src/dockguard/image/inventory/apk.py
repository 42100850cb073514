"""Alpine packages from ``/lib/apk/db/installed`` (P name, V version, A arch, o origin, L license).

The database is parsed as a stream of the fields used; other lines are never decoded.
"""

from __future__ import annotations

from collections.abc import Iterable

from dockguard.image.inventory._stanzas import Catalogue, StanzaStats, field_pattern, introduced, stanzas
from dockguard.image.inventory.base import CatalogueInput, Cataloguer, Triggers, Want
from dockguard.image.limits import DEFAULT_LIMITS, Limits
from dockguard.image.packages import Package
from dockguard.image.purl import os_purl

INSTALLED = "lib/apk/db/installed"
_FIELDS = field_pattern(("P", "V", "A", "o", "L"), separator=":")


def parse_bytes(data: bytes, limit: int = DEFAULT_LIMITS.max_packages,
                stats: StanzaStats | None = None) -> list[dict[str, str]]:
    """One dict of single-letter fields per package that has a name and a version."""
    return [f for f in stanzas(data, _FIELDS, limit, stats) if f.get("P") and f.get("V")]


def parse(text: str) -> list[dict[str, str]]:
    """`parse_bytes` of a decoded database."""
    return parse_bytes(text.encode("utf-8", "surrogateescape"))


def _keys(data: bytes) -> Iterable[tuple[str, str]]:
    for f in parse_bytes(data):
        yield f["P"], f["V"]


def catalogue(inp: CatalogueInput, limit: int | None = None) -> Catalogue:
    """Installed apk packages with origin as source name (at most `limit`)."""
    out = Catalogue()
    hit = inp.files.get(INSTALLED)
    if hit is None:
        return out
    final_index, data = hit
    first = introduced(inp.layers, INSTALLED, _keys)
    distro = f"alpine-{inp.os.version}" if inp.os and inp.os.version else ""
    stats = StanzaStats()
    for f in parse_bytes(data, inp.limits.max_packages if limit is None else max(limit, 0), stats):
        name, version = f["P"], f["V"]
        index = first.get((name, version), final_index)
        out.packages.append(
            Package(
                type="apk", name=name, version=version, source_name=f.get("o", name),
                source_version=version, arch=f.get("A", ""),
                purl=os_purl("apk", "alpine", name, version, f.get("A", ""), distro),
                layer=inp.layer_id(index), path="/" + INSTALLED,
                licenses=(f["L"],) if f.get("L") else (),
            )
        )
    out.incomplete += stats.problems("/" + INSTALLED)
    return out


class ApkCataloguer(Cataloguer):
    """Alpine packages from the apk database."""

    name = "apk"
    version = "1"
    os_database = True
    triggers = Triggers(paths=frozenset({INSTALLED}))

    def wants(self, path: str, size: int, mode: int, limits: Limits) -> Want | None:
        return Want(limits.max_read) if path == INSTALLED else None

    def collect(self, inp: CatalogueInput, limit: int) -> Catalogue:
        return catalogue(inp, limit)
