"""Turn files on disk into Imports: OSV (zip, directory, file), Debian tracker JSON, Alpine secdb.

Every file is read under a cap (`bounded`): OSV records 4 MiB each (a JSON list of records is
read as a stream, one record at a time), secdb and other documents decoded whole 16 MiB, the
tracker export 256 MiB read as a stream.  One bad record fails the
whole import with the file (or zip member), the JSON path and the problem, and nothing is
written: a feed is never half imported.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Iterator
from pathlib import Path

from dockguard.errors import UsageError
from dockguard.inputs import InputError
from dockguard.jsontypes import Json
from dockguard.vuln.database import Import
from dockguard.vuln.importers import alpine_secdb, bounded_decode, debian_tracker, osv
from dockguard.vuln.importers.bounded_decode import ImportBudget

KINDS = ("auto", "osv", "debian-tracker", "alpine-secdb")
_SOURCE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9:._-]{0,63}", re.ASCII)


def check_source_name(name: str) -> str:
    """A ``--name`` for OSV data: letters, digits and ``:._-``, at most 64 characters."""
    if not _SOURCE_NAME.fullmatch(name):
        raise UsageError(f"--name {name[:70]!r}: use letters, digits and ':._-' (at most 64 characters)")
    return name


def _from_document(data: Json, path: Path, kind: str, name: str | None) -> Import:
    origin = str(path)
    if kind in ("auto", "debian-tracker") and debian_tracker.looks_like(data):
        return debian_tracker.importer(debian_tracker.document_entries(data, origin), origin)
    if kind in ("auto", "alpine-secdb") and alpine_secdb.looks_like(data):
        return alpine_secdb.importer(data, origin)
    is_osv = (isinstance(data, dict) and "id" in data) or isinstance(data, list)
    if kind in ("auto", "osv") and is_osv:
        return osv.importer([(origin, (), data)], origin, name)
    expected = "an OSV record, Debian tracker JSON or Alpine secdb" if kind == "auto" else f"{kind} data"
    raise InputError(origin, f"not {expected}")


def _is_secdb_file(path: Path) -> bool:
    with path.open("rb") as fh:
        head = fh.read(4096)
    return b"distroversion" in head and b"packages" in head


def _first_byte(path: Path) -> int | None:
    with path.open("rb") as fh:
        head = fh.read(64 * 1024).lstrip(b" \t\r\n")
    return head[0] if head else None


def _streamed(
    path: Path, levels: tuple[str, ...], budget: ImportBudget, entry_limit: int
) -> Iterator[tuple[tuple[str | int, ...], Json]]:
    with path.open("rb") as fh:
        yield from bounded_decode.JsonStream(fh, str(path), budget=budget, entry_limit=entry_limit).entries(levels)


def _tracker_entries(path: Path, budget: ImportBudget) -> Iterator[debian_tracker.Entry]:
    for keys, item in _streamed(path, ("object", "object"), budget, bounded_decode.MAX_STREAM_ENTRY_BYTES):
        yield str(keys[0]), str(keys[1]), item


def _osv_list(path: Path, budget: ImportBudget) -> Iterator[osv.Document]:
    for keys, item in _streamed(path, ("array",), budget, bounded_decode.MAX_RECORD_BYTES):
        yield str(path), keys, item


def load(path: Path, kind: str = "auto", name: str | None = None, budget: ImportBudget | None = None) -> list[Import]:
    """Imports found at `path`; `kind` forces a format, `name` is the source of OSV data.

    Files are opened and sniffed here; their records are decoded while the database is
    written, and any error there aborts the write.
    """
    if kind not in KINDS:
        raise UsageError(f"unknown feed kind {kind!r} (choose from {', '.join(KINDS)})")
    if name is not None:
        check_source_name(name)
    budget = budget or ImportBudget()
    origin = str(path)
    try:
        if not path.exists():
            raise InputError(origin, "no such file or directory")
        if path.is_dir():
            return _load_directory(path, kind, name, budget)
        size = bounded_decode.regular_size(path)
        if size is not None and zipfile.is_zipfile(path):
            if kind not in ("auto", "osv"):
                raise InputError(origin, "a zip file can only hold OSV records")
            return [osv.importer(osv.iter_zip(path, budget), origin, name)]
        if size is not None and not bounded_decode.is_yaml_name(origin):
            if size > bounded_decode.MAX_STREAM_BYTES:
                raise InputError(origin, f"file of {size} bytes is larger than the "
                                         f"{bounded_decode.MAX_STREAM_BYTES} allowed")
            first = _first_byte(path)
            if first == ord("[") and kind in ("auto", "osv"):
                # A list of OSV records is read one record at a time, whatever its length.
                return [osv.importer(_osv_list(path, budget), origin, name)]
            if size > bounded_decode.MAX_DOCUMENT_BYTES:
                return [_load_large_json(path, first, kind, budget)]
        data = bounded_decode.read_document(path, limit=bounded_decode.MAX_DOCUMENT_BYTES, budget=budget,
                                            what="advisory file")
        doc = bounded_decode.decode_document(data, origin, yaml_syntax=bounded_decode.is_yaml_name(origin))
        return [_from_document(doc, path, kind, name)]
    except OSError as exc:
        raise InputError(origin, f"cannot read: {exc.strerror or exc}") from None


def _load_directory(path: Path, kind: str, name: str | None, budget: ImportBudget) -> list[Import]:
    if kind == "debian-tracker":
        raise InputError(str(path), "a directory can only hold OSV records or Alpine secdb files")
    files = osv.data_files(path)
    if not files:
        raise InputError(str(path), "no .json, .yaml or .yml files found")
    secdb = [p for p in files if kind in ("auto", "alpine-secdb") and _is_secdb_file(p)]
    imports = []
    for p in secdb:
        data = bounded_decode.read_document(p, limit=bounded_decode.MAX_DOCUMENT_BYTES, budget=budget,
                                            what="secdb file")
        doc = bounded_decode.decode_document(data, str(p), yaml_syntax=bounded_decode.is_yaml_name(str(p)))
        imports.append(_from_document(doc, p, "alpine-secdb", None))
    chosen = set(secdb)
    rest = [p for p in files if p not in chosen]
    if rest and kind in ("auto", "osv"):
        imports.append(osv.importer(osv.iter_files(rest, budget), str(path), name))
    return imports


def _load_large_json(path: Path, first: int | None, kind: str, budget: ImportBudget) -> Import:
    origin = str(path)
    if first == ord("{") and kind in ("auto", "debian-tracker"):
        return debian_tracker.importer(_tracker_entries(path, budget), origin)
    raise InputError(
        origin,
        f"larger than {bounded_decode.MAX_DOCUMENT_BYTES} bytes: only a Debian tracker export (an object) or a list of "
        "OSV records may be, and they are read as a stream",
    )
