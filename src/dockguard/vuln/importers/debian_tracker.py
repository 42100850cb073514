"""The Debian security tracker's JSON export (https://security-tracker.debian.org/tracker/data/json).

Shape: ``{source package: {CVE: {description, releases: {codename: {status, fixed_version,
urgency, nodsa, nodsa_reason, repositories}}}}}``.  Unlike Debian's OSV export it keeps the
no-dsa / ignored / postponed / end-of-life distinctions.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from dockguard.vuln.db import Advisory, Affected, Feed, Ranges

KIND = "debian-tracker"
FEED = "debian-tracker"

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


def looks_like(data: object) -> bool:
    """True when `data` has the tracker's package → CVE → releases shape."""
    if not isinstance(data, Mapping) or not data:
        return False
    for cves in list(data.values())[:5]:
        if isinstance(cves, Mapping):
            for item in list(cves.values())[:5]:
                if isinstance(item, Mapping) and "releases" in item:
                    return True
    return False


def _entry(package: str, codename: str, rel: Mapping[str, object]) -> Affected:
    status = str(rel.get("status") or "")
    fixed = str(rel.get("fixed_version") or "")
    urgency = str(rel.get("urgency") or "").rstrip("*").strip()
    reason = str(rel.get("nodsa_reason") or "").strip().lower()
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


def advisories(data: Mapping[str, object]) -> Iterator[Advisory]:
    """One advisory per CVE (or TEMP id) with an Affected per package and release."""
    by_id: dict[str, tuple[str, list[Affected]]] = {}
    for package, cves in data.items():
        if not isinstance(cves, Mapping):
            continue
        for cve, item in cves.items():
            if not isinstance(item, Mapping):
                continue
            releases = item.get("releases")
            if not isinstance(releases, Mapping):
                continue
            desc, entries = by_id.setdefault(cve, (str(item.get("description") or ""), []))
            for codename, rel in releases.items():
                if isinstance(rel, Mapping):
                    entries.append(_entry(str(package), str(codename), rel))
    for cve in sorted(by_id):
        desc, entries = by_id[cve]
        yield Advisory(
            id=cve,
            summary=desc.splitlines()[0][:200] if desc else "",
            details=desc,
            references=(f"https://security-tracker.debian.org/tracker/{cve}",),
            affected=tuple(entries),
        )


def feed(data: Mapping[str, object], source: str) -> Feed:
    """The tracker as a Feed."""
    return Feed(name=FEED, kind=KIND, source=source, advisories=advisories(data))
