"""Where images come from: the local daemon, docker-save tars, OCI layouts, rootfs directories.

The source interface
--------------------
An `ImageSource` gives the scanner three things and nothing else:

* `ImageSource.metadata()` → `ImageMetadata`: the image config JSON (checked by
  `dockguard.image.decode.image_config`), the ordered layer list as `LayerRef` (``diff_id`` =
  sha256 of the uncompressed layer tar, the cache key; ``digest`` = blob digest as stored;
  media type), and names (repo tags, platform).  It must be cheap: no layer is read.
* `ImageSource.open_blob(ref)` → ``(binary stream, seekable)`` of the stored layer blob, which
  may be gzip or zstd compressed (compression is detected by magic, whatever the media type
  says).
* `ImageSource.analyse_layers(refs, fn)` runs ``fn`` once over each distinct wanted layer and
  returns a `LayerResult` per ref.  Sources that can only stream the whole image (the
  daemon's export, a compressed archive) override it and visit layers in stream order.

Digests
-------
Every digest an image states is checked against the bytes it names before anything read
from them is used or cached: manifests and configs against their descriptor or file-name
digest when read, layer blobs against ``LayerRef.digest`` and decompressed layers against
``LayerRef.diff_id`` in the same single pass that analyses them (`dockguard.image.digests`).
A mismatch is a `DigestMismatch` (exit 2).  A layer whose stream ends early cannot have its
diff id checked: its `LayerResult` says so (``verified`` False) and the scan is incomplete.
The daemon's export is produced by the daemon from its layer store; its layers are checked
against the diff ids the same way and its config against the ``RootFS`` the daemon reports.

A registry source only needs `metadata` (manifest → platform → config) and `open_blob`
(the registry client verifies blob digests as it downloads).  `open_target` maps a
command-line TARGET to a source.
"""

from __future__ import annotations

import io
import os
import platform as platform_mod
import stat
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Protocol, cast

from dockguard.errors import OperationalError, UsageError
from dockguard.image import decode
from dockguard.image.digests import (
    DigestingReader,
    DigestMismatch,
    Pread,
    algorithm,
    check_bytes,
    digest_bytes,
    digest_from_path,
)
from dockguard.image.layers import LayerAnalysis
from dockguard.image.limits import DEFAULT_LIMITS, BudgetExceeded, Limits, ScanBudget
from dockguard.image.tarstream import (
    BLOCK,
    HARDLINK,
    REGULAR,
    SYMLINK,
    BoundedDecompressor,
    LayerStream,
    Region,
    TarError,
    TarReader,
    open_layer_stream,
    sniff,
)
from dockguard.inputs import InputError, read_bytes
from dockguard.jsontypes import Json, JsonObject

if TYPE_CHECKING:
    from dockguard.image.cache import LayerCache

OCI_INDEX = decode.INDEX_TYPES
OCI_MANIFEST = decode.MANIFEST_TYPES

class ImageAPI(Protocol):
    """The part of docker's low-level ``APIClient`` a `DaemonSource` uses."""

    def inspect_image(self, image: str) -> object:
        """``GET /images/{name}/json``."""
        ...

    def get_image(self, image: str, chunk_size: int) -> Iterable[bytes]:
        """``GET /images/{name}/get``: the docker-save tar, in chunks."""
        ...

    def close(self) -> None:
        """Close the connection pool."""
        ...


#: What `analyse_layers` runs over each layer.
Analyser = Callable[[LayerStream], LayerAnalysis]


@dataclass(frozen=True)
class LayerRef:
    """One layer: `diff_id` (uncompressed digest, cache key), blob `digest`, media type."""

    diff_id: str
    media_type: str = "application/vnd.oci.image.layer.v1.tar"
    digest: str = ""
    size: int | None = None
    location: str = ""  # where the source finds the blob (member path, file path)


@dataclass(frozen=True)
class ImageMetadata:
    """Everything about an image except its layer contents."""

    name: str
    config: JsonObject
    layers: tuple[LayerRef, ...]
    kind: str
    repo_tags: tuple[str, ...] = ()
    image_id: str = ""
    platform: str = ""
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class LayerResult:
    """The analysis of one layer and whether its diff id was checked against its content.

    `verified` is False when the stream could not be read to its end (`note` says why) or
    when the digest could not be computed; such a result is shown but never cached.
    """

    analysis: LayerAnalysis
    verified: bool
    note: str = ""


