"""Image scanning against a real private dockerd and real advisory data.

The test image is built from the local busybox base with three old Python distributions
unpacked from wheels downloaded at set-up time; it is scanned by daemon name, as a docker-save
tar and as an OCI layout written here, and must give identical inventories.  With the PyPA
advisory database imported, every advisory whose own ``versions`` list names the installed
version must appear (as its id or an alias) with the advisory's fixed version.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from packaging.version import Version

from tests.conftest import REFERENCE
from tests.image_json import config, image, vulnerabilities
from tests.integration.dockerd import PrivateDaemon, build_image, env_for

WHEELS = {"jinja2": "2.10", "requests": "2.19.1", "urllib3": "1.24.1"}
SITE = "usr/local/lib/python3.11/site-packages"


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("wheels")
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-q",
         "-d", str(d), *(f"{n}=={v}" for n, v in WHEELS.items())],
        check=True, capture_output=True, timeout=300,
    )
    return d


@pytest.fixture(scope="module")
def pyapp(dockerd: PrivateDaemon, busybox_image: str, wheels: Path) -> str:
    files: dict[str, bytes] = {}
    for whl in wheels.glob("*.whl"):
        with zipfile.ZipFile(whl) as z:
            for name in z.namelist():
                files[f"site/{name}"] = z.read(name)
    dockerfile = (
        f"FROM {busybox_image}\n"
        f"COPY site /{SITE}/\n"
        "RUN mkdir -p /data && chmod 777 /data\n"
        "ENV API_TOKEN=abcdef123456xyz\n"
        "RUN chmod 4755 /bin/busybox\n"
    )
    return build_image(dockerd.api, dockerfile, "dg-pyapp:1", files)


@pytest.fixture(scope="module")
def save_tar(dockerd: PrivateDaemon, pyapp: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("save") / "pyapp.tar"
    with open(path, "wb") as f:
        for chunk in dockerd.api.get_image(pyapp):
            f.write(chunk)
    return path


def write_oci(save: Path, out: Path) -> None:
    """Convert a docker-save tar into an OCI layout with gzip layers (independent code)."""
    with tarfile.open(save) as t:
        def read(name: str) -> bytes:
            f = t.extractfile(name)
            assert f is not None
            return f.read()

        manifest = json.loads(read("manifest.json"))[0]
        config = read(manifest["Config"])
        layers = [read(p) for p in manifest["Layers"]]

    def put(data: bytes) -> dict[str, Any]:
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
        {"mediaType": m["mediaType"], **desc, "platform": {"os": "linux", "architecture": "amd64"},
         "annotations": {"org.opencontainers.image.ref.name": "dg-pyapp:1"}}]}))


def dockguard(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "dockguard", *args], capture_output=True,
                          text=True, env=env, timeout=300)


@pytest.fixture(scope="module")
def env(dockerd: PrivateDaemon, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    e = env_for(dockerd)
    base = tmp_path_factory.mktemp("dg")
    e["DOCKGUARD_CACHE_DIR"] = str(base / "cache")
    e["DOCKGUARD_DB"] = str(base / "vuln.db")
    return e


def packages(target: str, env: dict[str, str], *extra: str) -> list[dict[str, Any]]:
    r = dockguard(["image", "scan", "--list-packages", "--format", "json", *extra, target], env)
    assert r.returncode == 0, r.stderr
    listed: list[dict[str, Any]] = json.loads(r.stdout)["packages"]
    return listed


def test_daemon_tar_and_oci_inventories_are_identical(
    pyapp: str, save_tar: Path, env: dict[str, str], tmp_path: Path
) -> None:
    write_oci(save_tar, tmp_path / "oci")
    by_daemon = packages(pyapp, env, "--no-cache")
    by_tar = packages(str(save_tar), env, "--no-cache")
    by_oci = packages(f"oci:{tmp_path / 'oci'}", env, "--no-cache")
    assert by_daemon == by_tar == by_oci
    assert {(p["name"], p["version"]) for p in by_daemon} == set(WHEELS.items())
    assert all(p["path"].startswith(f"/{SITE}/") and p["layer"].startswith("sha256:")
               for p in by_daemon)
    # Warm cache: same answer (the daemon source then skips the export entirely).
    assert packages(pyapp, env) == by_daemon
    assert packages(pyapp, env) == by_daemon


def expected_advisories() -> dict[str, tuple[str, str | None]]:
    """PYSEC id → (package, fixed version) for advisories listing the installed version."""
    out: dict[str, tuple[str, str | None]] = {}
    for name, version in WHEELS.items():
        for path in sorted((REFERENCE / "osv-pypi/vulns" / name).glob("*.yaml")):
            doc = yaml.safe_load(path.read_text())
            if doc.get("withdrawn"):
                continue
            for aff in doc.get("affected", []):
                if version in (aff.get("versions") or []):
                    fixed = [ev["fixed"] for r in aff.get("ranges", []) for ev in r["events"]
                             if "fixed" in ev and r.get("type") == "ECOSYSTEM"]
                    # The range holding the installed version ends at the lowest later fix.
                    later = sorted((f for f in fixed if Version(f) > Version(version)), key=Version)
                    out[doc["id"]] = (name, later[0] if later else None)
    return out


@pytest.fixture(scope="module")
def pypa_db(env: dict[str, str]) -> None:
    """The PyPA advisory database imported into the test's database."""
    if not (REFERENCE / "osv-pypi").is_dir():
        pytest.fail(f"reference data missing: {REFERENCE / 'osv-pypi'}")
    r = dockguard(["db", "import", str(REFERENCE / "osv-pypi")], env)
    assert r.returncode == 0, r.stderr


