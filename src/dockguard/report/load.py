"""Read a dockguard JSON report back into a `Report` (for ``dockguard diff``).

The document shape (written by `dockguard.report.json`, documented in ``docs/``)::

    {"schema_version": 1, "tool": {"name": "dockguard", "version": "0.1.0"},
     "started": 1767225600.0, "finished": 1767225603.5,
     "results": [{"id", "title", "outcome", "severity", "level", "section", "scored",
                  "details": [{"obj", "message", "outcome", "value"}], "reason", "suppressed",
                  ...optional "automated", "cis", "remediation", "references", "description"}],
     "findings": [{"id", "kind", "severity", "title", "obj", "description", "references",
                   "remediation", "data", "suppressed"}],
     ...optional "sections", "source"}

Unknown extra keys are ignored so that newer minor versions still load; a different major
``schema_version`` or a missing or mistyped required key is an error naming the key.  The file
is read through `dockguard.inputs` (at most `REPORT_LIMIT` bytes, nesting capped), and every
problem is a `ReportFormatError` (an `InputError`) naming the file and the JSON path.
"""

from __future__ import annotations

import enum
import math
from pathlib import Path
from typing import TypedDict, TypeVar

from dockguard.inputs import MAX_NODES, InputError, MiB, parse_json, read_bytes
from dockguard.jsontypes import Json, JsonObject
from dockguard.model import (
    Change,
    CheckMeta,
    CheckResult,
    CollectionError,
    CvssScore,
    Detail,
    Finding,
    FindingKind,
    NoteStatus,
    Outcome,
    PackageRef,
    ProbeStep,
    Report,
    ReportNote,
    ReportSource,
    Severity,
    StepStatus,
    Surface,
    VulnerabilityInfo,
    VulnState,
)

#: Report schema versions this dockguard reads (1: findings carried a ``data`` object).
SCHEMA_VERSIONS = (1, 2)


#: Byte cap of a report read back (``dockguard diff`` reads two, one after the other): parsing
#: JSON costs up to ~27 bytes of memory per byte, so this stays under the 512 MiB ceiling.
REPORT_LIMIT = 16 * MiB

#: Largest Unix time accepted for ``started``/``finished`` (9999-12-31T23:59:59Z).
MAX_TIMESTAMP = 253402300799.0


class ReportFormatError(InputError):
    """The file is not a dockguard JSON report this version can read."""


def load(path: str | Path) -> Report:
    """Read a dockguard JSON report file (at most `REPORT_LIMIT` bytes; ``-`` is stdin)."""
    origin = "<stdin>" if str(path) == "-" else str(path)
    return loads(read_bytes(path, limit=REPORT_LIMIT, what="report"), origin)


def loads(text: str | bytes, origin: str = "<report>") -> Report:
    """Parse a dockguard JSON report from text."""
    try:
        data = parse_json(text, origin, max_nodes=MAX_NODES)
    except ReportFormatError:
        raise
    except InputError as exc:
        raise ReportFormatError(exc.origin, exc.problem, exc.where) from None
    return from_document(data, origin)


