"""The local vulnerability database: one SQLite file built from feeds (OSV, Debian, Alpine).

Layout: ``advisories`` (one row per advisory of a feed), ``affected`` (one row per advisory,
ecosystem and package, indexed on ``(ecosystem, name)`` so that one lookup per installed
package is a single index probe), ``feeds`` and ``meta``.

A feed is keyed by its source and ecosystem (`FeedKey`: ``osv/PyPI``, ``osv/Debian:12``,
``debian-tracker/Debian:12``, ``alpine-secdb:main/Alpine:v3.19``).  An import replaces
exactly the feeds it brings data for (plus those its `Import.scope` names) and keeps every
other one, and it reports what it replaced.  An advisory that names several ecosystems is
stored once per ecosystem, in each one's feed.

Writes are atomic: a new file is built next to the target (rows of the feeds not being replaced
are copied from the current file), then ``os.replace`` swaps it in.  A failure at any point
leaves the current database byte for byte as it was.  Files written by the previous layout
(schema 1, one feed per import named after its first record's ecosystem) are still read, and
are migrated (split by ecosystem) by the next write.

An import may also *patch* the feeds of its scope (`Import.replace_ids`: an incremental
update): their rows are kept except the advisories it replaces or withdraws.  ``meta`` holds
each incremental source's position (`SyncState`, key ``sync:<source>/<ecosystem>``); a write
that replaces those feeds any other way forgets it, so the next update is a full one.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import sqlite3
import stat
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dockguard.errors import OperationalError

SCHEMA_VERSION = 2
READABLE_SCHEMAS = (1, 2)
ENV_VAR = "DOCKGUARD_DB"
DEFAULT_MAX_AGE = dt.timedelta(days=7)

Events = tuple[tuple[str, str], ...]
Ranges = tuple[tuple[str, Events], ...]

_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE feeds (
    name TEXT PRIMARY KEY, source TEXT NOT NULL, ecosystem TEXT NOT NULL, kind TEXT NOT NULL,
    origin TEXT NOT NULL, records INTEGER NOT NULL, imported_at TEXT NOT NULL, newest_modified TEXT NOT NULL
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


@dataclass(frozen=True, order=True)
class FeedKey:
    """What a feed is: who publishes it (``osv``, ``debian-tracker``, ``alpine-secdb:main``)
    and for which ecosystem (normalised: ``PyPI``, ``Debian:12``, ``Alpine:v3.19``)."""

    source: str
    ecosystem: str

    @property
    def name(self) -> str:
        """``source/ecosystem`` — how reports and ``db status`` name the feed."""
        return f"{self.source}/{self.ecosystem}"


@dataclass(frozen=True)
class Import:
    """Advisories from one input, to be stored under ``(source, ecosystem of each affected)``.

    Every feed the advisories bring data for is replaced.  `scope` names ecosystems whose
    feeds of this source are replaced even when the new data has nothing for them: an exact
    ecosystem (``Alpine:v3.19`` of a secdb file) or a family (``Debian`` covers ``Debian:*``,
    for ``db update --ecosystem Debian``).  `declared` ecosystems get a feed row even when
    empty (a secdb file without fixes still says "nothing fixed").
    """

    source: str
    kind: str
    origin: str
    advisories: Iterable[Advisory] = field(compare=False, default=())
    scope: tuple[str, ...] = ()
    declared: tuple[str, ...] = ()
    #: Patch instead of replace: the feeds in `scope` keep their rows but these advisory ids.
    replace_ids: frozenset[str] | None = field(compare=False, default=None)
    #: Position to record once written (an incremental source's cursor).
    sync: SyncState | None = field(compare=False, default=None)

    def covers(self, key: FeedKey) -> bool:
        """True when `scope` makes this import replace (or patch) `key`."""
        return key.source == self.source and in_scope(key.ecosystem, self.scope)


def in_scope(ecosystem: str, scope: Iterable[str]) -> bool:
    """True when `ecosystem` is one of `scope` or a release of one (``Debian:12`` in ``Debian``)."""
    return any(ecosystem == e or ecosystem.startswith(e + ":") for e in scope)


@dataclass(frozen=True)
class SyncState:
    """Where an incremental source stands: its base URL and the modification time up to which
    every record is in the database (`cursor`, UTC)."""

    source: str
    ecosystem: str
    base: str
    cursor: dt.datetime
    synced_at: dt.datetime | None = None

    @property
    def key(self) -> str:
        """The ``meta`` key: ``sync:osv/Debian``."""
        return f"sync:{self.source}/{self.ecosystem}"

    def dump(self) -> str:
        """The ``meta`` value (JSON)."""
        at = self.synced_at.isoformat() if self.synced_at else None
        return _dump({"base": self.base, "cursor": self.cursor.isoformat(), "at": at})

    @classmethod
    def load(cls, key: str, value: str) -> SyncState | None:
        """Parse a ``meta`` row; None when it is not a readable sync state."""
        if not key.startswith("sync:") or "/" not in key:
            return None
        source, _, eco = key[5:].partition("/")
        try:
            doc = json.loads(value)
            base, cursor, at = str(doc["base"]), _parse_time(doc["cursor"]), doc.get("at")
            return cls(source, eco, base, cursor, _parse_time(at) if at else None)
        except (ValueError, TypeError, KeyError, AttributeError):
            return None


_OSV_TIME = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[T ]([0-9]{2}):([0-9]{2}):([0-9]{2})"
    r"(?:\.([0-9]{1,12}))?(Z|[+-][0-9]{2}:?[0-9]{2})?",
    re.ASCII,
)


def parse_osv_time(text: str) -> dt.datetime | None:
    """An RFC 3339 time as OSV writes it (``2024-05-01T10:00:00.123456789Z``), in UTC; None if not one."""
    m = _OSV_TIME.fullmatch(text.strip())
    if not m:
        return None
    year, month, day, hour, minute, second, frac, zone = m.groups()
    try:
        t = dt.datetime(int(year), int(month), int(day), int(hour), int(minute), int(second),
                        int((frac or "0")[:6].ljust(6, "0")), tzinfo=dt.UTC)
        if zone and zone != "Z":
            sign = 1 if zone[0] == "+" else -1
            digits = zone[1:].replace(":", "")
            hours, minutes = int(digits[:2]), int(digits[2:])
            if hours > 23 or minutes > 59:
                return None
            t -= sign * dt.timedelta(hours=hours, minutes=minutes)
    except (ValueError, OverflowError):
        return None
    return t


@dataclass(frozen=True)
class FeedInfo:
    """What the database records about a loaded feed."""

    name: str
    source: str
    ecosystem: str
    kind: str
    origin: str
    records: int
    imported_at: dt.datetime
    newest_modified: str

    def age(self, now: dt.datetime | None = None) -> dt.timedelta:
        """Time since the feed was imported."""
        return (now or dt.datetime.now(dt.UTC)) - self.imported_at


@dataclass(frozen=True)
class WriteResult:
    """One feed a write touched: `records` now stored (None: removed), `replaced` before (None: new)."""

    key: FeedKey
    origin: str
    records: int | None
    replaced: int | None
    #: True when an incremental import patched the feed rather than replacing it.
    patched: bool = False


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


_SLE_PRODUCT = re.compile(r"SUSE:Linux Enterprise (?!Micro )[^:]*? ([0-9]{1,3}(?: SP[0-9]{1,2})?)", re.ASCII)


def normalise_ecosystem(ecosystem: str) -> str:
    """Canonical ecosystem key, the form `distros.os_ecosystems` looks up.

    ``Ubuntu:22.04:LTS`` → ``Ubuntu:22.04`` (``Ubuntu:Pro:18.04:LTS`` → ``Ubuntu:Pro:18.04``);
    ``Red Hat:enterprise_linux:9::baseos`` → ``Red Hat:9`` (other Red Hat streams, such as
    ``rhel_eus``, stay apart); ``Rocky Linux:9.3`` → ``Rocky Linux:9``; every SLE product and
    module of one service pack (``SUSE:Linux Enterprise Module for Basesystem 15 SP5``,
    ``SUSE:Linux Enterprise Server 15 SP5``) → ``SUSE:Linux Enterprise 15 SP5``, since SUSE
    files a package under the module that ships it.
    """
    eco = ecosystem.strip()
    parts = eco.split(":")
    if parts[0] == "Ubuntu":
        return ":".join(p for p in parts if p != "LTS")
    if parts[0] == "Red Hat" and len(parts) >= 3 and parts[1] == "enterprise_linux":
        return f"Red Hat:{parts[2].split('.')[0]}"
    if parts[0] in ("Rocky Linux", "AlmaLinux", "Azure Linux", "Mageia") and len(parts) >= 2:
        return f"{parts[0]}:{parts[1].split('.')[0]}"
    if parts[0] == "SUSE":
        m = _SLE_PRODUCT.fullmatch(eco)
        if m:
            return f"SUSE:Linux Enterprise {m.group(1)}"
    return eco


_CASE_FREE_NAMES = frozenset({"NuGet", "Packagist"})


def normalise_name(ecosystem: str, name: str) -> str:
    """Canonical package name: PEP 503 for PyPI, lower case where names are case-free
    (NuGet package ids, Composer ``vendor/package``), as is elsewhere."""
    base = ecosystem.split(":", 1)[0]
    if base == "PyPI":
        return _PEP503.sub("-", name).lower()
    if base in _CASE_FREE_NAMES:
        return name.strip().lower()
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


def _parse_time(text: object) -> dt.datetime:
    t = dt.datetime.fromisoformat(str(text))
    return t if t.tzinfo else t.replace(tzinfo=dt.UTC)


def _schema_of(conn: sqlite3.Connection, path: Path) -> int:
    row = conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
    text = str(row[0]) if row else ""
    if text.isascii() and text.isdigit() and int(text) in READABLE_SCHEMAS:
        return int(text)
    if text.isascii() and text.isdigit() and int(text) > SCHEMA_VERSION:
        raise OperationalError(f"{path} was written by a newer dockguard (schema {text}); update dockguard")
    raise OperationalError(f"{path} has an unsupported schema; rebuild it with `dockguard db update`")


# --- reading --------------------------------------------------------------------------------


class VulnDB:
    """A read-only handle on a built database."""

    def __init__(self, path: Path, conn: sqlite3.Connection, schema: int = SCHEMA_VERSION) -> None:
        self.path = path
        self._conn = conn
        self.schema = schema

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
            schema = _schema_of(conn, path)
        except sqlite3.DatabaseError as exc:
            raise OperationalError(f"{path} is not a dockguard vulnerability database: {exc}") from None
        except OperationalError:
            conn.close()
            raise
        return cls(path, conn, schema)

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
        try:
            return _parse_time(row[0]) if row else None
        except (ValueError, TypeError):
            return None

    def feeds(self) -> list[FeedInfo]:
        """Every loaded feed, by source then ecosystem (schema 1: by name, ecosystem ``*``)."""
        try:
            if self.schema == 1:
                rows = self._conn.execute(
                    "SELECT name, kind, '*', kind, source, records, imported_at, newest_modified "
                    "FROM feeds ORDER BY name"
                ).fetchall()
            else:
                rows = self._conn.execute(
                    "SELECT name, source, ecosystem, kind, origin, records, imported_at, newest_modified "
                    "FROM feeds ORDER BY source, ecosystem"
                ).fetchall()
            return [FeedInfo(n, s, e, k, o, int(r), _parse_time(t), str(m)) for n, s, e, k, o, r, t, m in rows]
        except (sqlite3.DatabaseError, ValueError, TypeError) as exc:
            raise OperationalError(f"{self.path}: unreadable feed table ({exc})") from None

    def stale_feeds(self, max_age: dt.timedelta = DEFAULT_MAX_AGE) -> list[FeedInfo]:
        """Feeds imported longer than `max_age` ago."""
        now = _now()
        return [f for f in self.feeds() if f.age(now) > max_age]

    def sync_states(self) -> dict[str, SyncState]:
        """Incremental sources' positions, by meta key (``sync:osv/Debian``); unreadable ones left out."""
        if self.schema < 2:
            return {}
        rows = self._conn.execute("SELECT key, value FROM meta WHERE key LIKE 'sync:%'").fetchall()
        states = {}
        for key, value in rows:
            state = SyncState.load(str(key), str(value))
            if state is not None:
                states[state.key] = state
        return states

    def ecosystems(self) -> list[tuple[str, int]]:
        """(ecosystem, affected rows) for every ecosystem present."""
        rows = self._conn.execute("SELECT ecosystem, count(*) FROM affected GROUP BY ecosystem ORDER BY ecosystem")
        return [(e, n) for e, n in rows]

    def has_ecosystem(self, ecosystem: str) -> bool:
        """True when a feed covers `ecosystem` (normalised), even one without any advisory."""
        if self.schema >= 2:
            query = "SELECT 1 FROM feeds WHERE ecosystem = ? LIMIT 1"
            if self._conn.execute(query, (ecosystem,)).fetchone() is not None:
                return True
        query = "SELECT 1 FROM affected WHERE ecosystem = ? LIMIT 1"
        return self._conn.execute(query, (ecosystem,)).fetchone() is not None

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


