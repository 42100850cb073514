"""Alpine packages from ``/lib/apk/db/installed`` (P name, V version, A arch, o origin)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from dockguard.image.inventory._common import introduced
from dockguard.image.model import Package
from dockguard.image.purl import os_purl

if TYPE_CHECKING:
    from dockguard.image.inventory import InventoryInput

INSTALLED = "lib/apk/db/installed"


def parse(text: str) -> list[dict[str, str]]:
    """One dict of single-letter fields per package."""
    out = []
    for block in text.split("\n\n"):
        fields: dict[str, str] = {}
        for line in block.splitlines():
            if len(line) > 2 and line[1] == ":" and line[0] not in fields:
                fields[line[0]] = line[2:]
        if "P" in fields and "V" in fields:
            out.append(fields)
    return out


def _keys(data: bytes) -> Iterable[tuple[str, str]]:
    for f in parse(data.decode("utf-8", "replace")):
        yield f["P"], f["V"]


def collect(inp: InventoryInput) -> list[Package]:
    """Installed apk packages with origin as source name."""
    hit = inp.fs.files.get(INSTALLED)
    if hit is None:
        return []
    final_index, data = hit
    first = introduced(inp.analyses, INSTALLED, _keys)
    distro = f"alpine-{inp.os.version}" if inp.os and inp.os.version else ""
    out = []
    for f in parse(data.decode("utf-8", "replace")):
        name, version = f["P"], f["V"]
        index = first.get((name, version), final_index)
        out.append(
            Package(
                type="apk", name=name, version=version, source_name=f.get("o", name),
                source_version=version, arch=f.get("A", ""),
                purl=os_purl("apk", "alpine", name, version, f.get("A", ""), distro),
                layer=inp.layer_id(index), path="/" + INSTALLED,
                licenses=(f["L"],) if f.get("L") else (),
            )
        )
    return out
