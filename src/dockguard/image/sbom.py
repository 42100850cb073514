"""CycloneDX SBOM (JSON, spec 1.5 or 1.6) of an image scan `Report`: the inventory, and the
vulnerabilities when they were matched.

The document is written directly, one component at a time: an image may list 100 000
packages, and an object model of the whole BOM would cost gigabytes and minutes.  It validates
against the CycloneDX JSON schemas (tests check it with cyclonedx-python-lib's strict
validator).  What goes where:

* ``metadata.tools.components`` names dockguard (the 1.5+ form); ``metadata.component`` is the
  image, with ``dockguard:scan:complete = false`` and ``dockguard:scan:incomplete`` reasons
  when part of it was not read, and ``dockguard:vulnerabilities:not-checked`` for each part
  whose vulnerabilities were not checked (no database, a distribution without data);
* bom-refs are deterministic: the image id, each package's purl (a hash of its path and layer
  appended when two packages share one), ``os:<family>``, ``<vulnerability id>#<component>``
  — two scans of one image differ only in ``serialNumber`` and ``timestamp``;
* licences: a licence the package declares as valid SPDX (checked with ``license-expression``)
  becomes a licence ``id`` or, compound, an ``expression``; anything else (``BSD``,
  ``Apache 2.0``) a licence ``name``;
* vulnerabilities (unsuppressed findings only): ``ratings`` with each CVSS vector the advisories
  carry (``method`` CVSSv2/CVSSv3/CVSSv31/CVSSv4, base ``score``, ``vector``, the rating
  advisory as ``source``), each vendor's own rating, and dockguard's own severity; aliases
  (GHSA, PYSEC, DSA…) as ``references`` with their source; advisory URLs as ``advisories``.
  Severity UNKNOWN is ``unknown``, NEGLIGIBLE ``info``.  No ``vulnerabilities`` array at all
  when they were not matched (``image sbom``, no database): an empty one would read as "none".
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import uuid
from collections.abc import Iterable, Iterator, Sequence
from functools import lru_cache
from typing import Protocol

from dockguard.model import (
    CvssScore,
    Finding,
    FindingKind,
    ImageSubject,
    NoteStatus,
    PackageRef,
    Report,
    Severity,
)

#: CycloneDX's severity words.  UNKNOWN stays "unknown" (not a guessed level).
SEVERITY = {
    Severity.CRITICAL: "critical",
    Severity.HIGH: "high",
    Severity.MEDIUM: "medium",
    Severity.LOW: "low",
    Severity.NEGLIGIBLE: "info",
    Severity.UNKNOWN: "unknown",
}
SPECS = ("1.5", "1.6")
_SCHEMA = "http://cyclonedx.org/schema/bom-{}.schema.json"
_VULNERABILITIES = "vulnerabilities"
_MAX_LICENCE = 1024
_URL = re.compile(r"https?://[^\s<>\"'`]{1,2000}")

#: Where an advisory id is published: (id prefix, source name, URL template).
_ADVISORY_SOURCES = (
    ("CVE-", "NVD", "https://nvd.nist.gov/vuln/detail/{}"),
    ("GHSA-", "GitHub Advisory Database", "https://github.com/advisories/{}"),
    ("PYSEC-", "PyPA Advisory Database", "https://osv.dev/vulnerability/{}"),
    ("DSA-", "Debian Security Advisories", "https://security-tracker.debian.org/tracker/{}"),
    ("DLA-", "Debian LTS Advisories", "https://security-tracker.debian.org/tracker/{}"),
    ("DTSA-", "Debian Security Advisories", "https://security-tracker.debian.org/tracker/{}"),
    ("DEBIAN-", "Debian Security Tracker", "https://osv.dev/vulnerability/{}"),
    ("USN-", "Ubuntu Security Notices", "https://ubuntu.com/security/notices/{}"),
    ("UBUNTU-", "Ubuntu Security Notices", "https://osv.dev/vulnerability/{}"),
    ("ALPINE-", "Alpine SecDB", "https://osv.dev/vulnerability/{}"),
    ("GO-", "Go Vulnerability Database", "https://pkg.go.dev/vuln/{}"),
    ("RUSTSEC-", "RustSec Advisory Database", "https://rustsec.org/advisories/{}"),
)


def advisory_source(aid: str) -> dict[str, str]:
    """The CycloneDX ``source`` (name and URL) of an advisory id."""
    for prefix, name, url in _ADVISORY_SOURCES:
        if aid.startswith(prefix):
            return {"name": name, "url": url.format(aid)}
    return {"name": "OSV", "url": f"https://osv.dev/vulnerability/{aid}"}


def _props(pairs: Iterable[tuple[str, str]]) -> list[dict[str, str]]:
    return [{"name": k, "value": v} for k, v in sorted(pairs)]


def _dump(value: object) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False)


def _line(value: object) -> str:
    # Components, dependencies and vulnerabilities: one compact line each (an image may
    # have 100 000 of them).
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _indent(text: str, by: int) -> str:
    return text.replace("\n", "\n" + " " * by)


# --------------------------------------------------------------------------- licences


class _LicenceInfo(Protocol):
    """What ``Licensing.validate`` returns (the part used here)."""

    errors: list[str]
    normalized_expression: object


class _Licensing(Protocol):
    """The part of license_expression's ``Licensing`` used here."""

    def validate(self, expression: str) -> _LicenceInfo:
        """Parse and normalise `expression`."""
        ...


