"""Match installed packages against the vulnerability database.

OS packages are looked up by the key their vendor uses (Debian/Ubuntu source package and
source version with its epoch, Alpine origin, RPM name) in the ecosystem of the detected OS
release; language packages in their language ecosystem.  A version is affected when it is
listed in an advisory's ``versions`` or lies in one of its ranges, evaluated with the
ecosystem's own ordering.  Advisories that describe the same vulnerability (one id listed as
another's alias or upstream) become one finding keyed by the CVE id.

A version that cannot be ordered (`versions.version_problem`: look-alike digits, thousands of
characters, a bad epoch) is never guessed about: the advisory is reported with the state
``unknown`` and the reason, so a gate on it fails rather than passes silently.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from dockguard.image.packages import OSInfo, Package
from dockguard.model import CvssScore, Severity, VulnState
from dockguard.vuln import severity as sev
from dockguard.vuln.database import AdvisoryRow, AffectedRow, VulnDB, normalise_name
from dockguard.vuln.distros import os_ecosystems
from dockguard.vuln.ecosystems import LANGUAGE_ECOSYSTEMS, NoData, NoDataReason, language_coverage
from dockguard.vuln.versions import Comparator, Incomparable, comparator, compare_semver, version_problem


@dataclass(frozen=True)
class MatchOptions:
    """Which findings to keep; the noise rules are on by default."""

    ignore_unfixed: bool = False
    include_negligible: bool = False
    include_not_affected: bool = False
    kernel_noise: bool = True
    os_owned_noise: bool = True


@dataclass(frozen=True)
class VulnMatch:
    """One vulnerability of one installed package.

    `installed_version` is the version that was compared: for Debian and Ubuntu packages the
    source package's version (which is what `fixed_version` refers to), else the package's.
    `reason` explains an ``unknown`` state (which version could not be compared, and why).
    """

    id: str
    aliases: tuple[str, ...]
    package: Package
    installed_version: str
    fixed_version: str | None
    state: VulnState
    severity: Severity
    severity_sources: dict[str, str] = field(hash=False)
    title: str
    description: str
    references: tuple[str, ...]
    sources: tuple[str, ...]
    reason: str = ""
    cvss: tuple[CvssScore, ...] = ()
    """The CVSS vectors the advisories carry, scored, each with the advisory that rates it."""


STATES = tuple(s.value for s in VulnState)
UNFIXED_STATES = frozenset({VulnState.AFFECTED, VulnState.WILL_NOT_FIX, VulnState.FIX_DEFERRED})
# When feeds disagree the more specific statement wins: a fix beats everything, a vendor's
# reason for having none beats a bare "affected", a definite answer beats "cannot compare",
# and any possibly vulnerable state beats not_affected.
_STATE_PRIORITY = {
    VulnState.FIXED: 0,
    VulnState.END_OF_LIFE: 1,
    VulnState.WILL_NOT_FIX: 2,
    VulnState.FIX_DEFERRED: 3,
    VulnState.AFFECTED: 4,
    VulnState.UNKNOWN: 5,
    VulnState.NOT_AFFECTED: 6,
}
_HINTS = {
    "will_not_fix": VulnState.WILL_NOT_FIX,
    "fix_deferred": VulnState.FIX_DEFERRED,
    "end_of_life": VulnState.END_OF_LIFE,
}


@dataclass(frozen=True)
class RangeVerdict:
    """What one affected row says about one installed version."""

    state: VulnState
    fixed: str | None = None
    reason: str = ""

_LANGUAGE_ECOSYSTEMS = LANGUAGE_ECOSYSTEMS
_KERNEL_PACKAGE = re.compile(r"^(linux-libc-dev|linux-headers(-.*)?|linux-image(-.*)?|kernel-headers|kernel-devel)$")


def coverage(pkg: Package, os_info: OSInfo | None) -> tuple[str, ...] | NoData:
    """The ecosystem keys `pkg` is looked up under, or `NoData` saying why it cannot be.

    Language packages go to their OSV ecosystem (`ecosystems.LANGUAGE_ECOSYSTEMS`) whatever
    the OS; OS packages to their distribution's (`distros.os_ecosystems`).  conda packages,
    runtimes built from source and distributions without public data give `NoData`.
    """
    lang = language_coverage(pkg.type, pkg.name, pkg.version)
    if isinstance(lang, str):
        return (lang,)
    if lang is not None:
        return lang
    return os_ecosystems(os_info, pkg.type)


def ecosystems_for(pkg: Package, os_info: OSInfo | None) -> tuple[str, ...]:
    """Normalised ecosystem keys the package is looked up in (empty when there are none)."""
    found = coverage(pkg, os_info)
    return () if isinstance(found, NoData) else found


def lookup_keys(pkg: Package) -> tuple[tuple[str, ...], str]:
    """(names to look up, version to compare) for a package."""
    if pkg.type in ("deb", "apk"):
        return (pkg.source_name or pkg.name,), (pkg.source_version or pkg.version)
    if pkg.type == "rpm":
        names = tuple(dict.fromkeys(n for n in (pkg.name, pkg.source_name) if n))
        return names, pkg.version
    return (pkg.name,), pkg.version


def _is_zero(version: str) -> bool:
    return version == "0"


def _range_state(cmp: Comparator, version: str, events: Sequence[Sequence[str]]) -> tuple[bool, str | None]:
    """OSV range evaluation: (affected, fixed version closing the affected interval)."""
    # The events at or below `version` decide; the greatest of them wins.  Equivalent to
    # OSV's sorted walk without sorting every row's events on each lookup.
    best_kind: str | None = None
    best_version = ""
    limits: list[str] = []
    fixes_above: list[str] = []
    for kind, ev in events:
        if kind == "limit":
            limits.append(ev)
            continue
        if kind == "introduced":
            applies = _is_zero(ev) or cmp(ev, version) <= 0
        elif kind == "fixed":
            applies = cmp(ev, version) <= 0
            if not applies:
                fixes_above.append(ev)
        else:  # last_affected
            applies = cmp(ev, version) < 0
        if not applies:
            continue
        if best_kind is None:
            best_kind, best_version = kind, ev
            continue
        if kind == "introduced" and _is_zero(ev):
            continue
        c = 1 if _is_zero(best_version) else cmp(ev, best_version)
        # On a tie a closing event beats an introduction.
        if c > 0 or (c == 0 and kind != "introduced"):
            best_kind, best_version = kind, ev
    if best_kind != "introduced":
        return False, None
    if limits and not any(cmp(version, lim) < 0 for lim in limits):
        return False, None
    fixed = None
    for ev in fixes_above:
        if fixed is None or cmp(ev, fixed) < 0:
            fixed = ev
    return True, fixed


def _unfit(ecosystem: str, version: str, events: Sequence[Sequence[str]]) -> Incomparable | None:
    """The first version a range evaluation would have to compare but cannot."""
    if any(not (kind == "introduced" and _is_zero(ev)) for kind, ev in events):
        problem = version_problem(ecosystem, version)
        if problem is not None:
            return Incomparable(version, f"(installed) {problem}")
    for kind, ev in events:
        if kind == "introduced" and _is_zero(ev):
            continue
        problem = version_problem(ecosystem, ev)
        if problem is not None:
            return Incomparable(ev, f"({kind} in the advisory) {problem}")
    return None


def evaluate_range(row: AffectedRow, version: str) -> RangeVerdict | None:
    """What one affected row says about `version`; None when it does not affect it.

    A range whose versions cannot be compared gives ``unknown`` (with the reason) unless
    another range or the ``versions`` list settles the question.
    """
    if row.status == "not_affected":
        return RangeVerdict(VulnState.NOT_AFFECTED)
    if row.status == "under_investigation":
        return None
    cmp = comparator(row.ecosystem)
    hit = version in row.versions
    fixed: str | None = None
    unknown: Incomparable | None = None
    for rtype, events in row.ranges:
        bad = _unfit(row.ecosystem, version, events)
        if bad is not None:
            unknown = unknown or bad
            continue
        in_range, fix = _range_state(compare_semver if rtype == "SEMVER" else cmp, version, events)
        if in_range:
            hit = True
            if fix is not None and (fixed is None or cmp(fix, fixed) < 0):
                fixed = fix
    if not hit:
        if unknown is not None:
            return RangeVerdict(VulnState.UNKNOWN, None, f"cannot compare: {unknown.describe()}")
        return None
    if fixed is not None:
        return RangeVerdict(VulnState.FIXED, fixed)
    return RangeVerdict(_HINTS.get(row.status, VulnState.AFFECTED))


_VENDOR_URLS = (
    (("DSA-", "DLA-", "DTSA-", "TEMP-"), "https://security-tracker.debian.org/tracker/{}"),
    (("GHSA-",), "https://github.com/advisories/{}"),
    (("USN-",), "https://ubuntu.com/security/notices/{}"),
)


@lru_cache(maxsize=65536)
def advisory_url(aid: str) -> str | None:
    """Where a vendor advisory id can be read; None for CVE ids."""
    if aid.startswith("CVE-"):
        return None
    for prefixes, template in _VENDOR_URLS:
        if aid.startswith(prefixes):
            return template.format(aid)
    return f"https://osv.dev/vulnerability/{aid}"


def _all_ids(adv: AdvisoryRow) -> tuple[str, ...]:
    return (adv.id, *adv.aliases, *adv.upstream)


def _preferred(ids: set[str]) -> str:
    return min(ids, key=lambda i: (not i.startswith("CVE-"), not i.startswith("GHSA-"), i))


@dataclass
class _Hit:
    adv: AdvisoryRow
    row: AffectedRow
    result: RangeVerdict


@dataclass
class _Group:
    key: str
    hits: list[_Hit] = field(default_factory=list)
    ids: set[str] = field(default_factory=set)


def _group_hits(hits: list[_Hit]) -> list[_Group]:
    groups: dict[str, _Group] = {}
    loose: list[_Hit] = []
    for hit in hits:
        cves = [i for i in dict.fromkeys(_all_ids(hit.adv)) if i.startswith("CVE-")]
        if hit.adv.id.startswith("CVE-"):
            cves = [hit.adv.id]
        if not cves:
            loose.append(hit)
            continue
        for cve in cves:
            group = groups.setdefault(cve, _Group(cve))
            group.hits.append(hit)
            group.ids.update(_all_ids(hit.adv))
    # Advisories without a CVE join the CVE group naming one of their ids, else each other.
    pending: list[_Group] = []
    for hit in loose:
        ids = set(_all_ids(hit.adv))
        target = next((g for g in groups.values() if g.ids & ids), None)
        if target is None:
            target = next((g for g in pending if g.ids & ids), None)
        if target is None:
            target = _Group("")
            pending.append(target)
        target.hits.append(hit)
        target.ids.update(ids)
    for group in pending:
        group.key = _preferred(group.ids)
        groups[group.key] = group
    return list(groups.values())


def _merge(group: _Group, pkg: Package, version: str) -> VulnMatch:
    hits = group.hits
    state = min((h.result.state for h in hits), key=_STATE_PRIORITY.__getitem__)
    fixed: str | None = None
    if state is VulnState.FIXED:
        for h in hits:
            if h.result.fixed is None:
                continue
            cmp = comparator(h.row.ecosystem)
            if fixed is None or cmp(h.result.fixed, fixed) > 0:
                fixed = h.result.fixed
    reason = next((h.result.reason for h in hits if h.result.state is state and h.result.reason), "")
    ratings: list[tuple[str, str]] = []
    for h in hits:
        if h.row.severity:
            source, _, word = h.row.severity.partition(":")
            ratings.append((source, word))
        ratings.extend(h.adv.ratings)
    severity, sources = sev.assess(ratings)
    cvss: dict[tuple[str, str], CvssScore] = {}
    for h in sorted(hits, key=lambda h: h.adv.id):
        for source, text in h.adv.ratings:
            if source.lower().startswith("cvss") and text:
                rated = sev.cvss_rating(text)
                if rated is not None and (rated[0], text) not in cvss:
                    cvss[(rated[0], text)] = CvssScore(rated[0], text.strip(), rated[1], h.adv.id)
    primary = sorted(hits, key=lambda h: (h.adv.id != group.key, h.adv.id))
    title = next((h.adv.summary for h in primary if h.adv.summary), "")
    description = next((h.adv.details for h in primary if h.adv.details), "")
    aliases = tuple(sorted(i for i in group.ids if i != group.key))
    refs: dict[str, None] = {}
    for aid in (group.key, *aliases):
        url = advisory_url(aid)
        if url:
            refs[url] = None
    for h in primary:
        for ref in h.adv.references:
            refs[ref] = None
    return VulnMatch(
        id=group.key,
        aliases=aliases,
        package=pkg,
        installed_version=version,
        fixed_version=fixed,
        state=state,
        severity=severity,
        severity_sources=sources,
        title=title or (description.splitlines()[0][:200] if description else ""),
        description=description,
        references=tuple(refs),
        sources=tuple(sorted({h.adv.feed for h in hits})),
        reason=reason,
        cvss=tuple(sorted(cvss.values(), key=lambda c: (c.method, c.vector, c.source))),
    )


def _keep(m: VulnMatch, options: MatchOptions) -> bool:
    if m.state is VulnState.NOT_AFFECTED:
        return options.include_not_affected
    if options.ignore_unfixed and m.state in UNFIXED_STATES:
        return False
    return options.include_negligible or m.severity is not Severity.NEGLIGIBLE


@dataclass(frozen=True)
class NotChecked:
    """Packages whose vulnerabilities were not checked, grouped by one `NoData` answer."""

    why: NoData
    packages: tuple[Package, ...]

    def message(self) -> str:
        """The one-line warning a report shows (``... : 143 packages``)."""
        n = len(self.packages)
        return f"{self.why.message()} ({n} package{'s' if n != 1 else ''})"


@dataclass(frozen=True)
class MatchResult:
    """Every finding, and every package that could not be checked (never silently clean)."""

    matches: tuple[VulnMatch, ...]
    not_checked: tuple[NotChecked, ...]


def check_packages(
    db: VulnDB,
    os_info: OSInfo | None,
    packages: Sequence[Package],
    options: MatchOptions = MatchOptions(),
) -> MatchResult:
    """`match_packages` plus the packages it could not check, each group with its reason.

    A package is not checked when `coverage` gives `NoData`, or when the database holds no
    feed for any of its ecosystems (`NoDataReason.NOT_LOADED`: a database built without
    Maven data cannot call a jar clean).
    """
    rows_cache: dict[tuple[str, str], list[AffectedRow]] = {}
    loaded: dict[str, bool] = {}
    skipped: dict[NoData, list[Package]] = {}
    pending: list[tuple[Package, str, list[tuple[AffectedRow, RangeVerdict]]]] = []
    wanted: set[int] = set()
    for pkg in packages:
        if options.kernel_noise and _KERNEL_PACKAGE.match(pkg.name):
            continue
        if options.os_owned_noise and pkg.os_owned and pkg.type in _LANGUAGE_ECOSYSTEMS:
            continue
        ecosystems = coverage(pkg, os_info)
        if isinstance(ecosystems, NoData):
            skipped.setdefault(ecosystems, []).append(pkg)
            continue
        for eco in ecosystems:
            if eco not in loaded:
                loaded[eco] = db.has_ecosystem(eco)
        if not any(loaded[eco] for eco in ecosystems):
            why = NoData(NoDataReason.NOT_LOADED, " or ".join(ecosystems),
                         "run `dockguard db update` (or import a feed) for it")
            skipped.setdefault(why, []).append(pkg)
            continue
        names, version = lookup_keys(pkg)
        if not version:
            continue
        found: list[tuple[AffectedRow, RangeVerdict]] = []
        for eco in ecosystems:
            for name in names:
                key = (eco, normalise_name(eco, name))
                rows = rows_cache.get(key)
                if rows is None:
                    rows = rows_cache[key] = db.lookup(*key)
                for row in rows:
                    result = evaluate_range(row, version)
                    if result is not None:
                        found.append((row, result))
                        wanted.add(row.advisory)
        if found:
            pending.append((pkg, version, found))
    advisories = db.advisories(wanted)
    matches: list[VulnMatch] = []
    for pkg, version, found in pending:
        hits = [_Hit(advisories[row.advisory], row, result) for row, result in found]
        for group in _group_hits(hits):
            m = _merge(group, pkg, version)
            if _keep(m, options):
                matches.append(m)
    matches.sort(key=lambda m: (m.package.name, m.package.version, m.package.path, -m.severity.rank, m.id))
    not_checked = sorted((NotChecked(why, tuple(pkgs)) for why, pkgs in skipped.items()),
                         key=lambda n: (n.why.reason, n.why.subject))
    return MatchResult(tuple(matches), tuple(not_checked))


def match_packages(
    db: VulnDB,
    os_info: OSInfo | None,
    packages: Sequence[Package],
    options: MatchOptions = MatchOptions(),
) -> list[VulnMatch]:
    """Every vulnerability of `packages` known to `db`, after the noise rules in `options`.

    Packages that cannot be checked are left out here: `check_packages` reports them.
    """
    return list(check_packages(db, os_info, packages, options).matches)