def test_scan_finds_pypa_advisories(pyapp: str, save_tar: Path, env: dict[str, str], pypa_db: None) -> None:
    expected = expected_advisories()
    assert len(expected) >= 8
    for target in (pyapp, str(save_tar)):
        r = dockguard(["image", "scan", "--format", "json", "--offline", target], env)
        assert r.returncode == 0, r.stderr
        doc = json.loads(r.stdout)
        seen: dict[str, tuple[str, str | None]] = {}
        for v in vulnerabilities(doc):
            for vid in [v["id"], *v["vulnerability"]["aliases"]]:
                seen[vid] = (v["package"]["name"], v["vulnerability"]["fixed"])
        missing = {k: e for k, e in expected.items() if seen.get(k) != e}
        assert not missing, f"missing or wrong: {missing}"
        config_ids = {f["id"] for f in config(doc)}
        assert {"IMG-ROOT-USER", "IMG-SETUID", "IMG-SECRET", "IMG-WORLD-WRITABLE-DIR"} <= config_ids
        assert "abcdef123456xyz" not in r.stdout
    # Gating, severity filter and the table.
    assert dockguard(["image", "scan", "--fail-on", "high", pyapp], env).returncode == 1
    table = dockguard(["image", "scan", "--severity", "HIGH,CRITICAL", pyapp], env)
    assert table.returncode == 0 and "urllib3 1.24.1 (pypi)" in table.stdout
    assert "LOW" in table.stdout.split("Summary:")[1]
    assert "  LOW " not in table.stdout.split("Summary:")[0]


def test_ignore_file_and_sarif(pyapp: str, env: dict[str, str], tmp_path: Path, pypa_db: None) -> None:
    r = dockguard(["image", "scan", "--format", "json", pyapp], env)
    assert r.returncode == 0, r.stderr
    first = vulnerabilities(json.loads(r.stdout))[0]
    ignore = tmp_path / "ignore.yaml"
    ignore.write_text(yaml.safe_dump({"suppressions": [
        {"id": first["id"], "purl": first["package"]["purl"], "reason": "accepted",
         "expires": "2999-01-01"},
        {"id": "CVE-*", "reason": "old entry", "expires": "2000-01-01"},
    ]}))
    r = dockguard(["image", "scan", "--format", "json", "--ignore-file", str(ignore), pyapp], env)
    assert "expired on 2000-01-01" in r.stderr
    vulns = vulnerabilities(json.loads(r.stdout))
    assert [v["suppressed"] for v in vulns if v["id"] == first["id"]] == ["accepted"]
    assert sum(1 for v in vulns if v["suppressed"]) == 1
    sarif = dockguard(["image", "scan", "--format", "sarif", pyapp], env)
    assert sarif.returncode == 0 and json.loads(sarif.stdout)["version"] == "2.1.0"


