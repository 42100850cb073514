"""``db update`` from a file:// mirror and a local HTTP server, including failed downloads."""

from __future__ import annotations

import http.server
import json
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from dockguard.cli import main
from dockguard.vuln.database import VulnDB
from tests.conftest import REFERENCE


@pytest.fixture(scope="module")
def mirror(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An OSV-bucket-shaped directory: PyPI/all.zip made from the PyPA reference records."""
    root = tmp_path_factory.mktemp("mirror")
    (root / "PyPI").mkdir()
    with zipfile.ZipFile(root / "PyPI" / "all.zip", "w", zipfile.ZIP_DEFLATED) as zf:
        for f in sorted((REFERENCE / "osv-pypi").rglob("*.yaml")):
            rec = yaml.load(f.read_text(), Loader=yaml.BaseLoader)
            zf.writestr(f"{rec['id']}.json", json.dumps(rec))
    return root


class _Handler(http.server.BaseHTTPRequestHandler):
    root: Path
    truncate: bool = False

    def do_GET(self) -> None:
        path = self.root / self.path.lstrip("/").replace("%3A", ":")
        if not path.is_file():
            self.send_error(404)
            return
        data = path.read_bytes()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.truncate:
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self.connection.shutdown(2)
            return
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server(mirror: Path) -> Iterator[tuple[str, type[_Handler]]]:
    handler = type("H", (_Handler,), {"root": mirror, "truncate": False})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", handler
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def _records(db: Path) -> dict[str, int]:
    with VulnDB.open(db) as v:
        return {f.name: f.records for f in v.feeds()}


def test_update_from_file_mirror(mirror: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "vuln.db"
    rc = main(["db", "update", "--db", str(db), "--ecosystem", "PyPI", "--source", mirror.as_uri()])
    assert rc == 0
    out, err = capsys.readouterr()
    assert "osv/PyPI: 2651 records" in out
    assert "PyPI" in err and "MiB" in err  # progress on stderr
    assert _records(db) == {"osv/PyPI": 2651}
    assert main(["db", "status", "--db", str(db), "--format", "json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["feeds"][0]["records"] == 2651
    assert status["feeds"][0]["stale"] is False
    assert status["ecosystems"] == {"PyPI": 2651}


def test_update_over_http_keeps_other_feeds(
    server: tuple[str, type[_Handler]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, _ = server
    db = tmp_path / "vuln.db"
    monkeypatch.setenv("DOCKGUARD_DB", str(db))
    secdb = REFERENCE / "alpine-secdb" / "v3.11" / "main.yaml"
    assert main(["db", "import", str(secdb)]) == 0
    assert main(["db", "update", "--ecosystem", "PyPI", "--source", url]) == 0
    assert _records(db) == {"alpine-secdb:main/Alpine:v3.11": 1124, "osv/PyPI": 2651}


def test_failed_downloads_leave_the_database_intact(
    server: tuple[str, type[_Handler]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url, handler = server
    db = tmp_path / "vuln.db"
    assert main(["db", "update", "--db", str(db), "--ecosystem", "PyPI", "--source", url]) == 0
    before = db.read_bytes()
    capsys.readouterr()

    handler.truncate = True
    rc = main(["db", "update", "--db", str(db), "--ecosystem", "PyPI", "--source", url])
    err = capsys.readouterr().err
    assert rc == 2
    assert "left unchanged" in err
    assert db.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["vuln.db"]  # no temp files left

    handler.truncate = False
    rc = main(["db", "update", "--db", str(db), "--ecosystem", "Nope", "--source", url])
    assert rc == 2
    assert "HTTP 404" in capsys.readouterr().err
    assert db.read_bytes() == before

    rc = main(["db", "update", "--db", str(db), "--source", "http://127.0.0.1:9/x.zip", "--timeout", "5"])
    assert rc == 2
    assert db.read_bytes() == before


def test_import_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "vuln.db"
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert main(["db", "import", "--db", str(db), str(bad)]) == 2
    assert "bad.json: not valid JSON" in capsys.readouterr().err
    other = tmp_path / "other.json"
    other.write_text('{"hello": 1}')
    assert main(["db", "import", "--db", str(db), str(other)]) == 2
    assert main(["db", "status", "--db", str(db)]) == 1  # no database yet: a state, not an error
    assert "dockguard db update" in capsys.readouterr().err
    assert not db.exists()
