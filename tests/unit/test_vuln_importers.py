"""The bounded decoders agree with the formats they read (YAML strings, zip variants, streaming)."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest

from dockguard.inputs import InputError
from dockguard.vuln import importers
from dockguard.vuln.importers import bounded_decode, debian_tracker


def test_yaml_keeps_every_scalar_a_string() -> None:
    doc = bounded_decode.decode_yaml(b"a: 1.10\nb: [0, yes, null, 2024-01-31]\nc:\n'0': x\n", "t.yaml")
    assert doc == {"a": "1.10", "b": ["0", "yes", "null", "2024-01-31"], "c": "", "0": "x"}
    assert bounded_decode.decode_yaml(b"", "t.yaml") is None
    assert bounded_decode.decode_yaml(b"just text", "t.yaml") == "just text"
    assert bounded_decode.decode_yaml(b"- !!python/object:os.system x\n", "t.yaml") == ["x"]  # tags are ignored


def test_yaml_anchor_without_alias_is_harmless_but_aliases_are_refused() -> None:
    assert bounded_decode.decode_yaml(b"a: &x 1\nb: 2\n", "t.yaml") == {"a": "1", "b": "2"}
    with pytest.raises(InputError, match="line 2: YAML aliases are not accepted"):
        bounded_decode.decode_yaml(b"a: &x 1\nb: *x\n", "t.yaml")


@pytest.mark.parametrize("chunk", [1, 2, 7, 1 << 20])
def test_stream_walk_is_independent_of_read_chunks(monkeypatch: pytest.MonkeyPatch, chunk: int) -> None:
    doc: dict[str, dict[str, Any]] = {
        "p\u00e9": {"CVE-1": {"d": "a]}\\\"[{\u2603", "r": [1, {"x": None}]}, "CVE-2": {}}, "q": {},
           "r": {"CVE-3": {"e": "\\"}}}
    data = json.dumps(doc, ensure_ascii=False).encode()
    monkeypatch.setattr(bounded_decode, "_CHUNK", chunk)
    got = list(bounded_decode.JsonStream(io.BytesIO(b" \n" + data + b"\n "), "t").entries(("object", "object")))
    assert got == [(("p\u00e9", "CVE-1"), doc["p\u00e9"]["CVE-1"]), (("p\u00e9", "CVE-2"), {}),
                   (("r", "CVE-3"), {"e": "\\"})]


def test_stream_of_a_list() -> None:
    data = json.dumps([{"id": "A"}, {"id": "B"}]).encode()
    stream = bounded_decode.JsonStream(io.BytesIO(data), "t")
    assert [v for _, v in stream.entries(("array",))] == [{"id": "A"}, {"id": "B"}]
    with pytest.raises(InputError, match=r"\$\[1\]: expected an object"):
        list(bounded_decode.JsonStream(io.BytesIO(b'[{"id": "A"}, 5]'), "t").entries(("array",)))


@pytest.mark.parametrize(("method", "zip64"), [(zipfile.ZIP_DEFLATED, False), (zipfile.ZIP_STORED, False),
                                               (zipfile.ZIP_DEFLATED, True)])
def test_zip_members_of_python_written_archives(tmp_path: Path, method: int, zip64: bool) -> None:
    path = tmp_path / "a.zip"
    with zipfile.ZipFile(path, "w", method) as zf:
        for i in range(3):
            with zf.open(f"d/R-{i}.json", "w", force_zip64=zip64) as f:
                f.write(json.dumps({"id": f"R-{i}", "details": "x" * 5000}).encode())
        zf.writestr("d/", b"")
        zf.writestr("README.md", b"not a record")
    got = list(bounded_decode.zip_members(path, bounded_decode.ImportBudget(), suffixes=(".json",)))
    assert [n for n, _ in got] == ["d/R-0.json", "d/R-1.json", "d/R-2.json"]
    assert json.loads(got[2][1])["id"] == "R-2"


def test_import_budget_spans_every_input(tmp_path: Path) -> None:
    path = tmp_path / "a.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for i in range(3):
            zf.writestr(f"R-{i}.json", json.dumps({"id": f"R-{i}", "details": "x" * 1000}))
    with pytest.raises(InputError, match="more than the 2500 bytes allowed for one import"):
        list(bounded_decode.zip_members(path, bounded_decode.ImportBudget(limit=2500), suffixes=(".json",)))


def test_small_and_streamed_tracker_give_the_same_advisories(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    doc = {
        "openssl": {
            "CVE-2024-1": {"description": "line one\nline two", "debianbug": 5, "releases": {
                "bookworm": {"status": "resolved", "fixed_version": "3.0.13-1~deb12u1", "urgency": "medium"},
                "sid": {"status": "open", "urgency": "low**", "nodsa_reason": "postponed"}}},
        },
        "zlib": {"CVE-2024-2": {"releases": {"bookworm": {"status": "resolved", "fixed_version": "0"}}}},
    }
    path = tmp_path / "tracker.json"
    path.write_text(json.dumps(doc))
    (small,) = importers.load(path)
    monkeypatch.setattr(bounded_decode, "MAX_DOCUMENT_BYTES", 10)  # force the streaming reader
    (streamed,) = importers.load(path)
    whole = list(small.advisories)
    assert whole == list(streamed.advisories)
    assert [a.id for a in whole] == ["CVE-2024-1", "CVE-2024-2"]
    assert whole[0].summary == "line one"
    eco = {a.ecosystem: a for a in whole[0].affected}
    assert eco["Debian:12"].ranges[0][1][-1] == ("fixed", "3.0.13-1~deb12u1")
    assert eco["Debian:sid"].status == "fix_deferred" and eco["Debian:sid"].severity == "debian:low"
    assert whole[1].affected[0].status == "not_affected"
    assert debian_tracker.looks_like(doc)
