"""OSV records (https://ossf.github.io/osv-schema/) from a zip, a directory or a single file.

Records are decoded with `bounded` (size caps, YAML without aliases and with every scalar a
string: an unquoted ``1.10`` must remain the version ``1.10``, not the float 1.1) and checked
field by field: a field dockguard uses that has the wrong type is an `InputError` naming the
file (or zip member) and the JSON path.  Fields dockguard does not use are not checked.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

from dockguard.inputs import InputError, expect
from dockguard.jsontypes import Json, JsonObject
from dockguard.vuln.database import Advisory, Affected, Import, normalise_ecosystem, normalise_name
from dockguard.vuln.importers import bounded_decode
from dockguard.vuln.importers.bounded_decode import ImportBudget, Path_, get, need, objects, strings

KIND = "osv"
SOURCE = "osv"
RANGE_TYPES = ("ECOSYSTEM", "SEMVER")
EVENTS = ("introduced", "fixed", "last_affected", "limit")
SUFFIXES = (".json", ".yaml", ".yml")

#: Ids of distribution update advisories (one update, many CVEs), whose ``related`` CVEs are
#: the vulnerabilities the update fixes; elsewhere ``related`` means a different vulnerability.
PATCH_ADVISORIES = ("USN-", "SUSE-SU-", "openSUSE-SU-", "RHSA-", "RLSA-", "ALSA-", "MGASA-", "DSA-", "DLA-", "DTSA-")

#: One decoded document: where it came from (file path or ``zip:member``), its JSON path
#: inside that file (``()``, or ``(7,)`` for the 8th record of a streamed list) and the value.
Document = tuple[str, Path_, Json]


def _vendor_rating(ecosystem: str, specific: JsonObject | None) -> str:
    if not specific:
        return ""
    base = ecosystem.split(":", 1)[0]
    if base == "Debian" and isinstance(specific.get("urgency"), str):
        return f"debian:{specific['urgency']}"
    if base == "Ubuntu" and isinstance(specific.get("ubuntu_priority"), str):
        return f"ubuntu:{specific['ubuntu_priority']}"
    return ""


def _rating_source(kind: str) -> str:
    if kind.upper().startswith("CVSS"):
        return kind.upper()
    return kind.lower().replace(" ", "")


def _severities(obj: JsonObject, origin: str, path: Path_) -> list[tuple[str, str]]:
    out = []
    for here, item in objects(obj, "severity", origin, path):
        kind = get(item, "type", str, origin, here)
        score = get(item, "score", str, origin, here)
        if kind and score:
            out.append((_rating_source(kind), score))
    return out


def _events(rng: JsonObject, origin: str, path: Path_) -> tuple[tuple[str, str], ...]:
    events = []
    for here, event in objects(rng, "events", origin, path):
        for key in EVENTS:
            value = get(event, key, str, origin, here)
            if value is not None:
                events.append((key, value))
    return tuple(events)


def _affected(entry: JsonObject, origin: str, path: Path_, ratings: list[tuple[str, str]]) -> Affected | None:
    pkg = get(entry, "package", dict, origin, path)
    if pkg is None:
        return None  # a GIT-only entry: nothing to match installed packages against
    here = (*path, "package")
    raw_eco = need(pkg, "ecosystem", str, origin, here)
    name = need(pkg, "name", str, origin, here)
    eco = normalise_ecosystem(raw_eco)
    ranges = []
    for rpath, rng in objects(entry, "ranges", origin, path):
        rtype = need(rng, "type", str, origin, rpath)
        events = _events(rng, origin, rpath)
        if rtype in RANGE_TYPES and events:
            ranges.append((rtype, events))
    versions = strings(entry, "versions", origin, path)
    specific = get(entry, "ecosystem_specific", dict, origin, path)
    entry_ratings = _severities(entry, origin, path)
    if not eco or not name.strip() or (not ranges and not versions):
        return None
    ratings.extend(entry_ratings)
    return Affected(
        ecosystem=eco,
        name=normalise_name(eco, name),
        ranges=tuple(ranges),
        versions=versions,
        severity=_vendor_rating(raw_eco, specific),
    )


def parse_record(data: Json, origin: str, path: Path_ = ()) -> Advisory | None:
    """One OSV record as an Advisory; None when withdrawn.  Wrong types raise `InputError`."""
    record = expect(data, dict, origin, path)
    rid = need(record, "id", str, origin, path)
    if not rid.strip():
        raise InputError.at(origin, (*path, "id"), "is empty")
    if get(record, "withdrawn", str, origin, path):
        return None
    ratings = _severities(record, origin, path)
    db_specific = get(record, "database_specific", dict, origin, path)
    ghsa = db_specific.get("severity") if db_specific else None
    if isinstance(ghsa, str):
        ratings.append(("ghsa", ghsa))
    affected = []
    for here, entry in objects(record, "affected", origin, path):
        aff = _affected(entry, origin, here, ratings)
        if aff is not None:
            affected.append(aff)
    refs = tuple(
        url for here, ref in objects(record, "references", origin, path)
        if (url := get(ref, "url", str, origin, here)) is not None
    )
    upstream = strings(record, "upstream", origin, path)
    if rid.startswith(PATCH_ADVISORIES):
        # A distribution's update advisory lists the CVEs it fixes as "related".
        related = strings(record, "related", origin, path)
        upstream += tuple(i for i in related if i.startswith("CVE-") and i not in upstream)
    return Advisory(
        id=rid,
        aliases=strings(record, "aliases", origin, path),
        upstream=upstream,
        summary=get(record, "summary", str, origin, path) or "",
        details=get(record, "details", str, origin, path) or "",
        ratings=tuple(ratings),
        references=refs,
        modified=get(record, "modified", str, origin, path) or "",
        affected=tuple(affected),
    )


def decode(data: bytes, origin: str) -> Json:
    """One record file's document (YAML when the name says so, else JSON)."""
    return bounded_decode.decode_document(data, origin, yaml_syntax=bounded_decode.is_yaml_name(origin))


