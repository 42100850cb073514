"""Malformed image metadata: one line naming the file and the JSON path, exit 2, no traceback.

Also: 200 000 history entries with ``PASSWORD=`` give a bounded number of findings (the
first 50 of a kind, then one "… and K more"), so SARIF stays small.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.hostile.harness import MAX_RSS_MIB, CliRun, run_cli
from tests.hostile.image_inputs import (
    M,
    config_for,
    docker_save,
    good_layers,
    oci_layout,
    put_blob,
    vuln_db,
    write_layer,
)

DEEP = b"[" * 100_000


def scan(scratch: Path, *args: str) -> CliRun:
    run = run_cli(["image", "scan", *args], scratch=scratch, timeout=120)
    assert not run.traceback and "internal error" not in run.stderr, run.stderr
    assert run.max_rss_mib < MAX_RSS_MIB
    return run


def refused(run: CliRun, *parts: str) -> None:
    assert run.code == 2, (run.code, run.stdout, run.stderr)
    line = run.stderr.strip().splitlines()[-1]
    assert line.startswith("dockguard: error: "), run.stderr
    for part in parts:
        assert part in line, (part, line)


def _config(tmp_path: Path, **changes: Any) -> dict[str, Any]:
    return config_for([b.diff_id for b in good_layers(tmp_path)], **changes)


@pytest.mark.parametrize(
    ("config", "where", "problem"),
    [
        ([1, 2], "", "expected an object, got a list"),
        ({"rootfs": "x"}, "$.rootfs", "expected an object, got a string"),
        ({"history": "x"}, "$.history", "expected a list, got a string"),
        ({"rootfs": {"diff_ids": [5]}}, "$.rootfs.diff_ids[0]", "expected a string, got an integer"),
        ({"rootfs": {"diff_ids": ["sha256:nothex"]}}, "$.rootfs.diff_ids[0]", "not a sha256/sha512 digest"),
        ({"config": {"Labels": ["a", "b"]}}, "$.config.Labels", "expected an object, got a list"),
        ({"config": {"Env": "PATH=/bin"}}, "$.config.Env", "expected a list, got a string"),
        ({"config": {"Labels": {"k": 1}}}, "$.config.Labels.k", "expected a string, got an integer"),
        ({"history": [{"created_by": ["rm", "-rf"]}]}, "$.history[0].created_by", "expected a string"),
        ({"config": {"Healthcheck": {"Test": "CMD true"}}}, "$.config.Healthcheck.Test", "expected a list"),
    ],
)
def test_bad_config_shapes(tmp_path: Path, scratch: Path, config: Any, where: str, problem: str) -> None:
    good = good_layers(tmp_path)
    cfg = config if isinstance(config, list) else _config(tmp_path, **config)
    tar = docker_save(tmp_path / "img.tar", good, config=json.dumps(cfg).encode())
    run = scan(scratch, "--list-packages", str(tar))
    refused(run, str(tar), "blobs/sha256/", where, problem)


@pytest.mark.parametrize("which", ["manifest", "config"])
def test_deeply_nested_docker_save_metadata(tmp_path: Path, scratch: Path, which: str) -> None:
    good = good_layers(tmp_path)
    if which == "manifest":
        tar = docker_save(tmp_path / "img.tar", good, manifest=DEEP)
        name = "manifest.json"
    else:
        tar = docker_save(tmp_path / "img.tar", good, config=DEEP)
        name = "blobs/sha256/"
    refused(scan(scratch, "--list-packages", str(tar)), f"{tar}:{name}", "nested deeper than")


@pytest.mark.parametrize("which", ["index", "manifest", "config"])
def test_deeply_nested_oci_metadata(tmp_path: Path, scratch: Path, which: str) -> None:
    root = oci_layout(tmp_path / "oci", good_layers(tmp_path))
    index = json.loads((root / "index.json").read_text())
    if which == "index":
        (root / "index.json").write_bytes(DEEP)
        target = root / "index.json"
    else:
        manifest_path = root / "blobs/sha256" / index["manifests"][0]["digest"][7:]
        if which == "manifest":
            desc = put_blob(root, DEEP)
        else:
            manifest = json.loads(manifest_path.read_text())
            manifest["config"].update(put_blob(root, DEEP))
            desc = put_blob(root, json.dumps(manifest).encode())
        index["manifests"][0].update(desc)
        (root / "index.json").write_text(json.dumps(index))
        target = root / "blobs/sha256" / (desc["digest"][7:] if which == "manifest" else
                                           json.loads((root / "blobs/sha256" / desc["digest"][7:]).read_text())
                                           ["config"]["digest"][7:])
    refused(scan(scratch, "--list-packages", f"oci:{root}"), str(target), "nested deeper than")


@pytest.mark.parametrize(
    ("manifest", "where", "problem"),
    [
        ({"x": 1}, "$", "expected a list, got an object"),
        ([], "", "lists no image"),
        ([{"Config": 5}], "$[0].Config", "expected a string, got an integer"),
        ([{"Config": "c.json", "Layers": [1]}], "$[0].Layers[0]", "expected a string, got an integer"),
        ([{"Config": "c.json", "Layers": "x"}], "$[0].Layers", "expected a list, got a string"),
        ([{"Config": "c.json", "RepoTags": {"a": 1}}], "$[0].RepoTags", "expected a list"),
    ],
)
def test_bad_manifest_shapes(tmp_path: Path, scratch: Path, manifest: Any, where: str, problem: str) -> None:
    tar = docker_save(tmp_path / "img.tar", good_layers(tmp_path), manifest=manifest)
    refused(scan(scratch, "--list-packages", str(tar)), f"{tar}:manifest.json", where, problem)


@pytest.mark.parametrize(
    ("descriptor", "where", "problem"),
    [
        ("x", "$.manifests[0]", "expected an object, got a string"),
        ({"digest": 5, "size": 1}, "$.manifests[0].digest", "expected a string"),
        ({"digest": "sha256:../../etc/passwd", "size": 1}, "$.manifests[0].digest", "not a sha256/sha512 digest"),
        ({"digest": "sha256:" + "a" * 64, "size": -1}, "$.manifests[0].size", "negative size"),
        ({"digest": "sha256:" + "a" * 64, "platform": "linux"}, "$.manifests[0].platform", "expected an object"),
    ],
)
def test_bad_oci_descriptors(tmp_path: Path, scratch: Path, descriptor: Any, where: str, problem: str) -> None:
    root = oci_layout(tmp_path / "oci", good_layers(tmp_path))
    (root / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [descriptor]}))
    refused(scan(scratch, "--list-packages", f"oci:{root}"), str(root / "index.json"), where, problem)


def test_layer_count_mismatch_names_the_config(tmp_path: Path, scratch: Path) -> None:
    good = good_layers(tmp_path)
    tar = docker_save(tmp_path / "img.tar", good, config=config_for([good[0].diff_id]))
    refused(scan(scratch, "--list-packages", str(tar)), "$.rootfs.diff_ids",
            "manifest.json lists 2 layers but the config 1 diff_ids")


def test_two_hundred_thousand_history_secrets_are_grouped(tmp_path: Path, scratch: Path) -> None:
    layer = write_layer(tmp_path / "l.tar.gz", [M("etc/hostname", b"x\n")])
    history = [{"created_by": "RUN true"}] + [
        {"created_by": f"/bin/sh -c export PASSWORD=hunter{i:06d}xyz", "empty_layer": True}
        for i in range(200_000)]
    tar = docker_save(tmp_path / "img.tar", [layer], config=config_for([layer.diff_id], history=history))
    db = vuln_db(tmp_path)
    run = scan(scratch, "--db", str(db), "--format", "sarif", str(tar))
    assert run.code == 0, run.stderr
    assert len(run.stdout) < 2 * 1024 * 1024
    results = json.loads(run.stdout)["runs"][0]["results"]
    # One rule at one place (the image) is one result: the 50 listed and the group of the rest.
    (secrets,) = [r for r in results if r["ruleId"] == "IMG-SECRET"]
    assert secrets["properties"]["count"] == 51
    assert any("… and 199950 more IMG-SECRET findings" in i for i in secrets["properties"]["items"]), secrets
    assert "hunter" not in run.stdout  # still redacted
