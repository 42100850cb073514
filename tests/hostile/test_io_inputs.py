"""Hostile snapshots, reports, suppressions and VEX files: one clear error, exit 2, bounded.

Every input is built in the test (small on disk: streamed or sparse), fed to the real CLI,
and the run must end with exit 2 and one line naming the file and, where the problem sits
inside the document, its JSON path, with no traceback, no "internal error", peak memory under
the documented ceiling and nothing written outside the test's directories.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.hostile.harness import MAX_RSS_MIB, CliRun, run_cli

DEEP = "[" * 100_000
HUGE_INT = "9" * 5000


def _expect_input_error(run: CliRun, tmp_path: Path, *needles: str) -> None:
    assert run.code == 2, (run.code, run.stderr)
    assert not run.traceback and "internal error" not in run.stderr, run.stderr
    lines = [line for line in run.stderr.splitlines() if line.startswith("dockguard: error:")]
    assert len(lines) == 1, run.stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    assert len(lines[0]) < 600
    assert run.max_rss_mib < MAX_RSS_MIB
    assert run.writes_outside(tmp_path) == []


def _snapshot(tmp_path: Path, **fields: object) -> Path:
    path = tmp_path / "snap.json"
    path.write_text(json.dumps({"schema_version": 1, **fields}))
    return path


def _report(tmp_path: Path, name: str = "report.json", **fields: object) -> Path:
    path = tmp_path / name
    path.write_text(json.dumps({"schema_version": 1, "results": [], "findings": [], **fields}))
    return path


def _rootfs(tmp_path: Path) -> Path:
    root = tmp_path / "rootfs"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "os-release").write_text("ID=debian\nVERSION_ID=12\n")
    return root


# --- nesting: "[" x 100000 in every JSON format, and in YAML ----------------------------------

def _deep_file(tmp_path: Path, text: str = DEEP, name: str = "deep.json") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


DEEP_CASES: dict[str, Callable[[Path], list[str]]] = {
    "snapshot": lambda t: ["bench", "--snapshot", str(_deep_file(t))],
    "seccomp-profile": lambda t: ["seccomp", "lint", str(_deep_file(t))],
    "seccomp-explain": lambda t: ["seccomp", "explain", str(_deep_file(t))],
    "diff-report": lambda t: ["diff", str(_report(t)), str(_deep_file(t))],
    "vex": lambda t: ["image", "scan", "--offline", "--vex", str(_deep_file(t)), f"dir:{_rootfs(t)}"],
    "suppressions": lambda t: ["bench", "--snapshot", str(_snapshot(t)), "--suppressions",
                               str(_deep_file(t, "suppressions: " + DEEP, "deep.yaml"))],
}


@pytest.mark.parametrize("case", sorted(DEEP_CASES))
def test_deep_nesting_is_refused(case: str, tmp_path: Path, scratch: Path) -> None:
    run = run_cli(DEEP_CASES[case](tmp_path), scratch=scratch, trace_writes=True)
    name = "deep.yaml" if case == "suppressions" else "deep.json"
    _expect_input_error(run, tmp_path, name, "nest")


# --- numbers that are not numbers ------------------------------------------------------------

def test_snapshot_integer_of_5000_digits(tmp_path: Path, scratch: Path) -> None:
    snap = tmp_path / "snap.json"
    snap.write_text('{"schema_version": 1, "containers": [{"id": "a", "name": "b", "memory": ' + HUGE_INT + "}]}")
    run = run_cli(["bench", "--snapshot", str(snap)], scratch=scratch, trace_writes=True)
    _expect_input_error(run, tmp_path, str(snap), "4300 digits")


def test_snapshot_integer_past_64_bits_names_its_path(tmp_path: Path, scratch: Path) -> None:
    snap = _snapshot(tmp_path, containers=[{"id": "a", "name": "b", "memory": 10**400}])
    run = run_cli(["bench", "--snapshot", str(snap)], scratch=scratch, trace_writes=True)
    _expect_input_error(run, tmp_path, str(snap), "$.containers[0].memory", "64-bit")


def test_snapshot_infinite_time_stamp(tmp_path: Path, scratch: Path) -> None:
    snap = tmp_path / "snap.json"
    snap.write_text('{"schema_version": 1, "created": 1e999}')
    run = run_cli(["bench", "--snapshot", str(snap)], scratch=scratch, trace_writes=True)
    _expect_input_error(run, tmp_path, str(snap), "$.created", "not finite")


def test_snapshot_time_stamp_past_year_9999(tmp_path: Path, scratch: Path) -> None:
    run = run_cli(["bench", "--snapshot", str(_snapshot(tmp_path, created=2**62))], scratch=scratch)
    _expect_input_error(run, tmp_path, "$.created", "out of range")


# --- wrongly typed values anywhere in a snapshot are decode errors, not check crashes --------

PROBE = {"address": "tcp://127.0.0.1:2375", "outcome": "WARN", "message": "m", "summary": {},
         "findings": [{"id": "EP-1", "kind": "endpoint", "severity": "HIGH", "title": "t", "obj": "endpoint:x"}]}


@pytest.mark.parametrize(
    ("fields", "path"),
    [
        ({"extras": {"endpoint_probe": "garbage"}}, "$.extras.endpoint_probe"),
        ({"extras": {"endpoint_probe": [5]}}, "$.extras.endpoint_probe[0]"),
        ({"extras": {"endpoint_probe": [{**PROBE, "findings": [{"id": 1}]}]}},
         "$.extras.endpoint_probe[0].findings[0]"),
        ({"extras": {"endpoint_probe": [{**PROBE, "outcome": "MAYBE"}]}}, "$.extras.endpoint_probe[0].outcome"),
        ({"daemon": {"config": {"values": {"hosts": {"value": 5, "source": "file"}}}}},
         "$.daemon.config.values.hosts.value"),
        ({"daemon": {"config": {"values": {"insecure-registries": {"value": True, "source": "file"}}}}},
         "$.daemon.config.values.insecure-registries.value"),
        ({"daemon": {"config": {"values": {"log-level": {"value": ["debug"], "source": "file"}}}}},
         "$.daemon.config.values.log-level.value"),
        ({"containers": [{"id": "a", "name": "b", "privileged": "yes"}]}, "$.containers[0].privileged"),
        ({"containers": "all"}, "$.containers"),
        ({"host": {"files": {"/etc/docker": {"path": "/etc/docker", "exists": True, "mode": "0755"}}}},
         "$.host.files./etc/docker.mode"),
        ({"schema_version": "1"}, "$.schema_version"),
    ],
)
def test_wrongly_typed_snapshot_values(fields: dict[str, object], path: str, tmp_path: Path, scratch: Path) -> None:
    snap = _snapshot(tmp_path, **fields)
    run = run_cli(["bench", "--snapshot", str(snap)], scratch=scratch, trace_writes=True)
    _expect_input_error(run, tmp_path, str(snap), path)


def test_snapshot_with_too_many_containers(tmp_path: Path, scratch: Path) -> None:
    snap = tmp_path / "snap.json"
    with snap.open("w") as f:  # streamed: 2001 minimal containers
        f.write('{"schema_version": 1, "containers": [')
        f.write(",".join('{"id": "x", "name": "y"}' for _ in range(2001)))
        f.write("]}")
    run = run_cli(["bench", "--snapshot", str(snap)], scratch=scratch)
    _expect_input_error(run, tmp_path, "$.containers", "2001 containers")


def test_snapshot_of_a_million_empty_lists(tmp_path: Path, scratch: Path) -> None:
    snap = tmp_path / "snap.json"
    with snap.open("w") as f:
        f.write('{"schema_version": 1, "extras": {"x": [')
        f.write("[]," * 1_500_000)
        f.write("[]]}}")
    run = run_cli(["bench", "--snapshot", str(snap)], scratch=scratch)
    _expect_input_error(run, tmp_path, str(snap), "more than 1000000 JSON objects and arrays")


# --- suppressions, reports and VEX ------------------------------------------------------------

def test_suppression_expiry_that_is_not_a_date(tmp_path: Path, scratch: Path) -> None:
    ignore = tmp_path / "ignore.yaml"
    ignore.write_text("suppressions:\n  - {id: '5.4', reason: r, expires: 2024-13-45}\n")
    run = run_cli(["bench", "--snapshot", str(_snapshot(tmp_path)), "--suppressions", str(ignore)],
                  scratch=scratch, trace_writes=True)
    _expect_input_error(run, tmp_path, str(ignore), "$.suppressions[0].expires", "2024-13-45")


def test_suppressions_refuse_yaml_aliases(tmp_path: Path, scratch: Path) -> None:
    ignore = tmp_path / "ignore.yaml"
    ignore.write_text("a: &a [x, x]\nb: &b [*a, *a]\nsuppressions: [*b]\n")
    run = run_cli(["diff", "--suppressions", str(ignore), str(_report(tmp_path, "a.json")),
                   str(_report(tmp_path, "b.json"))], scratch=scratch)
    _expect_input_error(run, tmp_path, str(ignore), "aliases")


@pytest.mark.parametrize(
    ("fields", "path"),
    [
        ({"schema_version": "1" * 5000}, "$.schema_version"),
        ({"started": 1e308 * 10}, "$.started"),
        ({"results": [{"id": "1", "title": "t", "section": "1", "outcome": "WARN", "severity": "HIGH",
                       "level": 10**30}]}, "$.results[0].level"),
        ({"findings": [{"id": "x", "kind": "vulnerability", "severity": ["HIGH"]}]}, "$.findings[0].severity"),
        ({"findings": [{"id": "x", "kind": "vulnerability", "severity": "HIGH", "data": []}]}, "$.findings[0].data"),
        ({"findings": [{"id": "x", "kind": "v", "severity": "HIGH"}]}, "$.findings[0].kind"),
    ],
)
def test_malformed_diff_reports(fields: dict[str, object], path: str, tmp_path: Path, scratch: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"schema_version": 1, **fields}).replace("Infinity", "1e999"))
    run = run_cli(["diff", str(_report(tmp_path)), str(bad)], scratch=scratch, trace_writes=True)
    _expect_input_error(run, tmp_path, str(bad), path)


@pytest.mark.parametrize(
    ("statement", "path"),
    [
        ({"vulnerability": {"name": "CVE-1"}, "products": "all", "status": "fixed"}, "$.statements[0].products"),
        ({"vulnerability": {"name": "CVE-1"}, "products": [{"@id": "a", "hashes": {"sha-256": 5}}],
          "status": "fixed"}, "$.statements[0].products[0].hashes.sha-256"),
        ({"vulnerability": {"name": "CVE-1"}, "products": ["a"], "status": "fixed", "timestamp": "9" * 5000},
         "$.statements[0].timestamp"),
        ({"vulnerability": {"name": "CVE-1"}, "products": ["a"], "status": {"x": 1}}, "$.statements[0].status"),
    ],
)
def test_malformed_vex(statement: dict[str, object], path: str, tmp_path: Path, scratch: Path) -> None:
    vex = tmp_path / "v.json"
    vex.write_text(json.dumps({"@context": "https://openvex.dev/ns/v0.2.0", "statements": [statement]}))
    run = run_cli(["image", "scan", "--offline", "--vex", str(vex), f"dir:{_rootfs(tmp_path)}"],
                  scratch=scratch, trace_writes=True)
    _expect_input_error(run, tmp_path, str(vex), path)


# --- unbounded reads: /dev/zero and sparse files stop at the cap ------------------------------

ZERO_CASES: dict[str, Callable[[Path, str], list[str]]] = {
    "snapshot": lambda t, z: ["bench", "--snapshot", z],
    "seccomp-lint": lambda t, z: ["seccomp", "lint", z],
    "seccomp-diff": lambda t, z: ["seccomp", "diff", z, z],
    "diff": lambda t, z: ["diff", z, str(_report(t))],
    "suppressions": lambda t, z: ["bench", "--snapshot", str(_snapshot(t)), "--suppressions", z],
    "vex": lambda t, z: ["image", "scan", "--offline", "--vex", z, f"dir:{_rootfs(t)}"],
}


@pytest.mark.parametrize("case", sorted(ZERO_CASES))
def test_dev_zero_stops_at_the_cap(case: str, tmp_path: Path, scratch: Path) -> None:
    run = run_cli(ZERO_CASES[case](tmp_path, "/dev/zero"), scratch=scratch, timeout=60, trace_writes=True)
    _expect_input_error(run, tmp_path, "/dev/zero", "larger than the")


@pytest.mark.parametrize("case", sorted(ZERO_CASES))
def test_sparse_file_over_the_cap_is_not_read(case: str, tmp_path: Path, scratch: Path) -> None:
    sparse = tmp_path / "sparse"
    with sparse.open("wb") as f:
        f.truncate(4 << 30)  # 4 GiB, nothing on disk
    run = run_cli(ZERO_CASES[case](tmp_path, str(sparse)), scratch=scratch, timeout=60)
    _expect_input_error(run, tmp_path, str(sparse), "4294967296 bytes is larger than the")
    assert run.max_rss_mib < 100


def test_directory_as_input_is_refused(tmp_path: Path, scratch: Path) -> None:
    run = run_cli(["bench", "--snapshot", str(tmp_path)], scratch=scratch)
    _expect_input_error(run, tmp_path, str(tmp_path), "is a directory")


def test_snapshot_from_stdin_is_bounded_too(tmp_path: Path, scratch: Path) -> None:
    run = run_cli(["bench", "--snapshot", "-"], scratch=scratch, stdin=b"{" * (17 << 20))
    _expect_input_error(run, tmp_path, "<stdin>", "larger than the")


def test_valid_snapshot_still_evaluates(tmp_path: Path, scratch: Path) -> None:
    """The strict decoder accepts what `collect` writes (round trip of a rich snapshot)."""
    from tests.unit.test_core import full_snapshot

    snap = tmp_path / "full.json"
    full_snapshot().save(snap)
    run = run_cli(["bench", "--snapshot", str(snap), "--format", "json"], scratch=scratch)
    assert run.code == 0, run.stderr
    assert json.loads(run.stdout)["schema_version"] == 2
    assert os.path.getsize(snap) > 1000


@pytest.mark.parametrize("fmt", ["text", "json", "docker-bench-json", "sarif", "junit", "html"])
def test_lone_surrogates_in_names_reach_every_format(fmt: str, tmp_path: Path, scratch: Path) -> None:
    """A container named with a lone surrogate (valid JSON: "\\udcff") renders in every format."""
    from dataclasses import replace

    from tests.unit.test_core import full_snapshot

    snap = full_snapshot()
    assert snap.containers
    evil = replace(snap.containers[0], name="web\udcff\ud800x", privileged=True)
    path = tmp_path / "full.json"
    replace(snap, containers=(evil, *snap.containers[1:])).save(path)
    out = tmp_path / f"out.{fmt}"
    run = run_cli(["bench", "--snapshot", str(path), "--format", fmt, "-o", str(out)], scratch=scratch)
    assert run.code == 0, run.stderr
    assert "internal error" not in run.stderr and not run.traceback
    text = out.read_bytes().decode("utf-8")  # strict: the output is valid UTF-8
    assert "web" in text
