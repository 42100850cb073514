"""Benchmark and inventory comparison for image coverage, dockguard vs Trivy.

1. ``--compare``: a docker-save tar holding real artifacts of every ecosystem the host has —
   the host's dpkg status, Debian's jars (``/usr/share/java``, followed links), Debian's
   gemspecs, this venv's site-packages, a cargo-auditable section on a real ELF (objcopy), a
   deps.json, a conda-meta record, the JDK ``release`` file and Python's ``patchlevel.h`` —
   inventoried by ``dockguard image scan --list-packages --format json`` and by ``trivy image
   --format cyclonedx``; prints per ecosystem: found by both / only dockguard / only Trivy, and
   the differences.
2. ``--bench``: a docker-save tar of at least 1 GiB with at least 300 jars (Debian's jars
   copied under many application directories, some inside Spring Boot style fat jars, plus
   incompressible filler); cold and warm scans, wall time and peak RSS (``wait4``), medians of
   ``--runs`` runs, dockguard and Trivy alternating in the same run.

Offline, Trivy refuses any image with a jar until it has downloaded its Java DB ("The first run
cannot skip downloading Java DB").  To let it run at all, the benchmark gives it a stand-in
Java DB: the schema of trivy-java-db with no rows and fresh metadata, and
``--skip-java-db-update``.  With it Trivy finds jars by their pom.properties and file names as
it would with the real DB, minus the SHA-1 lookups the empty DB cannot answer.

Usage: ``python bench/bench_image_coverage.py [--compare] [--bench] [--runs 3] [--keep DIR]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
JAVA = Path("/usr/share/java")


def find_trivy() -> str | None:
    return shutil.which("trivy") or next((str(p) for p in [REPO / "peers/venv/bin/trivy"] if p.is_file()), None)


def stand_in_java_db(cache: Path) -> None:
    """An empty trivy-java-db (schema only) with fresh metadata, so offline Trivy accepts jars."""
    d = cache / "java-db"
    d.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(d / "trivy-java.db")
    con.executescript(
        "CREATE TABLE IF NOT EXISTS artifacts(id INTEGER PRIMARY KEY, group_id TEXT, artifact_id TEXT);"
        "CREATE TABLE IF NOT EXISTS indices(artifact_id INTEGER, version TEXT, sha1 BLOB, archive_type TEXT);"
        "CREATE UNIQUE INDEX IF NOT EXISTS artifacts_idx ON artifacts(artifact_id, group_id);"
        "CREATE INDEX IF NOT EXISTS indices_artifact_idx ON indices(artifact_id);"
        "CREATE UNIQUE INDEX IF NOT EXISTS indices_sha1_idx ON indices(sha1);")
    con.commit()
    con.close()
    now = dt.datetime.now(dt.UTC)
    stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    (d / "metadata.json").write_text(json.dumps({
        "Version": 1, "NextUpdate": (now + dt.timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "UpdatedAt": stamp, "DownloadedAt": stamp}))


def trivy_cmd(trivy: str, tar: Path, cache: Path) -> list[str]:
    stand_in_java_db(cache)
    return [trivy, "image", "--quiet", "--offline-scan", "--skip-java-db-update", "--input", str(tar),
            "--format", "cyclonedx", "--cache-dir", str(cache)]


def run(cmd: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Wall seconds, peak RSS MiB and stdout of one child process."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    assert proc.stdout is not None
    out = proc.stdout.read()
    _pid, status, usage = os.wait4(proc.pid, 0)
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise SystemExit(f"{cmd[:4]} failed with {code}")
    return time.perf_counter() - start, usage.ru_maxrss / 1024, out.decode("utf-8", "replace")


# --- image building ------------------------------------------------------------------------------

def _layer(fill: Callable[[tarfile.TarFile], None], path: Path) -> None:
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        fill(tar)


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes, mode: int = 0o644) -> None:
    ti = tarfile.TarInfo(name)
    ti.size = len(data)
    ti.mode = mode
    tar.addfile(ti, io.BytesIO(data))


def _add_file(tar: tarfile.TarFile, name: str, src: Path) -> None:
    ti = tarfile.TarInfo(name)
    ti.size = src.stat().st_size
    ti.mode = 0o644
    with open(src, "rb") as f:
        tar.addfile(ti, f)


def docker_save(out: Path, layer_files: list[Path], tag: str) -> None:
    """A docker-save tar (uncompressed layers) from layer tars on disk, streamed."""
    import hashlib

    diff_ids, names = [], []
    for p in layer_files:
        h = hashlib.sha256()
        with open(p, "rb") as f:
            while chunk := f.read(1 << 20):
                h.update(chunk)
        diff_ids.append("sha256:" + h.hexdigest())
        names.append(f"blobs/sha256/{h.hexdigest()}")
    cfg = json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                      "rootfs": {"type": "layers", "diff_ids": diff_ids},
                      "history": [{"created_by": f"layer {i}"} for i in range(len(diff_ids))]}).encode()
    cfg_name = f"blobs/sha256/{hashlib.sha256(cfg).hexdigest()}"
    manifest = json.dumps([{"Config": cfg_name, "RepoTags": [tag], "Layers": names}]).encode()
    with tarfile.open(out, "w") as tar:
        for p, n in zip(layer_files, names, strict=True):
            _add_file(tar, n, p)
        _add_bytes(tar, cfg_name, cfg)
        _add_bytes(tar, "manifest.json", manifest)


def real_jars() -> list[Path]:
    """Debian's versioned jars (links followed, each file once)."""
    seen: set[Path] = set()
    out = []
    for p in sorted(JAVA.glob("*.jar")):
        real = p.resolve()
        if real not in seen and real.is_file() and zipfile.is_zipfile(real):
            seen.add(real)
            out.append(real)
    return out


