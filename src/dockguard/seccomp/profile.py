"""Seccomp profile model for both Docker formats, and strict validation.

Two formats exist: the old one (``architectures`` + one ``name`` per rule, always ``args``)
and the current moby one (``archMap``, ``names``, ``includes``/``excludes``, ``errnoRet``,
``defaultErrnoRet``, ``comment``, OCI ``flags``/``listener*``).  `parse_profile` reads either
into one frozen `Profile` and returns every problem it saw as a `Diagnostic` with the JSON path
(and, via `locate`, the line and column) of the offending value.

Docker itself is lenient (it ignores unknown keys such as ``architecture`` written by some
generators) or fails late (libseccomp errors at container start); validation here reports both
kinds, marking those Docker refuses with ``rejected_by_docker``.
"""

from __future__ import annotations

import bisect
import contextlib
import enum
import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from dockguard.inputs import MAX_NODES, MAX_PROFILE, InputError, parse_json, read_text
from dockguard.jsontypes import Json, JsonObject
from dockguard.model import Severity
from dockguard.seccomp.syscalls import (
    ALL_CAPABILITIES,
    CONDITION_ARCHES,
    EPERM,
    KNOWN_SYSCALLS,
    SCMP_ARCHES,
    SECCOMP_FLAGS,
)

Path = tuple[str | int, ...]


class DiagnosticLevel(enum.StrEnum):
    """How serious a lint diagnostic is: a validation error, or a risk warning's severity."""

    ERROR = "ERROR"
    """The profile is invalid: Docker refuses it, silently ignores part of it, or a rule can
    never do what it says (an unknown syscall or capability)."""
    HIGH = "HIGH"
    MEDIUM = "MEDIUM"
    LOW = "LOW"

    @property
    def severity(self) -> Severity:
        """The report severity: validation errors are CRITICAL (the confinement written is not
        the one a container gets), so they outrank every risk warning; the others keep their name."""
        return Severity.CRITICAL if self is DiagnosticLevel.ERROR else Severity(self.value)


ERROR = DiagnosticLevel.ERROR

ACTIONS: frozenset[str] = frozenset(
    {
        "SCMP_ACT_KILL",
        "SCMP_ACT_KILL_THREAD",
        "SCMP_ACT_KILL_PROCESS",
        "SCMP_ACT_TRAP",
        "SCMP_ACT_ERRNO",
        "SCMP_ACT_TRACE",
        "SCMP_ACT_ALLOW",
        "SCMP_ACT_LOG",
        "SCMP_ACT_NOTIFY",
    }
)

OPERATORS: dict[str, str] = {
    "SCMP_CMP_NE": "!=",
    "SCMP_CMP_LT": "<",
    "SCMP_CMP_LE": "<=",
    "SCMP_CMP_EQ": "==",
    "SCMP_CMP_GE": ">=",
    "SCMP_CMP_GT": ">",
    "SCMP_CMP_MASKED_EQ": "&",
}

_TOP_KEYS = (
    "defaultAction",
    "defaultErrnoRet",
    "architectures",
    "archMap",
    "syscalls",
    "flags",
    "listenerPath",
    "listenerMetadata",
)
_RULE_KEYS = ("name", "names", "action", "errnoRet", "args", "comment", "includes", "excludes")
_ARG_KEYS = ("index", "value", "valueTwo", "op")
_FILTER_KEYS = ("caps", "arches", "minKernel")
_ARCHMAP_KEYS = ("architecture", "subArchitectures")

_U64 = 2**64
_scanstring: Callable[[str, int], tuple[str, int]] = json.decoder.scanstring  # type: ignore[attr-defined]
_MIN_KERNEL = re.compile(r"([0-9]{1,9})\.([0-9]{1,9})")


class ProfileSyntaxError(InputError):
    """The profile cannot be read as JSON at all: syntax, size, nesting, encoding (exit 2).

    `line` and `column` say where the JSON syntax broke, when it did (1-based).
    """

    def __init__(self, origin: str, problem: str, where: str = "", *, line: int | None = None,
                 column: int | None = None) -> None:
        super().__init__(origin, problem, where)
        self.line = line
        self.column = column


