"""Builders of synthetic layer tars, docker-save archives and OCI layouts for image tests."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import zstandard


@dataclass
class F:
    """One tar member: a file (data), dir, symlink/hardlink (link) or device."""

    name: str
    data: bytes = b""
    type: bytes = tarfile.REGTYPE
    mode: int = 0o644
    link: str = ""
    uid: int = 0


def D(name: str, mode: int = 0o755) -> F:
    """A directory member."""
    return F(name, type=tarfile.DIRTYPE, mode=mode)


def L(name: str, target: str) -> F:
    """A symlink member."""
    return F(name, type=tarfile.SYMTYPE, link=target, mode=0o777)


def layer_tar(members: list[F], fmt: int = tarfile.PAX_FORMAT) -> bytes:
    """An uncompressed layer tar with exactly these members (names written verbatim)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tar:
        for m in members:
            info = tarfile.TarInfo(m.name)
            info.type = m.type
            info.mode = m.mode
            info.uid = m.uid
            info.linkname = m.link
            if m.type in (tarfile.REGTYPE, tarfile.AREGTYPE):
                info.size = len(m.data)
                tar.addfile(info, io.BytesIO(m.data))
            else:
                tar.addfile(info)
    return buf.getvalue()


def compress(data: bytes, kind: str) -> bytes:
    """gzip / zstd / none."""
    if kind == "gzip":
        return gzip.compress(data, compresslevel=1)
    if kind == "zstd":
        return zstandard.ZstdCompressor().compress(data)
    return data


def sha(data: bytes) -> str:
    """``sha256:<hex>``."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def image_config(diff_ids: list[str], *, history: list[dict[str, Any]] | None = None,
                 config: dict[str, Any] | None = None, arch: str = "amd64") -> dict[str, Any]:
    """A minimal image config JSON."""
    return {
        "architecture": arch,
        "os": "linux",
        "config": config or {},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": history or [{"created_by": f"layer {i}"} for i in range(len(diff_ids))],
    }


def docker_save(path: Path, layers: list[bytes], *, compression: str = "none",
                tags: tuple[str, ...] = ("test/img:1",), config: dict[str, Any] | None = None,
                history: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Write a docker-save tar (Docker ≥ 25 style blobs/ paths); returns the config."""
    diff_ids = [sha(layer) for layer in layers]
    cfg = image_config(diff_ids, history=history, config=config)
    cfg_bytes = json.dumps(cfg).encode()
    files: dict[str, bytes] = {}
    paths = []
    for layer in layers:
        blob = compress(layer, compression)
        name = f"blobs/sha256/{hashlib.sha256(blob).hexdigest()}"
        files[name] = blob
        paths.append(name)
    cfg_name = f"blobs/sha256/{hashlib.sha256(cfg_bytes).hexdigest()}"
    files[cfg_name] = cfg_bytes
    files["manifest.json"] = json.dumps(
        [{"Config": cfg_name, "RepoTags": list(tags), "Layers": paths}]).encode()
    path.write_bytes(layer_tar([F(n, d) for n, d in files.items()]))
    return cfg


def oci_layout(root: Path, images: dict[str, list[bytes]], *, compression: str = "gzip",
               as_tar: Path | None = None, ref: str = "test/img:1") -> None:
    """An OCI layout with one index listing one manifest per platform (``os/arch``)."""
    blobs: dict[str, bytes] = {}

    def put(data: bytes) -> dict[str, Any]:
        digest = sha(data)
        blobs[f"blobs/sha256/{digest[7:]}"] = data
        return {"digest": digest, "size": len(data)}

    manifests = []
    for plat, layers in images.items():
        os_name, arch = plat.split("/")[:2]
        cfg = image_config([sha(layer) for layer in layers], arch=arch)
        cfg_desc = put(json.dumps(cfg).encode())
        layer_descs = []
        for layer in layers:
            d = put(compress(layer, compression))
            media = {"gzip": "+gzip", "zstd": "+zstd"}.get(compression, "")
            layer_descs.append({"mediaType": f"application/vnd.oci.image.layer.v1.tar{media}", **d})
        manifest = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **cfg_desc},
            "layers": layer_descs,
        }
        desc = put(json.dumps(manifest).encode())
        manifests.append({"mediaType": "application/vnd.oci.image.manifest.v1+json", **desc,
                          "platform": {"os": os_name, "architecture": arch}})
    nested = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
              "manifests": manifests}
    nested_desc = put(json.dumps(nested).encode())
    index = {"schemaVersion": 2, "manifests": [
        {"mediaType": "application/vnd.oci.image.index.v1+json", **nested_desc,
         "annotations": {"org.opencontainers.image.ref.name": ref}}]}
    files = {"oci-layout": b'{"imageLayoutVersion":"1.0.0"}', "index.json": json.dumps(index).encode(),
             **blobs}
    if as_tar is not None:
        as_tar.write_bytes(layer_tar([F(n, d) for n, d in files.items()]))
        return
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)


OS_RELEASE_DEBIAN = (
    b'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n'
    b"VERSION_CODENAME=bookworm\n"
)
