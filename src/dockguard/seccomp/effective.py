"""What a profile does to each syscall in one context (architecture, capabilities, kernel).

SyscallRule selection follows moby (``includes``: every listed cap in the bounding set, the native
arch listed, kernel ≥ minKernel; ``excludes``: dropped if any listed cap is present, the arch
matches or kernel ≥ minKernel) and the translation follows runc (rules whose action equals
the default are skipped; when one argument is compared twice in a rule, every comparison
becomes a rule of its own, so any one of them suffices).
"""

from __future__ import annotations

import os
import platform
from collections.abc import Iterable
from dataclasses import dataclass

from dockguard.errors import UsageError
from dockguard.seccomp.profile import Action, Arg, Profile, SyscallRule
from dockguard.seccomp.syscalls import (
    ALL_CAPABILITIES,
    CONDITION_ARCHES,
    DOCKER_DEFAULT_CAPABILITIES,
    KNOWN_SYSCALLS,
    MACHINE_TO_ARCH,
)


@dataclass(frozen=True)
class ProfileContext:
    """Where a profile is evaluated.

    `arch` is moby's condition name of the native architecture (``amd64``, ``arm64`` …);
    `kernel` is (major, minor), or None for "new enough for every minKernel".
    """

    arch: str
    caps: frozenset[str] = DOCKER_DEFAULT_CAPABILITIES
    kernel: tuple[int, int] | None = None

    def describe(self) -> str:
        """One line for reports."""
        if self.caps == DOCKER_DEFAULT_CAPABILITIES:
            caps = "Docker's 14 default capabilities"
        elif not self.caps:
            caps = "no capabilities"
        else:
            extra = sorted(self.caps - DOCKER_DEFAULT_CAPABILITIES)
            missing = sorted(DOCKER_DEFAULT_CAPABILITIES - self.caps)
            if len(extra) + len(missing) < len(self.caps):
                parts = [f"+{c}" for c in extra] + [f"-{c}" for c in missing]
                caps = "Docker's defaults " + " ".join(parts)
            else:
                caps = ",".join(sorted(self.caps))
        kernel = "any kernel" if self.kernel is None else f"kernel {self.kernel[0]}.{self.kernel[1]}"
        return f"arch {self.arch}, {kernel}, {caps}"


def native_arch() -> str:
    """moby's name of this machine's architecture."""
    machine = platform.machine()
    return MACHINE_TO_ARCH.get(machine, machine)


def running_kernel() -> tuple[int, int] | None:
    """(major, minor) of the running kernel."""
    try:
        return parse_kernel(os.uname().release)
    except UsageError:
        return None


def parse_kernel(text: str) -> tuple[int, int]:
    """``6.1.0-18-amd64`` -> (6, 1); raise `UsageError` when unreadable."""
    parts = text.strip().split(".")
    try:
        major = int(parts[0])
        minor = int("".join(ch for ch in parts[1].split("-")[0] if ch.isdigit()) or "x")
    except (IndexError, ValueError):
        raise UsageError(f"kernel version must look like 5.15, not {text!r}") from None
    return major, minor


def parse_caps(spec: str | None) -> frozenset[str]:
    """Parse ``--caps``: ``default``, ``all``, ``none``, an exact list, or +CAP/-CAP edits.

    Names are case-insensitive and the ``CAP_`` prefix is optional.
    """
    if spec is None or spec.strip().lower() in ("", "default"):
        return DOCKER_DEFAULT_CAPABILITIES
    items = [s.strip() for s in spec.split(",") if s.strip()]
    if len(items) == 1 and items[0].lower() == "all":
        return ALL_CAPABILITIES
    if len(items) == 1 and items[0].lower() == "none":
        return frozenset()
    edits = all(item[0] in "+-" for item in items)
    caps = set(DOCKER_DEFAULT_CAPABILITIES) if edits else set()
    for item in items:
        sign = item[0] if item[0] in "+-" else "+"
        name = item.lstrip("+-").upper()
        if not name.startswith("CAP_"):
            name = "CAP_" + name
        if name not in ALL_CAPABILITIES:
            raise UsageError(f"unknown capability {item!r}")
        if sign == "+":
            caps.add(name)
        else:
            caps.discard(name)
    return frozenset(caps)


def check_arch(arch: str) -> str:
    """Validate an ``--arch`` value."""
    if arch not in CONDITION_ARCHES:
        raise UsageError(f"unknown architecture {arch!r} (e.g. amd64, arm64, s390x, ppc64le)")
    return arch


def applies(rule: SyscallRule, ctx: ProfileContext) -> bool:
    """Whether moby keeps `rule` for a container in `ctx`."""
    ex, inc = rule.excludes, rule.includes
    if ex.arches and ctx.arch in ex.arches:
        return False
    if any(c in ctx.caps for c in ex.caps):
        return False
    if ex.min_kernel is not None and _kernel_ge(ctx, ex.min_kernel):
        return False
    if inc.arches and ctx.arch not in inc.arches:
        return False
    if any(c not in ctx.caps for c in inc.caps):
        return False
    return not (inc.min_kernel is not None and not _kernel_ge(ctx, inc.min_kernel))


