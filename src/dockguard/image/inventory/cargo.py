"""Rust crates of binaries built with ``cargo auditable``: the ``.dep-v0`` ELF section.

cargo-auditable embeds the dependency tree as zlib-compressed JSON in a section named
``.dep-v0``: ``{"packages": [{"name", "version", "source", "kind", "dependencies", "root"}]}``.
``kind: "build"`` crates ran at build time only and are not in the binary: they are skipped.
The section is inflated to at most `Limits.max_section` bytes.
"""

from __future__ import annotations

import json
import struct
import zlib

from dockguard.image.gobuildinfo import Elf
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

SECTION = ".dep-v0"
MIN_SIZE = 16 * 1024
SPOOL_MAX = 512 * 1024 * 1024


def read_section(blob: Blob) -> bytes | None:
    """The raw (compressed) ``.dep-v0`` section of an ELF file, or None."""
    try:
        elf = Elf(blob.read_at, blob.size)
        found = elf.section(SECTION)
    except (ValueError, struct.error):
        return None
    if found is None:
        return None
    offset, size = found
    return blob.read_at(offset, size)


def parse_section(raw: bytes, limits: Limits, origin: str) -> list[tuple[str, str, str, str]]:
    """(name, version, source, kind) of every crate; ValueError when the section is unreadable."""
    z = zlib.decompressobj()
    try:
        data = z.decompress(raw, limits.max_section)
    except zlib.error as exc:
        raise ValueError(f"{SECTION} section is not zlib data: {exc}") from None
    if z.unconsumed_tail:
        raise ValueError(f"{SECTION} section inflates past the {limits.max_section}-byte cap")
    try:
        doc = parse_json(data, origin, max_depth=16)
    except InputError as exc:
        raise ValueError(str(exc)) from None
    items = doc.get("packages") if isinstance(doc, dict) else None
    if not isinstance(items, list):
        raise ValueError(f"{SECTION} section has no package list")
    out = []
    for item in items:
        if not isinstance(item, dict):
            continue
        name, version = item.get("name"), item.get("version")
        if isinstance(name, str) and isinstance(version, str) and name and version:
            out.append((name, version, str(item.get("source", "")), str(item.get("kind", "runtime"))))
    return out


class CargoAuditableCataloguer(Cataloguer):
    """Crates linked into binaries that carry a cargo-auditable dependency list."""

    name = "cargo-auditable"
    version = "1"
    triggers = Triggers(executables=True, min_executable=MIN_SIZE)

    def wants(self, path: str, size: int, mode: int, limits: Limits) -> Want | None:
        return Want(SPOOL_MAX, quiet=True)

    def extract(self, path: str, blob: Blob, limits: Limits) -> Extracted:
        if blob.read_at(0, 4) != b"\x7fELF":
            return Extracted(None)
        raw = read_section(blob)
        if raw is None:
            return Extracted(None)
        try:
            crates = parse_section(raw, limits, "/" + path)
        except ValueError as exc:
            return Extracted(None, (f"/{path}: {exc}",))
        return Extracted(json.dumps(crates, separators=(",", ":")).encode())

    def collect(self, inp: CatalogueInput, limit: int) -> Catalogue:
        out = Catalogue()
        found: list[Package] = []
        for path, index, data in inp.sorted_files():
            if len(found) > limit:
                break
            try:
                crates = [(str(n), str(v), str(s), str(k)) for n, v, s, k in json.loads(data)]
            except (ValueError, TypeError):
                out.incomplete.append(f"/{path}: damaged crate record")
                continue
            for name, version, _source, kind in crates:
                if kind == "build":
                    continue
                found.append(Package(
                    type=PackageType.CARGO, name=name, version=version, source_name=name,
                    source_version=version, purl=make_purl("cargo", name, version),
                    layer=inp.layer_id(index), path="/" + path, evidence=SECTION,
                ))
        out.packages = truncate(found, limit, out, "Rust binaries")
        return out
