"""Builders of hostile images for the image tests: streamed to disk, small where they can be.

Layers are written member by member through `tarfile` in stream mode into a gzip/zstd
compressor, hashing the uncompressed and the stored bytes on the way, so a layer holding a
128 MiB file costs a few hundred KB on disk and never sits in memory.  Archives and OCI
layouts are assembled from those files with the digests the caller wants to claim.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import subprocess
import sys
import tarfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Protocol, cast

import zstandard

OS_RELEASE = b'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n'
DEMO_META = b"Metadata-Version: 2.1\nName: demo-pkg\nVersion: 1.0\n"
DEMO_PATH = "usr/lib/python3/dist-packages/demo_pkg-1.0.dist-info/METADATA"

#: An OSV record that makes demo-pkg 1.0 (PyPI) CRITICAL, for --fail-on tests.
CRITICAL_ADVISORY = {
    "id": "DG-HOSTILE-1",
    "summary": "demo-pkg is critically broken",
    "affected": [{"package": {"ecosystem": "PyPI", "name": "demo-pkg"},
                  "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "2.0"}]}]}],
    "database_specific": {"severity": "CRITICAL"},
}


@dataclass(frozen=True)
class M:
    """A layer member: `data`, or `size` bytes of `fill` (streamed), or a directory/link."""

    name: str
    data: bytes = b""
    size: int = 0
    fill: bytes = b"\0"
    type: bytes = tarfile.REGTYPE
    mode: int = 0o644
    link: str = ""


class Fill(io.RawIOBase):
    """`size` bytes of `fill` repeated, as a stream (the period stays that of `fill`)."""

    def __init__(self, size: int, fill: bytes) -> None:
        self.left = size
        self.fill = fill
        self.block = fill * (65536 // len(fill) + 2)
        self.at = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        n = min(len(b), self.left, 65536)
        b[:n] = self.block[self.at : self.at + n]
        self.at = (self.at + n) % len(self.fill)
        self.left -= n
        return n


class _Sink(Protocol):
    def write(self, data: bytes, /) -> int: ...


class _Hashing(io.RawIOBase):
    """A write-only stream that hashes and counts what passes to `out`."""

    def __init__(self, out: _Sink) -> None:
        self.out = out
        self.sha = hashlib.sha256()
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, b: Any) -> int:
        data = bytes(b)
        self.sha.update(data)
        self.size += len(data)
        self.out.write(data)
        return len(data)

    @property
    def digest(self) -> str:
        return "sha256:" + self.sha.hexdigest()


@dataclass(frozen=True)
class Blob:
    """A layer blob on disk with the digests of its stored and uncompressed bytes."""

    path: Path
    digest: str
    diff_id: str
    size: int


def write_layer(path: Path, members: Iterable[M], compression: str = "gzip") -> Blob:
    """Stream a layer tar of `members` into `path` (gzip, zstd or none)."""
    with open(path, "wb") as f:
        stored = _Hashing(f)
        if compression == "gzip":
            comp: Any = gzip.GzipFile(fileobj=stored, mode="wb", compresslevel=6, mtime=0)
        elif compression == "zstd":
            comp = zstandard.ZstdCompressor(level=3).stream_writer(cast("IO[bytes]", stored), closefd=False)
        else:
            comp = None
        plain = _Hashing(comp if comp is not None else stored)
        with tarfile.open(fileobj=plain, mode="w|", format=tarfile.PAX_FORMAT) as tar:
            for m in members:
                info = tarfile.TarInfo(m.name)
                info.type = m.type
                info.mode = m.mode
                info.linkname = m.link
                if m.type == tarfile.REGTYPE:
                    info.size = len(m.data) if m.data else m.size
                    tar.addfile(info, io.BytesIO(m.data) if m.data else Fill(m.size, m.fill))
                else:
                    tar.addfile(info)
        if comp is not None:
            comp.close()
    return Blob(path, stored.digest, plain.digest, stored.size)


def _ustar(name: str) -> bytes:
    header = bytearray(512)
    header[0:len(name)] = name.encode()
    header[100:108] = b"0000644\0"
    header[108:116] = b"0000000\0"
    header[116:124] = b"0000000\0"
    header[124:136] = b"00000000000\0"
    header[136:148] = b"00000000000\0"
    header[148:156] = b"        "
    header[156] = ord("0")
    header[257:263] = b"ustar\0"
    header[263:265] = b"00"
    header[148:156] = b"%06o\0 " % sum(header)
    return bytes(header)


def empty_files_layer(path: Path, count: int, first: Sequence[M] = ()) -> Blob:
    """A gzip layer of `first` then `count` empty files ``d/NNNNNNN``, written header by header."""
    head = Path(str(path) + ".head")
    write_layer(head, first, compression="none")
    data = head.read_bytes()
    head.unlink()
    body = data[: len(data) - 1024].rstrip(b"\0")
    body += b"\0" * (-len(body) % 512)
    with open(path, "wb") as f:
        stored = _Hashing(f)
        comp = gzip.GzipFile(fileobj=stored, mode="wb", compresslevel=1, mtime=0)
        plain = _Hashing(comp)
        plain.write(body)
        for start in range(0, count, 10_000):
            plain.write(b"".join(_ustar(f"d/{i:07d}") for i in range(start, min(count, start + 10_000))))
        plain.write(b"\0" * 1024)
        comp.close()
    return Blob(path, stored.digest, plain.digest, stored.size)


def config_for(diff_ids: list[str], **extra: Any) -> dict[str, Any]:
    """A minimal image config; `extra` replaces top-level keys."""
    cfg: dict[str, Any] = {
        "architecture": "amd64", "os": "linux", "config": {"User": "app"},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created_by": f"layer {i}"} for i in range(len(diff_ids))],
    }
    cfg.update(extra)
    return cfg


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def docker_save(out: Path, blobs: list[Blob], *, config: dict[str, Any] | bytes | None = None,
                manifest: Any = None, tags: tuple[str, ...] = ("hostile/img:1",),
                layer_names: list[str] | None = None, extra: dict[str, bytes] | None = None) -> Path:
    """A docker-save tar (Docker ≥ 25 layout: blobs/sha256/<digest>) of `blobs`.

    `config` defaults to one naming the blobs' real diff ids; `manifest` replaces
    manifest.json; `layer_names` the member names of the layer blobs.
    """
    if config is None:
        config = config_for([b.diff_id for b in blobs])
    cfg_bytes = config if isinstance(config, bytes) else json.dumps(config).encode()
    cfg_name = "blobs/sha256/" + hashlib.sha256(cfg_bytes).hexdigest()
    names = layer_names or ["blobs/sha256/" + b.digest[7:] for b in blobs]
    if manifest is None:
        manifest = [{"Config": cfg_name, "RepoTags": list(tags), "Layers": names}]
    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as tar:
        done = set()
        for blob, name in zip(blobs, names, strict=False):
            if name not in done:
                tar.add(str(blob.path), arcname=name)
                done.add(name)
        _add_bytes(tar, cfg_name, cfg_bytes)
        _add_bytes(tar, "manifest.json", manifest if isinstance(manifest, bytes) else json.dumps(manifest).encode())
        for name, data in (extra or {}).items():
            _add_bytes(tar, name, data)
    return out


def put_blob(root: Path, data: bytes) -> dict[str, Any]:
    """Store `data` in an OCI layout under its digest; its descriptor fields."""
    digest = hashlib.sha256(data).hexdigest()
    (root / "blobs/sha256").mkdir(parents=True, exist_ok=True)
    (root / "blobs/sha256" / digest).write_bytes(data)
    return {"digest": f"sha256:{digest}", "size": len(data)}


def oci_layout(root: Path, blobs: list[Blob], *, config: dict[str, Any] | None = None,
               index: dict[str, Any] | None = None) -> Path:
    """An OCI layout directory with one image of `blobs` (gzip layers)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    layers = []
    for b in blobs:
        (root / "blobs/sha256").mkdir(parents=True, exist_ok=True)
        target = root / "blobs/sha256" / b.digest[7:]
        if not target.exists():
            target.write_bytes(b.path.read_bytes())
        layers.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                       "digest": b.digest, "size": b.size})
    cfg = put_blob(root, json.dumps(config or config_for([b.diff_id for b in blobs])).encode())
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **cfg},
                "layers": layers}
    desc = put_blob(root, json.dumps(manifest).encode())
    if index is None:
        index = {"schemaVersion": 2, "manifests": [
            {"mediaType": manifest["mediaType"], **desc,
             "platform": {"os": "linux", "architecture": "amd64"},
             "annotations": {"org.opencontainers.image.ref.name": "hostile/oci:1"}}]}
    (root / "index.json").write_text(json.dumps(index))
    return root


