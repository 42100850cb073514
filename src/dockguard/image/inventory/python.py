"""Python distributions from ``*.dist-info/METADATA`` and ``*.egg-info`` (PKG-INFO)."""

from __future__ import annotations

from email.parser import HeaderParser
from typing import TYPE_CHECKING

from dockguard.image.layers import wanted_kind
from dockguard.image.packages import Package
from dockguard.image.purl import make_purl, pep503

if TYPE_CHECKING:
    from dockguard.image.inventory import InventoryInput


def parse_metadata(data: bytes) -> tuple[str, str, str] | None:
    """(name, version, license) from a core-metadata header block."""
    msg = HeaderParser().parsestr(data[: 256 * 1024].decode("utf-8", "replace"), headersonly=True)
    name, version = msg.get("Name"), msg.get("Version")
    if not name or not version:
        return None
    lic = msg.get("License-Expression") or msg.get("License") or ""
    if len(lic) > 100 or "\n" in lic:
        lic = ""
    return str(name).strip(), str(version).strip(), str(lic).strip()


def collect(inp: InventoryInput) -> list[Package]:
    """All packages of `collect_limited`."""
    return collect_limited(inp, None)[0]


def collect_limited(inp: InventoryInput, limit: int | None) -> tuple[list[Package], bool]:
    """One package per metadata file still present in the squashed image (at most `limit`)."""
    out: list[Package] = []
    for path, (index, data) in sorted(inp.fs.files.items()):
        if wanted_kind(path) != "pymeta":
            continue
        if limit is not None and len(out) >= limit:
            return out, True
        parsed = parse_metadata(data)
        if parsed is None:
            continue
        name, version, lic = parsed
        norm = pep503(name)
        out.append(
            Package(
                type="pypi", name=norm, version=version, source_name=norm, source_version=version,
                purl=make_purl("pypi", norm, version), layer=inp.layer_id(index), path="/" + path,
                licenses=(lic,) if lic and lic.upper() != "UNKNOWN" else (),
            )
        )
    return out, False
