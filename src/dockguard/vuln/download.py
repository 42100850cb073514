"""``db update``: fetch OSV ecosystems, the Debian security tracker and Alpine secdb, then
rebuild the database atomically.

OSV (https://osv-vulnerabilities.storage.googleapis.com) publishes per ecosystem
``<Ecosystem>/all.zip``, every record as ``<Ecosystem>/<ID>.json``, and
``<Ecosystem>/modified_id.csv``: one ``<RFC 3339 modified time>,<ID>`` line per record, newest
first.  The first update of an ecosystem downloads ``all.zip`` and records a cursor (the
newest modification time it has); every later one reads the head of ``modified_id.csv`` down
to the cursor and downloads only the records modified since (`MAX_INCREMENTAL_RECORDS` at
most, else ``all.zip`` again), so a daily update fetches what changed that day.

Every download goes through one bounded transport (`Transport`): a byte cap per kind of
file, a timeout, errors named by URL.  HTTP(S) goes through `dockguard.channel.bounded_http`: TLS
verified, redirects followed by hand (at most `MAX_REDIRECTS`, never HTTPS to HTTP, a
redirect's body never read) and a total deadline per request that only a transfer of at least
``bounded_decode.MIN_RATE`` bytes per second can outlast; ``file://`` mirrors are read locally.
Everything is fetched first; the database file is
rebuilt and swapped in only when all of it was read without error, and left byte for byte as
it was otherwise.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import http.client
import re
import shutil
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Protocol, TextIO

import requests

from dockguard import __version__
from dockguard.channel.bounded_http import BoundedSession, Deadline, deadline_seconds, raw_chunks, short, shown
from dockguard.errors import OperationalError
from dockguard.inputs import InputError, MiB
from dockguard.vuln import distros
from dockguard.vuln.database import (
    Import,
    SyncState,
    VulnDB,
    WriteResult,
    check_db_target,
    in_scope,
    parse_osv_time,
    write_imports,
)
from dockguard.vuln.importers import alpine_secdb, bounded_decode, debian_tracker, osv
from dockguard.vuln.importers.bounded_decode import GiB, ImportBudget

DEFAULT_SOURCE = "https://osv-vulnerabilities.storage.googleapis.com"
TRACKER_URL = "https://security-tracker.debian.org/tracker/data/json"
SECDB_URL = "https://secdb.alpinelinux.org"
SECDB_REPOS = ("main", "community")

#: What the cataloguers find: the OS families with OSV data (see `distros`) and the language
#: ecosystems of `ecosystems.LANGUAGE_ECOSYSTEMS` that images hold.
DEFAULT_ECOSYSTEMS = (
    "Debian", "Ubuntu", "Alpine", "Red Hat", "Rocky Linux", "AlmaLinux", "SUSE", "openSUSE", "Wolfi", "Chainguard",
    "PyPI", "npm", "Go", "Maven", "RubyGems", "Packagist", "crates.io", "NuGet",
)
#: Extra feeds ``db update`` fetches besides OSV (each only when its family is updated).
EXTRA_FEEDS = ("debian-tracker", "alpine-secdb")

#: Largest ``all.zip`` downloaded (OSV's largest today, Chainguard's, is well under it).
MAX_ZIP_BYTES = 4 * GiB
#: Bytes of ``modified_id.csv`` read by one incremental update, and the longest line.
MAX_LIST_BYTES = 4 * MiB
MAX_LIST_LINE = 1024
#: More changed records than this and ``all.zip`` is cheaper than one request per record.
MAX_INCREMENTAL_RECORDS = 2000

#: Redirects followed by hand for one request.
MAX_REDIRECTS = 5

_CHUNK = 1 << 16
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:+-]{0,127}", re.ASCII)
_BRANCH = re.compile(r"v[0-9]{1,2}\.[0-9]{1,3}|edge", re.ASCII)


class DownloadProgress:
    """A one-line progress bar on a text stream (redrawn only on a terminal)."""

    def __init__(self, stream: TextIO, label: str, total: int | None) -> None:
        self.stream = stream
        self.label = label
        self.total = total
        self.done = 0
        self.tty = stream.isatty()
        self._last = 0.0

    def _line(self) -> str:
        mib = self.done / 1048576
        if self.total:
            frac = min(self.done / self.total, 1.0)
            bar = "#" * int(frac * 30)
            return f"{self.label} [{bar:<30}] {mib:7.1f}/{self.total / 1048576:.1f} MiB {frac * 100:5.1f}%"
        return f"{self.label} {mib:7.1f} MiB"

    def update(self, n: int) -> None:
        """Count `n` more bytes."""
        self.done += n
        now = time.monotonic()
        if self.tty and now - self._last > 0.1:
            self._last = now
            self.stream.write("\r" + self._line())
            self.stream.flush()

    def finish(self) -> None:
        """Print the final state on its own line."""
        self.stream.write(("\r" if self.tty else "") + self._line() + "\n")
        self.stream.flush()


def zip_url(source: str, ecosystem: str) -> str:
    """URL of an ecosystem's ``all.zip`` under a mirror base URL (http(s) or file)."""
    return f"{source.rstrip('/')}/{urllib.parse.quote(ecosystem, safe='')}/all.zip"


