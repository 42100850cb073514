"""Debian packages from ``/var/lib/dpkg/status`` and ``status.d/*`` (distroless)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

from dockguard.image.inventory._common import introduced, paragraphs
from dockguard.image.model import Package
from dockguard.image.purl import os_purl

if TYPE_CHECKING:
    from dockguard.image.inventory import InventoryInput

STATUS = "var/lib/dpkg/status"
STATUS_D = "var/lib/dpkg/status.d/"
_SOURCE = re.compile(r"^(\S+)(?:\s+\((\S+)\))?")


def parse(text: str) -> list[dict[str, str]]:
    """Installed package stanzas; entries without Status count as installed (status.d)."""
    out = []
    for fields in paragraphs(text):
        if "Package" not in fields or "Version" not in fields:
            continue
        status = fields.get("Status")
        if status is not None:
            words = status.split()
            if len(words) < 3 or words[2] not in ("installed", "half-configured", "triggers-awaited",
                                                   "triggers-pending"):
                continue
        out.append(fields)
    return out


def _keys(data: bytes) -> Iterable[tuple[str, str]]:
    for f in parse(data.decode("utf-8", "replace")):
        yield f["Package"], f["Version"]


def to_package(fields: dict[str, str], distro_ns: str, distro: str, layer: str, path: str) -> Package:
    """A Package from one stanza; source name/version from ``Source: name (version)``."""
    name, version = fields["Package"], fields["Version"]
    arch = fields.get("Architecture", "")
    src_name, src_version = name, version
    source = fields.get("Source", "")
    m = _SOURCE.match(source)
    if m:
        src_name = m.group(1)
        if m.group(2):
            src_version = m.group(2)
    return Package(
        type="deb",
        name=name,
        version=version,
        source_name=src_name,
        source_version=src_version,
        arch=arch,
        purl=os_purl("deb", distro_ns, name, version, arch, distro),
        layer=layer,
        path=path,
    )


def collect(inp: InventoryInput) -> list[Package]:
    """Packages from the final status file and status.d entries."""
    family = inp.os.family if inp.os and inp.os.family in ("debian", "ubuntu") else "debian"
    distro = f"{family}-{inp.os.version}" if inp.os and inp.os.version else ""
    out: list[Package] = []
    hit = inp.fs.files.get(STATUS)
    if hit is not None:
        final_index, data = hit
        first = introduced(inp.analyses, STATUS, _keys)
        for fields in parse(data.decode("utf-8", "replace")):
            index = first.get((fields["Package"], fields["Version"]), final_index)
            out.append(to_package(fields, family, distro, inp.layer_id(index), "/" + STATUS))
    for path, (index, data) in sorted(inp.fs.files.items()):
        if path.startswith(STATUS_D):
            for fields in parse(data.decode("utf-8", "replace")):
                out.append(to_package(fields, family, distro, inp.layer_id(index), "/" + path))
    return out


def owned_paths(inp: InventoryInput, candidates: set[str]) -> set[str]:
    """Which of `candidates` (absolute paths) dpkg's ``info/*.list`` files claim."""
    if not candidates:
        return set()
    owned: set[str] = set()
    # Only lists that mention a candidate's directory can own it; skip the rest unsplit.
    markers = {c.rsplit("/", 1)[0].encode() for c in candidates}
    for path, (_index, data) in inp.fs.files.items():
        if (path.startswith("var/lib/dpkg/info/") and path.endswith(".list")
                and any(m in data for m in markers)):
            for line in data.decode("utf-8", "replace").splitlines():
                if line in candidates:
                    owned.add(line)
    return owned
