"""``db update``: fetch OSV per-ecosystem ``all.zip`` files and rebuild the database atomically.

Each zip is streamed to a temporary file beside the database, then every zip is imported
into a new database file that replaces the old one only when everything succeeded.  Updating
an ecosystem replaces every ``osv`` feed of that ecosystem (``Debian`` covers ``Debian:12``,
``Debian:11``, ...) and keeps every other feed.

HTTP(S) downloads go through `dockguard.channel.bounded`: TLS verified, redirects followed by
hand (at most MAX_REDIRECTS, never HTTPS to HTTP, a redirect's body never read), at most
MAX_DOWNLOAD bytes per file, and a total deadline that only a transfer of at least
``bounded.MIN_RATE`` bytes per second can outlast.
"""

from __future__ import annotations

import http.client
import shutil
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import requests

from dockguard import __version__
from dockguard.channel.bounded import (
    BoundedSession,
    Deadline,
    deadline_seconds,
    raw_chunks,
    short,
    shown,
)
from dockguard.errors import OperationalError
from dockguard.vuln.db import WriteResult, write_imports
from dockguard.vuln.importers import osv
from dockguard.vuln.importers.bounded import Budget

DEFAULT_SOURCE = "https://osv-vulnerabilities.storage.googleapis.com"
DEFAULT_ECOSYSTEMS = ("Debian", "Ubuntu", "Alpine", "PyPI", "npm", "Go")
_CHUNK = 1 << 16
MAX_DOWNLOAD = 2 * 1024**3
"""Bytes of one downloaded zip (OSV's largest all.zip is a few hundred MB)."""
MAX_REDIRECTS = 5


class Progress:
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


def _source_url(source: str) -> str:
    if "://" not in source:
        return Path(source).resolve().as_uri()
    return source


def fetch(url: str, dest: Path, stream: TextIO | None, timeout: float = 60.0) -> int:
    """Stream `url` into `dest`; return the byte count.  Raises OperationalError."""
    if urllib.parse.urlsplit(url).scheme in ("http", "https"):
        return _fetch_http(url, dest, stream, timeout)
    req = urllib.request.Request(url, headers={"User-Agent": f"dockguard/{__version__}"})
    label = urllib.parse.unquote(url.rsplit("/", 2)[-2]) if url.endswith("/all.zip") else url
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp, dest.open("wb") as out:
            length = resp.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            progress = Progress(stream, label, total) if stream else None
            done = 0
            while chunk := resp.read(_CHUNK):
                out.write(chunk)
                done += len(chunk)
                if progress:
                    progress.update(len(chunk))
            if total is not None and done != total:
                raise OperationalError(f"download of {url} stopped after {done} of {total} bytes")
            if progress:
                progress.finish()
    except urllib.error.HTTPError as exc:
        raise OperationalError(f"download of {url} failed: HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        raise OperationalError(f"download of {url} failed: {exc.reason}") from None
    except (http.client.HTTPException, OSError) as exc:
        reason = type(exc).__name__ if not str(exc) else str(exc)
        raise OperationalError(f"download of {url} failed: {reason}") from None
    return done


def _fetch_http(url: str, dest: Path, stream: TextIO | None, timeout: float) -> int:
    label = urllib.parse.unquote(url.rsplit("/", 2)[-2]) if url.endswith("/all.zip") else url
    session = BoundedSession(f"dockguard/{__version__}", timeout)
    try:
        with Deadline(deadline_seconds(), f"download of {url}") as dl:
            response = _follow(session, url, dl)
            with response, dest.open("wb") as out:
                if response.status_code != 200:
                    raise OperationalError(
                        f"download of {url} failed: HTTP {response.status_code} "
                        f"{shown(response.reason or '')}".rstrip()
                    )
                length = response.headers.get("Content-Length", "")
                total = int(length) if length.isdigit() else None
                if total is not None and total > MAX_DOWNLOAD:
                    raise OperationalError(
                        f"download of {url}: {total} bytes is larger than the "
                        f"{MAX_DOWNLOAD} allowed"
                    )
                progress = Progress(stream, label, total) if stream else None
                done = 0
                for chunk in raw_chunks(response, f"download of {url}"):
                    done += len(chunk)
                    if done > MAX_DOWNLOAD:
                        raise OperationalError(
                            f"download of {url}: larger than the {MAX_DOWNLOAD} bytes allowed"
                        )
                    out.write(chunk)
                    dl.earn(len(chunk))
                    if progress:
                        progress.update(len(chunk))
                if total is not None and done != total:
                    raise OperationalError(
                        f"download of {url} stopped after {done} of {total} bytes"
                    )
                if progress:
                    progress.finish()
    except requests.RequestException as exc:
        raise OperationalError(f"download of {url} failed: {short(exc)}") from None
    except OSError as exc:
        raise OperationalError(f"download of {url} failed: {exc.strerror or exc}") from None
    finally:
        session.close()
    return done


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
            raise OperationalError(
                f"download of {url}: refusing redirect from HTTPS to {shown(target)}"
            )
        url = target
    raise OperationalError(f"download of {url}: more than {MAX_REDIRECTS} redirects")


@dataclass(frozen=True)
class Download:
    """One zip fetched: its URL and size in bytes."""

    url: str
    size: int


@dataclass(frozen=True)
class UpdateResult:
    """What one update did: the downloads, and each feed written or removed."""

    downloads: tuple[Download, ...]
    feeds: tuple[WriteResult, ...]


def update(
    db_path: Path,
    ecosystems: Sequence[str] = DEFAULT_ECOSYSTEMS,
    source: str = DEFAULT_SOURCE,
    stream: TextIO | None = sys.stderr,
    timeout: float = 60.0,
) -> UpdateResult:
    """Download the OSV zips of `ecosystems` from `source` and swap in a rebuilt database.

    `source` is a mirror base URL (``<source>/<Ecosystem>/all.zip``), a ``file://`` URL or
    local directory laid out the same way, or the URL of one ``.zip`` file.  Any failure
    raises OperationalError and leaves the database at `db_path` as it was.
    """
    base = _source_url(source)
    if base.endswith(".zip"):
        plan: list[tuple[str | None, str]] = [(None, base)]
    else:
        plan = [(eco, zip_url(base, eco)) for eco in ecosystems]
    db_path.parent.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix=".dockguard-download-", dir=db_path.parent))
    try:
        fetched = []
        for n, (eco, url) in enumerate(plan):
            dest = workdir / f"{n}.zip"
            size = fetch(url, dest, stream, timeout)
            if not zipfile.is_zipfile(dest):
                raise OperationalError(f"download of {url} is not a zip file")
            fetched.append((eco, url, dest, size))
        budget = Budget()
        imports = [
            osv.importer(osv.iter_zip(dest, budget, label=url), url, scope=(eco,) if eco else ())
            for eco, url, dest, _ in fetched
        ]
        results = write_imports(db_path, imports)
    except OperationalError as exc:
        raise OperationalError(f"{exc}; the database at {db_path} was left unchanged") from None
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return UpdateResult(tuple(Download(url, size) for _, url, _, size in fetched), tuple(results))

