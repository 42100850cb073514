"""The two store back ends behind one small connection type: SQLite (embedded) and PostgreSQL.

Store URLs
----------
* no URL: ``$DOCKGUARD_STORE``, else ``<user cache dir>/dockguard/store.sqlite`` (like the
  vulnerability database): no set-up;
* a path, or ``sqlite:///ABSOLUTE/PATH`` / ``sqlite:RELATIVE/PATH``: an SQLite file;
* ``postgresql://[user[:password]@]host[:port]/dbname[?options]`` (``postgres://`` too): a
  shared PostgreSQL database through psycopg 3 (the ``scale`` extra).

Why psycopg 3 and the standard ``sqlite3`` rather than SQLAlchemy: the store needs a dozen
statements, every one of which both engines accept as written (``INSERT … ON CONFLICT … DO
UPDATE/NOTHING`` and ``excluded.`` exist in SQLite ≥ 3.24 and PostgreSQL ≥ 9.5); the only
differences are the parameter marker and four column types, which `Connection` handles.
SQLAlchemy would add a large dependency and a second abstraction over that, and the default
(SQLite) path needs nothing beyond the standard library.

Concurrency
-----------
SQLite runs in WAL mode with a 60 s busy timeout and every write transaction starts with
``BEGIN IMMEDIATE`` (a writer takes the write lock up front, so two writers never deadlock
upgrading read locks); PostgreSQL runs at READ COMMITTED, where ``ON CONFLICT`` upserts of the
same keys by concurrent writers are safe.  Writers touch rows in a fixed key order, and a
transaction that still fails with a lock, deadlock or serialization error is retried
(`Connection.write`).
"""

from __future__ import annotations

import contextlib
import enum
import os
import random
import sqlite3
import stat
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TypeVar, cast
from urllib.parse import urlsplit, urlunsplit

from dockguard.errors import OperationalError, UsageError

ENV_VAR = "DOCKGUARD_STORE"
BUSY_TIMEOUT = 60.0
"""Seconds an SQLite writer waits for another writer's lock before the attempt fails."""
MAX_ATTEMPTS = 8
"""Attempts of one write transaction that fails with a lock, deadlock or serialization error."""
CONNECT_TIMEOUT = 30
"""Seconds to connect to a PostgreSQL server."""

T = TypeVar("T")

Row = tuple[object, ...]
"""A row as the engines return it (callers narrow each value: `as_int`, `as_float`, `as_str`)."""
SqlValue = str | int | float | bytes | None
"""A statement parameter."""
Params = Sequence[SqlValue]


class _Cursor(Protocol):
    """What the store uses of a DB-API cursor (``sqlite3`` and psycopg 3 alike)."""

    @property
    def description(self) -> object: ...

    def execute(self, sql: str, params: tuple[SqlValue, ...], /) -> object: ...

    def executemany(self, sql: str, rows: list[tuple[SqlValue, ...]], /) -> object: ...

    def fetchall(self) -> Sequence[Sequence[object]]: ...

    def fetchmany(self, size: int, /) -> Sequence[Sequence[object]]: ...

    def close(self) -> None: ...


class _RawConnection(Protocol):
    """What the store uses of a DB-API connection."""

    def cursor(self) -> _Cursor: ...

    def execute(self, sql: str, params: tuple[SqlValue, ...], /) -> _Cursor: ...

    def close(self) -> None: ...


def as_int(value: object) -> int:
    """An integer column (PostgreSQL's SUM is a Decimal; NULL is 0)."""
    if value is None:
        return 0
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    try:
        return int(str(value).split(".", 1)[0])
    except ValueError:
        return 0