def fat_jar(libs: list[Path], n: int) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\r\nMain-Class: "
                   "org.springframework.boot.loader.JarLauncher\r\n\r\n")
        z.writestr(f"META-INF/maven/com.example/svc{n}/pom.properties",
                   f"groupId=com.example\nartifactId=svc{n}\nversion=1.{n}.0\n")
        for lib in libs:
            z.write(lib, f"BOOT-INF/lib/{lib.name}", compress_type=zipfile.ZIP_STORED)
    return buf.getvalue()


def build_bench_image(tmp: Path, size: int, copies: int) -> tuple[Path, int]:
    jars = real_jars()
    layers = []
    filler = os.urandom(8 << 20)

    def base(tar: tarfile.TarFile) -> None:
        _add_bytes(tar, "etc/os-release", b'ID=debian\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\n')
        _add_bytes(tar, "etc/debian_version", b"12.11\n")
        written = 0
        i = 0
        while written < size:
            _add_bytes(tar, f"opt/data/blob{i:04d}.bin", filler[: (i % 7 + 1) << 20] + i.to_bytes(4, "big"))
            written += ((i % 7 + 1) << 20)
            i += 1

    count = 0

    def apps(tar: tarfile.TarFile) -> None:
        nonlocal count
        for c in range(copies):
            for jar in jars:
                _add_file(tar, f"srv/app{c}/lib/{jar.name}", jar)
                count += 1

    def fats(tar: tarfile.TarFile) -> None:
        nonlocal count
        for n in range(copies * 2):
            libs = jars[n % len(jars): n % len(jars) + 8]
            _add_bytes(tar, f"srv/fat{n}/app.jar", fat_jar(libs, n))
            count += 1 + len(libs)

    for i, fill in enumerate((base, apps, fats)):
        p = tmp / f"layer{i}.tar"
        _layer(fill, p)
        layers.append(p)
    out = tmp / "bench.tar"
    docker_save(out, layers, "bench/jars:1")
    for p in layers:
        p.unlink()
    return out, count