def _kernel_ge(ctx: ProfileContext, version: tuple[int, int]) -> bool:
    return ctx.kernel is None or ctx.kernel >= version


def arg_groups(rule: SyscallRule) -> tuple[tuple[Arg, ...], ...]:
    """The argument-condition sets runc turns `rule` into (each set is ANDed, sets are ORed)."""
    if not rule.args:
        return ((),)
    indexes = [a.index for a in rule.args]
    if len(set(indexes)) < len(indexes):
        return tuple((a,) for a in rule.args)
    return (rule.args,)


@dataclass(frozen=True)
class SyscallVerdict:
    """What happens to one syscall: conditional branches tried first, then `fallback`."""

    name: str
    branches: tuple[tuple[Action, tuple[Arg, ...]], ...]
    fallback: Action
    by_default: bool
    rules: tuple[int, ...] = ()

    @property
    def key(self) -> tuple[object, ...]:
        """Comparable summary (ignores which rules produced it)."""
        return (tuple(sorted(set(self.branches), key=repr)), self.fallback)

    @property
    def allowed(self) -> bool:
        """Allowed unconditionally."""
        return not self.branches and self.fallback.allows

    def describe(self) -> str:
        """E.g. ``allow only when arg0 < 38 or arg0 == 39; otherwise errno 1 (EPERM)``."""
        if not self.branches:
            text = self.fallback.describe()
            return f"{text} (default action)" if self.by_default else text
        by_action: dict[Action, list[str]] = {}
        for action, args in self.branches:
            by_action.setdefault(action, []).append(" and ".join(a.describe() for a in args) or "always")
        parts = [f"{action.describe()} only when {' or '.join(conds)}" for action, conds in by_action.items()]
        return "; ".join(parts) + f"; otherwise {self.fallback.describe()}"


#: Names that are no syscall on any architecture that diff and explain list one by one; the
#: others are only counted (a profile can list a million made-up names).
MAX_UNKNOWN_LISTED = 100


def listed_names(names: Iterable[str]) -> tuple[list[str], int]:
    """(names to report, sorted; how many unknown names were left out).

    Every known syscall is kept; of the names that are no syscall on any architecture, only
    the first `MAX_UNKNOWN_LISTED` in sort order are.
    """
    import heapq

    known: list[str] = []
    unknown: list[str] = []
    for n in set(names):
        (known if n in KNOWN_SYSCALLS else unknown).append(n)
    kept = heapq.nsmallest(MAX_UNKNOWN_LISTED, unknown)
    return sorted(known + kept), len(unknown) - len(kept)


def verdict_of(name: str, rules: Iterable[SyscallRule], default: Action) -> SyscallVerdict:
    """The verdict for `name` given the rules that apply and name it, in profile order."""
    branches: list[tuple[Action, tuple[Arg, ...]]] = []
    fallback: Action | None = None
    used: list[int] = []
    for rule in rules:
        action = rule.effective_action
        if action == default:
            continue
        used.append(rule.index)
        for group in arg_groups(rule):
            if group:
                branches.append((action, group))
            elif fallback is None:
                fallback = action
    final = fallback if fallback is not None else default
    return SyscallVerdict(
        name,
        tuple(b for b in branches if b[0] != final),
        final,
        fallback is None,
        tuple(used),
    )


class Resolver:
    """Effective verdicts of one profile in one context."""

    def __init__(self, profile: Profile, ctx: ProfileContext, only: frozenset[str] | None = None) -> None:
        """Index the rules that apply in `ctx` by name (only the names in `only` when given:
        a linter asking about a few dozen syscalls need not index a million listed names)."""
        self.profile = profile
        self.ctx = ctx
        self.default = profile.default
        self._only = only
        self._by_name: dict[str, list[SyscallRule]] = {}
        for rule in profile.syscalls:
            if applies(rule, ctx):
                for name in dict.fromkeys(rule.names) if only is None else only.intersection(rule.names):
                    self._by_name.setdefault(name, []).append(rule)

    def active_rules(self) -> list[SyscallRule]:
        """Rules kept for this context, in profile order."""
        return [r for r in self.profile.syscalls if applies(r, self.ctx)]

    def verdict(self, name: str) -> SyscallVerdict:
        """The verdict for syscall `name`."""
        if self._only is not None and name not in self._only:
            raise ValueError(f"this resolver only indexes {len(self._only)} names, not {name!r}")
        return verdict_of(name, self._by_name.get(name, ()), self.default)

    def verdicts(self, names: Iterable[str]) -> dict[str, SyscallVerdict]:
        """Verdicts for several names."""
        return {n: self.verdict(n) for n in names}