@lru_cache(maxsize=1)
def _licensing() -> _Licensing:
    # Building it reads the whole SPDX licence list (~0.1 s): once per process.
    from license_expression import get_spdx_licensing

    licensing: _Licensing = get_spdx_licensing()
    return licensing


@lru_cache(maxsize=4096)
def spdx_expression(text: str) -> str | None:
    """The normalised SPDX expression `text` is, or None when it is not valid SPDX."""
    if not text or len(text) > _MAX_LICENCE:
        return None
    try:
        info = _licensing().validate(text)
    except Exception:  # the library raises assorted errors on odd characters: not SPDX
        return None
    if info.errors or not info.normalized_expression:
        return None
    return str(info.normalized_expression)


@lru_cache(maxsize=4096)
def _licence_id(expression: str) -> str | None:
    """`expression` when it is one licence id CycloneDX's schema lists, else None."""
    from cyclonedx.spdx import is_supported_id

    return expression if is_supported_id(expression) else None


def _cut(text: str, limit: int = _MAX_LICENCE) -> str:
    if len(text) <= limit:
        return text
    cut = text[: limit - 1].rsplit(" ", 1)[0] if " " in text[: limit - 1] else text[: limit - 1]
    return cut + "…"


def licences(texts: Sequence[str]) -> list[dict[str, object]]:
    """The CycloneDX ``licenses`` of a package's declared licences (empty when none)."""
    entries = list(dict.fromkeys(t.strip() for t in texts if t and t.strip()))
    if not entries:
        return []
    if len(entries) == 1:
        expr = spdx_expression(entries[0])
        if expr is not None and _licence_id(expr) is None:
            return [{"expression": expr}]
    out: list[dict[str, object]] = []
    for text in entries:
        expr = spdx_expression(text)
        ident = _licence_id(expr) if expr is not None else None
        out.append({"license": {"id": ident} if ident else {"name": _cut(text)}})
    return out


# --------------------------------------------------------------------------- refs


def _package_ref(p: PackageRef, used: set[str]) -> str:
    base = p.purl or f"{p.type}:{p.name}@{p.version}"
    ref = base
    if ref in used:
        ref = f"{base}#{hashlib.sha256(f'{p.path}|{p.layer}'.encode('utf-8', 'surrogatepass')).hexdigest()[:12]}"
    n = 1
    while ref in used:
        n += 1
        ref = f"{base}#{n}"
    used.add(ref)
    return ref


def _key(p: PackageRef) -> tuple[str, str, str, str, str]:
    return (p.type, p.name, p.version, p.purl, p.path)


# --------------------------------------------------------------------------- components