def build_compare_image(tmp: Path) -> Path:
    layers = []

    def os_layer(tar: tarfile.TarFile) -> None:
        _add_file(tar, "etc/os-release", Path("/etc/os-release"))
        _add_file(tar, "etc/debian_version", Path("/etc/debian_version"))  # Trivy's Debian detection reads it
        _add_file(tar, "var/lib/dpkg/status", Path("/var/lib/dpkg/status"))

    def lang(tar: tarfile.TarFile) -> None:
        for jar in real_jars():
            _add_file(tar, f"opt/app/lib/{jar.name}", jar)
        for spec in Path("/usr/share/rubygems-integration").glob("*/specifications/*.gemspec"):
            _add_file(tar, f"usr/local/bundle/specifications/{spec.name}", spec)
        site = Path(sys.prefix) / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"
        for meta in site.glob("*.dist-info/METADATA"):
            _add_file(tar, f"usr/local/lib/python3.11/site-packages/{meta.parent.name}/METADATA", meta)
        _add_bytes(tar, "app/Web.deps.json", json.dumps({"libraries": {
            "Web/1.0.0": {"type": "project"}, "Newtonsoft.Json/13.0.1": {"type": "package"}}}).encode())
        _add_bytes(tar, "opt/conda/conda-meta/openssl-3.0.13-h7f8727e_0.json",
                   json.dumps({"name": "openssl", "version": "3.0.13", "build": "h7f8727e_0"}).encode())
        for release in Path("/usr/lib/jvm").glob("*/release"):
            _add_file(tar, "opt/java/openjdk/release", release)
            break
        objcopy = shutil.which("objcopy")
        if objcopy:
            dep = tmp / "dep.z"
            dep.write_bytes(zlib.compress(json.dumps({"packages": [
                {"name": "app", "version": "0.1.0", "source": "local", "root": True},
                {"name": "smallvec", "version": "1.6.0", "source": "crates.io"}]}).encode()))
            subprocess.run([objcopy, "--add-section", f".dep-v0={dep}", "/bin/true", str(tmp / "rustapp")],
                           check=True)
            ti = tarfile.TarInfo("usr/local/bin/rustapp")
            ti.size = (tmp / "rustapp").stat().st_size
            ti.mode = 0o755
            with open(tmp / "rustapp", "rb") as f:
                tar.addfile(ti, f)

    for i, fill in enumerate((os_layer, lang)):
        p = tmp / f"c{i}.tar"
        _layer(fill, p)
        layers.append(p)
    out = tmp / "compare.tar"
    docker_save(out, layers, "compare/all:1")
    return out


# --- comparison ------------------------------------------------------------------------------------

def _norm(ptype: str, name: str, version: str) -> tuple[str, str, str]:
    if ptype == "pypi":
        name = name.lower().replace("_", "-").replace(".", "-")
    return ptype, name, version


def dockguard_set(tar: Path, env: dict[str, str]) -> set[tuple[str, str, str]]:
    _w, _r, out = run([sys.executable, "-m", "dockguard", "image", "scan", "--list-packages", "--format", "json",
                       "--no-cache", str(tar)], env)
    doc = json.loads(out)
    return {_norm(p["type"], p["name"], p["version"]) for p in doc["packages"]}


def trivy_set(trivy: str, tar: Path, cache: Path, env: dict[str, str]) -> set[tuple[str, str, str]]:
    from urllib.parse import unquote

    _w, _r, out = run(trivy_cmd(trivy, tar, cache), env)
    found = set()
    for c in json.loads(out).get("components", []):
        purl = c.get("purl", "")
        if not purl.startswith("pkg:"):
            continue
        body = unquote(purl[4:].split("?", 1)[0])
        ptype, _, rest = body.partition("/")
        path, _, version = rest.rpartition("@")
        if ptype == "maven":
            name = path.replace("/", ":")
        elif ptype in ("deb", "rpm", "apk"):
            name = path.split("/", 1)[-1]
            version = version.split(":", 1)[-1] if version.count(":") else version
        else:
            name = path
        found.add(_norm(ptype, name, version))
    return found


def _deb_no_epoch(items: set[tuple[str, str, str]]) -> set[tuple[str, str, str]]:
    """dockguard keeps the epoch in a deb's version (``1:2.38``); Trivy's purl moves it to a qualifier."""
    return {(t, n, v.split(":", 1)[1] if t == "deb" and ":" in v else v) for t, n, v in items}