def list_url(source: str, ecosystem: str) -> str:
    """URL of an ecosystem's ``modified_id.csv``."""
    return f"{source.rstrip('/')}/{urllib.parse.quote(ecosystem, safe='')}/modified_id.csv"


def record_url(source: str, ecosystem: str, rid: str) -> str:
    """URL of one record, ``<Ecosystem>/<ID>.json``."""
    return f"{source.rstrip('/')}/{urllib.parse.quote(ecosystem, safe='')}/{urllib.parse.quote(rid, safe='')}.json"


def _source_url(source: str) -> str:
    if "://" not in source:
        return Path(source).resolve().as_uri()
    return source


class NotFound(OperationalError):
    """The server answered 404 (a mirror without ``modified_id.csv``, a missing record)."""


class _Closing(Protocol):
    """An HTTP response (urllib's or requests'): closed when its body is done with."""

    def close(self) -> None:
        """Release the connection."""
        ...


class _Body:
    """An open answer: its headers and its body in chunks, closed (with its deadline) on exit."""

    def __init__(
        self, headers: Any, chunks: Iterator[bytes], closing: _Closing, deadline: Deadline | None = None
    ) -> None:
        self.headers = headers
        self._chunks = chunks
        self._closing = closing
        self._deadline = deadline

    def chunks(self) -> Iterator[bytes]:
        """The body as it arrives."""
        return self._chunks

    def __enter__(self) -> _Body:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._closing.close()
        if self._deadline is not None:
            # Raises DeadlineExceeded in place of what the watchdog's cut-off caused.
            self._deadline.__exit__(exc_type, exc, tb)


