"""Property-based fuzzing of the advisory decoders and the version comparators.

Whatever the bytes or values, the decoders (OSV records, Alpine secdb, the Debian tracker,
the YAML/JSON/zip/stream layers under them) raise nothing but `InputError`, and the
comparators raise nothing at all.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dockguard.inputs import InputError
from dockguard.model import VulnState
from dockguard.vuln.database import AffectedRow
from dockguard.vuln.importers import alpine_secdb, bounded_decode, debian_tracker, osv
from dockguard.vuln.match import evaluate_range
from dockguard.vuln.versions import (
    Incomparable,
    compare_apk,
    compare_cargo,
    compare_checked,
    compare_composer,
    compare_dpkg,
    compare_gem,
    compare_generic,
    compare_maven,
    compare_nuget,
    compare_pep440,
    compare_rpm,
    compare_semver,
    php_version_compare,
    rpmvercmp,
)

COMPARATORS = [compare_dpkg, compare_apk, compare_rpm, rpmvercmp, compare_pep440, compare_semver, compare_generic,
               compare_maven, compare_gem, compare_composer, compare_nuget, compare_cargo]
ECOSYSTEMS = ["Debian:12", "Ubuntu:22.04", "Alpine:v3.19", "Rocky Linux:9", "PyPI", "npm", "Go", "Maven", "RubyGems",
              "Packagist", "crates.io", "NuGet", "Wolfi", "SUSE:Linux Enterprise 15 SP5"]

_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20))
_json = st.recursive(
    _scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)),
    max_leaves=30,
)
_keys = st.sampled_from(["id", "affected", "package", "ecosystem", "name", "ranges", "type", "events", "introduced",
                         "fixed", "versions", "aliases", "severity", "score", "summary", "references", "url",
                         "withdrawn", "database_specific", "ecosystem_specific", "modified", "upstream"])
# Values shaped like OSV records: the right keys with values of any type, nested.
_osvish = st.recursive(
    st.one_of(_scalars, st.sampled_from(["PyPI", "Debian:12", "ECOSYSTEM", "SEMVER", "0", "1.0", "x"])),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(_keys, inner, max_size=5)),
    max_leaves=40,
)
# Versions: arbitrary text plus the shapes that used to raise.
_versions = st.one_of(
    st.text(max_size=30),
    st.from_regex(r"\A[0-9]{1,3}(:)?[0-9.²³¹٣-]{0,10}\Z"),
    st.integers(min_value=4000, max_value=6000).map(lambda n: "1." + "9" * n),
    st.sampled_from(["1.²", "²:1", "v1.²", "1:" + "9" * 5000, "٣.1", "1.0\x00", "", " "]),
)


def _only_input_errors(fn: Any, *args: Any) -> Any:
    try:
        return fn(*args)
    except InputError:
        return None


@settings(max_examples=300, deadline=None)
@given(_versions, _versions)
def test_comparators_never_raise(a: str, b: str) -> None:
    for cmp in COMPARATORS:
        r = cmp(a, b)
        assert isinstance(r, int)
        assert cmp(a, a) == 0
    assert isinstance(php_version_compare(a, b), int)  # PHP's own: not reflexive ("1." < "1.")
    for eco in ECOSYSTEMS:
        r2 = compare_checked(eco, a, b)
        assert isinstance(r2, int | Incomparable)


@settings(max_examples=200, deadline=None)
@given(_versions, st.lists(st.tuples(st.sampled_from(["introduced", "fixed", "last_affected", "limit"]), _versions),
                           max_size=4), st.sampled_from(ECOSYSTEMS))
def test_evaluate_never_raises(installed: str, events: list[tuple[str, str]], eco: str) -> None:
    row = AffectedRow(1, eco, "p", [["ECOSYSTEM", [list(e) for e in events]]], [], "", "")
    result = evaluate_range(row, installed)
    assert result is None or isinstance(result.state, VulnState)
    if result is not None and result.state is VulnState.UNKNOWN:
        assert result.reason.startswith("cannot compare")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(_json, _osvish))
def test_osv_records(value: Any) -> None:
    adv = _only_input_errors(osv.parse_record, value, "r.json")
    if adv is not None:
        assert adv.id.strip()
    _only_input_errors(lambda: list(osv.advisories([("r.json", (), value)])))


@settings(max_examples=200, deadline=None)
@given(st.one_of(_json, st.fixed_dictionaries(
    {"distroversion": st.one_of(st.just("v3.19"), _scalars), "reponame": st.one_of(st.just("main"), _scalars),
     "packages": st.one_of(_json, st.lists(st.fixed_dictionaries({"pkg": st.one_of(_json, st.fixed_dictionaries(
         {"name": st.one_of(st.just("zlib"), _scalars),
          "secfixes": st.one_of(_json, st.dictionaries(st.text(max_size=8), _json, max_size=3))}))}), max_size=3))})))
def test_alpine_secdb(value: Any) -> None:
    imp = _only_input_errors(alpine_secdb.importer, value, "s.json")
    if imp is not None:
        assert all(a.affected for a in imp.advisories)


_release = st.one_of(_json, st.fixed_dictionaries({
    "status": st.one_of(st.sampled_from(["resolved", "open", "undetermined"]), _scalars),
    "fixed_version": _json, "urgency": _json, "nodsa_reason": _json,
}))
_tracker_entry = st.one_of(_json, st.fixed_dictionaries({
    "description": _json,
    "releases": st.one_of(_json, st.dictionaries(st.sampled_from(["bookworm", "sid", "x"]), _release, max_size=3)),
}))
_tracker = st.one_of(_json, st.dictionaries(
    st.text(max_size=8), st.one_of(_json, st.dictionaries(st.text(max_size=8), _tracker_entry, max_size=3)), max_size=3,
))


@settings(max_examples=200, deadline=None)
@given(_tracker)
def test_debian_tracker_document(value: Any) -> None:
    def run() -> list[Any]:
        return list(debian_tracker.advisories(debian_tracker.document_entries(value, "t.json"), "t.json"))

    _only_input_errors(run)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.binary(max_size=300), _json.map(lambda v: json.dumps(v).encode()),
                 st.tuples(_json, st.integers(0, 200), st.binary(max_size=3)).map(
                     lambda t: json.dumps({"p": {"c": t[0]}}).encode()[: t[1]] + t[2])))
def test_streamed_json(data: bytes) -> None:
    stream = bounded_decode.JsonStream(io.BytesIO(data), "t.json", entry_limit=128)
    for keys, value in _only_input_errors(lambda: list(stream.entries(("object", "object")))) or []:
        assert len(keys) == 2 and isinstance(value, dict)
    _only_input_errors(lambda: list(bounded_decode.JsonStream(io.BytesIO(data), "t.json").entries(("array",))))


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.binary(max_size=200), st.text(max_size=200).map(str.encode),
                 st.from_regex(r"\A([a-z&*!\[\]{}:,\- \n]|\"|'|%|\t){0,80}\Z").map(str.encode)))
def test_document_decoders(data: bytes) -> None:
    _only_input_errors(bounded_decode.decode_yaml, data, "d.yaml")
    _only_input_errors(bounded_decode.decode_json, data, "d.json")


def _small_zip(tmp: Path) -> bytes:
    path = tmp / "a.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("A-1.json", json.dumps({"id": "A-1", "summary": "s" * 50}))
        zf.writestr("B-1.yaml", "id: B-1\n")
    return path.read_bytes()


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), min_size=1, max_size=6))
def test_mutated_zip_archives(tmp_path: Path, flips: list[tuple[int, int]]) -> None:
    data = bytearray(_small_zip(tmp_path))
    for at, value in flips:
        data[at % len(data)] = value
    path = tmp_path / "m.zip"
    path.write_bytes(bytes(data))
    _only_input_errors(lambda: list(osv.advisories(osv.iter_zip(path))))
