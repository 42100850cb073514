"""SARIF 2.1.0 output for code-scanning dashboards (GitHub, GitLab, DefectDojo, Azure DevOps...).

What the consumers require, and how this module meets it (docs/integrations.md has the details):

- **One result per rule and place.**  A *place* is a physical location every result has:
  ``locations[0].physicalLocation.artifactLocation`` with a relative ``uri`` and a ``uriBaseId``
  (GitHub refuses a result without one; GitLab drops it and fails the scan past 50 %), plus a
  ``region`` (line 1 when no line is known: GitLab tells results apart by file and lines).
  Host files are under ``HOSTROOT`` (``etc/docker/daemon.json``; daemon-wide settings point at
  that file); Docker objects under ``DOCKER`` (``container/web``, ``image/app:1.0`` and
  ``image/app:1.0/usr/lib/libz.so.1`` for a file in an image, ``network/n``, ``swarm``); files
  given on the command line (a seccomp profile) under ``%SRCROOT%`` when relative, as ``file:``
  URIs when absolute.  Items that share a rule and a place (two packages of one dpkg database
  with the same CVE, two secrets in one image's ENV) become one result naming each of them,
  because GitLab keeps only the first of results it cannot tell apart.
- **Results name their object**: ``container web: Privileged: true``; never the rule id first.
- ``partialFingerprints.primaryLocationLineHash`` (the only key GitHub reads; the upload
  action cannot compute it for files outside the repository) and ``dockguardLocation/v2``,
  both from the rule and the place, so the same problem keeps its alert across runs.
- ``automationDetails.id`` ``dockguard/<command>/<target>/`` so bench, audit and several image
  scans of one commit are separate analyses (categories) on GitHub.
- ``shortDescription``/``fullDescription``/``message`` at most 1,024 characters (cut at a word
  boundary with "…"), rule ``name`` 255, ``helpUri`` 2,048, 10 tags per rule, 25,000 results
  per run (the most severe are kept and a notification says how many were left out).
- ``properties.security-severity`` per rule (the highest of its results): CRITICAL 9.5, HIGH 8.0,
  MEDIUM 5.5, LOW 2.0, NEGLIGIBLE 1.0, UNKNOWN 0.0 ("no security severity" for GitHub, Info
  for GitLab and DefectDojo, like CycloneDX's ``unknown``).

Results are emitted for what needs attention: WARN check objects and findings.  PASS, INFO,
NOTE and N/A are left out; ERROR checks, report notes, failed probe steps and collection errors
become ``toolExecutionNotifications``.  Suppressed items stay with an external, accepted
suppression.  A seccomp diagnostic's region has its line and column.  Of a ``dockguard diff``
report only the new problems are results (``baselineState`` new): fixed ones are gone from the
later run and unchanged ones are the accepted baseline, so an upload shows the regressions.
Every string is cleaned of characters that break consumers (lone surrogates,
NUL and other C0 controls become U+FFFD).
"""

from __future__ import annotations

import hashlib
import json
import posixpath
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import quote

from dockguard.model import (
    Change,
    CheckMeta,
    CheckResult,
    Detail,
    Finding,
    FindingKind,
    NoteStatus,
    Outcome,
    Report,
    Severity,
    StepStatus,
    Surface,
)
from dockguard.report._labels import clean_json_text, clean_text, object_phrase, shorten, split_obj
from dockguard.serial import to_jsonable

SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
VERSION = "2.1.0"
INFORMATION_URI = "https://github.com/dockguard/dockguard"

#: GitHub: critical > 9.0, high ≥ 7.0, medium ≥ 4.0, low ≥ 0.1, 0.0 = no security severity.
#: GitLab (× 10): critical ≥ 90, high ≥ 70, medium ≥ 40, low ≥ 10, info below.
#: DefectDojo: critical ≥ 9, high ≥ 7, medium ≥ 4, low > 0, info 0.
SECURITY_SEVERITY: dict[Severity, str] = {
    Severity.CRITICAL: "9.5",
    Severity.HIGH: "8.0",
    Severity.MEDIUM: "5.5",
    Severity.LOW: "2.0",
    Severity.NEGLIGIBLE: "1.0",
    Severity.UNKNOWN: "0.0",
}

