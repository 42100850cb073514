"""Debian packages from ``/var/lib/dpkg/status`` and ``status.d/*`` (distroless).

The status file is parsed as a stream of the five fields used (Package, Version, Status,
Architecture, Source); ownership of files is read line by line from ``info/*.list``.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable, Iterator

from dockguard.image.inventory._stanzas import Catalogue, StanzaStats, field_pattern, introduced, stanzas
from dockguard.image.inventory.base import CatalogueInput, Cataloguer, Triggers, Want
from dockguard.image.limits import DEFAULT_LIMITS, Limits
from dockguard.image.packages import Package
from dockguard.image.purl import os_purl

STATUS = "var/lib/dpkg/status"
STATUS_D = "var/lib/dpkg/status.d/"
INFO = "var/lib/dpkg/info/"
_SOURCE = re.compile(r"^(\S+)(?:\s+\((\S+)\))?")
_FIELDS = field_pattern(("Package", "Version", "Status", "Architecture", "Source"))
_STATUS_PATH = "/" + STATUS
_INSTALLED = ("installed", "half-configured", "triggers-awaited", "triggers-pending")


def parse_bytes(data: bytes, limit: int = DEFAULT_LIMITS.max_packages,
                stats: StanzaStats | None = None) -> list[dict[str, str]]:
    """Installed package stanzas; entries without Status count as installed (status.d)."""
    return list(iter_installed(data, limit, stats))


def iter_installed(data: bytes, limit: int = DEFAULT_LIMITS.max_packages,
                   stats: StanzaStats | None = None) -> Iterator[dict[str, str]]:
    """`parse_bytes` as a generator."""
    for fields in stanzas(data, _FIELDS, limit, stats):
        if not fields.get("Package") or not fields.get("Version"):
            continue
        status = fields.get("Status")
        if status is not None:
            words = status.split()
            if len(words) < 3 or words[2] not in _INSTALLED:
                continue
        yield fields


def parse(text: str) -> list[dict[str, str]]:
    """`parse_bytes` of a decoded status file."""
    return parse_bytes(text.encode("utf-8", "surrogateescape"))


def _keys(data: bytes) -> Iterable[tuple[str, str]]:
    for f in iter_installed(data):
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


def catalogue(inp: CatalogueInput, limit: int | None = None) -> Catalogue:
    """Packages from the final status file and status.d entries (at most `limit`)."""
    family = inp.os.family if inp.os and inp.os.family in ("debian", "ubuntu") else "debian"
    distro = f"{family}-{inp.os.version}" if inp.os and inp.os.version else ""
    out = Catalogue()
    limit = inp.limits.max_packages if limit is None else max(limit, 0)
    hit = inp.files.get(STATUS)
    if hit is not None:
        final_index, data = hit
        first = introduced(inp.layers, STATUS, _keys)
        stats = StanzaStats()
        for fields in iter_installed(data, limit, stats):
            index = first.get((fields["Package"], fields["Version"]), final_index)
            out.packages.append(to_package(fields, family, distro, inp.layer_id(index), _STATUS_PATH))
        out.incomplete += stats.problems("/" + STATUS)
    for path, (index, data) in sorted(inp.files.items()):
        if path.startswith(STATUS_D):
            stats = StanzaStats()
            for fields in iter_installed(data, limit - len(out.packages), stats):
                out.packages.append(to_package(fields, family, distro, inp.layer_id(index), "/" + path))
            out.incomplete += stats.problems("/" + path)
            if stats.truncated_at:
                break
    return out


def owned_paths(inp: CatalogueInput, candidates: set[str]) -> set[str]:
    """Which of `candidates` (absolute paths) dpkg's ``info/*.list`` files claim."""
    if not candidates:
        return set()
    wanted = {c.encode("utf-8", "surrogateescape"): c for c in candidates}
    owned: set[str] = set()
    # Only lists that mention a candidate's directory can own it; skip the rest unread.
    markers = {c.rsplit(b"/", 1)[0] for c in wanted}
    for path, (_index, data) in inp.files.items():
        if (path.startswith(INFO) and path.endswith(".list")
                and any(m in data for m in markers)):
            for line in io.BytesIO(data):
                hit = wanted.get(line.rstrip(b"\r\n"))
                if hit is not None:
                    owned.add(hit)
    return owned


class DpkgCataloguer(Cataloguer):
    """Debian packages: the status file, distroless ``status.d`` and the ``info/*.list`` files."""

    name = "dpkg"
    version = "1"
    os_database = True
    triggers = Triggers(paths=frozenset({STATUS}), prefixes=(STATUS_D, INFO))

    def wants(self, path: str, size: int, mode: int, limits: Limits) -> Want | None:
        if (path == STATUS or (path.startswith(STATUS_D) and not path.endswith(".md5sums"))
                or (path.startswith(INFO) and path.endswith(".list"))):
            return Want(limits.max_read)
        return None

    def collect(self, inp: CatalogueInput, limit: int) -> Catalogue:
        return catalogue(inp, limit)
