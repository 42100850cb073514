"""Per-layer analysis and the layer squash (whiteouts, opaque directories, attribution).

Each layer is read once, as a stream.  `analyse_layer` keeps every header (small), the OS
release files, redacted secret hits of small text files, and for each cataloguer
(`dockguard.image.inventory.base.Cataloguer`) the records it extracts from the files it wants
(package databases, language metadata, archives, binaries) — never the rest.  A
`LayerAnalysis` depends only on the layer's bytes, so it is what the cache stores: the base
analysis and each cataloguer's records separately.

`squash` applies the analyses in order: a layer's whiteouts (``.wh.NAME``) and opaque markers
(``.wh..wh..opq``) first hide what lies below, then its own entries are added.  Each surviving
path remembers the index of the layer that last wrote it.

Hostile input never leaves the virtual root: absolute paths, ``..`` components, links that
escape and device nodes are recorded in `LayerAnalysis.errors` and skipped.  What could not be
read — a layer that stopped early (truncated, decompression bomb, entry or byte budget), a
wanted file over the size cap or over the scan's memory budget — is recorded in
`LayerAnalysis.incomplete`: the scan then says it is incomplete and the layer is not cached.
"""

from __future__ import annotations

import io
import os
import posixpath
import stat
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import IO, Any, BinaryIO, Protocol

from dockguard.image import secrets as secrets_mod
from dockguard.image.inventory.base import Blob, BytesBlob, Cataloguer, Extracted, FileBlob, Want
from dockguard.image.limits import DEFAULT_LIMITS, ENTRY_OVERHEAD, BudgetExceeded, Limits, ScanBudget
from dockguard.image.tarstream import (
    BLOCKDEV,
    CHARDEV,
    DIRECTORY,
    HARDLINK,
    REGULAR,
    SYMLINK,
    TarError,
    TarReader,
)
from dockguard.jsontypes import JsonObject

#: Version of the base analysis (headers, whiteouts, OS release files, secrets); each
#: cataloguer's records are versioned by the cataloguer itself.
ANALYSER_VERSION = "4"
MAX_ERRORS = 200
WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"
IN_MEMORY_MAX = 8 * 1024 * 1024      # wanted files up to this size are read into memory
SPOOL_MAX = 512 * 1024 * 1024        # larger ones up to this size to an anonymous temp file
#: Release files the OS detection reads (part of the base analysis).
OS_FILES = frozenset(
    {
        "etc/os-release",
        "usr/lib/os-release",
        "etc/debian_version",
        "etc/alpine-release",
        "etc/apk/repositories",
        "etc/redhat-release",
        "etc/lsb-release",
        "etc/system-release",
    }
)
MAX_OS_FILE = 64 * 1024


class Selector:
    """Which cataloguers want a regular file: the index of their `Triggers`, then `wants`."""

    def __init__(self, cataloguers: Sequence[Cataloguer]):
        self.cataloguers = tuple(cataloguers)
        self.exact: dict[str, list[Cataloguer]] = {}
        self.names: dict[str, list[Cataloguer]] = {}
        self.suffixes: list[tuple[str, Cataloguer]] = []
        self.prefixes: list[tuple[str, Cataloguer]] = []
        self.executables: list[Cataloguer] = []
        for c in self.cataloguers:
            t = c.triggers
            for p in t.paths:
                self.exact.setdefault(p, []).append(c)
            for n in t.names:
                self.names.setdefault(n, []).append(c)
            self.suffixes += [(s, c) for s in t.suffixes]
            self.prefixes += [(p, c) for p in t.prefixes]
            if t.executables:
                self.executables.append(c)
        self.any_suffix = tuple(s for s, _ in self.suffixes)
        self.any_prefix = tuple(p for p, _ in self.prefixes)
        self.min_exec = min((c.triggers.min_executable for c in self.executables), default=0)

    def match(self, path: str, size: int, mode: int, limits: Limits) -> list[tuple[Cataloguer, Want]]:
        """The cataloguers that want the file, in list order, with their `Want`."""
        found: list[Cataloguer] = []
        hit = self.exact.get(path)
        if hit:
            found += hit
        base = path[path.rfind("/") + 1:]
        hit = self.names.get(base)
        if hit:
            found += hit
        if self.any_suffix and path.endswith(self.any_suffix):
            found += [c for s, c in self.suffixes if path.endswith(s)]
        if self.any_prefix and path.startswith(self.any_prefix):
            found += [c for p, c in self.prefixes if path.startswith(p)]
        if self.executables and mode & 0o111 and size >= self.min_exec:
            found += [c for c in self.executables if size >= c.triggers.min_executable]
        if not found:
            return []
        out: list[tuple[Cataloguer, Want]] = []
        for c in self.cataloguers:  # list order, each once
            if c in found:
                want = c.wants(path, size, mode, limits)
                if want is not None:
                    out.append((c, want))
        return out


