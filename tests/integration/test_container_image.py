"""dockguard as a container (Dockerfile, docs/container.md), against a real private dockerd.

The repository's Dockerfile is built with the docker CLI on a private daemon, ``FROM`` a base
made of this host's files (tests/integration/container_base.py: no registry, no network).  The
documented ``docker run`` line is taken from docs/container.md as written, with three
substitutions: this daemon's socket for /var/run/docker.sock, the test tag for ``dockguard``,
and one more read-only mount for the daemon's temp directory (where its socket, daemon.json,
data and exec roots live, as /var/lib/docker and /run do for a real daemon).  Its report is
compared, check by check, with ``dockguard audit`` run directly on the host against the same
daemon; every difference must be one of those docs/container.md lists.
"""

from __future__ import annotations

import io
import json
import re
import shlex
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REFERENCE, REPO
from tests.integration.container_base import BaseUnavailable, import_base
from tests.integration.dockerd import PrivateDaemon, cleanup_root, env_for, import_busybox, start_daemon

DOCS = REPO / "docs" / "container.md"
TAG = "dg-dockguard:test"
#: docs/container.md, "How the verdicts differ": what the auditor's own container is reported for.
AUDITOR_WARNS = {"4.1", "5.4", "5.6", "5.27", "5.32"}
CAP_SYS_PTRACE = 19
EROFS = 30
HOST_MOUNTS = ("/host/etc", "/host/usr", "/host/lib", "/host/var", "/host/run", "/host/proc", "/host/sys")


def shell_block(path: Path, heading: str) -> list[list[str]]:
    """The commands of the first ``sh`` block under `heading` in `path`, split, variables expanded."""
    section = path.read_text().split(heading + "\n", 1)[1]
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    assert block, f"{path.name}: no sh block under {heading!r}"
    variables: dict[str, str] = {}
    commands = []
    for line in block.group(1).replace("\\\n", " ").splitlines():
        m = re.fullmatch(r"(\w+)=(\S+)", line.strip())
        if m:
            variables[m.group(1)] = m.group(2)
        elif line.strip():
            words = shlex.split(line)
            commands.append([re.sub(r"\$(\w+)", lambda v: variables[v.group(1)], w) for w in words])
    return commands


def documented_run() -> list[str]:
    """The ``docker run`` command of docs/container.md's "Audit the host" block."""
    commands = shell_block(DOCS, "## Audit the host")
    assert len(commands) == 1, commands
    return commands[0]


def for_daemon(words: list[str], daemon: PrivateDaemon, *, drop: tuple[str, ...] = ()) -> tuple[list[str], list[str]]:
    """The documented command for `daemon`: (docker run options up to the image, dockguard args)."""
    assert words[:2] == ["docker", "run"], words
    image_at = next(i for i, w in enumerate(words) if w == "dockguard" and words[i + 1 : i + 2] == ["audit"])
    options, command = words[2:image_at], words[image_at + 1 :]
    sock = options.index("/var/run/docker.sock:/var/run/docker.sock")
    options[sock] = f"{daemon.socket}:/var/run/docker.sock"
    ro = next(o.split(",src=")[0] for o in options if ",src=/etc," in o)
    options += ["--mount", f"{ro},src={daemon.root},dst=/host{daemon.root}"]
    for flag in drop:
        at = options.index(flag)
        del options[at : at + 2]
    return options, command


def docker(daemon: PrivateDaemon, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """The docker CLI against `daemon` only (legacy builder: FROM a local image, no pull)."""
    env = dict(env_for(daemon), DOCKER_BUILDKIT="0", DOCKER_CONFIG=str(daemon.root / "cli"))
    return subprocess.run([_docker_cli(), *args], env=env, capture_output=True, text=True, timeout=timeout)


def _docker_cli() -> str:
    cli = shutil.which("docker")
    if cli is None:
        pytest.fail("the docker CLI is not installed: run `make test`, which installs docker.io")
    return cli


def _name(options: list[str]) -> str:
    return options[options.index("--name") + 1]


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateDaemon]:
    root = tmp_path_factory.mktemp("ctrd")
    d = start_daemon(root)
    try:
        yield d
    finally:
        d.stop()
        cleanup_root(root)


@pytest.fixture(scope="module")
def image(daemon: PrivateDaemon) -> str:
    """The repository's Dockerfile, built with the CLI from the repository directory."""
    try:
        base = import_base(daemon.api)
    except BaseUnavailable as exc:
        pytest.fail(f"cannot make the local base image: {exc}")
    r = docker(daemon, "build", "--build-arg", f"BASE={base}",
               "--build-arg", "PIP_OPTIONS=--no-index --no-build-isolation", "-t", TAG, str(REPO))
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return TAG


