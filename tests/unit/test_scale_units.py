"""Pure parts of the scale work: store URLs, documents, Link paging, registry URLs, progress,
layer-analysis payloads and the inventory document round trip."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path
from typing import Any

import pytest
import zstandard
from hypothesis import given, settings
from hypothesis import strategies as st

from dockguard.commands.registry_scan import parse_registry
from dockguard.errors import UsageError
from dockguard.image.layers import LayerAnalysis
from dockguard.image.packages import OSInfo, Package
from dockguard.inputs import InputError
from dockguard.jsontypes import JsonObject
from dockguard.scale import image_adapter as adapter
from dockguard.scale.catalog import next_last
from dockguard.scale.progress import ScanProgress
from dockguard.store import Dialect, finding_key, parse_store_url
from dockguard.store.documents import clean, pack, unpack


def test_store_urls(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("DOCKGUARD_STORE", raising=False)
    default = parse_store_url(None)
    assert default.dialect is Dialect.SQLITE and default.path is not None
    assert default.path.name == "store.sqlite" and default.path.parent.name == "dockguard"
    monkeypatch.setenv("DOCKGUARD_STORE", str(tmp_path / "env.sqlite"))
    assert parse_store_url(None).path == tmp_path / "env.sqlite"
    assert parse_store_url("sqlite:///abs/s.db").path == Path("/abs/s.db")
    assert parse_store_url("sqlite:rel/s.db").path == Path("rel/s.db")
    assert parse_store_url("plain.sqlite").path == Path("plain.sqlite")
    pg = parse_store_url("postgresql://scan:hunter2@db.example:5432/dockguard?sslmode=verify-full")
    assert pg.dialect is Dialect.POSTGRES and pg.has_password
    assert "hunter2" not in pg.display() and "scan:***@db.example:5432" in pg.display()
    assert not parse_store_url("postgres://scan@db.example/dg").has_password
    for bad, message in (("mysql://x/y", "unsupported store mysql://"), ("postgresql:///dbonly", "needs a host"),
                         ("sqlite://relative", "ABSOLUTE"), ("sqlite:", "needs a path"), ("a\x00b", "invalid"),
                         ("", "invalid")):
        with pytest.raises(UsageError, match=message):
            parse_store_url(bad)


def test_documents_round_trip_and_caps() -> None:
    doc = {"a": ["\udc80 lone", "\x00nul", "ünï"], "n": 2**60}
    blob, size = pack(doc)
    assert unpack(blob, size, 1 << 20, "t") == doc
    with pytest.raises(InputError, match="more than the 10 allowed"):
        unpack(blob, size, 10, "t")
    with pytest.raises(InputError, match="not bytes"):
        unpack("text", size, 1 << 20, "t")
    with pytest.raises(InputError):
        unpack(blob, True, 1 << 20, "t")
    assert clean("a\x00b\udc80") == "a\\x00b\\udc80"
    assert len(clean("x" * 100, 10)) == 11


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200), st.integers(min_value=-5, max_value=1000))
def test_unpack_only_raises_input_errors(blob: bytes, size: int) -> None:
    with contextlib.suppress(InputError):
        unpack(blob, size, 1000, "fuzz")


def test_finding_keys_are_stable_and_separated() -> None:
    assert finding_key("a", "b") == finding_key("a", "b")
    assert finding_key("ab", "c") != finding_key("a", "bc")
    assert len(finding_key("x")) == 40


def test_link_paging() -> None:
    assert next_last('</v2/_catalog?last=team%2Fapp&n=100>; rel="next"') == "team/app"
    assert next_last("</v2/x/tags/list?n=5&last=v9>; rel=next") == "v9"
    assert next_last('<https://elsewhere.example/v2/_catalog?last=b>; rel="next"') == "b"  # only `last` is used
    assert next_last('</v2/_catalog?last=b>; rel="prev"') is None
    assert next_last("") is None
    assert next_last("<" + "a" * 10_000 + '>; rel="next"') is None


def test_registry_urls() -> None:
    assert parse_registry("127.0.0.1:5000") == ("127.0.0.1:5000", False)
    assert parse_registry("http://localhost:5000/") == ("localhost:5000", True)
    assert parse_registry("https://registry.example/v2/") == ("registry.example", False)
    assert parse_registry("http://registry.example:5000", insecure=True) == ("registry.example:5000", True)
    for bad in ("ftp://x", "http://registry.example", "https://user@registry.example", "registry.example/path",
                "https://", "bad host:1", "host:99999"):
        with pytest.raises(UsageError):
            parse_registry(bad)


def test_progress_lines() -> None:
    out = io.StringIO()
    p = ScanProgress(images_total=10, layers_total=4, bytes_total=4 << 20, stream=out)
    assert p.eta() is None
    p.images_done, p.layers_done, p.bytes_done = 5, 2, 2 << 20
    assert "images 5/10, layers 2/4, 2.0 MiB/4.0 MiB, ETA" in p.line()
    p.note("phase")
    p.finish()
    assert out.getvalue().startswith("dockguard: phase\n") and "images 5/10" in out.getvalue()
    quiet = io.StringIO()
    ScanProgress(stream=quiet, enabled=False).finish()
    assert quiet.getvalue() == ""


def analysis() -> LayerAnalysis:
    a = LayerAnalysis()
    a.entries["bin/sh"] = ("2", 0o777, 0, 0, 0, "busybox")
    a.paths += ["etc/passwd", "tmp"]
    a.files["var/lib/dpkg/status"] = b"Package: x\n"
    a.whiteouts.append("old")
    a.held = 1234
    return a


def test_layer_payload_round_trip_and_damage() -> None:
    a = analysis()
    payload = adapter.encode_analysis(a)
    back = adapter.decode_analysis(payload, a.held, "t")
    assert (back.entries, back.paths, back.files, back.whiteouts, back.held) == (
        a.entries, a.paths, a.files, a.whiteouts, a.held)
    with pytest.raises(InputError, match="summary does not match"):
        adapter.decode_analysis(payload, a.held + 1, "t")
    with pytest.raises(InputError):
        adapter.decode_analysis(payload[:-5], a.held, "t")
    with pytest.raises(InputError):
        adapter.decode_analysis(b"junk", a.held, "t")
    bomb = zstandard.ZstdCompressor().compress(b'{"held": 10, "bodies": 0}\n' + b"[" * 10_000_000)
    with pytest.raises(InputError, match="cut short or too long"):
        adapter.decode_analysis(bomb, 10, "t")


def test_inventory_document_is_type_checked() -> None:
    pkg = Package("deb", "libc6", "2.36-9", "glibc", "2.36-9", "amd64", "pkg:deb/debian/libc6@2.36-9",
                  "sha256:l", "/var/lib/dpkg/status", False, ("LGPL",))
    doc: dict[str, Any] = {
        "os": {"family": "debian", "version": "12", "codename": "bookworm", "pretty_name": "D", "eol": None,
               "unstable": False}, "packages": [{f: getattr(pkg, f) for f in pkg.__slots__}]}
    doc["packages"][0]["licenses"] = list(pkg.licenses)
    os_info, packages = adapter.packages_from_doc(doc, "t")
    assert os_info == OSInfo("debian", "12", "bookworm", "D", None, False) and packages == [pkg]
    assert adapter.inventory_key(doc) == adapter.inventory_key(dict(doc))
    bad_docs: list[tuple[JsonObject, str]] = [
        ({"packages": {}}, "$.packages"), ({"packages": [{"name": 1}]}, "$.packages[0].name"),
        ({"os": {"family": 3}}, "$.os.family"), ({"os": {"eol": "no"}}, "$.os.eol"),
        ({"packages": [{"licenses": [1]}]}, "$.packages[0].licenses[0]")]
    for bad, where in bad_docs:
        with pytest.raises(InputError) as info:
            adapter.packages_from_doc(bad, "t")
        assert where in str(info.value)
