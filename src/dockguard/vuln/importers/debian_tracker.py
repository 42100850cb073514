"""The Debian security tracker's JSON export (https://security-tracker.debian.org/tracker/data/json).

Shape: ``{source package: {CVE: {description, releases: {codename: {status, fixed_version,
urgency, nodsa, nodsa_reason, repositories}}}}}``.  Unlike Debian's OSV export it keeps the
no-dsa / ignored / postponed / end-of-life distinctions.

The export is ~70 MiB today: it is read as a stream (`bounded.JsonStream`), one package/CVE
entry at a time, and each entry becomes one advisory row per release (feed
``debian-tracker/Debian:<N>``), so memory holds one entry whatever the file's size.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from dockguard.inputs import InputError, expect
from dockguard.jsontypes import Json, JsonObject
from dockguard.vuln.database import Advisory, Affected, Import, Ranges
from dockguard.vuln.importers.bounded_decode import Path_, get

KIND = "debian-tracker"
SOURCE = "debian-tracker"

CODENAMES = {
    "jessie": "8",
    "stretch": "9",
    "buster": "10",
    "bullseye": "11",
    "bookworm": "12",
    "trixie": "13",
    "forky": "14",
    "duke": "15",
    "sid": "sid",
}

#: (package, CVE id, entry) as the stream or a decoded document yields them.
Entry = tuple[str, str, Json]


def looks_like(data: object) -> bool:
    """True when `data` has the tracker's package → CVE → releases shape."""
    if not isinstance(data, dict) or not data:
        return False
    for cves in list(data.values())[:5]:
        if isinstance(cves, dict):
            for item in list(cves.values())[:5]:
                if isinstance(item, dict) and "releases" in item:
                    return True
    return False


def _entry(package: str, codename: str, rel: JsonObject, origin: str, path: Path_) -> Affected:
    status = (get(rel, "status", str, origin, path) or "").strip()
    fixed = (get(rel, "fixed_version", str, origin, path) or "").strip()
    urgency = (get(rel, "urgency", str, origin, path) or "").rstrip("*").strip()
    reason = (get(rel, "nodsa_reason", str, origin, path) or "").strip().lower()
    eco = f"Debian:{CODENAMES.get(codename, codename)}"
    severity = f"debian:{urgency}" if urgency and urgency != "not yet assigned" else ""
    if status == "resolved" and fixed == "0":
        return Affected(eco, package, status="not_affected", severity=severity)
    if status == "resolved" and fixed:
        fixed_range: Ranges = (("ECOSYSTEM", (("introduced", "0"), ("fixed", fixed))),)
        return Affected(eco, package, ranges=fixed_range, severity=severity)
    hint = ""
    if status == "undetermined":
        hint = "under_investigation"
    elif urgency == "end-of-life" or status == "end-of-life":
        hint = "end_of_life"
    elif reason == "ignored":
        hint = "will_not_fix"
    elif reason == "postponed":
        hint = "fix_deferred"
    if urgency == "end-of-life":
        severity = ""
    ranges: Ranges = (("ECOSYSTEM", (("introduced", "0"),)),)
    return Affected(eco, package, ranges=ranges, status=hint, severity=severity)


def parse_entry(package: str, cve: str, item: Json, origin: str) -> Advisory | None:
    """One package/CVE entry as an advisory with an Affected per release (None: no releases)."""
    path: Path_ = (package, cve)
    entry = expect(item, dict, origin, path)
    if not package.strip() or not cve.strip():
        raise InputError.at(origin, path, "empty package name or advisory id")
    desc = get(entry, "description", str, origin, path) or ""
    releases = get(entry, "releases", dict, origin, path) or {}
    affected = []
    for codename, rel in releases.items():
        here = (*path, "releases", codename)
        affected.append(_entry(package, codename, expect(rel, dict, origin, here), origin, here))
    if not affected:
        return None
    return Advisory(
        id=cve,
        summary=desc.splitlines()[0][:200] if desc.strip() else "",
        details=desc,
        references=(f"https://security-tracker.debian.org/tracker/{cve}",),
        affected=tuple(affected),
    )


def document_entries(data: Json, origin: str) -> Iterator[Entry]:
    """The entries of a tracker document decoded whole."""
    for package, cves in expect(data, dict, origin, ()).items():
        for cve, item in expect(cves, dict, origin, (package,)).items():
            yield package, cve, item


def advisories(entries: Iterable[Entry], origin: str) -> Iterator[Advisory]:
    """Advisories of the entries, in file order."""
    for package, cve, item in entries:
        adv = parse_entry(package, cve, item, origin)
        if adv is not None:
            yield adv


def importer(entries: Iterable[Entry], origin: str) -> Import:
    """The tracker as an Import: one feed per Debian release it names."""
    return Import(source=SOURCE, kind=KIND, origin=origin, advisories=advisories(entries, origin))
