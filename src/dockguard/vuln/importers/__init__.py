"""Turn files on disk into Feeds: OSV (zip, directory, file), Debian tracker JSON, Alpine secdb."""

from __future__ import annotations

import zipfile
from collections.abc import Iterator, Mapping
from pathlib import Path

from dockguard.errors import OperationalError, UsageError
from dockguard.vuln.db import Feed
from dockguard.vuln.importers import alpine_secdb, debian_tracker, osv

KINDS = ("auto", "osv", "debian-tracker", "alpine-secdb")


def _osv_documents(data: object) -> Iterator[object]:
    if isinstance(data, list):
        yield from data
    else:
        yield data


def _from_document(data: object, path: Path, kind: str, name: str | None) -> Feed:
    if kind in ("auto", "debian-tracker") and debian_tracker.looks_like(data):
        assert isinstance(data, Mapping)
        return debian_tracker.feed(data, str(path))
    if kind in ("auto", "alpine-secdb") and alpine_secdb.looks_like(data):
        assert isinstance(data, Mapping)
        return alpine_secdb.feed(data, str(path))
    is_osv = (isinstance(data, Mapping) and "id" in data) or (
        isinstance(data, list) and all(isinstance(d, Mapping) and "id" in d for d in data)
    )
    if kind in ("auto", "osv") and is_osv:
        return osv.feed(_osv_documents(data), str(path), name)
    expected = "an OSV record, Debian tracker JSON or Alpine secdb" if kind == "auto" else kind
    raise OperationalError(f"{path}: not {expected} data")


def _is_secdb_file(path: Path) -> bool:
    with path.open("rb") as fh:
        head = fh.read(4096)
    return b"distroversion" in head and b"packages" in head


def load(path: Path, kind: str = "auto", name: str | None = None) -> list[Feed]:
    """Feeds found at `path`; `kind` forces a format, `name` renames an OSV feed."""
    if kind not in KINDS:
        raise UsageError(f"unknown feed kind {kind!r} (choose from {', '.join(KINDS)})")
    if not path.exists():
        raise OperationalError(f"{path}: no such file or directory")
    if path.is_dir():
        files = osv.data_files(path)
        if not files:
            raise OperationalError(f"{path}: no .json, .yaml or .yml files found")
        secdb = [p for p in files if kind in ("auto", "alpine-secdb") and _is_secdb_file(p)]
        feeds = [_from_document(osv.load_text(p.read_bytes(), str(p)), p, kind, name) for p in secdb]
        rest = [p for p in files if p not in set(secdb)]
        if rest and kind in ("auto", "osv"):
            feeds.append(osv.feed(osv.iter_files(rest), str(path), name))
        return feeds
    if zipfile.is_zipfile(path):
        if kind not in ("auto", "osv"):
            raise OperationalError(f"{path}: a zip file can only hold OSV records")
        return [osv.feed(osv.iter_zip(path), str(path), name)]
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise OperationalError(f"{path}: {exc.strerror}") from None
    return [_from_document(osv.load_text(text, str(path)), path, kind, name)]
