"""Core value types shared by every layer: outcomes, severities, check metadata, results, findings.

Everything here is a frozen dataclass or an enum so that a `Report` can be passed to any
formatter without fear of it being changed underneath.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any


class Outcome(enum.StrEnum):
    """What became of one check."""

    PASS = "PASS"
    WARN = "WARN"
    INFO = "INFO"
    NOTE = "NOTE"
    NA = "N/A"
    ERROR = "ERROR"


class Severity(enum.StrEnum):
    """Severity of a finding or of a failed check, highest first."""

    CRITICAL = "CRITICAL"
    HIGH = "HIGH"
    MEDIUM = "MEDIUM"
    LOW = "LOW"
    NEGLIGIBLE = "NEGLIGIBLE"
    UNKNOWN = "UNKNOWN"

    @property
    def rank(self) -> int:
        """Higher is worse; UNKNOWN ranks between LOW and MEDIUM like most scanners do."""
        return _SEVERITY_RANK[self]

    @classmethod
    def parse(cls, text: str) -> Severity:
        """Parse a severity name case-insensitively; raise ValueError with the choices."""
        try:
            return cls(text.strip().upper())
        except ValueError:
            choices = ", ".join(s.value for s in cls)
            raise ValueError(f"unknown severity {text!r} (choose from {choices})") from None


_SEVERITY_RANK = {
    Severity.CRITICAL: 5,
    Severity.HIGH: 4,
    Severity.MEDIUM: 3,
    Severity.UNKNOWN: 2,
    Severity.LOW: 1,
    Severity.NEGLIGIBLE: 0,
}


@dataclass(frozen=True)
class CheckMeta:
    """Frozen description of one check: what the catalogue says about it.

    `id` is the stable identifier used on the command line (the CIS number for CIS checks).
    """

    id: str
    title: str
    section: str
    level: int
    automated: bool
    scored: bool
    severity: Severity
    remediation: str
    remediation_impact: str = "None."
    references: tuple[str, ...] = ()
    cis: str | None = None
    description: str = ""

    @property
    def manual(self) -> bool:
        """True when a human has to verify the recommendation."""
        return not self.automated

    @property
    def cis_title(self) -> str:
        """Title as docker-bench prints it, with the (Automated)/(Manual) suffix."""
        return f"{self.title} ({'Automated' if self.automated else 'Manual'})"


@dataclass(frozen=True)
class Detail:
    """One object a check looked at and what it found there.

    `obj` is a logical location such as ``container:web``, ``file:/etc/docker/daemon.json``
    or ``image:app:1.0``; `outcome` is this object's own verdict.
    """

    obj: str
    message: str
    outcome: Outcome = Outcome.WARN
    value: str | None = None


@dataclass(frozen=True)
class Evaluation:
    """What a check function returns: an outcome, per-object details and a reason."""

    outcome: Outcome
    details: tuple[Detail, ...] = ()
    reason: str = ""


@dataclass(frozen=True)
class CheckResult:
    """An evaluated check: its metadata plus the evaluation."""

    meta: CheckMeta
    outcome: Outcome
    details: tuple[Detail, ...] = ()
    reason: str = ""
    duration_ms: float = 0.0
    suppressed: str | None = None

    @property
    def id(self) -> str:
        """The check id."""
        return self.meta.id


@dataclass(frozen=True)
class Finding:
    """A problem with a severity found by a scan or a probe (not a CIS check).

    `kind` names the producer (``vulnerability``, ``image-config``, ``endpoint``, ``registry``,
    ``seccomp``); `obj` is the logical location; `data` carries kind-specific fields that
    formatters may show (installed and fixed versions, purl, layer, ...).
    """

    id: str
    kind: str
    severity: Severity
    title: str
    obj: str
    description: str = ""
    references: tuple[str, ...] = ()
    remediation: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    suppressed: str | None = None


@dataclass(frozen=True)
class Section:
    """A part of a report that could not be produced, or a note about one (e.g. no database)."""

    name: str
    status: str
    reason: str = ""


@dataclass(frozen=True)
class Report:
    """Everything one dockguard run produced, ready for any formatter."""

    tool_version: str
    started: float
    finished: float
    results: tuple[CheckResult, ...] = ()
    findings: tuple[Finding, ...] = ()
    sections: tuple[Section, ...] = ()
    source: dict[str, Any] = field(default_factory=dict)
    collection_errors: tuple[dict[str, str], ...] = ()

    def count(self, outcome: Outcome) -> int:
        """Number of (unsuppressed) check results with this outcome."""
        return sum(1 for r in self.results if r.outcome is outcome and not r.suppressed)

    @property
    def classic_score(self) -> int:
        """docker-bench's score: +1 per scored PASS, -1 per scored WARN."""
        score = 0
        for r in self.results:
            if not r.meta.scored or r.suppressed:
                continue
            if r.outcome is Outcome.PASS:
                score += 1
            elif r.outcome is Outcome.WARN:
                score -= 1
        return score
