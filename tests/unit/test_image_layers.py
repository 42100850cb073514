"""Layer analysis and squash on synthetic tars: whiteouts, opaque dirs, attribution, hostility."""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from pathlib import Path

import pytest
import zstandard

from dockguard.image.layers import LayerAnalysis, analyse_layer, squash
from dockguard.image.limits import Limits
from dockguard.image.tarstream import TarError, TarReader, open_layer_stream
from tests.unit.image_helpers import D, F, L, layer_tar


def analyse(data: bytes, limits: Limits | None = None, seekable: bool = True) -> LayerAnalysis:
    raw = io.BytesIO(data)
    ls = open_layer_stream(raw, seekable=seekable, limits=limits or Limits())
    return analyse_layer(ls.stream, seekable=ls.seekable, limits=limits or Limits())


def names(a: LayerAnalysis) -> list[str]:
    """Every entry path of a layer, notable or not, in archive order."""
    return sorted(set(a.entries) | set(a.paths))


STATUS_A = b"Package: a\nStatus: install ok installed\nVersion: 1\n\n"


def test_whiteout_deletes_file_and_subtree_from_lower_layers_only() -> None:
    lower = analyse(layer_tar([D("etc"), F("etc/keep", b"k"), F("etc/gone", b"g"), D("opt/app"),
                               F("opt/app/x", b"x"), F("opt/app/sub/y", b"y")]))
    upper = analyse(layer_tar([F("etc/.wh.gone"), F("opt/.wh.app"), F("opt/app2", b"new"),
                               F("etc/.wh.keep"), F("etc/keep", b"re-added in the same layer")]))
    assert "etc/gone" not in names(upper) and upper.whiteouts == ["etc/gone", "opt/app", "etc/keep"]
    fs = squash([lower, upper])
    assert "etc/gone" not in fs.layer_of
    assert not any(p.startswith("opt/app/") or p == "opt/app" for p in fs.layer_of)
    assert fs.layer_of["opt/app2"] == 1
    # A whiteout applies to lower layers; the same layer's own file survives.
    assert fs.layer_of["etc/keep"] == 1


def test_opaque_dir_hides_lower_contents_but_keeps_dir_and_own_files() -> None:
    lower = analyse(layer_tar([D("var/lib/dpkg"), F("var/lib/dpkg/status", STATUS_A),
                               F("var/lib/dpkg/other", b"o"), F("var/libx", b"sibling")]))
    upper = analyse(layer_tar([D("var/lib/dpkg"), F("var/lib/dpkg/.wh..wh..opq"),
                               F("var/lib/dpkg/new", b"n")]))
    fs = squash([lower, upper])
    assert "var/lib/dpkg/status" not in fs.layer_of and "var/lib/dpkg/status" not in fs.files
    assert "var/lib/dpkg/other" not in fs.layer_of
    assert fs.layer_of["var/lib/dpkg"] == 1 and fs.layer_of["var/lib/dpkg/new"] == 1
    assert fs.layer_of["var/libx"] == 0  # a prefix that is not a child is untouched


def test_dot_slash_prefixes_are_normalised_and_rewrites_reattribute() -> None:
    first = analyse(layer_tar([D("./"), D("./etc"), F("./etc/os-release", b"ID=alpine\n")]))
    second = analyse(layer_tar([F("etc//os-release", b"ID=debian\n")]))
    assert "etc/os-release" in names(first) and "" not in names(first)
    fs = squash([first, second])
    assert fs.read("/etc/os-release") == (1, b"ID=debian\n")


def test_rewrite_without_collectable_body_hides_older_body() -> None:
    first = analyse(layer_tar([F("var/lib/dpkg/status", STATUS_A)]))
    big = Limits(max_read=10)
    second = analyse(layer_tar([F("var/lib/dpkg/status", STATUS_A * 3)]), big)
    assert any("-byte cap for one file" in e for e in second.incomplete)
    fs = squash([first, second])
    assert "var/lib/dpkg/status" not in fs.files
    assert fs.layer_of["var/lib/dpkg/status"] == 1


def test_symlinks_resolve_inside_the_virtual_root() -> None:
    layer = analyse(layer_tar([D("usr/lib"), F("usr/lib/os-release", b"ID=debian\n"),
                               L("etc/os-release", "../usr/lib/os-release"),
                               L("etc/abs", "/usr/lib/os-release")]))
    fs = squash([layer])
    assert fs.read("etc/os-release") == (0, b"ID=debian\n")
    assert fs.read("etc/abs") == (0, b"ID=debian\n")


@pytest.mark.parametrize(
    ("member", "message"),
    [
        (F("/etc/passwd", b"root"), "unsafe path"),
        (F("../../escape", b"x"), "unsafe path"),
        (F("a/../../b", b"x"), "unsafe path"),
        (L("etc/evil", "../../../../etc/shadow"), "escaping the root"),
        (F("etc/hl", type=tarfile.LNKTYPE, link="../outside"), "unsafe target"),
        (F("etc/hl2", type=tarfile.LNKTYPE, link="/etc/shadow"), "unsafe target"),
        (F("dev/sda", type=tarfile.BLKTYPE), "device node"),
        (F("dev/mem", type=tarfile.CHRTYPE), "device node"),
    ],
)
def test_hostile_entries_are_reported_and_skipped(member: F, message: str) -> None:
    a = analyse(layer_tar([F("ok", b"fine"), member]))
    assert any(message in e for e in a.errors), a.errors
    assert names(a) == ["ok"]


