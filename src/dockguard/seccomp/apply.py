"""Translate a profile to libseccomp rules (as runc does) and run a command under it.

runc's rules, followed here: names libseccomp does not know are skipped (and reported),
rules whose action equals the default are skipped (libseccomp refuses them with EACCES), and
a rule comparing one argument twice is split into one rule per comparison (libseccomp refuses
it with EINVAL).  A filter cannot be removed once loaded, so it is only ever loaded in a
forked child right before ``execv``; the dockguard process itself never loads one.
"""

from __future__ import annotations

import ctypes
import errno
import os
import shutil
import signal
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pyseccomp

from dockguard.errors import OperationalError, UsageError
from dockguard.seccomp.effective import ProfileContext, Resolver, applies, arg_groups
from dockguard.seccomp.profile import Action, Arg, Profile

_OPS = {
    "SCMP_CMP_NE": pyseccomp.NE,
    "SCMP_CMP_LT": pyseccomp.LT,
    "SCMP_CMP_LE": pyseccomp.LE,
    "SCMP_CMP_EQ": pyseccomp.EQ,
    "SCMP_CMP_GE": pyseccomp.GE,
    "SCMP_CMP_GT": pyseccomp.GT,
    "SCMP_CMP_MASKED_EQ": pyseccomp.MASKED_EQ,
}

_SIMPLE_ACTIONS = {
    "ALLOW": pyseccomp.ALLOW,
    "LOG": pyseccomp.LOG,
    "KILL_THREAD": pyseccomp.KILL_THREAD,
    "KILL_PROCESS": pyseccomp.KILL_PROCESS,
    "TRAP": pyseccomp.TRAP,
}


def action_value(action: Action) -> int:
    """libseccomp's number for `action`."""
    if action.kind == "ERRNO":
        return int(pyseccomp.ERRNO(action.ret or 0))
    if action.kind == "TRACE":
        return int(pyseccomp.TRACE(action.ret or 0))
    if action.kind == "NOTIFY":
        raise UsageError("SCMP_ACT_NOTIFY needs a seccomp agent listening; dockguard does not run one")
    return int(_SIMPLE_ACTIONS[action.kind])


def arch_value(token: str) -> int | None:
    """pyseccomp's value for ``SCMP_ARCH_…`` (None when pyseccomp lacks it, e.g. LOONGARCH64)."""
    value = getattr(pyseccomp.Arch, token.removeprefix("SCMP_ARCH_"), None)
    return None if value is None else int(value)


def native_scmp_arch() -> str:
    """libseccomp token of this machine's architecture (``SCMP_ARCH_X86_64`` …)."""
    native = pyseccomp.system_arch()
    for name, value in vars(pyseccomp.Arch).items():
        if name.isupper() and name != "NATIVE" and value == native:
            return f"SCMP_ARCH_{name}"
    return "SCMP_ARCH_NATIVE"


@dataclass(frozen=True)
class Translation:
    """A libseccomp filter built (not loaded) from a profile, and what was left out."""

    filter: Any
    arches: tuple[str, ...]
    skipped_arches: tuple[str, ...]
    unknown_names: tuple[str, ...]
    skipped_default_rules: tuple[int, ...]
    rules_added: int
    default: Action
    always_killed: tuple[str, ...] = ()
    """Syscalls the filter kills (SIGSYS) whatever their arguments (execve also when by the
    default action; others only when by a rule of their own)."""
    sometimes_killed: tuple[str, ...] = ()
    """Syscalls the filter kills for some argument values."""

    def load(self) -> None:
        """Load the filter into the calling process: only ever call this in a forked child."""
        self.filter.load()


class _ArgArray(ctypes.Structure):
    _fields_ = [
        ("arg", ctypes.c_uint),
        ("op", ctypes.c_int),
        ("datum_a", ctypes.c_uint64),
        ("datum_b", ctypes.c_uint64),
    ]


def _conditions(args: Sequence[Arg]) -> Any:
    arr = (_ArgArray * len(args))()
    for i, a in enumerate(args):
        arr[i].arg = a.index
        arr[i].op = _OPS[a.op]
        arr[i].datum_a = a.value
        arr[i].datum_b = a.value_two
    return arr


def translate(profile: Profile, ctx: ProfileContext, native: str | None = None) -> Translation:
    """Build the libseccomp filter runc would build for `profile` in `ctx`."""
    if profile.disabled:
        raise UsageError("the profile disables seccomp (no defaultAction and no rules)")
    default = profile.default
    flt = pyseccomp.SyscallFilter(action_value(default))
    native = native or native_scmp_arch()
    arches, skipped_arches = [], []
    for token in profile.arches_for(native):
        value = arch_value(token)
        if value is None:
            skipped_arches.append(token)
            continue
        # libseccomp answers EEXIST for an architecture added twice (the native one is built in).
        if not flt.exist_arch(value):
            flt.add_arch(value)
        arches.append(token)

    # The hot loop calls libseccomp directly: pyseccomp's add_rule rebuilds a ctypes array
    # type per call, which costs about as much as libseccomp's own work on large profiles.
    lib = pyseccomp._libseccomp
    handle = flt._filter
    resolved: dict[str, int] = {}
    unknown: dict[str, None] = {}
    skipped_default: list[int] = []
    killing: dict[str, None] = {}
    added = 0
    for rule in profile.syscalls:
        if not applies(rule, ctx):
            continue
        action = rule.effective_action
        if action == default:
            skipped_default.append(rule.index)
            continue
        value = action_value(action)
        groups = [(len(g), _conditions(g) if g else None) for g in arg_groups(rule)]
        for name in dict.fromkeys(rule.names):  # a name listed twice is one libseccomp rule
            nr = resolved.get(name)
            if nr is None:
                nr = resolved[name] = pyseccomp.resolve_syscall(pyseccomp.Arch.NATIVE, name)
            if nr == -1:  # __NR_SCMP_ERROR: unknown to this libseccomp
                unknown[name] = None
                continue
            if action.kind in KILLING:
                killing[name] = None
            for count, arr in groups:
                rc = lib.seccomp_rule_add_array(handle, value, nr, count, arr)
                if rc < 0:
                    raise OperationalError(
                        f"libseccomp refused the rule for {name} (syscalls[{rule.index}]): {os.strerror(-rc)}"
                    )
                added += 1
    always, sometimes = _killed(profile, ctx, killing)
    return Translation(
        flt, tuple(arches), tuple(skipped_arches), tuple(unknown), tuple(skipped_default), added,
        default, always, sometimes,
    )