class Transport:
    """Every request of one update: a timeout, a byte cap per call, a count, errors by URL."""

    def __init__(self, stream: TextIO | None = None, timeout: float = 60.0) -> None:
        self.stream = stream
        self.timeout = timeout
        self.requests = 0
        self.bytes = 0
        self._session: BoundedSession | None = None

    def close(self) -> None:
        """Close the HTTP session, if one was opened."""
        if self._session is not None:
            self._session.close()
            self._session = None

    def _open(self, url: str) -> _Body:
        self.requests += 1
        if urllib.parse.urlsplit(url).scheme in ("http", "https"):
            return self._open_http(url)
        req = urllib.request.Request(url, headers={"User-Agent": f"dockguard/{__version__}"})
        try:
            resp = urllib.request.urlopen(req, timeout=self.timeout)
        except urllib.error.HTTPError as exc:
            exc.close()
            kind = NotFound if exc.code == 404 else OperationalError
            raise kind(f"download of {url} failed: HTTP {exc.code} {exc.reason}") from None
        except urllib.error.URLError as exc:
            kind = NotFound if isinstance(exc.reason, FileNotFoundError) else OperationalError  # file:// mirror
            raise kind(f"download of {url} failed: {exc.reason}") from None
        except (http.client.HTTPException, OSError) as exc:
            raise OperationalError(f"download of {url} failed: {_reason(exc)}") from None

        def chunks() -> Iterator[bytes]:
            while chunk := resp.read(_CHUNK):
                yield chunk

        return _Body(resp.headers, chunks(), resp)

    def _open_http(self, url: str) -> _Body:
        if self._session is None:
            self._session = BoundedSession(f"dockguard/{__version__}", self.timeout)
        deadline = Deadline(deadline_seconds(), f"download of {url}").__enter__()
        try:
            response = _follow(self._session, url, deadline)
        except requests.RequestException as exc:
            deadline.__exit__(None, None, None)
            raise OperationalError(f"download of {url} failed: {short(exc)}") from None
        except BaseException:
            deadline.__exit__(None, None, None)
            raise
        if response.status_code != 200:
            response.close()
            deadline.__exit__(None, None, None)
            kind = NotFound if response.status_code == 404 else OperationalError
            raise kind(f"download of {url} failed: HTTP {response.status_code} {shown(response.reason or '')}".rstrip())

        def chunks() -> Iterator[bytes]:
            for chunk in raw_chunks(response, f"download of {url}"):
                deadline.earn(len(chunk))
                yield chunk

        return _Body(response.headers, chunks(), response, deadline)

    def fetch(self, url: str, dest: IO[bytes], limit: int, label: str | None = None) -> int:
        """Stream `url` into `dest`, at most `limit` bytes; return the byte count."""
        done = 0
        try:
            with self._open(url) as resp:
                length = resp.headers.get("Content-Length")
                total = int(length) if length and length.isascii() and length.isdigit() and len(length) < 20 else None
                if total is not None and total > limit:
                    raise OperationalError(f"download of {url} refused: {total} bytes, more than the {limit} allowed")
                progress = DownloadProgress(self.stream, label, total) if self.stream and label else None
                for chunk in resp.chunks():
                    done += len(chunk)
                    if done > limit:
                        raise OperationalError(f"download of {url} stopped: more than the {limit} bytes allowed")
                    dest.write(chunk)
                    if progress:
                        progress.update(len(chunk))
                if total is not None and done != total:
                    raise OperationalError(f"download of {url} stopped after {done} of {total} bytes")
                if progress:
                    progress.finish()
        except (http.client.HTTPException, OSError) as exc:
            raise OperationalError(f"download of {url} failed: {_reason(exc)}") from None
        finally:
            self.bytes += done
        return done

    def get(self, url: str, limit: int) -> bytes:
        """The body of `url` in memory (small files: a record, a secdb document)."""
        import io

        buf = io.BytesIO()
        self.fetch(url, buf, limit)
        return buf.getvalue()

    def lines(self, url: str, limit: int = MAX_LIST_BYTES, line_limit: int = MAX_LIST_LINE) -> Iterator[str]:
        """The lines of `url`, read only as far as the caller iterates (the rest is never fetched)."""
        read = 0
        pending = b""
        try:
            with self._open(url) as resp:
                for chunk in resp.chunks():
                    read += len(chunk)
                    self.bytes += len(chunk)
                    if read > limit + line_limit:
                        raise InputError(url, f"more than the {limit} bytes read for one update")
                    pending += chunk
                    *complete, pending = pending.split(b"\n")
                    for raw in complete:
                        yield _line(url, raw, line_limit)
                    if len(pending) > line_limit:
                        raise InputError(url, f"a line longer than {line_limit} bytes")
                if pending:
                    yield _line(url, pending, line_limit)
        except (http.client.HTTPException, OSError) as exc:
            raise OperationalError(f"download of {url} failed: {_reason(exc)}") from None


def _line(url: str, raw: bytes, line_limit: int) -> str:
    if len(raw) > line_limit:
        raise InputError(url, f"a line longer than {line_limit} bytes")
    try:
        return raw.decode("ascii").rstrip("\r")
    except UnicodeDecodeError:
        raise InputError(url, "a line that is not ASCII text") from None


def _follow(session: BoundedSession, url: str, dl: Deadline) -> requests.Response:
    """GET `url`, following redirects by hand; a redirect's body is never read."""
    for _ in range(MAX_REDIRECTS + 1):
        response = session.open("GET", url, dl)
        if response.status_code not in (301, 302, 303, 307, 308):
            return response
        location = response.headers.get("Location", "")
        response.close()
        try:
            target = urllib.parse.urljoin(url, location)
            scheme = urllib.parse.urlsplit(target).scheme
        except ValueError:
            target, scheme = location, ""
        if not location or scheme not in ("http", "https"):
            raise OperationalError(f"download of {url}: refusing redirect to {shown(target)!r}")
        if scheme == "http" and urllib.parse.urlsplit(url).scheme == "https":
            raise OperationalError(f"download of {url}: refusing redirect from HTTPS to {shown(target)}")
        url = target
    raise OperationalError(f"download of {url}: more than {MAX_REDIRECTS} redirects")


