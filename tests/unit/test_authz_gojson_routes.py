"""Reading bodies like Go's encoding/json, and routing URIs like dockerd's router."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from dockguard.authz.gojson import BodyError, GoObject, Reader, fold, map_items, parse_body, raw_field
from dockguard.authz.routes import ENDPOINTS, Kind, compare_versions, normalise

REPO = Path(__file__).resolve().parents[2]


# ------------------------------------------------------------------------------ gojson


def test_fold_matches_go_simple_folding() -> None:
    assert fold("PRIVILEGED") == fold("privileged") == "privileged"
    assert fold("Bind\u017f") == "binds"  # long s
    assert fold("\u212aernel") == "kernel"  # Kelvin sign
    assert fold("Bınds") != "binds"  # dotless i is alone in its fold orbit


def test_field_lookup_is_case_insensitive_and_last_wins() -> None:
    body = parse_body(b'{"Privileged": false, "privileged": true}')
    assert raw_field(body, "Privileged") is True
    body = parse_body(b'{"CapAdd": ["SYS_ADMIN"], "capadd": []}')
    assert raw_field(body, "CapAdd") == []


def test_duplicate_objects_merge_and_null_changes_nothing() -> None:
    body = parse_body(b'{"HostConfig": {"Privileged": true}, "HostConfig": {"Memory": 5}, "HostConfig": null}')
    hc = raw_field(body, "HostConfig")
    assert isinstance(hc, GoObject)
    assert raw_field(hc, "Privileged") is True and raw_field(hc, "Memory") == 5
    assert raw_field(parse_body(b'{"Privileged": true, "Privileged": null}'), "Privileged") is True


def test_map_keys_are_exact() -> None:
    opts = parse_body(b'{"device": "/srv", "Device": "/etc", "device": "/var"}')
    assert map_items(opts) == {"device": "/var", "Device": "/etc"}


def test_reader_types_and_paths() -> None:
    r = Reader()
    body = parse_body(b'{"HostConfig": {"Privileged": "yes", "Binds": ["/a:/b", 3], "Memory": 1e3}}')
    assert isinstance(body, GoObject)
    hc = r.sub(body, "HostConfig", ())
    with pytest.raises(BodyError, match=r"\$\.HostConfig\.Privileged: expected a boolean, got a string"):
        r.flag(hc, "Privileged", ("HostConfig",))
    with pytest.raises(BodyError, match=r"\$\.HostConfig\.Binds\[1\]: expected a string, got a number"):
        r.strings(hc, "Binds", ("HostConfig",))
    with pytest.raises(BodyError, match="expected an integer"):
        r.integer(hc, "Memory", ("HostConfig",))
    with pytest.raises(BodyError, match="64-bit"):
        r.integer(r.obj(parse_body(b'{"Memory": 99999999999999999999}'), ()), "Memory", ())


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"{", "not valid JSON"),
        (b'{"a": NaN}', "not acceptable JSON"),
        (b"[" * 40 + b"]" * 40, "nested deeper"),
        (b'{"a": "\xff"}', "not UTF-8"),
    ],
)
def test_hostile_bodies_are_body_errors(data: bytes, problem: str) -> None:
    with pytest.raises(BodyError, match=problem):
        parse_body(data)


# ------------------------------------------------------------------------------ routes


@pytest.mark.parametrize(
    ("uri", "path", "version"),
    [
        ("/v1.41/containers/create?name=x", "/containers/create", "1.41"),
        ("/containers/create", "/containers/create", None),
        ("/v1.41/containers%2Fcreate", "/containers/create", "1.41"),
        ("//v1.41//containers///create/", "/containers/create", "1.41"),
        ("/v1.41/images/../containers/./create", "/containers/create", "1.41"),
        ("http://docker/v1.23/containers/c/start?x=1", "/containers/c/start", "1.23"),
        ("/v1.41", "/", "1.41"),
    ],
)
def test_normalise(uri: str, path: str, version: str | None) -> None:
    route = normalise("post", uri)
    assert route.method == "POST" and route.path == path and route.version == version


def test_query_is_parsed_and_matched_case_insensitively() -> None:
    route = normalise("POST", "/v1.41/build?networkmode=default&NetworkMode=host&t=x")
    assert route.params("networkmode") == ["default", "host"]
    assert route.kinds == {Kind.BUILD}


def test_versions_compare_like_moby() -> None:
    assert compare_versions("1.23", "1.24") < 0
    assert compare_versions("1.023", "1.24") < 0
    assert compare_versions("1.24.0", "1.24") == 0
    assert compare_versions("1.x", "1.0") == 0
    assert compare_versions("2", "1.45") > 0
    assert normalise("POST", "/v1.23.9/containers/c/start").older_than("1.24")
    assert not normalise("POST", "/containers/c/start").older_than("1.24")


def test_ambiguous_paths_get_every_judgement() -> None:
    # "/containers/{name:.*}" also matches a checkpoint path: both judgements apply
    route = normalise("DELETE", "/v1.41/containers/a/checkpoints/b?dir=/etc")
    assert route.kinds == {Kind.ALLOW, Kind.CHECKPOINT_DELETE}
    assert route.var(Kind.CHECKPOINT_DELETE, "checkpoint") == "b"


def test_unknown_head_options() -> None:
    assert normalise("GET", "/v1.41/nonsense").matches == ()
    assert normalise("HEAD", "/_ping").kinds == {Kind.ALLOW}
    assert normalise("OPTIONS", "/anything/at/all").kinds == {Kind.ALLOW}


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=[f"{e.method} {e.pattern}" for e in ENDPOINTS])
def test_every_endpoint_routes_to_itself(endpoint) -> None:  # type: ignore[no-untyped-def]
    path = re.sub(r"\{\w+\}", "some-id", endpoint.pattern)
    route = normalise(endpoint.method, f"/v1.41{path}?a=b")
    assert endpoint in [e for e, _ in route.matches]


def test_docs_list_every_endpoint() -> None:
    text = (REPO / "docs" / "authz.md").read_text()
    for e in ENDPOINTS:
        judged = "allowed" if e.kind is Kind.ALLOW else "judged"
        row = f"| {e.method} | `{e.pattern}` | {e.since} | {judged} |"
        assert row in text, f"{row} missing from docs/authz.md"
    rows = [line for line in text.splitlines() if re.match(r"\| (GET|POST|PUT|DELETE|HEAD) \| `/", line)]
    assert len(rows) == len(ENDPOINTS)


def test_field_index_agrees_with_go_rules() -> None:
    """The one-value index (ASCII keys, none folding alike) answers as the per-key lists do."""
    from dockguard.authz.gojson import _MISSING, _combine

    bodies = [
        '{"Privileged": true, "Binds": ["/a:/a"], "Memory": null, "Labels": {"a": "1"}}',
        '{"privileged": false, "Privileged": true}',
        '{"Privileged": true, "Privileged": false}',
        '{"Privileged": true, "Privileged": null}',
        '{"Bind\u017f": ["/etc:/x"], "Binds": null}',
        '{"HostConfig": {"Privileged": true}, "hostconfig": {"PidMode": "host"}}',
        "{}",
    ]
    for text in bodies:
        obj = parse_body(text)
        assert isinstance(obj, GoObject)
        for name in ("Privileged", "Binds", "Memory", "Labels", "HostConfig", "Absent"):
            values = obj.folded().get(name.lower())
            want = _MISSING if values is None else _combine(values)
            assert GoObject(obj.pairs).field(name) == want, (text, name)
    merged = parse_body('{"HostConfig": {"Privileged": true}, "hostconfig": {"PidMode": "host"}}')
    assert isinstance(merged, GoObject)
    hc = merged.field("HostConfig")
    assert isinstance(hc, GoObject) and hc.field("Privileged") is True and hc.field("PidMode") == "host"