def from_document(data: Json, origin: str = "<report>") -> Report:
    """Build a `Report` from a parsed JSON document."""
    r = _ReportReader(origin)
    doc = r.as_obj(data, "$")
    if "schema_version" not in doc:
        raise ReportFormatError(
            origin, "not a dockguard JSON report (no schema_version; write it with --format json)"
        )
    version = doc["schema_version"]
    major = str(version).split(".", 1)[0] if isinstance(version, int | float | str) else ""
    if isinstance(version, bool) or major not in {str(v) for v in SCHEMA_VERSIONS}:
        shown = repr(version) if len(repr(version)) <= 40 else repr(version)[:37] + "..."
        readable = " and ".join(str(v) for v in SCHEMA_VERSIONS)
        raise ReportFormatError(
            origin, f"unsupported schema_version {shown} (this dockguard reads {readable})",
            "$.schema_version",
        )
    v1 = major == "1"
    tool = r.as_obj(doc.get("tool", {}), "$.tool")
    results = tuple(
        _result(r, item, f"$.results[{i}]")
        for i, item in enumerate(r.as_list(doc.get("results", []), "$.results"))
    )
    findings = tuple(
        (_finding_v1 if v1 else _finding)(r, item, f"$.findings[{i}]")
        for i, item in enumerate(r.as_list(doc.get("findings", []), "$.findings"))
    )
    key = "sections" if v1 else "notes"
    notes = tuple(
        _note(r, r.as_obj(item, f"$.{key}[{i}]"), f"$.{key}[{i}]", v1)
        for i, item in enumerate(r.as_list(doc.get(key, []), f"$.{key}"))
    )
    steps = tuple(
        ProbeStep(name=r.text(x, "name", p), status=r.enum(StepStatus, x, "status", p),
                  reason=r.text(x, "reason", p, ""),
                  evidence=tuple((k, r.text(ev, k, f"{p}.evidence")) for k in ev))
        for i, item in enumerate(r.as_list(doc.get("steps", []), "$.steps"))
        for p in [f"$.steps[{i}]"]
        for x in [r.as_obj(item, p)]
        for ev in [r.as_obj(x.get("evidence", {}), f"{p}.evidence")]
    )
    packages = tuple(
        _package(r, r.as_obj(item, f"$.packages[{i}]"), f"$.packages[{i}]")
        for i, item in enumerate(r.as_list(doc.get("packages", []), "$.packages"))
    )
    errors = tuple(
        CollectionError(r.text(e, "source", p, ""), r.text(e, "target", p, ""), r.text(e, "message", p, ""))
        for i, item in enumerate(r.as_list(doc.get("collection_errors", []), "$.collection_errors"))
        for p in [f"$.collection_errors[{i}]"]
        for e in [r.as_obj(item, p)]
    )
    return Report(
        tool_version=r.text(tool, "version", "$.tool", "unknown"),
        started=r.num(doc, "started", "$", 0.0),
        finished=r.num(doc, "finished", "$", 0.0),
        source=_source(r, r.as_obj(doc.get("source", {}), "$.source"), v1),
        results=results,
        findings=findings,
        notes=notes,
        steps=steps,
        packages=packages,
        collection_errors=errors,
    )


_V1_NOTE_STATUS = {"N/A": NoteStatus.NOT_APPLICABLE, "ERROR": NoteStatus.ERROR, "error": NoteStatus.ERROR,
                   "INCOMPLETE": NoteStatus.INCOMPLETE}


def _note(r: _ReportReader, d: JsonObject, path: str, v1: bool) -> ReportNote:
    if v1:
        status = _V1_NOTE_STATUS.get(r.text(d, "status", path), NoteStatus.WARNING)
        return ReportNote(r.text(d, "name", path), status, r.text(d, "reason", path, ""))
    return ReportNote(r.text(d, "part", path), r.enum(NoteStatus, d, "status", path), r.text(d, "reason", path, ""))


def _source(r: _ReportReader, d: JsonObject, v1: bool) -> ReportSource:
    path = "$.source"
    surface = Surface.BENCH if v1 else r.enum(Surface, d, "surface", path)
    created = d.get("snapshot_created")
    schema = d.get("snapshot_schema_version")
    return ReportSource(
        surface=surface,
        target=r.text(d, "target", path, ""),
        docker_host=r.text(d, "docker_host", path, ""),
        hostname=r.text(d, "hostname", path, ""),
        snapshot_file=r.text(d, "snapshot_file", path, ""),
        snapshot_created=r.num(d, "snapshot_created", path, 0.0) if created is not None else None,
        snapshot_schema_version=int(r.num(d, "snapshot_schema_version", path, 0)) if schema is not None else None,
    )


def _result(r: _ReportReader, item: Json, path: str) -> CheckResult:
    d = r.as_obj(item, path)
    outcome = r.enum(Outcome, d, "outcome", path)
    meta = CheckMeta(
        id=r.text(d, "id", path),
        title=r.text(d, "title", path),
        section=r.section(d, path),
        level=r.level(d, path),
        automated=r.flag(d, "automated", path, outcome is not Outcome.NOTE),
        scored=r.flag(d, "scored", path, True),
        severity=r.enum(Severity, d, "severity", path),
        remediation=r.text(d, "remediation", path, ""),
        remediation_impact=r.text(d, "remediation_impact", path, "None."),
        references=r.texts(d, "references", path),
        cis=r.opt_text(d, "cis", path),
        description=r.text(d, "description", path, ""),
    )
    details = tuple(
        Detail(
            obj=r.text(x, "obj", p),
            message=r.text(x, "message", p, ""),
            outcome=r.enum(Outcome, x, "outcome", p, Outcome.WARN),
            value=r.opt_text(x, "value", p),
        )
        for i, raw in enumerate(r.as_list(d.get("details", []), f"{path}.details"))
        for p in [f"{path}.details[{i}]"]
        for x in [r.as_obj(raw, p)]
    )
    return CheckResult(
        meta=meta,
        outcome=outcome,
        details=details,
        reason=r.text(d, "reason", path, ""),
        duration_ms=r.num(d, "duration_ms", path, 0.0),
        suppressed=r.opt_text(d, "suppressed", path),
    )