# --- writing ---


class _Writer:
    """Inserts advisories into the new file, one advisory row per feed key."""

    def __init__(self, conn: sqlite3.Connection, imported_at: str) -> None:
        self.conn = conn
        self.imported_at = imported_at
        self.keys: dict[FeedKey, tuple[str, str, str]] = {}  # key -> (kind, origin, newest modified)
        self._affected: list[tuple[object, ...]] = []

    def add(self, imp: Import) -> tuple[dt.datetime | None, set[FeedKey]]:
        """Insert the import's rows; return the newest modification time among its advisories
        and the feeds it brought data for."""
        cur = self.conn.cursor()
        newest: dt.datetime | None = None
        touched: set[FeedKey] = set()
        for eco in imp.declared:
            touched.add(FeedKey(imp.source, eco))
            self._touch(FeedKey(imp.source, eco), imp, "")
        for adv in imp.advisories:
            by_eco: dict[str, list[Affected]] = {}
            for aff in adv.affected:
                # A scoped import (one ecosystem of a bucket) writes nothing outside its scope: a
                # record that also names another ecosystem must not replace that one's feed.
                if not imp.scope or in_scope(aff.ecosystem, imp.scope):
                    by_eco.setdefault(aff.ecosystem, []).append(aff)
            modified = parse_osv_time(adv.modified) if imp.sync is not None and by_eco else None
            if modified is not None and (newest is None or modified > newest):
                newest = modified
            data = _dump([list(adv.aliases), list(adv.upstream), [list(r) for r in adv.ratings], list(adv.references)])
            for eco, affected in by_eco.items():
                key = FeedKey(imp.source, eco)
                touched.add(key)
                self._touch(key, imp, adv.modified)
                cur.execute(
                    "INSERT INTO advisories (feed, id, summary, details, modified, data) VALUES (?,?,?,?,?,?)",
                    (key.name, adv.id, adv.summary, adv.details, adv.modified, data),
                )
                rowid = cur.lastrowid
                for aff in affected:
                    spec = _dump([[[t, [list(e) for e in evs]] for t, evs in aff.ranges], list(aff.versions)])
                    self._affected.append((rowid, aff.ecosystem, aff.name, spec, aff.status, aff.severity))
                if len(self._affected) >= 5000:
                    self.flush()
        self.flush()
        return newest, touched

    def _touch(self, key: FeedKey, imp: Import, modified: str) -> None:
        kind, origin, newest = self.keys.get(key, (imp.kind, imp.origin, ""))
        if imp.origin not in origin.split(", "):
            origin = f"{origin}, {imp.origin}"
        self.keys[key] = (kind, origin, max(newest, modified))

    def flush(self) -> None:
        self.conn.executemany("INSERT INTO affected VALUES (?,?,?,?,?,?)", self._affected)
        self._affected.clear()

    def finish(self) -> dict[FeedKey, int]:
        """Write the feed rows; return the record count (distinct advisory ids) per key."""
        counts = dict(self.conn.execute("SELECT feed, count(DISTINCT id) FROM advisories GROUP BY feed").fetchall())
        newest_rows = self.conn.execute("SELECT feed, max(modified) FROM advisories GROUP BY feed").fetchall()
        newest_of = {str(f): str(m or "") for f, m in newest_rows}
        out = {}
        for key, (kind, origin, _) in self.keys.items():
            out[key] = int(counts.get(key.name, 0))
            self.conn.execute(
                "INSERT INTO feeds VALUES (?,?,?,?,?,?,?,?)",
                (key.name, key.source, key.ecosystem, kind, origin, out[key], self.imported_at,
                 newest_of.get(key.name, "")),
            )
        return out


