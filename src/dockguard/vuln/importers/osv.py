"""OSV records (https://ossf.github.io/osv-schema/) from a zip, a directory or a single file.

YAML is read with the base loader so that every scalar stays a string: an unquoted ``1.10``
must remain the version ``1.10``, not the float 1.1.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

from dockguard.errors import OperationalError
from dockguard.vuln.db import Advisory, Affected, Feed, normalise_ecosystem, normalise_name

KIND = "osv"
RANGE_TYPES = ("ECOSYSTEM", "SEMVER")
EVENTS = ("introduced", "fixed", "last_affected", "limit")
_SUFFIXES = (".json", ".yaml", ".yml")

_Loader: Any = getattr(yaml, "CBaseLoader", yaml.BaseLoader)


def _strs(value: object) -> tuple[str, ...]:
    if isinstance(value, list):
        return tuple(str(v) for v in value if isinstance(v, str | int | float))
    return ()


def _vendor_rating(ecosystem: str, specific: object) -> str:
    if not isinstance(specific, Mapping):
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


def parse_record(data: object) -> Advisory | None:
    """One OSV record as an Advisory; None when withdrawn or not an OSV record."""
    if not isinstance(data, Mapping) or not isinstance(data.get("id"), str):
        return None
    if data.get("withdrawn"):
        return None
    ratings: list[tuple[str, str]] = []

    def add_severity(items: object) -> None:
        if isinstance(items, list):
            for item in items:
                if isinstance(item, Mapping) and item.get("type") and item.get("score"):
                    ratings.append((_rating_source(str(item["type"])), str(item["score"])))

    add_severity(data.get("severity"))
    db_specific = data.get("database_specific")
    if isinstance(db_specific, Mapping) and isinstance(db_specific.get("severity"), str):
        ratings.append(("ghsa", db_specific["severity"]))
    affected: list[Affected] = []
    for entry in data.get("affected") or ():
        if not isinstance(entry, Mapping):
            continue
        pkg = entry.get("package")
        if not isinstance(pkg, Mapping) or not pkg.get("ecosystem") or not pkg.get("name"):
            continue
        raw_eco = str(pkg["ecosystem"])
        eco = normalise_ecosystem(raw_eco)
        ranges = []
        for rng in entry.get("ranges") or ():
            if not isinstance(rng, Mapping) or rng.get("type") not in RANGE_TYPES:
                continue
            events = []
            for event in rng.get("events") or ():
                if isinstance(event, Mapping):
                    for key in EVENTS:
                        if key in event and event[key] is not None:
                            events.append((key, str(event[key])))
            if events:
                ranges.append((str(rng["type"]), tuple(events)))
        versions = _strs(entry.get("versions"))
        if not ranges and not versions:
            continue
        add_severity(entry.get("severity"))
        affected.append(
            Affected(
                ecosystem=eco,
                name=normalise_name(eco, str(pkg["name"])),
                ranges=tuple(ranges),
                versions=versions,
                severity=_vendor_rating(raw_eco, entry.get("ecosystem_specific")),
            )
        )
    refs = []
    for ref in data.get("references") or ():
        if isinstance(ref, Mapping) and isinstance(ref.get("url"), str):
            refs.append(ref["url"])
    return Advisory(
        id=data["id"],
        aliases=_strs(data.get("aliases")),
        upstream=_strs(data.get("upstream")),
        summary=str(data.get("summary") or ""),
        details=str(data.get("details") or ""),
        ratings=tuple(ratings),
        references=tuple(refs),
        modified=str(data.get("modified") or ""),
        affected=tuple(affected),
    )


def load_text(text: str | bytes, name: str) -> object:
    """Decode one JSON or YAML document; OperationalError names the file on failure."""
    try:
        if name.endswith(".json"):
            return json.loads(text)
        return yaml.load(text, Loader=_Loader)
    except (ValueError, yaml.YAMLError) as exc:
        raise OperationalError(f"{name}: not valid JSON/YAML: {str(exc).splitlines()[0]}") from None


def iter_zip(path: Path) -> Iterator[object]:
    """Every JSON document in an OSV ``all.zip``."""
    try:
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist():
                if info.is_dir() or not info.filename.endswith(_SUFFIXES):
                    continue
                yield load_text(zf.read(info), f"{path}:{info.filename}")
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise OperationalError(f"{path}: not a readable OSV zip: {exc}") from None


def data_files(directory: Path) -> list[Path]:
    """JSON/YAML files below `directory`, in a stable order."""
    return sorted(p for p in directory.rglob("*") if p.suffix in _SUFFIXES and p.is_file())


def iter_files(paths: list[Path]) -> Iterator[object]:
    """Documents from plain files."""
    for p in paths:
        yield load_text(p.read_bytes(), str(p))


def feed_name(first: Advisory | None) -> str:
    """``osv:<Ecosystem>`` after the first affected ecosystem of the first record."""
    if first is None or not first.affected:
        return "osv"
    return f"osv:{first.affected[0].ecosystem.split(':', 1)[0]}"


def advisories(documents: Iterator[object]) -> Iterator[Advisory]:
    """Parsed, non-withdrawn advisories from documents."""
    for doc in documents:
        adv = parse_record(doc)
        if adv is not None:
            yield adv


def feed(documents: Iterator[object], source: str, name: str | None = None) -> Feed:
    """A Feed from OSV documents, named after its ecosystem unless `name` is given."""
    items = advisories(documents)
    first = next(items, None)

    def chained() -> Iterator[Advisory]:
        if first is not None:
            yield first
        yield from items

    return Feed(name=name or feed_name(first), kind=KIND, source=source, advisories=chained())
