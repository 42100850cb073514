"""Digest verification, the scan budget, typed metadata decoding and the verified cache (units)."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
from pathlib import Path

import pytest

from dockguard.image import decode
from dockguard.image.cache import LayerCache
from dockguard.image.config_rules import check_image
from dockguard.image.digests import DigestingReader, DigestMismatch, check_bytes, digest_from_path
from dockguard.image.inventory import dpkg
from dockguard.image.inventory._stanzas import StanzaStats
from dockguard.image.layers import LayerAnalysis, analyse_layer
from dockguard.image.limits import BudgetExceeded, Limits, ScanBudget
from dockguard.image.scan import build_inventory
from dockguard.image.sources import LayerRef, open_target, run_layer, verify_layer
from dockguard.inputs import InputError
from dockguard.jsontypes import JsonObject
from tests.unit.image_helpers import F, docker_save, layer_tar, sha


def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("seekable", [True, False])
def test_digesting_reader_hashes_every_byte_once_despite_seeks(seekable: bool) -> None:
    data = bytes(range(256)) * 5000
    r = DigestingReader(io.BytesIO(data), ["sha256", "sha512"], seekable=seekable)
    assert r.read(100) == data[:100]
    if seekable:
        r.seek(200_000)               # a gap: hashed when crossed
        assert r.read(10) == data[200_000:200_010]
        r.seek(50)                    # behind the frontier: served, not hashed twice
        assert r.read(100) == data[50:150]
    got = r.finish()
    assert got == {"sha256": _sha(data), "sha512": "sha512:" + hashlib.sha512(data).hexdigest()}
    assert r.total == len(data)


def test_digesting_reader_charges_the_budget() -> None:
    budget = ScanBudget(Limits(max_scan_bytes=1000))
    r = DigestingReader(io.BytesIO(b"x" * 5000), ["sha256"], seekable=False, budget=budget)
    with pytest.raises(BudgetExceeded, match="more than 1000 layer bytes"):
        r.finish()
    r.stop()


def test_blob_names_and_check_bytes() -> None:
    d = _sha(b"abc")
    assert digest_from_path(f"blobs/sha256/{d[7:]}") == d
    assert digest_from_path("abc/layer.tar") == "" and digest_from_path("blobs/sha256/xyz") == ""
    check_bytes(b"abc", d, "x")
    with pytest.raises(DigestMismatch, match="does not match its digest"):
        check_bytes(b"abd", d, "x")
    with pytest.raises(DigestMismatch, match="malformed digest"):
        check_bytes(b"abc", "md5:00", "x")


@pytest.mark.parametrize("compression", ["none", "gzip"])
def test_run_layer_and_verify_layer(compression: str) -> None:
    tar = layer_tar([F("etc/os-release", b"ID=debian\n"), F("big", b"z" * 300_000)])
    blob = gzip.compress(tar) if compression == "gzip" else tar
    budget = ScanBudget()

    def analyse(stream: object) -> LayerAnalysis:
        return analyse_layer(stream.stream, seekable=stream.seekable, budget=budget)  # type: ignore[attr-defined]

    done = run_layer(io.BytesIO(blob), compression == "none", analyse, Limits(), budget,
                     blob_algos=("sha256",), diff_algos=("sha256",), what="t")
    assert done.diff == {"sha256": _sha(tar)} and done.blob == {"sha256": _sha(blob)}
    good = verify_layer(LayerRef(diff_id=_sha(tar), digest=_sha(blob)), done)
    assert good.verified and "etc/os-release" in good.analysis.files
    with pytest.raises(DigestMismatch, match="does not match the diff_id"):
        verify_layer(LayerRef(diff_id=_sha(b"other"), digest=_sha(blob)), done)
    with pytest.raises(DigestMismatch, match="does not match its digest"):
        verify_layer(LayerRef(diff_id=_sha(tar), digest=_sha(b"other")), done)


def test_stopped_layer_is_not_verified_and_not_cached(tmp_path: Path) -> None:
    tar = layer_tar([F(f"f{i}", b"") for i in range(20)])
    path = tmp_path / "img.tar"
    docker_save(path, [tar])
    cache = LayerCache(tmp_path / "cache")
    source = open_target(str(path))
    source.limits = Limits(max_entries=5)
    inv = build_inventory(source, cache)
    assert not inv.complete and any("more than 5 entries" in r for r in inv.incomplete)
    assert list((tmp_path / "cache").rglob("*.zst")) == []  # neither base analyses nor cataloguer records
    # Complete and verified: cached under the diff id, and a warm scan reads no layer.
    inv = build_inventory(open_target(str(path)), cache)
    assert inv.complete and len(list((tmp_path / "cache").glob("layers/v*/*.zst"))) == 1
    warm = open_target(str(path))
    build_inventory(warm, cache)
    assert warm.layer_opens == 0


def test_cached_entry_counts_against_the_budget(tmp_path: Path) -> None:
    path = tmp_path / "img.tar"
    cfg = docker_save(path, [layer_tar([F("var/lib/dpkg/status", b"Package: a\nVersion: 1\n\n" * 100)])])
    cache = LayerCache(tmp_path / "cache")
    build_inventory(open_target(str(path)), cache)
    diff_id = cfg["rootfs"]["diff_ids"][0]
    assert cache.get(diff_id, ScanBudget()) is not None
    with pytest.raises(BudgetExceeded):
        cache.get(diff_id, ScanBudget(Limits(max_held=100)))
    tight = open_target(str(path))
    tight.limits = Limits(max_held=100)
    inv = build_inventory(tight, cache)
    assert not inv.complete and any("cached analysis not loaded" in r for r in inv.incomplete)


def test_config_cache_is_checked(tmp_path: Path) -> None:
    cache = LayerCache(tmp_path)
    image_id = "sha256:" + "1" * 64
    config: JsonObject = {"rootfs": {"diff_ids": [sha(b"x")]}, "os": "linux"}
    cache.put_config(image_id, config)
    assert cache.get_config(image_id) == config
    stored = next((tmp_path / "configs").iterdir())
    stored.write_bytes(stored.read_bytes().replace(b"linux", b"linuz"))
    assert cache.get_config(image_id) is None


def test_decode_paths_and_limits() -> None:
    limits = Limits(max_layers=2)
    with pytest.raises(InputError, match=r"c\.json: \$\.rootfs\.diff_ids: 3 layers: more than the 2 allowed"):
        decode.image_config({"rootfs": {"diff_ids": [sha(b"a")] * 3}}, "c.json", limits)
    with pytest.raises(InputError, match=r"\$\[0\]\.Layers: 3 layers"):
        decode.docker_manifest([{"Config": "c", "Layers": ["a", "b", "c"]}], "m.json", limits)
    with pytest.raises(InputError, match="larger than the 10 allowed"):
        decode.load(b"[" + b" " * 20 + b"]", "x.json", Limits(max_json=10))
    idx = decode.oci_document({"manifests": [{"digest": sha(b"m"), "size": 1,
                                              "platform": {"os": "linux", "architecture": "arm64"}}]}, "i", limits)
    assert isinstance(idx, decode.OciIndex) and str(idx.manifests[0].platform) == "linux/arm64"


def test_dpkg_stream_parser_limits_and_long_fields() -> None:
    status = b"".join(b"Package: p%d\nVersion: 1\nStatus: install ok installed\n\n" % i for i in range(10))
    stats = StanzaStats()
    assert [f["Package"] for f in dpkg.parse_bytes(status, 4, stats)] == ["p0", "p1", "p2", "p3"]
    assert stats.truncated_at == 4
    long = b"Package: x\nVersion: " + b"1" * 5000 + b"\n\nPackage: y\nVersion: 2\n"
    stats = StanzaStats()
    assert [f["Package"] for f in dpkg.parse_bytes(long, 10, stats)] == ["y"]
    assert stats.too_long == 1 and "field longer than 4096" in stats.problems("/s")[0]
    # Continuation lines and other fields are never decoded into the result.
    text = b"Package: z\nDescription: d\n Package: fake\nVersion: 3\n"
    assert dpkg.parse_bytes(text) == [{"Package": "z", "Version": "3"}]


def test_findings_of_one_kind_are_grouped(tmp_path: Path) -> None:
    history = [{"created_by": "RUN x"}] + [{"created_by": f"RUN apt-get update # {i}", "empty_layer": True}
                                          for i in range(120)]
    path = tmp_path / "img.tar"
    docker_save(path, [layer_tar([F("a", b"1")])], history=history)
    inv = build_inventory(open_target(str(path)))
    findings = check_image(inv, "image:x", limit=10)
    updates = [f for f in findings if f.id == "IMG-UPDATE-ALONE"]
    assert len(updates) == 11 and updates[-1].fact("grouped") == "110"
    assert updates[-1].title == "… and 110 more IMG-UPDATE-ALONE findings (not listed one by one)"


def test_oci_blob_digest_mismatch_through_source(tmp_path: Path) -> None:
    from tests.unit.image_helpers import oci_layout

    oci_layout(tmp_path / "oci", {"linux/amd64": [layer_tar([F("a", b"1")])]}, compression="gzip")
    index = json.loads((tmp_path / "oci/index.json").read_text())
    assert index["manifests"]
    blobs = sorted((tmp_path / "oci/blobs/sha256").iterdir(), key=lambda p: p.stat().st_size)
    gz = next(p for p in blobs if p.read_bytes()[:2] == b"\x1f\x8b")
    gz.write_bytes(gzip.compress(layer_tar([F("a", b"1")]), compresslevel=9) + b"")
    if _sha(gz.read_bytes())[7:] == gz.name:
        pytest.skip("recompression produced identical bytes")
    with pytest.raises(DigestMismatch):
        build_inventory(open_target(f"oci:{tmp_path / 'oci'}", "linux/amd64"))


def test_file_rewritten_during_the_scan_is_refused_and_nothing_cached(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from dockguard.errors import OperationalError
    from dockguard.image import sources

    path = tmp_path / "img.tar"
    docker_save(path, [layer_tar([F("var/lib/dpkg/status", b"Package: a\nVersion: 1\n\n")])])
    real_start = sources.start_layer

    def start_then_rewrite(*args: object, **kwargs: object) -> object:
        layer = real_start(*args, **kwargs)  # type: ignore[arg-type]
        path.write_bytes(path.read_bytes())  # the same bytes, written again: a new mtime and ctime
        return layer

    monkeypatch.setattr(sources, "start_layer", start_then_rewrite)
    cache = LayerCache(tmp_path / "cache")
    with pytest.raises(OperationalError, match="changed while it was scanned"):
        build_inventory(open_target(str(path)), cache)
    assert list((tmp_path / "cache").rglob("*.zst")) == []
    monkeypatch.setattr(sources, "start_layer", real_start)
    assert build_inventory(open_target(str(path)), cache).complete  # untouched, the same file scans


def test_gaps_of_every_size_hash_every_byte_once_in_order() -> None:
    """Small skipped bodies are read by the reader, large ones by the hashing worker (over
    8 MiB with a read-ahead thread); the digest is that of the whole stream either way."""
    import os

    data = os.urandom(20 << 20)
    reads: list[tuple[int, int]] = []

    def pread(offset: int, n: int) -> bytes:
        reads.append((offset, n))
        return data[offset:offset + n]

    r = DigestingReader(io.BytesIO(data), ["sha256"], seekable=True, pread=(pread, len(data)))
    assert r.read(100) == data[:100]
    r.seek(100 + (600 << 10))        # 600 KiB skipped: read here
    assert r.read(10) == data[100 + (600 << 10):110 + (600 << 10)]
    r.seek(3 << 20)                  # ~2.4 MiB skipped: read by the worker
    assert r.read(10) == data[3 << 20:(3 << 20) + 10]
    r.seek(15 << 20)                 # 12 MiB skipped: read ahead by the worker's reader
    assert r.read(10) == data[15 << 20:(15 << 20) + 10]
    assert r.finish() == {"sha256": _sha(data)}
    assert reads and min(offset for offset, _ in reads) >= 110 + (600 << 10)  # the small gap was not a worker read
    assert r.total == len(data)