@dataclass(frozen=True, order=True)
class Action:
    """An effective seccomp action: kind (``ALLOW``, ``ERRNO`` …) and its return value."""

    kind: str
    ret: int | None = None

    @classmethod
    def from_profile(cls, name: str, errno_ret: int | None) -> Action:
        """The action runc derives from a profile action string and optional errnoRet."""
        kind = name.removeprefix("SCMP_ACT_")
        if kind == "KILL":
            kind = "KILL_THREAD"
        if kind in ("ERRNO", "TRACE"):
            return cls(kind, EPERM if errno_ret is None else errno_ret)
        return cls(kind)

    @property
    def allows(self) -> bool:
        """True when the syscall runs (ALLOW, LOG)."""
        return self.kind in ("ALLOW", "LOG")

    def describe(self) -> str:
        """Short human wording: ``allow``, ``errno 1 (EPERM)`` …"""
        if self.kind == "ERRNO":
            return f"errno {self.ret} ({_errno_name(self.ret or 0)})"
        if self.kind == "TRACE":
            return f"trace (errno {self.ret} without a tracer)"
        return {
            "ALLOW": "allow",
            "LOG": "allow and log",
            "KILL_THREAD": "kill thread",
            "KILL_PROCESS": "kill process",
            "TRAP": "trap (SIGSYS)",
            "NOTIFY": "notify user-space agent",
        }.get(self.kind, self.kind.lower())


def _errno_name(n: int) -> str:
    import errno

    return errno.errorcode.get(n, "?") if n else "success"


@dataclass(frozen=True)
class Arg:
    """One argument comparison: ``args[index] op value`` (MASKED_EQ: ``& value == valueTwo``)."""

    index: int
    value: int
    value_two: int
    op: str

    def describe(self) -> str:
        """E.g. ``arg0 < 38`` or ``arg0 & 0x7e020000 == 0``."""
        if self.op == "SCMP_CMP_MASKED_EQ":
            return f"arg{self.index} & {self.value:#x} == {self.value_two:#x}"
        return f"arg{self.index} {OPERATORS.get(self.op, self.op)} {self.value}"


@dataclass(frozen=True)
class Filter:
    """``includes`` or ``excludes`` of a rule."""

    caps: tuple[str, ...] = ()
    arches: tuple[str, ...] = ()
    min_kernel: tuple[int, int] | None = None

    @property
    def empty(self) -> bool:
        """True when nothing is set."""
        return not self.caps and not self.arches and self.min_kernel is None


@dataclass(frozen=True)
class SyscallRule:
    """One entry of ``syscalls`` (``name`` is folded into `names`)."""

    index: int
    names: tuple[str, ...]
    action: str
    errno_ret: int | None = None
    args: tuple[Arg, ...] = ()
    includes: Filter = Filter()
    excludes: Filter = Filter()
    comment: str = ""
    from_name: bool = False

    def name_path(self, position: int) -> Path:
        """JSON path of ``names[position]`` as written (``name`` when it came from there)."""
        if self.from_name:
            if position == 0:
                return ("syscalls", self.index, "name")
            return ("syscalls", self.index, "names", position - 1)
        return ("syscalls", self.index, "names", position)

    @property
    def effective_action(self) -> Action:
        """The action as runc will apply it."""
        return Action.from_profile(self.action, self.errno_ret)


@dataclass(frozen=True)
class ArchMapEntry:
    """One ``archMap`` entry: a native architecture and its sub-architectures."""

    architecture: str
    sub_architectures: tuple[str, ...] = ()


@dataclass(frozen=True)
class Profile:
    """A seccomp profile in Docker's JSON format (old or current)."""

    default_action: str
    default_errno_ret: int | None = None
    architectures: tuple[str, ...] = ()
    arch_map: tuple[ArchMapEntry, ...] = ()
    syscalls: tuple[SyscallRule, ...] = ()
    flags: tuple[str, ...] = ()
    listener_path: str = ""
    listener_metadata: str = ""
    current_format: bool = True

    @property
    def default(self) -> Action:
        """The default action as runc will apply it."""
        return Action.from_profile(self.default_action or "SCMP_ACT_ALLOW", self.default_errno_ret)

    @property
    def disabled(self) -> bool:
        """Docker treats a profile without defaultAction and syscalls as seccomp disabled."""
        return not self.default_action and not self.syscalls

    def names(self) -> set[str]:
        """Every syscall name any rule mentions."""
        return {n for r in self.syscalls for n in r.names}

    def arches_for(self, native_scmp: str) -> tuple[str, ...]:
        """Architectures the filter gets on a host whose native libseccomp arch is given."""
        if self.architectures:
            return self.architectures
        for entry in self.arch_map:
            if entry.architecture == native_scmp:
                return (entry.architecture, *entry.sub_architectures)
        return ()


