"""The cataloguer interface: what a cataloguer reads while a layer streams, and what it finds.

A `Cataloguer` has a `name` and a `version`, declares which files it wants (`triggers`, a
cheap first filter the layer reader indexes, then `wants` for the final say and the size cap),
turns each wanted file into a compact record while the layer streams (`extract`), and turns
the records of the files that survive the layer squash into packages (`collect`).

Records depend only on a file's bytes, so the layer cache stores them per cataloguer, keyed by
the layer's diff id and the cataloguer's ``name``/``version``: changing one cataloguer (bump
its version) re-reads layers for that cataloguer alone.  The list of cataloguers is explicit and
ordered (`dockguard.image.inventory.CATALOGUERS`); nothing registers itself at import time.
"""

from __future__ import annotations

import io
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING

from dockguard.image.limits import DEFAULT_LIMITS, Limits
from dockguard.image.packages import OSInfo, Package

if TYPE_CHECKING:
    from dockguard.image.layers import Squashed


@dataclass
class Catalogue:
    """What one cataloguer found: packages, warnings, and what it could not read."""

    packages: list[Package] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    incomplete: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Triggers:
    """Which paths may interest a cataloguer, in forms the layer reader can index.

    `paths`: exact paths (no leading slash); `names`: base names; `suffixes`: path endings;
    `prefixes`: path beginnings; `executables`: every regular file with an execute bit (and at
    least `min_executable` bytes).  A match only makes the reader ask `Cataloguer.wants`.
    """

    paths: frozenset[str] = frozenset()
    names: frozenset[str] = frozenset()
    suffixes: tuple[str, ...] = ()
    prefixes: tuple[str, ...] = ()
    executables: bool = False
    min_executable: int = 0


@dataclass(frozen=True)
class Want:
    """A cataloguer's interest in one file: the largest size it reads (`cap`).

    A larger file is not read: the scan says so (incomplete) unless `quiet` (a file that was
    only a guess, such as an executable that might be a Go binary), when it is skipped silently
    or, for cataloguers that can, read as a stream (`Cataloguer.extract_stream`).
    """

    cap: int
    quiet: bool = False


class Blob(ABC):
    """Random access to one wanted file's bytes (in memory, a region of the layer, a temp file)."""

    size: int

    @abstractmethod
    def read_at(self, offset: int, n: int) -> bytes:
        """Up to `n` bytes from `offset` (fewer at the end)."""

    @abstractmethod
    def open(self) -> IO[bytes]:
        """A seekable binary file object over the bytes, at offset 0."""

    def read_all(self) -> bytes:
        """Every byte (the caller has checked the size)."""
        return self.read_at(0, self.size)


class BytesBlob(Blob):
    """A `Blob` over bytes held in memory."""

    def __init__(self, data: bytes):
        self.data = data
        self.size = len(data)

    def read_at(self, offset: int, n: int) -> bytes:
        if offset < 0 or n < 0:
            return b""
        return self.data[offset : offset + n]

    def open(self) -> IO[bytes]:
        return io.BytesIO(self.data)

    def read_all(self) -> bytes:
        return self.data


class FileBlob(Blob):
    """A `Blob` over a seekable file object (a region of an uncompressed layer, a spool file)."""

    def __init__(self, f: IO[bytes], size: int):
        self.f = f
        self.size = size

    def read_at(self, offset: int, n: int) -> bytes:
        if offset < 0 or n < 0 or offset >= self.size:
            return b""
        self.f.seek(offset)
        return self.f.read(min(n, self.size - offset))

    def open(self) -> IO[bytes]:
        self.f.seek(0)
        return self.f


@dataclass(frozen=True)
class Extracted:
    """What `Cataloguer.extract` kept of one file (`record`, None: nothing), and what it could not read."""

    record: bytes | None
    problems: tuple[str, ...] = ()


@dataclass(frozen=True)
class CatalogueInput:
    """What `Cataloguer.collect` reads.

    `files`: the cataloguer's records of the paths that survive the squash (path without
    leading slash → (layer index, record)); `layers`: per layer position, the cataloguer's own
    records of that layer (to find the layer that introduced a package); `fs` the squashed view
    (for symlinks and other cataloguers' needs such as dpkg ownership).
    """

    files: Mapping[str, tuple[int, bytes]]
    layers: tuple[Mapping[str, bytes], ...]
    fs: Squashed
    layer_ids: tuple[str, ...]
    os: OSInfo | None
    limits: Limits = DEFAULT_LIMITS

    def layer_id(self, index: int) -> str:
        """The diff id of layer `index` ('' for a rootfs directory)."""
        return self.layer_ids[index] if 0 <= index < len(self.layer_ids) else ""

    def sorted_files(self) -> Iterator[tuple[str, int, bytes]]:
        """(path, layer index, record) in path order."""
        for path in sorted(self.files):
            index, data = self.files[path]
            yield path, index, data


class Cataloguer(ABC):
    """One source of packages: its files, how it reads them while streaming, how it lists them.

    Subclasses set `name` (unique, used in cache paths: ``[a-z0-9-]+``), `version` (bump on any
    change of `triggers`, `wants`, `extract` or the record format) and `triggers`.
    """

    name: str = ""
    version: str = ""
    triggers: Triggers = Triggers()
    #: True for OS package databases: their packages are listed first and own language files.
    os_database: bool = False

    @abstractmethod
    def wants(self, path: str, size: int, mode: int, limits: Limits) -> Want | None:
        """Whether (and up to which size) this cataloguer reads the regular file at `path`."""

    def extract(self, path: str, blob: Blob, limits: Limits) -> Extracted:
        """The record kept for `path` (default: the whole file)."""
        return Extracted(blob.read_all())

    def extract_stream(self, path: str, chunks: Iterator[bytes], limits: Limits) -> Extracted | None:
        """For a file over `Want.cap` that is `quiet`: a record from one sequential pass, or None."""
        return None

    @abstractmethod
    def collect(self, inp: CatalogueInput, limit: int) -> Catalogue:
        """Packages of the surviving records (at most `limit`; say so when there are more)."""


def truncate(found: list[Package], limit: int, out: Catalogue, what: str) -> list[Package]:
    """`found` cut to `limit` packages, noting the cut in `out.incomplete`."""
    if len(found) <= limit:
        return found
    out.incomplete.append(f"{what}: more than the {limit} packages a scan reads: the rest not read")
    return found[: max(limit, 0)]


def dedupe_names(cataloguers: Sequence[Cataloguer]) -> None:
    """Refuse a list in which two cataloguers share a name (their cache records would clash)."""
    names = [c.name for c in cataloguers]
    if len(set(names)) != len(names):
        raise ValueError(f"cataloguer names must be unique: {names}")
