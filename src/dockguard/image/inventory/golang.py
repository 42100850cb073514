"""Go modules of ELF binaries, from the build info `dockguard.image.gobuildinfo` extracts."""

from __future__ import annotations

import json
from collections.abc import Iterator

from dockguard.image import gobuildinfo
from dockguard.image.gobuildinfo import BuildInfo
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

#: Smaller executables are not Go programs (the Go runtime alone is larger).
GO_MIN_SIZE = 256 * 1024
#: Larger executables are searched as a stream for the inline (Go >= 1.18) format only.
SPOOL_MAX = 512 * 1024 * 1024


def packages(info: BuildInfo, path: str, layer: str, os_owned: bool) -> list[Package]:
    """Packages for one binary: the main module (when versioned), dependencies and stdlib."""
    out: list[Package] = []
    seen: set[tuple[str, str]] = set()
    lines = info.modinfo.splitlines()
    for i, line in enumerate(lines):
        parts = line.split("\t")
        if parts[0] not in ("mod", "dep") or len(parts) < 3:
            continue
        name, version = parts[1], parts[2]
        # A following "=>" line replaces the module: the replacement is what got built.
        if i + 1 < len(lines) and lines[i + 1].startswith("=>\t"):
            rep = lines[i + 1].split("\t")
            if len(rep) >= 3 and rep[2]:
                name, version = rep[1], rep[2]
        if not version or version == "(devel)" or (name, version) in seen:
            continue
        seen.add((name, version))
        out.append(_pkg(name, version, path, layer, os_owned))
    go = info.go_version.strip()
    if go.startswith("go") and go[2:3].isdigit():
        version = "v" + go[2:].split(" ")[0].split("-")[0]
        out.append(_pkg("stdlib", version, path, layer, os_owned))
    return out


def _pkg(name: str, version: str, path: str, layer: str, os_owned: bool) -> Package:
    return Package(
        type="golang",
        name=name,
        version=version,
        source_name=name,
        source_version=version,
        purl=make_purl("golang", name, version),
        layer=layer,
        path=path,
        os_owned=os_owned,
    )


def _record(info: BuildInfo | None) -> Extracted:
    if info is None:
        return Extracted(None)
    return Extracted(json.dumps([info.go_version, info.modinfo]).encode())


class GoCataloguer(Cataloguer):
    """Go build info of ELF executables (Go >= 1.18 inline and the older pointer format)."""

    name = "go"
    version = "1"
    triggers = Triggers(executables=True, min_executable=GO_MIN_SIZE)

    def wants(self, path: str, size: int, mode: int, limits: Limits) -> Want | None:
        return Want(SPOOL_MAX, quiet=True)

    def extract(self, path: str, blob: Blob, limits: Limits) -> Extracted:
        if blob.read_at(0, 4) != b"\x7fELF":
            return Extracted(None)
        return _record(gobuildinfo.read_buildinfo(blob.read_at, blob.size))

    def extract_stream(self, path: str, chunks: Iterator[bytes], limits: Limits) -> Extracted | None:
        first = next(chunks, b"")
        if not first.startswith(b"\x7fELF"):
            return None

        def chain() -> Iterator[bytes]:
            yield first
            yield from chunks

        return _record(gobuildinfo.scan_stream(chain()))

    def collect(self, inp: CatalogueInput, limit: int) -> Catalogue:
        out = Catalogue()
        found: list[Package] = []
        for path, index, data in inp.sorted_files():
            if len(found) > limit:
                break
            try:
                go_version, modinfo = json.loads(data)
                info = BuildInfo(str(go_version), str(modinfo))
            except (ValueError, TypeError):
                out.incomplete.append(f"/{path}: damaged Go build info record")
                continue
            found += packages(info, "/" + path, inp.layer_id(index), False)
        out.packages = truncate(found, limit, out, "Go binaries")
        return out
