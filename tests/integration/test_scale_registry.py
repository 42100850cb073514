"""``dockguard registry scan`` against a real registry of 60+ images that share base layers.

Most images are pushed over HTTP with real layers (the static busybox as the base, Python
distributions, one small layer each); two tags are pushed from the private dockerd with
``docker push``; two tags are OCI indexes (amd64 + arm64) and one index has no amd64 image.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from dockguard.scale.image_adapter import ANALYSER_KEY
from dockguard.store import Store
from tests.conftest import REFERENCE
from tests.integration.dockerd import PrivateDaemon, busybox_tar
from tests.integration.registry import Registry, start_registry, tar_of, write_htpasswd
from tests.integration.scale_fixtures import (
    DISTS,
    Fleet,
    Pusher,
    build_db,
    dockguard,
    push_fleet,
    push_from_dockerd,
    python_layer,
    scan_facts,
)

pytestmark = pytest.mark.slow
COUNT = 60


@pytest.fixture(scope="module")
def fleet_registry(tmp_path_factory: pytest.TempPathFactory, dockerd: PrivateDaemon,
                   busybox_image: str) -> Iterator[tuple[Registry, Fleet]]:
    reg = start_registry(tmp_path_factory.mktemp("fleet-registry"))
    try:
        fleet = push_fleet(reg.url, COUNT)
        for tag in ("1", "2"):
            push_from_dockerd(dockerd.api, busybox_image, reg.host, "docker/busybox", tag)
        yield reg, fleet
    finally:
        reg.stop()


@pytest.fixture(scope="module")
def vulndb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("vulndb")
    return build_db(d / "vuln.db", d / "osv", tuple(DISTS))


def env() -> dict[str, str]:
    e = dict(os.environ)
    e.pop("DOCKGUARD_DEBUG", None)
    e["HOME"] = e.get("HOME", "/root")
    e["DOCKER_CONFIG"] = "/nonexistent-docker-config"  # no ambient registry credentials
    return e


def scan(args: list[str], extra_env: dict[str, str] | None = None, stdin: str | None = None) -> tuple[
        subprocess.CompletedProcess[str], dict[str, Any]]:
    r = dockguard(["registry", "scan", *args, "--format", "json"], env={**env(), **(extra_env or {})},
                  stdin=stdin)
    assert "internal error" not in r.stderr and "Traceback" not in r.stderr, r.stderr
    doc = scan_facts(json.loads(r.stdout)) if r.stdout.strip() else {}
    return r, doc


def expected_advisories(name: str) -> list[set[str]]:
    """For each PyPA advisory listing DISTS[name] as affected: its id and aliases."""
    out = []
    for path in sorted((REFERENCE / "osv-pypi/vulns" / name).glob("*.yaml")):
        doc = yaml.safe_load(path.read_text())
        if doc.get("withdrawn"):
            continue
        if any(DISTS[name] in (a.get("versions") or []) for a in doc.get("affected", [])):
            out.append({doc["id"], *doc.get("aliases", [])})
    return out


def vuln_findings(store: Store, digest: str) -> list[dict[str, Any]]:
    return [f.doc for f in store.findings(digest, ["vulnerability"])]


def test_whole_registry_each_layer_once(fleet_registry: tuple[Registry, Fleet], vulndb: Path, store_url: str,
                                        dockerd: PrivateDaemon) -> None:
    reg, fleet = fleet_registry
    r, doc = scan([reg.host, "--store", store_url, "--db", str(vulndb)])
    assert r.returncode == 0, r.stderr
    docker_digest = dockerd.api.inspect_image(f"{reg.host}/docker/busybox:1")["RepoDigests"]
    pushed = fleet.digests
    assert doc["status"] == "complete" and doc["errors"] == []
    digests = {i["digest"] for i in doc["images"]}
    assert pushed < digests and len(digests) == len(pushed) + 1  # + the image docker pushed twice
    by_digest = {i["digest"]: i for i in doc["images"]}
    docker_image = next(i for d, i in by_digest.items() if d not in pushed)
    assert sorted(docker_image["names"]) == [f"{reg.host}/docker/busybox:1", f"{reg.host}/docker/busybox:2"]
    assert any(docker_image["digest"] in rd for rd in docker_digest)
    assert [s["subject"] for s in doc["skipped"]] == [f"{reg.host}/team0/armonly:1"]
    assert "images 61/61" in r.stderr and "ETA" in r.stderr

    with Store.open(store_url) as store:
        c = store.conn
        assert c.one("SELECT COUNT(*) FROM images") == (len(digests),)
        assert c.one("SELECT COUNT(*) FROM run_images WHERE run = ?", (doc["run"],)) == (len(digests),)
        assert c.one("SELECT COUNT(*) FROM inventories") == (len(digests),)
        distinct = c.one("SELECT COUNT(DISTINCT diff_id) FROM image_layers")
        blobs = c.one("SELECT COUNT(*) FROM (SELECT DISTINCT diff_id, digest FROM image_layers) AS pairs")
        assert distinct is not None and blobs is not None
        docker_layers = store.image(docker_image["digest"]).layers  # type: ignore[union-attr]
        assert distinct[0] == len(fleet.distinct_diff_ids | {layer.diff_id for layer in docker_layers})
        # every distinct blob fetched and analysed exactly once, across all images and repositories;
        # one analysis stored per distinct diff_id (docker's own gzip of the busybox base is
        # another blob of the same diff_id: fetched, verified, not stored twice)
        assert doc["layers_distinct"] == distinct[0] and doc["layers_analysed"] == blobs[0]
        assert c.one("SELECT COUNT(*) FROM layer_results") == distinct
        assert c.one("SELECT COUNT(*) FROM layers WHERE verified = 1") == blobs
        assert doc["layers_referenced"] == 3 * COUNT + len(docker_layers)
        assert doc["dedupe_factor"] == pytest.approx(doc["layers_referenced"] / distinct[0], rel=1e-3)
        assert doc["dedupe_factor"] > 2.5
        # findings per image: every affecting PyPA advisory of its Python layer, by id or alias
        for image in fleet.images:
            found = vuln_findings(store, image.digest)
            ids = [{f["id"], *f["vulnerability"]["aliases"]} for f in found]
            for name in image.stack:
                for advisory in expected_advisories(name):
                    assert any(advisory & i for i in ids), (image.tag, name, advisory)
            assert {f["package"]["name"] for f in found} == set(image.stack)
            assert by_digest[image.digest]["packages"] == len(image.stack)
        names = store.image_names(fleet.images[1].digest)
        assert names == [f"{reg.host}/{fleet.images[1].repository}:{fleet.images[1].tag}"]

    # Second run: every layer is already in the store, nothing is fetched, same findings.
    r2, doc2 = scan([reg.host, "--store", store_url, "--db", str(vulndb)])
    assert r2.returncode == 0, r2.stderr
    assert doc2["layers_analysed"] == 0 and doc2["layers_reused"] == doc["layers_analysed"]
    assert doc2["bytes_fetched"] == 0
    assert {i["digest"]: i["findings"] for i in doc2["images"]} == {i["digest"]: i["findings"] for i in doc["images"]}
    r3 = dockguard(["store", "status", "--store", store_url, "--format", "json"], env=env())
    status = json.loads(r3.stdout)
    assert status["images"] == len(digests) and status["runs"] == 2
    assert status["dedupe_factor"] == pytest.approx(doc["dedupe_factor"], rel=1e-3)


def test_findings_equal_image_scan(fleet_registry: tuple[Registry, Fleet], vulndb: Path, tmp_path: Path) -> None:
    reg, fleet = fleet_registry
    store_url = str(tmp_path / "s.sqlite")
    r, doc = scan([reg.host, "--store", store_url, "--db", str(vulndb), "--repo", "team3/*"])
    assert r.returncode == 0, r.stderr
    picked = [i for i in fleet.images if i.repository.startswith("team3/")]
    assert {i["digest"] for i in doc["images"]} == {i.digest for i in picked}
    with Store.open(store_url) as store:
        for image in picked[:4]:
            one = dockguard(["image", "scan", f"{reg.host}/{image.repository}:{image.tag}", "--db", str(vulndb),
                             "--format", "json", "--no-cache"], env=env())
            assert one.returncode == 0, one.stderr
            direct = json.loads(one.stdout)
            vulns = [f for f in direct["findings"] if f["kind"] == "vulnerability"]
            assert sorted((v["id"], v["package"]["name"]) for v in vulns) == sorted(
                (f["id"], f["package"]["name"]) for f in vuln_findings(store, image.digest))
            stored_config = sorted(f.id for f in store.findings(image.digest) if f.kind != "vulnerability")
            assert stored_config == sorted(c["id"] for c in direct["findings"] if c["kind"] != "vulnerability")


def test_globs_platform_and_text_report(fleet_registry: tuple[Registry, Fleet], vulndb: Path, tmp_path: Path) -> None:
    reg, fleet = fleet_registry
    out = tmp_path / "report.txt"
    r = dockguard(["registry", "scan", f"http://{reg.host}", "--store", str(tmp_path / "s.sqlite"), "--db",
                   str(vulndb), "--repo", "team1/*", "--repo", "team2/*", "--tag", "v1*", "-o", str(out),
                   "--platform", "linux/arm64"], env=env())
    assert r.returncode == 0, r.stderr
    text = out.read_text()
    # only index tags have an arm64 image; the plain amd64 manifests are taken as they are
    wanted = [i for i in fleet.images if i.repository.split("/")[0] in ("team1", "team2") and i.tag.startswith("v1")]
    assert f"tags {len(wanted)}" in text
    assert "Registry scan of" in text and "dedupe factor" in text and "Findings:" in text


def test_resume_after_the_client_is_killed(fleet_registry: tuple[Registry, Fleet], vulndb: Path,
                                           tmp_path: Path) -> None:
    reg, fleet = fleet_registry
    store_url = str(tmp_path / "s.sqlite")
    args = [str(Path(sys.executable).parent / "dockguard"), "registry", "scan", reg.host, "--store", store_url,
            "--db", str(vulndb), "--repo", "team4/*", "--format", "json"]
    proc = subprocess.Popen(args, env={**env(), "DOCKGUARD_TEST_TASK_DELAY": "0.2"}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    stored = 0
    while time.monotonic() < deadline and proc.poll() is None:
        if Path(store_url).exists():
            try:
                with Store.open(store_url) as store:
                    stored = len(store.conn.execute("SELECT image FROM run_images"))
            except Exception:
                stored = 0
        if stored >= 3:
            break
        time.sleep(0.2)
    assert proc.poll() is None, "the scan finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    with Store.open(store_url) as store:
        run = store.runs(1)[0]
        done_before = set(store.run_images(run.id))
    assert run.status.value == "running" and len(done_before) >= 3
    r, doc = scan([reg.host, "--store", store_url, "--db", str(vulndb), "--repo", "team4/*", "--resume", run.id[:8]])
    assert r.returncode == 0, r.stderr
    expected = {i.digest for i in fleet.images if i.repository.startswith("team4/")}
    assert doc["run"] == run.id and doc["status"] == "complete"
    assert {i["digest"] for i in doc["images"]} == expected
    assert {i["digest"] for i in doc["images"] if i["from_earlier_attempt"]} == done_before
    with Store.open(store_url) as store:
        assert store.conn.one("SELECT COUNT(*) FROM run_images WHERE run = ?", (run.id,)) == (len(expected),)
        assert store.conn.one("SELECT COUNT(*) FROM images") == (len(expected),)
    r, _ = scan([reg.host, "--store", store_url, "--db", str(vulndb), "--resume", "ffffffff"])
    assert r.returncode == 2 and "no run ffffffff" in r.stderr


@pytest.fixture()
def small_registry(tmp_path: Path) -> Iterator[Registry]:
    reg = start_registry(tmp_path / "small-registry")
    try:
        yield reg
    finally:
        reg.stop()


def test_stored_layers_are_not_fetched_again(small_registry: Registry, vulndb: Path, tmp_path: Path) -> None:
    fleet = push_fleet(small_registry.url, 6, repos=2, with_indexes=False)
    store_url = str(tmp_path / "s.sqlite")
    r, doc = scan([small_registry.host, "--store", store_url, "--db", str(vulndb)])
    assert r.returncode == 0 and doc["layers_analysed"] == len(fleet.distinct_diff_ids)
    # Delete every layer blob from the registry: only manifests and configs remain.
    s = requests.Session()
    s.trust_env = False
    with Store.open(store_url) as store:
        blobs = {(i.repository, layer.digest) for i in fleet.images for layer in store.image(i.digest).layers}  # type: ignore[union-attr]
    for repo, digest in blobs:
        assert s.delete(f"{small_registry.url}/v2/{repo}/blobs/{digest}").status_code == 202
    r, doc = scan([small_registry.host, "--store", store_url, "--db", str(vulndb)])
    assert r.returncode == 0, r.stderr
    assert doc["layers_analysed"] == 0 and len(doc["images"]) == 6
    # A fresh store has to fetch them, and cannot: every layer fails, and says so.
    r, doc = scan([small_registry.host, "--store", str(tmp_path / "fresh.sqlite"), "--db", str(vulndb)])
    assert r.returncode == 2 and "failed in run" in r.stderr
    assert doc["status"] == "partial" and doc["layers_failed"] == len(fleet.distinct_diff_ids)
    assert all(i["status"] == "incomplete" for i in doc["images"])
    assert any("blob" in e["error"] and "404" in e["error"] for e in doc["errors"])


def test_hostile_images_fail_alone(small_registry: Registry, vulndb: Path, tmp_path: Path) -> None:
    pusher = Pusher(small_registry.url)
    good_layer = python_layer(("jinja2",))
    good = pusher.image("ok/app", "1", [busybox_tar(), good_layer])
    # A config that claims the good layer's diff_id for other bytes: the forged image fails,
    # and the good image, which really has that layer, is unaffected.
    evil = tar_of({"usr/local/lib/python3.11/site-packages/x.txt": b"not what the config claims"})
    import gzip
    import hashlib
    import json as js

    blob = gzip.compress(evil, mtime=0)
    config = js.dumps({"architecture": "amd64", "os": "linux", "config": {},
                       "rootfs": {"type": "layers", "diff_ids": [good[2][1]]}}).encode()
    manifest = js.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": len(config),
                   "digest": pusher.blob("evil/app", config)},
        "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": len(blob),
                    "digest": pusher.blob("evil/app", blob)}]}).encode()
    assert pusher.session.put(f"{small_registry.url}/v2/evil/app/manifests/1", data=manifest, headers={
        "Content-Type": "application/vnd.docker.distribution.manifest.v2+json"}).status_code == 201
    # A "layer" that is neither tar nor gzip/zstd: its image is incomplete, never clean.
    junk = b"\x00junk" * 1000
    junk_diff = "sha256:" + hashlib.sha256(junk).hexdigest()
    config2 = js.dumps({"architecture": "amd64", "os": "linux", "config": {},
                        "rootfs": {"type": "layers", "diff_ids": [junk_diff]}}).encode()
    manifest2 = js.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": len(config2),
                   "digest": pusher.blob("junk/app", config2)},
        "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar", "size": len(junk),
                    "digest": pusher.blob("junk/app", junk)}]}).encode()
    assert pusher.session.put(f"{small_registry.url}/v2/junk/app/manifests/1", data=manifest2, headers={
        "Content-Type": "application/vnd.docker.distribution.manifest.v2+json"}).status_code == 201
    # A tag whose config blob is gone from the registry.
    _, gone_manifest, _ = pusher.image("ok/app", "missing", [tar_of({"gone": b"1"})])
    gone_config = js.loads(gone_manifest)["config"]["digest"]
    assert pusher.session.delete(f"{small_registry.url}/v2/ok/app/blobs/{gone_config}").status_code == 202
    pusher.close()
    for order in ("evil-first", "good-first"):
        store_url = str(tmp_path / f"{order}.sqlite")
        repos = ["evil/*", "ok/*", "junk/*"] if order == "evil-first" else ["ok/*", "evil/*", "junk/*"]
        repo_args = [a for g in repos for a in ("--repo", g)]
        r, doc = scan([small_registry.host, "--store", store_url, "--db", str(vulndb), *repo_args])
        assert r.returncode == 2, r.stderr
        by_name = {i["names"][0].split("/", 1)[1]: i for i in doc["images"]}
        assert by_name["ok/app:1"]["status"] == "stored"
        assert by_name["ok/app:1"]["findings"]["UNKNOWN"] + by_name["ok/app:1"]["findings"]["HIGH"] > 0
        assert by_name["evil/app:1"]["status"] == "failed"
        assert "does not match the diff_id" in by_name["evil/app:1"]["error"]
        assert by_name["junk/app:1"]["status"] == "incomplete"
        assert "neither a tar archive nor gzip/zstd" in by_name["junk/app:1"]["incomplete"][0]
        errors = {e["subject"]: e["error"] for e in doc["errors"]}
        assert any(s.endswith("ok/app:missing") for s in errors)
        assert doc["status"] == "partial"
        with Store.open(store_url) as store:
            verified = store.layer_result_info(good[2][1], ANALYSER_KEY)
            assert verified is not None and verified.complete
    text = dockguard(["registry", "scan", small_registry.host, "--store", str(tmp_path / "t.sqlite"), "--db",
                      str(vulndb), "--repo", "junk/*", "--fail-on", "CRITICAL"], env=env())
    assert text.returncode == 2 and "INCOMPLETE" in text.stdout
    assert "--fail-on CRITICAL cannot be decided" in text.stderr


def test_credentials_rules(tmp_path: Path, vulndb: Path) -> None:
    htpasswd = write_htpasswd(tmp_path / "htpasswd", "scanner", "s3cret-pw")
    reg = start_registry(tmp_path / "auth-registry", htpasswd=htpasswd)
    try:
        s = requests.Session()
        s.trust_env = False
        s.auth = ("scanner", "s3cret-pw")
        pusher = Pusher(reg.url)
        pusher.session = s
        pusher.image("private/app", "1", [busybox_tar(), python_layer(("urllib3",))])
        store = str(tmp_path / "s.sqlite")
        r, _ = scan([reg.host, "--store", store, "--db", str(vulndb)])
        assert r.returncode == 2 and "requires a login" in r.stderr
        r, _ = scan([reg.host, "--store", store, "--db", str(vulndb), "--username", "scanner", "--password-stdin"],
                    stdin="s3cret-pw\n")
        assert r.returncode == 2 and "--allow-plain-http-credentials" in r.stderr
        r, doc = scan([reg.host, "--store", store, "--db", str(vulndb), "--username", "scanner", "--password-stdin",
                       "--allow-plain-http-credentials"], stdin="s3cret-pw\n")
        assert r.returncode == 0, r.stderr
        assert len(doc["images"]) == 1 and doc["images"][0]["packages"] == 1
        r, _ = scan([reg.host, "--store", store, "--db", str(vulndb), "--username", "scanner", "--password-stdin",
                     "--scheduler", "tcp://127.0.0.1:1"], stdin="s3cret-pw\n")
        assert r.returncode == 2 and "unencrypted" in r.stderr
        assert "s3cret-pw" not in r.stderr
    finally:
        reg.stop()


def test_usage_errors(tmp_path: Path, vulndb: Path) -> None:
    for args, message in (
        (["ftp://x"], "use https://"),
        (["http://registry.example:5000"], "only allowed for a loopback registry"),
        (["127.0.0.1:1", "--workers", "0"], "--workers must be between"),
        (["127.0.0.1:1", "--scheduler", "127.0.0.1:8786"], "--scheduler must be tcp://"),
        (["127.0.0.1:1", "--platform", "linux"], "platform"),
        (["127.0.0.1:1", "--db", str(tmp_path / "missing.db")], "no vulnerability database"),
        (["127.0.0.1:1", "--db", str(vulndb), "--store", str(tmp_path / "s.sqlite")], "cannot reach 127.0.0.1:1"),
    ):
        r, _ = scan(args)
        assert r.returncode == 2 and message in r.stderr, (args, r.stderr)