def test_unknown_image_and_missing_db(pyapp: str, env: dict[str, str], tmp_path: Path) -> None:
    r = dockguard(["image", "scan", "--list-packages", "no-such-image:1"], env)
    assert r.returncode == 2 and "no such image" in r.stderr
    e = dict(env, DOCKGUARD_DB=str(tmp_path / "absent.db"))
    r = dockguard(["image", "scan", "no-such-image:1"], e)
    assert r.returncode == 2 and "no such image" in r.stderr
    # Without a database: the inventory and the configuration, vulnerabilities NOT CHECKED.
    r = dockguard(["image", "scan", pyapp], e)
    assert r.returncode == 0, r.stderr
    assert "Vulnerabilities: NOT CHECKED: no database at" in r.stdout and "dockguard db update" in r.stdout
    assert "IMG-SETUID" in r.stdout and "Packages: 3 (pypi 3)" in r.stdout
    r = dockguard(["image", "scan", "--fail-on", "CRITICAL", pyapp], e)
    assert r.returncode == 2 and "cannot be decided: vulnerabilities: NOT CHECKED" in r.stderr


UTIL_LINUX_DSA = {
    # DSA-5650-1: util-linux security update (CVE-2024-28085, "WallEscape"), bookworm fix.
    "id": "DSA-5650-1",
    "upstream": ["CVE-2024-28085"],
    "summary": "util-linux - security update",
    "affected": [{"package": {"ecosystem": "Debian:12", "name": "util-linux"},
                  "ranges": [{"type": "ECOSYSTEM", "events": [
                      {"introduced": "0"}, {"fixed": "2.38.1-5+deb12u1"}]}]}],
}
UTIL_LINUX_UNFIXED = {
    # CVE-2022-0563 (chfn/chsh readline INPUTRC): no fix in bookworm.
    "id": "DEBIAN-CVE-2022-0563",
    "upstream": ["CVE-2022-0563"],
    "affected": [{"package": {"ecosystem": "Debian:12", "name": "util-linux"},
                  "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}]}]}],
}


def test_debian_rootfs_from_host_status(tmp_path: Path) -> None:
    """The host's dpkg status, with util-linux set back to bookworm's 2.38.1-5 release."""
    root = tmp_path / "rootfs"
    (root / "etc").mkdir(parents=True)
    (root / "etc/os-release").write_text('PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n'
                                         'ID=debian\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\n')
    (root / "var/lib/dpkg").mkdir(parents=True)
    status = Path("/var/lib/dpkg/status").read_text()
    stanzas = []
    for stanza in status.split("\n\n"):
        if "Source: util-linux" in stanza or stanza.startswith("Package: util-linux\n"):
            lines = []
            for line in stanza.splitlines():
                if line.startswith("Version: "):
                    epoch = "1:" if line.startswith("Version: 1:") else ""
                    line = f"Version: {epoch}2.38.1-5+b1"
                elif line.startswith("Source: util-linux"):
                    line = "Source: util-linux (2.38.1-5)"
                lines.append(line)
            stanza = "\n".join(lines)
        stanzas.append(stanza)
    (root / "var/lib/dpkg/status").write_text("\n\n".join(stanzas))
    feed = tmp_path / "debian-osv"
    feed.mkdir()
    for rec in (UTIL_LINUX_DSA, UTIL_LINUX_UNFIXED):
        (feed / f"{rec['id']}.json").write_text(json.dumps(rec))
    env = {"DOCKGUARD_DB": str(tmp_path / "v.db"), "DOCKGUARD_CACHE_DIR": str(tmp_path / "c"),
           "PATH": "/usr/bin:/bin"}
    r = dockguard(["db", "import", str(feed)], env)
    assert r.returncode == 0, r.stderr
    r = dockguard(["image", "scan", "--format", "json", str(root)], env)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert image(doc)["os_version"] == "12"
    hits = {(v["package"]["name"], v["id"]): v["vulnerability"] for v in vulnerabilities(doc)}
    bsd = hits.get(("bsdutils", "CVE-2024-28085"))
    assert bsd is not None, sorted(hits)
    assert (bsd["installed"], bsd["fixed"], bsd["state"]) == ("2.38.1-5", "2.38.1-5+deb12u1",
                                                              "fixed")
    assert hits[("bsdutils", "CVE-2022-0563")]["state"] == "affected"
    r = dockguard(["image", "scan", "--format", "json", "--ignore-unfixed", str(root)], env)
    ids = {v["id"] for v in vulnerabilities(json.loads(r.stdout))}
    assert "CVE-2022-0563" not in ids and "CVE-2024-28085" in ids
    dpkg = shutil.which("dpkg")
    assert dpkg is not None
    # The oracle agrees that the binary version with its epoch would have hidden the fix.
    assert subprocess.run([dpkg, "--compare-versions", "1:2.38.1-5+b1", "gt",
                           "2.38.1-5+deb12u1"]).returncode == 0
