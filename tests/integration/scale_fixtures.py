"""Real parts for the scale tests: a registry full of images that share base layers, a private
PostgreSQL server, a Dask scheduler with worker processes, and a small advisory database.

Images are pushed with the registry helpers' HTTP push (real layers: the static busybox of
``busybox-static`` as the base, Python distributions as dist-info layers, one small layer of
its own per image), which is much faster than building each one in a dockerd; a few are
pushed from the private dockerd with ``docker push`` (`push_from_dockerd`).
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from tests.conftest import REFERENCE
from tests.integration.dockerd import busybox_tar, free_port
from tests.integration.registry import push_blob, push_index, tar_of

SITE = "usr/local/lib/python3.11/site-packages"
# Versions that the PyPA advisories in the reference data list as affected.
DISTS = {"jinja2": "2.10", "requests": "2.19.1", "urllib3": "1.24.1"}
STACKS: tuple[tuple[str, ...], ...] = (
    ("jinja2",), ("requests", "urllib3"), ("urllib3",), ("jinja2", "requests", "urllib3"), (),
)
"""The Python layer of image i is built from STACKS[i % len(STACKS)]."""


def metadata(name: str, version: str) -> bytes:
    """A dist-info METADATA file."""
    return f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode()


def python_layer(names: tuple[str, ...]) -> bytes:
    """A layer holding the dist-info directories of `names` at their DISTS versions."""
    return tar_of({f"{SITE}/{n}-{DISTS[n]}.dist-info/METADATA": metadata(n, DISTS[n]) for n in names}
                  | {f"{SITE}/.stack": ",".join(names).encode()})


def own_layer(i: int) -> bytes:
    """A small layer only image `i` has."""
    return tar_of({f"srv/app-{i}/main.txt": f"application {i}\n".encode() * (1 + i % 7)})


@dataclass
class PushedImage:
    """One image in the test registry."""

    repository: str
    tag: str
    digest: str
    diff_ids: list[str]
    stack: tuple[str, ...]


@dataclass
class Fleet:
    """What `push_fleet` pushed."""

    images: list[PushedImage] = field(default_factory=list)
    index_tags: list[tuple[str, str]] = field(default_factory=list)   # (repository, tag) of indexes
    arm_only: list[tuple[str, str]] = field(default_factory=list)     # tags without an amd64 image

    @property
    def distinct_diff_ids(self) -> set[str]:
        return {d for i in self.images for d in i.diff_ids}

    @property
    def digests(self) -> set[str]:
        return {i.digest for i in self.images}


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class Pusher:
    """Pushes images over HTTP, uploading each blob only once per repository."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.session = requests.Session()
        self.session.trust_env = False
        self._have: set[tuple[str, str]] = set()
        self._gz: dict[bytes, bytes] = {}

    def blob(self, repo: str, data: bytes) -> str:
        digest = _digest(data)
        if (repo, digest) not in self._have:
            push_blob(self.session, self.base, repo, data)
            self._have.add((repo, digest))
        return digest

    def image(self, repo: str, tag: str, layer_tars: list[bytes], architecture: str = "amd64",
              *, tag_manifest: bool = True) -> tuple[str, bytes, list[str]]:
        diff_ids = [_digest(t) for t in layer_tars]
        layers = []
        for t in layer_tars:
            blob = self._gz.get(t)
            if blob is None:
                blob = self._gz[t] = gzip.compress(t, compresslevel=1, mtime=0)
            layers.append({"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                           "size": len(blob), "digest": self.blob(repo, blob)})
        config = json.dumps({
            "architecture": architecture, "os": "linux",
            "config": {"Env": ["PATH=/bin"], "User": "1000"},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
            "history": [{"created_by": f"layer {n}"} for n in range(len(layer_tars))],
        }).encode()
        manifest = json.dumps({
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
                       "size": len(config), "digest": self.blob(repo, config)},
            "layers": layers,
        }).encode()
        digest = _digest(manifest)
        r = self.session.put(f"{self.base}/v2/{repo}/manifests/{tag if tag_manifest else digest}", data=manifest,
                             headers={"Content-Type": "application/vnd.docker.distribution.manifest.v2+json"})
        assert r.status_code == 201, (r.status_code, r.text)
        return digest, manifest, diff_ids

    def close(self) -> None:
        self.session.close()


def push_fleet(base: str, count: int, *, repos: int = 5, with_indexes: bool = True) -> Fleet:
    """`count` amd64 images over `repos` repositories: busybox base + Python layer + own layer.

    With `with_indexes`, two tags are OCI indexes (amd64 + arm64 entries) and one tag is an
    index with an arm64 image only.
    """
    pusher = Pusher(base)
    base_layer = busybox_tar()
    stacks = [python_layer(s) for s in STACKS]
    fleet = Fleet()
    try:
        for i in range(count):
            repo, tag = f"team{i % repos}/app{i % 3}", f"v{i}"
            stack = STACKS[i % len(STACKS)]
            layers = [base_layer, stacks[i % len(STACKS)], own_layer(i)]
            as_index = with_indexes and i in (1, 2)
            digest, manifest, diff_ids = pusher.image(repo, tag, layers, tag_manifest=not as_index)
            if as_index:
                arm = pusher.image(repo, f"{tag}-arm", [tar_of({"arm": str(i).encode()})], "arm64",
                                   tag_manifest=False)
                push_index(pusher.session, base, repo, tag, [(digest, manifest, "amd64"), (arm[0], arm[1], "arm64")])
                fleet.index_tags.append((repo, tag))
            fleet.images.append(PushedImage(repo, tag, digest, diff_ids, stack))
        if with_indexes:
            arm = pusher.image("team0/armonly", "x", [tar_of({"only-arm": b"1"})], "arm64", tag_manifest=False)
            push_index(pusher.session, base, "team0/armonly", "1", [(arm[0], arm[1], "arm64")])
            fleet.arm_only.append(("team0/armonly", "1"))
    finally:
        pusher.close()
    return fleet


def push_from_dockerd(api: Any, source: str, registry_host: str, repo: str, tag: str) -> None:
    """``docker tag`` + ``docker push`` of `source` from the private dockerd."""
    api.tag(source, f"{registry_host}/{repo}", tag)
    for line in api.push(f"{registry_host}/{repo}", tag=tag, stream=True, decode=True):
        if "error" in line:
            raise RuntimeError(f"docker push failed: {line['error']}")


# -- the advisory database ------------------------------------------------------------------


def advisory_dir(dest: Path, packages: tuple[str, ...]) -> Path:
    """An OSV directory holding the PyPA advisories of `packages` (from the reference data)."""
    src = REFERENCE / "osv-pypi" / "vulns"
    if not src.is_dir():
        raise RuntimeError(f"reference data missing: {src}")
    for name in packages:
        shutil.copytree(src / name, dest / "vulns" / name)
    return dest


def build_db(db: Path, work: Path, packages: tuple[str, ...]) -> Path:
    """A vulnerability database at `db` holding only the advisories of `packages`."""
    if db.exists():
        db.unlink()
    osv = advisory_dir(work, packages)
    r = dockguard(["db", "import", str(osv), "--db", str(db)])
    assert r.returncode == 0, r.stderr
    shutil.rmtree(work)
    return db


def dockguard(args: list[str], env: dict[str, str] | None = None, timeout: float = 600,
              stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """The real CLI in a child process."""
    return subprocess.run([str(Path(sys.executable).parent / "dockguard"), *args],
                          capture_output=True, text=True, timeout=timeout, env=env, input=stdin)


# -- PostgreSQL -----------------------------------------------------------------------------


def _pg_bin() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if not found:
        raise RuntimeError("PostgreSQL is not installed: run `make test` (installs postgresql)")
    return found[-1].parent


@dataclass
class PostgresServer:
    """A private PostgreSQL server (its own data dir, port, socket dir), run as `user`."""

    root: Path
    port: int
    process: subprocess.Popen[bytes]
    user: str

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql://dockguard@127.0.0.1:{self.port}/{dbname}"

    def create_database(self, name: str) -> str:
        """A fresh database; returns its URL."""
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    @property
    def log(self) -> str:
        return (self.root / "postgres.log").read_text(errors="replace")

    def stop(self) -> None:
        """Fast shutdown by pid (SIGINT), then SIGKILL if it lingers."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        shutil.rmtree(self.root, ignore_errors=True)


def _as_user(user: str) -> dict[str, Any]:
    """Popen arguments that run the child as `user` (when we are root): the child itself, not
    a wrapper, gets the pid we signal."""
    if os.geteuid() != 0:
        return {}
    entry = pwd.getpwnam(user)
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": [],
            "env": {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C", "HOME": "/"}}


def start_postgres(root: Path | None = None, timeout: float = 60.0) -> PostgresServer:
    """``initdb`` in `root` (default: a new temp dir), then ``postgres`` on 127.0.0.1 with its
    socket in `root`.

    As root the server runs as the unprivileged ``postgres`` user (or ``nobody``), owning
    `root` (which must then be reachable by that user: pytest's own temp dirs are not);
    PostgreSQL refuses to run as root.
    """
    import tempfile

    root = root or Path(tempfile.mkdtemp(prefix="dg-pg-"))
    bindir = _pg_bin()
    user = pwd.getpwuid(os.geteuid()).pw_name
    if os.geteuid() == 0:
        user = "postgres"
        try:
            pwd.getpwnam(user)
        except KeyError:
            user = "nobody"
        entry = pwd.getpwnam(user)
        root.mkdir(parents=True, exist_ok=True)
        os.chown(root, entry.pw_uid, entry.pw_gid)
        os.chmod(root, 0o700)
    data = root / "data"
    subprocess.run([str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "dockguard",
                    "-E", "UTF8", "--no-sync", "--locale=C"], check=True, capture_output=True, timeout=120,
                   cwd=root, **_as_user(user))
    port = free_port()
    log = root / "postgres.log"
    with open(log, "wb") as out:
        if os.geteuid() == 0:
            os.chown(log, pwd.getpwnam(user).pw_uid, pwd.getpwnam(user).pw_gid)
        proc = subprocess.Popen(
            [str(bindir / "postgres"), "-D", str(data), "-h", "127.0.0.1", "-p", str(port),
             "-k", str(root), "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
             "-c", "max_connections=100"],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True, cwd=root,
            **_as_user(user))
    server = PostgresServer(root, port, proc, user)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"postgres exited with {proc.returncode}:\n{server.log[-2000:]}")
        try:
            import psycopg

            psycopg.connect(server.url(), connect_timeout=2).close()
            return server
        except Exception:
            time.sleep(0.2)
    server.stop()
    raise RuntimeError(f"postgres did not accept connections within {timeout}s:\n{server.log[-2000:]}")


# -- Dask -------------------------------------------------------------------------------------


def _dask() -> str:
    exe = Path(sys.executable).parent / "dask"
    if not exe.exists():
        raise RuntimeError("the dask CLI is missing: pip install -e '.[test]'")
    return str(exe)


@dataclass
class DaskCluster:
    """A `dask scheduler` and `dask worker` processes on 127.0.0.1, each stopped by its pid."""

    root: Path
    port: int
    scheduler: subprocess.Popen[bytes]
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def address(self) -> str:
        return f"tcp://127.0.0.1:{self.port}"

    def add_worker(self, env: dict[str, str], name: str) -> subprocess.Popen[bytes]:
        log = open(self.root / f"{name}.log", "wb")  # noqa: SIM115 - handed to the child
        proc = subprocess.Popen(
            [_dask(), "worker", self.address, "--nworkers", "1", "--nthreads", "1", "--host", "127.0.0.1",
             "--no-dashboard", "--no-nanny", "--name", name, "--local-directory", str(self.root / name)],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, start_new_session=True)
        self.workers.append(proc)
        return proc

    def log(self, name: str) -> str:
        return (self.root / f"{name}.log").read_text(errors="replace")

    def wait_workers(self, n: int, timeout: float = 60.0) -> None:
        from distributed import Client

        deadline = time.monotonic() + timeout
        with Client(self.address, timeout=30) as client:
            while time.monotonic() < deadline:
                if len(client.scheduler_info()["workers"]) >= n:
                    return
                time.sleep(0.2)
        raise RuntimeError(f"{n} Dask workers did not register within {timeout}s")

    def stop(self) -> None:
        for proc in [*self.workers, self.scheduler]:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in [*self.workers, self.scheduler]:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


def start_dask(root: Path, env: dict[str, str], workers: int = 2, timeout: float = 60.0) -> DaskCluster:
    """A scheduler on its own port and `workers` single-threaded worker processes."""
    root.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log = open(root / "scheduler.log", "wb")  # noqa: SIM115 - handed to the child
    proc = subprocess.Popen(
        [_dask(), "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard",
         "--no-show"],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, start_new_session=True,
        cwd=root)
    cluster = DaskCluster(root, port, proc)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"dask scheduler exited:\n{cluster.log('scheduler')[-2000:]}")
        with contextlib.suppress(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        time.sleep(0.1)
    for n in range(workers):
        cluster.add_worker(env, f"worker{n}")
    try:
        cluster.wait_workers(workers, timeout)
    except Exception:
        cluster.stop()
        raise
    return cluster


def pids_running(procs: list[subprocess.Popen[bytes]]) -> Iterator[int]:
    for p in procs:
        if p.poll() is None:
            yield p.pid


SEVERITIES = ("CRITICAL", "HIGH", "MEDIUM", "UNKNOWN", "LOW", "NEGLIGIBLE")


def scan_facts(report: dict[str, Any]) -> dict[str, Any]:
    """A registry scan's figures read from its JSON report — the evidence of its steps, its
    image subjects, notes and findings — as one flat document (run, status, images with their
    status and findings by severity, errors, skipped, layer counts)."""
    ev = {s["name"]: s["evidence"] for s in report["steps"]}
    notes = report["notes"]
    earlier = set(ev["images"].get("from_earlier_attempt", "").split(", ")) - {""}
    images = []
    for s in report["source"]["images"]:
        label = "image:" + (s["repo_tags"][0] if s["repo_tags"] else s["target"])
        mine = [n for n in notes if n["part"] == label]
        error = next((n["reason"] for n in mine if n["status"] == "ERROR"), "")
        findings = dict.fromkeys(SEVERITIES, 0)
        for f in report["findings"]:
            if f["obj"] == label:
                findings[f["severity"]] += 1
        images.append({
            "digest": s["image_id"], "names": list(s["repo_tags"]), "packages": s["package_count"],
            "status": "failed" if error else "stored" if s["complete"] else "incomplete", "error": error,
            "findings": findings, "incomplete": [n["reason"] for n in mine if n["status"] == "INCOMPLETE"],
            "not_checked": [n["reason"] for n in mine if n["status"] == "NOT CHECKED"],
            "from_earlier_attempt": s["image_id"] in earlier})
    layers = ev["layers"]
    return {
        "run": ev["run"]["run"], "status": ev["run"]["status"], "store": ev["run"].get("store", ""),
        "engine": ev["run"].get("engine", ""), "workers": int(ev["run"].get("workers", "1")),
        "complete": ev["run"]["status"] == "complete", "images": images,
        "errors": [{"subject": n["part"], "error": n["reason"]} for n in notes if n["status"] == "ERROR"],
        "skipped": [{"subject": n["part"], "reason": n["reason"]} for n in notes if n["status"] == "N/A"],
        "warnings": [n["reason"] for n in notes if n["status"] == "WARNING"],
        **{f"layers_{k}": int(layers[k]) for k in ("referenced", "distinct", "analysed", "reused", "unusable",
                                                   "failed")},
        "bytes_fetched": int(layers["bytes_fetched"]), "dedupe_factor": float(layers["dedupe_factor"]),
        "repositories": int(ev["catalog"]["repositories"]), "tags": int(ev["catalog"]["tags"]),
    }