@pytest.fixture(scope="module")
def witnesses(daemon: PrivateDaemon) -> dict[str, str]:
    """Containers for section 5 to judge, and an image with a vulnerable Python package."""
    api = daemon.api
    busybox = import_busybox(api)
    meta = b"Metadata-Version: 2.1\nName: Jinja2\nVersion: 2.10\n"
    ctx = io.BytesIO()
    with tarfile.open(fileobj=ctx, mode="w") as tar:
        for name, data in (("Dockerfile", f"FROM {busybox}\nCOPY METADATA /usr/lib/python3/dist-packages/"
                                          "Jinja2-2.10.dist-info/METADATA\n".encode()), ("METADATA", meta)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    ctx.seek(0)
    for chunk in api.build(fileobj=ctx, custom_context=True, tag="dg-witness:1", rm=True, pull=False, decode=True):
        assert "error" not in chunk, chunk
    web = api.create_container(
        "dg-witness:1", ["sleep", "600"], name="web", user="0:0",
        host_config=api.create_host_config(network_mode="none", cap_add=["NET_ADMIN"], binds=["/etc:/hostetc:ro"]),
    )
    api.start(web["Id"])
    api.create_container(busybox, ["true"], name="idle",
                         host_config=api.create_host_config(network_mode="none", privileged=True))
    return {"web": "dg-witness:1", "idle": busybox}


@pytest.fixture(scope="module")
def volume(daemon: PrivateDaemon, image: str) -> str:
    """The documented cache volume, filled offline by the image itself (``db import``)."""
    feeds = REFERENCE / "osv-pypi"
    r = docker(daemon, "volume", "create", "dockguard-cache")
    assert r.returncode == 0, r.stderr
    r = docker(daemon, "run", "--rm", "--read-only", "--tmpfs", "/tmp", "--cap-drop", "ALL",
               "--security-opt", "no-new-privileges", "--network", "none",
               "-v", "dockguard-cache:/var/cache/dockguard", "-v", f"{feeds}:/feeds/osv-pypi:ro",
               image, "db", "import", "/feeds/osv-pypi")
    assert r.returncode == 0, r.stderr
    assert "osv/PyPI: 2651 records from /feeds/osv-pypi (new feed)" in r.stdout
    assert "database: /var/cache/dockguard/vuln.db" in r.stdout
    return "dockguard-cache"


@pytest.fixture(scope="module")
def runs(daemon: PrivateDaemon, image: str, witnesses: dict[str, str], volume: str,
         tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The documented container run and a host run of the same audit, as parsed JSON."""
    options, command = for_daemon(documented_run(), daemon)
    args = ["--all-images", "--format", "json"]
    r = docker(daemon, "run", *options, image, *command, *args)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "internal error" not in r.stderr and "Traceback" not in r.stderr
    container = json.loads(r.stdout)

    db = tmp_path_factory.mktemp("ctr-db") / "vuln.db"
    env = dict(env_for(daemon), DOCKGUARD_DB=str(db))
    imp = subprocess.run([sys.executable, "-m", "dockguard", "db", "import", str(REFERENCE / "osv-pypi")],
                         env=env, capture_output=True, text=True, timeout=300)
    assert imp.returncode == 0, imp.stderr
    h = subprocess.run([sys.executable, "-m", "dockguard", "audit", *args], env=env,
                       capture_output=True, text=True, timeout=300)
    assert h.returncode == 0, h.stderr[-3000:]
    return {"host": json.loads(h.stdout), "container": container, "auditor": f"container:{_name(options)}",
            "image": image}


def test_the_dockerfile_builds_offline_an_image_that_runs_as_documented(daemon: PrivateDaemon, image: str) -> None:
    config = daemon.api.inspect_image(image)["Config"]
    assert config["User"] == "0:0"
    assert config["Entrypoint"] == ["dockguard"]
    assert config["Cmd"] == ["audit", "--host-root", "/host"]
    assert "XDG_CACHE_HOME=/var/cache" in config["Env"] and "HOME=/tmp" in config["Env"]
    r = docker(daemon, "run", "--rm", "--network", "none", "--read-only", image, "--version")
    assert r.returncode == 0 and r.stdout.strip() == "dockguard 0.1.0", r.stderr
    # .dockerignore: only what pip needs entered the build; the sources were removed after it.
    r = docker(daemon, "run", "--rm", "--network", "none", "--entrypoint", "python3", image, "-c",
               "import os, dockguard; print(os.path.exists('/usr/src/dockguard'), dockguard.__file__)")
    assert r.returncode == 0, r.stderr
    exists, where = r.stdout.split()
    assert exists == "False"
    assert "/dist-packages/dockguard/" in where or "/site-packages/dockguard/" in where, where


def test_the_auditor_holds_only_what_it_needs(daemon: PrivateDaemon, image: str) -> None:
    options, _ = for_daemon(documented_run(), daemon)
    probe = (
        "import json, os\n"
        "st = dict(l.split(':\\t', 1) for l in open('/proc/self/status').read().splitlines() if ':\\t' in l)\n"
        "mi = [l.split() for l in open('/proc/self/mountinfo')]\n"
        "out = {'uid': os.getuid(), 'caps': [st[k].strip() for k in ('CapEff', 'CapPrm', 'CapBnd', 'CapInh')],\n"
        "       'nnp': st['NoNewPrivs'].strip(), 'seccomp': st['Seccomp'].strip(),\n"
        "       'mounts': {f[4]: (f[5], f[f.index('-') + 1]) for f in mi}}\n"
        f"try:\n    open('/host{daemon.root}/written-by-the-auditor', 'w')\n    out['write'] = 0\n"
        "except OSError as exc:\n    out['write'] = exc.errno\n"
        "print(json.dumps(out))\n"
    )
    r = docker(daemon, "run", *options, "--entrypoint", "python3", image, "-c", probe)
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout)
    assert got["uid"] == 0
    assert [int(c, 16) for c in got["caps"]] == [1 << CAP_SYS_PTRACE] * 3 + [0]
    assert got["nnp"] == "1" and got["seccomp"] == "2"  # Docker's default seccomp profile stays
    mounts = got["mounts"]
    assert "ro" in mounts["/"][0].split(",")
    assert mounts["/tmp"][1] == "tmpfs" and "noexec" in mounts["/tmp"][0].split(",")
    host = {mp: opts for mp, (opts, _) in mounts.items() if mp.startswith("/host")}
    # bind-nonrecursive: exactly the mounts asked for, none of the filesystems below them.
    assert sorted(host) == sorted([*HOST_MOUNTS, f"/host{daemon.root}"])
    assert all("ro" in opts.split(",") for opts in host.values()), host
    assert got["write"] == EROFS
    assert not (daemon.root / "written-by-the-auditor").exists()


def _details(result: dict[str, Any], auditor: str) -> tuple[list[tuple[str, str, str]], list[tuple[str, str, str]]]:
    others: list[tuple[str, str, str]] = []
    own: list[tuple[str, str, str]] = []
    for d in result["details"]:
        (own if d["obj"] == auditor else others).append((d["obj"], d["outcome"], d["message"]))
    return others, own


def test_verdicts_match_a_host_run_except_for_the_auditor_itself(runs: dict[str, Any]) -> None:
    host = {r["id"]: r for r in runs["host"]["results"]}
    ctr = {r["id"]: r for r in runs["container"]["results"]}
    auditor = runs["auditor"]
    assert set(host) == set(ctr) and len(host) == 117
    assert runs["container"]["collection_errors"] == runs["host"]["collection_errors"] == []
    own_warns = set()
    for cid, h in host.items():
        c = ctr[cid]
        h_others, h_own = _details(h, auditor)
        c_others, c_own = _details(c, auditor)
        assert h_own == [], (cid, h_own)  # the host run ran no auditor container
        if any(outcome == "WARN" for _, outcome, _ in c_own):
            own_warns.add(cid)
        if cid in ("6.1", "6.2"):
            continue  # they count containers and images: below
        # (sorted: images in use by a container come first, and the auditor's image is in use)
        assert sorted(c_others) == sorted(h_others), (cid, h_others, c_others)
        if cid in own_warns:
            assert c["outcome"] == "WARN", cid
        else:
            assert c["outcome"] == h["outcome"], (cid, h["outcome"], c["outcome"], c_own)
    assert own_warns == AUDITOR_WARNS, sorted(own_warns)
    # Section 5 judged the witnesses the same way in both runs (it did run).
    assert "container:web" in {d["obj"] for d in host["5.4"]["details"]}

    # 6.2 counts the auditor as one more running container; 6.1 its image as one more in use.
    def counts(r: dict[str, Any], pattern: str) -> tuple[int, ...]:
        m = re.fullmatch(pattern, next(d["message"] for d in r["details"] if d["obj"] == "daemon"))
        assert m, r["details"]
        return tuple(int(g) for g in m.groups())

    running = r"(\d+) containers, (\d+) running"
    in_use = r"(\d+) images, (\d+) in use by containers"
    hc, cc = counts(host["6.2"], running), counts(ctr["6.2"], running)
    assert cc == (hc[0] + 1, hc[1] + 1)
    hi, ci = counts(host["6.1"], in_use), counts(ctr["6.1"], in_use)
    assert ci == (hi[0], hi[1] + 1)
    unused = {d["obj"] for d in host["6.1"]["details"] if d["message"] == "not used by any container"}
    assert unused - {d["obj"] for d in ctr["6.1"]["details"]} == {f"image:{runs['image']}"}


def test_what_the_auditor_is_reported_for(runs: dict[str, Any]) -> None:
    ctr = {r["id"]: r for r in runs["container"]["results"]}
    own = {cid: _details(r, runs["auditor"])[1] for cid, r in ctr.items()}
    assert own["4.1"] == [(runs["auditor"], "WARN", "runs as root (0:0)")]
    assert own["5.4"] == [(runs["auditor"], "WARN", "capabilities beyond Docker's defaults: SYS_PTRACE")]
    assert all("(read-only)" in part for part in own["5.6"][0][2].split("; ")), own["5.6"]
    assert "Docker socket" in own["5.32"][0][2] and "/var/run/docker.sock" in own["5.32"][0][2]
    # What the documented flags get right: these pass for the auditor.
    passing = {
        "5.5": "privileged containers",  # no --privileged
        "5.10": "network namespace",  # --network none, not host
        "5.11": "memory usage",  # --memory
        "5.12": "CPU priority",  # --cpu-shares
        "5.13": "root filesystem is mounted as read only",  # --read-only
        "5.16": "process namespace",  # no --pid host: /proc is a read-only mount instead
        "5.22": "seccomp",  # Docker's default profile stays
        "5.26": "acquiring additional privileges",  # no-new-privileges
        "5.29": "PIDs cgroup limit",  # --pids-limit
        "5.31": "user namespaces",  # no --userns host
    }
    for cid, words in passing.items():
        assert words in ctr[cid]["title"], (cid, ctr[cid]["title"])
        assert [o for _, o, _ in own[cid]] == ["PASS"], (cid, own[cid])


def test_findings_and_sections_match_a_host_run(runs: dict[str, Any], daemon: PrivateDaemon) -> None:
    def key(f: dict[str, Any]) -> tuple[str, ...]:
        # The socket probe names the socket it used: the daemon's own path on the host, the
        # mounted /var/run/docker.sock in the container.
        obj = f["obj"].replace(daemon.url, "unix:///var/run/docker.sock")
        return (f["kind"], f["id"], obj, f["severity"], f["title"])

    host = sorted(key(f) for f in runs["host"]["findings"])
    ctr = sorted(key(f) for f in runs["container"]["findings"])
    assert ctr == host
    vulns = [f for f in runs["container"]["findings"] if f["kind"] == "vulnerability"]
    assert vulns and {f["obj"] for f in vulns} == {"image:dg-witness:1"}  # Jinja2 2.10 from the cache volume
    assert runs["container"]["notes"] == runs["host"]["notes"]
    assert not [n for n in runs["container"]["notes"] if n["part"] == "vulnerabilities"]
    assert runs["container"]["source"]["docker_host"] == "unix:///var/run/docker.sock"
    assert runs["host"]["source"]["docker_host"] == daemon.url


def test_without_sys_ptrace_the_daemon_is_not_identified_and_the_report_says_why(
    daemon: PrivateDaemon, image: str
) -> None:
    options, _ = for_daemon(documented_run(), daemon, drop=("--cap-add",))
    assert "SYS_PTRACE" not in " ".join(options)
    r = docker(daemon, "run", *options, image, "bench", "--host-root", "/host", "-c", "2.4", "--format", "json")
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    errors = [e["message"] for e in report["collection_errors"] if e["target"] == "dockerd"]
    assert len(errors) == 1, report["collection_errors"]
    # Other daemons may run on this machine (the session's, other test runs'): ours is among them.
    m = re.search(r"the executable of (\d+) process\(es\) named dockerd, pid ([\d, …]+), cannot be read", errors[0])
    assert m and "--cap-add SYS_PTRACE" in errors[0], errors[0]
    pids = m.group(2).split(", ")
    assert str(daemon.pid) in pids or (pids[-1] == "…" and int(m.group(1)) > 5), errors[0]
    # Its flags (--iptables=false) are then unknown: 2.4 is judged on Docker's default instead.
    r24 = report["results"][0]
    assert r24["id"] == "2.4" and "iptables=false" not in json.dumps(r24["details"])


def test_the_readme_shows_the_same_lines() -> None:
    readme = shell_block(REPO / "README.md", "### Running as a container")
    assert readme == [["docker", "build", "-t", "dockguard", "."], documented_run()]
    assert shell_block(DOCS, "## Build") == [["docker", "build", "-t", "dockguard", "."]]
