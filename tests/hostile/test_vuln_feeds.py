"""Hostile versions reach the matcher, feeds keyed by source and ecosystem, old databases.

Versions an attacker controls (an image's installed version, a feed's fixed version) of
thousands of digits or with look-alike digits used to crash every later scan; now the scan
reports the advisory with the state ``unknown`` and the reason, and a gate on it fails.
"""

from __future__ import annotations

import json
import sqlite3
import zipfile
from pathlib import Path
from typing import Any

import pytest

from tests.hostile.harness import MAX_RSS_MIB, CliRun, run_cli
from tests.image_json import vulnerabilities

CVSS_CRITICAL = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"


def _sane(run: CliRun) -> None:
    assert not run.traceback, run.stderr
    assert "internal error" not in run.stderr
    assert run.max_rss_mib < MAX_RSS_MIB


def _record(rid: str, eco: str, name: str, fixed: str, **extra: object) -> dict[str, object]:
    return {
        "id": rid,
        "modified": "2099-01-01T00:00:00Z",
        "affected": [{"package": {"ecosystem": eco, "name": name},
                      "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": fixed}]}]}],
        "severity": [{"type": "CVSS_V3", "score": CVSS_CRITICAL}],
        **extra,
    }


def _rootfs(root: Path, *, deb_version: str, py_version: str, apk_version: str | None = None) -> Path:
    (root / "etc").mkdir(parents=True)
    if apk_version is None:
        (root / "etc/os-release").write_text('ID=debian\nVERSION_ID="12"\n')
        (root / "var/lib/dpkg").mkdir(parents=True)
        (root / "var/lib/dpkg/status").write_text(
            f"Package: bash\nStatus: install ok installed\nVersion: {deb_version}\nArchitecture: amd64\n\n"
        )
    else:
        (root / "etc/os-release").write_text('ID=alpine\nVERSION_ID=3.19.1\n')
        (root / "lib/apk/db").mkdir(parents=True)
        (root / "lib/apk/db/installed").write_text(f"P:zlib\nV:{apk_version}\no:zlib\nA:x86_64\n\n")
    dist = root / "usr/lib/python3.11/site-packages/demo-1.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: demo\nVersion: {py_version}\n\n")
    return root


def _scan(root: Path, db: Path, scratch: Path) -> tuple[CliRun, dict[str, dict[str, Any]]]:
    run = run_cli(["image", "scan", f"dir:{root}", "--db", str(db), "--no-cache", "--format", "json",
                   "--fail-on", "CRITICAL"], scratch=scratch)
    _sane(run)
    assert run.code in (0, 1), run.stderr
    return run, {v["id"]: v for v in vulnerabilities(json.loads(run.stdout))}


def _import(db: Path, scratch: Path, *paths: Path, extra: tuple[str, ...] = ()) -> CliRun:
    run = run_cli(["db", "import", "--db", str(db), *extra, *map(str, paths)], scratch=scratch)
    _sane(run)
    return run


HUGE = "1." + "9" * 5000
# dpkg fields longer than 4096 bytes are refused by the cataloguer (the scan is then incomplete),
# so the longest installed deb version that can reach the matcher is just under that.
LONG_DEB = "1." + "9" * 4000


@pytest.mark.parametrize(("deb", "py"), [("5.²-1", "1.²"), (LONG_DEB, HUGE), ("x:5.2-1", "1.0" + "\x00")],
                         ids=["superscript", "5000-digits", "bad-epoch-and-nul"])
def test_hostile_installed_versions_give_unknown_not_a_crash(tmp_path: Path, scratch: Path, deb: str,
                                                             py: str) -> None:
    feed = tmp_path / "feed"
    feed.mkdir()
    (feed / "a.json").write_text(json.dumps(_record("DSA-1", "Debian:12", "bash", "5.2-2", upstream=["CVE-2099-2"])))
    (feed / "b.json").write_text(json.dumps(_record("PYSEC-1", "PyPI", "demo", "2.0", aliases=["CVE-2099-1"])))
    db = tmp_path / "v.db"
    assert _import(db, scratch / "i", feed).code == 0
    root = _rootfs(tmp_path / "root", deb_version=deb, py_version=py)
    run, found = _scan(root, db, scratch / "s")
    assert run.code == 1  # the CRITICAL advisories are not passed over silently
    for cve in ("CVE-2099-1", "CVE-2099-2"):
        assert found[cve]["vulnerability"]["state"] == "unknown", found[cve]
        assert "cannot compare" in found[cve]["vulnerability"]["reason"]
        assert "(installed)" in found[cve]["vulnerability"]["reason"]