@dataclass(frozen=True)
class Diagnostic:
    """One problem found in a profile.

    `level` is ``ERROR`` for validation errors, else the risk warning's severity; `path` is
    the JSON path of the value concerned; `line`/`column` are filled by `locate`.
    """

    level: DiagnosticLevel
    code: str
    message: str
    path: Path = ()
    rejected_by_docker: bool = False
    line: int | None = None
    column: int | None = None

    @property
    def severity(self) -> Severity:
        """The report severity of `level` (validation errors are CRITICAL)."""
        return self.level.severity

    @property
    def location(self) -> str:
        """``syscalls[3].names[0] (line 12, column 5)`` or ``""``."""
        text = format_path(self.path)
        if self.line is not None:
            where = f"line {self.line}, column {self.column}"
            text = f"{text} ({where})" if text else where
        return text


@dataclass(frozen=True)
class ParseResult:
    """A parsed profile (None when not even its shape could be read) and its diagnostics."""

    profile: Profile | None
    diagnostics: tuple[Diagnostic, ...] = field(default_factory=tuple)

    @property
    def errors(self) -> tuple[Diagnostic, ...]:
        """Validation errors only."""
        return tuple(d for d in self.diagnostics if d.level is ERROR)


def format_path(path: Path) -> str:
    """``("syscalls", 3, "names", 0)`` -> ``syscalls[3].names[0]``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


#: Diagnostics listed per code; beyond, one summary says how many more there are (a rule of a
#: million unknown names must not become a million messages held in memory).
MAX_DIAGNOSTICS_PER_CODE = 50


class _Validator:
    def __init__(self) -> None:
        self.diags: list[Diagnostic] = []
        self._counts: dict[str, int] = {}
        self._first: dict[str, Diagnostic] = {}

    def _add(self, d: Diagnostic) -> None:
        n = self._counts.get(d.code, 0) + 1
        self._counts[d.code] = n
        if n <= MAX_DIAGNOSTICS_PER_CODE:
            self._first.setdefault(d.code, d)
            self.diags.append(d)

    def error(self, code: str, message: str, path: Path, *, rejected: bool = False) -> None:
        self._add(Diagnostic(ERROR, code, message, path, rejected))

    def warn(self, level: DiagnosticLevel, code: str, message: str, path: Path) -> None:
        self._add(Diagnostic(level, code, message, path))

    def result(self, profile: Profile | None) -> ParseResult:
        """The parse result, with one summary per code whose diagnostics were not all listed."""
        diags = list(self.diags)
        for code, n in self._counts.items():
            if n > MAX_DIAGNOSTICS_PER_CODE:
                first = self._first[code]
                diags.append(Diagnostic(
                    first.level, code,
                    f"{n - MAX_DIAGNOSTICS_PER_CODE} more '{code}' problem(s) like the above are not listed "
                    f"({n} in all; only the first {MAX_DIAGNOSTICS_PER_CODE} are shown)",
                    (), first.rejected_by_docker,
                ))
        return ParseResult(profile, tuple(diags))

    def keys(self, obj: JsonObject, known: Sequence[str], path: Path, what: str) -> JsonObject:
        """Map keys onto the known spelling (Go's decoder ignores case) and flag the others."""
        lower = {k.lower(): k for k in known}
        out: JsonObject = {}
        for key, value in obj.items():
            if key in known:
                out[key] = value
            elif key.lower() in lower:
                right = lower[key.lower()]
                self.warn(
                    DiagnosticLevel.LOW,
                    "key-case",
                    f"key {_q(key)} in {what}: Docker accepts it case-insensitively as {right!r}, other tools may not",
                    (*path, key),
                )
                out[right] = value
            else:
                hint = _close_key(key, known)
                self.error(
                    "unknown-key",
                    f"unknown key {_q(key)} in {what}{hint}: Docker silently ignores it",
                    (*path, key),
                )
        return out

    def string(self, value: Json, path: Path, what: str) -> str | None:
        if isinstance(value, str):
            return value
        self.error("type", f"{what} must be a string, not {_json_type(value)}", path, rejected=True)
        return None

    def strings(self, value: Json, path: Path, what: str) -> tuple[str, ...] | None:
        if value is None:
            return ()
        if not isinstance(value, list):
            self.error(
                "type",
                f"{what} must be a list of strings, not {_json_type(value)}",
                path,
                rejected=True,
            )
            return None
        out = []
        for i, item in enumerate(value):
            if isinstance(item, str):
                out.append(item)
            else:
                self.error(
                    "type",
                    f"{what} entries must be strings, not {_json_type(item)}",
                    (*path, i),
                    rejected=True,
                )
        return tuple(out)

    def uint(self, value: Json, path: Path, what: str, limit: int = _U64) -> int | None:
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < limit:
            self.error(
                "type",
                f"{what} must be an unsigned integer below {limit}, not {_q(value)}",
                path,
                rejected=True,
            )
            return None
        return value


def _q(value: Json, limit: int = 60) -> str:
    """`repr` of a value from the profile, cut so that a message stays one short line."""
    if isinstance(value, dict | list):
        return _json_type(value)
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _json_type(value: Json) -> str:
    if value is None:
        return "null"
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}.get(type(value), "a number")