class _FindingHead(TypedDict):
    """The fields every schema's finding has, as `Finding` keyword arguments."""

    id: str
    kind: FindingKind
    severity: Severity
    title: str
    obj: str
    description: str
    references: tuple[str, ...]
    remediation: str
    suppressed: str | None


def _finding_head(r: _ReportReader, d: JsonObject, path: str) -> _FindingHead:
    return {
        "id": r.text(d, "id", path),
        "kind": r.enum(FindingKind, d, "kind", path),
        "severity": r.enum(Severity, d, "severity", path),
        "title": r.text(d, "title", path, ""),
        "obj": r.text(d, "obj", path, ""),
        "description": r.text(d, "description", path, ""),
        "references": r.texts(d, "references", path),
        "remediation": r.text(d, "remediation", path, ""),
        "suppressed": r.opt_text(d, "suppressed", path),
    }


def _finding(r: _ReportReader, item: Json, path: str) -> Finding:
    """A schema-2 finding: typed package, vulnerability and evidence."""
    d = r.as_obj(item, path)
    line = d.get("line")
    if line is not None and (isinstance(line, bool) or not isinstance(line, int) or not 0 < line < 2**31):
        raise r.fail(f"{path}.line", f"expected a line number, got {_short(line)}")
    pkg = d.get("package")
    vuln = d.get("vulnerability")
    evidence_obj = r.as_obj(d.get("evidence", {}), f"{path}.evidence")
    return Finding(
        **_finding_head(r, d, path),
        path=r.text(d, "path", path, ""),
        line=line if isinstance(line, int) else None,  # checked above: None or a line number
        package=None if pkg is None else _package(r, r.as_obj(pkg, f"{path}.package"), f"{path}.package"),
        vulnerability=None if vuln is None else _vulnerability(r, r.as_obj(vuln, f"{path}.vulnerability"),
                                                               f"{path}.vulnerability"),
        evidence=tuple((k, r.text(evidence_obj, k, f"{path}.evidence")) for k in evidence_obj),
        change=None if d.get("change") is None else r.enum(Change, d, "change", path),
    )


def _package(r: _ReportReader, d: JsonObject, path: str) -> PackageRef:
    return PackageRef(
        name=r.text(d, "name", path), version=r.text(d, "version", path, ""), type=r.text(d, "type", path, ""),
        purl=r.text(d, "purl", path, ""), path=r.text(d, "path", path, ""), layer=r.text(d, "layer", path, ""),
        source_name=r.text(d, "source_name", path, ""), source_version=r.text(d, "source_version", path, ""),
        os_owned=r.flag(d, "os_owned", path, False), licenses=r.texts(d, "licenses", path),
        evidence=r.text(d, "evidence", path, ""),
    )


def _vulnerability(r: _ReportReader, d: JsonObject, path: str) -> VulnerabilityInfo:
    severity_sources: list[tuple[str, str]] = []
    for x in r.as_list(d.get("severity_sources", []), f"{path}.severity_sources"):
        if not (isinstance(x, list) and len(x) == 2 and isinstance(x[0], str) and isinstance(x[1], str)):
            raise r.fail(f"{path}.severity_sources", "expected a list of [rater, severity] pairs")
        severity_sources.append((x[0], x[1]))
    cvss = tuple(
        CvssScore(method=r.text(x, "method", p), vector=r.text(x, "vector", p, ""),
                  score=r.num(x, "score", p, 0.0) if x.get("score") is not None else None,
                  source=r.text(x, "source", p, ""))
        for i, item in enumerate(r.as_list(d.get("cvss", []), f"{path}.cvss"))
        for p in [f"{path}.cvss[{i}]"]
        for x in [r.as_obj(item, p)]
    )
    return VulnerabilityInfo(
        state=r.enum(VulnState, d, "state", path),
        installed=r.text(d, "installed", path, ""),
        fixed=r.opt_text(d, "fixed", path),
        aliases=r.texts(d, "aliases", path),
        sources=r.texts(d, "sources", path),
        severity_sources=tuple(severity_sources),
        cvss=cvss,
        reason=r.text(d, "reason", path, ""),
    )


