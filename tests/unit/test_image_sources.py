"""Image sources (docker-save, OCI dir/tar, compressed archive, rootfs) and the layer cache."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from dockguard.errors import OperationalError, UsageError
from dockguard.image.cache import LayerCache
from dockguard.image.scan import build_inventory
from dockguard.image.sources import (
    ArchiveSource,
    RootfsSource,
    StreamingArchiveSource,
    open_target,
)
from tests.unit.image_helpers import OS_RELEASE_DEBIAN, D, F, docker_save, layer_tar, oci_layout

STATUS = (
    b"Package: libc6\nStatus: install ok installed\nVersion: 2.36-9+deb12u4\nArchitecture: amd64\n"
    b"Source: glibc\n\n"
    b"Package: bsdutils\nStatus: install ok installed\nVersion: 1:2.38.1-5+deb12u3\n"
    b"Architecture: amd64\nSource: util-linux (2.38.1-5+deb12u3)\n\n"
    b"Package: oldpkg\nStatus: deinstall ok config-files\nVersion: 1.0\n\n"
)
META = b"Metadata-Version: 2.1\nName: Jinja2\nVersion: 2.10\n\nlong description\n"


def layers() -> list[bytes]:
    base = layer_tar([D("etc"), F("etc/os-release", OS_RELEASE_DEBIAN),
                      F("var/lib/dpkg/status", STATUS)])
    app = layer_tar([F("usr/lib/python3/site-packages/Jinja2-2.10.dist-info/METADATA", META),
                     F("usr/bin/su", b"#!", mode=0o4755)])
    return [base, app]


def inventory_summary(source: object, cache: LayerCache | None = None) -> list[tuple[str, ...]]:
    inv = build_inventory(source, cache)  # type: ignore[arg-type]
    return [(p.type, p.name, p.version, p.source_name, p.source_version, p.layer, p.purl)
            for p in inv.packages]


@pytest.mark.parametrize("compression", ["none", "gzip", "zstd"])
def test_docker_save_with_each_layer_compression(tmp_path: Path, compression: str) -> None:
    tar = tmp_path / "img.tar"
    cfg = docker_save(tar, layers(), compression=compression)
    source = open_target(str(tar))
    assert isinstance(source, ArchiveSource)
    inv = build_inventory(source)
    assert inv.os is not None and (inv.os.family, inv.os.version) == ("debian", "12")
    names = {(p.name, p.version, p.layer) for p in inv.packages}
    base, app = cfg["rootfs"]["diff_ids"]
    assert names == {("libc6", "2.36-9+deb12u4", base), ("bsdutils", "1:2.38.1-5+deb12u3", base),
                     ("jinja2", "2.10", app)}
    assert [f.path for f in inv.setuid_files] == ["/usr/bin/su"]
    assert inv.metadata.repo_tags == ("test/img:1",)
    assert [layer.created_by for layer in inv.layers] == ["layer 0", "layer 1"]


def test_oci_dir_and_tar_and_docker_save_give_identical_inventories(tmp_path: Path) -> None:
    docker_save(tmp_path / "a.tar", layers())
    oci_layout(tmp_path / "oci", {"linux/amd64": layers(), "linux/arm64": layers()[:1]})
    oci_layout(tmp_path, {"linux/amd64": layers()}, compression="zstd",
               as_tar=tmp_path / "oci.tar")
    a = inventory_summary(open_target(f"docker-archive:{tmp_path / 'a.tar'}"))
    b = inventory_summary(open_target(f"oci:{tmp_path / 'oci'}", "linux/amd64"))
    c = inventory_summary(open_target(str(tmp_path / "oci.tar"), "linux/amd64"))
    assert a == b == c and len(a) == 3
    arm = inventory_summary(open_target(f"oci:{tmp_path / 'oci'}", "linux/arm64"))
    assert {p[1] for p in arm} == {"libc6", "bsdutils"}


def test_oci_unknown_platform_and_bad_platform(tmp_path: Path) -> None:
    oci_layout(tmp_path / "oci", {"linux/amd64": layers(), "linux/arm64": layers()})
    with pytest.raises(OperationalError, match=r"no image for platform linux/s390x.*linux/amd64"):
        open_target(f"oci:{tmp_path / 'oci'}", "linux/s390x").metadata()
    with pytest.raises(UsageError, match="bad platform"):
        open_target(f"oci:{tmp_path / 'oci'}", "amd64")


def test_gzip_compressed_outer_archive_streams(tmp_path: Path) -> None:
    plain = tmp_path / "a.tar"
    docker_save(plain, layers(), compression="gzip")
    gz = tmp_path / "a.tar.gz"
    gz.write_bytes(gzip.compress(plain.read_bytes()))
    source = open_target(str(gz))
    assert isinstance(source, StreamingArchiveSource)
    assert inventory_summary(source) == inventory_summary(open_target(str(plain)))


def test_corrupt_archives_give_operational_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.tar"
    bad.write_bytes(b"this is not a tar" * 100)
    with pytest.raises(OperationalError, match="not a tar file"):
        open_target(str(bad))
    plain = tmp_path / "p.tar"
    docker_save(plain, layers())
    truncated = tmp_path / "t.tar"
    truncated.write_bytes(plain.read_bytes()[:2000])
    with pytest.raises(OperationalError, match="corrupt image archive"):
        open_target(str(truncated)).metadata()
    nomanifest = tmp_path / "n.tar"
    nomanifest.write_bytes(layer_tar([F("hello", b"x")]))
    with pytest.raises(OperationalError, match="neither a docker-save archive"):
        open_target(str(nomanifest)).metadata()
    badjson = tmp_path / "j.tar"
    badjson.write_bytes(layer_tar([F("manifest.json", b"{nope")]))
    with pytest.raises(OperationalError, match="not valid JSON"):
        open_target(str(badjson)).metadata()
    with pytest.raises(OperationalError, match="no such file"):
        open_target(str(tmp_path / "missing.tar"))


def test_rootfs_directory_source(tmp_path: Path) -> None:
    root = tmp_path / "rootfs"
    (root / "etc").mkdir(parents=True)
    (root / "etc/os-release").write_bytes(OS_RELEASE_DEBIAN)
    (root / "var/lib/dpkg").mkdir(parents=True)
    (root / "var/lib/dpkg/status").write_bytes(STATUS)
    for target in (str(root), f"dir:{root}"):
        source = open_target(target)
        assert isinstance(source, RootfsSource)
        assert [p[1] for p in inventory_summary(source)] == ["bsdutils", "libc6"]


class CountingSource(ArchiveSource):
    """An archive source that records how many layer blobs it opened."""

    opened: list[str]

    def open_blob(self, ref):  # type: ignore[no-untyped-def]
        self.opened.append(ref.location)
        return super().open_blob(ref)


def test_cache_rescan_reads_no_layer(tmp_path: Path) -> None:
    tar = tmp_path / "img.tar"
    docker_save(tar, layers(), compression="gzip")
    cache = LayerCache(tmp_path / "cache")
    first = CountingSource(tar)
    first.opened = []
    cold = inventory_summary(first, cache)
    assert len(first.opened) == 2 and cache.misses == 2
    second = CountingSource(tar)
    second.opened = []
    warm = inventory_summary(second, cache)
    assert second.opened == [] and cache.hits == 2
    assert warm == cold
    # A damaged entry is a miss, not a crash.
    for entry in (tmp_path / "cache").rglob("*.zst"):
        entry.write_bytes(b"garbage")
    third = CountingSource(tar)
    third.opened = []
    assert inventory_summary(third, cache) == cold and len(third.opened) == 2


def test_duplicate_manifest_entries_warn(tmp_path: Path) -> None:
    tar = tmp_path / "img.tar"
    docker_save(tar, layers())
    # Re-pack with two manifest entries.
    import tarfile

    with tarfile.open(tar) as t:
        members = {m.name: t.extractfile(m).read() for m in t.getmembers() if m.isfile()}  # type: ignore[union-attr]
    manifest = json.loads(members["manifest.json"])
    members["manifest.json"] = json.dumps(manifest * 2).encode()
    tar.write_bytes(layer_tar([F(n, d) for n, d in members.items()]))
    inv = build_inventory(open_target(str(tar)))
    assert any("2 images" in w for w in inv.warnings)