class ImageSource:
    """Base class for image sources (see the module docstring for the contract)."""

    limits: Limits = DEFAULT_LIMITS
    layer_opens: int = 0  # how many layer blobs were opened (tests check the cache with it)
    #: True when `open_blob` hands out blobs already checked against `LayerRef.digest`.
    blob_digests_verified: bool = False
    _budget: ScanBudget | None = None

    @property
    def budget(self) -> ScanBudget:
        """What this source's scan has used of its limits (one budget per source)."""
        if self._budget is None:
            self._budget = ScanBudget(self.limits)
        return self._budget

    def prepare(self, fn: Analyser) -> None:
        """Give the analyser early, for sources that analyse layers while reading metadata."""

    def metadata(self) -> ImageMetadata:
        """Config, ordered layers and names; must not read any layer."""
        raise NotImplementedError

    def open_blob(self, ref: LayerRef) -> tuple[IO[bytes], bool]:
        """The stored (maybe compressed) layer blob and whether it is seekable."""
        raise NotImplementedError

    def open_layer(self, ref: LayerRef) -> LayerStream:
        """The decompressed layer tar as a bounded stream (not verified: for inspection only)."""
        raw, seekable = self.open_blob(ref)
        self.layer_opens += 1
        try:
            return open_layer_stream(raw, seekable=seekable, limits=self.limits)
        except TarError as exc:
            raise OperationalError(f"layer {ref.diff_id or ref.location}: {exc}") from None

    def analyse_layers(self, refs: Collection[LayerRef], fn: Analyser) -> dict[LayerRef, LayerResult]:
        """Run `fn` once over each distinct layer in `refs`, verifying its digests as it reads.

        The layers are analysed one after the other; the bodies nobody analysed may still be
        hashing (one worker per layer) while the next layer is analysed.  Every layer is
        verified before anything is returned.
        """
        started: dict[str, tuple[LayerRef, IO[bytes], StartedLayer]] = {}
        identities: dict[str, FileIdentity | None] = {}
        try:
            for ref in refs:
                if ref.diff_id in started:
                    continue
                raw, seekable = self.open_blob(ref)
                self.layer_opens += 1
                identities[ref.diff_id] = _identity(raw)
                try:
                    layer = start_layer(raw, seekable, fn, self.limits, self.budget,
                                        blob_algos=() if self.blob_digests_verified else _algos(ref.digest),
                                        diff_algos=_algos(ref.diff_id), what=_layer_name(ref))
                except BaseException:
                    raw.close()
                    raise
                started[ref.diff_id] = (ref, raw, layer)
            by_diff = {diff_id: verify_layer(ref, layer.finish()) for diff_id, (ref, _raw, layer) in started.items()}
            for diff_id, (ref, raw, _layer) in started.items():
                _check_unchanged(raw, identities[diff_id], _layer_name(ref))
        finally:
            for _ref, raw, layer in started.values():
                layer.stop()
                raw.close()
        return {ref: by_diff[ref.diff_id] for ref in refs}

    def close(self) -> None:
        """Release files and connections."""


# ---------------------------------------------------------------------------------------------
# one pass over one layer: analyse and hash


@dataclass(frozen=True)
class LayerPass:
    """What one pass over a layer blob produced: the analysis and the digests it computed.

    `blob` maps algorithm → digest of the stored bytes (empty when not computed); `diff` of
    the decompressed tar, or None when the stream was not read to its end (`note` says why).
    """

    analysis: LayerAnalysis
    blob: dict[str, str]
    diff: dict[str, str] | None
    note: str = ""


def _algos(digest: str) -> tuple[str, ...]:
    algo = algorithm(digest) if digest else None
    return (algo,) if algo else ()


def _layer_name(ref: LayerRef) -> str:
    return f"layer {ref.diff_id or ref.digest or ref.location}"


def _regular_file(raw: IO[bytes]) -> tuple[int, os.stat_result, int, int] | None:
    """(descriptor, stat, base offset, size) of the regular file a stored blob reads — the
    file itself or a window of one — or None for anything else (a pipe, a decompressor)."""
    target: object = raw.raw if isinstance(raw, io.BufferedReader) else raw
    base, size = 0, -1
    if isinstance(target, Region):
        target, base, size = target.span()
    fileno = getattr(target, "fileno", None)
    if fileno is None:
        return None
    try:
        fd = int(fileno())
        st = os.fstat(fd)
    except (OSError, ValueError, io.UnsupportedOperation):
        return None
    if not stat.S_ISREG(st.st_mode):
        return None
    return fd, st, base, st.st_size if size < 0 else size


def _positional(raw: IO[bytes]) -> Pread | None:
    """A positional reader over a stored blob that is a regular file or a window of one.

    It reads with ``os.pread`` on the file's descriptor, so the hashing worker can read the
    ranges nobody analyses without moving the analyser's file position.
    """
    found = _regular_file(raw)
    if found is None:
        return None
    fd, _st, base, end = found

    def read(offset: int, n: int) -> bytes:
        n = min(n, end - offset)
        return os.pread(fd, n, base + offset) if n > 0 else b""

    return read, end


FileIdentity = tuple[int, int, int, int, int]


def _identity(raw: IO[bytes]) -> FileIdentity | None:
    """What changes when a file is rewritten: device, inode, size, mtime and ctime (ctime
    cannot be set back by the writer)."""
    found = _regular_file(raw)
    if found is None:
        return None
    st = found[1]
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns


def _check_unchanged(raw: IO[bytes], before: FileIdentity | None, what: str) -> None:
    """Refuse a layer whose file changed while it was analysed and hashed: the hashing thread
    and the analysis read some bytes separately (by offset), so a file rewritten meanwhile
    could pair one content's digest with another's analysis."""
    if before is not None and _identity(raw) != before:
        raise OperationalError(f"{what}: the file changed while it was scanned; nothing was cached "
                               "(scan a copy that nothing writes to)")


