"""Property-based fuzzing of every image decoder: no exception but the typed input error.

Decoders and what they may raise:

* metadata (`dockguard.image.decode`: docker-save manifest, OCI index/manifest, image config,
  `decode.load` of raw bytes) → `InputError`;
* dpkg status / apk installed stanza parsers → nothing (they skip what they cannot use);
* rpm header blobs → `RpmError`;
* the tar header reader → `TarError`; the layer analysis over it → nothing (it records why
  the layer stopped);
* a whole docker-save archive through `build_inventory` → `DockguardError` only;
* a damaged cache entry → a miss (``LayerCache.get`` never raises).
"""

from __future__ import annotations

import contextlib
import io
import json
import struct
import tarfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dockguard.errors import DockguardError
from dockguard.image import decode
from dockguard.image.inventory import apk, dpkg
from dockguard.image.inventory.rpm import RpmError, parse_header
from dockguard.image.layers import LayerAnalysis, analyse_layer
from dockguard.image.limits import Limits
from dockguard.image.tarstream import TarError, TarReader
from dockguard.inputs import InputError

LIMITS = Limits()
FUZZ = settings(max_examples=300, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

DIGEST = "sha256:" + "ab" * 32
scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70),
                    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=30),
                    st.just(DIGEST), st.just("sha256:short"))
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=5), st.dictionaries(st.text(max_size=10), inner, max_size=5)),
    max_leaves=30)


def maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly the well-formed value, sometimes anything."""
    return st.one_of(strategy, strategy, json_values)


descriptor = st.fixed_dictionaries(
    {"digest": maybe(st.just(DIGEST)), "size": maybe(st.integers(-5, 10**6))},
    optional={"mediaType": maybe(st.sampled_from(decode.INDEX_TYPES + decode.MANIFEST_TYPES)),
              "platform": maybe(st.fixed_dictionaries({}, optional={"os": maybe(st.just("linux")),
                                                                      "architecture": maybe(st.just("amd64")),
                                                                      "variant": json_values})),
              "annotations": maybe(st.dictionaries(st.sampled_from(["org.opencontainers.image.ref.name", "x"]),
                                                   json_values, max_size=2))})
oci_documents = st.one_of(
    st.fixed_dictionaries({"manifests": maybe(st.lists(maybe(descriptor), max_size=4))},
                          optional={"mediaType": maybe(st.sampled_from(decode.INDEX_TYPES))}),
    st.fixed_dictionaries({"config": maybe(descriptor), "layers": maybe(st.lists(maybe(descriptor), max_size=4))},
                          optional={"mediaType": maybe(st.sampled_from(decode.MANIFEST_TYPES))}),
    json_values,
)
manifests = maybe(st.lists(maybe(st.fixed_dictionaries(
    {"Config": maybe(st.text(max_size=20))},
    optional={"Layers": maybe(st.lists(maybe(st.text(max_size=10)), max_size=4)),
              "RepoTags": maybe(st.lists(maybe(st.text(max_size=10)), max_size=3))})), max_size=3))
inner_config = st.fixed_dictionaries({}, optional={
    "User": json_values, "Env": maybe(st.lists(maybe(st.text(max_size=20)), max_size=4)),
    "Labels": maybe(st.dictionaries(st.text(max_size=8), maybe(st.text(max_size=8)), max_size=3)),
    "ExposedPorts": json_values,
    "Healthcheck": maybe(st.fixed_dictionaries({}, optional={"Test": maybe(st.lists(json_values, max_size=3))}))})
configs = maybe(st.fixed_dictionaries({}, optional={
    "os": json_values, "architecture": json_values, "variant": json_values,
    "rootfs": maybe(st.fixed_dictionaries({}, optional={"diff_ids": maybe(st.lists(maybe(st.just(DIGEST)),
                                                                                   max_size=4))})),
    "history": maybe(st.lists(maybe(st.fixed_dictionaries({}, optional={
        "created_by": maybe(st.text(max_size=40)), "empty_layer": maybe(st.booleans())})), max_size=4)),
    "config": maybe(inner_config), "Config": maybe(inner_config)}))


@FUZZ
@given(manifests)
def test_docker_manifest_decoder(doc: Any) -> None:
    try:
        entries = decode.docker_manifest(doc, "manifest.json", LIMITS)
    except InputError:
        return
    assert entries and all(isinstance(e.config, str) and all(isinstance(p, str) for p in e.layers) for e in entries)


@FUZZ
@given(oci_documents)
def test_oci_document_decoder(doc: Any) -> None:
    try:
        out = decode.oci_document(doc, "index.json", LIMITS)
    except InputError:
        return
    descs = out.manifests if isinstance(out, decode.OciIndex) else (out.config, *out.layers)
    assert all(d.digest == DIGEST for d in descs)


@FUZZ
@given(configs)
def test_image_config_decoder(doc: Any) -> None:
    try:
        cfg = decode.image_config(doc, "config.json", LIMITS)
    except InputError:
        return
    # What downstream code relies on holds: these must not raise.
    from dockguard.image.layers import map_history
    from dockguard.image.secrets import scan_config

    ids = decode.diff_ids(cfg)
    map_history(cfg, ids)
    scan_config(cfg)
    str(decode.platform_of(cfg))


@FUZZ
@given(st.one_of(st.binary(max_size=300), json_values.map(lambda v: json.dumps(v).encode()),
                 st.integers(1, 3000).map(lambda n: b"[" * n + b"]" * n)))
def test_metadata_bytes(data: bytes) -> None:
    try:
        doc = decode.load(data, "doc.json", LIMITS)
    except InputError:
        return
    for fn in (decode.docker_manifest, decode.oci_document, decode.image_config):
        with contextlib.suppress(InputError):
            fn(doc, "doc.json", LIMITS)


field_lines = st.lists(st.one_of(
    st.sampled_from([b"Package: a", b"Version: 1", b"Status: install ok installed", b"Status: x",
                     b"Architecture: amd64", b"Source: s (2)", b"", b" continuation", b"P:a", b"V:1",
                     b"o:orig", b"A:x86_64", b"L:MIT", b"Package:", b"Version: " + b"9" * 5000]),
    st.binary(max_size=40)), max_size=40).map(lambda lines: b"\n".join(lines))


@FUZZ
@given(st.one_of(st.binary(max_size=2000), field_lines), st.integers(0, 50))
def test_dpkg_and_apk_parsers(data: bytes, limit: int) -> None:
    for parser in (dpkg.parse_bytes, apk.parse_bytes):
        for fields in parser(data, limit):
            assert all(isinstance(k, str) and isinstance(v, str) for k, v in fields.items())
        assert len(parser(data, limit)) <= limit


def _header(entries: list[tuple[int, int, int, int]], data: bytes, il: int | None, dl: int | None) -> bytes:
    head = struct.pack(">ii", len(entries) if il is None else il, len(data) if dl is None else dl)
    return head + b"".join(struct.pack(">iiii", *e) for e in entries) + data


i32 = st.integers(-(2**31), 2**31 - 1)
rpm_headers = st.builds(
    _header,
    st.lists(st.tuples(st.sampled_from([1000, 1001, 1002, 1003, 1014, 1022, 1044, 1011, 5]),
                       st.sampled_from([4, 6, 9, 0, 8]), st.one_of(st.integers(-4, 40), i32),
                       st.one_of(st.integers(0, 3), i32)), max_size=8),
    st.binary(max_size=64), st.one_of(st.none(), i32), st.one_of(st.none(), i32))


@FUZZ
@given(st.one_of(rpm_headers, st.binary(max_size=200), st.text(max_size=20), st.integers(), st.none()))
def test_rpm_header_parser(blob: Any) -> None:
    try:
        h = parse_header(blob)
    except RpmError:
        return
    assert isinstance(h.name, str) and isinstance(h.version, str)


def _tar_block(name: bytes, size: bytes, typeflag: bytes, magic: bytes, fix_checksum: bool) -> bytes:
    h = bytearray(512)
    h[0 : len(name[:100])] = name[:100]
    h[124 : 124 + len(size[:12])] = size[:12]
    h[156:157] = typeflag[:1] or b"0"
    h[257 : 257 + len(magic[:8])] = magic[:8]
    if fix_checksum:
        h[148:156] = b" " * 8
        h[148:156] = b"%06o\0 " % sum(h)
    return bytes(h)


tar_streams = st.lists(st.one_of(
    st.builds(_tar_block, st.binary(max_size=20), st.one_of(st.just(b"00000000010\0"), st.binary(max_size=12),
                                                            st.just(b"\x80" + b"\xff" * 11)),
              st.sampled_from([b"0", b"x", b"L", b"K", b"g", b"2", b"1", b"5", b"3", b"7", b"\0"]),
              st.sampled_from([b"ustar\x0000", b"ustar  \0", b""]), st.booleans()),
    st.binary(min_size=1, max_size=600)), max_size=6).map(b"".join)


def _real_tar(members: list[tuple[str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.pax_headers = {"uid": "x"} if name.startswith("u") else {}
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


real_tars = st.builds(_real_tar, st.lists(st.tuples(st.text(min_size=1, max_size=30), st.binary(max_size=50)),
                                          max_size=4))


@FUZZ
@given(st.one_of(tar_streams, real_tars, real_tars.map(lambda b: b[: len(b) // 2])), st.booleans())
def test_tar_reader_and_layer_analysis(data: bytes, seekable: bool) -> None:
    reader = TarReader(io.BytesIO(data), seekable=seekable, limits=LIMITS)
    try:
        for i, _entry in enumerate(reader):
            if i % 2:
                reader.read_body(1000)
    except TarError:
        pass
    analysis = analyse_layer(io.BytesIO(data), seekable=seekable, limits=LIMITS)
    assert isinstance(analysis.stopped, str)


@settings(max_examples=60, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(manifests, configs, st.booleans())
def test_whole_archive_through_build_inventory(tmp_path_factory: Any, manifest: Any, config: Any,
                                               compress_outer: bool) -> None:
    from dockguard.image.scan import build_inventory
    from dockguard.image.sources import open_target

    tmp = Path(tmp_path_factory.mktemp("fuzz-archive"))
    cfg = json.dumps(config).encode()
    members = {"manifest.json": json.dumps(manifest).encode(), "c.json": cfg,
               f"blobs/sha256/{__import__('hashlib').sha256(cfg).hexdigest()}": cfg,
               "layer.tar": _real_tar([("etc/os-release", b"ID=debian\n")])}
    raw = _real_tar(list(members.items()))
    path = tmp / ("img.tar.gz" if compress_outer else "img.tar")
    path.write_bytes(__import__("gzip").compress(raw) if compress_outer else raw)
    try:
        source = open_target(str(path))
        try:
            build_inventory(source)
        finally:
            source.close()
    except DockguardError:
        pass


@FUZZ
@given(st.binary(max_size=400))
def test_damaged_cache_entry_is_a_miss(tmp_path_factory: Any, data: bytes) -> None:
    import zstandard

    from dockguard.image.cache import LayerCache

    root = Path(tmp_path_factory.mktemp("fuzz-cache"))
    cache = LayerCache(root)
    key = "sha256:" + "cd" * 32
    cache.layers_dir.mkdir(parents=True)
    for blob in (data, zstandard.ZstdCompressor().compress(data),
                 zstandard.ZstdCompressor().compress(b'{"held": 10, "bodies": 0}\n' + data)):
        (cache.layers_dir / f"sha256-{'cd' * 32}.zst").write_bytes(blob)
        got = cache.get(key)  # never raises; damage is a miss
        assert got is None or (isinstance(got, LayerAnalysis) and got.held == 10)


# --- jars (the Java cataloguer's own central-directory reader) -------------------------------


def _jar(files: dict[str, bytes], *, stored: bool = False) -> bytes:
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue()


_INNER = _jar({"META-INF/maven/org.example/inner/pom.properties":
               b"groupId=org.example\nartifactId=inner\nversion=1.2.3\n", "a/B.class": b"\xca\xfe" * 50})
JAR = _jar({"META-INF/MANIFEST.MF": b"Manifest-Version: 1.0\nImplementation-Version: 9\n",
            "META-INF/maven/org.example/outer/pom.properties":
            b"groupId=org.example\nartifactId=outer\nversion=4.5.6\n",
            "BOOT-INF/lib/inner-1.2.3.jar": _INNER, "x/Y.class": b"\x00" * 300}, stored=True)


@FUZZ
@given(st.lists(st.tuples(st.integers(0, len(JAR) - 1), st.binary(min_size=1, max_size=8)), max_size=6),
       st.integers(0, len(JAR)))
def test_jar_reader_on_damaged_jars(edits: list[tuple[int, bytes]], cut: int) -> None:
    """Overwritten bytes anywhere (headers, sizes, offsets, the nested jar) and truncation:
    the reader reports problems, never raises."""
    from dockguard.image.inventory.java import scan_archive

    data = bytearray(JAR)
    for offset, patch in edits:
        data[offset:offset + len(patch)] = patch
    blob = bytes(data[:cut] if cut else data)
    found, problems = scan_archive(io.BytesIO(blob), len(blob), "/app.jar", LIMITS)
    assert isinstance(found, list) and isinstance(problems, list)


def test_undamaged_jar_yields_both_artifacts() -> None:
    from dockguard.image.inventory.java import scan_archive

    found, problems = scan_archive(io.BytesIO(JAR), len(JAR), "/app.jar", LIMITS)
    assert problems == []
    assert sorted((a.group, a.artifact, a.version) for a in found) == [
        ("org.example", "inner", "1.2.3"), ("org.example", "outer", "4.5.6")]


@FUZZ
@given(st.lists(st.tuples(st.integers(0, 299), st.binary(min_size=1, max_size=4)), min_size=1, max_size=8))
def test_jar_reader_on_damaged_directories(edits: list[tuple[int, bytes]]) -> None:
    """The same, aimed at the central directory and end record (counts, offsets, sizes,
    name lengths) of the outer jar."""
    from dockguard.image.inventory.java import scan_archive

    data = bytearray(JAR)
    base = max(0, len(data) - 300)
    for offset, patch in edits:
        data[base + offset:base + offset + len(patch)] = patch
    blob = bytes(data[:len(JAR)])
    found, problems = scan_archive(io.BytesIO(blob), len(blob), "/app.jar", LIMITS)
    assert isinstance(found, list) and isinstance(problems, list)
