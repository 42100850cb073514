"""``seccomp learn``: trace a command with strace and write an allow-list profile for it.

The trace only sees the code paths the command exercised, and never the container
runtime's own syscalls between loading the filter and exec'ing the command (runc init:
capset, setgroups, setuid, fchdir, Go runtime …), so a fixed runtime baseline is merged in.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from dockguard.errors import UsageError
from dockguard.jsontypes import JsonObject
from dockguard.seccomp.effective import ProfileContext, Resolver
from dockguard.seccomp.profile import Profile
from dockguard.seccomp.syscalls import ENOSYS, KNOWN_SYSCALLS, MODERN_SYSCALLS, SUB_ARCHES

#: Syscalls runc (a Go program) and the dynamic loader make after the filter is loaded and
#: before or while exec'ing the container's command; a trace of the command never shows them.
RUNTIME_BASELINE: frozenset[str] = frozenset(
    """
    access arch_prctl brk capget capset chdir close close_range dup dup2 dup3 epoll_create1
    epoll_ctl epoll_pwait epoll_wait execve exit exit_group faccessat faccessat2 fchdir
    fchown fcntl fstat fstatfs futex getcwd getdents64 getegid geteuid getgid getpid getppid
    getrandom getrlimit gettid getuid lseek madvise mmap mprotect munmap nanosleep
    newfstatat openat pipe2 prctl pread64 prlimit64 read readlinkat restart_syscall rseq
    rt_sigaction rt_sigprocmask rt_sigreturn sched_getaffinity sched_yield set_robust_list
    set_tid_address setgid setgroups setresgid setresuid setuid sigaltstack statx tgkill
    uname write
    """.split()  # noqa: SIM905 - a word list reads better than 500 quoted strings
)

#: Docker's argument filter for clone: no CLONE_NEW* flag (threads and fork still work).
_CLONE_NS_MASK = 0x7E020000

_LINE = re.compile(r"^(?:\[pid\s+\d+\]\s+|\d+\s+)?(?:<\.\.\.\s+([A-Za-z0-9_]+)\s+resumed>|([A-Za-z0-9_]+)\()")


def parse_strace(text: str | Iterable[str]) -> tuple[set[str], set[str]]:
    """Syscall names in an ``strace -f`` log (its text, or its lines as a stream, so that the
    log of a long run is never held in memory): (known names, names no architecture knows)."""
    known: set[str] = set()
    other: set[str] = set()
    for line in text.splitlines() if isinstance(text, str) else text:
        m = _LINE.match(line)
        if not m:
            continue
        name = m.group(1) or m.group(2)
        (known if name in KNOWN_SYSCALLS else other).add(name)
    return known, other


@dataclass(frozen=True)
class Trace:
    """What one traced run produced."""

    syscalls: frozenset[str]
    unrecognised: frozenset[str]
    exit_code: int


def strace_path() -> str:
    """The strace binary, or `UsageError` (exit 2) when it is not installed."""
    path = shutil.which("strace")
    if path is None:
        raise UsageError("strace is not installed (apt-get install strace)")
    return path


def trace_command(argv: Sequence[str]) -> Trace:
    """Run `argv` under ``strace -f`` and collect the syscall names it made."""
    strace = strace_path()
    if not argv:
        raise UsageError("no command given (put it after --)")
    with tempfile.TemporaryDirectory(prefix="dockguard-learn-") as tmp:
        log = os.path.join(tmp, "trace")
        proc = subprocess.run([strace, "-f", "-qq", "-e", "trace=all", "-o", log, "--", *argv], check=False)
        try:
            with open(log, encoding="utf-8", errors="replace") as f:
                known, other = parse_strace(f)
        except FileNotFoundError:
            known, other = set(), set()
    if not known:
        raise UsageError(f"strace recorded nothing (exit status {proc.returncode}); is {argv[0]} runnable?")
    code = proc.returncode
    return Trace(frozenset(known), frozenset(other), 128 - code if code < 0 else code)


def _clone_rule(native: str) -> dict[str, object]:
    index = 1 if native in ("SCMP_ARCH_S390X", "SCMP_ARCH_S390") else 0
    return {
        "names": ["clone"],
        "action": "SCMP_ACT_ALLOW",
        "args": [{"index": index, "value": _CLONE_NS_MASK, "op": "SCMP_CMP_MASKED_EQ"}],
        "comment": "threads and fork, but no new namespaces (as Docker's default)",
    }


def build_profile(
    observed: Iterable[str],
    native: str,
    command: Sequence[str],
    base: Profile | None = None,
    base_data: JsonObject | None = None,
    arch: str = "amd64",
) -> tuple[dict[str, object], list[str]]:
    """The learned profile as JSON data, and the names it adds to `base` (or allows at all).

    Without a base: defaultAction ERRNO (EPERM), one ALLOW rule with the observed names plus
    the runtime baseline, clone with Docker's namespace filter, and ENOSYS for clone3 (even
    when observed) and the modern syscalls glibc falls back from.  With a base: the base
    profile unchanged plus one ALLOW rule for the observed names the base does not allow
    (with Docker's default capabilities).
    """
    observed = set(observed)
    cmd = " ".join(command)
    if base is not None and base_data is not None:
        resolver = Resolver(base, ProfileContext(arch))
        missing = sorted(n for n in observed - {"clone", "clone3"} if not resolver.verdict(n).allowed)
        data: dict[str, object] = dict(base_data)
        syscalls = base_data.get("syscalls")
        extended: list[object] = list(syscalls) if isinstance(syscalls, list) else []
        if missing:
            extended.append(
                {
                    "names": missing,
                    "action": "SCMP_ACT_ALLOW",
                    "comment": f"added by dockguard seccomp learn: used by `{cmd}`",
                }
            )
        clone = resolver.verdict("clone")
        if "clone" in observed and not clone.allowed and not clone.branches:
            extended.append(_clone_rule(native))
            missing.append("clone")
        data["syscalls"] = extended
        return data, missing
    allowed = sorted((observed | RUNTIME_BASELINE) - {"clone", "clone3"})
    rules: list[dict[str, object]] = [
        {
            "names": allowed,
            "action": "SCMP_ACT_ALLOW",
            "comment": (
                f"learned by dockguard from `{cmd}` ({len(observed)} syscalls observed) plus the "
                "container-runtime baseline; covers only the code paths that run exercised"
            ),
        },
        _clone_rule(native),
    ]
    # clone3 gets ENOSYS even when observed: its flags cannot be filtered, and glibc then
    # falls back to clone, which the rule above filters.
    enosys = sorted({"clone3", *MODERN_SYSCALLS} - set(allowed))
    if enosys:
        rules.append(
            {
                "names": enosys,
                "action": "SCMP_ACT_ERRNO",
                "errnoRet": ENOSYS,
                "comment": "ENOSYS so that glibc falls back to older syscalls",
            }
        )
    data = {
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": 1,
        "archMap": [{"architecture": native, "subArchitectures": list(SUB_ARCHES.get(native, ()))}],
        "syscalls": rules,
    }
    return data, sorted(set(allowed))
