"""Python distributions from ``*.dist-info/METADATA`` and ``*.egg-info`` (PKG-INFO)."""

from __future__ import annotations

from email.parser import HeaderParser

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
from dockguard.image.purl import make_purl, pep503


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


def is_metadata(path: str) -> bool:
    """True for a dist-info METADATA, an egg-info PKG-INFO or a single-file egg-info."""
    if path.endswith("/METADATA"):
        return path[:-9].endswith(".dist-info")
    if path.endswith("/PKG-INFO"):
        return path[:-9].endswith(".egg-info")
    return path.endswith(".egg-info") and "-packages/" in path


class PythonCataloguer(Cataloguer):
    """One package per metadata file; only the header block is kept."""

    name = "python"
    version = "1"
    triggers = Triggers(suffixes=("/METADATA", "/PKG-INFO", ".egg-info"))

    def wants(self, path: str, size: int, mode: int, limits: Limits) -> Want | None:
        return Want(limits.max_read) if is_metadata(path) else None

    def extract(self, path: str, blob: Blob, limits: Limits) -> Extracted:
        # Only the header block matters; the long description can be huge.
        head = blob.read_at(0, limits.max_pymeta)
        cut = head.find(b"\n\n")
        return Extracted(head[: cut + 1] if cut >= 0 else head)

    def collect(self, inp: CatalogueInput, limit: int) -> Catalogue:
        out = Catalogue()
        found: list[Package] = []
        for path, index, data in inp.sorted_files():
            if len(found) > limit:
                break
            parsed = parse_metadata(data)
            if parsed is None:
                continue
            name, version, lic = parsed
            norm = pep503(name)
            found.append(
                Package(
                    type="pypi", name=norm, version=version, source_name=norm, source_version=version,
                    purl=make_purl("pypi", norm, version), layer=inp.layer_id(index), path="/" + path,
                    licenses=(lic,) if lic and lic.upper() != "UNKNOWN" else (),
                )
            )
        out.packages = truncate(found, limit, out, "Python metadata")
        return out
