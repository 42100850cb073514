"""Go modules of ELF binaries, from the build info `dockguard.image.gobuildinfo` extracts."""

from __future__ import annotations

from dockguard.image.gobuildinfo import BuildInfo
from dockguard.image.packages import Package
from dockguard.image.purl import make_purl


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
