"""Benchmark: translate the full moby default profile to libseccomp rules and load it; and
lint profiles of hostile size.

Each sample runs in a forked child (a loaded filter cannot be removed) and reports its
timings through a pipe.  Printed: parse (in-process), translate, load and translate+load
medians, plus a floor measured the same way with the rules pre-resolved and added straight
through libseccomp, so that dockguard's own overhead is visible.  Target: translate + load
≤ 10 ms median.

Hostile sizes (issue 9: one rule of 100k names took 16 s to lint, 1M about 27 min): the real
CLI ``dockguard seccomp lint`` / ``explain`` on one rule of 100k, 200k and 1M names (duplicates
of ``read`` and made-up names), wall time and peak RSS from ``wait4``, and the 200k/100k time
ratio (≈ 2 for linear work, ≈ 4 for quadratic).

Usage: ``python bench/bench_seccomp.py [--hostile-only]``.
"""

from __future__ import annotations

import json
import os
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pyseccomp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

from tests.conftest import REFERENCE  # noqa: E402

from dockguard.seccomp.apply import action_value, translate  # noqa: E402
from dockguard.seccomp.effective import ProfileContext, applies, native_arch  # noqa: E402
from dockguard.seccomp.profile import Profile, parse_profile  # noqa: E402

RUNS = 40
TARGET_MS = 10.0


def in_child(work: Callable[[], tuple[float, float]]) -> tuple[float, float]:
    """Run `work` in a forked child; return its two timings (ms)."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.write(w, struct.pack("dd", *work()))
        finally:
            os._exit(0)
    os.close(w)
    data = os.read(r, 16)
    os.close(r)
    os.waitpid(pid, 0)
    a, b = struct.unpack("dd", data)
    return a, b


def dockguard_sample(profile: Profile, ctx: ProfileContext) -> tuple[float, float]:
    t0 = time.perf_counter()
    tr = translate(profile, ctx)
    t1 = time.perf_counter()
    tr.load()
    t2 = time.perf_counter()
    return (t1 - t0) * 1000, (t2 - t1) * 1000


def floor_sample(profile: Profile, ctx: ProfileContext) -> tuple[float, float]:
    """The same rules added with everything precomputed: libseccomp's own cost."""
    lib = pyseccomp._libseccomp
    flt = pyseccomp.SyscallFilter(action_value(profile.default))
    for arch in (pyseccomp.Arch.X86, pyseccomp.Arch.X32):
        flt.add_arch(arch)
    plan = []
    for rule in profile.syscalls:
        if applies(rule, ctx) and not rule.args and rule.effective_action != profile.default:
            value = action_value(rule.effective_action)
            for name in rule.names:
                nr = pyseccomp.resolve_syscall(pyseccomp.Arch.NATIVE, name)
                if nr != -1:
                    plan.append((value, nr))
    t0 = time.perf_counter()
    for value, nr in plan:
        lib.seccomp_rule_add_array(flt._filter, value, nr, 0, None)
    t1 = time.perf_counter()
    flt.load()
    t2 = time.perf_counter()
    return (t1 - t0) * 1000, (t2 - t1) * 1000


def cli(args: list[str]) -> tuple[float, float, int]:
    """Run ``dockguard ARGS``; (wall seconds, peak RSS MiB, exit code)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "dockguard", *args], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    return time.perf_counter() - t0, usage.ru_maxrss / 1024, os.waitstatus_to_exitcode(status)


def hostile() -> None:
    """Lint and explain one rule of N names through the CLI."""
    with tempfile.TemporaryDirectory() as tmp:
        print("hostile sizes: one rule of N names, real CLI (wall s, peak RSS MiB)")
        makers: tuple[tuple[str, Callable[[int], str]], ...] = (("dup 'read'", lambda i: "read"),
                                                                 ("made-up", lambda i: f"x{i}"))
        for kind, make in makers:
            times: dict[int, float] = {}
            for n in (100_000, 200_000, 1_000_000 if kind.startswith("dup") else 700_000):
                path = Path(tmp) / f"p{n}.json"
                path.write_text(json.dumps({"defaultAction": "SCMP_ACT_ERRNO",
                                            "syscalls": [{"names": [make(i) for i in range(n)],
                                                          "action": "SCMP_ACT_ALLOW"}]}))
                lint_s, lint_rss, _ = cli(["seccomp", "lint", str(path)])
                expl_s, expl_rss, _ = cli(["seccomp", "explain", str(path)])
                times[n] = lint_s
                print(f"  {kind:<10} {n:>9,} names ({path.stat().st_size / 2**20:4.1f} MiB)  "
                      f"lint {lint_s:6.2f} s {lint_rss:6.0f} MiB   explain {expl_s:6.2f} s {expl_rss:6.0f} MiB")
            print(f"  {kind:<10} lint time 200k / 100k = {times[200_000] / times[100_000]:.2f} "
                  "(2 = linear, 4 = quadratic; includes ~0.2 s start-up)")


def main() -> int:
    if "--hostile-only" in sys.argv:
        hostile()
        return 0
    text = (REFERENCE / "seccomp" / "moby-default.json").read_text()
    parse_times = []
    for _ in range(RUNS):
        t0 = time.perf_counter()
        result = parse_profile(text)
        parse_times.append((time.perf_counter() - t0) * 1000)
    profile = result.profile
    assert profile is not None
    ctx = ProfileContext(native_arch())
    ours = [in_child(lambda: dockguard_sample(profile, ctx)) for _ in range(RUNS)]
    floor = [in_child(lambda: floor_sample(profile, ctx)) for _ in range(RUNS)]

    def med(xs: list[float]) -> float:
        return statistics.median(xs)

    tr, ld = [a for a, _ in ours], [b for _, b in ours]
    total = [a + b for a, b in ours]
    f_total = [a + b for a, b in floor]
    print(f"moby default profile: {len(profile.syscalls)} rules, {len(profile.names())} names, arch {ctx.arch}")
    print(f"parse + validate        median {med(parse_times):6.2f} ms")
    print(f"translate               median {med(tr):6.2f} ms")
    print(f"load (seccomp_load)     median {med(ld):6.2f} ms")
    print(
        f"translate + load        median {med(total):6.2f} ms  "
        f"(p90 {sorted(total)[int(RUNS * 0.9)]:.2f} ms, "
        f"target ≤ {TARGET_MS:.0f} ms)"
    )
    print(f"libseccomp floor        median {med(f_total):6.2f} ms  (rules pre-resolved, unconditional only)")
    print(f"ratio to floor          {med(total) / med(f_total):6.2f}x")
    hostile()
    return 0  # figures are read, not enforced


if __name__ == "__main__":
    raise SystemExit(main())