def _close_key(key: str, known: Sequence[str]) -> str:
    import difflib

    match = difflib.get_close_matches(key, known, n=1, cutoff=0.7)
    return f" (did you mean {match[0]!r}?)" if match else ""


def parse_profile(text: str | bytes, origin: str = "<profile>") -> ParseResult:
    """Parse and validate a profile; raise `ProfileSyntaxError` if it is not JSON.

    The text is bounded (`MAX_PROFILE` bytes) and parsed by `dockguard.inputs.parse_json`
    (nesting capped, huge integers and NaN refused), so every failure is one typed error.
    """
    if len(text) > MAX_PROFILE:
        raise ProfileSyntaxError(origin, f"profile of {len(text)} bytes is larger than the {MAX_PROFILE} allowed")
    try:
        data = parse_json(text, origin, max_nodes=MAX_NODES)
    except InputError as exc:
        # parse_json raises from inside its `except JSONDecodeError`, so the decoder's error,
        # with the position as numbers, is the context of the InputError.
        syntax = exc.__context__ if isinstance(exc.__context__, json.JSONDecodeError) else None
        raise ProfileSyntaxError(exc.origin, exc.problem, exc.where, line=syntax.lineno if syntax else None,
                                 column=syntax.colno if syntax else None) from None
    return validate(data)


def validate(data: Json) -> ParseResult:
    """Validate decoded JSON and build a `Profile` from the parts that are usable."""
    v = _Validator()
    if not isinstance(data, dict):
        v.error("type", f"a profile must be a JSON object, not {_json_type(data)}", (), rejected=True)
        return v.result(None)
    top = v.keys(data, _TOP_KEYS, (), "the profile")

    default_action = ""
    if "defaultAction" in top:
        default_action = v.string(top["defaultAction"], ("defaultAction",), "defaultAction") or ""
        if default_action and default_action not in ACTIONS:
            v.error(
                "bad-action",
                f"unknown action {_q(default_action)} (choose from {', '.join(sorted(ACTIONS))})",
                ("defaultAction",),
                rejected=True,
            )
            default_action = ""
    default_errno: int | None = None
    if top.get("defaultErrnoRet") is not None:
        default_errno = v.uint(top["defaultErrnoRet"], ("defaultErrnoRet",), "defaultErrnoRet", 4096)
        if default_action and default_action not in ("SCMP_ACT_ERRNO", "SCMP_ACT_TRACE"):
            v.warn(
                DiagnosticLevel.LOW,
                "errno-ignored",
                f"defaultErrnoRet is ignored with defaultAction {default_action}",
                ("defaultErrnoRet",),
            )

    architectures = v.strings(top.get("architectures"), ("architectures",), "architectures") or ()
    for i, arch in enumerate(architectures):
        if arch not in SCMP_ARCHES:
            v.error("bad-arch", f"unknown architecture {_q(arch)}", ("architectures", i), rejected=True)
    arch_map = _arch_map(v, top.get("archMap"))
    if architectures and arch_map:
        v.error(
            "arch-conflict",
            "both 'architectures' and 'archMap' are set: Docker refuses the profile (use one or the other)",
            ("archMap",),
            rejected=True,
        )

    flags = v.strings(top.get("flags"), ("flags",), "flags") or ()
    for i, flag in enumerate(flags):
        if flag not in SECCOMP_FLAGS:
            v.error("bad-flag", f"unknown seccomp flag {_q(flag)}", ("flags", i), rejected=True)
    listener_path = ""
    if top.get("listenerPath") is not None:
        listener_path = v.string(top["listenerPath"], ("listenerPath",), "listenerPath") or ""
    listener_metadata = ""
    if top.get("listenerMetadata") is not None:
        listener_metadata = v.string(top["listenerMetadata"], ("listenerMetadata",), "listenerMetadata") or ""

    rules: list[SyscallRule] = []
    raw_rules = top.get("syscalls")
    uses_current = bool(arch_map)
    if raw_rules is not None and not isinstance(raw_rules, list):
        v.error(
            "type",
            f"syscalls must be a list, not {_json_type(raw_rules)}",
            ("syscalls",),
            rejected=True,
        )
    elif raw_rules:
        for i, raw in enumerate(raw_rules):
            rule = _rule(v, i, raw)
            if rule is not None:
                rules.append(rule)
                uses_current = uses_current or bool(
                    (isinstance(raw, dict) and "names" in raw) or not rule.includes.empty or not rule.excludes.empty
                )

    if not default_action and rules:
        v.error(
            "no-default",
            "defaultAction is missing: runc refuses an empty action",
            (),
            rejected=True,
        )
    profile = Profile(
        default_action=default_action,
        default_errno_ret=default_errno,
        architectures=architectures,
        arch_map=arch_map,
        syscalls=tuple(rules),
        flags=flags,
        listener_path=listener_path,
        listener_metadata=listener_metadata,
        current_format=uses_current,
    )
    _check_rules(v, profile)
    return v.result(profile)