def _reason(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


# --- plans and results --------------------------------------------------------------------------


@dataclass(frozen=True)
class Download:
    """One file fetched: its URL and size in bytes."""

    url: str
    size: int


@dataclass(frozen=True)
class Sync:
    """How one OSV ecosystem was brought up to date.

    `mode` is ``full`` (all.zip) or ``incremental``; `changed` the records fetched one by one;
    `requests` the HTTP requests it took; `note` why a full download was chosen.
    """

    ecosystem: str
    mode: str
    changed: int
    requests: int
    since: dt.datetime | None = None
    note: str = ""


@dataclass(frozen=True)
class UpdateResult:
    """What one update did: the downloads, each OSV ecosystem's sync, each feed written or removed."""

    downloads: tuple[Download, ...]
    feeds: tuple[WriteResult, ...]
    syncs: tuple[Sync, ...] = ()
    requests: int = 0
    #: What was skipped, one sentence each (a mirror without the tracker or secdb).
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Change:
    modified: dt.datetime
    rid: str


def read_changes(transport: Transport, url: str, since: dt.datetime | None,
                 most: int | None = None) -> tuple[list[_Change], bool]:
    """The head of a ``modified_id.csv``: the records modified after `since` (all lines read
    while they are newer), and False when the list is not usable for an incremental update
    (more than `most` changes, or not newest-first).  ``since=None`` reads the first line only.
    """
    most = MAX_INCREMENTAL_RECORDS if most is None else most
    changes: list[_Change] = []
    previous: dt.datetime | None = None
    for number, line in enumerate(transport.lines(url), 1):
        if not line.strip():
            continue
        stamp, sep, rid = line.partition(",")
        modified = parse_osv_time(stamp)
        rid = rid.strip()
        if not sep or modified is None:
            raise InputError(url, f"line {number} is not '<modified time>,<id>'", f"line {number}")
        if not _ID.fullmatch(rid):
            raise InputError(url, f"line {number}: {rid[:60]!r} is not an OSV id", f"line {number}")
        if previous is not None and modified > previous:
            return changes, False
        previous = modified
        if since is None:
            return [_Change(modified, rid)], True
        if modified <= since:
            return changes, True
        changes.append(_Change(modified, rid))
        if len(changes) > most:
            return changes, False
    return changes, True


def _state(db_path: Path) -> dict[str, SyncState]:
    if not db_path.is_file():
        return {}
    try:
        with VulnDB.open(db_path) as db:
            return db.sync_states()
    except OperationalError:
        return {}  # an unreadable file is reported by the write, which replaces nothing in it


# --- update -------------------------------------------------------------------------------------


def update(
    db_path: Path,
    ecosystems: Sequence[str] = DEFAULT_ECOSYSTEMS,
    source: str = DEFAULT_SOURCE,
    stream: TextIO | None = sys.stderr,
    timeout: float = 60.0,
    *,
    full: bool = False,
    extras: Sequence[str] = EXTRA_FEEDS,
    tracker_url: str | None = None,
    secdb_url: str | None = None,
    alpine_branches: Sequence[str] | None = None,
    today: dt.date | None = None,
) -> UpdateResult:
    """Bring the OSV ecosystems (and the Debian tracker, Alpine secdb) at `db_path` up to date.

    `source` is a mirror base URL laid out like the OSV bucket, a ``file://`` URL or local
    directory laid out the same way, or the URL of one ``.zip`` file.  With the public bucket
    the tracker and secdb come from their own sites; with a mirror from
    ``<source>/debian-tracker/json`` and ``<source>/alpine-secdb/<branch>/<repo>.json`` unless
    `tracker_url` / `secdb_url` say otherwise.  An ecosystem with a recorded cursor is updated
    incrementally unless `full`.  Any failure raises OperationalError and leaves the database
    as it was.
    """
    base = _source_url(source)
    mirror = base.rstrip("/") != DEFAULT_SOURCE
    check_db_target(db_path)
    existed = db_path.exists()
    untouched = f"the database at {db_path} was left unchanged" if existed else "no database was written"
    db_path.parent.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix=".dockguard-download-", dir=db_path.parent))
    transport = Transport(stream, timeout)
    downloads: list[Download] = []
    syncs: list[Sync] = []
    notes: list[str] = []
    try:
        imports: list[Import] = []
        if base.endswith(".zip"):
            dest = workdir / "0.zip"
            with dest.open("wb") as out:
                size = transport.fetch(base, out, MAX_ZIP_BYTES, label=base)
            _check_zip(dest, base)
            downloads.append(Download(base, size))
            imports.append(osv.importer(osv.iter_zip(dest, ImportBudget(), label=base), base))
        else:
            states = {} if full else _state(db_path)
            for n, eco in enumerate(ecosystems):
                state = states.get(f"sync:{osv.SOURCE}/{eco}")
                imports.append(_osv_ecosystem(transport, base, eco, state, workdir / f"{n}.zip", downloads, syncs))
            wanted = set(extras)
            if "debian-tracker" in wanted and any(in_scope(e, ("Debian",)) for e in ecosystems):
                url = tracker_url or (f"{base.rstrip('/')}/debian-tracker/json" if mirror else TRACKER_URL)
                try:
                    imports.append(_tracker(transport, url, workdir / "tracker.json", downloads))
                except NotFound:
                    if tracker_url or not mirror:
                        raise
                    notes.append(f"debian-tracker: skipped, the mirror has no {url}")
            if "alpine-secdb" in wanted and any(in_scope(e, ("Alpine",)) for e in ecosystems):
                root = secdb_url or (f"{base.rstrip('/')}/alpine-secdb" if mirror else SECDB_URL)
                branches = alpine_branches if alpine_branches is not None else supported_alpine_branches(today)
                for branch in branches:
                    for repo in SECDB_REPOS:
                        try:
                            imports.append(_secdb(transport, root, branch, repo, downloads))
                        except NotFound as exc:
                            if secdb_url or not mirror:
                                raise
                            notes.append(f"alpine-secdb: skipped {branch}/{repo}: {exc}")
        results = write_imports(db_path, imports)
    except InputError as exc:
        raise InputError(exc.origin, f"{exc.problem}; {untouched}", exc.where) from None
    except OperationalError as exc:
        raise OperationalError(f"{exc}; {untouched}") from None
    finally:
        transport.close()
        shutil.rmtree(workdir, ignore_errors=True)
    return UpdateResult(tuple(downloads), tuple(results), tuple(syncs), transport.requests, tuple(notes))


