"""Scoped and patch imports, sync states in ``meta``, and the staleness warning scans print."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from pathlib import Path
from typing import Any

from dockguard.vuln.database import (
    Advisory,
    Affected,
    Import,
    SyncState,
    VulnDB,
    parse_osv_time,
    staleness_warning,
    write_imports,
)

RANGE = (("ECOSYSTEM", (("introduced", "0"), ("fixed", "2.0"))),)


def _adv(rid: str, *ecos: str, modified: str = "2024-01-01T00:00:00Z") -> Advisory:
    return Advisory(rid, modified=modified, affected=tuple(Affected(e, "p", RANGE) for e in ecos))


def _feeds(db: Path) -> dict[str, int]:
    with VulnDB.open(db) as v:
        return {f.name: f.records for f in v.feeds()}


def _ids(db: Path, feed: str) -> set[str]:
    with sqlite3.connect(db) as conn:
        return {r[0] for r in conn.execute("SELECT id FROM advisories WHERE feed = ?", (feed,))}


def test_a_scoped_import_never_touches_another_ecosystems_feed(tmp_path: Path) -> None:
    db = tmp_path / "v.db"
    write_imports(db, [Import("osv", "osv", "npm.zip", [_adv("GHSA-n1", "npm"), _adv("GHSA-n2", "npm")],
                              scope=("npm",))])
    # A GHSA naming PyPI and npm packages sits in PyPI/all.zip: the PyPI update keeps npm whole.
    write_imports(db, [Import("osv", "osv", "pypi.zip", [_adv("GHSA-both", "PyPI", "npm")], scope=("PyPI",))])
    assert _feeds(db) == {"osv/PyPI": 1, "osv/npm": 2}
    assert _ids(db, "osv/npm") == {"GHSA-n1", "GHSA-n2"}


def test_patch_imports_replace_only_their_ids_in_their_scope(tmp_path: Path) -> None:
    db = tmp_path / "v.db"
    cursor = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    sync = SyncState("osv", "Debian", "http://m", cursor)
    write_imports(db, [
        Import("osv", "osv", "d.zip", [_adv("DSA-1", "Debian:12"), _adv("DSA-2", "Debian:11"),
                                       _adv("DSA-3", "Debian:12", "Debian:11")], scope=("Debian",), sync=sync),
        Import("osv", "osv", "p.zip", [_adv("DSA-1", "PyPI")], scope=("PyPI",)),  # the same id elsewhere
    ])
    assert _feeds(db) == {"osv/Debian:12": 2, "osv/Debian:11": 2, "osv/PyPI": 1}
    later = "2024-02-01T00:00:00.5Z"
    patch = Import("osv", "osv", "list.csv", [_adv("DSA-3", "Debian:12", modified=later), _adv("DSA-4", "Debian:13")],
                   scope=("Debian",), replace_ids=frozenset({"DSA-1", "DSA-3", "DSA-4"}),
                   sync=SyncState("osv", "Debian", "http://m", parse_osv_time(later) or cursor))
    results = {r.key.name: (r.records, r.replaced, r.patched) for r in write_imports(db, [patch])}
    # DSA-1 withdrawn (not in the patch), DSA-3 now Debian:12 only, DSA-4 new; PyPI's DSA-1 kept.
    assert results == {"osv/Debian:11": (1, 2, True), "osv/Debian:12": (1, 2, True), "osv/Debian:13": (1, None, False)}
    assert _ids(db, "osv/Debian:11") == {"DSA-2"} and _ids(db, "osv/Debian:12") == {"DSA-3"}
    assert _ids(db, "osv/PyPI") == {"DSA-1"}
    with VulnDB.open(db) as v:
        states = v.sync_states()
    assert states["sync:osv/Debian"].cursor == dt.datetime(2024, 2, 1, 0, 0, 0, 500000, tzinfo=dt.UTC)
    # A plain import of Debian OSV data makes the cursor meaningless: it is forgotten.
    write_imports(db, [Import("osv", "osv", "hand.json", [_adv("DSA-9", "Debian:12")])])
    with VulnDB.open(db) as v:
        assert "sync:osv/Debian" not in v.sync_states()
    # ... while an import of another source or ecosystem keeps it.
    write_imports(db, [Import("osv", "osv", "d.zip", [_adv("DSA-1", "Debian:12")], scope=("Debian",), sync=sync)])
    write_imports(db, [Import("osv", "osv", "p.zip", [_adv("PYSEC-1", "PyPI")], scope=("PyPI",)),
                       Import("debian-tracker", "debian-tracker", "t.json", [_adv("CVE-1", "Debian:12")])])
    with VulnDB.open(db) as v:
        assert set(v.sync_states()) == {"sync:osv/Debian"}


def test_sync_state_cursor_never_passes_the_newest_record(tmp_path: Path) -> None:
    db = tmp_path / "v.db"
    head = dt.datetime(2024, 6, 1, tzinfo=dt.UTC)  # the list's head, read before a zip made earlier
    write_imports(db, [Import("osv", "osv", "z", [_adv("A-1", "Go", modified="2024-05-01T00:00:00Z")],
                              scope=("Go",), sync=SyncState("osv", "Go", "http://m", head))])
    with VulnDB.open(db) as v:
        assert v.sync_states()["sync:osv/Go"].cursor == dt.datetime(2024, 5, 1, tzinfo=dt.UTC)


def test_unreadable_sync_states_are_ignored(tmp_path: Path) -> None:
    db = tmp_path / "v.db"
    write_imports(db, [Import("osv", "osv", "z", [_adv("A-1", "Go")], scope=("Go",))])
    with sqlite3.connect(db) as conn:
        conn.executemany("INSERT INTO meta VALUES (?, ?)", [
            ("sync:osv/Go", "not json"), ("sync:osv/npm", json.dumps({"base": "x", "cursor": "yesterday"})),
            ("sync:noslash", "{}"), ("sync:osv/PyPI", json.dumps({"base": "x", "cursor": "2024-01-01T00:00:00+00:00"})),
        ])
    with VulnDB.open(db) as v:
        assert list(v.sync_states()) == ["sync:osv/PyPI"]
    for text in ("2024-02-30T00:00:00Z", "2024-01-01", "9" * 5000, "2024-01-01T00:00:00+99:99"):
        assert parse_osv_time(text) is None, text


def test_staleness_warning(tmp_path: Path) -> None:
    db = tmp_path / "v.db"
    write_imports(db, [Import("osv", "osv", "a", [_adv("A-1", "Debian:12")], scope=("Debian",)),
                       Import("osv", "osv", "b", [_adv("B-1", "Alpine:v3.19")], scope=("Alpine",))])
    with VulnDB.open(db) as v:
        assert staleness_warning(v) is None
    old = (dt.datetime.now(dt.UTC) - dt.timedelta(days=9, hours=1)).isoformat()
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE feeds SET imported_at = ? WHERE ecosystem = 'Alpine:v3.19'", (old,))
    with VulnDB.open(db) as v:
        text: Any = staleness_warning(v)
        assert text.startswith("vulnerability data is 9 days old (older than 7 days: osv/Alpine:v3.19)")
        assert text.endswith("refresh it with `dockguard db update`")
        assert staleness_warning(v, ecosystems=["Debian:12"]) is None  # not this scan's data
        assert staleness_warning(v, ecosystems=["Alpine"]) is not None
        assert staleness_warning(v, max_age=dt.timedelta(days=10)) is None