def test_hostile_fixed_versions_in_a_feed(tmp_path: Path, scratch: Path) -> None:
    """`db import` accepts them (they are strings); every later scan reports, never crashes."""
    feed = tmp_path / "feed"
    feed.mkdir()
    (feed / "a.json").write_text(json.dumps(_record("DSA-1", "Debian:12", "bash", "5.²-2", upstream=["CVE-2099-2"])))
    (feed / "b.json").write_text(json.dumps(_record("PYSEC-1", "PyPI", "demo", HUGE, aliases=["CVE-2099-1"])))
    (feed / "c.json").write_text(json.dumps(_record("PYSEC-2", "PyPI", "demo", "9.0", aliases=["CVE-2099-3"])))
    (feed / "d.json").write_text(json.dumps(_record("ALPINE-1", "Alpine:v3.19", "zlib", "1.²-r0",
                                                    aliases=["CVE-2099-4"])))
    db = tmp_path / "v.db"
    assert _import(db, scratch / "i", feed).code == 0
    run, found = _scan(_rootfs(tmp_path / "root", deb_version="5.2-1", py_version="1.0"), db, scratch / "s")
    assert run.code == 1
    assert found["CVE-2099-2"]["vulnerability"]["state"] == "unknown"
    assert "(fixed in the advisory)" in found["CVE-2099-2"]["vulnerability"]["reason"]
    assert found["CVE-2099-1"]["vulnerability"]["state"] == "unknown"
    assert "5002 characters long" in found["CVE-2099-1"]["vulnerability"]["reason"]
    assert found["CVE-2099-3"]["vulnerability"]["state"] == "fixed"  # the sane advisory is still evaluated
    assert found["CVE-2099-3"]["vulnerability"]["fixed"] == "9.0"
    run, found = _scan(_rootfs(tmp_path / "alpine", deb_version="", py_version="9.1", apk_version="1.3-r0"),
                       db, scratch / "a")
    assert found["CVE-2099-4"]["vulnerability"]["state"] == "unknown"
    assert "CVE-2099-3" not in found  # 9.1 is past the fix


def _status(db: Path, scratch: Path) -> dict[str, Any]:
    """`db status --format json`, decoded (a test reads into it freely)."""
    run = run_cli(["db", "status", "--db", str(db), "--format", "json"], scratch=scratch)
    _sane(run)
    assert run.code == 0, run.stderr
    status: dict[str, Any] = json.loads(run.stdout)
    return status


def _mixed_feed(tmp_path: Path) -> Path:
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    (mixed / "ALPINE-1.json").write_text(json.dumps(_record("ALPINE-1", "Alpine:v3.19", "zlib", "1.3-r0")))
    (mixed / "DSA-1.json").write_text(json.dumps(_record("DSA-1", "Debian:12", "bash", "5.2-2")))
    (mixed / "DSA-2.json").write_text(json.dumps(_record("DSA-2", "Debian:11", "bash", "5.1-2")))
    (mixed / "PYSEC-1.json").write_text(json.dumps(_record("PYSEC-1", "PyPI", "demo", "2.0")))
    return mixed


