"""``seccomp lint``: profile files and containers' seccomp settings → one `Report`.

Every diagnostic becomes a `Finding` of kind SECCOMP: id ``seccomp.<code>``, the severity of
its level (validation errors are CRITICAL, see `DiagnosticLevel.severity`), `obj`
``profile:<path>`` or ``container:<name>``, `path` the profile file, `line` its line, and
evidence ``code``, ``level``, ``json_path``, ``location`` (``syscalls[3].names[0] (line 12,
column 5)``), ``column`` and ``rejected_by_docker``.  Each profile is also a `ProfileSubject`
of the report's source, so that one without diagnostics is still listed.

A profile that cannot be read or parsed at all does not stop the others: it gets a ``malformed``
or ``unreadable`` finding, a `ReportNote` ERROR (so no gate can pass: exit 2) and one
``dockguard: error:`` line through `on_error`.  Container inspection failures (no such
container, daemon unreachable) still abort the run: they are operational errors, not lint results.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence

from dockguard.exit_policy import FailOn
from dockguard.inputs import InputError
from dockguard.model import (
    Finding,
    FindingKind,
    NoteStatus,
    ProfileSubject,
    Report,
    ReportNote,
    ReportSource,
    Severity,
    Surface,
    evidence,
)
from dockguard.seccomp.lint import describe_profile, lint_result
from dockguard.seccomp.profile import (
    Diagnostic,
    DiagnosticLevel,
    ProfileSyntaxError,
    format_path,
    load_profile_file,
    parse_profile,
)

#: The gate without ``--fail-on``: validation errors (CRITICAL) fail, risk warnings do not.
DEFAULT_FAIL_ON = FailOn(Severity.CRITICAL)

#: What each diagnostic code means, for the finding's description (a SARIF rule's text).
CODE_DESCRIPTIONS: dict[str, str] = {
    "malformed": "The profile is not JSON dockguard can read (syntax, size, nesting, numbers).",
    "unreadable": "The profile file cannot be read.",
    "type": "A value has the wrong JSON type: Docker refuses the profile.",
    "unknown-key": "A key Docker does not know: it is silently ignored.",
    "key-case": "A key spelled with different case: Docker accepts it, other tools may not.",
    "bad-action": "An action that does not exist: Docker refuses the profile.",
    "errno-ignored": "errnoRet or defaultErrnoRet given with an action that has no errno.",
    "bad-arch": "An architecture libseccomp does not know: Docker refuses the profile.",
    "arch-conflict": "Both architectures and archMap: Docker refuses the profile.",
    "bad-flag": "A seccomp flag that does not exist: Docker refuses the profile.",
    "no-default": "Rules without a defaultAction: runc refuses the profile.",
    "name-and-names": "A rule with both name and names: Docker refuses the profile.",
    "empty-names": "A rule with an empty names list: it matches no syscall.",
    "no-names": "A rule with neither name nor names: it matches no syscall.",
    "unknown-syscall": "A name that is no syscall on any architecture: the rule never applies to it.",
    "duplicate-name": "A syscall listed twice in one rule.",
    "no-action": "A rule without an action: Docker refuses the profile.",
    "too-many-args": "More argument conditions than a syscall has arguments: Docker refuses the profile.",
    "bad-operator": "An argument comparison that does not exist: Docker refuses the profile.",
    "unknown-cap": "A capability that does not exist: the condition never matches.",
    "unknown-arch": "An architecture name conditions do not use: the condition never matches.",
    "bad-kernel": "A minKernel that is not MAJOR.MINOR: Docker refuses the profile.",
    "redundant-rule": "A rule whose action equals the default: libseccomp refuses it and runc skips it.",
    "notify-without-listener": "SCMP_ACT_NOTIFY without listenerPath: runc refuses the profile.",
    "disabled": "No defaultAction and no rules: Docker runs the container without seccomp.",
    "deny-list": "A default action that allows: every syscall not listed, including future ones, runs.",
    "clone3-denied": "clone3 refused with something other than ENOSYS: glibc cannot start threads.",
    "modern-denied": "Modern syscalls refused with EPERM rather than ENOSYS: newer programs fail.",
    "dangerous-allowed": "A dangerous syscall allowed without the gate Docker's default profile uses.",
    "clone-unfiltered": "clone allowed without the namespace-flag filter: processes can create namespaces.",
    "unconfined": "The container runs with seccomp=unconfined: every syscall is allowed.",
    "privileged": "A privileged container: Docker disables seccomp for it.",
    "not-inline": "The container's seccomp option is neither inline JSON nor a keyword.",
    "not-readable": "A profile kept as a file on the node (localhost/PATH): lint that file itself.",
}

_REMEDIATION = {
    DiagnosticLevel.ERROR: "Fix the profile: as written, Docker refuses it or ignores this part "
    "(dockguard seccomp lint gives the JSON path and line).",
}
_RISK_REMEDIATION = "Tighten the profile as the message says, or accept the risk with a suppression."


def lint_report(
    profiles: Sequence[str],
    containers: Sequence[str] = (),
    *,
    arch: str,
    docker_host: str | None = None,
    on_error: Callable[[str], None] = lambda message: None,
) -> Report:
    """Lint profile files (``-`` is stdin) and the seccomp settings of containers.

    Each path is linted once, in the order given; `on_error` receives the one-line error of a
    profile that cannot be read or parsed (its finding and note are in the report).
    """
    started = time.time()
    subjects: list[ProfileSubject] = []
    findings: list[Finding] = []
    notes: list[ReportNote] = []
    for path in dict.fromkeys(profiles):
        obj = f"profile:{path}"
        file = "" if path == "-" else path
        try:
            text, result = load_profile_file(path)
        except InputError as exc:
            on_error(str(exc))
            subjects.append(ProfileSubject(obj, file, parsed=False))
            findings.append(_unparsed(exc, obj, file))
            notes.append(ReportNote(obj, NoteStatus.ERROR, exc.problem))
            continue
        subjects.append(ProfileSubject(obj, file, describe_profile(result.profile) if result.profile else ""))
        findings.extend(diagnostic_finding(d, obj, file) for d in lint_result(result, text, arch))
    for name in dict.fromkeys(containers):
        subject, diagnostics = _container(name, arch, docker_host)
        subjects.append(subject)
        findings.extend(diagnostic_finding(d, subject.obj, "") for d in diagnostics)
    from dockguard import __version__

    source = ReportSource(
        Surface.SECCOMP_LINT,
        target=", ".join([*dict.fromkeys(profiles), *(f"container {c}" for c in dict.fromkeys(containers))]),
        docker_host=(docker_host or "") if containers else "",
        profiles=tuple(subjects),
    )
    return Report(tool_version=__version__, started=started, finished=time.time(), source=source,
                  findings=tuple(findings), notes=tuple(notes))


def diagnostic_finding(d: Diagnostic, obj: str, path: str) -> Finding:
    """One diagnostic as a report finding (see the module docstring for the fields)."""
    return Finding(
        id=f"seccomp.{d.code}",
        kind=FindingKind.SECCOMP,
        severity=d.severity,
        title=d.message,
        obj=obj,
        description=CODE_DESCRIPTIONS.get(d.code, ""),
        remediation=_REMEDIATION.get(d.level, _RISK_REMEDIATION),
        path=path,
        line=d.line,
        evidence=evidence(
            code=d.code,
            level=d.level.value,
            json_path=format_path(d.path),
            location=d.location,
            column=d.column,
            rejected_by_docker="true" if d.rejected_by_docker else None,
        ),
    )


def _unparsed(exc: InputError, obj: str, path: str) -> Finding:
    """The finding of a profile that could not be read or parsed; the problem text already
    says where the JSON broke, so the position is only in `line` and the evidence."""
    syntax = exc if isinstance(exc, ProfileSyntaxError) else None
    code = "malformed" if syntax else "unreadable"
    finding = diagnostic_finding(Diagnostic(DiagnosticLevel.ERROR, code, exc.problem), obj, path)
    if syntax is None or syntax.line is None:
        return finding
    return dataclasses.replace(finding, line=syntax.line,
                               evidence=finding.evidence + evidence(column=syntax.column))


def _container(name: str, arch: str, docker_host: str | None) -> tuple[ProfileSubject, list[Diagnostic]]:
    """The subject and diagnostics of one container's seccomp setting (Engine API inspect)."""
    from dockguard.seccomp.container import container_seccomp
    from dockguard.snapshot import SeccompKind

    info = container_seccomp(name, docker_host)
    obj = f"container:{info.container}"
    if info.kind is SeccompKind.INLINE and info.text is not None:
        try:
            result = parse_profile(info.text, f"inline profile of container {info.container}")
        except InputError as exc:
            return (ProfileSubject(obj, summary="inline profile (SecurityOpt)", parsed=False),
                    [Diagnostic(DiagnosticLevel.ERROR, "malformed", str(exc))])
        summary = "inline profile (SecurityOpt seccomp=…)"
        if result.profile:
            summary += ", " + describe_profile(result.profile)
        return ProfileSubject(obj, summary=summary), lint_result(result, info.text, arch)
    if info.kind is SeccompKind.UNCONFINED:
        return ProfileSubject(obj, summary="seccomp=unconfined"), [Diagnostic(
            DiagnosticLevel.HIGH, "unconfined",
            "runs without seccomp (SecurityOpt seccomp=unconfined): every syscall is allowed")]
    if info.kind is SeccompKind.PRIVILEGED:
        return ProfileSubject(obj, summary="privileged"), [Diagnostic(
            DiagnosticLevel.HIGH, "privileged",
            "privileged container: Docker disables seccomp for it whatever the profile")]
    if info.kind is SeccompKind.LOCALHOST:
        return ProfileSubject(obj, summary=f"SecurityOpt seccomp={info.text}", parsed=False), [Diagnostic(
            DiagnosticLevel.LOW, "not-readable",
            f"profile {info.text!r} is a file on the node: not readable through the Engine API, not linted")]
    if info.kind is SeccompKind.OTHER:
        return ProfileSubject(obj, summary="SecurityOpt seccomp"), [Diagnostic(
            DiagnosticLevel.ERROR, "not-inline",
            f"seccomp option is neither inline JSON nor a keyword: {info.text!r}")]
    which = info.daemon_profile or "builtin"
    if which in ("builtin", "default"):
        summary = "runs Docker's built-in default profile (no seccomp option set)"
    else:
        summary = f"runs the daemon's default profile ({which}; not readable through the API)"
    return ProfileSubject(obj, summary=summary), []
