"""Alpine's secdb (https://secdb.alpinelinux.org/): ``packages[].pkg.secfixes`` per origin.

``secfixes`` maps a fixed version to the ids it fixes; the version ``0`` means "never
affected".  Entries may carry annotations (``CVE-2018-14468 (FrameRelay)``) or several ids
(``CVE-2018-8897 XSA-260``): the first id is the advisory, the others its aliases.

One document is one feed, ``alpine-secdb:<repo>/Alpine:<branch>``: importing
``v3.19/community`` never touches ``v3.19/main``.  Fields used are type-checked (a secfixes
entry that is not a list of strings is an `InputError` with its path).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from dockguard.inputs import InputError, expect
from dockguard.jsontypes import Json, JsonObject
from dockguard.vuln.database import Advisory, Affected, Import
from dockguard.vuln.importers.bounded_decode import get, need, objects

KIND = "alpine-secdb"
_ID = re.compile(r"GHSA(?:-[0-9a-z]{4}){3}|[A-Z]{2,}[A-Z0-9]*[-_]\d[\w-]*", re.ASCII)
_BRANCH = re.compile(r"(v\d+\.\d+|edge)", re.ASCII)


def looks_like(data: object) -> bool:
    """True when `data` is a secdb document."""
    return isinstance(data, dict) and "packages" in data and "distroversion" in data


def parse_ids(text: str) -> tuple[str, ...]:
    """Advisory ids in one secfixes entry, annotations stripped (``CVE_`` typos repaired)."""
    return tuple(m.replace("_", "-", 1) for m in _ID.findall(text))


def _scope(data: JsonObject, origin: str) -> tuple[str, str]:
    """(source, ecosystem) of a document: ``alpine-secdb:main``, ``Alpine:v3.19``."""
    version = need(data, "distroversion", str, origin, ()).strip()
    if not _BRANCH.fullmatch(version):
        raise InputError.at(origin, ("distroversion",), f"{version[:40]!r} is not an Alpine branch (vX.Y or edge)")
    repo = (get(data, "reponame", str, origin, ()) or "").strip()
    if repo and not re.fullmatch(r"[a-z0-9_-]{1,40}", repo):
        raise InputError.at(origin, ("reponame",), f"{repo[:40]!r} is not a repository name")
    return (f"{KIND}:{repo}" if repo else KIND), f"Alpine:{version}"


def _entries(value: Json, origin: str, path: tuple[str | int, ...]) -> list[str]:
    if value is None or value == "":  # YAML "1.2-r0:" with nothing under it
        return []
    items = expect(value, list, origin, path)
    return [expect(item, str, origin, (*path, i)) for i, item in enumerate(items)]


def advisories(data: JsonObject, origin: str, eco: str) -> Iterator[Advisory]:
    """One advisory per id with one Affected per origin package."""
    by_id: dict[str, tuple[set[str], list[Affected]]] = {}
    for here, item in objects(data, "packages", origin, ()):
        pkg = need(item, "pkg", dict, origin, here)
        name = need(pkg, "name", str, origin, (*here, "pkg")).strip()
        secfixes = get(pkg, "secfixes", dict, origin, (*here, "pkg")) or {}
        for fixed, entries in secfixes.items():
            path = (*here, "pkg", "secfixes", fixed)
            for entry in _entries(entries, origin, path):
                ids = parse_ids(entry)
                if not ids or not name:
                    continue
                aliases, affected = by_id.setdefault(ids[0], (set(), []))
                aliases.update(ids[1:])
                fixed_v = fixed.strip()
                if fixed_v == "0":
                    affected.append(Affected(eco, name, status="not_affected"))
                else:
                    events = (("introduced", "0"), ("fixed", fixed_v))
                    affected.append(Affected(eco, name, ranges=(("ECOSYSTEM", events),)))
    for aid in sorted(by_id):
        aliases, affected = by_id[aid]
        yield Advisory(
            id=aid,
            aliases=tuple(sorted(aliases)),
            references=(f"https://security.alpinelinux.org/vuln/{aid}",),
            affected=tuple(affected),
        )


def importer(data: Json, origin: str) -> Import:
    """One secdb document as an Import that replaces its own branch and repository only.

    The document is checked completely before anything is written (it is small: one branch).
    """
    doc = expect(data, dict, origin, ())
    source, eco = _scope(doc, origin)
    items = list(advisories(doc, origin, eco))
    return Import(source=source, kind=KIND, origin=origin, advisories=items, scope=(eco,), declared=(eco,))
