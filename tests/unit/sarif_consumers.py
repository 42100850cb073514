"""What the consumers of dockguard's SARIF require, as checks over a parsed SARIF log.

Each function returns a list of problems (empty: the consumer takes the log as it is). The
rules are the consumers' documented ones, not dockguard's own choices:

- GitHub code scanning, "SARIF support for code scanning" (supported properties; "required"
  ones must be present and non-empty; limits: 20 runs, 25,000 results and 25,000 rules per run,
  1,000 locations per result, 20 tags per rule, name 255 and descriptions 1,024 characters;
  ``partialFingerprints``: only ``primaryLocationLineHash`` is used; ``security-severity`` a
  number from 0.0 to 10.0 as a string) and the SARIF multitool's GitHub rules (GH1001 every
  result has a location with ``physicalLocation.artifactLocation.uri``, GH1003 a region with
  ``startLine``, GH1005 URIs relative or ``file:``). The upload action's category (analysis
  identity) is ``automationDetails.id`` up to its last slash.
- GitLab SARIF ingestion (``artifacts:reports:sarif``, GitLab 18.11+): a result without
  ``ruleId`` (matching a rule), without ``physicalLocation`` or with a string over its limit
  (``message``, ``shortDescription``, ``fullDescription`` 1,024, rule ``name`` 255, ``helpUri``
  2,048) is dropped and more than 50 % dropped fails the scan; at most 20 runs, 5,000 results
  (more are not read), 10 tags per rule; a finding's identity is its report type, ``ruleId``
  and ``file:startLine:endLine``, and of results with the same identity only the first is kept.
- DefectDojo's "SARIF" parser: it reads ``physicalLocation.artifactLocation.uri`` and
  ``region.startLine`` unconditionally (a region without ``startLine`` fails the import), parses
  ``partialFingerprints`` keys of the form ``name/vN`` as versions, takes the unique id from the
  fingerprints and the title from the first 150 characters of the message.
"""

from __future__ import annotations

import re
import textwrap
from collections import Counter
from typing import Any

GITHUB_MAX_RUNS = 20
GITHUB_MAX_RESULTS = 25_000
GITHUB_MAX_RULES = 25_000
GITHUB_MAX_LOCATIONS = 1_000
GITHUB_MAX_TAGS = 20
GITLAB_MAX_RESULTS = 5_000
GITLAB_MAX_TAGS = 10
MAX_DESCRIPTION = 1_024
MAX_NAME = 255
MAX_HELP_URI = 2_048
DEFECTDOJO_TITLE = 150

LEVELS = {"none", "note", "warning", "error"}
PRECISIONS = {"very-high", "high", "medium", "low"}
PROBLEM_SEVERITIES = {"error", "warning", "recommendation"}
# A CWE GitLab files under secret detection (its documented list).
SECRET_CWES = {"798", "259", "321", "522", "312", "319", "256", "257", "540"}

# RFC 3986 characters of a URI reference (percent-encoded octets as %XX).
_URI_CHARS = re.compile(r"(?:[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=]|%[0-9A-Fa-f]{2})+")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:")
_LINE_HASH = re.compile(r"[0-9a-f]{16}:[1-9][0-9]*")
_CVE = re.compile(r"^cve[-:]\d{4}-\d+$", re.IGNORECASE)
_CWE = re.compile(r"^cwe[-:](\d+)$", re.IGNORECASE)