def _arch_map(v: _Validator, raw: Json) -> tuple[ArchMapEntry, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        v.error("type", f"archMap must be a list, not {_json_type(raw)}", ("archMap",), rejected=True)
        return ()
    out = []
    for i, entry in enumerate(raw):
        path: Path = ("archMap", i)
        if not isinstance(entry, dict):
            v.error("type", "archMap entries must be objects", path, rejected=True)
            continue
        entry = v.keys(entry, _ARCHMAP_KEYS, path, "an archMap entry")
        arch = v.string(entry.get("architecture"), (*path, "architecture"), "architecture")
        if arch is None:
            continue
        if arch not in SCMP_ARCHES:
            v.error("bad-arch", f"unknown architecture {_q(arch)}", (*path, "architecture"), rejected=True)
        subs = v.strings(entry.get("subArchitectures"), (*path, "subArchitectures"), "subArchitectures")
        for j, sub in enumerate(subs or ()):
            if sub not in SCMP_ARCHES:
                v.error(
                    "bad-arch",
                    f"unknown architecture {_q(sub)}",
                    (*path, "subArchitectures", j),
                    rejected=True,
                )
        out.append(ArchMapEntry(arch, subs or ()))
    return tuple(out)


def _rule(v: _Validator, i: int, raw: Json) -> SyscallRule | None:
    path: Path = ("syscalls", i)
    if not isinstance(raw, dict):
        v.error("type", f"syscalls entries must be objects, not {_json_type(raw)}", path, rejected=True)
        return None
    obj = v.keys(raw, _RULE_KEYS, path, "a syscall rule")
    names: list[str] = []
    name = obj.get("name")
    if name is not None and name != "":
        single = v.string(name, (*path, "name"), "name")
        if single is not None:
            names.append(single)
    if "names" in obj and obj["names"] is not None:
        many = v.strings(obj["names"], (*path, "names"), "names")
        if names and obj["names"]:
            v.error(
                "name-and-names",
                "both 'name' and 'names' are set: Docker refuses the profile (use 'names')",
                path,
                rejected=True,
            )
        if many is not None and not many and not names:
            v.error("empty-names", "'names' is empty: the rule matches no syscall", (*path, "names"))
        names.extend(many or ())
    elif not names:
        v.error("no-names", "the rule has neither 'name' nor 'names': it matches no syscall", path)
    seen: set[str] = set()
    for j, n in enumerate(names):
        where: Path = (*path, "name") if name and j == 0 else (*path, "names", j - (1 if name else 0))
        if n not in KNOWN_SYSCALLS:
            v.error("unknown-syscall", f"{_q(n)} is not a syscall on any architecture", where)
        elif n in seen:
            v.warn(DiagnosticLevel.LOW, "duplicate-name", f"{_q(n)} is listed twice in the same rule", where)
        seen.add(n)

    action = v.string(obj.get("action"), (*path, "action"), "action") if "action" in obj else None
    if "action" not in obj:
        v.error("no-action", "the rule has no 'action'", path, rejected=True)
    elif action is not None and action not in ACTIONS:
        v.error("bad-action", f"unknown action {_q(action)}", (*path, "action"), rejected=True)
        action = None
    errno_ret = None
    if obj.get("errnoRet") is not None:
        errno_ret = v.uint(obj["errnoRet"], (*path, "errnoRet"), "errnoRet", 4096)
        if action and action not in ("SCMP_ACT_ERRNO", "SCMP_ACT_TRACE"):
            v.warn(
                DiagnosticLevel.LOW,
                "errno-ignored",
                f"errnoRet is ignored with action {action}",
                (*path, "errnoRet"),
            )
    args = _args(v, obj.get("args"), (*path, "args"))
    includes = _filter(v, obj.get("includes"), (*path, "includes"))
    excludes = _filter(v, obj.get("excludes"), (*path, "excludes"))
    comment = obj.get("comment")
    if comment is not None and not isinstance(comment, str):
        v.error("type", "comment must be a string", (*path, "comment"), rejected=True)
        comment = None
    if action is None:
        return None
    return SyscallRule(i, tuple(names), action, errno_ret, args, includes, excludes, comment or "", bool(name))


def _args(v: _Validator, raw: Json, path: Path) -> tuple[Arg, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        v.error("type", f"args must be a list, not {_json_type(raw)}", path, rejected=True)
        return ()
    if len(raw) > 6:
        v.error(
            "too-many-args",
            f"{len(raw)} argument conditions: a syscall has at most 6",
            path,
            rejected=True,
        )
    out = []
    for k, a in enumerate(raw):
        apath: Path = (*path, k)
        if not isinstance(a, dict):
            v.error("type", "args entries must be objects", apath, rejected=True)
            continue
        a = v.keys(a, _ARG_KEYS, apath, "an argument condition")
        index = v.uint(a.get("index", 0), (*apath, "index"), "index", 6)
        value = v.uint(a.get("value", 0), (*apath, "value"), "value")
        value_two = v.uint(a.get("valueTwo", 0), (*apath, "valueTwo"), "valueTwo")
        op = v.string(a.get("op"), (*apath, "op"), "op") if "op" in a else None
        if "op" not in a:
            v.error("bad-operator", "argument condition without 'op'", apath, rejected=True)
        elif op is not None and op not in OPERATORS:
            v.error(
                "bad-operator",
                f"unknown operator {_q(op)} (choose from {', '.join(OPERATORS)})",
                (*apath, "op"),
                rejected=True,
            )
            op = None
        if index is None or value is None or value_two is None or op is None:
            continue
        out.append(Arg(index, value, value_two, op))
    return tuple(out)


def _filter(v: _Validator, raw: Json, path: Path) -> Filter:
    if raw is None:
        return Filter()
    if not isinstance(raw, dict):
        v.error("type", f"{path[-1]} must be an object", path, rejected=True)
        return Filter()
    obj = v.keys(raw, _FILTER_KEYS, path, f"'{path[-1]}'")
    caps = v.strings(obj.get("caps"), (*path, "caps"), "caps") or ()
    for i, cap in enumerate(caps):
        if cap not in ALL_CAPABILITIES:
            hint = f" (did you mean 'CAP_{cap.upper()}'?)" if f"CAP_{cap.upper()}" in ALL_CAPABILITIES else ""
            v.error(
                "unknown-cap",
                f"unknown capability {_q(cap)}{hint}: it never matches",
                (*path, "caps", i),
            )
    arches = v.strings(obj.get("arches"), (*path, "arches"), "arches") or ()
    for i, arch in enumerate(arches):
        if arch not in CONDITION_ARCHES:
            v.error(
                "unknown-arch",
                f"unknown architecture {_q(arch)} (conditions use names such as amd64, arm64, s390x)",
                (*path, "arches", i),
            )
    min_kernel = None
    if obj.get("minKernel") is not None:
        raw_kernel = obj["minKernel"]
        m = _MIN_KERNEL.fullmatch(raw_kernel) if isinstance(raw_kernel, str) else None
        if m is None:
            v.error(
                "bad-kernel",
                f'minKernel must be "MAJOR.MINOR" (e.g. "4.8"), not {_q(raw_kernel)}',
                (*path, "minKernel"),
                rejected=True,
            )
        else:
            min_kernel = (int(m.group(1)), int(m.group(2)))
    return Filter(caps, arches, min_kernel)


def _check_rules(v: _Validator, profile: Profile) -> None:
    if not profile.default_action:
        return
    default = profile.default
    for rule in profile.syscalls:
        if rule.effective_action == default:
            v.error(
                "redundant-rule",
                f"action {rule.effective_action.describe()} equals the default action: "
                "libseccomp refuses such a rule (EACCES) and runc skips it",
                ("syscalls", rule.index, "action"),
            )
        if rule.action == "SCMP_ACT_NOTIFY" and not profile.listener_path:
            v.error(
                "notify-without-listener",
                "SCMP_ACT_NOTIFY needs 'listenerPath': runc refuses the profile",
                ("syscalls", rule.index, "action"),
                rejected=True,
            )


def locate(text: str, diagnostics: Iterable[Diagnostic]) -> list[Diagnostic]:
    """Fill line and column of each diagnostic from its JSON path in `text`.

    Linear in the size of `text` plus the number of diagnostics: one scan records the offsets
    of the paths asked for (and their parents) only, and lines come from a bisection over the
    line starts, not from counting newlines once per diagnostic.
    """
    from dataclasses import replace

    diags = list(diagnostics)
    if not diags:
        return diags
    wanted: set[Path] = set()
    for d in diags:
        path = d.path
        while path not in wanted:
            wanted.add(path)
            if not path:
                break
            path = path[:-1]
    positions = _positions(text, wanted)
    starts = [0, *(m.end() for m in re.finditer("\n", text))]
    out = []
    for d in diags:
        path = d.path
        while path and path not in positions:
            path = path[:-1]
        offset = positions.get(path)
        if offset is None:
            out.append(d)
            continue
        line = bisect.bisect_right(starts, offset)
        out.append(replace(d, line=line, column=offset - starts[line - 1] + 1))
    return out


_WS = re.compile(r"[ \t\n\r]*")
_SCALAR = re.compile(r"-?\d+(\.\d+)?([eE][-+]?\d+)?|true|false|null")
_SKIP = json.JSONDecoder()


def _positions(text: str, wanted: set[Path]) -> dict[Path, int]:
    """Offsets of the values at the paths in `wanted` (object members: of their key).

    A small scanner rather than the json module because the latter keeps no positions; values
    whose path is not wanted (so neither is anything inside them) are skipped by the json
    module's C scanner.  It is only run when there is something to report, on text that the
    json module has already accepted with its nesting capped, so its recursion is bounded.
    """
    positions: dict[Path, int] = {}

    def ws(i: int) -> int:
        m = _WS.match(text, i)
        return m.end() if m else i

    def value(i: int, path: Path) -> int:
        i = ws(i)
        if path not in wanted:
            return _SKIP.raw_decode(text, i)[1]
        positions.setdefault(path, i)
        ch = text[i : i + 1]
        if ch == "{":
            i = ws(i + 1)
            if text[i : i + 1] == "}":
                return i + 1
            while True:
                i = ws(i)
                start = i
                key, i = _scanstring(text, i + 1)
                i = ws(i)
                i = value(i + 1, (*path, key))  # skip ':'
                if (*path, key) in wanted:
                    positions[(*path, key)] = start
                i = ws(i)
                if text[i] == "}":
                    return i + 1
                i += 1
        if ch == "[":
            i = ws(i + 1)
            if text[i : i + 1] == "]":
                return i + 1
            k = 0
            while True:
                i = value(i, (*path, k))
                i = ws(i)
                if text[i] == "]":
                    return i + 1
                i += 1
                k += 1
        if ch == '"':
            return int(_scanstring(text, i + 1)[1])
        m = _SCALAR.match(text, i)
        return m.end() if m else i + 1

    with contextlib.suppress(IndexError, ValueError):
        value(0, ())
    return positions


def load_profile_file(path: str) -> tuple[str, ParseResult]:
    """Read (at most `MAX_PROFILE` bytes) and parse a profile file; unreadable or malformed ->
    `InputError` naming the file (exit 2)."""
    origin = "<stdin>" if path == "-" else path
    text = read_text(path, limit=MAX_PROFILE, what="profile")
    return text, parse_profile(text, origin)
