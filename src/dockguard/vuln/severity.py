"""Severity of a vulnerability: the vendor's rating first, else the best CVSS vector, else UNKNOWN.

Ratings arrive as ``(source, text)`` pairs: ``("debian", "low")``, ``("ubuntu", "medium")``,
``("redhat", "important")``, ``("CVSS_V3", "CVSS:3.1/AV:N/...")``, ``("CVSS_V4", ...)``,
``("ghsa", "MODERATE")``.  Every source's rating is kept for the report.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

from dockguard.model import Severity

VENDOR_SOURCES = ("debian", "ubuntu", "redhat", "alpine")

_VENDOR_WORDS: dict[str, dict[str, Severity]] = {
    "debian": {
        "unimportant": Severity.NEGLIGIBLE,
        "low": Severity.LOW,
        "medium": Severity.MEDIUM,
        "high": Severity.HIGH,
    },
    "ubuntu": {
        "negligible": Severity.NEGLIGIBLE,
        "low": Severity.LOW,
        "medium": Severity.MEDIUM,
        "high": Severity.HIGH,
        "critical": Severity.CRITICAL,
    },
    "redhat": {
        "low": Severity.LOW,
        "moderate": Severity.MEDIUM,
        "important": Severity.HIGH,
        "critical": Severity.CRITICAL,
    },
}

_GHSA_WORDS = {
    "low": Severity.LOW,
    "moderate": Severity.MEDIUM,
    "medium": Severity.MEDIUM,
    "high": Severity.HIGH,
    "critical": Severity.CRITICAL,
}


def vendor_severity(source: str, text: str) -> Severity | None:
    """Map a vendor's own word to a Severity; None for "not yet assigned" and the like."""
    word = text.strip().rstrip("*").strip().lower()
    return _VENDOR_WORDS.get(source, {}).get(word)


def from_score(score: float) -> Severity:
    """CVSS qualitative rating of a base score (0.0 counts as NEGLIGIBLE)."""
    if score >= 9.0:
        return Severity.CRITICAL
    if score >= 7.0:
        return Severity.HIGH
    if score >= 4.0:
        return Severity.MEDIUM
    if score > 0.0:
        return Severity.LOW
    return Severity.NEGLIGIBLE


@lru_cache(maxsize=65536)
def cvss_score(vector: str) -> tuple[str, float] | None:
    """(version label, base score) of a CVSS v4, v3.1 or v3.0 vector; None when unusable."""
    import cvss

    vector = vector.strip()
    try:
        if vector.startswith("CVSS:4.0/"):
            return "cvss_v4.0", float(cvss.CVSS4(vector).base_score)
        if vector.startswith("CVSS:3.1/"):
            return "cvss_v3.1", float(cvss.CVSS3(vector).scores()[0])
        if vector.startswith("CVSS:3.0/"):
            return "cvss_v3.0", float(cvss.CVSS3(vector).scores()[0])
    except cvss.CVSSError:
        return None
    return None


_CVSS_PREFERENCE = ("cvss_v4.0", "cvss_v3.1", "cvss_v3.0")

#: CycloneDX's names of the CVSS versions (``ratings[].method``).
CVSS_METHODS = {"cvss_v4.0": "CVSSv4", "cvss_v3.1": "CVSSv31", "cvss_v3.0": "CVSSv3", "cvss_v2": "CVSSv2"}


@lru_cache(maxsize=65536)
def cvss_rating(vector: str) -> tuple[str, float] | None:
    """(method, base score) of a CVSS v4, v3.x or v2 vector (method as in `CVSS_METHODS`);
    None when the vector cannot be scored."""
    import cvss

    vector = vector.strip()
    got = cvss_score(vector)
    if got is not None:
        return CVSS_METHODS[got[0]], got[1]
    if vector.startswith("CVSS:") or not vector.startswith("AV:") or len(vector) > 200:
        return None
    try:
        return CVSS_METHODS["cvss_v2"], float(cvss.CVSS2(vector).scores()[0])
    except cvss.CVSSError:
        return None


def assess(ratings: Iterable[tuple[str, str]]) -> tuple[Severity, dict[str, str]]:
    """Pick the severity from all ratings and return it with each source's rating text."""
    sources: dict[str, str] = {}
    vendor: Severity | None = None
    vendor_rank = len(VENDOR_SOURCES)
    scored: dict[str, float] = {}
    ghsa: Severity | None = None
    for source, text in ratings:
        if not text:
            continue
        key = source.lower()
        if key in _VENDOR_WORDS:
            sources[key] = text
            sev = vendor_severity(key, text)
            rank = VENDOR_SOURCES.index(key)
            if sev is not None and rank < vendor_rank:
                vendor, vendor_rank = sev, rank
        elif key.startswith("cvss"):
            got = cvss_score(text)
            if got is None:
                sources[key] = text
                continue
            label, score = got
            if score > scored.get(label, -1.0):
                scored[label] = score
                sources[label] = f"{score:.1f} {text}"
        elif key == "ghsa":
            sources[key] = text
            ghsa = _GHSA_WORDS.get(text.strip().lower(), ghsa)
        else:
            sources[key] = text
    if vendor is not None:
        return vendor, sources
    for label in _CVSS_PREFERENCE:
        if label in scored:
            return from_score(scored[label]), sources
    if ghsa is not None:
        return ghsa, sources
    return Severity.UNKNOWN, sources