def test_an_import_replaces_only_its_own_feeds(tmp_path: Path, scratch: Path) -> None:
    db = tmp_path / "v.db"
    run = _import(db, scratch / "1", _mixed_feed(tmp_path))
    assert run.code == 0, run.stderr
    feeds = {f["name"]: f["records"] for f in _status(db, scratch / "2")["feeds"]}
    assert feeds == {"osv/Alpine:v3.19": 1, "osv/Debian:11": 1, "osv/Debian:12": 1, "osv/PyPI": 1}

    alpine = tmp_path / "ALPINE-2.json"
    alpine.write_text(json.dumps(_record("ALPINE-2", "Alpine:v3.19", "openssl", "3.1-r0")))
    run = _import(db, scratch / "3", alpine)
    assert run.code == 0, run.stderr
    assert "osv/Alpine:v3.19: 1 records" in run.stdout
    assert "replaced 1 records of osv/Alpine:v3.19" in run.stdout
    status = _status(db, scratch / "4")
    feeds = {f["name"]: f["records"] for f in status["feeds"]}
    assert feeds == {"osv/Alpine:v3.19": 1, "osv/Debian:11": 1, "osv/Debian:12": 1, "osv/PyPI": 1}
    assert status["ecosystems"] == {"Alpine:v3.19": 1, "Debian:11": 1, "Debian:12": 1, "PyPI": 1}
    assert {(f["source"], f["ecosystem"]) for f in status["feeds"]} >= {("osv", "Debian:12"), ("osv", "PyPI")}
    # The Debian advisories are still matched.
    run, found = _scan(_rootfs(tmp_path / "root", deb_version="5.2-1", py_version="1.0"), db, scratch / "5")
    assert {v["vulnerability"]["sources"][0] for v in found.values()} == {"osv/Debian:12", "osv/PyPI"}

    # Another source for the same ecosystem is a feed of its own.
    run = _import(db, scratch / "6", alpine, extra=("--name", "mirror"))
    assert "mirror/Alpine:v3.19: 1 records" in run.stdout and "(new feed)" in run.stdout
    assert len(_status(db, scratch / "7")["feeds"]) == 5


def test_text_status_lists_source_and_ecosystem(tmp_path: Path, scratch: Path) -> None:
    db = tmp_path / "v.db"
    assert _import(db, scratch / "1", _mixed_feed(tmp_path)).code == 0
    run = run_cli(["db", "status", "--db", str(db)], scratch=scratch / "2")
    _sane(run)
    lines = run.stdout.splitlines()
    header = next(line for line in lines if line.startswith("SOURCE"))
    assert header.split()[:3] == ["SOURCE", "ECOSYSTEM", "RECORDS"]
    assert any(line.split()[:3] == ["osv", "Debian:12", "1"] for line in lines)


_SCHEMA_1 = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE feeds (name TEXT PRIMARY KEY, kind TEXT NOT NULL, source TEXT NOT NULL,
    records INTEGER NOT NULL, imported_at TEXT NOT NULL, newest_modified TEXT NOT NULL);
CREATE TABLE advisories (rowid INTEGER PRIMARY KEY, feed TEXT NOT NULL, id TEXT NOT NULL, summary TEXT NOT NULL,
    details TEXT NOT NULL, modified TEXT NOT NULL, data TEXT NOT NULL);
CREATE TABLE affected (advisory INTEGER NOT NULL, ecosystem TEXT NOT NULL, name TEXT NOT NULL,
    spec TEXT NOT NULL, status TEXT NOT NULL, severity TEXT NOT NULL);