def utf16_length(text: str) -> int:
    """Characters as JavaScript counts them (never fewer than code points)."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def _text(obj: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def _rules(run: dict[str, Any]) -> list[dict[str, Any]]:
    rules = _text(run, "tool", "driver", "rules")
    return rules if isinstance(rules, list) else []


def _uri(result: dict[str, Any]) -> Any:
    return _text((result.get("locations") or [{}])[0], "physicalLocation", "artifactLocation", "uri")


def _region(result: dict[str, Any]) -> dict[str, Any]:
    region = _text((result.get("locations") or [{}])[0], "physicalLocation", "region")
    return region if isinstance(region, dict) else {}


def uri_problem(uri: str) -> str:
    """Why `uri` is not a URI reference GitHub shows (relative, or absolute with ``file:``)."""
    if not uri:
        return "empty"
    if not _URI_CHARS.fullmatch(uri):
        return "characters a URI cannot contain unencoded"
    scheme = _SCHEME.match(uri)
    first = uri.split("/", 1)[0]
    if scheme and scheme.group(0).lower() != "file:":
        return f"absolute URI with scheme {scheme.group(0)!r} (GH1005: only relative or file: URIs are shown)"
    if not scheme and ":" in first:
        return "a colon in the first segment of a relative reference reads as a scheme"
    if uri.startswith("//"):
        return "starts with '//' (an authority, not a path)"
    return ""


def github_problems(log: dict[str, Any]) -> list[str]:
    """What GitHub code scanning would reject or not display."""
    out: list[str] = []
    if not log.get("$schema"):
        out.append("$schema is required")
    if log.get("version") != "2.1.0":
        out.append(f"version must be 2.1.0, not {log.get('version')!r}")
    runs = log.get("runs")
    if not isinstance(runs, list) or not runs:
        return [*out, "runs[] is required"]
    if len(runs) > GITHUB_MAX_RUNS:
        out.append(f"{len(runs)} runs > {GITHUB_MAX_RUNS}")
    for r, run in enumerate(runs):
        where = f"runs[{r}]"
        if not _text(run, "tool", "driver", "name"):
            out.append(f"{where}.tool.driver.name is required")
        rules = _rules(run)
        if not isinstance(_text(run, "tool", "driver", "rules"), list):
            out.append(f"{where}.tool.driver.rules[] is required")
        if len(rules) > GITHUB_MAX_RULES:
            out.append(f"{where}: {len(rules)} rules > {GITHUB_MAX_RULES}")
        ids = [rule.get("id") for rule in rules]
        for rule_id, n in Counter(ids).items():
            if n > 1:
                out.append(f"{where}: rule id {rule_id!r} defined {n} times")
        for i, rule in enumerate(rules):
            out.extend(f"{where}.rules[{i}] ({rule.get('id')!r}): {p}" for p in _github_rule(rule))
        automation = _text(run, "automationDetails", "id")
        if automation is not None and (not isinstance(automation, str) or not automation):
            out.append(f"{where}.automationDetails.id must be a non-empty string")
        results = run.get("results")
        if not isinstance(results, list):
            out.append(f"{where}.results[] is required")
            continue
        if len(results) > GITHUB_MAX_RESULTS:
            out.append(f"{where}: {len(results)} results > {GITHUB_MAX_RESULTS}")
        seen: Counter[tuple[Any, Any, Any]] = Counter()
        known = set(ids)
        for i, result in enumerate(results):
            out.extend(f"{where}.results[{i}]: {p}" for p in _github_result(result, ids, known))
            line_hash = _text(result, "partialFingerprints", "primaryLocationLineHash")
            seen[(result.get("ruleId"), _uri(result), line_hash)] += 1
        out.extend(f"{where}: {n} results are one alert for GitHub (same rule, file and fingerprint): {key}"
                   for key, n in seen.items() if n > 1)
    return out


def _github_rule(rule: dict[str, Any]) -> list[str]:
    out = []
    if not rule.get("id"):
        out.append("id is required")
    name = rule.get("name")
    if name is not None and len(name) > MAX_NAME:
        out.append(f"name longer than {MAX_NAME}")
    for key in ("shortDescription", "fullDescription"):
        text = _text(rule, key, "text")
        if not text:
            out.append(f"{key}.text is required")
        elif utf16_length(text) > MAX_DESCRIPTION:
            out.append(f"{key}.text is {utf16_length(text)} characters > {MAX_DESCRIPTION}")
    if not _text(rule, "help", "text"):
        out.append("help.text is required")
    level = _text(rule, "defaultConfiguration", "level")
    if level is not None and level not in ("note", "warning", "error"):
        out.append(f"defaultConfiguration.level {level!r}")
    props = rule.get("properties") or {}
    tags = props.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        out.append("properties.tags must be strings")
    elif len(tags) > GITHUB_MAX_TAGS:
        out.append(f"{len(tags)} tags > {GITHUB_MAX_TAGS}")
    if "precision" in props and props["precision"] not in PRECISIONS:
        out.append(f"properties.precision {props['precision']!r}")
    if "problem.severity" in props and props["problem.severity"] not in PROBLEM_SEVERITIES:
        out.append(f"properties.problem.severity {props['problem.severity']!r}")
    if "security-severity" in props:
        value = props["security-severity"]
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = -1.0
        if not isinstance(value, str) or not 0.0 <= number <= 10.0:
            out.append(f"properties.security-severity {value!r} is not a number from 0.0 to 10.0 as a string")
    return out


def _github_result(result: dict[str, Any], rule_ids: list[Any], known: set[Any]) -> list[str]:
    out = []
    rule_id = result.get("ruleId")
    if rule_id is not None and rule_id not in known:
        out.append(f"ruleId {rule_id!r} has no rule")
    index = result.get("ruleIndex")
    if index is not None and (not isinstance(index, int) or not 0 <= index < len(rule_ids)
                              or rule_ids[index] != rule_id):
        out.append(f"ruleIndex {index!r} does not point at rule {rule_id!r}")
    if result.get("level", "warning") not in LEVELS:
        out.append(f"level {result.get('level')!r}")
    if not _text(result, "message", "text"):
        out.append("message.text is required")
    locations = result.get("locations")
    if not isinstance(locations, list) or not locations:
        return [*out, "locations[] is required (GH1001; GitHub: 'expected artifact location')"]
    if len(locations) > GITHUB_MAX_LOCATIONS:
        out.append(f"{len(locations)} locations > {GITHUB_MAX_LOCATIONS}")
    for n, location in enumerate(locations):
        uri = _text(location, "physicalLocation", "artifactLocation", "uri")
        if not isinstance(uri, str) or not uri:
            out.append(f"locations[{n}].physicalLocation.artifactLocation.uri is required (GH1001)")
            continue
        problem = uri_problem(uri)
        if problem:
            out.append(f"locations[{n}] uri {uri!r}: {problem}")
        region = _text(location, "physicalLocation", "region")
        start = _text(region, "startLine")
        if not isinstance(start, int) or start < 1:
            out.append(f"locations[{n}].physicalLocation.region.startLine is required (GH1003)")
        end = _text(region, "endLine")
        if end is not None and (not isinstance(end, int) or not isinstance(start, int) or end < start):
            out.append(f"locations[{n}] region endLine {end!r} before startLine {start!r}")
    line_hash = _text(result, "partialFingerprints", "primaryLocationLineHash")
    if not isinstance(line_hash, str) or not _LINE_HASH.fullmatch(line_hash):
        out.append(f"partialFingerprints.primaryLocationLineHash {line_hash!r} (required; GitHub reads only it)")
    return out


def _gitlab_report_type(result: dict[str, Any], rules: dict[Any, dict[str, Any]]) -> str:
    rule = rules.get(result.get("ruleId"), {})
    tags = [t for t in (_text(rule, "properties", "tags") or []) if isinstance(t, str)]
    identifiers = [result.get("ruleId") or "", *tags]
    if any(_CVE.match(i) for i in identifiers):
        return "dependency_scanning"
    cwes = {m.group(1) for i in identifiers if (m := _CWE.match(i))}
    if cwes & SECRET_CWES:
        return "secret_detection"
    return "sast"


def gitlab_problems(log: dict[str, Any]) -> list[str]:
    """What GitLab's SARIF ingestion would drop, cut or merge."""
    out: list[str] = []
    if log.get("version") != "2.1.0":
        out.append(f"version must be 2.1.0, not {log.get('version')!r}")
    runs = log.get("runs") or []
    if len(runs) > GITHUB_MAX_RUNS:
        out.append(f"{len(runs)} runs > 20")
    total = dropped = 0
    for r, run in enumerate(runs):
        where = f"runs[{r}]"
        rules = {rule.get("id"): rule for rule in _rules(run)}
        for rule_id, rule in rules.items():
            if len(rule.get("name") or "") > MAX_NAME:
                out.append(f"{where} rule {rule_id!r}: name longer than {MAX_NAME}")
            for key in ("shortDescription", "fullDescription"):
                if utf16_length(_text(rule, key, "text") or "") > MAX_DESCRIPTION:
                    out.append(f"{where} rule {rule_id!r}: {key} longer than {MAX_DESCRIPTION}")
            if len(rule.get("helpUri") or "") > MAX_HELP_URI:
                out.append(f"{where} rule {rule_id!r}: helpUri longer than {MAX_HELP_URI}")
            if len(_text(rule, "properties", "tags") or []) > GITLAB_MAX_TAGS:
                out.append(f"{where} rule {rule_id!r}: more than {GITLAB_MAX_TAGS} tags (the rest are ignored)")
        results = run.get("results") or []
        if len(results) > GITLAB_MAX_RESULTS:
            out.append(f"{where}: {len(results)} results; GitLab reads the first {GITLAB_MAX_RESULTS}")
        identities: Counter[tuple[str, Any, str]] = Counter()
        for i, result in enumerate(results):
            total += 1
            why = _gitlab_drop(result, rules)
            if why:
                dropped += 1
                out.append(f"{where}.results[{i}] is dropped: {why}")
                continue
            statuses = {s.get("status", "accepted") for s in result.get("suppressions") or []}
            if statuses - {"underReview", "rejected"}:
                continue  # suppressed: GitLab skips it
            region = _region(result)
            file = f"{_uri(result)}:{region.get('startLine', '')}:{region.get('endLine', '')}"
            identities[(_gitlab_report_type(result, rules), result.get("ruleId"), file)] += 1
        out.extend(f"{where}: {n} results have one GitLab identity, all but the first are discarded: {key}"
                   for key, n in identities.items() if n > 1)
    if total and dropped * 2 > total:
        out.append(f"{dropped} of {total} results dropped: more than 50 %, GitLab fails the whole scan")
    return out