@dataclass
class StartedLayer:
    """A layer analysed, whose digests may still be computing (`finish` waits for them)."""

    analysis: LayerAnalysis
    inner: DigestingReader
    outer: DigestingReader | None
    kind: str
    blob_algos: Collection[str]
    what: str

    def finish(self) -> LayerPass:
        """The digests (waiting for the hashing workers) and the analysis, as one `LayerPass`."""
        analysis, inner, outer = self.analysis, self.inner, self.outer
        try:
            diff: dict[str, str] | None = None
            note = analysis.stopped
            if not note:
                try:
                    diff = inner.finish()
                except (TarError, BudgetExceeded, OSError) as exc:
                    note = str(exc)
            blob: dict[str, str] = {}
            if outer is not None:
                try:
                    blob = outer.finish()
                except OSError as exc:
                    raise OperationalError(f"{self.what}: cannot read the blob: {exc}") from None
            elif self.kind == "tar" and diff is not None:
                blob = {a: diff[a] for a in self.blob_algos if a in diff}
        finally:
            self.stop()
        return LayerPass(analysis, blob, diff, note)

    def stop(self) -> None:
        """Stop the hashing workers (idempotent)."""
        self.inner.stop()
        if self.outer is not None:
            self.outer.stop()


def run_layer(raw: IO[bytes], seekable: bool, fn: Analyser, limits: Limits, budget: ScanBudget, *,
              blob_algos: Collection[str], diff_algos: Collection[str], what: str) -> LayerPass:
    """Analyse one stored layer blob with `fn` and hash it in the same pass.

    `raw` must be at its start.  The stored bytes are hashed with `blob_algos` (also when the
    analysis stops early, as long as they can still be read), the decompressed tar with
    `diff_algos` (only when it can be read to its end).
    """
    return start_layer(raw, seekable, fn, limits, budget, blob_algos=blob_algos, diff_algos=diff_algos,
                       what=what).finish()


def start_layer(raw: IO[bytes], seekable: bool, fn: Analyser, limits: Limits, budget: ScanBudget, *,
                blob_algos: Collection[str], diff_algos: Collection[str], what: str) -> StartedLayer:
    """`run_layer` up to the end of the analysis: the digests may still be computing.

    The caller must call `StartedLayer.finish` (or `stop`) before it closes `raw`.
    """
    src: IO[bytes]
    if seekable:
        head = raw.read(BLOCK)
        raw.seek(0)
        src = raw
    else:
        buffered = raw if isinstance(raw, io.BufferedReader) else io.BufferedReader(cast(io.RawIOBase, raw), 1 << 16)
        head = buffered.peek(BLOCK)[:BLOCK]
        src = buffered
    kind = sniff(head)
    if kind == "unknown":
        raise OperationalError(f"{what}: neither a tar archive nor gzip/zstd compressed")
    outer: DigestingReader | None
    if kind == "tar":
        inner = DigestingReader(src, {*blob_algos, *diff_algos}, seekable=seekable, budget=budget,
                                pread=_positional(raw) if seekable else None)
        outer = None
        stream: IO[bytes] = cast("IO[bytes]", inner) if seekable else io.BufferedReader(inner, 1 << 20)
        layer = LayerStream(stream, seekable, "none")
    else:
        outer = DigestingReader(src, blob_algos, seekable=False) if blob_algos else None
        base: IO[bytes] = io.BufferedReader(outer, 1 << 16) if outer else src
        dec = BoundedDecompressor(base, kind, limits)
        inner = DigestingReader(cast("IO[bytes]", dec), diff_algos, seekable=False, budget=budget)
        layer = LayerStream(io.BufferedReader(inner, 1 << 20), False, kind)
    started = StartedLayer(LayerAnalysis(), inner, outer, kind, blob_algos, what)
    try:
        started.analysis = fn(layer)
    except BaseException:
        started.stop()
        raise
    return started


def verify_layer(ref: LayerRef, done: LayerPass) -> LayerResult:
    """Compare what a pass computed with what `ref` claims; `DigestMismatch` on a difference."""
    algo = algorithm(ref.digest) if ref.digest else None
    if algo is not None and algo in done.blob and done.blob[algo] != ref.digest:
        raise DigestMismatch(
            f"{_layer_name(ref)}: the stored blob does not match its digest {ref.digest} "
            f"(got {done.blob[algo]}); nothing from this image was cached")
    if done.diff is None:
        return LayerResult(done.analysis, False, done.note or "not read to its end")
    diff_algo = algorithm(ref.diff_id)
    if diff_algo is None or diff_algo not in done.diff:
        return LayerResult(done.analysis, False, "the content digest was not computed")
    if done.diff[diff_algo] != ref.diff_id:
        raise DigestMismatch(
            f"layer {ref.location or ref.digest}: its content does not match the diff_id "
            f"{ref.diff_id} the image config claims (got {done.diff[diff_algo]}); "
            "nothing from this image was cached")
    return LayerResult(done.analysis, True)