_SELECTORS: dict[tuple[int, ...], Selector] = {}


def selector_for(cataloguers: Sequence[Cataloguer]) -> Selector:
    """The (cached) `Selector` of a list of cataloguers."""
    key = tuple(id(c) for c in cataloguers)
    sel = _SELECTORS.get(key)
    if sel is None or sel.cataloguers != tuple(cataloguers):
        sel = _SELECTORS[key] = Selector(cataloguers)
    return sel


def default_cataloguers() -> tuple[Cataloguer, ...]:
    """`dockguard.image.inventory.CATALOGUERS` (imported late: the cataloguers import this module)."""
    from dockguard.image.inventory import CATALOGUERS

    return CATALOGUERS


def normalise(path: str) -> str | None:
    """Archive path → virtual-root path without leading slash; None when it must be refused."""
    if path.startswith("/"):
        return None
    parts = [p for p in path.split("/") if p and p != "."]
    if ".." in parts:
        return None
    return "/".join(parts)


def _escapes(path: str, target: str) -> bool:
    """True when a relative symlink at `path` points above the root."""
    if target.startswith("/"):
        return False
    depth = path.count("/")  # components of the parent directory
    for part in target.split("/"):
        if part == "..":
            depth -= 1
            if depth < 0:
                return True
        elif part and part != ".":
            depth += 1
    return False


# Entry tuple: (type, mode, size, uid, gid, linkname)
Entry = tuple[str, int, int, int, int, str]