def _gitlab_drop(result: dict[str, Any], rules: dict[Any, dict[str, Any]]) -> str:
    if not result.get("ruleId"):
        return "no ruleId"
    if result["ruleId"] not in rules:
        return f"ruleId {result['ruleId']!r} matches no rule"
    location = (result.get("locations") or [None])[0]
    if not isinstance(location, dict) or not isinstance(location.get("physicalLocation"), dict):
        return "no physicalLocation"
    if not _uri(result):
        return "physicalLocation without artifactLocation.uri"
    if utf16_length(_text(result, "message", "text") or "") > MAX_DESCRIPTION:
        return f"message longer than {MAX_DESCRIPTION} characters"
    return ""


def defectdojo_problems(log: dict[str, Any]) -> list[str]:
    """What would make DefectDojo's SARIF import fail, or fold distinct results into one finding."""
    out: list[str] = []
    for r, run in enumerate(log.get("runs") or []):
        rules = {rule.get("id"): rule for rule in _rules(run)}
        for rule_id, rule in rules.items():
            severity = _text(rule, "properties", "security-severity")
            if severity is not None:
                try:
                    float(severity)
                except (TypeError, ValueError):
                    if str(severity).capitalize() not in {"Info", "Low", "Medium", "High", "Critical"}:
                        out.append(f"rule {rule_id!r}: security-severity {severity!r} becomes Info")
        unique_ids: Counter[str] = Counter()
        for i, result in enumerate(run.get("results") or []):
            where = f"runs[{r}].results[{i}]"
            if result.get("kind", "fail") != "fail":
                continue
            for location in result.get("locations") or []:
                physical = location.get("physicalLocation")
                if physical is None:
                    continue
                if "uri" not in (physical.get("artifactLocation") or {}):
                    out.append(f"{where}: physicalLocation without artifactLocation.uri fails the import")
                region = physical.get("region")
                if region is not None and "byteOffset" not in region and "startLine" not in region:
                    out.append(f"{where}: region without startLine fails the import")
            message = result.get("message") or {}
            if "text" not in message:
                out.append(f"{where}: message without text (DefectDojo needs messageStrings)")
            fingerprints = result.get("fingerprints") or result.get("partialFingerprints") or {}
            for key in fingerprints:
                if "/" in key and not re.fullmatch(r"v?\d+", key.rsplit("/", 1)[1]):
                    out.append(f"{where}: fingerprint key {key!r} does not end in /vN (the import fails)")
            unique_ids[_defectdojo_unique_id(result)] += 1
        out.extend(f"runs[{r}]: {n} results have the unique id {uid!r}: DefectDojo keeps one finding"
                   for uid, n in unique_ids.items() if n > 1 and uid)
    return out


