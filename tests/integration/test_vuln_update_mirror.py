"""``db update`` against a local mirror on 127.0.0.1: OSV bucket layout, tracker and secdb.

The mirror is a directory laid out like the OSV bucket (``<Ecosystem>/all.zip``,
``modified_id.csv`` newest first, ``<ID>.json``) plus ``debian-tracker/json`` and
``alpine-secdb/<branch>/<repo>.json``, served by a small HTTP server that records every
request, so the tests count what an update fetched.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import threading
import urllib.parse
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dockguard.cli import main
from dockguard.image.packages import OSInfo, Package
from dockguard.model import Severity
from dockguard.vuln import download
from dockguard.vuln.database import VulnDB
from dockguard.vuln.match import match_packages

T0 = "2024-05-01T10:00:00Z"


def _rec(rid: str, eco: str, name: str, fixed: str, modified: str = T0, **extra: Any) -> dict[str, Any]:
    return {"id": rid, "modified": modified, "aliases": [], "affected": [{
        "package": {"ecosystem": eco, "name": name},
        "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": fixed}]}]}], **extra}


class Mirror:
    """An OSV-bucket-shaped directory the test edits like the exporter would."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.records: dict[str, dict[str, dict[str, Any]]] = {}

    def put(self, eco: str, record: dict[str, Any]) -> None:
        self.records.setdefault(eco, {})[record["id"]] = record

    def publish(self) -> None:
        for eco, records in self.records.items():
            d = self.root / eco
            d.mkdir(parents=True, exist_ok=True)
            with zipfile.ZipFile(d / "all.zip", "w", zipfile.ZIP_DEFLATED) as zf:
                for rid, rec in sorted(records.items()):
                    zf.writestr(f"{rid}.json", json.dumps(rec))
            for rid, rec in records.items():
                (d / f"{rid}.json").write_text(json.dumps(rec))
            order = sorted(records.values(), key=lambda r: r["modified"], reverse=True)
            (d / "modified_id.csv").write_text("".join(f"{r['modified']},{r['id']}\n" for r in order))


class _Handler(http.server.BaseHTTPRequestHandler):
    root: Path
    seen: list[str]
    broken: dict[str, int]

    def do_GET(self) -> None:
        path = urllib.parse.unquote(self.path)
        self.seen.append(path)
        if path in self.broken:
            self.send_error(self.broken[path])
            return
        target = self.root / path.lstrip("/")
        if ".." in path or not target.is_file():
            self.send_error(404)
            return
        data = target.read_bytes()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        # The client may read the head of modified_id.csv and close.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def mirror(tmp_path: Path) -> Iterator[tuple[Mirror, str, type[_Handler]]]:
    m = Mirror(tmp_path / "mirror")
    m.put("Debian", _rec("DSA-5001-1", "Debian:12", "openssl", "3.0.11-1~deb12u1", upstream=["CVE-2023-5678"]))
    m.put("Debian", _rec("DSA-5002-1", "Debian:11", "bash", "5.1-2+deb11u1", "2024-04-01T00:00:00Z"))
    m.put("Red Hat", _rec("RHSA-2024:2447", "Red Hat:enterprise_linux:9::baseos", "openssl", "1:3.0.7-27.el9",
                          upstream=["CVE-2023-5678"]))
    m.put("Red Hat", _rec("RHSA-2024:1000", "Red Hat:enterprise_linux:9::appstream", "nodejs", "1:18.19.0-1.el9"))
    m.put("Maven", _rec("GHSA-jfh8-c2jp-5v3q", "Maven", "org.apache.logging.log4j:log4j-core", "2.15.0",
                        aliases=["CVE-2021-44228"]))
    m.put("Maven", _rec("GHSA-7rjr-3q55-vv33", "Maven", "org.apache.logging.log4j:log4j-core", "2.16.0",
                        "2024-03-01T00:00:00.5Z", aliases=["CVE-2021-45046"]))
    m.put("Alpine", _rec("ALPINE-CVE-2023-5678", "Alpine:v3.22", "openssl", "3.1.4-r1", "2024-04-20T00:00:00Z"))
    m.publish()
    tracker = {"openssl": {"CVE-2023-5678": {"description": "DoS in DH key checks", "releases": {
        "bookworm": {"status": "resolved", "fixed_version": "3.0.11-1~deb12u1", "urgency": "low",
                     "repositories": {"bookworm": "3.0.11-1~deb12u2"}}}}}}
    (m.root / "debian-tracker").mkdir()
    (m.root / "debian-tracker" / "json").write_text(json.dumps(tracker))
    for repo, pkg, fix in (("main", "openssl", "3.1.4-r1"), ("community", "php82", "8.2.12-r0")):
        d = m.root / "alpine-secdb" / "v3.22"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"{repo}.json").write_text(json.dumps({
            "apkurl": "{{urlprefix}}/{{distroversion}}/{{reponame}}/{{arch}}/{{pkg.name}}-{{pkg.ver}}.apk",
            "archs": ["x86_64"], "reponame": repo, "urlprefix": "https://dl-cdn.alpinelinux.org/alpine",
            "distroversion": "v3.22", "packages": [{"pkg": {"name": pkg, "secfixes": {fix: ["CVE-2023-5678"]}}}]}))
    handler = type("H", (_Handler,), {"root": m.root, "seen": [], "broken": {}})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield m, f"http://127.0.0.1:{httpd.server_address[1]}", handler
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


