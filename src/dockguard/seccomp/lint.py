"""``seccomp lint``: validation plus risk warnings.

Risk warnings look at what the profile does for a container with Docker's default
capabilities: a deny-list default, ``clone3`` refused with something other than ENOSYS
(glibc then cannot start threads), modern syscalls refused with EPERM (glibc only falls back
on ENOSYS), and dangerous syscalls allowed without the gate Docker's default profile uses.
"""

from __future__ import annotations

import functools

from dockguard.seccomp.effective import ProfileContext, Resolver, SyscallVerdict
from dockguard.seccomp.profile import (
    ERROR,
    Action,
    Diagnostic,
    DiagnosticLevel,
    ParseResult,
    Path,
    Profile,
    ProfileSyntaxError,
    locate,
    parse_profile,
)
from dockguard.seccomp.syscalls import ENOSYS, GATED_SYSCALLS, MODERN_SYSCALLS

#: Kernel assumed when looking for syscalls allowed "without the gate": Docker's default
#: allows ptrace only from 4.8 on, so an older kernel shows an unconditional allow.
_OLD_KERNEL = (3, 10)
_ENOSYS = Action("ERRNO", ENOSYS)
#: The only syscalls the risk warnings ask about.
_ASKED = frozenset({"clone", "clone3", *MODERN_SYSCALLS, *(g[0] for g in GATED_SYSCALLS)})


def risk_warnings(profile: Profile, arch: str) -> list[Diagnostic]:
    """Risk warnings for `profile` as a container with Docker's default capabilities sees it."""
    out: list[Diagnostic] = []
    if profile.disabled:
        out.append(
            Diagnostic(
                DiagnosticLevel.HIGH,
                "disabled",
                "no defaultAction and no rules: Docker treats this profile as seccomp disabled (unconfined)",
            )
        )
        return out
    default = profile.default
    deny_list = default.allows
    if deny_list:
        out.append(
            Diagnostic(
                DiagnosticLevel.HIGH,
                "deny-list",
                f"defaultAction {profile.default_action} makes this a deny-list: every syscall "
                "not listed, including those added by future kernels, is allowed; prefer "
                "SCMP_ACT_ERRNO with an allow-list",
                ("defaultAction",),
            )
        )
    now = Resolver(profile, ProfileContext(arch), _ASKED)
    clone3 = now.verdict("clone3")
    if not clone3.branches and not clone3.fallback.allows and clone3.fallback != _ENOSYS:
        out.append(
            Diagnostic(
                DiagnosticLevel.HIGH,
                "clone3-denied",
                f"clone3 gets {clone3.fallback.describe()}: glibc ≥ 2.34 falls back to clone only "
                'on ENOSYS, so threads cannot start (Python: "can\'t start new thread"); '
                'return ENOSYS instead ("action": "SCMP_ACT_ERRNO", "errnoRet": 38)',
                _where(profile, clone3),
            )
        )
    modern = [
        v
        for v in (now.verdict(n) for n in MODERN_SYSCALLS)
        if not v.branches and not v.fallback.allows and v.fallback != _ENOSYS
    ]
    if modern:
        names = ", ".join(v.name for v in modern)
        out.append(
            Diagnostic(
                DiagnosticLevel.MEDIUM,
                "modern-denied",
                f"modern syscalls refused with {modern[0].fallback.describe()} rather than ENOSYS: "
                f"{names}; glibc falls back to older syscalls only on ENOSYS, so programs built "
                "against a newer glibc fail (e.g. ls -l when statx is refused)",
                _where(profile, modern[0]),
            )
        )
    old = Resolver(profile, ProfileContext(arch, kernel=_OLD_KERNEL), _ASKED)
    by_default: list[str] = []
    for name, gate, severity, why in GATED_SYSCALLS:
        verdict = old.verdict(name)
        if not verdict.allowed:
            continue
        if verdict.by_default:
            by_default.append(name)
            continue
        gate_text = (
            "which Docker's default never allows"
            if gate == "never allowed"
            else (f"which Docker's default allows only with {gate}")
        )
        out.append(
            Diagnostic(
                DiagnosticLevel(severity),
                "dangerous-allowed",
                f"{name} is allowed without capability conditions ({why}), {gate_text}",
                _where(profile, verdict),
            )
        )
    if by_default:
        out.append(
            Diagnostic(
                DiagnosticLevel.HIGH,
                "dangerous-allowed",
                f"the default action allows {len(by_default)} dangerous syscalls that Docker's "
                f"default refuses or gates behind capabilities: {', '.join(by_default)}",
                ("defaultAction",),
            )
        )
    clone = old.verdict("clone")
    if clone.allowed and not clone.by_default:
        out.append(
            Diagnostic(
                DiagnosticLevel.MEDIUM,
                "clone-unfiltered",
                "clone is allowed without an argument filter: processes can create namespaces; "
                "Docker's default allows it only when no CLONE_NEW* flag is set "
                "(arg0 & 0x7e020000 == 0) unless CAP_SYS_ADMIN",
                _where(profile, clone),
            )
        )
    return out