def _defectdojo_unique_id(result: dict[str, Any]) -> str:
    if result.get("fingerprints"):
        return str(next(iter(result["fingerprints"].values())))
    prints = result.get("partialFingerprints") or {}
    return "|".join(f"{key}:{prints[key]}" for key in sorted(prints))


def defectdojo_title(result: dict[str, Any]) -> str:
    """The finding title DefectDojo makes of a result."""
    return textwrap.shorten(_text(result, "message", "text") or "", DEFECTDOJO_TITLE)


def naming_problems(log: dict[str, Any]) -> list[str]:
    """Results a person cannot tell apart: the same message (GitHub's alert title) or the same
    DefectDojo title and file for different results, or a message that starts with the rule id."""
    out: list[str] = []
    for run in log.get("runs") or []:
        results = run.get("results") or []
        messages = Counter(_text(r, "message", "text") for r in results)
        titles = Counter((defectdojo_title(r), _uri(r)) for r in results)
        out.extend(f"{n} results share the message {m!r}" for m, n in messages.items() if n > 1)
        out.extend(f"{n} results share the DefectDojo title and file {t!r}" for t, n in titles.items() if n > 1)
        out.extend(f"message starts with its rule id: {_text(r, 'message', 'text')!r}" for r in results
                   if r.get("ruleId") and str(_text(r, "message", "text") or "").startswith(r["ruleId"]))
    return out


def all_problems(log: dict[str, Any]) -> list[str]:
    """Every consumer's problems with `log`, each prefixed with the consumer."""
    return ([f"GitHub: {p}" for p in github_problems(log)] + [f"GitLab: {p}" for p in gitlab_problems(log)]
            + [f"DefectDojo: {p}" for p in defectdojo_problems(log)] + [f"naming: {p}" for p in naming_problems(log)])