ECOS = ("Debian", "Red Hat", "Maven", "Alpine")


def _update(db: Path, url: str, *extra: str) -> int:
    args = ["db", "update", "--db", str(db), "--source", url, "--alpine-branch", "v3.22"]
    for eco in ECOS:
        args += ["--ecosystem", eco]
    return main([*args, *extra])


def _status(db: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    capsys.readouterr()
    assert main(["db", "status", "--db", str(db), "--format", "json"]) == 0
    doc: dict[str, Any] = json.loads(capsys.readouterr().out)
    return doc


def _fixed(db: Path, pkg: Package, os_info: OSInfo | None = None) -> dict[str, str | None]:
    with VulnDB.open(db) as v:
        return {m.id: m.fixed_version for m in match_packages(v, os_info, [pkg])}


LOG4J = Package("maven", "org.apache.logging.log4j:log4j-core", "2.14.1")


def test_first_update_then_incremental_updates_fetch_only_changes(
    mirror: tuple[Mirror, str, type[_Handler]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    m, url, handler = mirror
    db = tmp_path / "vuln.db"
    assert _update(db, url) == 0
    out = capsys.readouterr().out
    # Full: the list's head and all.zip per ecosystem, the tracker, two secdb files.
    assert sorted(handler.seen) == sorted([f"/{e}/{f}" for e in ECOS for f in ("modified_id.csv", "all.zip")]
                                          + ["/debian-tracker/json", "/alpine-secdb/v3.22/main.json",
                                             "/alpine-secdb/v3.22/community.json"])
    assert "requests: 11" in out
    with VulnDB.open(db) as v:
        feeds = {f.name: f.records for f in v.feeds()}
        cursors = {s.ecosystem: s.cursor.isoformat() for s in v.sync_states().values()}
    assert feeds == {
        "osv/Debian:12": 1, "osv/Debian:11": 1, "osv/Red Hat:9": 2, "osv/Maven": 2, "osv/Alpine:v3.22": 1,
        "debian-tracker/Debian:12": 1, "alpine-secdb:main/Alpine:v3.22": 1, "alpine-secdb:community/Alpine:v3.22": 1,
    }
    assert cursors == {"Debian": "2024-05-01T10:00:00+00:00", "Red Hat": "2024-05-01T10:00:00+00:00",
                       "Maven": "2024-05-01T10:00:00+00:00", "Alpine": "2024-04-20T00:00:00+00:00"}
    assert _fixed(db, LOG4J) == {"CVE-2021-44228": "2.15.0", "CVE-2021-45046": "2.16.0"}

    # The exporter runs: one Maven record amended, one Debian record added, one Red Hat withdrawn.
    m.put("Maven", _rec("GHSA-jfh8-c2jp-5v3q", "Maven", "org.apache.logging.log4j:log4j-core", "2.15.0",
                        "2024-05-02T08:00:00.123456Z", aliases=["CVE-2021-44228"],
                        severity=[{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H"}]))
    m.put("Debian", _rec("DSA-5003-1", "Debian:12", "curl", "7.88.1-10+deb12u5", "2024-05-02T09:00:00Z"))
    withdrawn = _rec("RHSA-2024:1000", "Red Hat:enterprise_linux:9::appstream", "nodejs", "1:18.19.0-1.el9",
                     "2024-05-02T07:00:00Z", withdrawn="2024-05-02T07:00:00Z")
    m.put("Red Hat", withdrawn)
    m.publish()
    handler.seen.clear()
    assert _update(db, url, "--without", "debian-tracker", "--without", "alpine-secdb") == 0
    out = capsys.readouterr().out
    assert sorted(handler.seen) == sorted([
        "/Debian/modified_id.csv", "/Debian/DSA-5003-1.json",
        "/Red Hat/modified_id.csv", "/Red Hat/RHSA-2024:1000.json",
        "/Maven/modified_id.csv", "/Maven/GHSA-jfh8-c2jp-5v3q.json",
        "/Alpine/modified_id.csv",
    ])
    assert "osv Maven: incremental, 1 records changed since 2024-05-01T10:00:00+00:00 (2 requests)" in out
    assert "requests: 7" in out
    with VulnDB.open(db) as v:
        feeds = {f.name: f.records for f in v.feeds()}
        cursors = {s.ecosystem: s.cursor.isoformat() for s in v.sync_states().values()}
    assert feeds["osv/Debian:12"] == 2 and feeds["osv/Debian:11"] == 1
    assert feeds["osv/Red Hat:9"] == 1  # the withdrawn record is gone
    assert feeds["osv/Maven"] == 2
    assert feeds["debian-tracker/Debian:12"] == 1  # untouched sources kept
    assert cursors["Maven"] == "2024-05-02T08:00:00.123456+00:00"
    curl = Package("deb", "curl", "7.88.1-10+deb12u4", source_name="curl", source_version="7.88.1-10+deb12u4")
    assert _fixed(db, curl, OSInfo("debian", "12")) == {"DSA-5003-1": "7.88.1-10+deb12u5"}
    with VulnDB.open(db) as v:
        [log4shell] = [x for x in match_packages(v, None, [LOG4J]) if x.id == "CVE-2021-44228"]
    assert log4shell.severity is Severity.CRITICAL  # the amended record replaced the old one
    node = Package("rpm", "nodejs", "1:18.0.0-1.el9", source_name="nodejs", source_version="1:18.0.0-1.el9")
    assert _fixed(db, node, OSInfo("rhel", "9")) == {}

    # Nothing changed: one request per list, nothing else.
    handler.seen.clear()
    assert _update(db, url, "--without", "debian-tracker", "--without", "alpine-secdb") == 0
    assert handler.seen == [f"/{e}/modified_id.csv" for e in ECOS]
    status = _status(db, capsys)
    assert status["incremental"]["osv/Maven"]["cursor"] == "2024-05-02T08:00:00.123456+00:00"
    assert {s["source"]: s["records"] for s in status["sources"]} == {
        "osv": 7, "debian-tracker": 1, "alpine-secdb:main": 1, "alpine-secdb:community": 1}
    assert all(s["stale"] is False for s in status["sources"])

    # --full ignores the cursors.
    handler.seen.clear()
    assert _update(db, url, "--full", "--without", "debian-tracker", "--without", "alpine-secdb") == 0
    assert "/Maven/all.zip" in handler.seen and not any(p.endswith(".json") for p in handler.seen)


def test_failed_incremental_updates_leave_the_database_intact(
    mirror: tuple[Mirror, str, type[_Handler]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    m, url, handler = mirror
    db = tmp_path / "vuln.db"
    quiet = ("--without", "debian-tracker", "--without", "alpine-secdb")
    assert _update(db, url, *quiet) == 0
    before = db.read_bytes()
    m.put("Maven", _rec("GHSA-new1-new1-new1", "Maven", "com.example:lib", "1.1", "2024-06-01T00:00:00Z"))
    m.put("Maven", _rec("GHSA-new2-new2-new2", "Maven", "com.example:lib", "1.2", "2024-06-02T00:00:00Z"))
    m.publish()
    capsys.readouterr()

    def refused(*needles: str) -> None:
        assert _update(db, url, *quiet) == 2
        err = capsys.readouterr().err
        for needle in needles:
            assert needle in err, err
        assert "left unchanged" in err and "internal error" not in err
        assert db.read_bytes() == before
        assert sorted(p.name for p in tmp_path.iterdir()) == ["mirror", "vuln.db"]

    handler.broken["/Maven/GHSA-new1-new1-new1.json"] = 500
    refused("GHSA-new1-new1-new1.json", "HTTP 500")
    handler.broken.clear()
    handler.broken["/Maven/GHSA-new2-new2-new2.json"] = 404
    refused("is listed in", "db update --full")
    handler.broken.clear()

    # A record file holding another id than the list names.
    (m.root / "Maven" / "GHSA-new2-new2-new2.json").write_text(json.dumps(
        _rec("GHSA-evil-evil-evil", "Maven", "com.example:lib", "9", "2024-06-02T00:00:00Z")))
    refused("GHSA-evil-evil-evil", "the list names 'GHSA-new2-new2-new2'")
    m.publish()

    # Hostile lists: an id that would leave the directory, a line that is not '<time>,<id>'.
    csv = m.root / "Maven" / "modified_id.csv"
    good = csv.read_text()
    csv.write_text("2024-07-01T00:00:00Z,../../etc/passwd\n" + good)
    refused("is not an OSV id")
    csv.write_text("yesterday,GHSA-x\n" + good)
    refused("line 1 is not '<modified time>,<id>'")
    csv.write_text("2024-07-01T00:00:00Z," + "A" * 5000 + "\n" + good)
    refused("a line longer than 1024 bytes")
    csv.write_text(good)
    # A record that is not valid OSV: the whole update fails, nothing is half applied.
    (m.root / "Maven" / "GHSA-new1-new1-new1.json").write_text('{"id": "GHSA-new1-new1-new1", "affected": 7}')
    refused("GHSA-new1-new1-new1.json", "affected")
    m.publish()
    assert _update(db, url, *quiet) == 0
    assert _fixed(db, Package("maven", "com.example:lib", "1.0")) == {"GHSA-new1-new1-new1": "1.1",
                                                                       "GHSA-new2-new2-new2": "1.2"}


def test_incremental_falls_back_to_full_when_it_must(
    mirror: tuple[Mirror, str, type[_Handler]], tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    m, url, handler = mirror
    db = tmp_path / "vuln.db"
    quiet = ("--without", "debian-tracker", "--without", "alpine-secdb")
    assert _update(db, url, *quiet) == 0
    for n in range(3):
        when = f"2024-06-0{n + 1}T00:00:00Z"
        m.put("Maven", _rec(f"GHSA-bulk-{n:04d}-aaaa", "Maven", "com.example:lib", "2.0", when))
    m.publish()
    monkeypatch.setattr(download, "MAX_INCREMENTAL_RECORDS", 2)
    handler.seen.clear()
    capsys.readouterr()
    assert _update(db, url, *quiet) == 0
    out = capsys.readouterr().out
    assert "osv Maven: full download (2 requests): more than 2 records changed" in out
    assert "/Maven/all.zip" in handler.seen and not any(p.startswith("/Maven/GHSA") for p in handler.seen)
    with VulnDB.open(db) as v:
        assert {f.name: f.records for f in v.feeds()}["osv/Maven"] == 5

    # A list that is not newest first cannot be cut at the cursor: full download, said so.
    monkeypatch.setattr(download, "MAX_INCREMENTAL_RECORDS", 2000)
    m.put("Maven", _rec("GHSA-late-late-late", "Maven", "com.example:lib", "3.0", "2024-07-01T00:00:00Z"))
    m.put("Maven", _rec("GHSA-last-last-last", "Maven", "com.example:lib", "3.1", "2024-07-02T00:00:00Z"))
    m.publish()
    csv = m.root / "Maven" / "modified_id.csv"
    lines = csv.read_text().splitlines()
    csv.write_text("\n".join([lines[1], lines[0], *lines[2:]]) + "\n")
    assert _update(db, url, *quiet) == 0
    assert "modified_id.csv is not sorted newest first" in capsys.readouterr().out

    # Importing an OSV Maven file by hand replaces the feed: its cursor is forgotten.
    m.publish()
    assert main(["db", "import", "--db", str(db), str(m.root / "Maven" / "all.zip")]) == 0
    with VulnDB.open(db) as v:
        assert "sync:osv/Maven" not in v.sync_states() and "sync:osv/Debian" in v.sync_states()
    handler.seen.clear()
    assert _update(db, url, *quiet) == 0
    assert "/Maven/all.zip" in handler.seen and "/Debian/all.zip" not in handler.seen


def test_a_mirror_without_tracker_or_secdb_is_said_so(
    mirror: tuple[Mirror, str, type[_Handler]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    m, url, handler = mirror
    db = tmp_path / "vuln.db"
    handler.broken["/debian-tracker/json"] = 404
    assert _update(db, url) == 0
    err = capsys.readouterr().err
    assert "debian-tracker: skipped, the mirror has no" in err
    # Named explicitly, a missing tracker is an error.
    before = db.read_bytes()
    assert _update(db, url, "--tracker-url", f"{url}/debian-tracker/json") == 2
    assert "HTTP 404" in capsys.readouterr().err
    assert db.read_bytes() == before
    # A secdb file that is another branch than its URL says.
    handler.broken.clear()
    (m.root / "alpine-secdb" / "v3.22" / "main.json").write_text(json.dumps(
        {"distroversion": "v3.21", "reponame": "main", "packages": []}))
    assert _update(db, url) == 2
    assert "is the secdb of alpine-secdb:main Alpine:v3.21, not of main Alpine:v3.22" in capsys.readouterr().err
    assert db.read_bytes() == before
