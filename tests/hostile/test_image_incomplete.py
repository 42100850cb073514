"""Fail-open: a scan that could not read part of an image must say so, and never pass a gate.

Before the fix a layer refused as a decompression bomb, a truncated layer or a status file
over the size cap left the package out silently: ``--fail-on CRITICAL`` exited 0.  Now the
report starts with INCOMPLETE SCAN (JSON ``complete: false`` with the reasons), a gate exits
2, and without a gate the scan exits 0 with the report marked.
"""

from __future__ import annotations

import json
import sqlite3
import struct
from pathlib import Path

import pytest

from tests.hostile.harness import MAX_RSS_MIB, CliRun, run_cli
from tests.hostile.image_inputs import (
    DEMO_META,
    DEMO_PATH,
    OS_RELEASE,
    M,
    docker_save,
    vuln_db,
    write_layer,
)
from tests.image_json import complete, incomplete

MiB = 1024 * 1024
STANZA = b"Package: demo\nStatus: install ok installed\nVersion: 1.0\nArchitecture: amd64\n\n"


def scan(scratch: Path, *args: str) -> CliRun:
    run = run_cli(["image", "scan", *args], scratch=scratch, timeout=180)
    assert not run.traceback and "internal error" not in run.stderr, run.stderr
    assert run.max_rss_mib < MAX_RSS_MIB
    return run


def _image(tmp_path: Path, case: str) -> tuple[Path, str]:
    """An image whose vulnerable package sits where the scan cannot read; the expected reason."""
    pkg = [M(DEMO_PATH, DEMO_META), M("var/lib/dpkg/status", STANZA)]
    if case == "ratio":
        layer = write_layer(tmp_path / "l.tar.gz", [M("etc/os-release", OS_RELEASE),
                                                     M("zeros", size=128 * MiB), *pkg])
        reason = "decompression ratio above 1000:1"
    elif case == "truncated":
        full = write_layer(tmp_path / "full.tar.gz", [M("etc/os-release", OS_RELEASE), *pkg,
                                                       M("pad", bytes(range(256)) * 4096)])
        data = full.path.read_bytes()
        (tmp_path / "l.tar.gz").write_bytes(data[: len(data) // 2])
        from tests.hostile.image_inputs import Blob

        layer = Blob(tmp_path / "l.tar.gz", "", full.diff_id, len(data) // 2)
        reason = "truncated"
    else:  # status over the cap
        layer = write_layer(tmp_path / "l.tar.gz", [M("etc/os-release", OS_RELEASE), M(DEMO_PATH, DEMO_META),
                                                     M("var/lib/dpkg/status", size=64 * MiB + 1, fill=STANZA)])
        reason = "/var/lib/dpkg/status: 67108865 bytes is over the 67108864-byte cap for one file"
    names = ["layer.tar.gz"]
    return docker_save(tmp_path / "img.tar", [layer], layer_names=names), reason


@pytest.mark.parametrize("case", ["ratio", "truncated", "status-over-cap"])
def test_incomplete_scan_fails_the_gate_and_says_why(tmp_path: Path, scratch: Path, case: str) -> None:
    tar, reason = _image(tmp_path, case)
    db = vuln_db(tmp_path)
    gated = scan(scratch, "--db", str(db), "--fail-on", "CRITICAL", str(tar))
    assert gated.code == 2, (gated.code, gated.stdout, gated.stderr)
    assert gated.stdout.startswith("INCOMPLETE SCAN:"), gated.stdout[:300]
    assert reason in gated.stdout and "cannot be decided" in gated.stderr
    # No gate: exit 0, the report (and stderr) say it is incomplete.
    plain = scan(scratch, "--db", str(db), "--format", "json", str(tar))
    assert plain.code == 0
    doc = json.loads(plain.stdout)
    assert complete(doc) is False and any(reason in r for r in incomplete(doc)), incomplete(doc)
    assert "INCOMPLETE SCAN" in plain.stderr
    sarif = json.loads(scan(scratch, "--db", str(db), "--format", "sarif", str(tar)).stdout)
    notes = [n["message"]["text"] for n in sarif["runs"][0]["invocations"][0]["toolExecutionNotifications"]]
    assert any(n.startswith("image:hostile/img:1: INCOMPLETE") and reason in n for n in notes), notes
    sbom = json.loads(run_cli(["image", "sbom", str(tar)], scratch=scratch).stdout)
    props = {p["name"]: p["value"] for p in sbom["metadata"]["component"]["properties"]}
    assert props["dockguard:scan:complete"] == "false"


def test_complete_scan_still_gates_normally(tmp_path: Path, scratch: Path) -> None:
    layer = write_layer(tmp_path / "l.tar.gz", [M("etc/os-release", OS_RELEASE), M(DEMO_PATH, DEMO_META)])
    tar = docker_save(tmp_path / "img.tar", [layer])
    run = scan(scratch, "--db", str(vuln_db(tmp_path)), "--fail-on", "CRITICAL", str(tar))
    assert run.code == 1 and not run.stdout.startswith("INCOMPLETE") and "INCOMPLETE" not in run.stderr


def _rpmdb(path: Path, blobs: list[object]) -> bytes:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE Packages (hnum INTEGER PRIMARY KEY AUTOINCREMENT, blob BLOB NOT NULL)")
    conn.executemany("INSERT INTO Packages (blob) VALUES (?)", [(b,) for b in blobs])
    conn.commit()
    conn.close()
    return path.read_bytes()


def test_malformed_rpm_headers_make_the_scan_incomplete(tmp_path: Path, scratch: Path) -> None:
    blobs: list[object] = [
        struct.pack(">ii", 1, 2) + struct.pack(">iiii", 1003, 4, 1, 1) + b"\0\0",  # int32 past the data
        "a text value",
        10**9,  # an integer: must not become bytes(10**9)
    ]
    db = _rpmdb(tmp_path / "rpmdb.sqlite", blobs)
    layer = write_layer(tmp_path / "l.tar.gz", [M("etc/os-release", b'ID="rhel"\nVERSION_ID="9.3"\n'),
                                                 M("var/lib/rpm/rpmdb.sqlite", db)])
    tar = docker_save(tmp_path / "img.tar", [layer])
    run = scan(scratch, "--list-packages", "--format", "json", str(tar))
    assert run.code == 0
    doc = json.loads(run.stdout)
    assert doc["packages"] == [] and complete(doc) is False
    assert any("value runs past the data" in r for r in incomplete(doc)), incomplete(doc)
    assert any("3 package headers unreadable" in r for r in incomplete(doc)), incomplete(doc)
