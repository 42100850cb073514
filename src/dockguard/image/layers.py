"""Per-layer analysis and the layer squash (whiteouts, opaque directories, attribution).

Each layer is read once, as a stream.  `analyse_layer` keeps every header (small), the bodies
of the few files the analysers need (package databases, os-release, language metadata), the
Go build info of ELF executables and redacted secret hits of small text files — never the
rest.  A `LayerAnalysis` depends only on the layer's bytes, so it is what the cache stores.

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

import os
import posixpath
import re
import stat
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any, BinaryIO, Protocol

from dockguard.image import gobuildinfo as golang
from dockguard.image import secrets as secrets_mod
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

ANALYSER_VERSION = "3"
MAX_ERRORS = 200
WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"
GO_MIN_SIZE = 256 * 1024
GO_INMEMORY_MAX = 8 * 1024 * 1024      # smaller executables are copied to memory
GO_SPOOL_MAX = 512 * 1024 * 1024       # larger ones up to this size to an anonymous temp file

_EXACT_FILES = frozenset(
    {
        "etc/os-release",
        "usr/lib/os-release",
        "etc/debian_version",
        "etc/alpine-release",
        "etc/apk/repositories",
        "etc/redhat-release",
        "etc/lsb-release",
        "var/lib/dpkg/status",
        "lib/apk/db/installed",
        "var/lib/rpm/rpmdb.sqlite",
        "var/lib/rpm/rpmdb.sqlite-wal",
        "usr/lib/sysimage/rpm/rpmdb.sqlite",
        "usr/lib/sysimage/rpm/rpmdb.sqlite-wal",
    }
)
# Present but never read: only their existence matters (unsupported rpm databases).
_NOTABLE_PATHS = frozenset({"var/lib/rpm/Packages", "var/lib/rpm/Packages.db"})
_NPM_PKG = re.compile(r"(?:^|/)node_modules/(?:@[^/]+/)?[^/@][^/]*/package\.json$")


def wanted_kind(path: str) -> str | None:
    """Which analyser wants the body of a regular file at `path`, if any."""
    if path in _EXACT_FILES:
        return "db"
    if path.startswith("var/lib/dpkg/"):
        if path.startswith("var/lib/dpkg/status.d/") and not path.endswith(".md5sums"):
            return "db"
        if path.startswith("var/lib/dpkg/info/") and path.endswith(".list"):
            return "db"
        return None
    if path.endswith("/METADATA") and path[:-9].endswith(".dist-info"):
        return "pymeta"
    if path.endswith("/PKG-INFO") and path[:-9].endswith(".egg-info"):
        return "pymeta"
    if path.endswith(".egg-info") and ("-packages/" in path):
        return "pymeta"  # a single-file egg-info
    if path.endswith("/package.json") and "node_modules/" in path and _NPM_PKG.search(path):
        return "npm"
    return None


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
    """What one layer contributes: headers, whiteouts, wanted bodies, Go info, secrets.

    `entries` holds the headers that matter later (links, directories that are world-writable,
    setuid/setgid files, files the analysers want); `paths` names every other entry, which is
    enough to know that the layer replaced something a lower layer had.
    """

    entries: dict[str, Entry] = field(default_factory=dict)
    paths: list[str] = field(default_factory=list)
    whiteouts: list[str] = field(default_factory=list)
    opaque: list[str] = field(default_factory=list)
    files: dict[str, bytes] = field(default_factory=dict)
    go: dict[str, tuple[str, str]] = field(default_factory=dict)
    secrets: list[dict[str, str]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    incomplete: list[str] = field(default_factory=list)
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

    def records(self, batch: int = 1000) -> Iterator[list[Any]]:
        """The analysis as small JSON-able records ``[kind, items]`` (for the cache).

        File bodies are not included: ``["f", [[name, size], ...]]`` records name them in
        the order of `bodies`.
        """
        def batches(kind: str, items: list[Any]) -> Iterator[list[Any]]:
            for start in range(0, len(items), batch):
                yield [kind, items[start : start + batch]]

        yield from batches("e", [[p, *e] for p, e in self.entries.items()])
        yield from batches("p", self.paths)
        yield from batches("w", self.whiteouts)
        yield from batches("o", self.opaque)
        yield from batches("f", [[p, len(d)] for p, d in self.files.items()])
        yield from batches("g", [[p, *v] for p, v in self.go.items()])
        yield from batches("s", self.secrets)
        yield from batches("x", self.errors)
        yield ["n", {"secrets_omitted": self.secrets_omitted, "held": self.held}]

    def bodies(self) -> list[bytes]:
        """The kept file bodies, in the order `records` names them."""
        return list(self.files.values())

    @classmethod
    def from_records(cls, records: Iterable[Any], read_body: Callable[[int], bytes]) -> LayerAnalysis:
        """Inverse of `records`; `read_body(size)` returns the next body.

        ValueError (or KeyError/TypeError) when the records are not what `records` wrote.
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
            elif kind in ("p", "w", "o", "x"):
                target = {"p": out.paths, "w": out.whiteouts, "o": out.opaque, "x": out.errors}[kind]
                target.extend(_strs(items))
            elif kind == "f":
                sizes.extend((str(name), int(size)) for name, size in items)
            elif kind == "g":
                out.go.update({str(p): (str(v), str(m)) for p, v, m in items})
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