def _component(p: PackageRef, ref: str) -> dict[str, object]:
    props = [("dockguard:package:type", p.type)]
    if p.path:
        props.append(("dockguard:location", p.path))
    if p.layer:
        props.append(("dockguard:layer:diff_id", p.layer))
    if p.source_name and (p.source_name, p.source_version) != (p.name, p.version):
        props += [("dockguard:source:name", p.source_name), ("dockguard:source:version", p.source_version)]
    if p.os_owned:
        props.append(("dockguard:os_owned", "true"))
    if p.evidence:
        props.append(("dockguard:evidence", p.evidence))
    comp: dict[str, object] = {"type": "library", "bom-ref": ref, "name": p.name}
    if p.version:
        comp["version"] = p.version
    found = licences(p.licenses)
    if found:
        comp["licenses"] = found
    if p.purl:
        comp["purl"] = p.purl
    comp["properties"] = _props(props)
    return comp


def _image_component(subject: ImageSubject, report: Report) -> dict[str, object]:
    props = [("dockguard:source", subject.source_kind), ("dockguard:scan:complete", str(subject.complete).lower())]
    if subject.platform:
        props.append(("dockguard:platform", subject.platform))
    incomplete = [n.reason for n in report.notes if n.status is NoteStatus.INCOMPLETE]
    props += [("dockguard:scan:incomplete", r) for r in incomplete[:100]]
    props += [("dockguard:vulnerabilities:not-checked", n.reason)
              for n in report.notes if n.status is NoteStatus.NOT_CHECKED]
    comp: dict[str, object] = {
        "type": "container",
        "bom-ref": subject.image_id or subject.target,
        "name": subject.repo_tags[0] if subject.repo_tags else subject.target,
    }
    if subject.image_id:
        comp["version"] = subject.image_id
    comp["properties"] = _props(props)
    return comp


# --------------------------------------------------------------------------- vulnerabilities


def _ratings(f: Finding) -> list[dict[str, object]]:
    vuln = f.vulnerability
    out: list[dict[str, object]] = []
    for c in vuln.cvss if vuln else ():
        out.append(_cvss_rating(c))
    for rater, word in vuln.severity_sources if vuln else ():
        # CVSS ratings are listed above with their vectors; vendors' words are mapped.
        severity = None if rater.startswith("cvss") else vendor_rating(rater, word)
        if severity is not None:
            out.append({"source": {"name": rater}, "severity": SEVERITY[severity], "method": "other"})
    out.append({"source": {"name": "dockguard"}, "severity": SEVERITY[f.severity], "method": "other"})
    return out


def vendor_rating(rater: str, word: str) -> Severity | None:
    """A vendor's (or GitHub's) own severity word as a Severity; None when it is not one."""
    from dockguard.vuln.severity import vendor_severity

    if rater == "ghsa":
        return {"low": Severity.LOW, "moderate": Severity.MEDIUM, "medium": Severity.MEDIUM,
                "high": Severity.HIGH, "critical": Severity.CRITICAL}.get(word.strip().lower())
    return vendor_severity(rater, word)


def _cvss_rating(c: CvssScore) -> dict[str, object]:
    from dockguard.vuln.severity import from_score

    rating: dict[str, object] = {}
    if c.source:
        rating["source"] = advisory_source(c.source)
    if c.score is not None:
        rating["score"] = c.score
        rating["severity"] = "none" if c.score == 0 else SEVERITY[from_score(c.score)]
    rating["method"] = c.method
    rating["vector"] = c.vector
    return rating


def _vulnerability(f: Finding, ref: str, target: str | None) -> dict[str, object]:
    vuln = f.vulnerability
    pkg = f.package
    out: dict[str, object] = {"bom-ref": ref, "id": f.id, "source": advisory_source(f.id)}
    aliases = [a for a in dict.fromkeys(vuln.aliases if vuln else ()) if a != f.id]
    if aliases:
        out["references"] = [{"id": a, "source": advisory_source(a)} for a in aliases]
    out["ratings"] = _ratings(f)
    if f.title:
        out["description"] = f.title
    if f.description:
        out["detail"] = f.description
    if vuln and vuln.fixed and pkg:
        out["recommendation"] = f"Upgrade {pkg.name} to {vuln.fixed}"
    urls = [r for r in dict.fromkeys(f.references) if _URL.fullmatch(r)]
    if urls:
        out["advisories"] = [{"url": u} for u in urls]
    if target:
        affected: dict[str, object] = {"status": "affected"}
        if vuln and vuln.installed:
            affected["version"] = vuln.installed
        out["affects"] = [{"ref": target, "versions": [affected]}]
    if vuln:
        props = [("dockguard:state", vuln.state.value)]
        if vuln.reason:
            props.append(("dockguard:state:reason", vuln.reason))
        out["properties"] = _props(props)
    return out


