"""``seccomp explain``: what a profile does to each syscall, and what would change that.

Besides the verdict in the chosen context, each syscall lists the variants that rules gated
on capabilities, kernel version or architecture produce ("with CAP_SYS_ADMIN: allow").
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace

from dockguard.seccomp.effective import ProfileContext, Resolver, SyscallVerdict, applies, listed_names, verdict_of
from dockguard.seccomp.profile import Profile, SyscallRule


@dataclass(frozen=True)
class Variant:
    """The verdict under a changed context, and which change it is."""

    condition: str
    verdict: SyscallVerdict


@dataclass(frozen=True)
class Explanation:
    """One syscall: its verdict now and its gated variants."""

    name: str
    verdict: SyscallVerdict
    variants: tuple[Variant, ...]
    known: bool = True


#: Alternative contexts (other capabilities, kernel, architecture) explored per syscall.
MAX_VARIANT_CONTEXTS = 16


def _variant_contexts(rule: SyscallRule, ctx: ProfileContext) -> list[tuple[str, ProfileContext]]:
    """Contexts in which an inactive `rule` would apply, changing one condition kind each."""
    out: list[tuple[str, ProfileContext]] = []
    inc = rule.includes
    missing = tuple(c for c in inc.caps if c not in ctx.caps)
    if missing:
        out.append((f"with {' + '.join(missing)}", replace(ctx, caps=ctx.caps | set(missing))))
    if inc.min_kernel is not None and ctx.kernel is not None and ctx.kernel < inc.min_kernel:
        k = inc.min_kernel
        out.append((f"on kernel ≥ {k[0]}.{k[1]}", replace(ctx, kernel=k)))
    if inc.arches and ctx.arch not in inc.arches:
        out.append((f"on {', '.join(inc.arches)}", replace(ctx, arch=inc.arches[0])))
    # Combine all changes too, for rules gated on several things at once.
    if len(out) > 1:
        combined = ctx
        for _, c in out:
            combined = replace(combined, caps=combined.caps | c.caps, kernel=c.kernel, arch=c.arch)
        out = [(" and ".join(label for label, _ in out), combined)]
    return out


def explain(profile: Profile, ctx: ProfileContext, names: Sequence[str] = ()) -> list[Explanation]:
    """Explanations for `names` (default: every name the profile lists, sorted, with at most
    `MAX_UNKNOWN_LISTED` of those that are no syscall: see `listed_names`)."""
    from dockguard.seccomp.syscalls import KNOWN_SYSCALLS

    wanted = list(names) if names else listed_names(profile.names())[0]
    resolver = Resolver(profile, ctx, frozenset(wanted))
    asked = frozenset(wanted)
    # Rules by name, and alternative verdicts computed from those rules only: linear in the
    # profile size however many names are explained (at most MAX_VARIANT_CONTEXTS per name).
    by_name: dict[str, list[SyscallRule]] = {}
    for rule in profile.syscalls:
        for n in asked.intersection(rule.names):
            by_name.setdefault(n, []).append(rule)
    out = []
    for name in wanted:
        verdict = resolver.verdict(name)
        variants: list[Variant] = []
        seen: set[tuple[object, ...]] = set()
        tried: set[ProfileContext] = set()
        rules = by_name.get(name, [])
        for rule in rules:
            if applies(rule, ctx):
                continue
            for label, other in _variant_contexts(rule, ctx):
                if other in tried or len(tried) >= MAX_VARIANT_CONTEXTS:
                    continue
                tried.add(other)
                alt = verdict_of(name, (r for r in rules if applies(r, other)), resolver.default)
                if alt.key != verdict.key and (label, alt.key) not in seen:
                    seen.add((label, alt.key))
                    variants.append(Variant(label, alt))
        out.append(Explanation(name, verdict, tuple(variants), name in KNOWN_SYSCALLS))
    return out


def render_text(items: Sequence[Explanation], ctx: ProfileContext, source: str, unlisted: int = 0) -> str:
    """Human-readable explanation (`unlisted`: names that are no syscall, left out)."""
    lines = [f"{source} — {ctx.describe()}"]
    width = max((len(e.name) for e in items), default=0)
    for e in items:
        text = e.verdict.describe()
        if not e.known:
            text += " [not a syscall on any architecture]"
        lines.append(f"  {e.name:<{width}}  {text}")
        for v in e.variants:
            lines.append(f"  {'':<{width}}    {v.condition}: {v.verdict.describe()}")
    if unlisted:
        lines.append(f"  ({unlisted} more names that are not a syscall on any architecture are not listed)")
    return "\n".join(lines) + "\n"


def render_json(items: Sequence[Explanation], ctx: ProfileContext, source: str, unlisted: int = 0) -> str:
    """Machine-readable explanation (``unlisted_unknown_names``: names that are no syscall, left out)."""

    def verdict(v: SyscallVerdict) -> dict[str, object]:
        return {
            "summary": v.describe(),
            "allowed": v.allowed,
            "action": v.fallback.kind,
            "errno": v.fallback.ret if v.fallback.kind == "ERRNO" else None,
            "by_default": v.by_default,
            "conditions": [
                {
                    "action": a.kind,
                    "errno": a.ret if a.kind == "ERRNO" else None,
                    "args": [arg.describe() for arg in args],
                }
                for a, args in v.branches
            ],
            "rules": list(v.rules),
        }

    return (
        json.dumps(
            {
                "profile": source,
                "context": ctx.describe(),
                "unlisted_unknown_names": unlisted,
                "syscalls": [
                    {
                        "syscall": e.name,
                        "known": e.known,
                        **verdict(e.verdict),
                        "variants": [{"condition": v.condition, **verdict(v.verdict)} for v in e.variants],
                    }
                    for e in items
                ],
            },
            indent=2,
        )
        + "\n"
    )