def test_huge_member_is_not_read_beyond_the_bound() -> None:
    data = b"Package: x\n" + b"A" * 5000
    a = analyse(layer_tar([F("var/lib/dpkg/status", data)]), Limits(max_read=1000))
    assert "var/lib/dpkg/status" not in a.files
    assert any("over the 1000-byte cap for one file" in e for e in a.incomplete)


def test_entry_count_bound_stops_the_layer() -> None:
    a = analyse(layer_tar([F(f"f{i}", b"") for i in range(50)]), Limits(max_entries=10))
    assert len(names(a)) == 10
    assert any("more than 10 entries" in e for e in a.incomplete) and a.stopped


@pytest.mark.parametrize("kind", ["gzip", "zstd"])
def test_decompression_bomb_is_stopped_by_ratio(kind: str) -> None:
    zeros = layer_tar([F("big", b"\0" * (8 * 1024 * 1024))])
    blob = gzip.compress(zeros) if kind == "gzip" else zstandard.ZstdCompressor().compress(zeros)
    limits = Limits(max_read=64 * 1024, max_ratio=50)
    a = analyse(blob, limits, seekable=False)
    assert any("decompression ratio above 50:1" in e for e in a.incomplete), a.incomplete


def test_decompressed_total_bound() -> None:
    data = layer_tar([F(f"f{i}", bytes(range(256)) * 200) for i in range(20)])
    limits = Limits(max_layer_bytes=200_000, max_read=10_000, max_ratio=10**9)
    a = analyse(gzip.compress(data), limits, seekable=False)
    assert any("exceeds 200000 bytes" in e for e in a.incomplete)


def test_truncated_and_corrupt_tars_raise() -> None:
    data = layer_tar([F("a", b"x" * 3000)])
    with pytest.raises(TarError, match="truncated"):
        list(TarReader(io.BytesIO(data[:1500]), seekable=False))
    bad = bytearray(data)
    bad[0:5] = b"XXXXX"
    with pytest.raises(TarError, match="checksum"):
        list(TarReader(io.BytesIO(bytes(bad)), seekable=True))
    a = analyse(data[:1500], seekable=False)
    assert any("truncated" in e for e in a.incomplete) and "truncated" in a.stopped


def test_long_names_gnu_and_pax() -> None:
    long = "d/" + "x" * 150 + "/METADATA"
    for fmt in (tarfile.GNU_FORMAT, tarfile.PAX_FORMAT):
        path = "usr/lib/python3/site-packages/" + "n" * 120 + ".dist-info/METADATA"
        a = analyse(layer_tar([F(long, b"a"), F(path, b"Name: n\nVersion: 1\n\n")], fmt=fmt))
        assert long in names(a) and path in a.parts["python"]


def test_layer_analysis_json_round_trip(tmp_path: Path) -> None:
    from dockguard.image.cache import LayerCache

    a = analyse(layer_tar([F("var/lib/dpkg/status", STATUS_A), F("etc/.wh.x"), F("etc/os-release", b"ID=x\n"),
                           F("etc/app.env", b"DB_PASSWORD=hunter2hunter2\n")]))
    records = [json.loads(json.dumps(r)) for r in a.records(batch=2)]
    bodies = iter(a.bodies())
    base = LayerAnalysis.from_records(records, lambda size: next(bodies))
    assert (base.entries, base.paths, base.whiteouts, base.files, base.secrets) == (
        a.entries, a.paths, a.whiteouts, a.files, a.secrets)
    assert a.secrets and "hunter2" not in str(a.secrets)
    # Through the cache: the base and every cataloguer's records (empty ones included).
    cache = LayerCache(tmp_path)
    cache.put("sha256:" + "ab" * 32, a)
    got = cache.get("sha256:" + "ab" * 32)
    assert got is not None and got.parts == a.parts and got.held == a.held
    assert got.parts["dpkg"] == {"var/lib/dpkg/status": STATUS_A}
    assert sorted(p.name for p in (tmp_path / "layers").iterdir()) == ["dpkg-v1", "v4"]


def test_directory_analysis_matches_tar_analysis(tmp_path: Path) -> None:
    from dockguard.image.layers import analyse_directory

    (tmp_path / "var/lib/dpkg").mkdir(parents=True)
    (tmp_path / "var/lib/dpkg/status").write_bytes(STATUS_A)
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/os-release").symlink_to("../usr/lib/os-release")
    a = analyse_directory(str(tmp_path))
    assert a.parts["dpkg"]["var/lib/dpkg/status"] == STATUS_A
    assert a.entries["etc/os-release"][5] == "../usr/lib/os-release"


def test_upper_layer_rewrite_clears_lower_notable_entry() -> None:
    lower = analyse(layer_tar([F("usr/bin/su", b"x", mode=0o4755), D("data", 0o777)]))
    upper = analyse(layer_tar([F("usr/bin/su", b"x", mode=0o755), D("data", 0o755)]))
    assert "usr/bin/su" in lower.entries and "usr/bin/su" in upper.paths
    fs = squash([lower, upper])
    assert "usr/bin/su" not in fs.entries and "data" not in fs.entries
    assert fs.layer_of["usr/bin/su"] == 1 and fs.layer_of["data"] == 1
