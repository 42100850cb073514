"""Core value types shared by every layer: outcomes, severities, check metadata, results, findings.

Everything here is a frozen dataclass or an enum so that a `Report` can be passed to any
formatter without fear of it being changed underneath.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


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


class FindingKind(enum.StrEnum):
    """Which surface produced a finding."""

    VULNERABILITY = "vulnerability"
    IMAGE_CONFIG = "image-config"
    ENDPOINT = "endpoint"
    REGISTRY = "registry"
    SECCOMP = "seccomp"
    CHECK = "check"
    """A failing object of a check, as ``dockguard diff`` compares it."""


class Change(enum.StrEnum):
    """How a finding of ``dockguard diff`` changed between the two runs it compares."""

    NEW = "new"
    """In the later run only: a regression (the only state ``--fail-on`` counts)."""
    FIXED = "fixed"
    """In the earlier run only; kept for the record, marked suppressed."""
    UNCHANGED = "unchanged"
    """In both runs: existing debt, marked suppressed."""


class VulnState(enum.StrEnum):
    """What an advisory says about the installed version (values are the report's words)."""

    FIXED = "fixed"
    AFFECTED = "affected"
    WILL_NOT_FIX = "will_not_fix"
    FIX_DEFERRED = "fix_deferred"
    END_OF_LIFE = "end_of_life"
    NOT_AFFECTED = "not_affected"
    UNKNOWN = "unknown"
    """The versions could not be compared; the finding's reason says why."""


@dataclass(frozen=True)
class PackageRef:
    """A package of an inventory, or the one a finding is about: identity, where it was found,
    which layer brought it.

    `source_name`/`source_version` are what vendors key advisories on (Debian source package,
    Alpine origin); `os_owned` marks a language package whose files an OS package owns;
    `licenses` are the licence texts the package declares (SPDX or free text, as found);
    `evidence` names what gave the name and version when the file alone does not say.
    """

    name: str
    version: str
    type: str
    purl: str = ""
    path: str = ""
    layer: str = ""
    source_name: str = ""
    source_version: str = ""
    os_owned: bool = False
    licenses: tuple[str, ...] = ()
    evidence: str = ""


@dataclass(frozen=True)
class CvssScore:
    """One CVSS rating of a vulnerability: method (``CVSSv31``, ...), base score, vector, rater."""

    method: str
    vector: str
    score: float | None = None
    source: str = ""


@dataclass(frozen=True)
class VulnerabilityInfo:
    """Vulnerability-specific facts of a finding."""

    state: VulnState
    installed: str
    fixed: str | None = None
    aliases: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    severity_sources: tuple[tuple[str, str], ...] = ()
    """(rater, severity) pairs the severity was chosen from."""
    cvss: tuple[CvssScore, ...] = ()
    reason: str = ""
    """Why the state is what it is, when it is not obvious (e.g. a version that cannot be compared)."""


@dataclass(frozen=True)
class Finding:
    """A problem with a severity found by a scan or a probe (not a CIS check).

    `obj` is the logical location (``image:app:1.0``, ``container:web``, ``endpoint:tcp://h:2376``,
    ``registry:host:5000``, ``profile:p.json``); `path` a file inside it (a package's file, the
    profile file) and `line` a line in that file, when known.  `evidence` holds the facts a
    producer wants shown, as (name, value) text pairs.
    """

    id: str
    kind: FindingKind
    severity: Severity
    title: str
    obj: str
    description: str = ""
    references: tuple[str, ...] = ()
    remediation: str = ""
    path: str = ""
    line: int | None = None
    package: PackageRef | None = None
    vulnerability: VulnerabilityInfo | None = None
    evidence: tuple[tuple[str, str], ...] = ()
    suppressed: str | None = None
    change: Change | None = None
    """Set by ``dockguard diff`` only: new, fixed or unchanged since the earlier run."""

    def fact(self, name: str) -> str:
        """The evidence value called `name`, or ``""``."""
        for key, value in self.evidence:
            if key == name:
                return value
        return ""


def evidence(**facts: object) -> tuple[tuple[str, str], ...]:
    """(name, text) pairs for `Finding.evidence`: lists joined with ", ", None and "" left out."""
    out: list[tuple[str, str]] = []
    for name, value in facts.items():
        if value is None or value == "":
            continue
        if isinstance(value, list | tuple | set | frozenset):
            text = ", ".join(str(v) for v in value)
        elif isinstance(value, dict):
            text = ", ".join(f"{k}={v}" for k, v in value.items())
        else:
            text = str(value)
        out.append((name, text))
    return tuple(out)


class NoteStatus(enum.StrEnum):
    """What a report note says about a part of the run."""

    NOT_APPLICABLE = "N/A"
    """The part did not apply or was skipped on purpose (``--no-images``)."""
    NOT_CHECKED = "NOT CHECKED"
    """The part could not run (no database, daemon unreachable): its verdicts are missing."""
    INCOMPLETE = "INCOMPLETE"
    """The part ran but could not read everything: its verdicts may be missing findings."""
    ERROR = "ERROR"
    """The part failed."""
    WARNING = "WARNING"
    """Something the user should know; verdicts are unaffected."""


#: Note statuses after which a gate (``--fail-on``) cannot honestly pass.
UNDECIDED = frozenset({NoteStatus.NOT_CHECKED, NoteStatus.INCOMPLETE, NoteStatus.ERROR})


@dataclass(frozen=True)
class ReportNote:
    """A note about one part of a run (``images``, ``image:app:1``, ``suppressions``...)."""

    part: str
    status: NoteStatus
    reason: str = ""


class StepStatus(enum.StrEnum):
    """What became of one probe step."""

    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    SKIPPED = "SKIPPED"


@dataclass(frozen=True)
class ProbeStep:
    """One probe step: its name, status and, unless it completed cleanly, why.

    `evidence` holds the facts the step established, as (name, value) text pairs like
    `Finding.evidence` (``("api_version", "1.41")``); names are unique within one probe.
    """

    name: str
    status: StepStatus
    reason: str = ""
    evidence: tuple[tuple[str, str], ...] = ()

    def fact(self, name: str) -> str:
        """The evidence value called `name`, or ``""``."""
        for key, value in self.evidence:
            if key == name:
                return value
        return ""


class Surface(enum.StrEnum):
    """Which command produced a report."""

    BENCH = "bench"
    AUDIT = "audit"
    IMAGE_SCAN = "image-scan"
    DAEMON_PROBE = "daemon-probe"
    REGISTRY_PROBE = "registry-probe"
    SECCOMP_LINT = "seccomp-lint"
    DIFF = "diff"
    REGISTRY_SCAN = "registry-scan"
    FLEET = "fleet"


@dataclass(frozen=True)
class ImageSubject:
    """An image a report covers: how it was read and what it is."""

    target: str
    source_kind: str = ""
    image_id: str = ""
    repo_tags: tuple[str, ...] = ()
    platform: str = ""
    os_family: str = ""
    os_version: str = ""
    os_name: str = ""
    os_eol: bool | None = None
    package_count: int = 0
    complete: bool = True

    @property
    def label(self) -> str:
        """``image:<first tag or target>``: the object label of the image's findings."""
        return f"image:{self.repo_tags[0] if self.repo_tags else self.target}"


@dataclass(frozen=True)
class ProfileSubject:
    """A seccomp profile a lint report covers: its object label, file and what it is.

    `obj` is ``profile:<path>`` or ``container:<name>``; `path` the file (``""`` for a
    container's inline profile); `summary` one line on the profile (format, default action,
    rule count) or on the container's setting; `parsed` is False when it could not be read.
    """

    obj: str
    path: str = ""
    summary: str = ""
    parsed: bool = True


@dataclass(frozen=True)
class HostSubject:
    """A Docker host a fleet report covers: its identity and the audits the report compares.

    `label` is what its findings' objects start with (``host:<label>/…``): the hostname, with
    the daemon ID's start added when two daemons share a hostname.  `run`/`taken` are the
    latest audit, `previous_run`/`previous_taken` the one before (``""``/None: none);
    `audited` is False for a host only ``collect --store`` recorded.
    """

    label: str
    hostname: str
    daemon_id: str = ""
    run: str = ""
    taken: float | None = None
    previous_run: str = ""
    previous_taken: float | None = None
    audited: bool = True
    reachable: bool = True
    complete: bool = True
    containers: int = 0
    images: int = 0


@dataclass(frozen=True)
class ReportSource:
    """What a report is about: the command, its target and the provenance of the facts."""

    surface: Surface
    target: str = ""
    docker_host: str = ""
    hostname: str = ""
    snapshot_file: str = ""
    snapshot_created: float | None = None
    snapshot_schema_version: int | None = None
    images: tuple[ImageSubject, ...] = ()
    profiles: tuple[ProfileSubject, ...] = ()
    hosts: tuple[HostSubject, ...] = ()


@dataclass(frozen=True)
class CollectionError:
    """A fact that could not be collected: which collector, what it looked at, and why."""

    source: str
    target: str
    message: str


@dataclass(frozen=True)
class Report:
    """Everything one dockguard run produced, ready for any formatter.

    Every surface (bench, audit, image scan, probes, seccomp lint, diff) fills the same type;
    `steps` are the probe steps, `packages` the inventory (for CycloneDX), `notes` what could
    not be done or read.
    """

    tool_version: str
    started: float
    finished: float
    source: ReportSource
    results: tuple[CheckResult, ...] = ()
    findings: tuple[Finding, ...] = ()
    notes: tuple[ReportNote, ...] = ()
    steps: tuple[ProbeStep, ...] = ()
    packages: tuple[PackageRef, ...] = ()
    collection_errors: tuple[CollectionError, ...] = ()

    @property
    def surface(self) -> Surface:
        """The command that produced the report."""
        return self.source.surface

    @property
    def complete(self) -> bool:
        """False when a part could not run or could not read everything (see `notes`)."""
        return not any(n.status in UNDECIDED for n in self.notes)

    @property
    def reachable(self) -> bool:
        """For probes: at least one step that talks to the target completed."""
        return any(s.status is StepStatus.COMPLETED for s in self.steps)

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
