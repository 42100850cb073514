"""Where images come from: the local daemon, docker-save tars, OCI layouts, rootfs directories.

The source interface
--------------------
An `ImageSource` gives the scanner three things and nothing else:

* `ImageSource.metadata()` → `ImageMetadata`: the image config JSON (``config``, ``rootfs``,
  ``history``...), the ordered layer list as `LayerRef` (``diff_id`` = sha256 of the
  uncompressed layer tar, the cache key; ``digest`` = blob digest as stored; media type), and
  names (repo tags, platform).  It must be cheap: no layer is read.
* `ImageSource.open_blob(ref)` → ``(binary stream, seekable)`` of the stored layer blob, which
  may be gzip or zstd compressed; `ImageSource.open_layer(ref)` wraps it into a decompressed,
  bounded stream (compression is detected by magic, whatever the media type says).
* `ImageSource.analyse_layers(refs, fn)` runs ``fn`` once over each wanted layer; the default
  opens them one by one.  Sources that can only stream the whole image (the daemon's export)
  override it and visit layers in stream order.

A registry source only needs `metadata` (manifest → platform → config) and `open_blob`
(verifying digests as it streams).  `open_target` maps a command-line TARGET to a source.
"""

from __future__ import annotations

import io
import json
import os
import platform as platform_mod
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, TypeVar

from dockguard.errors import OperationalError, UsageError
from dockguard.image.tarstream import (
    DEFAULT_LIMITS,
    HARDLINK,
    REGULAR,
    SYMLINK,
    LayerStream,
    Limits,
    Region,
    TarError,
    TarReader,
    open_layer_stream,
    sniff,
)

T = TypeVar("T")
MAX_JSON = 16 * 1024 * 1024

OCI_INDEX = ("application/vnd.oci.image.index.v1+json",
             "application/vnd.docker.distribution.manifest.list.v2+json")
OCI_MANIFEST = ("application/vnd.oci.image.manifest.v1+json",
                "application/vnd.docker.distribution.manifest.v2+json")


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
    config: dict[str, Any]
    layers: tuple[LayerRef, ...]
    kind: str
    repo_tags: tuple[str, ...] = ()
    image_id: str = ""
    platform: str = ""
    warnings: tuple[str, ...] = ()


class ImageSource:
    """Base class for image sources (see the module docstring for the contract)."""

    limits: Limits = DEFAULT_LIMITS
    layer_opens: int = 0  # how many layer blobs were opened (tests check the cache with it)

    def metadata(self) -> ImageMetadata:
        """Config, ordered layers and names; must not read any layer."""
        raise NotImplementedError

    def open_blob(self, ref: LayerRef) -> tuple[IO[bytes], bool]:
        """The stored (maybe compressed) layer blob and whether it is seekable."""
        raise NotImplementedError

    def open_layer(self, ref: LayerRef) -> LayerStream:
        """The decompressed layer tar as a bounded stream."""
        raw, seekable = self.open_blob(ref)
        self.layer_opens += 1
        try:
            return open_layer_stream(raw, seekable=seekable, limits=self.limits)
        except TarError as exc:
            raise OperationalError(f"layer {ref.diff_id or ref.location}: {exc}") from None

    def analyse_layers(
        self, refs: Collection[LayerRef], fn: Callable[[LayerStream], T]
    ) -> dict[LayerRef, T]:
        """Run `fn` once over each layer in `refs`; results keyed by ref."""
        out: dict[LayerRef, T] = {}
        for ref in refs:
            if ref in out:
                continue
            stream = self.open_layer(ref)
            try:
                out[ref] = fn(stream)
            finally:
                stream.stream.close()
        return out

    def close(self) -> None:
        """Release files and connections."""


# ---------------------------------------------------------------------------------------------
# helpers


def _loads(data: bytes, what: str) -> Any:
    try:
        return json.loads(data)
    except ValueError as exc:
        raise OperationalError(f"corrupt image archive: {what} is not valid JSON ({exc})") from None


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