def compare(tmp: Path, env: dict[str, str]) -> None:
    tar = build_compare_image(tmp)
    ours = _deb_no_epoch(dockguard_set(tar, env))
    trivy = find_trivy()
    theirs = trivy_set(trivy, tar, tmp / "trivy-cache", env) if trivy else set()
    kinds = sorted({t for t, _, _ in ours | theirs})
    print(f"{'ecosystem':<10} {'both':>6} {'only dockguard':>15} {'only trivy':>11}")
    for kind in kinds:
        a = {x for x in ours if x[0] == kind}
        b = {x for x in theirs if x[0] == kind}
        print(f"{kind:<10} {len(a & b):>6} {len(a - b):>15} {len(b - a):>11}")
    for kind in kinds:
        a = {x for x in ours if x[0] == kind}
        b = {x for x in theirs if x[0] == kind}
        for label, diff in (("only dockguard", a - b), ("only trivy", b - a)):
            for item in sorted(diff)[:15]:
                print(f"  {label}: {item}")
            if len(diff) > 15:
                print(f"  {label}: … {len(diff) - 15} more")


# --- benchmark -------------------------------------------------------------------------------------

def bench(tmp: Path, env: dict[str, str], runs: int, size: int, copies: int) -> None:
    tar, jars = build_bench_image(tmp, size, copies)
    print(f"image: {tar.stat().st_size / (1 << 30):.2f} GiB docker-save tar, {jars} jars (nested included)")
    trivy = find_trivy()
    dg = [sys.executable, "-m", "dockguard", "image", "scan", "--list-packages", "--format", "json"]
    cold_dg: list[tuple[float, float]] = []
    cold_tv: list[tuple[float, float]] = []
    counts: tuple[int, int] = (0, 0)
    for i in range(runs):
        env["DOCKGUARD_CACHE_DIR"] = str(tmp / f"dg-cold-{i}")
        w, r, out = run([*dg, str(tar)], env)
        cold_dg.append((w, r))
        n_dg = len(json.loads(out)["packages"])
        if trivy:
            w, r, out = run(trivy_cmd(trivy, tar, tmp / f"tv-cold-{i}"), env)
            cold_tv.append((w, r))
            counts = (n_dg, len(json.loads(out).get("components", [])))
        shutil.rmtree(tmp / f"dg-cold-{i}", ignore_errors=True)
        shutil.rmtree(tmp / f"tv-cold-{i}", ignore_errors=True)
    env["DOCKGUARD_CACHE_DIR"] = str(tmp / "dg-warm")
    run([*dg, str(tar)], env)
    warm_dg = [run([*dg, str(tar)], env)[:2] for _ in range(runs)]
    warm_tv: list[tuple[float, float]] = []
    if trivy:
        run(trivy_cmd(trivy, tar, tmp / "tv-warm"), env)
        warm_tv = [run(trivy_cmd(trivy, tar, tmp / "tv-warm"), env)[:2] for _ in range(runs)]

    def med(xs: list[tuple[float, float]]) -> tuple[float, float]:
        return statistics.median(x[0] for x in xs), statistics.median(x[1] for x in xs)

    for label, xs in (("dockguard cold", cold_dg), ("trivy cold", cold_tv), ("dockguard warm", warm_dg),
                      ("trivy warm", warm_tv)):
        if xs:
            w, r = med(xs)
            print(f"{label:<16} median wall {w:7.2f} s   peak RSS {r:7.1f} MiB   (n={len(xs)})")
    if trivy:
        (dw, dr), (tw, tr) = med(cold_dg), med(cold_tv)
        print(f"cold ratio dockguard/trivy: wall {dw / tw:.2f}x, peak RSS {dr / tr:.2f}x; "
              f"components: dockguard {counts[0]} packages, trivy {counts[1]} components")
        (dw, dr), (tw, tr) = med(warm_dg), med(warm_tv)
        print(f"warm ratio dockguard/trivy: wall {dw / tw:.2f}x, peak RSS {dr / tr:.2f}x")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--compare", action="store_true")
    ap.add_argument("--bench", action="store_true")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--size-mib", type=int, default=1024, help="filler in the benchmark image")
    ap.add_argument("--copies", type=int, default=3, help="copies of Debian's jars")
    ap.add_argument("--keep", metavar="DIR", help="work in DIR and keep it")
    args = ap.parse_args()
    if not (args.compare or args.bench):
        args.compare = args.bench = True
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    tmp = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="dg-bench-cov-"))
    tmp.mkdir(parents=True, exist_ok=True)
    try:
        if args.compare:
            compare(tmp, env)
        if args.bench:
            bench(tmp, env, args.runs, args.size_mib << 20, args.copies)
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