LEVEL: dict[Severity, str] = {
    Severity.CRITICAL: "error",
    Severity.HIGH: "error",
    Severity.MEDIUM: "warning",
    Severity.LOW: "note",
    Severity.NEGLIGIBLE: "note",
    Severity.UNKNOWN: "note",
}

# GitHub's problem.severity vocabulary has "recommendation" where SARIF levels have "note".
_PROBLEM_SEVERITY = {"error": "error", "warning": "warning", "note": "recommendation"}

MAX_TEXT = 1024
"""GitHub and GitLab: shortDescription and fullDescription; GitLab: message (longer is dropped)."""
MAX_RULE_NAME = 255
MAX_HELP_URI = 2048
MAX_TAGS = 10
MAX_RESULTS = 25_000
"""GitHub rejects a run with more results (GitLab reads the first 5,000)."""
MAX_RULES = 25_000
MAX_LINE = 2**31 - 1
MAX_ITEMS = 1000
"""Items of one result listed in its properties."""

HOSTROOT = "HOSTROOT"
DOCKER = "DOCKER"
SRCROOT = "%SRCROOT%"
DAEMON_JSON = "etc/docker/daemon.json"
"""Where daemon-wide settings (objects named ``daemon``) are fixed."""

_BASE_DESCRIPTIONS = {
    HOSTROOT: ("file:///", "The root of the audited host's filesystem (where --host-root was mounted "
               "when dockguard ran in a container)."),
    DOCKER: ("", "Objects of the audited Docker host, not files of this repository: container/NAME, "
             "image/REFERENCE (and image/REFERENCE/PATH for a file inside an image), network/NAME, "
             "endpoint/ADDRESS, registry/HOST, swarm, host."),
    SRCROOT: ("", "The directory dockguard was run in."),
}

