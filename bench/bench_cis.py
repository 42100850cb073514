"""Benchmark `dockguard bench` end to end on a private dockerd with N containers.

Usage: python bench/bench_cis.py [--containers 100] [--runs 5] [--scale 1000]

Starts a private dockerd (temp dir, no bridge, no iptables), runs N busybox containers with a
mix of options, then times `dockguard bench` as a whole process (interpreter start included),
median of --runs.  With DOCKER_BENCH_DIR pointing at a docker-bench-security checkout, times
`sh docker-bench-security.sh` the same way and prints the ratio.  Prints figures; asserts
nothing (performance goals are read, not enforced by tests).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.integration.dockerd import cleanup_root, import_busybox, start_daemon  # noqa: E402

OPTION_MIX: list[dict[str, Any]] = [  # keyword arguments of docker's create_container
    {},
    {"user": "app", "host_config": {"read_only": True, "mem_limit": "32m", "pids_limit": 50}},
    {"user": "0:0", "host_config": {"cap_add": ["NET_ADMIN"], "pid_mode": "host"}},
    {"host_config": {"security_opt": ["no-new-privileges"], "cpu_shares": 256}},
    {"host_config": {"binds": {"/etc": {"bind": "/hostetc", "mode": "ro"}}, "network_mode": "host"}},
]


def start_containers(api: Any, image: str, n: int, prefix: str, offset: int = 0) -> None:
    def one(i: int) -> None:
        spec = dict(OPTION_MIX[i % len(OPTION_MIX)])
        hc = api.create_host_config(**spec.pop("host_config", {}))
        c = api.create_container(image, ["sleep", "86400"], name=f"{prefix}{i}", host_config=hc, **spec)
        api.start(c)

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(one, range(offset, offset + n)))


def time_cmd(cmd: list[str], env: dict[str, str], runs: int, cwd: str | None = None) -> list[float]:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        p = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=cwd)
        times.append(time.perf_counter() - t0)
        if p.returncode not in (0, 1):
            raise SystemExit(f"{cmd[0]} failed ({p.returncode}): {p.stderr.decode()[-2000:]}")
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--containers", type=int, default=100)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--scale", type=int, default=0, help="also measure at this many containers (e.g. 1000)")
    args = ap.parse_args()

    root = Path(tempfile.mkdtemp(prefix="dg-bench-"))
    daemon = start_daemon(root)
    try:
        api = daemon.api
        image = import_busybox(api)
        env = dict(os.environ, DOCKER_HOST=daemon.url)
        dg = [sys.executable, "-m", "dockguard", "bench", "-b"]
        results: dict[int, float] = {}

        t0 = time.perf_counter()
        start_containers(api, image, args.containers, "c")
        print(f"started {args.containers} containers in {time.perf_counter() - t0:.1f} s")
        t = time_cmd(dg, env, args.runs)
        results[args.containers] = statistics.median(t)
        print(
            f"dockguard bench, {args.containers} containers: median {results[args.containers]:.3f} s "
            f"(runs: {', '.join(f'{x:.3f}' for x in t)}), "
            f"{results[args.containers] / args.containers * 1000:.2f} ms per container"
        )

        bench_dir = os.environ.get("DOCKER_BENCH_DIR")
        if bench_dir:
            script = Path(bench_dir) / "docker-bench-security.sh"
            db_runs = max(1, min(args.runs, 3))
            tdb = time_cmd(["sh", str(script), "-b", "-l", str(root / "db.log")], env, db_runs, cwd=bench_dir)
            med = statistics.median(tdb)
            print(
                f"docker-bench-security, {args.containers} containers: median {med:.2f} s "
                f"(runs: {', '.join(f'{x:.2f}' for x in tdb)})"
            )
            print(f"ratio docker-bench / dockguard: {med / results[args.containers]:.1f}x")
        else:
            print("DOCKER_BENCH_DIR not set: docker-bench-security not timed")

        if args.scale > args.containers:
            extra = args.scale - args.containers
            t0 = time.perf_counter()
            start_containers(api, image, extra, "c", offset=args.containers)
            print(f"started {extra} more containers in {time.perf_counter() - t0:.1f} s")
            t = time_cmd(dg, env, args.runs)
            results[args.scale] = statistics.median(t)
            print(
                f"dockguard bench, {args.scale} containers: median {results[args.scale]:.3f} s "
                f"(runs: {', '.join(f'{x:.3f}' for x in t)}), "
                f"{results[args.scale] / args.scale * 1000:.2f} ms per container"
            )
            n0, n1 = args.containers, args.scale
            slope = (results[n1] - results[n0]) / (n1 - n0) * 1000
            print(f"marginal cost: {slope:.2f} ms per extra container (linear if close to the per-container figure)")
    finally:
        daemon.stop()
        cleanup_root(root)


if __name__ == "__main__":
    main()
