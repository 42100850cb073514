"""Run the real dockguard CLI on hostile input and measure what it did.

`run_cli` starts ``python -m dockguard`` in a child process with HOME, the cache and the temp
dir inside a scratch directory, waits with a deadline, and reports the exit code, output, peak
RSS of the child (``wait4`` rusage, taken by a small launcher) and, with ``trace_writes=True``,
every path the child opened for writing, created, renamed or removed (from ``strace -f``), so
a test can assert that nothing outside its temp dirs was touched.
"""

from __future__ import annotations

import os
import re
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

#: The documented ceiling for peak memory of one dockguard process on any input (docs/security.md).
MAX_RSS_MIB = 512

_WRITE_FLAGS = re.compile(r"O_WRONLY|O_RDWR|O_CREAT|O_TRUNC")
_CALL = re.compile(r'^(?:\[pid\s+\d+\]\s+)?(?:\d+\s+)?(\w+)\((.*)$')
_STRING = re.compile(r'"((?:[^"\\]|\\.)*)"')
_MUTATING = {"creat", "rename", "renameat", "renameat2", "unlink", "unlinkat", "rmdir", "mkdir", "mkdirat",
             "mknod", "mknodat", "truncate", "link", "linkat", "symlink", "symlinkat", "chmod", "fchmodat",
             "chown", "fchownat", "lchown", "utimensat"}


@dataclass(frozen=True)
class CliRun:
    """What one dockguard process did."""

    code: int
    stdout: str
    stderr: str
    max_rss_mib: float
    wall_s: float
    writes: tuple[str, ...] = field(default=())

    @property
    def traceback(self) -> bool:
        """True when Python printed a traceback."""
        return "Traceback (most recent call last)" in self.stderr

    def writes_outside(self, *allowed: Path | str) -> list[str]:
        """Written paths that are not under any of `allowed` (nor harmless devices)."""
        roots = [os.path.realpath(a) for a in allowed]
        harmless = ("/dev/null", "/dev/tty", "/dev/pts/", "/proc/self/", "/dev/shm/")
        out = []
        for w in self.writes:
            real = os.path.realpath(w)
            if any(real == r or real.startswith(r.rstrip("/") + "/") for r in roots):
                continue
            if any(w.startswith(h) for h in harmless):
                continue
            out.append(w)
        return out


def run_cli(
    args: Sequence[str],
    *,
    scratch: Path,
    stdin: bytes | None = None,
    timeout: float = 120.0,
    trace_writes: bool = False,
    env: dict[str, str] | None = None,
    offline: bool = False,
) -> CliRun:
    """Run ``dockguard ARGS`` with its HOME/cache/TMPDIR inside `scratch`; never hangs past `timeout`.

    `offline`: in a network namespace of its own (``unshare --net``, no interface up), so that
    every connection fails at once and nothing leaves the machine.
    """
    scratch.mkdir(parents=True, exist_ok=True)
    home = scratch / "home"
    home.mkdir(exist_ok=True)
    child_env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "TMPDIR": str(scratch),
        "PYTHONDONTWRITEBYTECODE": "1",
        "LANG": "C.UTF-8",
    }
    if env:
        child_env.update(env)
    cmd = [sys.executable, "-m", "dockguard", *args]
    if offline:
        cmd = ["unshare", "--net", "--", *cmd]
    trace = scratch / "strace.out"
    if trace_writes:
        cmd = ["strace", "-f", "-qq", "-s", "4096", "-o", str(trace), "-e", "signal=none",
               "-e", "trace=%file", *cmd]
    # Linux charges a vfork()ed child with its parent's peak RSS when it execs, so a child
    # started straight from pytest would report pytest's size.  A small launcher process
    # forks the real child and reports that child's own peak RSS.
    rss_file = scratch / "maxrss"
    cmd = [sys.executable, "-S", "-c", _LAUNCHER, str(rss_file), *cmd]
    out_path, err_path = scratch / "stdout", scratch / "stderr"
    t0 = time.monotonic()
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        proc = subprocess.Popen(
            cmd, cwd=scratch, env=child_env, stdout=out, stderr=err,
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL, start_new_session=True,
        )
        if stdin is not None and proc.stdin is not None:
            try:
                proc.stdin.write(stdin)
                proc.stdin.close()
            except BrokenPipeError:
                pass
        status, _launcher_rusage = _wait(proc, timeout)
    wall = time.monotonic() - t0
    code = os.waitstatus_to_exitcode(status)
    writes = tuple(_written_paths(trace.read_text(errors="replace"), scratch)) if trace_writes else ()
    return CliRun(
        code=code,
        stdout=out_path.read_text(errors="replace"),
        stderr=err_path.read_text(errors="replace"),
        max_rss_mib=int(rss_file.read_text() or 0) / 1024,
        wall_s=wall,
        writes=writes,
    )


_LAUNCHER = """
import os, sys
pid = os.fork()
if pid == 0:
    try:
        os.execvp(sys.argv[2], sys.argv[2:])
    finally:
        os._exit(127)
_, status, usage = os.wait4(pid, 0)
with open(sys.argv[1], "w") as f:
    f.write(str(usage.ru_maxrss))
code = os.waitstatus_to_exitcode(status)
if code < 0:
    import signal
    signal.signal(-code, signal.SIG_DFL)
    os.kill(os.getpid(), -code)
sys.exit(code)
"""


def _wait(proc: subprocess.Popen[bytes], timeout: float) -> tuple[int, resource.struct_rusage]:
    deadline = time.monotonic() + timeout
    while True:
        pid, status, rusage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            return status, rusage
        if time.monotonic() > deadline:
            os.killpg(proc.pid, signal.SIGKILL)
            _, status, rusage = os.wait4(proc.pid, 0)
            proc.returncode = -9
            raise TimeoutError(f"dockguard did not finish within {timeout} s")
        time.sleep(0.02)


def _written_paths(trace: str, cwd: Path) -> list[str]:
    paths: list[str] = []
    for line in trace.splitlines():
        m = _CALL.match(line)
        if not m:
            continue
        call, rest = m.groups()
        names = [bytes(s, "utf-8").decode("unicode_escape") for s in _STRING.findall(rest)]
        if not names:
            continue
        if call in ("open", "openat", "openat2"):
            if not _WRITE_FLAGS.search(rest):
                continue
            targets = names[:1]
        elif call in _MUTATING:
            targets = names
        else:
            continue
        for t in targets:
            paths.append(t if t.startswith("/") else str(cwd / t))
    return paths