def as_float(value: object) -> float:
    """A FLOAT column (NULL is 0.0)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    try:
        return float(str(value)) if value is not None else 0.0
    except ValueError:
        return 0.0


def as_str(value: object) -> str:
    """A TEXT column (NULL is ``""``)."""
    return value if isinstance(value, str) else "" if value is None else str(value)


class Dialect(enum.StrEnum):
    """Which engine a store lives in."""

    SQLITE = "sqlite"
    POSTGRES = "postgresql"


@dataclass(frozen=True)
class StoreURL:
    """A parsed ``--store`` value."""

    dialect: Dialect
    path: Path | None = None
    dsn: str = ""

    @property
    def has_password(self) -> bool:
        """True when the URL itself carries a password (it must then not travel unencrypted)."""
        return self.dialect is Dialect.POSTGRES and urlsplit(self.dsn).password is not None

    def display(self) -> str:
        """The URL for messages and reports: the password replaced by ``***``."""
        if self.dialect is Dialect.SQLITE:
            return str(self.path)
        parts = urlsplit(self.dsn)
        if parts.password is None:
            return self.dsn
        netloc = parts.netloc.rsplit("@", 1)
        user = netloc[0].split(":", 1)[0]
        return urlunsplit((parts.scheme, f"{user}:***@{netloc[1]}", parts.path, parts.query, ""))

    def __str__(self) -> str:
        return self.display()


def default_store_path() -> Path:
    """``$DOCKGUARD_STORE`` (a path) or ``<user cache dir>/dockguard/store.sqlite``."""
    import platformdirs

    return Path(platformdirs.user_cache_dir()) / "dockguard" / "store.sqlite"


def parse_store_url(text: str | None) -> StoreURL:
    """Parse ``--store``; None means ``$DOCKGUARD_STORE`` or the default SQLite file."""
    if text is None:
        text = os.environ.get(ENV_VAR) or None
        if text is None:
            return StoreURL(Dialect.SQLITE, default_store_path())
    raw = text.strip()
    if not raw or any(not c.isprintable() for c in raw):
        raise UsageError(f"--store: invalid store URL {text[:200]!r}")
    scheme = raw.split("://", 1)[0].lower() if "://" in raw else ""
    if scheme in ("postgresql", "postgres"):
        parts = urlsplit(raw)
        if not parts.hostname and "host=" not in parts.query:
            raise UsageError("--store: a postgresql:// URL needs a host (postgresql://HOST/DBNAME)")
        return StoreURL(Dialect.POSTGRES, dsn=raw)
    if raw.startswith("sqlite:"):
        rest = raw[len("sqlite:"):]
        if rest.startswith("//"):
            rest = rest[2:]
            if rest and not rest.startswith("/"):
                raise UsageError("--store: use sqlite:///ABSOLUTE/PATH or sqlite:RELATIVE/PATH")
        if not rest:
            raise UsageError("--store: sqlite: needs a path")
        return StoreURL(Dialect.SQLITE, Path(rest).expanduser())
    if scheme:
        raise UsageError(f"--store: unsupported store {scheme}:// (use a path, sqlite: or postgresql://)")
    return StoreURL(Dialect.SQLITE, Path(raw).expanduser())


def _check_sqlite_target(path: Path) -> None:
    """Refuse a store path that is a device, FIFO or directory (SQLite would hang or fail late)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        parent = path.parent
        if not parent.is_dir():
            try:
                parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise OperationalError(f"store {path}: cannot create {parent}: {exc.strerror or exc}") from None
        return
    except OSError as exc:
        raise OperationalError(f"store {path}: {exc.strerror or exc}") from None
    if not stat.S_ISREG(st.st_mode):
        raise OperationalError(f"store {path}: not a regular file (a device, FIFO or directory)")


_SQLITE_TYPES = {"BLOB": "BLOB", "FLOAT": "REAL", "BIGINT": "INTEGER", "TEXT": "TEXT"}
_POSTGRES_TYPES = {"BLOB": "BYTEA", "FLOAT": "DOUBLE PRECISION", "BIGINT": "BIGINT", "TEXT": "TEXT"}