def _strs(value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError("expected a list of strings")
    return value


def _bounded_append(items: list[str], message: str) -> None:
    if len(items) < MAX_ERRORS:
        items.append(message)
    elif len(items) == MAX_ERRORS:
        items.append("… further problems not shown")


def analyse_layer(
    stream: IO[bytes], *, seekable: bool, limits: Limits = DEFAULT_LIMITS, secrets: bool = True,
    budget: ScanBudget | None = None,
) -> LayerAnalysis:
    """Read one (decompressed) layer tar once and keep what the analysers need.

    Everything kept is charged to `budget` (a fresh one per call when not given).  A layer
    that cannot be read to its end is returned with `LayerAnalysis.stopped` set.
    """
    out = LayerAnalysis()
    budget = budget if budget is not None else ScanBudget(limits)
    reader = TarReader(stream, seekable=seekable, limits=limits, budget=budget)
    try:
        for entry in reader:
            _analyse_entry(reader, entry.path, entry.type, entry.mode, entry.size, entry.uid,
                           entry.gid, entry.linkname, out, seekable, limits, secrets, budget)
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
    linkname: str, out: LayerAnalysis, seekable: bool, limits: Limits, scan_secrets: bool,
    budget: ScanBudget,
) -> None:
    path = normalise(raw_path)
    if path is None:
        out.error(f"refused entry with unsafe path {raw_path[:200]!r}")
        return
    if not path:
        return  # the root directory itself
    if len(path) > limits.max_path:
        out.error(f"refused entry with a path longer than {limits.max_path}")
        return
    base = path.rsplit("/", 1)[-1]
    if base.startswith(WHITEOUT):
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
        out.error(f"skipped device node /{path}")
        return
    if etype == SYMLINK and _escapes(path, linkname):
        out.error(f"skipped symlink /{path} escaping the root ({linkname[:200]!r})")
        return
    if etype == HARDLINK:
        target = normalise(linkname)
        if not target:
            out.error(f"skipped hardlink /{path} to unsafe target {linkname[:200]!r}")
            return
        linkname = target
        prior = out.files.get(target)
        if prior is not None and wanted_kind(path):
            out.files[path] = prior
    if etype not in (REGULAR, HARDLINK, SYMLINK, DIRECTORY, "6", "S"):
        out.error(f"skipped entry /{path} of unsupported type {etype!r}")
        return
    kind = wanted_kind(path) if etype == REGULAR else None
    notable = (
        etype in (SYMLINK, HARDLINK)
        or path in _NOTABLE_PATHS
        or (etype == DIRECTORY and mode & 0o002)
        or (etype == REGULAR and (mode & 0o6000 or kind is not None
                                  or (mode & 0o111 and size >= GO_MIN_SIZE)))
    )
    if not _hold(out, budget, len(path) + len(linkname) + ENTRY_OVERHEAD):
        raise BudgetExceeded(f"scan memory budget of {limits.max_held} bytes exhausted by entry records")
    if notable:
        out.entries[path] = (etype, mode, size, uid, gid, linkname)
    else:
        out.paths.append(path)
    if etype != REGULAR:
        return
    if kind is not None:
        _keep_body(reader, path, size, kind, out, limits, budget)
        return
    if mode & 0o111 and size >= GO_MIN_SIZE:
        _go(reader, path, size, out, budget)
        return
    if scan_secrets and secrets_mod.wants_file(path, size):
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


def _keep_body(reader: Body, path: str, size: int, kind: str, out: LayerAnalysis, limits: Limits,
               budget: ScanBudget) -> None:
    """Keep the body of a file an analyser wants, within the size cap and the memory budget."""
    cap = limits.max_manifest_file if kind == "npm" else limits.max_read
    if size > cap:
        out.not_read(f"/{path}: {size} bytes is over the {cap}-byte cap for one file")
        return
    if not _hold(out, budget, size):
        out.not_read(f"/{path}: not kept, the scan's memory budget of {limits.max_held} bytes is used up")
        return
    try:
        data = reader.read_body(limits.max_read)
    except TarError as exc:
        out.not_read(f"/{path}: {exc}")
        budget.release(size)
        out.held -= size
        return
    if kind == "pymeta":
        # Only the header block matters; the long description can be huge.
        cut = data.find(b"\n\n", 0, limits.max_pymeta)
        data = data[: cut + 1] if cut >= 0 else data[: limits.max_pymeta]
        budget.release(size - len(data))
        out.held -= size - len(data)
    out.files[path] = data