class _Blobs:
    """Read access to the files of an archive (directory or seekable tar)."""

    def __init__(self, path: Path, limits: Limits):
        self.path = path
        self.is_dir = path.is_dir()
        self._members: dict[str, tuple[int, int, str, str]] = {}
        self._f: IO[bytes] | None = None
        if not self.is_dir:
            self._f = open(path, "rb")  # noqa: SIM115 - closed in close()
            reader = TarReader(self._f, seekable=True, limits=limits)
            try:
                for entry in reader:
                    name = entry.path.lstrip("./") if entry.path.startswith("./") else entry.path
                    name = name.strip("/")
                    self._members[name] = (entry.offset, entry.size, entry.type, entry.linkname)
            except TarError as exc:
                self.close()
                raise OperationalError(f"corrupt image archive {path}: {exc}") from None

    def names(self) -> Collection[str]:
        return self._members

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

    def read(self, name: str, limit: int = MAX_JSON) -> bytes:
        if self.is_dir:
            full = self._safe(name)
            if full.stat().st_size > limit:
                raise OperationalError(f"{full}: larger than {limit} bytes")
            return full.read_bytes()
        offset, size = self._member(name)
        if size > limit:
            raise OperationalError(f"corrupt image archive: {name} is larger than {limit} bytes")
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


def _docker_manifest(blobs: _Blobs, manifest_data: bytes, name: str, kind: str) -> ImageMetadata:
    manifest = _loads(manifest_data, "manifest.json")
    if not isinstance(manifest, list) or not manifest or not isinstance(manifest[0], dict):
        raise OperationalError("corrupt image archive: manifest.json lists no image")
    entry = manifest[0]
    warnings = []
    if len(manifest) > 1:
        warnings.append(f"archive holds {len(manifest)} images; scanning the first")
    config = _loads(blobs.read(str(entry.get("Config", ""))), "the image config")
    diff_ids = list((config.get("rootfs") or {}).get("diff_ids") or [])
    paths = list(entry.get("Layers") or [])
    if len(paths) != len(diff_ids):
        raise OperationalError(
            f"corrupt image archive: {len(paths)} layers but {len(diff_ids)} diff_ids in config"
        )
    layers = tuple(
        LayerRef(diff_id=d, media_type="", location=str(p)) for p, d in zip(paths, diff_ids, strict=True)
    )
    tags = tuple(entry.get("RepoTags") or ())
    cfg_name = str(entry.get("Config", ""))
    image_id = "sha256:" + cfg_name.rsplit("/", 1)[-1].removesuffix(".json")
    return ImageMetadata(
        name=name, config=config, layers=layers, kind=kind, repo_tags=tags, image_id=image_id,
        platform=f"{config.get('os', '')}/{config.get('architecture', '')}",
        warnings=tuple(warnings),
    )