def good_layers(tmp: Path) -> list[Blob]:
    """A small Debian-like image with demo-pkg 1.0 (vulnerable per CRITICAL_ADVISORY)."""
    return [
        write_layer(tmp / "base.tar.gz", [M("etc/os-release", OS_RELEASE)]),
        write_layer(tmp / "app.tar.gz", [M(DEMO_PATH, DEMO_META)]),
    ]


def vuln_db(tmp: Path) -> Path:
    """A vulnerability database holding `CRITICAL_ADVISORY`, imported by the real CLI."""
    record = tmp / "advisory.json"
    record.write_text(json.dumps(CRITICAL_ADVISORY))
    db = tmp / "vuln.db"
    subprocess.run([sys.executable, "-m", "dockguard", "db", "import", "--db", str(db), str(record)],
                   check=True, capture_output=True, timeout=120)
    return db


def chunks_of(data: bytes, size: int = 1 << 16) -> Iterator[bytes]:
    """`data` in pieces (for streamed writers)."""
    for i in range(0, len(data), size):
        yield data[i : i + size]


@dataclass
class Scratch:
    """Where one test keeps its inputs (`tmp`) and runs the CLI (`scratch`)."""

    tmp: Path
    scratch: Path
    env: dict[str, str] = field(default_factory=dict)