def _go(reader: Body, path: str, size: int, out: LayerAnalysis, budget: ScanBudget) -> None:
    """Go build info of an executable, read front to back like every other byte of a layer.

    Random access happens on a private copy of the very bytes that were read (and hashed):
    in memory for small executables (reserved from the budget), else in an anonymous temp
    file.  Beyond `GO_SPOOL_MAX` the stream is searched for the inline (Go >= 1.18) format only.
    """
    chunks = reader.body_chunks()
    first = next(chunks, b"")
    if not first.startswith(b"\x7fELF"):
        return
    info: golang.BuildInfo | None
    if size <= GO_INMEMORY_MAX and budget.hold(2 * size):
        try:
            buf = bytearray(first)
            for chunk in chunks:
                buf += chunk
            info = golang.read_buildinfo(lambda off, n: bytes(buf[off : off + n]), size)
            del buf
        finally:
            budget.release(2 * size)
    elif size <= GO_SPOOL_MAX:
        with tempfile.TemporaryFile(prefix="dockguard-elf-") as spool:
            spool.write(first)
            for chunk in chunks:
                spool.write(chunk)

            def read_at(off: int, n: int) -> bytes:
                spool.seek(off)
                return spool.read(n)

            info = golang.read_buildinfo(read_at, size)
    else:
        info = golang.scan_stream(_chain(first, chunks))
    if info is not None:
        out.go[path] = (info.go_version, info.modinfo)


def _chain(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    yield first
    yield from rest


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
                      budget: ScanBudget | None = None) -> LayerAnalysis:
    """Analyse a plain root filesystem directory as if it were one layer (links not followed)."""
    out = LayerAnalysis()
    budget = budget if budget is not None else ScanBudget(limits)
    try:
        _walk_directory(root, out, limits, secrets, budget)
    except BudgetExceeded as exc:
        out.stop(str(exc))
    return out


def _walk_directory(root: str, out: LayerAnalysis, limits: Limits, secrets: bool, budget: ScanBudget) -> None:
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
                                   linkname, out, True, limits, secrets, budget)
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
    `entries` keeps the headers of the notable ones (see `LayerAnalysis`).
    """

    layer_of: dict[str, int] = field(default_factory=dict)
    entries: dict[str, tuple[int, Entry]] = field(default_factory=dict)
    files: dict[str, tuple[int, bytes]] = field(default_factory=dict)
    go: dict[str, tuple[int, tuple[str, str]]] = field(default_factory=dict)
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
            fs.go = {p: v for p, v in fs.go.items() if not _hidden(p, dead, opaque)}
            fs.secrets = [s for s in fs.secrets if not _hidden(s[1]["path"], dead, opaque)]
        for path in layer.paths:
            # A rewrite hides what a lower layer had at this path.
            fs.layer_of[path] = index
            fs.entries.pop(path, None)
            fs.files.pop(path, None)
            fs.go.pop(path, None)
        for path, entry in layer.entries.items():
            fs.layer_of[path] = index
            fs.entries[path] = (index, entry)
            if path in fs.files and path not in layer.files:
                del fs.files[path]
            if path in fs.go and path not in layer.go:
                del fs.go[path]
        if fs.secrets:
            rewritten = set(layer.paths).union(layer.entries)
            fs.secrets = [s for s in fs.secrets if s[1]["path"] not in rewritten]
        for path, data in layer.files.items():
            fs.files[path] = (index, data)
        for path, info in layer.go.items():
            fs.go[path] = (index, info)
        fs.secrets.extend((index, s) for s in layer.secrets)
    return fs


@dataclass(frozen=True)
class LayerInfo:
    """One layer of an image with the history entry that created it."""

    index: int
    diff_id: str
    created_by: str = ""
    size: int | None = None


def map_history(config: dict[str, Any], diff_ids: list[str]) -> list[LayerInfo]:
    """Pair layers with non-empty history entries (``empty_layer`` ones make no layer)."""
    history = [h for h in (config.get("history") or []) if not h.get("empty_layer")]
    out = []
    for i, diff_id in enumerate(diff_ids):
        created = str(history[i].get("created_by", "")) if i < len(history) else ""
        out.append(LayerInfo(i, diff_id, created.strip()))
    return out