def _where(profile: Profile, verdict: SyscallVerdict) -> Path:
    """Path of the rule that decides `verdict` (or of defaultAction)."""
    if not verdict.rules or (verdict.by_default and not verdict.branches):
        return ("defaultAction",)
    rule = profile.syscalls[_rule_pos(profile, verdict.rules[0])]
    if verdict.name in rule.names:
        return rule.name_path(rule.names.index(verdict.name))
    return ("syscalls", rule.index)


def _rule_pos(profile: Profile, index: int) -> int:
    for pos, rule in enumerate(profile.syscalls):
        if rule.index == index:
            return pos
    return 0


def lint_result(result: ParseResult, text: str, arch: str) -> list[Diagnostic]:
    """Validation diagnostics plus risk warnings, located in `text`, errors first."""
    diags = list(result.diagnostics)
    if result.profile is not None:
        diags.extend(risk_warnings(result.profile, arch))
    located = locate(text, diags)
    return sorted(located, key=_order)


def _order(d: Diagnostic) -> tuple[int, int, int]:
    return (-d.severity.rank, d.line or 0, d.column or 0)


def lint_profile_text(text: str, arch: str | None = None) -> list[tuple[str, str]]:
    """Lint an inline profile: ``(severity name, message)`` pairs, errors first.

    Severity is ``ERROR`` for validation errors, else a `Severity` name.  Malformed JSON gives
    a single ``ERROR``.  Pure: no I/O.
    """
    return _pairs(text, arch, None)


#: Lint codes that weaken isolation (as opposed to breaking the workload, like clone3-denied).
SECURITY_CODES = frozenset({"disabled", "deny-list", "dangerous-allowed", "clone-unfiltered"})


def security_issues(text: str, arch: str | None = None) -> list[tuple[str, str]]:
    """The lint messages of an inline profile that weaken isolation, for CIS 5.22.

    A profile Docker accepted but that, say, breaks threads with EPERM for clone3 is a
    reliability problem, not a disabled seccomp profile, so it is left out here.
    """
    if arch is None:
        from dockguard.seccomp.effective import native_arch

        arch = native_arch()
    return list(_security_pairs(text, arch))


@functools.lru_cache(maxsize=32)
def _security_pairs(text: str, arch: str) -> tuple[tuple[str, str], ...]:
    # Containers started from one compose file share their inline profile: lint it once.
    return tuple(_pairs(text, arch, SECURITY_CODES))


def _pairs(text: str, arch: str | None, codes: frozenset[str] | None) -> list[tuple[str, str]]:
    if arch is None:
        from dockguard.seccomp.effective import native_arch

        arch = native_arch()
    try:
        result = parse_profile(text, "inline profile")
    except ProfileSyntaxError as exc:
        return [(ERROR.value, str(exc))]
    return [
        (d.level.value, f"{d.location}: {d.message}" if d.location else d.message)
        for d in lint_result(result, text, arch)
        if codes is None or d.code in codes
    ]


def describe_profile(profile: Profile) -> str:
    """``current format, defaultAction SCMP_ACT_ERRNO (errno 1), 33 rules, 442 names``."""
    fmt = "current format" if profile.current_format else "old format"
    default = profile.default_action or "(none)"
    return (
        f"{fmt}, defaultAction {default} ({profile.default.describe()}), "
        f"{len(profile.syscalls)} rules, {len(profile.names())} syscall names"
    )