def _oci_manifest(
    read: Callable[[str], bytes], index_data: bytes, name: str, kind: str, platform: str | None
) -> ImageMetadata:
    index = _loads(index_data, "index.json")
    want_os, want_arch, want_variant = parse_platform(platform or host_platform())
    candidates: list[tuple[dict[str, Any], dict[str, Any], str]] = []

    def blob_path(digest: str) -> str:
        algo, _, hexd = digest.partition(":")
        if not hexd or "/" in hexd or "/" in algo or ".." in hexd:
            raise OperationalError(f"corrupt OCI layout: bad digest {digest!r}")
        return f"blobs/{algo}/{hexd}"

    def walk(desc_list: list[Any], ref_name: str, depth: int) -> None:
        if depth > 4:
            raise OperationalError("corrupt OCI layout: nested indexes too deep")
        for desc in desc_list:
            if not isinstance(desc, dict):
                continue
            media = desc.get("mediaType", "")
            ann = desc.get("annotations") or {}
            ref = ann.get("org.opencontainers.image.ref.name") or ann.get(
                "io.containerd.image.name") or ref_name
            data = read(blob_path(str(desc.get("digest", ""))))
            doc = _loads(data, f"blob {desc.get('digest')}")
            media = media or doc.get("mediaType", "")
            if media in OCI_INDEX or "manifests" in doc:
                walk(doc.get("manifests") or [], ref, depth + 1)
            else:
                candidates.append((desc, doc, ref))

    walk(index.get("manifests") or [], "", 0)
    if not candidates:
        raise OperationalError("corrupt OCI layout: index.json lists no image manifest")
    chosen = None
    configs: dict[int, dict[str, Any]] = {}
    seen_platforms = []
    for i, (desc, doc, _ref) in enumerate(candidates):
        plat = desc.get("platform")
        if not plat:
            cfg = _loads(read(blob_path(doc["config"]["digest"])), "the image config")
            configs[i] = cfg
            plat = {"os": cfg.get("os"), "architecture": cfg.get("architecture"),
                    "variant": cfg.get("variant", "")}
        p_os, p_arch, p_var = plat.get("os", ""), plat.get("architecture", ""), plat.get("variant", "")
        if p_os == "unknown":
            continue  # attestation manifests
        seen_platforms.append("/".join(x for x in (p_os, p_arch, p_var) if x))
        if p_os == want_os and p_arch == want_arch and (not want_variant or p_var == want_variant):
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
    config = configs.get(chosen) or _loads(read(blob_path(doc["config"]["digest"])), "the image config")
    diff_ids = list((config.get("rootfs") or {}).get("diff_ids") or [])
    layer_descs = doc.get("layers") or []
    if len(layer_descs) != len(diff_ids):
        raise OperationalError(
            f"corrupt OCI layout: {len(layer_descs)} layers but {len(diff_ids)} diff_ids"
        )
    layers = tuple(
        LayerRef(diff_id=d, media_type=str(ld.get("mediaType", "")), digest=str(ld.get("digest", "")),
                 size=ld.get("size"), location=blob_path(str(ld.get("digest", ""))))
        for ld, d in zip(layer_descs, diff_ids, strict=True)
    )
    return ImageMetadata(
        name=name, config=config, layers=layers, kind=kind,
        repo_tags=(ref,) if ref else (), image_id=str(doc["config"]["digest"]),
        platform=f"{config.get('os', '')}/{config.get('architecture', '')}",
    )


# ---------------------------------------------------------------------------------------------
# archive sources


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
            if b.exists("manifest.json") and not (self.platform and b.exists("index.json")):
                self._meta = _docker_manifest(b, b.read("manifest.json"), name,
                                              "oci" if b.is_dir else "docker-archive")
            elif b.exists("index.json"):
                self._meta = _oci_manifest(b.read, b.read("index.json"), name, "oci", self.platform)
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
    layers: dict[str, Any] = field(default_factory=dict)   # member name -> fn result
    small: dict[str, bytes] = field(default_factory=dict)  # buffered JSON-ish members
    links: dict[str, str] = field(default_factory=dict)    # member name -> target member


def _stream_archive(stream: IO[bytes], fn: Callable[[LayerStream], Any], limits: Limits) -> _StreamResult:
    """One sequential pass over a docker-save/OCI tar: analyse layers, keep small JSON files."""
    res = _StreamResult()
    reader = TarReader(stream, seekable=False, limits=limits)
    for entry in reader:
        name = entry.path[2:] if entry.path.startswith("./") else entry.path
        if entry.type in (SYMLINK, HARDLINK):
            target = entry.linkname if entry.type == HARDLINK else os.path.normpath(
                os.path.join(os.path.dirname(name), entry.linkname))
            res.links[name] = target.strip("/")
            continue
        if entry.type != REGULAR or entry.size == 0:
            continue
        chunks = reader.body_chunks(1 << 20)
        first = next(chunks, b"")
        kind = sniff(first[:512])
        if kind in ("tar", "gzip", "zstd"):
            raw = io.BufferedReader(_ChunkStream(_prepend(first, chunks)), 1 << 20)
            layer = open_layer_stream(raw, seekable=False, limits=limits)
            res.layers[name] = fn(layer)
            for _ in chunks:
                pass  # drain what the analyser did not need
        elif entry.size <= MAX_JSON:
            res.small[name] = first + b"".join(chunks)
    return res