def _legacy_source(name: str, kind: str) -> str:
    """Schema 1 feed name → source (``alpine-secdb:v3.10/main`` → ``alpine-secdb:main``)."""
    if kind == "alpine-secdb":
        repo = name.rpartition("/")[2] if "/" in name else ""
        return f"alpine-secdb:{repo}" if repo else "alpine-secdb"
    return kind


def _old_feeds(conn: sqlite3.Connection, schema: int) -> dict[FeedKey, tuple[str, str, int, str, str]]:
    """Feeds of the attached old file: key -> (name, kind, records, imported_at, origin)."""
    if schema == 1:
        out: dict[FeedKey, tuple[str, str, int, str, str]] = {}
        # A schema 1 feed mixes ecosystems: split it the way the new layout stores it.
        rows = conn.execute(
            "SELECT f.name, f.kind, f.imported_at, f.source, af.ecosystem, count(DISTINCT ad.id) "
            "FROM old.feeds f JOIN old.advisories ad ON ad.feed = f.name "
            "JOIN old.affected af ON af.advisory = ad.rowid GROUP BY f.name, af.ecosystem"
        )
        for name, kind, imported_at, origin, eco, n in rows:
            key = FeedKey(_legacy_source(str(name), str(kind)), str(eco))
            out[key] = (str(name), str(kind), int(n), str(imported_at), str(origin))
        return out
    rows = conn.execute("SELECT name, source, ecosystem, kind, records, imported_at, origin FROM old.feeds")
    return {FeedKey(str(s), str(e)): (str(n), str(k), int(r), str(t), str(o)) for n, s, e, k, r, t, o in rows}


