"""Layer-cache poisoning: an image must not be able to change what a scan of another image says.

The hostile image's config names the diff ids of a good image's layers while its own layers
hold only ``etc/os-release``.  Before the fix, scanning it filled the cache under the good
image's diff ids, and the next scan of the good image reported "Packages: 0" and passed
``--fail-on CRITICAL``.  Now every diff id and blob digest is checked in the pass that reads
the layer: the hostile scan exits 2 and caches nothing; the good image still fails its gate.
"""

from __future__ import annotations

import gzip
import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.hostile.harness import MAX_RSS_MIB, CliRun, run_cli
from tests.hostile.image_inputs import (
    OS_RELEASE,
    M,
    config_for,
    docker_save,
    good_layers,
    oci_layout,
    put_blob,
    vuln_db,
    write_layer,
)


def scan(scratch: Path, *args: str) -> CliRun:
    run = run_cli(["image", "scan", *args], scratch=scratch, timeout=120, trace_writes=True)
    assert not run.traceback and "internal error" not in run.stderr, run.stderr
    assert run.max_rss_mib < MAX_RSS_MIB
    return run


def cached_layers(scratch: Path) -> list[Path]:
    """The base analyses in the cache: one per cached layer (cataloguer records live beside them)."""
    return sorted((scratch / "home" / ".cache" / "dockguard" / "layers").glob("v*/*.zst"))


@pytest.fixture
def world(tmp_path: Path) -> dict[str, Path]:
    good = good_layers(tmp_path)
    evil = write_layer(tmp_path / "evil.tar.gz", [M("etc/os-release", OS_RELEASE)])
    claimed = config_for([b.diff_id for b in good])
    out = {
        "db": vuln_db(tmp_path),
        "good": docker_save(tmp_path / "good.tar", good),
        "evil": docker_save(tmp_path / "evil.tar", [evil, evil], config=claimed,
                            layer_names=["blobs/sha256/" + evil.digest[7:]] * 2),
        "evil_oci": oci_layout(tmp_path / "evil-oci", [evil, evil], config=claimed),
    }
    gz = tmp_path / "evil.tar.gz"
    gz.write_bytes(gzip.compress(out["evil"].read_bytes()))
    out["evil_gz"] = gz
    return out


def assert_refused(run: CliRun, scratch: Path) -> None:
    assert run.code == 2, (run.code, run.stdout, run.stderr)
    assert "does not match the diff_id" in run.stderr and "nothing from this image was cached" in run.stderr
    assert cached_layers(scratch) == []


@pytest.mark.parametrize("kind", ["evil", "evil_gz", "evil_oci"])
def test_claimed_diff_ids_of_another_image_are_refused(world: dict[str, Path], scratch: Path,
                                                       tmp_path: Path, kind: str) -> None:
    target = f"oci:{world[kind]}" if kind == "evil_oci" else str(world[kind])
    run = scan(scratch, "--db", str(world["db"]), "--fail-on", "CRITICAL", target)
    assert_refused(run, scratch)
    assert run.writes_outside(tmp_path) == []
    # The good image scanned afterwards with the same cache: its package and its gate hold.
    good = scan(scratch, "--db", str(world["db"]), "--fail-on", "CRITICAL", str(world["good"]))
    assert good.code == 1, good.stderr
    assert "Packages: 1 (pypi 1)" in good.stdout and "DG-HOSTILE-1" in good.stdout
    # Its verified layers are now cached, and a warm rescan gives the same answer.
    assert len(cached_layers(scratch)) == 2
    warm = scan(scratch, "--db", str(world["db"]), "--fail-on", "CRITICAL", str(world["good"]))
    assert warm.code == 1 and warm.stdout == good.stdout


def test_oci_blob_whose_bytes_do_not_match_its_name_is_refused(tmp_path: Path, scratch: Path) -> None:
    good = good_layers(tmp_path)
    layout = oci_layout(tmp_path / "oci", good)
    evil = write_layer(tmp_path / "evil.tar.gz", [M("etc/os-release", OS_RELEASE)])
    # Same file name (the good digest), other bytes.
    shutil.copy(evil.path, layout / "blobs/sha256" / good[1].digest[7:])
    run = scan(scratch, "--list-packages", f"oci:{layout}")
    assert run.code == 2
    assert f"does not match its digest {good[1].digest}" in run.stderr
    assert cached_layers(scratch) == []