CREATE INDEX affected_key ON affected (ecosystem, name);
"""


def _schema_1_db(path: Path) -> None:
    """A database as the previous dockguard wrote it: one mixed feed named after its first record."""
    conn = sqlite3.connect(path)
    conn.executescript(_SCHEMA_1)
    meta = [("schema_version", "1"), ("built_at", "2099-01-01T00:00:00+00:00")]
    conn.executemany("INSERT INTO meta VALUES (?,?)", meta)
    conn.execute("INSERT INTO feeds VALUES ('osv:Alpine','osv','/old/mixed',3,'2099-01-01T00:00:00+00:00','')")
    data = json.dumps([[], [], [["CVSS_V3", CVSS_CRITICAL]], []])
    def spec(fixed: str) -> str:
        return json.dumps([[["ECOSYSTEM", [["introduced", "0"], ["fixed", fixed]]]], []])

    for rowid, aid, eco, name, fixed in [(1, "CVE-2099-7", "Alpine:v3.19", "zlib", "1.3-r0"),
                                         (2, "CVE-2099-8", "Debian:12", "bash", "5.2-2"),
                                         (3, "CVE-2099-9", "PyPI", "demo", "2.0")]:
        conn.execute("INSERT INTO advisories VALUES (?,?,?,?,?,?,?)", (rowid, "osv:Alpine", aid, "", "", "", data))
        conn.execute("INSERT INTO affected VALUES (?,?,?,?,?,?)", (rowid, eco, name, spec(fixed), "", ""))
    conn.commit()
    conn.close()


def test_a_schema_1_database_is_read_and_migrated(tmp_path: Path, scratch: Path) -> None:
    db = tmp_path / "old.db"
    _schema_1_db(db)
    run = run_cli(["db", "status", "--db", str(db)], scratch=scratch / "1")
    _sane(run)
    assert run.code == 0, run.stderr
    assert "schema 1" in run.stderr and "migrates it" in run.stderr
    root = _rootfs(tmp_path / "root", deb_version="5.2-1", py_version="1.0")
    _, found = _scan(root, db, scratch / "2")
    assert set(found) == {"CVE-2099-8", "CVE-2099-9"}

    alpine = tmp_path / "ALPINE-2.json"
    alpine.write_text(json.dumps(_record("CVE-2099-10", "Alpine:v3.19", "openssl", "3.1-r0")))
    run = _import(db, scratch / "3", alpine)
    assert run.code == 0, run.stderr
    assert "replaced 1 records of osv/Alpine:v3.19" in run.stdout
    status = _status(db, scratch / "4")
    assert status["schema"] == 2
    feeds = {f["name"]: (f["records"], f["origin"]) for f in status["feeds"]}
    assert feeds["osv/Debian:12"] == (1, "/old/mixed")
    assert feeds["osv/PyPI"] == (1, "/old/mixed")
    assert feeds["osv/Alpine:v3.19"][0] == 1
    _, found = _scan(root, db, scratch / "5")
    assert set(found) == {"CVE-2099-8", "CVE-2099-9"}
    assert found["CVE-2099-8"]["vulnerability"]["sources"] == ["osv/Debian:12"]


def test_a_newer_or_broken_database_is_refused_cleanly(tmp_path: Path, scratch: Path) -> None:
    db = tmp_path / "new.db"
    _schema_1_db(db)
    conn = sqlite3.connect(db)
    conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    conn.commit()
    conn.close()
    run = run_cli(["db", "status", "--db", str(db)], scratch=scratch / "1")
    _sane(run)
    assert run.code == 2 and "newer dockguard" in run.stderr
    conn = sqlite3.connect(db)
    conn.execute("UPDATE meta SET value = 'x²' WHERE key = 'schema_version'")
    conn.commit()
    conn.close()
    run = run_cli(["db", "status", "--db", str(db)], scratch=scratch / "2")
    _sane(run)
    assert run.code == 2 and "unsupported schema" in run.stderr


def _mirror_zip(mirror: Path, eco: str, records: list[dict[str, object]]) -> None:
    (mirror / eco).mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(mirror / eco / "all.zip", "w", zipfile.ZIP_DEFLATED) as zf:
        for rec in records:
            zf.writestr(f"{rec['id']}.json", json.dumps(rec))


def test_update_of_an_ecosystem_replaces_all_its_releases(tmp_path: Path, scratch: Path) -> None:
    """`db update --ecosystem Debian` stands for every Debian release: a release gone from the
    new zip is removed (and said so); other ecosystems and other sources are kept."""
    db = tmp_path / "v.db"
    mirror = tmp_path / "mirror"
    _mirror_zip(mirror, "Debian", [_record("DSA-1", "Debian:12", "bash", "5.2-2"),
                                   _record("DSA-2", "Debian:11", "bash", "5.1-2")])
    _mirror_zip(mirror, "PyPI", [_record("PYSEC-1", "PyPI", "demo", "2.0")])
    args = ["db", "update", "--db", str(db), "--source", mirror.as_uri()]
    run = run_cli([*args, "--ecosystem", "Debian", "--ecosystem", "PyPI"], scratch=scratch / "1")
    _sane(run)
    assert run.code == 0, run.stderr
    tracker = tmp_path / "tracker.json"
    tracker.write_text(json.dumps({"bash": {"CVE-2099-5": {"releases": {"bullseye": {"status": "open"}}}}}))
    assert _import(db, scratch / "2", tracker).code == 0

    _mirror_zip(mirror, "Debian", [_record("DSA-1", "Debian:12", "bash", "5.2-2"),
                                   _record("DSA-3", "Debian:12", "zlib", "1.3-1")])
    run = run_cli([*args, "--ecosystem", "Debian"], scratch=scratch / "3")
    _sane(run)
    assert run.code == 0, run.stderr
    assert "osv/Debian:12: 2 records" in run.stdout and "replaced 1 records of osv/Debian:12" in run.stdout
    assert "osv/Debian:11: removed (1 records" in run.stdout
    feeds = {f["name"]: f["records"] for f in _status(db, scratch / "4")["feeds"]}
    assert feeds == {"osv/Debian:12": 2, "osv/PyPI": 1, "debian-tracker/Debian:11": 1}