def iter_zip(path: Path, budget: ImportBudget | None = None, label: str | None = None) -> Iterator[Document]:
    """Every record document in an OSV ``all.zip``, each member under the record cap.

    Documents are named ``<label or path>:<member>``.
    """
    budget = budget or ImportBudget()
    for name, data in bounded_decode.zip_members(path, budget, suffixes=SUFFIXES, label=label):
        origin = f"{label or path}:{name}"
        yield origin, (), decode(data, origin)


def data_files(directory: Path) -> list[Path]:
    """JSON/YAML files below `directory`, in a stable order (at most `bounded_decode.MAX_MEMBERS`)."""
    found = []
    for p in directory.rglob("*"):
        if p.suffix in SUFFIXES and p.is_file():
            found.append(p)
            if len(found) > bounded_decode.MAX_MEMBERS:
                raise InputError(str(directory), f"more than {bounded_decode.MAX_MEMBERS} record files")
    return sorted(found)


def iter_files(paths: Iterable[Path], budget: ImportBudget | None = None) -> Iterator[Document]:
    """Documents from plain files, each under the record cap."""
    budget = budget or ImportBudget()
    for p in paths:
        data = bounded_decode.read_document(p, limit=bounded_decode.MAX_RECORD_BYTES, budget=budget, what="OSV record")
        yield str(p), (), decode(data, str(p))


def advisories(documents: Iterable[Document]) -> Iterator[Advisory]:
    """Parsed, non-withdrawn advisories; a document may be one record or a list of records."""
    for origin, base, doc in documents:
        records = [((*base, i), r) for i, r in enumerate(doc)] if isinstance(doc, list) else [(base, doc)]
        for path, record in records:
            adv = parse_record(record, origin, path)
            if adv is not None:
                yield adv


def importer(documents: Iterable[Document], origin: str, source: str | None = None,
             scope: tuple[str, ...] = ()) -> Import:
    """An Import of OSV documents under `source` (default ``osv``), one feed per ecosystem."""
    return Import(source=source or SOURCE, kind=KIND, origin=origin, advisories=advisories(documents), scope=scope)