class Connection:
    """One connection to a store: ``?`` placeholders everywhere, retried write transactions.

    Not shared between threads; `dockguard.store.Store` keeps one per thread.
    """

    def __init__(self, url: StoreURL) -> None:
        self.url = url
        self.dialect = url.dialect
        self._raw: _RawConnection = self._connect(url)
        self._in_tx = False

    # -- connecting

    @staticmethod
    def _connect(url: StoreURL) -> _RawConnection:
        if url.dialect is Dialect.SQLITE:
            assert url.path is not None
            _check_sqlite_target(url.path)
            try:
                conn = sqlite3.connect(str(url.path), timeout=BUSY_TIMEOUT, isolation_level=None,
                                       check_same_thread=False)
                _enable_wal(conn)
                conn.execute("PRAGMA synchronous=NORMAL")
            except sqlite3.DatabaseError as exc:
                raise OperationalError(f"store {url.path}: not a usable SQLite database: {exc}") from None
            return cast(_RawConnection, conn)
        try:
            import psycopg
        except ImportError:
            raise OperationalError(
                "a postgresql:// store needs psycopg 3: pip install 'dockguard[scale]'"
            ) from None
        try:
            return cast(_RawConnection, psycopg.connect(url.dsn, autocommit=True, connect_timeout=CONNECT_TIMEOUT,
                                                        application_name="dockguard"))
        except psycopg.Error as exc:
            raise OperationalError(f"store {url.display()}: cannot connect: {_one_line(exc)}") from None

    def close(self) -> None:
        """Close the connection (idempotent)."""
        with contextlib.suppress(Exception):
            self._raw.close()

    # -- SQL

    def ddl(self, sql: str) -> str:
        """`sql` with ``{BLOB}``, ``{FLOAT}``, ``{BIGINT}``, ``{TEXT}`` replaced for this engine."""
        types = _SQLITE_TYPES if self.dialect is Dialect.SQLITE else _POSTGRES_TYPES
        return sql.format(**types)

    def _sql(self, sql: str) -> str:
        return sql if self.dialect is Dialect.SQLITE else sql.replace("?", "%s")

    def execute(self, sql: str, params: Params = ()) -> list[Row]:
        """Run one statement; the rows it returns (empty for statements without rows)."""
        try:
            cur = self._raw.execute(self._sql(sql), tuple(params))
            rows = cur.fetchall() if cur.description is not None else []
        except Exception as exc:
            raise self._error(exc) from None
        return [tuple(r) for r in rows]

    def executemany(self, sql: str, rows: Sequence[Params]) -> None:
        """Run one statement for each parameter row."""
        if not rows:
            return
        try:
            cur = self._raw.cursor()
            try:
                cur.executemany(self._sql(sql), [tuple(r) for r in rows])
            finally:
                cur.close()
        except Exception as exc:
            raise self._error(exc) from None

    def one(self, sql: str, params: Params = ()) -> Row | None:
        """The first row, or None."""
        rows = self.execute(sql, params)
        return rows[0] if rows else None

    def iterate(self, sql: str, params: Params = (), batch: int = 200) -> Iterator[Row]:
        """Rows one batch at a time (big result sets are never held whole)."""
        try:
            cur = self._raw.cursor()
            cur.execute(self._sql(sql), tuple(params))
            while True:
                rows = cur.fetchmany(batch)
                if not rows:
                    break
                for r in rows:
                    yield tuple(r)
            cur.close()
        except Exception as exc:
            raise self._error(exc) from None

    # -- transactions

    def write(self, fn: Callable[[Connection], T], what: str) -> T:
        """Run `fn` in one write transaction; retried on lock, deadlock or serialization errors."""
        delay = 0.05
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                self._begin()
                result = fn(self)
                self._commit()
                return result
            except _Retry as exc:
                self._rollback()
                if attempt == MAX_ATTEMPTS:
                    raise OperationalError(f"store {self.url.display()}: {what}: {exc.reason} "
                                           f"({MAX_ATTEMPTS} attempts)") from None
                time.sleep(delay * (0.5 + random.random()))
                delay = min(delay * 2, 2.0)
            except BaseException:
                self._rollback()
                raise
        raise AssertionError("unreachable")

    @contextlib.contextmanager
    def locked(self, what: str) -> Iterator[Connection]:
        """A write transaction holding the store-wide lock (schema migrations)."""
        self._begin()
        try:
            if self.dialect is Dialect.POSTGRES:
                self.execute("SELECT pg_advisory_xact_lock(7391846052)")
            yield self
            self._commit()
        except BaseException:
            self._rollback()
            raise

    def _begin(self) -> None:
        if self._in_tx:
            raise AssertionError("nested store transaction")
        self.execute("BEGIN IMMEDIATE" if self.dialect is Dialect.SQLITE else "BEGIN")
        self._in_tx = True

    def _commit(self) -> None:
        self.execute("COMMIT")
        self._in_tx = False

    def _rollback(self) -> None:
        if self._in_tx:
            self._in_tx = False
            with contextlib.suppress(Exception):
                self._raw.execute("ROLLBACK", ())

    def _error(self, exc: Exception) -> Exception:
        """Engine errors → `_Retry` (transient, inside a write) or `OperationalError` (one line)."""
        err = self._classify(exc)
        if isinstance(err, _Retry) and not self._in_tx:
            return OperationalError(f"store {self.url.display()}: {err.reason}")
        return err

    def _classify(self, exc: Exception) -> Exception:
        if isinstance(exc, sqlite3.OperationalError) and ("locked" in str(exc) or "busy" in str(exc)):
            return _Retry(str(exc))
        if isinstance(exc, sqlite3.Error):
            return OperationalError(f"store {self.url.display()}: {_one_line(exc)}")
        if self.dialect is Dialect.POSTGRES:
            import psycopg

            if isinstance(exc, (psycopg.errors.DeadlockDetected, psycopg.errors.SerializationFailure,
                                psycopg.errors.LockNotAvailable)):
                return _Retry(_one_line(exc))
            if isinstance(exc, psycopg.Error):
                return OperationalError(f"store {self.url.display()}: {_one_line(exc)}")
        return exc


class _Retry(Exception):
    """A transient conflict between writers: roll back and try again."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:300] + ("…" if len(text) > 300 else "")


def _enable_wal(conn: sqlite3.Connection) -> None:
    """Switch a SQLite store to WAL, waiting out other processes doing the same.

    Changing the journal mode needs an exclusive lock, and SQLite answers "database is locked"
    at once — without its busy handler — when several processes open a new store together, so
    the switch is retried until `BUSY_TIMEOUT`; a store already in WAL needs no switch.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT
    delay = 0.005
    while True:
        try:
            row = conn.execute("PRAGMA journal_mode").fetchone()
            if row is not None and str(row[0]).lower() == "wal":
                return
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 0.2)