# ---------------------------------------------------------------------------------------------
# metadata helpers


def host_platform() -> str:
    """``linux/<arch>`` for this machine, in OCI architecture names."""
    machine = platform_mod.machine().lower()
    arch = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386",
            "ppc64le": "ppc64le", "s390x": "s390x"}.get(machine, machine)
    return f"linux/{arch}"


def parse_platform(text: str) -> tuple[str, str, str]:
    """``os/arch[/variant]`` → (os, arch, variant); UsageError when malformed."""
    parts = text.split("/")
    if len(parts) not in (2, 3) or not all(parts):
        raise UsageError(f"bad platform {text!r}: expected os/arch[/variant], e.g. linux/amd64")
    return parts[0], parts[1], parts[2] if len(parts) == 3 else ""


def member_name(path: str) -> str:
    """An archive member path as manifests refer to it (no ``./`` prefix, no slashes around)."""
    return (path[2:] if path.startswith("./") else path).strip("/")


def blob_path(digest: str) -> str:
    """``blobs/<algo>/<hex>`` of a checked digest."""
    algo, _, hexd = digest.partition(":")
    return f"blobs/{algo}/{hexd}"


class _Metadata:
    """Reads metadata documents of one image: bounded, charged to the budget, digest-checked."""

    def __init__(self, read: Callable[[str], bytes], prefix: str, limits: Limits, budget: ScanBudget):
        self._read = read
        self.prefix = prefix
        self.limits = limits
        self.budget = budget

    def origin(self, member: str) -> str:
        return f"{self.prefix}{member}"

    def read(self, member: str, digest: str = "") -> bytes:
        data = self._read(member)
        try:
            self.budget.charge_metadata(len(data), self.origin(member))
        except BudgetExceeded as exc:
            raise InputError(self.origin(member), str(exc).split(": ", 1)[-1]) from None
        if digest:
            check_bytes(data, digest, self.origin(member))
        return data

    def load(self, member: str, digest: str = "") -> Json:
        return decode.load(self.read(member, digest), self.origin(member), self.limits)

    def config(self, member: str, digest: str) -> tuple[JsonObject, str]:
        """A checked config and its real digest."""
        data = self.read(member, digest)
        origin = self.origin(member)
        config = decode.image_config(decode.load(data, origin, self.limits), origin, self.limits)
        return config, digest or digest_bytes(data)


def _platform_text(config: JsonObject) -> str:
    return f"{config.get('os') or ''}/{config.get('architecture') or ''}"


def _legacy_config_digest(path: str) -> str:
    """docker save before 25 names the config ``<hex>.json``: that is its sha256."""
    stem = path.rsplit("/", 1)[-1].removesuffix(".json")
    digest = f"sha256:{stem}"
    return digest if path.endswith(".json") and algorithm(digest) else ""


def docker_metadata(md: _Metadata, name: str, kind: str) -> ImageMetadata:
    """Metadata from a docker-save ``manifest.json``."""
    entries = decode.docker_manifest(md.load("manifest.json"), md.origin("manifest.json"), md.limits)
    entry = entries[0]
    warnings = []
    if len(entries) > 1:
        warnings.append(f"archive holds {len(entries)} images; scanning the first")
    cfg_member = member_name(entry.config)
    claimed = digest_from_path(cfg_member) or _legacy_config_digest(cfg_member)
    config, config_digest = md.config(cfg_member, claimed)
    diff_ids = decode.diff_ids(config)
    if len(entry.layers) != len(diff_ids):
        raise InputError(md.origin(cfg_member),
                         f"manifest.json lists {len(entry.layers)} layers but the config {len(diff_ids)} diff_ids",
                         "$.rootfs.diff_ids")
    layers = tuple(
        LayerRef(diff_id=d, media_type="", digest=digest_from_path(member_name(p)), location=member_name(p))
        for p, d in zip(entry.layers, diff_ids, strict=True)
    )
    return ImageMetadata(
        name=name, config=config, layers=layers, kind=kind, repo_tags=entry.repo_tags,
        image_id=config_digest, platform=_platform_text(config),
        warnings=tuple(warnings),
    )


