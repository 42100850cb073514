"""``seccomp diff``: compare the effective action per syscall of two profiles in one context."""

from __future__ import annotations

import json
from dataclasses import dataclass

from dockguard.seccomp.effective import ProfileContext, Resolver, SyscallVerdict, listed_names
from dockguard.seccomp.profile import Action, Profile


@dataclass(frozen=True)
class Change:
    """One syscall whose verdict differs."""

    name: str
    before: SyscallVerdict
    after: SyscallVerdict


@dataclass(frozen=True)
class ProfileDiff:
    """Differences between profile A and B for `context`.

    `changes` covers every syscall either profile names; `default_before`/`default_after` say
    what happens to all the others.
    """

    context: ProfileContext
    default_before: Action
    default_after: Action
    changes: tuple[Change, ...]
    unlisted: int = 0
    """Names in either profile that are no syscall on any architecture and were not compared
    (beyond the first `MAX_UNKNOWN_LISTED`)."""

    @property
    def identical(self) -> bool:
        """True when nothing differs."""
        return not self.changes and self.default_before == self.default_after


def diff_profiles(a: Profile, b: Profile, ctx: ProfileContext) -> ProfileDiff:
    """Compare `a` and `b` syscall by syscall in `ctx`."""
    names, unlisted = listed_names(a.names() | b.names())
    asked = frozenset(names)
    ra, rb = Resolver(a, ctx, asked), Resolver(b, ctx, asked)
    changes = []
    for name in names:
        va, vb = ra.verdict(name), rb.verdict(name)
        if va.key != vb.key:
            changes.append(Change(name, va, vb))
    return ProfileDiff(ctx, a.default, b.default, tuple(changes), unlisted)


def _kind(change: Change) -> str:
    before, after = change.before, change.after
    if not before.allowed and after.allowed:
        return "allowed"
    if before.allowed and not after.allowed:
        return "denied"
    return "changed"


def render_text(diff: ProfileDiff, name_a: str, name_b: str) -> str:
    """Human-readable diff."""
    lines = [f"A: {name_a}", f"B: {name_b}", f"context: {diff.context.describe()}"]
    if diff.default_before == diff.default_after:
        lines.append(f"default action: {diff.default_before.describe()} in both")
    else:
        lines.append(
            f"default action: {diff.default_before.describe()} -> {diff.default_after.describe()} "
            "(applies to every syscall neither profile lists)"
        )
    if diff.unlisted:
        lines.append(f"({diff.unlisted} names that are not a syscall on any architecture were not compared)")
    if not diff.changes:
        lines.append("no syscall differs")
        return "\n".join(lines) + "\n"
    counts: dict[str, int] = {}
    for c in diff.changes:
        counts[_kind(c)] = counts.get(_kind(c), 0) + 1
    summary = ", ".join(f"{n} {k} in B" for k, n in sorted(counts.items()))
    lines.append(f"{len(diff.changes)} syscalls differ ({summary}):")
    width = max(len(c.name) for c in diff.changes)
    for c in diff.changes:
        lines.append(f"  {c.name:<{width}}  {c.before.describe()}  ->  {c.after.describe()}")
    return "\n".join(lines) + "\n"


def render_json(diff: ProfileDiff, name_a: str, name_b: str) -> str:
    """Machine-readable diff."""
    ctx = diff.context
    return (
        json.dumps(
            {
                "a": name_a,
                "b": name_b,
                "context": {
                    "arch": ctx.arch,
                    "kernel": None if ctx.kernel is None else f"{ctx.kernel[0]}.{ctx.kernel[1]}",
                    "capabilities": sorted(ctx.caps),
                },
                "default": {
                    "a": diff.default_before.describe(),
                    "b": diff.default_after.describe(),
                },
                "unlisted_unknown_names": diff.unlisted,
                "differences": [
                    {
                        "syscall": c.name,
                        "change": _kind(c),
                        "a": c.before.describe(),
                        "b": c.after.describe(),
                    }
                    for c in diff.changes
                ],
            },
            indent=2,
        )
        + "\n"
    )