@dataclass
class _CarryOver:
    """What copying the old file did: sizes of the feeds replaced, and the feeds patched."""

    replaced: dict[FeedKey, int] = field(default_factory=dict)
    patched: dict[FeedKey, int] = field(default_factory=dict)
    meta: dict[str, str] = field(default_factory=dict)


def _carry_over(
    conn: sqlite3.Connection, old: Path, written: set[FeedKey], imports: Sequence[Import]
) -> _CarryOver:
    """Copy the old file's feeds that this write does not replace (patched ones minus the
    advisories the patch brings), and its ``meta`` rows."""
    try:
        probe = sqlite3.connect(f"{old.resolve().as_uri()}?mode=ro", uri=True)
        try:
            schema = _schema_of(probe, old)
        finally:
            probe.close()
    except sqlite3.DatabaseError as exc:
        raise OperationalError(
            f"existing file {old} is not a dockguard vulnerability database ({exc}); remove it or choose another --db"
        ) from None
    patches = [i for i in imports if i.replace_ids is not None]
    if patches and schema != SCHEMA_VERSION:
        raise OperationalError(f"{old} has an older layout: an incremental update needs a full one first")
    conn.execute("ATTACH DATABASE ? AS old", (f"{old.resolve().as_uri()}?mode=ro",))
    try:
        feeds = _old_feeds(conn, schema)
        out = _CarryOver()
        for key in feeds:
            patch = next((i for i in patches if i.covers(key)), None)
            if patch is not None:
                out.patched[key] = feeds[key][2]
            elif key in written or any(i.covers(key) for i in imports):
                out.replaced[key] = feeds[key][2]
        kept = {k for k in feeds if k not in out.replaced and k not in out.patched}
        offset = conn.execute("SELECT coalesce(max(rowid), 0) FROM advisories").fetchone()[0]
        if schema == 1:
            _migrate_rows(conn, kept, offset)
        else:
            conn.execute("CREATE TEMP TABLE kept (name TEXT PRIMARY KEY)")
            conn.executemany("INSERT INTO kept VALUES (?)", [(k.name,) for k in kept | set(out.patched)])
            # (feed, id) pairs a patch replaces: only in the feeds of that patch's scope.
            conn.execute("CREATE TEMP TABLE dropped (feed TEXT NOT NULL, id TEXT NOT NULL, PRIMARY KEY (feed, id))")
            for key in out.patched:
                patch = next(i for i in patches if i.covers(key))
                ids = patch.replace_ids or frozenset()
                conn.executemany("INSERT OR IGNORE INTO dropped VALUES (?, ?)", [(key.name, i) for i in ids])
            conn.execute(
                "INSERT INTO advisories SELECT rowid + ?, feed, id, summary, details, modified, data "
                "FROM old.advisories ad WHERE feed IN (SELECT name FROM kept) "
                "AND NOT EXISTS (SELECT 1 FROM dropped d WHERE d.feed = ad.feed AND d.id = ad.id)",
                (offset,),
            )
            conn.execute(
                "INSERT INTO affected SELECT af.advisory + ?, af.ecosystem, af.name, af.spec, af.status, af.severity "
                "FROM old.affected af JOIN old.advisories ad ON af.advisory = ad.rowid "
                "WHERE ad.feed IN (SELECT name FROM kept) "
                "AND NOT EXISTS (SELECT 1 FROM dropped d WHERE d.feed = ad.feed AND d.id = ad.id)",
                (offset,),
            )
            conn.execute("DROP TABLE kept")
            conn.execute("DROP TABLE dropped")
        query = "SELECT feed, max(modified) FROM advisories WHERE rowid > ? GROUP BY feed"
        newest = dict(conn.execute(query, (offset,)).fetchall())
        for key in kept:
            _, kind, records, imported_at, origin = feeds[key]
            conn.execute(
                "INSERT INTO feeds VALUES (?,?,?,?,?,?,?,?)",
                (key.name, key.source, key.ecosystem, kind, origin, records, imported_at, newest.get(key.name) or ""),
            )
        if schema == SCHEMA_VERSION:
            rows = conn.execute("SELECT key, value FROM old.meta WHERE key LIKE 'sync:%'").fetchall()
            out.meta = {str(k): str(v) for k, v in rows}
        return out
    except (sqlite3.DatabaseError, ValueError, TypeError) as exc:
        raise OperationalError(
            f"existing file {old} could not be read ({exc}); remove it or choose another --db"
        ) from None