def oci_metadata(md: _Metadata, name: str, kind: str, platform: str | None) -> ImageMetadata:
    """Metadata from an OCI layout's ``index.json``: indexes followed to `platform`."""
    index_origin = md.origin("index.json")
    index = decode.oci_document(md.load("index.json"), index_origin, md.limits)
    if not isinstance(index, decode.OciIndex):
        raise InputError(index_origin, "is not an image index (no manifests)")
    want_os, want_arch, want_variant = parse_platform(platform or host_platform())
    limits = md.limits
    candidates: list[tuple[decode.Descriptor, decode.OciManifest, str]] = []
    seen: set[str] = set()

    def visit(descs: tuple[decode.Descriptor, ...], ref_name: str, depth: int) -> None:
        for desc in descs:
            if desc.digest in seen:
                continue  # an index may list the same manifest many times: read it once
            seen.add(desc.digest)
            member = blob_path(desc.digest)
            try:
                md.budget.charge_descriptor(md.origin(member))
            except BudgetExceeded as exc:
                raise InputError(index_origin, str(exc).split(": ", 1)[-1]) from None
            doc = decode.oci_document(md.load(member, desc.digest), md.origin(member), limits)
            ref = desc.ref_name or ref_name
            if isinstance(doc, decode.OciIndex):
                if depth >= limits.max_index_depth:
                    raise InputError(md.origin(member),
                                     f"image indexes nested more than {limits.max_index_depth} levels deep")
                visit(doc.manifests, ref, depth + 1)
            else:
                candidates.append((desc, doc, ref))

    visit(index.manifests, "", 0)
    if not candidates:
        raise InputError(index_origin, "lists no image manifest")
    chosen = None
    configs: dict[int, tuple[JsonObject, str]] = {}
    seen_platforms = []
    for i, (desc, doc, _ref) in enumerate(candidates):
        plat = desc.platform
        if plat is None:
            configs[i] = md.config(blob_path(doc.config.digest), doc.config.digest)
            plat = decode.platform_of(configs[i][0])
        if plat.os == "unknown":
            continue  # attestation manifests
        seen_platforms.append(str(plat))
        if plat.os == want_os and plat.architecture == want_arch and (
                not want_variant or plat.variant == want_variant):
            chosen = i
            break
    if chosen is None:
        if len(candidates) == 1 and platform is None:
            chosen = 0
        else:
            raise OperationalError(
                f"no image for platform {platform or host_platform()} in the OCI index "
                f"(available: {', '.join(seen_platforms) or 'none'})"
            )
    desc, doc, ref = candidates[chosen]
    config, _ = configs.get(chosen) or md.config(blob_path(doc.config.digest), doc.config.digest)
    diff_ids = decode.diff_ids(config)
    if len(doc.layers) != len(diff_ids):
        raise InputError(md.origin(blob_path(desc.digest)),
                         f"{len(doc.layers)} layers but the config lists {len(diff_ids)} diff_ids", "$.layers")
    layers = tuple(
        LayerRef(diff_id=d, media_type=ld.media_type, digest=ld.digest, size=ld.size,
                 location=blob_path(ld.digest))
        for ld, d in zip(doc.layers, diff_ids, strict=True)
    )
    return ImageMetadata(
        name=name, config=config, layers=layers, kind=kind,
        repo_tags=(ref,) if ref else (), image_id=doc.config.digest,
        platform=_platform_text(config),
    )


# ---------------------------------------------------------------------------------------------
# archive sources


class _Blobs:
    """Read access to the files of an archive (directory or seekable tar)."""

    def __init__(self, path: Path, limits: Limits):
        self.path = path
        self.limits = limits
        self.is_dir = path.is_dir()
        self._members: dict[str, tuple[int, int, str, str]] = {}
        self._f: IO[bytes] | None = None
        if not self.is_dir:
            self._f = open(path, "rb")  # noqa: SIM115 - closed in close()
            reader = TarReader(self._f, seekable=True, limits=limits)
            try:
                for entry in reader:
                    if len(self._members) >= limits.max_archive_members:
                        raise InputError(str(path), f"more than {limits.max_archive_members} archive members")
                    self._members[member_name(entry.path)] = (entry.offset, entry.size, entry.type,
                                                              entry.linkname)
            except TarError as exc:
                self.close()
                raise OperationalError(f"corrupt image archive {path}: {exc}") from None
            except InputError:
                self.close()
                raise

    def exists(self, name: str) -> bool:
        if self.is_dir:
            return (self.path / name).is_file()
        return name in self._members

    def _member(self, name: str, hops: int = 8) -> tuple[int, int]:
        info = self._members.get(name)
        if info is None:
            raise OperationalError(f"corrupt image archive {self.path}: {name} is missing")
        offset, size, etype, link = info
        if etype in (SYMLINK, HARDLINK) and hops:
            target = link if etype == HARDLINK else os.path.normpath(
                os.path.join(os.path.dirname(name), link))
            return self._member(target.strip("/"), hops - 1)
        if etype != REGULAR:
            raise OperationalError(f"corrupt image archive {self.path}: {name} is not a file")
        return offset, size

    def read(self, name: str) -> bytes:
        limit = self.limits.max_json
        if self.is_dir:
            return read_bytes(self._safe(name), limit=limit, what="image metadata file")
        offset, size = self._member(name)
        if size > limit:
            raise InputError(f"{self.path}:{name}", f"{size} bytes is larger than the {limit} allowed")
        assert self._f is not None
        self._f.seek(offset)
        return self._f.read(size)

    def open(self, name: str) -> tuple[IO[bytes], bool]:
        if self.is_dir:
            return open(self._safe(name), "rb"), True
        offset, size = self._member(name)
        assert self._f is not None
        return io.BufferedReader(Region(self._f, offset, size), 1 << 16), True  # type: ignore[arg-type]

    def _safe(self, name: str) -> Path:
        full = (self.path / name).resolve()
        if not full.is_relative_to(self.path.resolve()):
            raise OperationalError(f"corrupt image layout: {name!r} points outside {self.path}")
        if not full.is_file():
            raise OperationalError(f"corrupt image layout {self.path}: {name} is missing")
        return full

    def close(self) -> None:
        if self._f is not None:
            self._f.close()
            self._f = None


