"""``db update`` against a hostile mirror on 127.0.0.1, through the real CLI.

The server lies about sizes, streams without end and serves bombs: every download stops at
its cap with a one-line error naming the URL, memory stays under the ceiling, nothing is
written outside the database's directory and the database is left byte for byte as it was.
"""

from __future__ import annotations

import http.server
import json
import threading
import urllib.parse
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.hostile.harness import MAX_RSS_MIB, CliRun, run_cli


class _Hostile(http.server.BaseHTTPRequestHandler):
    root: Path
    mode: dict[str, str]
    protocol_version = "HTTP/1.0"

    def do_GET(self) -> None:
        path = urllib.parse.unquote(self.path)
        mode = self.mode.get(path, "file")
        try:
            if mode == "endless":  # no Content-Length, bytes until the client hangs up (bounded here)
                self.send_response(200)
                self.end_headers()
                chunk = b"A" * 65536
                for _ in range(16384):  # 1 GiB at most, so the server stops by itself
                    self.wfile.write(chunk)
                return
            if mode == "liar":  # announces 64 GiB
                self.send_response(200)
                self.send_header("Content-Length", str(64 << 30))
                self.end_headers()
                self.wfile.write(b"PK")
                return
            target = self.root / path.lstrip("/")
            if not target.is_file():
                self.send_error(404)
                return
            data = target.read_bytes()
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def log_message(self, *args: object) -> None:
        pass


def _record(rid: str, modified: str) -> dict[str, object]:
    return {"id": rid, "modified": modified, "affected": [{"package": {"ecosystem": "Maven", "name": "a:b"},
            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "2.0"}]}]}]}


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, type[_Hostile], Path]]:
    root = tmp_path / "mirror"
    (root / "Maven").mkdir(parents=True)
    with zipfile.ZipFile(root / "Maven" / "all.zip", "w") as zf:
        zf.writestr("GHSA-aaaa-bbbb-cccc.json", json.dumps(_record("GHSA-aaaa-bbbb-cccc", "2024-01-01T00:00:00Z")))
    (root / "Maven" / "modified_id.csv").write_text("2024-01-01T00:00:00Z,GHSA-aaaa-bbbb-cccc\n")
    (root / "Debian").mkdir()
    with zipfile.ZipFile(root / "Debian" / "all.zip", "w") as zf:
        zf.writestr("DSA-1-1.json", json.dumps({**_record("DSA-1-1", "2024-01-01T00:00:00Z"), "affected": []}))
    handler = type("H", (_Hostile,), {"root": root, "mode": {}})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", handler, root
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def _update(db: Path, url: str, scratch: Path, *extra: str) -> CliRun:
    run = run_cli(["db", "update", "--db", str(db), "--source", url, "--ecosystem", "Maven", *extra],
                  scratch=scratch, timeout=120)
    assert not run.traceback, run.stderr
    assert "internal error" not in run.stderr
    assert run.max_rss_mib < MAX_RSS_MIB
    return run


def test_hostile_mirror_is_refused_at_every_cap(server: tuple[str, type[_Hostile], Path], tmp_path: Path,
                                                 scratch: Path) -> None:
    url, handler, root = server
    dbdir = tmp_path / "db"
    db = dbdir / "vuln.db"
    first = _update(db, url, scratch / "0")
    assert first.code == 0, first.stderr
    before = db.read_bytes()

    def refused(step: str, *needles: str, extra: tuple[str, ...] = ()) -> None:
        run = _update(db, url, scratch / step, *extra)
        assert run.code == 2, run.stderr
        for needle in needles:
            assert needle in run.stderr, run.stderr
        assert "left unchanged" in run.stderr
        assert db.read_bytes() == before
        assert sorted(p.name for p in dbdir.iterdir()) == ["vuln.db"]  # no temporary file left
        assert run.writes_outside(tmp_path) == []

    # A changed record that never ends: stopped at the record cap (4 MiB).
    (root / "Maven" / "modified_id.csv").write_text(
        "2024-02-01T00:00:00Z,GHSA-xxxx-yyyy-zzzz\n2024-01-01T00:00:00Z,GHSA-aaaa-bbbb-cccc\n")
    handler.mode["/Maven/GHSA-xxxx-yyyy-zzzz.json"] = "endless"
    refused("1", "GHSA-xxxx-yyyy-zzzz.json", "more than the 4194304 bytes allowed")
    # A list that never ends on one line.
    handler.mode["/Maven/modified_id.csv"] = "endless"
    refused("2", "modified_id.csv", "a line longer than 1024 bytes")
    # all.zip announcing 64 GiB: refused before a byte is stored.
    handler.mode.clear()
    handler.mode["/Maven/all.zip"] = "liar"
    refused("3", "all.zip refused", "more than the 4294967296 allowed", extra=("--full",))
    # An endless tracker (no Content-Length): stopped at the 256 MiB stream cap, memory flat.
    handler.mode["/debian-tracker/json"] = "endless"
    run = run_cli(["db", "update", "--db", str(db), "--source", url, "--ecosystem", "Debian",
                   "--tracker-url", f"{url}/debian-tracker/json"], scratch=scratch / "4", timeout=120)
    assert run.code == 2 and not run.traceback and run.max_rss_mib < MAX_RSS_MIB
    assert "debian-tracker/json stopped: more than the 268435456 bytes allowed" in run.stderr, run.stderr
    assert db.read_bytes() == before