@pytest.mark.parametrize("which", ["config", "manifest"])
def test_oci_metadata_blob_that_does_not_match_its_digest_is_refused(tmp_path: Path, scratch: Path,
                                                                     which: str) -> None:
    layout = oci_layout(tmp_path / "oci", good_layers(tmp_path))
    index = json.loads((layout / "index.json").read_text())
    manifest_path = layout / "blobs/sha256" / index["manifests"][0]["digest"][7:]
    manifest = json.loads(manifest_path.read_text())
    target = manifest_path if which == "manifest" else layout / "blobs/sha256" / manifest["config"]["digest"][7:]
    target.write_bytes(target.read_bytes() + b" ")
    run = scan(scratch, "--list-packages", f"oci:{layout}")
    assert run.code == 2
    assert "content does not match its digest" in run.stderr and target.name in run.stderr


def test_docker_save_config_that_does_not_match_its_name_is_refused(tmp_path: Path, scratch: Path) -> None:
    good = good_layers(tmp_path)
    cfg = json.dumps(config_for([b.diff_id for b in good])).encode()
    name = put_blob(tmp_path / "x", cfg)["digest"]
    # The manifest names the config by one digest; the member with that name holds another config.
    other = json.dumps(config_for([b.diff_id for b in good], architecture="arm64")).encode()
    manifest = [{"Config": f"blobs/sha256/{name[7:]}", "RepoTags": ["x:1"],
                 "Layers": ["blobs/sha256/" + b.digest[7:] for b in good]}]
    tar = docker_save(tmp_path / "img.tar", good, manifest=manifest,
                      extra={f"blobs/sha256/{name[7:]}": other})
    run = scan(scratch, "--list-packages", str(tar))
    assert run.code == 2 and "content does not match its digest" in run.stderr


# --- through a registry -----------------------------------------------------------------------


@pytest.fixture
def registry() -> Iterator[str]:
    from tests.integration.registry import start_registry

    reg = start_registry(Path(tempfile.mkdtemp(prefix="dg-hostile-registry-")))
    try:
        yield reg.host
    finally:
        reg.stop()


def push(host: str, repo: str, blobs: list[Path], config: dict[str, object]) -> None:
    from tests.integration.registry import push_blob

    s = requests.Session()
    s.trust_env = False
    base = f"http://{host}"
    cfg = json.dumps(config).encode()
    layers = [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": p.stat().st_size,
               "digest": push_blob(s, base, repo, p.read_bytes())} for p in blobs]
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": len(cfg),
                           "digest": push_blob(s, base, repo, cfg)},
                "layers": layers}
    r = s.put(f"{base}/v2/{repo}/manifests/1", data=json.dumps(manifest),
              headers={"Content-Type": str(manifest["mediaType"])})
    assert r.status_code == 201, r.text


def test_registry_pull_with_claimed_diff_ids_is_refused(registry: str, tmp_path: Path, scratch: Path) -> None:
    good = good_layers(tmp_path)
    evil = write_layer(tmp_path / "evil.tar.gz", [M("etc/os-release", OS_RELEASE)])
    db = vuln_db(tmp_path)
    push(registry, "hostile/evil", [evil.path, evil.path], config_for([b.diff_id for b in good]))
    push(registry, "hostile/good", [b.path for b in good], config_for([b.diff_id for b in good]))
    run = scan(scratch, "--db", str(db), "--fail-on", "CRITICAL", "--insecure", f"{registry}/hostile/evil:1")
    assert_refused(run, scratch)
    good_run = scan(scratch, "--db", str(db), "--fail-on", "CRITICAL", "--insecure", f"{registry}/hostile/good:1")
    assert good_run.code == 1, good_run.stderr
    assert "Packages: 1 (pypi 1)" in good_run.stdout