def _check_zip(dest: Path, url: str) -> None:
    if not zipfile.is_zipfile(dest):
        raise OperationalError(f"download of {url} is not a zip file")


def _osv_ecosystem(transport: Transport, base: str, eco: str, state: SyncState | None, dest: Path,
                   downloads: list[Download], syncs: list[Sync]) -> Import:
    """The import for one OSV ecosystem: a patch of the changed records, or all.zip."""
    start = transport.requests
    note = ""
    listed = True
    changes: list[_Change] = []
    if state is not None and state.base != base:
        note = f"the last update came from {state.base}"
    elif state is not None:
        try:
            changes, usable = read_changes(transport, list_url(base, eco), state.cursor)
        except NotFound:
            changes, usable, listed = [], False, False
        if usable:
            imp = _patch(transport, base, eco, state, changes)
            syncs.append(Sync(eco, "incremental", len(changes), transport.requests - start, state.cursor))
            return imp
        too_many = len(changes) > MAX_INCREMENTAL_RECORDS
        note = note or (f"more than {MAX_INCREMENTAL_RECORDS} records changed" if too_many
                        else "modified_id.csv is not sorted newest first")
    # Full download: the list's head first, so the cursor can only be older than the zip.
    head: dt.datetime | None = None
    if state is not None and listed and len(changes) > MAX_INCREMENTAL_RECORDS:
        head = changes[0].modified  # the list was read newest first down to here: no need to ask again
    try:
        if listed and head is None:
            first, _ = read_changes(transport, list_url(base, eco), None)
            head = first[0].modified if first else None  # an empty list gives no position
    except NotFound:
        listed = False
    if not listed:
        note = "the mirror has no modified_id.csv: the next update is a full one too"
    url = zip_url(base, eco)
    with dest.open("wb") as out:
        size = transport.fetch(url, out, MAX_ZIP_BYTES, label=eco)
    _check_zip(dest, url)
    downloads.append(Download(url, size))
    syncs.append(Sync(eco, "full", 0, transport.requests - start, None, note))
    sync = SyncState(osv.SOURCE, eco, base, head) if head is not None else None
    imp = osv.importer(osv.iter_zip(dest, ImportBudget(), label=url), url, scope=(eco,))
    return dataclasses.replace(imp, sync=sync)