def _prepend(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    yield first
    yield from rest


def _resolve_stream(res: _StreamResult, name: str, kind: str, platform: str | None) -> ImageMetadata:
    def read(member: str) -> bytes:
        for _ in range(8):
            if member in res.links:
                member = res.links[member]
        if member not in res.small:
            raise OperationalError(f"corrupt image archive: {member} is missing")
        return res.small[member]

    if "manifest.json" in res.small and not (platform and "index.json" in res.small):
        class _B:
            is_dir = False

            @staticmethod
            def read(m: str, limit: int = MAX_JSON) -> bytes:
                return read(m)

        return _docker_manifest(_B(), res.small["manifest.json"], name, kind)  # type: ignore[arg-type]
    if "index.json" in res.small:
        return _oci_manifest(read, res.small["index.json"], name, kind, platform)
    raise OperationalError(f"{name}: neither manifest.json nor index.json in the archive")


class StreamingArchiveSource(ImageSource):
    """A compressed docker-save/OCI tar: one sequential pass analyses every layer."""

    def __init__(self, path: Path, platform: str | None = None, limits: Limits = DEFAULT_LIMITS):
        self.path = path
        self.platform = platform
        self.limits = limits
        self._meta: ImageMetadata | None = None
        self._pending: Callable[[LayerStream], Any] | None = None
        self._results: dict[str, Any] = {}

    def prepare(self, fn: Callable[[LayerStream], Any]) -> None:
        """Set the analyser before `metadata()` so the single pass can run it."""
        self._pending = fn

    def _run(self) -> None:
        fn = self._pending or (lambda s: None)
        opener = _decompressing_open(self.path)
        try:
            res = _stream_archive(opener, fn, self.limits)
        except TarError as exc:
            raise OperationalError(f"corrupt image archive {self.path}: {exc}") from None
        finally:
            opener.close()
        self._meta = _resolve_stream(res, str(self.path), "docker-archive", self.platform)
        self.layer_opens += len(res.layers)
        for ref in self._meta.layers:
            member = ref.location
            for _ in range(8):
                member = res.links.get(member, member)
            if member in res.layers:
                self._results[ref.location] = res.layers[member]

    def metadata(self) -> ImageMetadata:
        if self._meta is None:
            self._run()
        assert self._meta is not None
        return self._meta

    def analyse_layers(
        self, refs: Collection[LayerRef], fn: Callable[[LayerStream], T]
    ) -> dict[LayerRef, T]:
        if self._meta is None:
            self._pending = fn
            self._run()
        missing = [r for r in refs if r.location not in self._results]
        if missing:
            raise OperationalError(f"corrupt image archive: layer {missing[0].location} is missing")
        return {r: self._results[r.location] for r in refs}


def _decompressing_open(path: Path) -> IO[bytes]:
    raw = open(path, "rb")  # noqa: SIM115 - returned
    head = raw.read(4)
    raw.seek(0)
    kind = sniff(head)
    if kind in ("gzip", "zstd"):
        from dockguard.image.tarstream import BoundedDecompressor

        return io.BufferedReader(BoundedDecompressor(raw, kind, DEFAULT_LIMITS), 1 << 20)
    return raw


# ---------------------------------------------------------------------------------------------
# daemon


class DaemonSource(ImageSource):
    """An image of the local Docker daemon (DOCKER_HOST honoured), exported as a stream."""

    def __init__(
        self,
        name: str,
        limits: Limits = DEFAULT_LIMITS,
        config_cache: Any = None,
        docker_host: str | None = None,
        api: Any = None,
    ):
        """`api` lets several sources share one Engine API client (it is then not closed here)."""
        import docker.errors

        from dockguard.collect.docker_api import connect

        self.name = name
        self.limits = limits
        self._config_cache = config_cache
        self._owns_api = api is None
        self.api = connect(docker_host) if api is None else api
        try:
            self.inspect = self.api.inspect_image(name)
        except docker.errors.ImageNotFound:
            raise OperationalError(f"no such image in the local daemon: {name}") from None
        except docker.errors.APIError as exc:
            raise OperationalError(f"daemon error for image {name}: {exc.explanation}") from None
        except Exception as exc:  # connection refused and friends from requests
            raise OperationalError(f"cannot reach the Docker daemon: {exc}") from None
        self._meta: ImageMetadata | None = None
        self._results: dict[str, Any] | None = None

    def metadata(self) -> ImageMetadata:
        if self._meta is None:
            image_id = str(self.inspect.get("Id", ""))
            config = self._config_cache.get_config(image_id) if self._config_cache else None
            if config is None:
                config = self._export_config()
            diff_ids = list((config.get("rootfs") or {}).get("diff_ids") or [])
            self._meta = ImageMetadata(
                name=self.name,
                config=config,
                layers=tuple(LayerRef(diff_id=d, media_type="") for d in diff_ids),
                kind="daemon",
                repo_tags=tuple(self.inspect.get("RepoTags") or ()),
                image_id=image_id,
                platform=f"{self.inspect.get('Os', '')}/{self.inspect.get('Architecture', '')}",
            )
        return self._meta

    def _export_config(self, fn: Callable[[LayerStream], Any] | None = None) -> dict[str, Any]:
        """Stream the export once; analyse layers with `fn` when given; return the config."""
        import docker.errors

        try:
            chunks = self.api.get_image(self.name, chunk_size=1 << 20)
            stream = io.BufferedReader(_ChunkStream(iter(chunks)), 1 << 20)
            if fn is None:
                res = _stream_archive(stream, lambda s: None, self.limits)
            else:
                res = _stream_archive(stream, fn, self.limits)
        except docker.errors.APIError as exc:
            raise OperationalError(f"cannot export image {self.name}: {exc.explanation}") from None
        except TarError as exc:
            raise OperationalError(f"corrupt image export from the daemon: {exc}") from None
        meta = _resolve_stream(res, self.name, "daemon", None)
        self.layer_opens += len(res.layers)
        if fn is not None:
            self._results = {}
            for ref in meta.layers:
                member = ref.location
                for _ in range(8):
                    member = res.links.get(member, member)
                if member in res.layers:
                    self._results[ref.diff_id] = res.layers[member]
        if self._config_cache is not None and meta.image_id:
            self._config_cache.put_config(str(self.inspect.get("Id", "")), meta.config)
        return meta.config

    def open_blob(self, ref: LayerRef) -> tuple[IO[bytes], bool]:
        raise OperationalError("the daemon source streams whole images; use analyse_layers")

    def analyse_layers(
        self, refs: Collection[LayerRef], fn: Callable[[LayerStream], T]
    ) -> dict[LayerRef, T]:
        if not refs:
            return {}
        if self._results is None:
            self._export_config(fn)
        assert self._results is not None
        out = {}
        for r in refs:
            if r.diff_id not in self._results:
                raise OperationalError(f"layer {r.diff_id} missing from the daemon's export")
            out[r] = self._results[r.diff_id]
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
                config_cache: Any = None) -> ImageSource:
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
    with open(path, "rb") as f:
        head = f.read(512)
    kind = sniff(head)
    if kind in ("gzip", "zstd"):
        return StreamingArchiveSource(path, platform, limits)
    if kind != "tar":
        raise OperationalError(f"corrupt image archive {path}: not a tar file")
    return ArchiveSource(path, platform, limits)