class ArchiveSource(ImageSource):
    """A docker-save tar or an OCI layout (directory or plain tar), read with random access."""

    def __init__(self, path: Path, platform: str | None = None, limits: Limits = DEFAULT_LIMITS):
        self.path = path
        self.platform = platform
        self.limits = limits
        self._meta: ImageMetadata | None = None
        self._blobs = _Blobs(path, limits)

    def metadata(self) -> ImageMetadata:
        if self._meta is None:
            b = self._blobs
            name = str(self.path)
            md = _Metadata(b.read, f"{self.path}/" if b.is_dir else f"{self.path}:", self.limits, self.budget)
            if b.exists("manifest.json") and not (self.platform and b.exists("index.json")):
                self._meta = docker_metadata(md, name, "oci" if b.is_dir else "docker-archive")
            elif b.exists("index.json"):
                self._meta = oci_metadata(md, name, "oci", self.platform)
            else:
                raise OperationalError(
                    f"{self.path} is neither a docker-save archive (manifest.json) "
                    "nor an OCI layout (index.json)"
                )
        return self._meta

    def open_blob(self, ref: LayerRef) -> tuple[IO[bytes], bool]:
        return self._blobs.open(ref.location)

    def close(self) -> None:
        self._blobs.close()


class _ChunkStream(io.RawIOBase):
    """A readable stream over an iterator of byte chunks."""

    def __init__(self, chunks: Iterator[bytes]):
        self._it = chunks
        self._buf = b""

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        while not self._buf:
            try:
                self._buf = next(self._it)
            except StopIteration:
                return 0
        n = min(len(b), len(self._buf))
        b[:n] = self._buf[:n]
        self._buf = self._buf[n:]
        return n


@dataclass
class _StreamResult:
    layers: dict[str, LayerPass] = field(default_factory=dict)  # member name -> pass
    small: dict[str, bytes] = field(default_factory=dict)       # JSON-looking members
    links: dict[str, str] = field(default_factory=dict)         # member name -> target member

    def resolve(self, member: str) -> str:
        for _ in range(8):
            if member not in self.links:
                break
            member = self.links[member]
        return member

    def read(self, member: str) -> bytes:
        real = self.resolve(member)
        if real not in self.small:
            raise OperationalError(f"corrupt image archive: {member} is missing")
        return self.small[real]


def _looks_json(head: bytes) -> bool:
    return head.lstrip(b" \t\r\n\xef\xbb\xbf")[:1] in (b"{", b"[")


def stream_archive(stream: IO[bytes], fn: Analyser, limits: Limits, budget: ScanBudget, origin: str) -> _StreamResult:
    """One sequential pass over a docker-save/OCI tar: analyse and hash layers, keep JSON files.

    Members that are neither layers nor JSON are skipped; JSON members count against the
    metadata budget.  Nothing is verified here: the caller maps the manifest's layers to the
    members and checks the digests with `verify_layer`.
    """
    res = _StreamResult()
    reader = TarReader(stream, seekable=False, limits=limits)
    members = 0
    for entry in reader:
        members += 1
        if members > limits.max_archive_members:
            raise InputError(origin, f"more than {limits.max_archive_members} archive members")
        name = member_name(entry.path)
        if entry.type in (SYMLINK, HARDLINK):
            target = entry.linkname if entry.type == HARDLINK else os.path.normpath(
                os.path.join(os.path.dirname(name), entry.linkname))
            res.links[name] = target.strip("/")
            continue
        if entry.type != REGULAR or entry.size == 0:
            continue
        chunks = reader.body_chunks(1 << 20)
        first = next(chunks, b"")
        kind = sniff(first[:BLOCK])
        if kind in ("tar", "gzip", "zstd"):
            raw = io.BufferedReader(_ChunkStream(_prepend(first, chunks)), 1 << 20)
            res.layers[name] = run_layer(raw, False, fn, limits, budget, blob_algos=("sha256",),
                                         diff_algos=("sha256",), what=f"{origin}:{name}")
            for _ in chunks:
                pass  # what the layer pass did not need
        elif _looks_json(first) and entry.size <= limits.max_json:
            try:
                budget.charge_metadata(entry.size, f"{origin}:{name}")
            except BudgetExceeded as exc:
                raise InputError(origin, str(exc).split(": ", 1)[-1]) from None
            res.small[name] = first + b"".join(chunks)
    return res


