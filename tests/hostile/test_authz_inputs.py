"""``dockguard authz`` on hostile policies, compose files and plugin requests (the real CLI)."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.hostile.harness import MAX_RSS_MIB, run_cli


def _sparse(path: Path, size: int) -> Path:
    with open(path, "wb") as f:
        f.truncate(size)
    return path


def _assert_clean_failure(run, expected: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert run.code == 2, (run.stdout, run.stderr)
    assert expected in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1, run.stderr
    assert not run.traceback and "internal error" not in run.stderr
    assert run.max_rss_mib < MAX_RSS_MIB
    assert run.writes_outside(tmp_path) == []


BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{c}: &{c} [{', '.join([f'*{p}'] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi", strict=True)
)


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("bomb.yml", BOMB.encode(), "aliases are not accepted"),
        ("deep.yml", b"services:\n  a: " + b"[" * 5000 + b"]" * 5000 + b"\n", "nesting depth"),
        ("deep2.yml", b"services:\n  a: " + b"[" * 70 + b"]" * 70 + b"\n", "nested deeper than 64"),
        ("binary.yml", b"\xff\xfe\x00services", "not UTF-8"),
        ("types.yml", b"services:\n  a:\n    cap_add: {x: 1}\n", "$.services.a.cap_add: expected a list"),
    ],
)
def test_hostile_compose_files(scratch: Path, tmp_path: Path, name: str, content: bytes, expected: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    run = run_cli(["authz", "check", "--no-daemon", "--compose", str(path)], scratch=scratch, trace_writes=True)
    _assert_clean_failure(run, expected, tmp_path)


def test_huge_and_endless_compose_files(scratch: Path, tmp_path: Path) -> None:
    big = _sparse(tmp_path / "big.yml", 2 * 1024**3)
    run = run_cli(["authz", "check", "--no-daemon", "--compose", str(big)], scratch=scratch, trace_writes=True)
    _assert_clean_failure(run, "larger than the", tmp_path)
    run = run_cli(["authz", "check", "--no-daemon", "--compose", "/dev/zero"], scratch=scratch)
    assert run.code == 2 and "larger than the" in run.stderr and run.max_rss_mib < MAX_RSS_MIB


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (BOMB.encode(), "aliases are not accepted"),
        (b"rules:\n  privileged: of\n", "$.rules.privileged: expected on or off"),
        (b"rules: [privileged]\n", "expected a mapping of rule name"),
        (b"exceptions:\n  - rules: [all]\n", "would apply to everyone"),
        (b"\x00" * 10, "invalid YAML"),
    ],
)
def test_hostile_policies(scratch: Path, tmp_path: Path, content: bytes, expected: str) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_bytes(content)
    compose = tmp_path / "compose.yml"
    compose.write_text("services:\n  a:\n    image: x\n")
    run = run_cli(["authz", "check", "--no-daemon", "--policy", str(policy), "--compose", str(compose)],
                  scratch=scratch, trace_writes=True)
    _assert_clean_failure(run, expected, tmp_path)
    sock = tmp_path / "p.sock"
    run = run_cli(["authz", "serve", "--socket", str(sock), "--policy", str(policy)], scratch=scratch)
    assert run.code == 2 and expected in run.stderr and not run.traceback
    assert not sock.exists()


def test_serve_refuses_to_replace_a_file(scratch: Path, tmp_path: Path) -> None:
    target = tmp_path / "important"
    target.write_text("keep me")
    run = run_cli(["authz", "serve", "--socket", str(target)], scratch=scratch)
    assert run.code == 2 and "exists and is not a socket" in run.stderr and not run.traceback
    assert target.read_text() == "keep me"
    run = run_cli(["authz", "serve", "--socket", str(tmp_path / ("x" * 120))], scratch=scratch)
    assert run.code == 2 and "too long" in run.stderr


def test_check_usage_errors(scratch: Path) -> None:
    run = run_cli(["authz", "check", "--no-daemon"], scratch=scratch)
    assert run.code == 2 and "give --compose FILE" in run.stderr
    run = run_cli(["authz", "check", "-H", "unix:///nonexistent/docker.sock"], scratch=scratch)
    assert run.code == 2 and run.stderr.startswith("dockguard: error: ") and not run.traceback
    assert "internal error" not in run.stderr


def _vm_hwm_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _post(sock: Path, path: str, data: bytes) -> bytes:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(60)
    s.connect(str(sock))
    s.sendall(f"POST {path} HTTP/1.1\r\nHost: p\r\nConnection: close\r\nContent-Length: {len(data)}\r\n\r\n".encode())
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        s.sendall(data)
    out = []
    while chunk := s.recv(65536):
        out.append(chunk)
    s.close()
    return b"".join(out)


def test_plugin_survives_hostile_requests(tmp_path: Path) -> None:
    sock = tmp_path / "p.sock"
    log = tmp_path / "log.jsonl"
    proc = subprocess.Popen([sys.executable, "-m", "dockguard", "authz", "serve", "--socket", str(sock),
                             "--log", str(log), "-H", "unix:///nonexistent.sock"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.monotonic() + 20
        while not sock.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        nested = b"[" * 900_000 + b"]" * 900_000
        hostile = [
            b"[" * 4_000_000 + b"]" * 4_000_000,  # 8 MB of nesting in the plugin request itself
            json.dumps({"RequestMethod": "POST", "RequestUri": "/containers/create",
                        "RequestBody": base64.b64encode(nested).decode()}).encode(),
            json.dumps({"RequestMethod": "POST", "RequestUri": "/containers/create",
                        "RequestBody": base64.b64encode(b'{"Image":"x","HostConfig":{"Binds":["named:/x"]}}')
                        .decode()}).encode(),
            json.dumps({"RequestMethod": "GET", "RequestUri": "/" + "%2F.." * 200_000}).encode(),
            b'{"RequestMethod": "POST", "RequestUri": "/containers/create", "RequestBody": 12}',
            b"\xff" * 1000,
        ]
        for data in hostile:
            reply = _post(sock, "/AuthZPlugin.AuthZReq", data)
            assert b'"Allow": false' in reply, reply[:300]
        too_big = _post(sock, "/AuthZPlugin.AuthZReq", b" " * (9 * 1024 * 1024))
        assert b'"Allow": false' in too_big
        assert proc.poll() is None  # still serving
        ok = _post(sock, "/AuthZPlugin.AuthZReq", json.dumps({"RequestMethod": "GET", "RequestUri": "/info"}).encode())
        assert b'"Allow": true' in ok
        assert _vm_hwm_mib(proc.pid) < MAX_RSS_MIB
        entries = [json.loads(x) for x in log.read_text().splitlines()]
        assert [e["decision"] for e in entries] == ["refuse"] * 7 + ["allow"]
        assert "named volume named cannot be verified" in entries[2]["reasons"][0]
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
    assert proc.returncode == 0
    assert b"Traceback" not in err
    assert not sock.exists()