@dataclass
class LayerAnalysis:
    """What one layer contributes: headers, whiteouts, OS release files, secrets, cataloguer records.

    `entries` holds the headers that matter later (links, directories that are world-writable,
    setuid/setgid files, files a cataloguer wants); `paths` names every other entry, which is
    enough to know that the layer replaced something a lower layer had.  `parts` holds, per
    cataloguer name, the records its `extract` kept (path → bytes); `part_held` the memory each
    part is charged.
    """

    entries: dict[str, Entry] = field(default_factory=dict)
    paths: list[str] = field(default_factory=list)
    whiteouts: list[str] = field(default_factory=list)
    opaque: list[str] = field(default_factory=list)
    files: dict[str, bytes] = field(default_factory=dict)
    parts: dict[str, dict[str, bytes]] = field(default_factory=dict)
    part_held: dict[str, int] = field(default_factory=dict)
    secrets: list[dict[str, str]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    incomplete: list[str] = field(default_factory=list)
    #: ``name-vVERSION`` of the cataloguers that kept nothing from this layer (cache only).
    empty_parts: list[str] = field(default_factory=list)
    stopped: str = ""       # why the layer was not read to its end ('' when it was)
    held: int = 0           # bytes of memory charged to the scan budget for this analysis
    secrets_omitted: int = 0

    def error(self, message: str) -> None:
        """Record a problem with the layer (bounded)."""
        _bounded_append(self.errors, message)

    def not_read(self, message: str) -> None:
        """Record something the scan did not read (bounded): the scan becomes incomplete."""
        _bounded_append(self.incomplete, message)

    def stop(self, reason: str) -> None:
        """The layer could not be read to its end."""
        self.stopped = reason
        self.not_read(f"layer not read to its end: {reason}")

    def part(self, name: str) -> dict[str, bytes]:
        """The records of cataloguer `name` (created empty)."""
        return self.parts.setdefault(name, {})

    def records(self, batch: int = 1000) -> Iterator[list[object]]:
        """The base analysis as small JSON-able records ``[kind, items]`` (for the cache).

        File bodies are not included: ``["f", [[name, size], ...]]`` records name them in
        the order of `bodies`.  Cataloguer parts are stored separately (`part_records`).
        """
        def batches(kind: str, items: Sequence[object]) -> Iterator[list[object]]:
            for start in range(0, len(items), batch):
                yield [kind, items[start : start + batch]]

        yield from batches("e", [[p, *e] for p, e in self.entries.items()])
        yield from batches("p", self.paths)
        yield from batches("w", self.whiteouts)
        yield from batches("o", self.opaque)
        yield from batches("f", [[p, len(d)] for p, d in self.files.items()])
        yield from batches("s", self.secrets)
        yield from batches("x", self.errors)
        yield from batches("c", self.empty_parts)
        base_held = self.held - sum(self.part_held.values())
        yield ["n", {"secrets_omitted": self.secrets_omitted, "held": base_held}]

    def bodies(self) -> list[bytes]:
        """The kept OS release files, in the order `records` names them."""
        return list(self.files.values())

    @classmethod
    def from_records(cls, records: Iterable[Any], read_body: Callable[[int], bytes]) -> LayerAnalysis:
        """Inverse of `records`; `read_body(size)` returns the next body.

        ValueError (or KeyError/TypeError) when the records are not what `records` wrote.
        (`records` are decoded cache lines, typed `Any` on purpose: this reader unpacks them
        as `records` wrote them and lets a damaged cache fail with those exceptions, which
        the cache turns into a miss.)
        """
        out = cls()
        sizes: list[tuple[str, int]] = []
        for record in records:
            kind, items = record
            if kind == "e":
                for e in items:
                    path, etype, mode, size, uid, gid, link = e
                    if not (isinstance(path, str) and isinstance(etype, str) and isinstance(link, str)
                            and all(isinstance(v, int) for v in (mode, size, uid, gid))):
                        raise ValueError("bad cached entry")
                    out.entries[path] = (etype, mode, size, uid, gid, link)
            elif kind in ("p", "w", "o", "x", "c"):
                target = {"p": out.paths, "w": out.whiteouts, "o": out.opaque, "x": out.errors,
                          "c": out.empty_parts}[kind]
                target.extend(_strs(items))
            elif kind == "f":
                sizes.extend((str(name), int(size)) for name, size in items)
            elif kind == "s":
                out.secrets.extend({str(k): str(v) for k, v in sec.items()} for sec in items)
            elif kind == "n":
                out.secrets_omitted = int(items["secrets_omitted"])
                out.held = int(items["held"])
            else:
                raise ValueError(f"unknown cache record {kind!r}")
        for name, size in sizes:
            data = read_body(size)
            if len(data) != size:
                raise ValueError("cached body cut short")
            out.files[name] = data
        return out


def _strs(value: object) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError("expected a list of strings")
    return [v for v in value if isinstance(v, str)]


def _bounded_append(items: list[str], message: str) -> None:
    if len(items) < MAX_ERRORS:
        items.append(message)
    elif len(items) == MAX_ERRORS:
        items.append("… further problems not shown")


@dataclass
class _Walk:
    """The settings of one layer walk."""

    out: LayerAnalysis
    limits: Limits
    budget: ScanBudget
    selector: Selector
    secrets: bool
    base: bool  # False: only the cataloguers run (the base analysis came from the cache)


def analyse_layer(
    stream: IO[bytes], *, seekable: bool, limits: Limits = DEFAULT_LIMITS, secrets: bool = True,
    budget: ScanBudget | None = None, cataloguers: Sequence[Cataloguer] | None = None,
    base: bool = True,
) -> LayerAnalysis:
    """Read one (decompressed) layer tar once and keep what the analysers need.

    `cataloguers` (default: all) are the ones whose records are wanted; with `base` False only
    they run and the headers, whiteouts and secrets are not recorded.  Everything kept is
    charged to `budget` (a fresh one per call when not given).  A layer that cannot be read to
    its end is returned with `LayerAnalysis.stopped` set.
    """
    out = LayerAnalysis()
    budget = budget if budget is not None else ScanBudget(limits)
    cats = default_cataloguers() if cataloguers is None else tuple(cataloguers)
    for c in cats:
        out.part(c.name)
    walk = _Walk(out, limits, budget, selector_for(cats), secrets and base, base)
    reader = TarReader(stream, seekable=seekable, limits=limits, budget=budget)
    try:
        for entry in reader:
            _analyse_entry(reader, entry.path, entry.type, entry.mode, entry.size, entry.uid,
                           entry.gid, entry.linkname, walk, seekable)
    except (TarError, BudgetExceeded) as exc:
        out.stop(str(exc))
    return out


class Body(Protocol):
    """Access to the body of the current entry (a tar member or a file on disk)."""

    def read_body(self, limit: int | None = None) -> bytes: ...
    def body_stream(self) -> BinaryIO: ...
    def body_chunks(self, chunk: int = 1 << 20) -> Iterator[bytes]: ...


def _hold(out: LayerAnalysis, budget: ScanBudget, n: int) -> bool:
    if not budget.hold(n):
        return False
    out.held += n
    return True


def _analyse_entry(
    reader: Body, raw_path: str, etype: str, mode: int, size: int, uid: int, gid: int,
    linkname: str, walk: _Walk, seekable: bool,
) -> None:
    out, limits, budget = walk.out, walk.limits, walk.budget
    path = normalise(raw_path)
    if path is None:
        if walk.base:
            out.error(f"refused entry with unsafe path {raw_path[:200]!r}")
        return
    if not path:
        return  # the root directory itself
    if len(path) > limits.max_path:
        if walk.base:
            out.error(f"refused entry with a path longer than {limits.max_path}")
        return
    base = path.rsplit("/", 1)[-1]
    if base.startswith(WHITEOUT):
        if not walk.base:
            return
        if not _hold(out, budget, len(path) + ENTRY_OVERHEAD):
            raise BudgetExceeded(f"scan memory budget of {limits.max_held} bytes exhausted by entry records")
        parent = path[: -len(base)].rstrip("/")
        if base == OPAQUE:
            out.opaque.append(parent)
        else:
            name = base[len(WHITEOUT):]
            if name and name not in (".", ".."):
                out.whiteouts.append(f"{parent}/{name}" if parent else name)
        return
    if etype in (CHARDEV, BLOCKDEV):
        if walk.base:
            out.error(f"skipped device node /{path}")
        return
    if etype == SYMLINK and _escapes(path, linkname):
        if walk.base:
            out.error(f"skipped symlink /{path} escaping the root ({linkname[:200]!r})")
        return
    if etype == HARDLINK:
        target = normalise(linkname)
        if not target:
            if walk.base:
                out.error(f"skipped hardlink /{path} to unsafe target {linkname[:200]!r}")
            return
        linkname = target
        _link_records(path, target, size, mode, walk)
    if etype not in (REGULAR, HARDLINK, SYMLINK, DIRECTORY, "6", "S"):
        if walk.base:
            out.error(f"skipped entry /{path} of unsupported type {etype!r}")
        return
    wanted = walk.selector.match(path, size, mode, limits) if etype == REGULAR else []
    os_file = etype == REGULAR and path in OS_FILES
    if walk.base:
        notable = (
            etype in (SYMLINK, HARDLINK)
            or (etype == DIRECTORY and mode & 0o002)
            or (etype == REGULAR and (mode & 0o6000 or bool(wanted) or os_file))
        )
        if not _hold(out, budget, len(path) + len(linkname) + ENTRY_OVERHEAD):
            raise BudgetExceeded(f"scan memory budget of {limits.max_held} bytes exhausted by entry records")
        if notable:
            out.entries[path] = (etype, mode, size, uid, gid, linkname)
        else:
            out.paths.append(path)
    if etype != REGULAR:
        return
    if os_file and walk.base:
        _keep_os_file(reader, path, size, out, limits, budget)
        return
    if wanted:
        _read_wanted(reader, path, size, wanted, walk, seekable)
        return
    if walk.secrets and secrets_mod.wants_file(path, size):
        data = reader.read_body(secrets_mod.MAX_FILE)
        hits = secrets_mod.scan_file(path, data)
        keep = min(len(hits), limits.max_secret_hits_per_file,
                   max(0, limits.max_secret_hits - len(out.secrets)))
        out.secrets_omitted += len(hits) - keep
        for hit in hits[:keep]:
            record = {"rule": hit.rule, "title": hit.title, "severity": hit.severity.value,
                      "location": hit.location, "redacted": hit.redacted, "path": path}
            if not _hold(out, budget, 4 * ENTRY_OVERHEAD + len(hit.redacted) + len(path)):
                out.secrets_omitted += 1
                continue
            out.secrets.append(record)


def _link_records(path: str, target: str, size: int, mode: int, walk: _Walk) -> None:
    """A hardlink to a file a cataloguer kept gets the same record (no second charge)."""
    if walk.base and target in walk.out.files:
        walk.out.files[path] = walk.out.files[target]
    if not any(target in p for p in walk.out.parts.values()):
        return
    entry = walk.out.entries.get(target)
    real_size = entry[2] if entry is not None else size
    for c, _want in walk.selector.match(path, real_size, mode, walk.limits):
        part = walk.out.parts.get(c.name)
        if part is not None and target in part:
            part[path] = part[target]


def _keep_os_file(reader: Body, path: str, size: int, out: LayerAnalysis, limits: Limits,
                  budget: ScanBudget) -> None:
    if size > MAX_OS_FILE:
        out.not_read(f"/{path}: {size} bytes is over the {MAX_OS_FILE}-byte cap for one file")
        return
    if not _hold(out, budget, size):
        out.not_read(f"/{path}: not kept, the scan's memory budget of {limits.max_held} bytes is used up")
        return
    out.files[path] = reader.read_body(MAX_OS_FILE)


def _read_wanted(reader: Body, path: str, size: int, wanted: list[tuple[Cataloguer, Want]],
                 walk: _Walk, seekable: bool) -> None:
    """Give the file to every cataloguer that wants it, reading its bytes once.

    The bytes are held in memory (charged to the budget) up to `IN_MEMORY_MAX`, else read
    through a region of a seekable layer or spooled to an anonymous temp file.
    """
    out, limits, budget = walk.out, walk.limits, walk.budget
    ready: list[Cataloguer] = []
    streamers: list[Cataloguer] = []
    for c, want in wanted:
        if size <= want.cap:
            ready.append(c)
        elif want.quiet:
            streamers.append(c)
        else:
            out.not_read(f"/{path}: {size} bytes is over the {want.cap}-byte cap for one file")
    if not ready:
        if streamers:
            first = streamers[0]
            _store(first, path, first.extract_stream(path, reader.body_chunks(), limits), walk)
        return
    if size > SPOOL_MAX:
        out.not_read(f"/{path}: {size} bytes is over the {SPOOL_MAX}-byte cap for one file")
        return
    temp = size if size <= IN_MEMORY_MAX else 0
    if temp and not budget.hold(temp):
        out.not_read(f"/{path}: not read, the scan's memory budget of {limits.max_held} bytes is used up")
        return
    try:
        if temp:
            blob: Blob = BytesBlob(reader.read_body(size))
            _extract_all(ready, path, blob, walk)
        elif seekable:
            region = io.BufferedReader(reader.body_stream(), 1 << 16)  # type: ignore[type-var]
            _extract_all(ready, path, FileBlob(region, size), walk)
        else:
            with tempfile.TemporaryFile(prefix="dockguard-spool-") as spool:
                for chunk in reader.body_chunks():
                    spool.write(chunk)
                _extract_all(ready, path, FileBlob(spool, size), walk)
    except TarError as exc:
        out.not_read(f"/{path}: {exc}")
    finally:
        if temp:
            budget.release(temp)


def _extract_all(cats: list[Cataloguer], path: str, blob: Blob, walk: _Walk) -> None:
    for c in cats:
        try:
            result = c.extract(path, blob, walk.limits)
        except TarError:
            raise
        except (OSError, ValueError, EOFError) as exc:
            result = Extracted(None, (f"/{path}: {c.name}: {exc}",))
        _store(c, path, result, walk)


def _store(c: Cataloguer, path: str, result: Extracted | None, walk: _Walk) -> None:
    if result is None:
        return
    out = walk.out
    for problem in result.problems:
        out.not_read(problem)
    if result.record is None:
        return
    n = len(result.record)
    if not _hold(out, walk.budget, n):
        out.not_read(f"/{path}: not kept, the scan's memory budget of {walk.limits.max_held} bytes is used up")
        return
    out.part(c.name)[path] = result.record
    out.part_held[c.name] = out.part_held.get(c.name, 0) + n


class _DiskBody:
    """`Body` over a regular file of a rootfs directory (opened without following links)."""

    def __init__(self, path: str, size: int, limits: Limits):
        self._path = path
        self._size = size
        self._limits = limits
        self._f: BinaryIO | None = None

    def _open(self) -> BinaryIO:
        if self._f is None:
            fd = os.open(self._path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
            self._f = os.fdopen(fd, "rb")
        return self._f

    def read_body(self, limit: int | None = None) -> bytes:
        limit = self._limits.max_read if limit is None else limit
        if self._size > limit:
            raise TarError(f"{self._path}: {self._size} bytes exceeds the read bound {limit}")
        return self._open().read(limit + 1)[:limit]

    def body_stream(self) -> BinaryIO:
        return self._open()

    def body_chunks(self, chunk: int = 1 << 20) -> Iterator[bytes]:
        f = self._open()
        while data := f.read(chunk):
            yield data

    def close(self) -> None:
        if self._f is not None:
            self._f.close()


def analyse_directory(root: str, *, limits: Limits = DEFAULT_LIMITS, secrets: bool = True,
                      budget: ScanBudget | None = None,
                      cataloguers: Sequence[Cataloguer] | None = None) -> LayerAnalysis:
    """Analyse a plain root filesystem directory as if it were one layer (links not followed)."""
    out = LayerAnalysis()
    budget = budget if budget is not None else ScanBudget(limits)
    cats = default_cataloguers() if cataloguers is None else tuple(cataloguers)
    for c in cats:
        out.part(c.name)
    walk = _Walk(out, limits, budget, selector_for(cats), secrets, True)
    try:
        _walk_directory(root, walk)
    except BudgetExceeded as exc:
        out.stop(str(exc))
    return out


def _walk_directory(root: str, walk: _Walk) -> None:
    out, limits, budget = walk.out, walk.limits, walk.budget
    count = 0
    stack = [""]
    while stack:
        rel_dir = stack.pop()
        try:
            it = os.scandir(os.path.join(root, rel_dir) if rel_dir else root)
        except OSError as exc:
            out.error(f"cannot list /{rel_dir}: {exc.strerror}")
            continue
        with it:
            for item in it:
                count += 1
                if count > limits.max_entries:
                    raise BudgetExceeded(f"more than {limits.max_entries} entries")
                budget.charge_entry()
                rel = f"{rel_dir}/{item.name}" if rel_dir else item.name
                try:
                    st = item.stat(follow_symlinks=False)
                except OSError:
                    continue
                fmt = stat.S_IFMT(st.st_mode)
                linkname = ""
                if fmt == stat.S_IFDIR:
                    etype = DIRECTORY
                    stack.append(rel)
                elif fmt == stat.S_IFREG:
                    etype = REGULAR
                elif fmt == stat.S_IFLNK:
                    etype = SYMLINK
                    try:
                        linkname = os.readlink(item.path)
                    except OSError:
                        continue
                elif fmt == stat.S_IFCHR:
                    etype = CHARDEV
                elif fmt == stat.S_IFBLK:
                    etype = BLOCKDEV
                else:
                    etype = "6"
                body = _DiskBody(item.path, st.st_size, limits)
                try:
                    _analyse_entry(body, rel, etype, stat.S_IMODE(st.st_mode),
                                   st.st_size if etype == REGULAR else 0, st.st_uid, st.st_gid,
                                   linkname, walk, True)
                except (OSError, TarError) as exc:
                    out.error(f"/{rel}: {exc}")
                finally:
                    body.close()


# ---------------------------------------------------------------------------------------------
# squash


@dataclass
class Squashed:
    """The merged filesystem view.

    `layer_of` maps every surviving path to the index of the layer that last wrote it;
    `entries` keeps the headers of the notable ones (see `LayerAnalysis`); `files` the OS
    release files; `parts` each cataloguer's records of the surviving paths.
    """

    layer_of: dict[str, int] = field(default_factory=dict)
    entries: dict[str, tuple[int, Entry]] = field(default_factory=dict)
    files: dict[str, tuple[int, bytes]] = field(default_factory=dict)
    parts: dict[str, dict[str, tuple[int, bytes]]] = field(default_factory=dict)
    secrets: list[tuple[int, dict[str, str]]] = field(default_factory=list)

    def resolve(self, path: str, hops: int = 40) -> str | None:
        """Follow symlinks (within the virtual root) to the final path, or None."""
        path = path.strip("/")
        for _ in range(hops):
            parts = path.split("/")
            changed = False
            for i in range(1, len(parts) + 1):
                prefix = "/".join(parts[:i])
                node = self.entries.get(prefix)
                if node is not None and node[1][0] == SYMLINK:
                    target = node[1][5]
                    if target.startswith("/"):
                        joined = target
                    else:
                        joined = posixpath.join(posixpath.dirname(prefix), target)
                    rest = "/".join(parts[i:])
                    new = posixpath.normpath("/" + joined + ("/" + rest if rest else ""))
                    path = new.lstrip("/")
                    changed = True
                    break
            if not changed:
                return path
        return None

    def read(self, path: str) -> tuple[int, bytes] | None:
        """Body and layer index of a collected file, following symlinks."""
        hit = self.files.get(path.strip("/"))
        if hit is not None:
            return hit
        real = self.resolve(path)
        return self.files.get(real) if real is not None else None


def _hidden(path: str, dead: set[str], opaque: set[str]) -> bool:
    if path in dead:
        return True
    p = path
    while True:
        cut = p.rfind("/")
        if cut < 0:
            return ("" in opaque) and path != ""
        p = p[:cut]
        if p in dead or p in opaque:
            return True


def squash(analyses: list[LayerAnalysis]) -> Squashed:
    """Apply layer analyses bottom-up into one view."""
    fs = Squashed()
    for index, layer in enumerate(analyses):
        if layer.whiteouts or layer.opaque:
            dead = set(layer.whiteouts)
            opaque = set(layer.opaque)
            fs.layer_of = {p: v for p, v in fs.layer_of.items() if not _hidden(p, dead, opaque)}
            fs.entries = {p: v for p, v in fs.entries.items() if p in fs.layer_of}
            fs.files = {p: v for p, v in fs.files.items() if not _hidden(p, dead, opaque)}
            fs.secrets = [s for s in fs.secrets if not _hidden(s[1]["path"], dead, opaque)]
        for path in layer.paths:
            # A rewrite hides what a lower layer had at this path.
            fs.layer_of[path] = index
            fs.entries.pop(path, None)
            fs.files.pop(path, None)
        for path, entry in layer.entries.items():
            fs.layer_of[path] = index
            fs.entries[path] = (index, entry)
            if path in fs.files and path not in layer.files:
                del fs.files[path]
        if fs.secrets:
            rewritten = set(layer.paths).union(layer.entries)
            fs.secrets = [s for s in fs.secrets if s[1]["path"] not in rewritten]
        for path, data in layer.files.items():
            fs.files[path] = (index, data)
        fs.secrets.extend((index, s) for s in layer.secrets)
    # A record survives when its layer is the last one that wrote the path (and nothing
    # above removed it): exactly when `layer_of` still names that layer.
    for index, layer in enumerate(analyses):
        for name, records in layer.parts.items():
            view = fs.parts.setdefault(name, {})
            for path, data in records.items():
                if fs.layer_of.get(path) == index:
                    view[path] = (index, data)
    return fs


@dataclass(frozen=True)
class LayerInfo:
    """One layer of an image with the history entry that created it."""

    index: int
    diff_id: str
    created_by: str = ""
    size: int | None = None


def map_history(config: JsonObject, diff_ids: list[str]) -> list[LayerInfo]:
    """Pair layers with non-empty history entries (``empty_layer`` ones make no layer)."""
    raw = config.get("history")  # a list of objects (`decode.image_config` checked it)
    entries = raw if isinstance(raw, list) else []
    history = [h for h in entries if isinstance(h, dict) and not h.get("empty_layer")]
    out = []
    for i, diff_id in enumerate(diff_ids):
        created = str(history[i].get("created_by", "")) if i < len(history) else ""
        out.append(LayerInfo(i, diff_id, created.strip()))
    return out
