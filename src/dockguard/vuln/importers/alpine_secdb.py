"""Alpine's secdb (https://secdb.alpinelinux.org/): ``packages[].pkg.secfixes`` per origin.

``secfixes`` maps a fixed version to the ids it fixes; the version ``0`` means "never
affected".  Entries may carry annotations (``CVE-2018-14468 (FrameRelay)``) or several ids
(``CVE-2018-8897 XSA-260``): the first id is the advisory, the others its aliases.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping

from dockguard.vuln.db import Advisory, Affected, Feed

KIND = "alpine-secdb"
_ID = re.compile(r"GHSA(?:-[0-9a-z]{4}){3}|[A-Z]{2,}[A-Z0-9]*[-_]\d[\w-]*")


def looks_like(data: object) -> bool:
    """True when `data` is a secdb document."""
    return isinstance(data, Mapping) and "packages" in data and "distroversion" in data


def parse_ids(text: str) -> tuple[str, ...]:
    """Advisory ids in one secfixes entry, annotations stripped (``CVE_`` typos repaired)."""
    return tuple(m.replace("_", "-", 1) for m in _ID.findall(text))


def feed_name(data: Mapping[str, object]) -> str:
    """``alpine-secdb:v3.19/main``."""
    repo = data.get("reponame")
    suffix = f"/{repo}" if repo else ""
    return f"alpine-secdb:{data.get('distroversion')}{suffix}"


def advisories(data: Mapping[str, object]) -> Iterator[Advisory]:
    """One advisory per id with one Affected per origin package."""
    eco = f"Alpine:{data.get('distroversion')}"
    by_id: dict[str, tuple[set[str], list[Affected]]] = {}
    packages = data.get("packages")
    for item in packages if isinstance(packages, list) else ():
        pkg = item.get("pkg") if isinstance(item, Mapping) else None
        if not isinstance(pkg, Mapping) or not pkg.get("name"):
            continue
        name = str(pkg["name"])
        secfixes = pkg.get("secfixes")
        for fixed, entries in secfixes.items() if isinstance(secfixes, Mapping) else ():
            for entry in entries or ():
                ids = parse_ids(str(entry))
                if not ids:
                    continue
                aliases, affected = by_id.setdefault(ids[0], (set(), []))
                aliases.update(ids[1:])
                fixed_v = str(fixed).strip()
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


def feed(data: Mapping[str, object], source: str) -> Feed:
    """One secdb document as a Feed."""
    return Feed(name=feed_name(data), kind=KIND, source=source, advisories=advisories(data))