# --------------------------------------------------------------------------- document


def _matched(report: Report) -> bool:
    """False when the report's vulnerabilities were not matched at all (no database, inventory only)."""
    return not any(n.part == _VULNERABILITIES and n.status in (NoteStatus.NOT_CHECKED, NoteStatus.NOT_APPLICABLE)
                   for n in report.notes)


def render_report(report: Report, spec: str = "1.6") -> str:
    """The SBOM of an image scan `Report` as a JSON string."""
    from dockguard import __version__

    if spec not in SPECS:
        raise ValueError(f"unsupported CycloneDX version {spec}")
    subject = report.source.images[0] if report.source.images else ImageSubject(target=report.source.target)
    image = _image_component(subject, report)
    image_ref = str(image["bom-ref"])
    metadata = {
        "timestamp": dt.datetime.now(dt.UTC).isoformat(),
        "tools": {"components": [{"type": "application", "publisher": "dockguard", "name": "dockguard",
                                  "version": __version__}]},
        "component": image,
    }
    refs: dict[tuple[str, str, str, str, str], str] = {}
    used: set[str] = {image_ref}

    def components() -> Iterator[str]:
        for p in report.packages:
            ref = _package_ref(p, used)
            refs.setdefault(_key(p), ref)
            yield _line(_component(p, ref))
        if subject.os_family:
            os_ref = f"os:{subject.os_family}"
            if os_ref not in used:
                used.add(os_ref)
                comp: dict[str, object] = {"type": "operating-system", "bom-ref": os_ref, "name": subject.os_family}
                if subject.os_version:
                    comp["version"] = subject.os_version
                if subject.os_name:
                    comp["description"] = subject.os_name
                yield _line(comp)

    def vulnerabilities() -> Iterator[str]:
        seen: set[str] = set()
        for f in report.findings:
            if f.kind is not FindingKind.VULNERABILITY or f.suppressed:
                continue
            target = refs.get(_key(f.package)) if f.package else None
            base = f"{f.id}#{target or f.obj}"
            ref, n = base, 1
            while ref in seen or ref in used:
                n += 1
                ref = f"{base}#{n}"
            seen.add(ref)
            yield _line(_vulnerability(f, ref, target))

    def document() -> Iterator[str]:
        yield (
            "{\n"
            f'  "$schema": {json.dumps(_SCHEMA.format(spec))},\n'
            '  "bomFormat": "CycloneDX",\n'
            f'  "specVersion": {json.dumps(spec)},\n'
            f'  "serialNumber": "urn:uuid:{uuid.uuid4()}",\n'
            '  "version": 1,\n'
            f'  "metadata": {_indent(_dump(metadata), 2)},\n'
            '  "components": ['
        )
        yield from _listed(components())
        yield '\n  ],\n  "dependencies": ['
        children = sorted(used - {image_ref})
        yield from _listed([_line({"ref": image_ref, "dependsOn": children})])
        yield from _listed((_line({"ref": r}) for r in children), first=False)
        if _matched(report):
            yield '\n  ],\n  "vulnerabilities": ['
            yield from _listed(vulnerabilities())
        yield "\n  ]\n}\n"

    # One join: pieces are small, the document is built once.
    return "".join(document())


def _listed(items: Iterable[str], first: bool = True) -> Iterator[str]:
    """Array elements, each on its own line, comma-separated (`first`: no leading comma)."""
    for item in items:
        yield ("\n    " if first else ",\n    ") + item
        first = False