def _migrate_rows(conn: sqlite3.Connection, kept: set[FeedKey], offset: int) -> None:
    """Copy schema 1 rows of the `kept` keys, one advisory row per (advisory, ecosystem)."""
    kinds = dict(conn.execute("SELECT name, kind FROM old.feeds").fetchall())
    rows = conn.execute(
        "SELECT ad.rowid, ad.feed, ad.id, ad.summary, ad.details, ad.modified, ad.data, "
        "af.ecosystem, af.name, af.spec, af.status, af.severity "
        "FROM old.affected af JOIN old.advisories ad ON af.advisory = ad.rowid ORDER BY af.advisory, af.ecosystem"
    )
    cur = conn.cursor()
    current: tuple[object, str] | None = None
    new_rowid = offset
    batch: list[tuple[object, ...]] = []
    for adv_id, feed, aid, summary, details, modified, data, eco, name, spec, status, sev in rows:
        key = FeedKey(_legacy_source(str(feed), str(kinds.get(feed, "osv"))), str(eco))
        if key not in kept:
            continue
        if current != (adv_id, eco):
            current = (adv_id, eco)
            new_rowid += 1
            cur.execute(
                "INSERT INTO advisories VALUES (?,?,?,?,?,?,?)",
                (new_rowid, key.name, aid, summary, details, modified, data),
            )
        batch.append((new_rowid, eco, name, spec, status, sev))
        if len(batch) >= 5000:
            cur.executemany("INSERT INTO affected VALUES (?,?,?,?,?,?)", batch)
            batch.clear()
    cur.executemany("INSERT INTO affected VALUES (?,?,?,?,?,?)", batch)


