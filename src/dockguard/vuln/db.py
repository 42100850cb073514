"""The local vulnerability database: one SQLite file built from feeds (OSV, Debian, Alpine).

Layout: ``advisories`` (one row per advisory of a feed), ``affected`` (one row per advisory,
ecosystem and package, indexed on ``(ecosystem, name)`` so that one lookup per installed
package is a single index probe), ``feeds`` (source, record count, import time) and ``meta``.

Writes are atomic: a new file is built next to the target (rows of the feeds not being replaced
are copied from the current file), then ``os.replace`` swaps it in.  A failure at any point
leaves the current database untouched.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import sqlite3
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dockguard.errors import OperationalError

SCHEMA_VERSION = 1
ENV_VAR = "DOCKGUARD_DB"
DEFAULT_MAX_AGE = dt.timedelta(days=7)

Events = tuple[tuple[str, str], ...]
Ranges = tuple[tuple[str, Events], ...]

_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE feeds (
    name TEXT PRIMARY KEY, kind TEXT NOT NULL, source TEXT NOT NULL,
    records INTEGER NOT NULL, imported_at TEXT NOT NULL, newest_modified TEXT NOT NULL
);
CREATE TABLE advisories (
    rowid INTEGER PRIMARY KEY, feed TEXT NOT NULL, id TEXT NOT NULL, summary TEXT NOT NULL,
    details TEXT NOT NULL, modified TEXT NOT NULL,
    data TEXT NOT NULL  -- JSON [aliases, upstream, ratings, references]
);
CREATE TABLE affected (
    advisory INTEGER NOT NULL, ecosystem TEXT NOT NULL, name TEXT NOT NULL,
    spec TEXT NOT NULL,  -- JSON [ranges, versions]
    status TEXT NOT NULL, severity TEXT NOT NULL
);
"""
_INDEXES = """
CREATE INDEX affected_key ON affected (ecosystem, name);
CREATE INDEX advisories_feed ON advisories (feed);
"""


@dataclass(frozen=True)
class Affected:
    """What one advisory says about one package in one ecosystem.

    `ranges` holds ``(type, events)`` with OSV event names (introduced, fixed, last_affected,
    limit); `status` is a state hint from vendor feeds (``not_affected``, ``will_not_fix``,
    ``fix_deferred``, ``end_of_life``, ``under_investigation`` or empty); `severity` the
    vendor's rating as ``source:word`` (``debian:low``) or empty.
    """

    ecosystem: str
    name: str
    ranges: Ranges = ()
    versions: tuple[str, ...] = ()
    status: str = ""
    severity: str = ""


@dataclass(frozen=True)
class Advisory:
    """One advisory as the importers produce it (OSV semantics)."""

    id: str
    aliases: tuple[str, ...] = ()
    upstream: tuple[str, ...] = ()
    summary: str = ""
    details: str = ""
    ratings: tuple[tuple[str, str], ...] = ()
    references: tuple[str, ...] = ()
    modified: str = ""
    affected: tuple[Affected, ...] = ()


@dataclass(frozen=True)
class Feed:
    """A named set of advisories to load; a feed of the same name already stored is replaced."""

    name: str
    kind: str
    source: str
    advisories: Iterable[Advisory] = field(compare=False, default=())


@dataclass(frozen=True)
class FeedInfo:
    """What the database records about a loaded feed."""

    name: str
    kind: str
    source: str
    records: int
    imported_at: dt.datetime
    newest_modified: str

    def age(self, now: dt.datetime | None = None) -> dt.timedelta:
        """Time since the feed was imported."""
        return (now or dt.datetime.now(dt.UTC)) - self.imported_at


@dataclass(frozen=True)
class AffectedRow:
    """An ``affected`` row returned by a lookup."""

    advisory: int
    ecosystem: str
    name: str
    ranges: Sequence[Sequence[Any]]  # [type, [[event, version], ...]]
    versions: Sequence[str]
    status: str
    severity: str


@dataclass(frozen=True)
class AdvisoryRow:
    """An ``advisories`` row returned by `VulnDB.advisories`."""

    rowid: int
    feed: str
    id: str
    aliases: tuple[str, ...]
    upstream: tuple[str, ...]
    summary: str
    details: str
    ratings: tuple[tuple[str, str], ...]
    references: tuple[str, ...]


# --- normalisation --------------------------------------------------------------------------

_PEP503 = re.compile(r"[-_.]+")