#: Actions that end the process with SIGSYS (TRAP does too unless the program handles it).
KILLING = frozenset({"KILL_THREAD", "KILL_PROCESS", "TRAP"})


def _killed(profile: Profile, ctx: ProfileContext, names: dict[str, None]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(always, sometimes): the names among `names` (and execve) whose verdict kills without or
    with conditions."""
    asked = {**names, "execve": None}
    resolver = Resolver(profile, ctx, frozenset(asked))
    always, sometimes = [], []
    for name in asked:
        verdict = resolver.verdict(name)
        if not verdict.branches and verdict.fallback.kind in KILLING:
            always.append(name)
        elif verdict.fallback.kind in KILLING or any(a.kind in KILLING for a, _ in verdict.branches):
            sometimes.append(name)
    return tuple(always), tuple(sometimes)


def resolve_command(argv: Sequence[str]) -> str:
    """Absolute path of the program to exec (looked up before the filter is loaded)."""
    if not argv:
        raise UsageError("no command given (put it after --)")
    program = argv[0]
    path = program if "/" in program else shutil.which(program)
    if path is None or not os.path.exists(path):
        raise UsageError(f"command not found: {program}")
    return path


def run_under(
    translation: Translation,
    argv: Sequence[str],
    *,
    quiet_child: bool = False,
) -> int:
    """Fork, load the filter in the child, exec `argv`; return its exit status.

    A child killed by a signal gives 128 + the signal number, like a shell (SIGSYS, 31 on most
    architectures: 159), and one line on stderr names the signal and, for SIGSYS, the
    syscalls the profile kills (see `kill_message`).  When the exec itself fails (e.g. the
    profile refuses execve with an errno) the status is 126 (127 if not found) and the reason
    is reported on stderr.
    """
    path = resolve_command(argv)
    read_end, write_end = os.pipe2(os.O_CLOEXEC)
    devnull = os.open(os.devnull, os.O_RDWR) if quiet_child else -1
    pid = os.fork()
    if pid == 0:  # child: no Python-level cleanup may run here
        stage = "load"
        try:
            os.close(read_end)
            if quiet_child:
                for fd in (0, 1, 2):
                    os.dup2(devnull, fd)
            translation.load()
            stage = "exec"
            os.execv(path, list(argv))
        except OSError as exc:
            try:
                os.write(write_end, f"{stage}:{exc.errno}".encode())
            finally:
                os._exit(127 if exc.errno == errno.ENOENT else 126)
        except BaseException:
            os._exit(126)
        os._exit(126)
    os.close(write_end)
    if devnull >= 0:
        os.close(devnull)
    old = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        report = b""
        while chunk := os.read(read_end, 64):
            report += chunk
        os.close(read_end)
        _, status = os.waitpid(pid, 0)
    finally:
        signal.signal(signal.SIGINT, old)
    if report:
        stage, _, num = report.decode().partition(":")
        reason = os.strerror(int(num)) if num.isdigit() else num
        if stage == "load":
            raise OperationalError(f"could not load the seccomp filter: {reason}")
        import sys

        print(f"dockguard: cannot exec {path} under the profile: {reason}", file=sys.stderr)
    code = os.waitstatus_to_exitcode(status)
    if code < 0:
        import sys

        print(kill_message(-code, translation, argv[0]), file=sys.stderr)
        return 128 - code
    return code


def kill_message(sig: int, translation: Translation, program: str) -> str:
    """One line saying which signal ended the command and, for SIGSYS, what the profile kills."""
    try:
        name = signal.Signals(sig).name
    except ValueError:
        name = f"signal {sig}"
    text = f"dockguard: {program} was killed by {name} (signal {sig}; exit status {128 + sig} = 128 + {sig})"
    if sig != signal.SIGSYS:
        return text
    if "execve" in translation.always_killed:  # dockguard starts the command with execve
        return (f"{text}: a syscall denied by the profile with SCMP_ACT_KILL (execve is killed by "
                "this profile, so the command could not even start)")
    if translation.default.kind in KILLING:
        return (f"{text}: a syscall the profile does not allow (its defaultAction kills: "
                f"{translation.default.describe()})")
    listed = translation.always_killed + translation.sometimes_killed
    if listed:
        shown = ", ".join(listed[:10]) + (f" and {len(listed) - 10} more" if len(listed) > 10 else "")
        return f"{text}: a syscall denied by the profile with SCMP_ACT_KILL (it kills: {shown})"
    return f"{text}: the profile kills no syscall, so the signal came from elsewhere"