def _prepend(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    yield first
    yield from rest


def _resolve_stream(res: _StreamResult, name: str, kind: str, platform: str | None,
                    limits: Limits, origin: str) -> ImageMetadata:
    # Metadata bytes were charged to the budget while streaming: a fresh one here.
    md = _Metadata(res.read, f"{origin}:", limits, ScanBudget(limits))
    if "manifest.json" in res.small and not (platform and "index.json" in res.small):
        return docker_metadata(md, name, kind)
    if "index.json" in res.small:
        return oci_metadata(md, name, kind, platform)
    raise OperationalError(f"{name}: neither manifest.json nor index.json in the archive")


def _verified_members(meta: ImageMetadata, res: _StreamResult, what: str) -> dict[LayerRef, LayerResult]:
    out: dict[LayerRef, LayerResult] = {}
    for ref in meta.layers:
        member = res.resolve(ref.location)
        done = res.layers.get(member)
        if done is None:
            raise OperationalError(f"{what}: layer {ref.location} is missing")
        out[ref] = verify_layer(ref, done)
    return out


class StreamingArchiveSource(ImageSource):
    """A compressed docker-save/OCI tar: one sequential pass analyses every layer."""

    def __init__(self, path: Path, platform: str | None = None, limits: Limits = DEFAULT_LIMITS):
        self.path = path
        self.platform = platform
        self.limits = limits
        self._meta: ImageMetadata | None = None
        self._pending: Analyser | None = None
        self._results: dict[LayerRef, LayerResult] = {}

    def prepare(self, fn: Analyser) -> None:
        """Set the analyser before `metadata()` so the single pass can run it."""
        self._pending = fn

    def _run(self) -> None:
        fn = self._pending or (lambda s: LayerAnalysis())
        opener = _decompressing_open(self.path, self.limits)
        try:
            res = stream_archive(opener, fn, self.limits, self.budget, str(self.path))
        except TarError as exc:
            raise OperationalError(f"corrupt image archive {self.path}: {exc}") from None
        finally:
            opener.close()
        self._meta = _resolve_stream(res, str(self.path), "docker-archive", self.platform, self.limits,
                                     str(self.path))
        self.layer_opens += len(res.layers)
        self._results = _verified_members(self._meta, res, f"corrupt image archive {self.path}")

    def metadata(self) -> ImageMetadata:
        if self._meta is None:
            self._run()
        assert self._meta is not None
        return self._meta

    def analyse_layers(self, refs: Collection[LayerRef], fn: Analyser) -> dict[LayerRef, LayerResult]:
        if self._meta is None:
            self._pending = fn
            self._run()
        return {r: self._results[r] for r in refs}


def _decompressing_open(path: Path, limits: Limits) -> IO[bytes]:
    raw = open(path, "rb")  # noqa: SIM115 - returned
    head = raw.read(4)
    raw.seek(0)
    kind = sniff(head)
    if kind in ("gzip", "zstd"):
        return io.BufferedReader(BoundedDecompressor(raw, kind, limits), 1 << 20)
    return raw


# ---------------------------------------------------------------------------------------------
# daemon


class DaemonSource(ImageSource):
    """An image of the local Docker daemon (DOCKER_HOST honoured), exported as a stream.

    The export is written by the daemon from its layer store; each layer tar is checked
    against the image's diff ids while it is analysed, the exported config against its
    member digest and against the ``RootFS.Layers`` the daemon reports for the image.
    """

    def __init__(
        self,
        name: str,
        limits: Limits = DEFAULT_LIMITS,
        config_cache: LayerCache | None = None,
        docker_host: str | None = None,
        api: ImageAPI | None = None,
    ):
        """`api` lets several sources share one Engine API client (it is then not closed here)."""
        import docker.errors

        from dockguard.collect.docker_api import connect

        self.name = name
        self.limits = limits
        self._config_cache = config_cache
        self._owns_api = api is None
        self.api: ImageAPI = connect(docker_host) if api is None else api
        try:
            inspect = self.api.inspect_image(name)
        except docker.errors.ImageNotFound:
            raise OperationalError(f"no such image in the local daemon: {name}") from None
        except docker.errors.APIError as exc:
            raise OperationalError(f"daemon error for image {name}: {exc.explanation}") from None
        except Exception as exc:  # connection refused and friends from requests
            raise OperationalError(f"cannot reach the Docker daemon: {exc}") from None
        self.inspect: JsonObject = inspect if isinstance(inspect, dict) else {}
        self._meta: ImageMetadata | None = None
        self._results: dict[LayerRef, LayerResult] | None = None
        self._pending: Analyser | None = None

    def prepare(self, fn: Analyser) -> None:
        """Analyse the layers in the same export when the config has to be exported anyway."""
        self._pending = fn

    def _inspect_str(self, key: str) -> str:
        value = self.inspect.get(key)
        return value if isinstance(value, str) else ""

    def _daemon_diff_ids(self) -> list[str] | None:
        rootfs = self.inspect.get("RootFS")
        layers = rootfs.get("Layers") if isinstance(rootfs, dict) else None
        if isinstance(layers, list) and all(isinstance(x, str) for x in layers):
            return [x for x in layers if isinstance(x, str)]
        return None

    def metadata(self) -> ImageMetadata:
        if self._meta is None:
            image_id = self._inspect_str("Id")
            config = None
            if self._config_cache is not None:
                config = self._config_cache.get_config(image_id, self.limits)
                if config is not None and decode.diff_ids(config) != self._daemon_diff_ids():
                    config = None  # not the image the daemon describes: export again
            if config is None:
                config = self._export_config(self._pending)
            tags = self.inspect.get("RepoTags")
            self._meta = ImageMetadata(
                name=self.name,
                config=config,
                layers=tuple(LayerRef(diff_id=d, media_type="") for d in decode.diff_ids(config)),
                kind="daemon",
                repo_tags=tuple(t for t in tags if isinstance(t, str)) if isinstance(tags, list) else (),
                image_id=image_id,
                platform=f"{self._inspect_str('Os')}/{self._inspect_str('Architecture')}",
            )
        return self._meta

    def _export_config(self, fn: Analyser | None = None) -> JsonObject:
        """Stream the export once; analyse layers with `fn` when given; return the config."""
        import docker.errors

        what = f"the daemon's export of {self.name}"
        try:
            chunks = self.api.get_image(self.name, chunk_size=1 << 20)
            stream = io.BufferedReader(_ChunkStream(iter(chunks)), 1 << 20)
            res = stream_archive(stream, fn or (lambda s: LayerAnalysis()), self.limits, self.budget, what)
        except docker.errors.APIError as exc:
            raise OperationalError(f"cannot export image {self.name}: {exc.explanation}") from None
        except TarError as exc:
            raise OperationalError(f"corrupt image export from the daemon: {exc}") from None
        meta = _resolve_stream(res, self.name, "daemon", None, self.limits, what)
        expected = self._daemon_diff_ids()
        if expected is not None and [r.diff_id for r in meta.layers] != expected:
            raise DigestMismatch(f"{what}: its config lists other layers than the daemon reports for the image")
        self.layer_opens += len(res.layers)
        if fn is not None:
            self._results = {
                LayerRef(diff_id=r.diff_id, media_type=""): v
                for r, v in _verified_members(meta, res, what).items()
            }
        if self._config_cache is not None and self._inspect_str("Id"):
            self._config_cache.put_config(self._inspect_str("Id"), meta.config)
        return meta.config

    def open_blob(self, ref: LayerRef) -> tuple[IO[bytes], bool]:
        raise OperationalError("the daemon source streams whole images; use analyse_layers")

    def analyse_layers(self, refs: Collection[LayerRef], fn: Analyser) -> dict[LayerRef, LayerResult]:
        if not refs:
            return {}
        if self._results is None:
            self._export_config(fn)
        assert self._results is not None
        out = {}
        for r in refs:
            key = LayerRef(diff_id=r.diff_id, media_type="")
            if key not in self._results:
                raise OperationalError(f"layer {r.diff_id} missing from the daemon's export")
            out[r] = self._results[key]
        return out

    def close(self) -> None:
        if self._owns_api:
            self.api.close()


# ---------------------------------------------------------------------------------------------
# rootfs


class RootfsSource(ImageSource):
    """A plain root filesystem directory; one pseudo layer, no config."""

    def __init__(self, path: Path, limits: Limits = DEFAULT_LIMITS):
        self.path = path
        self.limits = limits

    def metadata(self) -> ImageMetadata:
        return ImageMetadata(
            name=str(self.path), config={}, layers=(LayerRef(diff_id="", media_type="dir"),),
            kind="rootfs",
        )


def open_target(target: str, platform: str | None = None, limits: Limits = DEFAULT_LIMITS,
                config_cache: LayerCache | None = None) -> ImageSource:
    """Map a command-line TARGET to a source (see docs/image.md for the syntax)."""
    if platform:
        parse_platform(platform)
    prefix, sep, rest = target.partition(":")
    if sep and prefix in ("docker-archive", "oci", "dir"):
        path = Path(rest)
        if not path.exists():
            raise OperationalError(f"{rest}: no such file or directory")
        if prefix == "dir":
            if not path.is_dir():
                raise OperationalError(f"{rest}: not a directory")
            return RootfsSource(path, limits)
        return _archive(path, platform, limits)
    path = Path(target)
    if path.is_dir():
        if (path / "index.json").is_file() or (path / "manifest.json").is_file():
            return ArchiveSource(path, platform, limits)
        return RootfsSource(path, limits)
    if path.is_file():
        return _archive(path, platform, limits)
    if target.endswith((".tar", ".tar.gz", ".tgz", ".tar.zst")):
        raise OperationalError(f"{target}: no such file")
    return DaemonSource(target, limits, config_cache)


def _archive(path: Path, platform: str | None, limits: Limits) -> ImageSource:
    if path.is_dir():
        return ArchiveSource(path, platform, limits)
    if not path.is_file():
        raise OperationalError(f"{path}: not a regular file")
    with open(path, "rb") as f:
        head = f.read(512)
    kind = sniff(head)
    if kind in ("gzip", "zstd"):
        return StreamingArchiveSource(path, platform, limits)
    if kind != "tar":
        raise OperationalError(f"corrupt image archive {path}: not a tar file")
    return ArchiveSource(path, platform, limits)