def check_db_target(target: Path) -> None:
    """Refuse a database path that a replace would destroy: a device, FIFO, directory or link.

    The database is rebuilt beside `target` and renamed over it, which turns whatever was
    there into a regular file (``--db /dev/null`` as root would delete ``/dev/null``).
    """
    try:
        st = os.lstat(target)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise OperationalError(f"--db {target}: {exc.strerror or exc}") from None
    if stat.S_ISLNK(st.st_mode):
        raise OperationalError(f"--db {target}: is a symbolic link; give the path of the database file itself")
    if not stat.S_ISREG(st.st_mode):
        raise OperationalError(f"--db {target}: not a regular file (a device, FIFO or directory); not replacing it")


def write_imports(target: Path, imports: Sequence[Import], *, keep_others: bool = True) -> list[WriteResult]:
    """Build a new database at `target` from `imports` and every feed they do not replace.

    Returns one `WriteResult` per feed written, patched or removed, sorted by key.  The file is
    built beside `target` and swapped in with ``os.replace``; on any error the previous file is
    left exactly as it was.  Sync states of the old file are kept unless a (non-patch) import
    of the same source replaced feeds of their ecosystem; an import's own `Import.sync` is
    recorded with its cursor lowered to the newest record it brought (so nothing between the
    two is skipped next time).
    """
    check_db_target(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        conn = sqlite3.connect(tmp, isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode = OFF")
            conn.execute("PRAGMA synchronous = OFF")
            conn.execute("PRAGMA cache_size = -16384")
            conn.executescript(_SCHEMA)
            imported_at = _now().isoformat()
            conn.execute("BEGIN")
            writer = _Writer(conn, imported_at)
            syncs: dict[str, str] = {}
            touched: list[set[FeedKey]] = []
            for imp in imports:
                newest, keys = writer.add(imp)
                touched.append(keys)
                if imp.sync is not None:
                    cursor = imp.sync.cursor if newest is None else min(imp.sync.cursor, newest)
                    state = SyncState(imp.sync.source, imp.sync.ecosystem, imp.sync.base, cursor, _now())
                    syncs[state.key] = state.dump()
            carried = _CarryOver()
            attached = keep_others and target.exists()
            if attached:
                carried = _carry_over(conn, target, set(writer.keys), imports)
            for key in carried.patched:
                if key not in writer.keys:
                    patch = next(i for i in imports if i.replace_ids is not None and i.covers(key))
                    writer._touch(key, patch, "")
            counts = writer.finish()
            meta = {k: v for k, v in carried.meta.items() if not _sync_forgotten(k, imports, touched)}
            meta.update(syncs)
            conn.executemany(
                "INSERT OR REPLACE INTO meta VALUES (?, ?)",
                [("schema_version", str(SCHEMA_VERSION)), ("built_at", imported_at), *meta.items()],
            )
            conn.execute("COMMIT")
            if attached:
                conn.execute("DETACH DATABASE old")
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
    origins = {k: v[1] for k, v in writer.keys.items()}
    before = {**carried.replaced, **carried.patched}
    results = [WriteResult(k, origins[k], n, before.get(k), k in carried.patched) for k, n in counts.items()]
    results += [WriteResult(k, "", None, n) for k, n in carried.replaced.items() if k not in counts]
    return sorted(results, key=lambda r: r.key)


def _sync_forgotten(meta_key: str, imports: Sequence[Import], touched: Sequence[set[FeedKey]]) -> bool:
    """True when an import replaced (not patched) feeds of the source and ecosystem a sync
    state tracks, without recording a new state for them."""
    if not meta_key.startswith("sync:"):
        return False
    source, _, eco = meta_key[5:].partition("/")
    for imp, keys in zip(imports, touched, strict=True):
        if imp.source != source or imp.replace_ids is not None:
            continue
        if imp.sync is not None and imp.sync.ecosystem == eco:
            continue
        if in_scope(eco, imp.scope) or in_scope_any(imp.scope, eco):
            return True
        if any(in_scope(k.ecosystem, (eco,)) for k in keys):
            return True
    return False


def in_scope_any(scope: Iterable[str], family: str) -> bool:
    """True when one of `scope` lies within `family` (``Debian:12`` within ``Debian``)."""
    return any(in_scope(e, (family,)) for e in scope)


def staleness_warning(
    db: VulnDB,
    ecosystems: Iterable[str] | None = None,
    max_age: dt.timedelta = DEFAULT_MAX_AGE,
    hint: str = "`dockguard db update`",
) -> str | None:
    """The one-line warning a scan prints when its data is old, or None when it is fresh.

    Only the feeds of `ecosystems` (normalised keys, or their families) count when given, so a
    stale Alpine feed does not alarm a Debian scan.
    """
    wanted = tuple(ecosystems) if ecosystems is not None else None
    stale = [
        f for f in db.stale_feeds(max_age)
        if wanted is None or in_scope(f.ecosystem, wanted) or f.ecosystem == "*"
    ]
    if not stale:
        return None
    now = _now()
    oldest = max(f.age(now) for f in stale)
    names = ", ".join(f.name for f in stale[:5]) + (f" and {len(stale) - 5} more" if len(stale) > 5 else "")
    return (f"vulnerability data is {oldest.days} days old (older than {max_age.days} days: {names}); "
            f"refresh it with {hint}")
