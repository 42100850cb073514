"""Property-based fuzzing of every decoder of the I/O layer: the only exception is `InputError`.

Decoders: seccomp profiles, snapshots, JSON reports (``diff`` input), suppressions and OpenVEX
documents.  Each is fed (1) arbitrary bytes and (2) a valid document with one value replaced by
arbitrary JSON or one key removed, which reaches the typed layers behind the parser.  When a
document is accepted, what the CLI does next with it must not raise either: lint/explain/diff
of a profile, the CIS checks and report formats over a snapshot, suppression and comparison of
a report, applying VEX statements.  (The CLI runs of the same inputs are in test_io_*.py.)
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import json
import re
from collections.abc import Callable
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dockguard import suppress, vex
from dockguard.checks.catalogue import catalogue
from dockguard.engine import Options
from dockguard.inputs import InputError
from dockguard.model import Outcome, ProfileSubject, Report, ReportSource, Surface
from dockguard.pipeline import report_diff
from dockguard.pipeline.bench import assemble, snapshot_findings
from dockguard.pipeline.seccomp_lint import diagnostic_finding
from dockguard.report import json as json_report
from dockguard.report import load
from dockguard.report.formats import RenderOptions, render
from dockguard.seccomp import explain, lint
from dockguard.seccomp import profile_diff as seccomp_diff
from dockguard.seccomp.effective import ProfileContext
from dockguard.seccomp.profile import parse_profile
from dockguard.serial import to_jsonable
from dockguard.snapshot import ConfigSource, ConfigValue, DaemonConfig, JsonValue, Snapshot
from tests.report_sample import sample_report
from tests.unit.test_core import full_snapshot

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.sampled_from([2**63, 2**64, -(2**63) - 1, 10**300, 4096, -1, 0])
    | st.floats(allow_nan=False)
    | st.text(max_size=12)
    | st.sampled_from(["", "garbage", "SCMP_ACT_KILL", "HIGH", "WARN", "4.8", "2024-13-45", "pkg:deb/x@1"])
)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)


def _paths(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [path]
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*path, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, (*path, i))
    return out


@st.composite
def mutated(draw: st.DrawFn, base: Any) -> Any:
    """`base` with one value replaced by arbitrary JSON, or one object key removed."""
    doc = copy.deepcopy(base)
    path = draw(st.sampled_from(_paths(doc)))
    value = draw(JSON)
    if not path:
        return value
    parent = doc
    for part in path[:-1]:
        parent = parent[part]
    if isinstance(parent, dict) and draw(st.booleans()):
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return doc


def _dumps(doc: Any) -> str:
    # allow_nan: Infinity/NaN literals must be refused by the parser, not crash a consumer
    return json.dumps(doc, allow_nan=True)


def _only_input_errors(fn: Callable[[], object]) -> object:
    try:
        return fn()
    except InputError:
        return None


# --- seccomp profiles -------------------------------------------------------------------------

PROFILE = {
    "defaultAction": "SCMP_ACT_ERRNO",
    "defaultErrnoRet": 1,
    "archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]}],
    "syscalls": [
        {"names": ["read", "write", "clone3"], "action": "SCMP_ACT_ALLOW"},
        {"names": ["clone"], "action": "SCMP_ACT_ALLOW",
         "args": [{"index": 0, "value": 2114060288, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}],
         "excludes": {"caps": ["CAP_SYS_ADMIN"], "arches": ["s390x"]}},
        {"names": ["ptrace"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "4.8", "caps": ["CAP_SYS_PTRACE"]}},
        {"name": "mount", "action": "SCMP_ACT_KILL", "comment": "no"},
        {"names": ["statx"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
    ],
}
CONTEXTS = [ProfileContext("amd64"), ProfileContext("s390x", frozenset(), (3, 10))]
_BASE = parse_profile(json.dumps(PROFILE)).profile
assert _BASE is not None
BASE_PROFILE = _BASE


def _use_profile(text: str) -> None:
    result = parse_profile(text, "fuzz.json")
    findings = tuple(diagnostic_finding(d, "profile:fuzz.json", "fuzz.json")
                     for d in lint.lint_result(result, text, "amd64"))
    source = ReportSource(Surface.SECCOMP_LINT, profiles=(ProfileSubject("profile:fuzz.json", "fuzz.json"),))
    report = Report(tool_version="0", started=0.0, finished=0.0, source=source, findings=findings)
    for fmt in ("text", "json", "sarif", "junit"):
        render(report, fmt)
    lint.security_issues(text, "amd64")
    if result.profile is not None and not any(d.rejected_by_docker for d in result.diagnostics):
        for ctx in CONTEXTS:
            items = explain.explain(result.profile, ctx)
            explain.render_text(items, ctx, "fuzz.json")
            explain.render_json(items, ctx, "fuzz.json")
            d = seccomp_diff.diff_profiles(result.profile, BASE_PROFILE, ctx)
            seccomp_diff.render_text(d, "a", "b")
            seccomp_diff.render_json(d, "a", "b")


@FUZZ
@given(mutated(PROFILE))
def test_seccomp_profile_decoder(doc: Any) -> None:
    _only_input_errors(lambda: _use_profile(_dumps(doc)))


@FUZZ
@given(st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_seccomp_profile_bytes(data: bytes) -> None:
    _only_input_errors(lambda: _use_profile(data.decode("utf-8", "surrogateescape")))
    _only_input_errors(lambda: parse_profile(data))


# --- snapshots --------------------------------------------------------------------------------

def _rich_snapshot() -> dict[str, Any]:
    snap = full_snapshot()  # schema 2: endpoint probes, image scans, seccomp settings, sockets
    values: dict[str, JsonValue] = {"hosts": ("unix:///var/run/docker.sock", "tcp://0.0.0.0:2376"), "tlsverify": True,
              "insecure-registries": ("10.0.0.0/8",), "storage-opts": ("dm.basesize=10G",), "log-level": "info",
              "authorization-plugins": ("authz",), "default-ulimits": {"nofile": {"Hard": 1, "Soft": 1}}}
    assert snap.daemon is not None
    config = DaemonConfig({k: ConfigValue(v, ConfigSource.FILE) for k, v in values.items()},
                          "/etc/docker/daemon.json", True)
    inline = _dumps({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": []})
    containers = tuple(dataclasses.replace(c, security_opt=(f"seccomp={inline}",)) for c in snap.containers or ())
    snap = dataclasses.replace(snap, daemon=dataclasses.replace(snap.daemon, config=config), containers=containers,
                               created=1.7e9)
    doc = to_jsonable(snap)
    assert isinstance(doc, dict)
    return doc


def _schema_1_snapshot() -> dict[str, Any]:
    """A schema 1 document (``extras`` with an endpoint probe) from the schema 2 one."""
    doc = copy.deepcopy(SNAPSHOT)
    doc["schema_version"] = 1
    for key in ("endpoint_probes", "image_scans"):
        doc.pop(key)
    doc["host"].pop("docker_sockets")
    doc["host"].pop("docker_tcp_listeners")
    for c in doc["containers"]:
        c.pop("seccomp")
    doc["extras"] = {"endpoint_probe": [{
        "address": "tcp://127.0.0.1:2375", "outcome": "WARN", "message": "m",
        "summary": {"plain_http": True, "steps": {"plain-http": "COMPLETED"}, "tls_versions": {"TLSv1.2": "accepted"}},
        "findings": [{"id": "E-1", "kind": "endpoint", "severity": "HIGH", "title": "t", "obj": "endpoint:x"}]}]}
    return doc


SNAPSHOT = _rich_snapshot()
SNAPSHOT_1 = _schema_1_snapshot()
#: How the engine words a check that raised (``TypeError: ...``), as opposed to a fact's error.
CRASH = re.compile(r"[A-Z][A-Za-z]*(Error|Exception): ")
CHECKS = catalogue()


def _use_snapshot(text: str) -> None:
    snapshot = Snapshot.from_json(text, "fuzz.json")
    report = assemble(snapshot, CHECKS, Options(), started=0.0, findings=snapshot_findings(snapshot))
    errors = [r for r in report.results if r.outcome is Outcome.ERROR and CRASH.match(r.reason)]
    assert not errors, [(r.id, r.reason) for r in errors]  # a check crashed on a typed snapshot
    for fmt in ("text", "json", "docker-bench-json"):
        render(report, fmt, RenderOptions())


@FUZZ
@given(mutated(SNAPSHOT))
def test_snapshot_decoder(doc: Any) -> None:
    _only_input_errors(lambda: _use_snapshot(_dumps(doc)))


@FUZZ
@given(mutated(SNAPSHOT_1))
def test_schema_1_snapshot_decoder(doc: Any) -> None:
    _only_input_errors(lambda: _use_snapshot(_dumps(doc)))


@FUZZ
@given(st.binary(max_size=200))
def test_snapshot_bytes(data: bytes) -> None:
    _only_input_errors(lambda: Snapshot.from_json(data, "fuzz.json"))


# --- JSON reports (diff input) ----------------------------------------------------------------

REPORT = json.loads(json_report.render(sample_report()))
TODAY = dt.date(2026, 1, 1)
ENTRIES = suppress.parse("suppressions:\n  - {id: '5.*', container: web, reason: r}\n"
                         "  - {id: CVE-2023-0286, reason: r, expires: 2025-01-01}\n")


def _use_report(text: str) -> None:
    report = load.loads(text, "fuzz.json")
    d = report_diff.diff_runs(report_diff.reduce(report), report_diff.reduce(load.loads(_dumps(REPORT))), "a", "b")
    d = suppress.apply(d, ENTRIES, today=TODAY)
    for fmt in ("text", "json", "sarif", "junit"):
        render(d, fmt)


@FUZZ
@given(mutated(REPORT))
def test_report_decoder(doc: Any) -> None:
    _only_input_errors(lambda: _use_report(_dumps(doc)))


@FUZZ
@given(st.binary(max_size=200))
def test_report_bytes(data: bytes) -> None:
    _only_input_errors(lambda: load.loads(data, "fuzz.json"))


# --- suppressions -----------------------------------------------------------------------------

SUPPRESSIONS = {"version": 1, "suppressions": [
    {"id": "CVE-2023-0286", "image": "app:*", "purl": "pkg:deb/debian/openssl@*", "path": "/usr/*",
     "expires": "2026-12-31", "reason": "accepted"},
    {"id": "5.4", "container": "web", "reason": "dev"},
]}


def _use_suppressions(text: str | bytes) -> None:
    entries = suppress.parse(text, "fuzz.yaml")
    suppress.expired_warnings(entries, TODAY)
    suppress.apply(sample_report(), entries, today=TODAY)


@FUZZ
@given(mutated(SUPPRESSIONS))
def test_suppressions_decoder(doc: Any) -> None:
    _only_input_errors(lambda: _use_suppressions(yaml.safe_dump(doc)))
    _only_input_errors(lambda: _use_suppressions(_dumps(doc)))  # JSON is YAML too


@FUZZ
@given(st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_suppressions_bytes(data: bytes) -> None:
    _only_input_errors(lambda: _use_suppressions(data))


# --- OpenVEX ----------------------------------------------------------------------------------

VEX = {
    "@context": "https://openvex.dev/ns/v0.2.0",
    "timestamp": "2024-01-01T00:00:00.123456789Z",
    "statements": [
        {"vulnerability": {"name": "CVE-2023-0286", "aliases": ["GHSA-x"]},
         "products": [{"@id": "app:1.0", "subcomponents": [{"@id": "pkg:deb/debian/openssl@3.0.11"}]},
                      {"@id": "x", "identifiers": {"purl": "pkg:oci/app@sha256:" + "a" * 64},
                       "hashes": {"sha-256": "b"}}],
         "status": "not_affected", "justification": "component_not_present"},
        {"vulnerability": "CVE-2024-2511", "products": ["pkg:pypi/Jinja2"], "status": "fixed",
         "timestamp": "2024-02-01T00:00:00+02:00"},
    ],
}


def _use_vex(text: str) -> None:
    statements = vex.parse(text, "fuzz.json")
    vex.apply(sample_report(), statements, ("app:1.0", "sha256:" + "a" * 64))


@FUZZ
@given(mutated(VEX))
def test_vex_decoder(doc: Any) -> None:
    _only_input_errors(lambda: _use_vex(_dumps(doc)))


@FUZZ
@given(st.binary(max_size=200))
def test_vex_bytes(data: bytes) -> None:
    _only_input_errors(lambda: vex.parse(data, "fuzz.json"))