def _finding_v1(r: _ReportReader, item: Json, path: str) -> Finding:
    """A schema-1 finding: its ``data`` object mapped onto the typed fields."""
    d = r.as_obj(item, path)
    data = r.as_obj(d.get("data", {}), f"{path}.data")
    head = _finding_head(r, d, path)

    def text(key: str) -> str:
        value = data.get(key)
        return str(value) if isinstance(value, str | int | float) and not isinstance(value, bool) else ""

    package: PackageRef | None = None
    vulnerability: VulnerabilityInfo | None = None
    if head["kind"] is FindingKind.VULNERABILITY and text("package"):
        package = PackageRef(name=text("package"), version=text("version"), type=text("pkg_type"),
                             purl=text("purl"), path=text("path"), layer=text("layer"),
                             source_name=text("source_name"))
        state = data.get("state", "affected")
        vulnerability = VulnerabilityInfo(
            state=r.enum(VulnState, {"state": state}, "state", f"{path}.data"),
            installed=text("installed"),
            fixed=text("fixed") or None,
            aliases=r.texts(data, "aliases", f"{path}.data"),
            sources=r.texts(data, "sources", f"{path}.data"),
            reason=text("state_reason"),
        )
    typed = {"package", "version", "pkg_type", "purl", "path", "layer", "source_name", "state", "installed",
             "fixed", "aliases", "sources", "severity_sources", "state_reason"} if package else {"path"}
    facts = tuple((k, text(k)) for k in sorted(data) if k not in typed and text(k))
    return Finding(**head, path=text("path"), package=package, vulnerability=vulnerability, evidence=facts)


_E = TypeVar("_E", bound=enum.Enum)


class _ReportReader:
    """Typed accessors that raise errors naming the file and the JSON path."""

    def __init__(self, origin: str) -> None:
        self.origin = origin

    def fail(self, path: str, message: str) -> ReportFormatError:
        return ReportFormatError(self.origin, message, path)

    def as_obj(self, value: Json, path: str) -> JsonObject:
        if not isinstance(value, dict):
            raise self.fail(path, f"expected an object, got {type(value).__name__}")
        return value

    def as_list(self, value: Json, path: str) -> list[Json]:
        if not isinstance(value, list):
            raise self.fail(path, f"expected a list, got {type(value).__name__}")
        return value

    def req(self, d: JsonObject, key: str, path: str) -> Json:
        if key not in d:
            raise self.fail(path, f"missing key {key!r}")
        return d[key]

    def text(self, d: JsonObject, key: str, path: str, default: str | None = None) -> str:
        if key not in d and default is not None:
            return default
        value = self.req(d, key, path)
        if not isinstance(value, str):
            raise self.fail(f"{path}.{key}", f"expected a string, got {type(value).__name__}")
        return value

    def opt_text(self, d: JsonObject, key: str, path: str) -> str | None:
        if d.get(key) is None:
            return None
        return self.text(d, key, path)

    def texts(self, d: JsonObject, key: str, path: str) -> tuple[str, ...]:
        values = self.as_list(d.get(key, []), f"{path}.{key}")
        if not all(isinstance(v, str) for v in values):
            raise self.fail(f"{path}.{key}", "expected a list of strings")
        return tuple(v for v in values if isinstance(v, str))

    def num(self, d: JsonObject, key: str, path: str, default: float) -> float:
        value = d.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(f"{path}.{key}", f"expected a number, got {type(value).__name__}")
        if not (math.isfinite(value) and -MAX_TIMESTAMP <= value <= MAX_TIMESTAMP):
            raise self.fail(f"{path}.{key}", "number out of range")
        return float(value)

    def level(self, d: JsonObject, path: str) -> int:
        value = d.get("level", 1)
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 9:
            raise self.fail(f"{path}.level", f"expected a CIS level (1 or 2), got {_short(value)}")
        return value

    def section(self, d: JsonObject, path: str) -> str:
        value = self.req(d, "section", path)
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise self.fail(f"{path}.section", f"expected a string, got {type(value).__name__}")
        return str(value)

    def flag(self, d: JsonObject, key: str, path: str, default: bool) -> bool:
        value = d.get(key, default)
        if not isinstance(value, bool):
            raise self.fail(f"{path}.{key}", f"expected true or false, got {value!r}")
        return value

    def enum(self, cls: type[_E], d: JsonObject, key: str, path: str, default: _E | None = None) -> _E:
        if key not in d and default is not None:
            return default
        value = self.req(d, key, path)
        try:
            return cls(value)
        except (ValueError, TypeError):
            choices = ", ".join(str(m.value) for m in cls)
            raise self.fail(f"{path}.{key}", f"{_short(value)} is not one of {choices}") from None


def _short(value: object, limit: int = 60) -> str:
    if isinstance(value, dict | list):
        return "an object" if isinstance(value, dict) else "a list"
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
