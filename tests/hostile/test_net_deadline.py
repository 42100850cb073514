"""A total deadline per request: servers that drip bytes cannot hold dockguard forever.

``DOCKGUARD_HTTP_DEADLINE`` shortens the deadline (default 60 s) so that each case takes a few
seconds; the servers drip one byte every second or two, which a per-read timeout never sees.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from tests.hostile.harness import MAX_RSS_MIB, CliRun, run_cli
from tests.hostile.net_servers import DripServer, HostileHttp, Reply, Seen, drip

DEADLINE = "3"
ENV = {"DOCKGUARD_HTTP_DEADLINE": DEADLINE}
# A TLS handshake record header announcing 16 KiB, then its body a byte at a time.
TLS_DRIP = b"\x16\x03\x03\x40\x00" + b"\x02" * 16384
HTTP_DRIP = b"HTTP/1.1 200 OK\r\n" + b"X-Slow: " + b"a" * 10000


def check(run: CliRun, limit: float) -> None:
    assert not run.traceback, run.stderr
    assert "internal error" not in run.stderr
    assert run.max_rss_mib < MAX_RSS_MIB
    assert run.wall_s < limit, run.wall_s


def test_manifest_dripped_one_byte_every_two_seconds(scratch: Path) -> None:
    """The reported case: a manifest body dripping forever, each read well within 30 s."""
    stop = threading.Event()

    def route(seen: Seen) -> Reply:
        if seen.path == "/v2/":
            return Reply(200, {}, b"{}")
        return Reply(200, {"Content-Length": "1000"}, drip(b"{" * 1000, 2.0, stop))

    with HostileHttp(route) as registry:
        run = run_cli(["image", "scan", f"{registry.host}/app:1", "--list-packages", "--no-cache"],
                      scratch=scratch, env=ENV, timeout=60)
        stop.set()
    check(run, 20)
    assert run.code == 2
    assert (f"manifest {registry.host}/app:1: no complete answer within {DEADLINE} s "
            "(the per-request deadline; DOCKGUARD_HTTP_DEADLINE sets it)") in run.stderr


@pytest.mark.parametrize("data", [TLS_DRIP, HTTP_DRIP], ids=["tls-handshake", "http-head"])
def test_pull_from_a_dripping_server(data: bytes, scratch: Path) -> None:
    with DripServer(data, every=1.0) as server:
        run = run_cli(["image", "scan", f"127.0.0.1:{server.port}/app:1", "--list-packages",
                       "--no-cache"], scratch=scratch, env=ENV, timeout=60)
    check(run, 20)
    assert run.code == 2
    assert f"no complete answer within {DEADLINE} s" in run.stderr, run.stderr


def test_registry_probe_of_a_dripping_tls_server(scratch: Path) -> None:
    with DripServer(TLS_DRIP, every=1.0) as server:
        run = run_cli(["registry", "probe", f"https://127.0.0.1:{server.port}", "--format", "json"],
                      scratch=scratch, env=ENV, timeout=60)
    check(run, 30)
    assert run.code == 2
    steps = {s["name"]: (s["status"], s["reason"]) for s in json.loads(run.stdout)["steps"]}
    assert steps["connect"][0] == "FAILED"
    assert f"no complete answer within the {DEADLINE} s deadline" in steps["connect"][1]


def test_registry_probe_of_a_dripping_api(scratch: Path) -> None:
    stop = threading.Event()

    def route(seen: Seen) -> Reply:
        # The connect step (its own socket) gets a quick answer; the API requests a drip.
        if seen.headers.get("user-agent") != "dockguard-probe":
            return Reply(401, {"WWW-Authenticate": 'Basic realm="x"'}, b"")
        return Reply(200, {"Content-Length": "100"}, drip(b"{" * 100, 1.0, stop))

    with HostileHttp(route) as registry:
        run = run_cli(["registry", "probe", registry.host, "--format", "json"],
                      scratch=scratch, env=ENV, timeout=60)
        stop.set()
    check(run, 30)
    steps = {s["name"]: (s["status"], s["reason"]) for s in json.loads(run.stdout)["steps"]}
    assert steps["api"][0] == "FAILED"
    assert f"no complete answer within {DEADLINE} s" in steps["api"][1]


def test_daemon_probe_of_a_dripping_endpoint(scratch: Path) -> None:
    with DripServer(HTTP_DRIP, every=1.0) as server:
        run = run_cli(["daemon", "probe", f"tcp://127.0.0.1:{server.port}", "--format", "json"],
                      scratch=scratch, env=ENV, timeout=60)
    check(run, 20)
    assert run.code == 2
    steps = {s["name"]: (s["status"], s["reason"]) for s in json.loads(run.stdout)["steps"]}
    assert steps["plain-http"] == (
        "FAILED", f"cannot connect to 127.0.0.1:{server.port}: no complete answer within the "
        f"{DEADLINE} s deadline")


def test_db_update_from_a_dripping_mirror(scratch: Path, tmp_path: Path) -> None:
    db = tmp_path / "vuln.db"
    with DripServer(HTTP_DRIP, every=1.0) as server:
        run = run_cli(["db", "update", "--db", str(db), "--ecosystem", "PyPI", "--source",
                       f"http://127.0.0.1:{server.port}"], scratch=scratch, env=ENV, timeout=60)
    check(run, 20)
    assert run.code == 2
    assert f"no complete answer within {DEADLINE} s" in run.stderr
    assert "no database was written" in run.stderr and "left unchanged" not in run.stderr
    assert not db.exists()


@pytest.mark.parametrize("value", ["abc", "0", "-1", "nan", "inf", "1e9"])
def test_bad_deadline_setting_is_a_usage_error(value: str, scratch: Path) -> None:
    for args in (["registry", "probe", "127.0.0.1:1"], ["daemon", "probe", "tcp://127.0.0.1:1"],
                 ["image", "scan", "127.0.0.1:1/app:1", "--list-packages"]):
        run = run_cli(args, scratch=scratch, env={"DOCKGUARD_HTTP_DEADLINE": value}, timeout=60)
        check(run, 30)
        assert run.code == 2
        assert f"DOCKGUARD_HTTP_DEADLINE={value}: expected seconds between 0 and 86400" \
            in run.stderr, (args, run.stderr)