def normalise_ecosystem(ecosystem: str) -> str:
    """Canonical ecosystem key: ``Ubuntu:22.04:LTS`` → ``Ubuntu:22.04``, Red Hat by major."""
    eco = ecosystem.strip()
    parts = eco.split(":")
    if parts[0] == "Ubuntu":
        return ":".join(p for p in parts if p != "LTS")
    if parts[0] == "Red Hat" and len(parts) >= 3 and parts[1] == "enterprise_linux":
        return f"Red Hat:{parts[2].split('.')[0]}"
    if parts[0] in ("Rocky Linux", "AlmaLinux") and len(parts) >= 2:
        return f"{parts[0]}:{parts[1].split('.')[0]}"
    return eco


def normalise_name(ecosystem: str, name: str) -> str:
    """Canonical package name: PEP 503 for PyPI, as is elsewhere."""
    if ecosystem.split(":", 1)[0] == "PyPI":
        return _PEP503.sub("-", name).lower()
    return name.strip()


def default_db_path() -> Path:
    """``$DOCKGUARD_DB``, else ``<user cache dir>/dockguard/vuln.db``."""
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir()) / "dockguard" / "vuln.db"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def _dump(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


# --- reading --------------------------------------------------------------------------------


class VulnDB:
    """A read-only handle on a built database."""

    def __init__(self, path: Path, conn: sqlite3.Connection) -> None:
        self.path = path
        self._conn = conn

    @classmethod
    def open(cls, path: Path | None = None) -> VulnDB:
        """Open the database at `path` (default: `default_db_path()`)."""
        path = path or default_db_path()
        if not path.is_file():
            raise OperationalError(
                f"no vulnerability database at {path}: run `dockguard db update` or `dockguard db import PATH`"
            )
        try:
            conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
            conn.execute("PRAGMA mmap_size = 1073741824")
            conn.execute("PRAGMA cache_size = -65536")
            row = conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        except sqlite3.DatabaseError as exc:
            raise OperationalError(f"{path} is not a dockguard vulnerability database: {exc}") from None
        if row is None or int(row[0]) != SCHEMA_VERSION:
            conn.close()
            raise OperationalError(f"{path} has an unsupported schema; rebuild it with `dockguard db update`")
        return cls(path, conn)

    def close(self) -> None:
        """Close the connection."""
        self._conn.close()

    def __enter__(self) -> VulnDB:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def built_at(self) -> dt.datetime | None:
        """When the file was last written."""
        row = self._conn.execute("SELECT value FROM meta WHERE key='built_at'").fetchone()
        return dt.datetime.fromisoformat(row[0]) if row else None

    def feeds(self) -> list[FeedInfo]:
        """Every loaded feed, by name."""
        rows = self._conn.execute(
            "SELECT name, kind, source, records, imported_at, newest_modified FROM feeds ORDER BY name"
        )
        return [FeedInfo(n, k, s, r, dt.datetime.fromisoformat(t), m) for n, k, s, r, t, m in rows]

    def stale_feeds(self, max_age: dt.timedelta = DEFAULT_MAX_AGE) -> list[FeedInfo]:
        """Feeds imported longer than `max_age` ago."""
        now = _now()
        return [f for f in self.feeds() if f.age(now) > max_age]

    def ecosystems(self) -> list[tuple[str, int]]:
        """(ecosystem, affected rows) for every ecosystem present."""
        rows = self._conn.execute("SELECT ecosystem, count(*) FROM affected GROUP BY ecosystem ORDER BY ecosystem")
        return [(e, n) for e, n in rows]

    def lookup(self, ecosystem: str, name: str) -> list[AffectedRow]:
        """Every affected row for one package (already-normalised ecosystem and name)."""
        rows = self._conn.execute(
            "SELECT advisory, ecosystem, name, spec, status, severity FROM affected WHERE ecosystem = ? AND name = ?",
            (ecosystem, name),
        )
        out = []
        for adv, eco, nm, spec, status, sev in rows:
            # Kept as decoded JSON lists: converting to tuples costs more than the match.
            ranges, versions = json.loads(spec)
            out.append(AffectedRow(adv, eco, nm, ranges, versions, status, sev))
        return out

    def advisories(self, rowids: Iterable[int]) -> dict[int, AdvisoryRow]:
        """Advisory rows by rowid."""
        ids = sorted(set(rowids))
        out: dict[int, AdvisoryRow] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self._conn.execute(
                f"SELECT rowid, feed, id, summary, details, data FROM advisories WHERE rowid IN ({marks})",
                chunk,
            )
            for rowid, feed, aid, summary, details, data in rows:
                aliases, upstream, ratings, refs = json.loads(data)
                out[rowid] = AdvisoryRow(
                    rowid,
                    feed,
                    aid,
                    tuple(aliases),
                    tuple(upstream),
                    summary,
                    details,
                    tuple((s, t) for s, t in ratings),
                    tuple(refs),
                )
        return out


# --- writing --------------------------------------------------------------------------------


def _insert_feed(conn: sqlite3.Connection, feed: Feed, imported_at: str) -> int:
    count = 0
    newest = ""
    cur = conn.cursor()
    affected_rows: list[tuple[object, ...]] = []
    for adv in feed.advisories:
        cur.execute(
            "INSERT INTO advisories (feed, id, summary, details, modified, data) VALUES (?,?,?,?,?,?)",
            (
                feed.name,
                adv.id,
                adv.summary,
                adv.details,
                adv.modified,
                _dump(
                    [
                        list(adv.aliases),
                        list(adv.upstream),
                        [list(r) for r in adv.ratings],
                        list(adv.references),
                    ]
                ),
            ),
        )
        rowid = cur.lastrowid
        for aff in adv.affected:
            affected_rows.append(
                (
                    rowid,
                    aff.ecosystem,
                    aff.name,
                    _dump([[[t, [list(e) for e in evs]] for t, evs in aff.ranges], list(aff.versions)]),
                    aff.status,
                    aff.severity,
                )
            )
        if len(affected_rows) >= 5000:
            cur.executemany("INSERT INTO affected VALUES (?,?,?,?,?,?)", affected_rows)
            affected_rows.clear()
        count += 1
        newest = max(newest, adv.modified)
    cur.executemany("INSERT INTO affected VALUES (?,?,?,?,?,?)", affected_rows)
    conn.execute(
        "INSERT OR REPLACE INTO feeds VALUES (?,?,?,?,?,?)",
        (feed.name, feed.kind, feed.source, count, imported_at, newest),
    )
    return count


def _carry_over(conn: sqlite3.Connection, old: Path, replaced: Sequence[str]) -> None:
    try:
        probe = sqlite3.connect(f"{old.resolve().as_uri()}?mode=ro", uri=True)
        try:
            row = probe.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        finally:
            probe.close()
    except sqlite3.DatabaseError as exc:
        raise OperationalError(
            f"existing file {old} is not a dockguard vulnerability database ({exc}); remove it or choose another --db"
        ) from None
    if row is None or int(row[0]) != SCHEMA_VERSION:
        return  # an older layout: rebuild from the feeds given only
    conn.execute("ATTACH DATABASE ? AS old", (f"{old.resolve().as_uri()}?mode=ro",))
    marks = ",".join("?" * len(replaced)) or "''"
    conn.execute(
        f"INSERT INTO advisories SELECT * FROM old.advisories WHERE feed NOT IN ({marks})",
        tuple(replaced),
    )
    conn.execute(
        "INSERT INTO affected SELECT af.* FROM old.affected af JOIN old.advisories ad "
        f"ON af.advisory = ad.rowid WHERE ad.feed NOT IN ({marks})",
        tuple(replaced),
    )
    conn.execute(f"INSERT INTO feeds SELECT * FROM old.feeds WHERE name NOT IN ({marks})", tuple(replaced))
    conn.commit()
    conn.execute("DETACH DATABASE old")


def write_feeds(target: Path, feeds: Sequence[Feed], *, keep_others: bool = True) -> list[int]:
    """Build a new database at `target` with `feeds` (and, by default, every other stored feed).

    Returns the number of records loaded per feed.  The file is built beside `target` and
    swapped in with ``os.replace``; on any error the previous file is left as it was.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        conn = sqlite3.connect(tmp, isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode = OFF")
            conn.execute("PRAGMA synchronous = OFF")
            conn.executescript(_SCHEMA)
            if keep_others and target.exists():
                _carry_over(conn, target, [f.name for f in feeds])
            counts = []
            imported_at = _now().isoformat()
            conn.execute("BEGIN")
            for feed in feeds:
                conn.execute("DELETE FROM feeds WHERE name = ?", (feed.name,))
                counts.append(_insert_feed(conn, feed, imported_at))
            conn.executemany(
                "INSERT OR REPLACE INTO meta VALUES (?, ?)",
                [("schema_version", str(SCHEMA_VERSION)), ("built_at", imported_at)],
            )
            conn.execute("COMMIT")
            # Store each package's rows next to each other so one lookup reads few pages.
            conn.executescript(
                "CREATE TABLE affected_sorted AS SELECT * FROM affected "
                "ORDER BY ecosystem, name, advisory; DROP TABLE affected; "
                "ALTER TABLE affected_sorted RENAME TO affected;"
            )
            conn.executescript(_INDEXES)
            conn.execute("ANALYZE")
        finally:
            conn.close()
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return counts