def _patch(transport: Transport, base: str, eco: str, state: SyncState, changes: list[_Change]) -> Import:
    budget = ImportBudget()
    documents: list[osv.Document] = []
    newest = state.cursor
    for change in changes:
        url = record_url(base, eco, change.rid)
        try:
            data = transport.get(url, bounded_decode.MAX_RECORD_BYTES)
        except NotFound:
            raise OperationalError(
                f"record {change.rid} is listed in {list_url(base, eco)} but {url} is missing (HTTP 404): "
                "run `dockguard db update --full`"
            ) from None
        budget.spend(len(data), url)
        doc = osv.decode(data, url)
        rid = doc.get("id") if isinstance(doc, dict) else None
        if rid != change.rid:
            raise InputError(url, f"holds the record {str(rid)[:60]!r}, the list names {change.rid!r}", "id")
        documents.append((url, (), doc))
        newest = max(newest, change.modified)
    imp = osv.importer(documents, list_url(base, eco), scope=(eco,))
    return dataclasses.replace(imp, replace_ids=frozenset(c.rid for c in changes),
                               sync=SyncState(osv.SOURCE, eco, base, newest))


def _tracker(transport: Transport, url: str, dest: Path, downloads: list[Download]) -> Import:
    """The Debian tracker export, downloaded whole (capped) and read as a stream."""
    with dest.open("wb") as out:
        size = transport.fetch(url, out, bounded_decode.MAX_STREAM_BYTES, label="debian-tracker")
    downloads.append(Download(url, size))
    budget = ImportBudget()

    def entries() -> Iterator[debian_tracker.Entry]:
        with dest.open("rb") as fh:
            stream = bounded_decode.JsonStream(fh, url, budget=budget,
                                               entry_limit=bounded_decode.MAX_STREAM_ENTRY_BYTES)
            for keys, item in stream.entries(("object", "object")):
                yield str(keys[0]), str(keys[1]), item

    return dataclasses.replace(debian_tracker.importer(entries(), url), scope=("Debian",))


def _secdb(transport: Transport, root: str, branch: str, repo: str, downloads: list[Download]) -> Import:
    """One secdb document; it must be the branch and repository its URL names."""
    if not _BRANCH.fullmatch(branch):
        raise OperationalError(f"{branch[:40]!r} is not an Alpine branch (vX.Y or edge)")
    url = f"{root.rstrip('/')}/{branch}/{repo}.json"
    data = transport.get(url, bounded_decode.MAX_DOCUMENT_BYTES)
    downloads.append(Download(url, len(data)))
    doc = bounded_decode.decode_json(data, url)
    imp = alpine_secdb.importer(doc, url)
    if imp.scope != (f"Alpine:{branch}",) or imp.source != f"{alpine_secdb.KIND}:{repo}":
        raise InputError(url, f"is the secdb of {imp.source} {imp.scope[0] if imp.scope else '?'}, "
                              f"not of {repo} Alpine:{branch}")
    return imp


def supported_alpine_branches(today: dt.date | None = None) -> tuple[str, ...]:
    """Alpine branches still supported `today` (from the `distros` end-of-life table)."""
    day = today or dt.date.today()
    table = distros.DISTRIBUTIONS["alpine"].eol
    live = [v for v, end in table.items() if end >= day]
    return tuple(f"v{v}" for v in sorted(live, key=lambda v: tuple(int(x) for x in v.split("."))))