_WORD = re.compile(r"[A-Za-z0-9]+")
# An absolute http(s) URI made only of characters RFC 3986 allows (no spaces, quotes, braces).
_HTTP_URI = re.compile(r"https?://[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+")
_CATEGORY_UNSAFE = re.compile(r"\s+")
_COLUMN = re.compile(r"[0-9]{1,9}")
_SEMVER = re.compile(r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?")


def render(report: Report) -> str:
    """The report as a SARIF 2.1.0 log (compact JSON text, deterministic order), every string
    cleaned of characters that break consumers.

    Compact because the services limit the file size (10 MB) and because indenting makes
    ``json`` fall back to its pure-Python encoder (15 times slower on 25,000 results).
    """
    text = json.dumps(build(report), ensure_ascii=False, separators=(",", ":"))
    return clean_json_text(text) + "\n"


@dataclass(frozen=True)
class _Place:
    """Where a result is: the physical location consumers key on, and how messages name it."""

    base: str
    uri: str
    line: int
    logical_name: str
    logical_fqn: str
    logical_kind: str
    phrase: str
    """How messages name the place: ``container web``, ``image app:1.0 (/usr/bin/passwd)``."""
    within: str
    """The object alone (``image app:1.0``) and, apart, where in it (``/var/lib/dpkg/status``)."""
    inside: str
    key: str
    """Identity of the place before any cleaning (two objects whose names differ only in
    characters that are cleaned away stay two places)."""
    anonymous: bool = False
    """No object was named (a check that failed as a whole)."""


@dataclass
class _Item:
    """One thing that needs attention: a failing check object or a finding."""

    text: str
    severity: Severity
    suppressed: str | None
    finding: Finding | None = None


@dataclass
class _Group:
    """The items of one rule at one place: one SARIF result."""

    rule_id: str
    place: _Place
    kind: str
    title: str
    items: list[_Item] = field(default_factory=list)


def build(report: Report) -> dict[str, object]:
    """The SARIF log as a JSON-compatible dict (strings as the report has them: `render` cleans)."""
    rules = _Rules()
    groups: dict[tuple[str, str], _Group] = {}
    notifications: list[dict[str, object]] = []

    def add(rule_id: str, place: _Place, kind: str, title: str, item: _Item) -> None:
        group = groups.get((rule_id, place.key))
        if group is None:
            group = groups[(rule_id, place.key)] = _Group(rule_id, place, kind, title)
        group.items.append(item)

    for result in report.results:
        if result.outcome is Outcome.WARN:
            rules.check(result.meta)
            for place, item in _check_items(result):
                add(result.id, place, "check", result.meta.title, item)
        elif result.outcome is Outcome.ERROR and not result.suppressed:
            notifications.append(_notification("error", f"check {result.id} failed: {result.reason or 'error'}",
                                               rule=result.id))
    for finding in report.findings:
        if finding.change in (Change.FIXED, Change.UNCHANGED):
            continue  # of a diff, only what is new needs attention; the rest is the baseline
        rules.finding(finding)
        place = _place(finding.obj, finding.path, finding.line)
        item = _Item(_finding_text(finding), finding.severity, finding.suppressed, finding)
        add(finding.id, place, str(finding.kind), finding.title, item)

    ordered = list(groups.values())
    if len(ordered) > MAX_RESULTS:
        worst = sorted(range(len(ordered)), key=lambda i: -_group_severity(ordered[i]).rank)[:MAX_RESULTS]
        dropped = len(ordered) - MAX_RESULTS
        ordered = [ordered[i] for i in sorted(worst)]
        notifications.append(_notification(
            "warning", f"{dropped} results of lower severity were left out: code-scanning services accept "
            f"at most {MAX_RESULTS} per run (the JSON report has all of them)"))
    kept_rules = list(dict.fromkeys(g.rule_id for g in ordered))
    if len(kept_rules) > MAX_RULES:
        keep = set(kept_rules[:MAX_RULES])
        dropped = sum(1 for g in ordered if g.rule_id not in keep)
        ordered = [g for g in ordered if g.rule_id in keep]
        notifications.append(_notification(
            "warning", f"{dropped} results of {len(kept_rules) - MAX_RULES} more rules were left out: "
            f"code-scanning services accept at most {MAX_RULES} rules per run"))
    for group in ordered:
        rules.raise_to(group.rule_id, _group_severity(group))
    descriptors, index = rules.descriptors(dict.fromkeys(g.rule_id for g in ordered))
    results = [_result(g, index[g.rule_id]) for g in ordered]

    notifications.extend(_run_notifications(report))
    invocation: dict[str, object] = {
        "executionSuccessful": report.complete and (not report.steps or report.reachable),
        "startTimeUtc": _utc(report.started),
        "endTimeUtc": _utc(report.finished),
    }
    if notifications:
        invocation["toolExecutionNotifications"] = notifications
    bases = sorted({g.place.base for g in ordered if g.place.base})
    driver: dict[str, object] = {
        "name": "dockguard",
        "version": report.tool_version,
        "semanticVersion": report.tool_version,
        "informationUri": INFORMATION_URI,
        "rules": descriptors,
    }
    run: dict[str, object] = {
        "tool": {"driver": driver},
        "automationDetails": {"id": automation_id(report)},
        "invocations": [invocation],
        "results": results,
        "columnKind": "unicodeCodePoints",
        "properties": {"source": to_jsonable(report.source)},
    }
    if not _SEMVER.fullmatch(report.tool_version):
        # GitHub reads semanticVersion as Semantic Versioning 2.0 (a PEP 440 ".dev1" is not).
        del driver["semanticVersion"]
    if not report.tool_version:
        del driver["version"]
    if bases:
        run["originalUriBaseIds"] = {b: _base_descriptor(b) for b in bases}
    return {"$schema": SCHEMA_URI, "version": VERSION, "runs": [run]}


def automation_id(report: Report) -> str:
    """``dockguard/<command>/<target>/``: GitHub's analysis category is everything before the
    last slash, so each command and target is its own category."""
    src = report.source
    if src.surface in (Surface.BENCH, Surface.AUDIT):
        target = src.hostname or src.docker_host or "local"
    elif src.surface is Surface.IMAGE_SCAN:
        target = src.target or (src.images[0].target if src.images else "") or "image"
    else:
        target = src.target or src.docker_host or "default"
    target = _CATEGORY_UNSAFE.sub("_", clean_text(target)).strip("/") or "default"
    return f"dockguard/{src.surface.value}/{shorten(target, 200)}/"


# -- places ----------------------------------------------------------------------------------


def _place(obj: str, path: str = "", line: int | None = None) -> _Place:
    """The place of an object label (``container:web``) and an optional file path inside it."""
    key = f"{obj}\0{path}\0{line or ''}"
    row = line if isinstance(line, int) and 1 <= line <= MAX_LINE else 1
    if not obj:
        return _Place(DOCKER, "host", row, "host", "host", "resource", "the host", "the host", "", key, anonymous=True)
    kind, name = split_obj(obj)
    bare = kind == obj  # a label without a colon: ``daemon``, ``swarm``, ``environment``
    phrase = object_phrase(obj)
    fqn = f"{obj}//{path.lstrip('/')}" if path and kind not in ("file", "profile") else obj
    if not bare and kind in ("file", "profile"):
        file = path or name
        base, uri = _file_uri(file, host=kind == "file")
        inside = f"line {row}" if line else ""
        if line:
            phrase = f"{phrase}, line {row}"
        return _Place(base, uri, row, name, obj, "module", phrase, object_phrase(obj), inside, key)
    if bare and kind == "daemon":
        return _Place(HOSTROOT, DAEMON_JSON, row, "daemon", obj, "resource", "daemon", "daemon", "", key)
    kind_segment = _segment(kind) or "object"
    uri = kind_segment if bare else f"{kind_segment}/{_segment(name)}"
    inside = ""
    if path:
        uri += "/" + _join(path.lstrip("/") or ".")
        inside = f"{path}{f', line {row}' if line else ''}"
    return _Place(DOCKER, uri, row, name, fqn, "resource", f"{phrase} ({inside})" if inside else phrase, phrase,
                  inside, key)


def _file_uri(path: str, *, host: bool) -> tuple[str, str]:
    # A file path means what it says: "a/./b" is "a/b", and a leading ".." stays (outside the root).
    norm = posixpath.normpath(path)
    if norm.startswith("/"):
        if host:
            return HOSTROOT, _relative(_join(norm.lstrip("/"), literal_dots=False))
        return "", "file://" + _join(norm, literal_dots=False)
    return SRCROOT, _relative(_join(norm, literal_dots=False) if norm != "." else "")


def _relative(path: str) -> str:
    """A relative reference: a colon in the first segment would read as a scheme."""
    if not path:
        return "./"
    first, sep, rest = path.partition("/")
    return first.replace(":", "%3A") + sep + rest


def _join(path: str, *, literal_dots: bool = True) -> str:
    """`path` as URI segments; with `literal_dots`, "." and ".." are names (a file inside an
    image called ".."), encoded so that no URI library resolves them away."""
    return "/".join(_segment(s, literal_dots=literal_dots) for s in path.split("/"))


def _segment(name: str, *, literal_dots: bool = True) -> str:
    """One path segment: a slash in a name is encoded, so ``image/a%2Fb/c`` is unambiguous."""
    text = quote(clean_text(name), safe="@:+,;=-._~!$&'()*")
    if literal_dots and text in (".", ".."):
        return text.replace(".", "%2E")
    return text


def _base_descriptor(base: str) -> dict[str, object]:
    uri, text = _BASE_DESCRIPTIONS[base]
    out: dict[str, object] = {"description": {"text": text}}
    if uri:
        out["uri"] = uri
    return out


# -- items -----------------------------------------------------------------------------------


def _check_items(result: CheckResult) -> list[tuple[_Place, _Item]]:
    meta = result.meta
    failing = [d for d in result.details if d.outcome is Outcome.WARN]
    if not failing:
        text = f"{meta.title}: {result.reason}" if result.reason else meta.title
        return [(_place(""), _Item(text, meta.severity, result.suppressed))]
    return [(_place(d.obj), _Item(_detail_text(d), meta.severity, result.suppressed)) for d in failing]


def _detail_text(detail: Detail) -> str:
    text = detail.message or "fails this check"
    if detail.value is not None and detail.value != "" and detail.value not in text:
        text += f" (value: {detail.value})"
    return text


def _finding_text(finding: Finding) -> str:
    pkg, vuln = finding.package, finding.vulnerability
    if finding.kind is FindingKind.VULNERABILITY and pkg is not None:
        return f"{pkg.name} {vuln.installed if vuln else pkg.version}".strip()
    return finding.title or finding.id


def _group_severity(group: _Group) -> Severity:
    active = [i for i in group.items if not i.suppressed] or group.items
    return max((i.severity for i in active), key=lambda s: s.rank)


def _message(group: _Group) -> str:
    active = [i for i in group.items if not i.suppressed]
    shown = active or group.items
    extra = f" ({len(group.items) - len(active)} more suppressed)" if active and len(active) < len(group.items) else ""
    place = group.place
    findings = [i.finding for i in shown if i.finding is not None]
    if group.kind == FindingKind.VULNERABILITY.value and len(findings) == len(shown):
        # Package, advisory and image first: DefectDojo titles are the first 150 characters.
        fixes = list(dict.fromkeys(v.fixed for f in findings if (v := f.vulnerability) and v.fixed))
        fixed = f" (fixed in {', '.join(fixes)})" if fixes else ""
        about = f": {group.title}" if group.title and group.title != group.rule_id else ""
        inside = f" ({place.inside})" if place.inside else ""
        return _capped(f"{_joined(shown, ', ', 100)}: {group.rule_id}{fixed} in {place.within}", about + inside + extra)
    if place.anonymous and group.kind == "check":
        # A check that failed without naming an object: its text already says what failed.
        return _capped("", _joined(shown, "; ", MAX_TEXT) + extra)
    return _capped(f"{place.phrase}: ", _joined(shown, "; ", MAX_TEXT) + extra)


def _joined(items: list[_Item], sep: str, limit: int) -> str:
    texts = list(dict.fromkeys(i.text for i in items))
    out = texts[0]
    for n, text in enumerate(texts[1:], start=1):
        more = f"{sep}… and {len(texts) - n} more"
        if len(out) + len(sep) + len(text) + len(more) > limit:
            return out + more
        out += sep + text
    return out


def _capped(head: str, tail: str) -> str:
    return shorten(head + tail, MAX_TEXT)


def _result(group: _Group, index: int) -> dict[str, object]:
    severity = _group_severity(group)
    place = group.place
    artifact: dict[str, object] = {"uri": place.uri}
    if place.base:
        artifact["uriBaseId"] = place.base
    region: dict[str, object] = {"startLine": place.line, "endLine": place.line}
    physical: dict[str, object] = {"artifactLocation": artifact, "region": region}
    columns = {c for i in group.items if i.finding is not None and (c := _column(i.finding))}
    if len(columns) == 1:
        region["startColumn"] = columns.pop()
    result: dict[str, object] = {
        "ruleId": group.rule_id,
        "ruleIndex": index,
        "kind": "fail",
        "level": LEVEL[severity],
        "message": {"text": _message(group)},
        "locations": [
            {
                "physicalLocation": physical,
                "logicalLocations": [
                    {"name": place.logical_name, "fullyQualifiedName": place.logical_fqn,
                     "kind": place.logical_kind}
                ],
            }
        ],
        "partialFingerprints": _fingerprints(group.rule_id, place),
    }
    if any(i.finding is not None and i.finding.change is Change.NEW for i in group.items):
        result["baselineState"] = "new"
    reasons = [i.suppressed for i in group.items if i.suppressed]
    if len(reasons) == len(group.items):
        justification = "; ".join(dict.fromkeys(reasons))
        result["suppressions"] = [{"kind": "external", "status": "accepted", "justification": justification}]
    result["properties"] = _properties(group, severity)
    return result


def _column(finding: Finding) -> int | None:
    """The column of a finding's ``column`` evidence fact (a seccomp profile's diagnostics)."""
    column = finding.fact("column")
    return int(column) if _COLUMN.fullmatch(column) and int(column) > 0 else None


def _fingerprints(rule_id: str, place: _Place) -> dict[str, str]:
    digest = hashlib.sha256(f"{rule_id}\0{place.key}".encode("utf-8", "surrogatepass")).hexdigest()
    # One result per rule and place, so the occurrence count GitHub appends is always 1.
    return {"primaryLocationLineHash": f"{digest[:16]}:1", "dockguardLocation/v2": digest[:32]}


def _properties(group: _Group, severity: Severity) -> dict[str, object]:
    props: dict[str, object] = {"severity": severity.value, "kind": group.kind}
    findings = [i.finding for i in group.items if i.finding is not None]
    if len(group.items) > 1:
        # The message names as many as fit in 1,024 characters; all of them are here.
        texts = list(dict.fromkeys(i.text for i in group.items))
        props["count"] = len(group.items)
        more = [f"… and {len(texts) - MAX_ITEMS} more"] if len(texts) > MAX_ITEMS else []
        props["items"] = texts[:MAX_ITEMS] + more
    if len(findings) == 1:
        finding = findings[0]
        if finding.evidence:
            props["evidence"] = dict(finding.evidence)
        if finding.path:
            props["path"] = finding.path
        if finding.package:
            pkg = finding.package
            props.update(package=pkg.name, version=pkg.version, purl=pkg.purl, pkg_type=pkg.type)
        if finding.vulnerability:
            vuln = finding.vulnerability
            props.update(installed=vuln.installed, state=vuln.state.value)
            if vuln.fixed:
                props["fixed"] = vuln.fixed
            if vuln.aliases:
                props["aliases"] = list(vuln.aliases)
    elif findings:
        props["packages"] = [f.package.purl or f"{f.package.name}@{f.package.version}"
                             for f in findings if f.package][:100]
    return props


# -- rules -----------------------------------------------------------------------------------


class _Rules:
    """Rule descriptors by id, in order of first use, with the highest severity seen."""

    def __init__(self) -> None:
        self._made: dict[str, dict[str, object]] = {}
        self._severity: dict[str, Severity] = {}
        self._help: dict[str, set[str]] = {}
        self._references: dict[str, tuple[str, ...]] = {}
        self._titles: dict[str, str] = {}
        self._properties: dict[str, dict[str, object]] = {}

    def check(self, meta: CheckMeta) -> None:
        if meta.id in self._made:
            return
        tags = ["security", "cis-docker-benchmark", f"level-{meta.level}"]
        if meta.cis:
            tags.insert(1, f"CIS-{meta.cis}")
        if meta.manual:
            tags.append("manual")
        help_text = meta.remediation or meta.title
        if meta.remediation_impact and meta.remediation_impact != "None.":
            help_text += f"\n\nImpact: {meta.remediation_impact}"
        self._made[meta.id] = {
            "id": meta.id,
            "name": _rule_name(meta.title),
            "shortDescription": {"text": shorten(meta.cis_title, MAX_TEXT)},
            "fullDescription": {"text": shorten(meta.description or meta.cis_title, MAX_TEXT)},
            "help": {"text": help_text, "markdown": _markdown_help(help_text, meta.references)},
            "properties": None,  # set by `descriptors` (keeps the key's place)
        }
        self._properties[meta.id] = {"tags": tags[:MAX_TAGS], "precision": "high"}
        self._references[meta.id] = meta.references
        self._severity[meta.id] = meta.severity

    def finding(self, finding: Finding) -> None:
        self._help.setdefault(finding.id, set()).add(finding.remediation)
        if finding.id in self._made:
            return
        title = finding.title or finding.id
        tags = ["security", str(finding.kind)]
        if finding.vulnerability:
            tags += [a.lower() for a in finding.vulnerability.aliases if a.upper().startswith("CVE-")]
        self._made[finding.id] = {
            "id": finding.id,
            "name": _rule_name(finding.id),
            "shortDescription": {"text": shorten(title, MAX_TEXT)},
            "fullDescription": {"text": shorten(finding.description or title, MAX_TEXT)},
            "properties": None,  # set by `descriptors` (keeps the key's place)
        }
        self._properties[finding.id] = {
            "tags": list(dict.fromkeys(tags))[:MAX_TAGS],
            "precision": "very-high" if finding.kind is FindingKind.VULNERABILITY else "high",
        }
        self._references[finding.id] = finding.references
        self._titles[finding.id] = title
        self._severity[finding.id] = finding.severity

    def raise_to(self, rule_id: str, severity: Severity) -> None:
        # The same vulnerability may be rated differently in different images: the rule keeps
        # the highest rating, each result its own level.
        if severity.rank > self._severity[rule_id].rank:
            self._severity[rule_id] = severity

    def descriptors(self, used: Iterable[str]) -> tuple[list[dict[str, object]], dict[str, int]]:
        out: list[dict[str, object]] = []
        index: dict[str, int] = {}
        for rule_id in used:
            made = dict(self._made[rule_id])
            references = self._references[rule_id]
            title = self._titles.get(rule_id)
            if title is not None:
                helps = {h for h in self._help.get(rule_id, set()) if h}
                # Remediation is per package ("Upgrade openssl to 3.0.9-1"): shared help only
                # when every finding of the rule says the same.
                text = helps.pop() if len(helps) == 1 else (
                    f"{title}. Upgrade each affected package to the fixed version its result names."
                    if len(helps) > 1 else f"Review {rule_id}.")
                made["help"] = {"text": text, "markdown": _markdown_help(text, references)}
            severity = self._severity[rule_id]
            made["defaultConfiguration"] = {"level": LEVEL[severity]}
            made["properties"] = {
                "security-severity": SECURITY_SEVERITY[severity],
                "severity": severity.value,
                **self._properties[rule_id],
                "problem.severity": _PROBLEM_SEVERITY[LEVEL[severity]],
            }
            uri = _first_url(references)
            if uri:
                made["helpUri"] = uri
            index[rule_id] = len(out)
            out.append(made)
        return out, index


def _rule_name(text: str) -> str:
    name = "".join(w[:1].upper() + w[1:] for w in _WORD.findall(text)) or "Rule"
    return name[:MAX_RULE_NAME]


def _first_url(references: tuple[str, ...]) -> str:
    for ref in references:
        if len(ref) <= MAX_HELP_URI and _HTTP_URI.fullmatch(ref):
            return ref
    return ""


def _markdown_help(text: str, references: tuple[str, ...]) -> str:
    md = _md_escape(text)
    links = [r for r in references if len(r) <= MAX_HELP_URI and _HTTP_URI.fullmatch(r)]
    if links:
        md += "\n\nReferences:\n" + "\n".join(f"- <{r}>" for r in links)
    return md


def _md_escape(text: str) -> str:
    # Help text may be rendered as Markdown/HTML by the dashboard: neutralise raw HTML.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# -- notifications ---------------------------------------------------------------------------


def _notification(level: str, text: str, *, rule: str | None = None) -> dict[str, object]:
    out: dict[str, object] = {"level": level, "message": {"text": text}}
    if rule is not None:
        out["associatedRule"] = {"id": rule}
    return out


def _run_notifications(report: Report) -> list[dict[str, object]]:
    out = []
    for note in report.notes:
        text = f"{note.part}: {note.status}"
        level = "note" if note.status in (NoteStatus.WARNING, NoteStatus.NOT_APPLICABLE) else "warning"
        if note.status is NoteStatus.ERROR:
            level = "error"
        out.append(_notification(level, f"{text} — {note.reason}" if note.reason else text))
    for step in report.steps:
        if step.status is StepStatus.FAILED:
            failed = _notification("error", f"probe step {step.name} failed: {step.reason or 'no reason given'}")
            failed["properties"] = {"step": step.name, "status": str(step.status)}
            out.append(failed)
    if report.steps and not report.reachable:
        out.append(_notification("error", "the probe reached nothing: no step that talks to the target completed"))
    for error in report.collection_errors:
        text = f"source: {error.source}; target: {error.target}; message: {error.message}"
        out.append(_notification("warning", f"collection: {text}"))
    return out


def _utc(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
