"""CIS sections 4 and 6 against images built by a real dockerd (real history lines)."""

from __future__ import annotations

import io
import tarfile
from collections.abc import Iterator

import pytest

from dockguard.collect.gather import CollectOptions, collect_snapshot
from dockguard.engine import Context, Options, run_check
from dockguard.model import CheckResult, Outcome
from dockguard.snapshot import Snapshot
from tests.integration.dockerd import PrivateDaemon, build_image
from tests.unit.factories_4567 import CHECKS

# A stand-in package manager, so that `RUN apt-get update` really runs in the build.
FAKE_APT = b"#!/bin/sh\nexit 0\n"


def _tar(name: str, data: bytes) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@pytest.fixture(scope="module")
def built(dockerd: PrivateDaemon, busybox_image: str) -> Iterator[Snapshot]:
    api = dockerd.api
    files = {"apt-get": FAKE_APT, "payload.tar": _tar("hello.txt", b"hi\n"), "app.txt": b"x"}
    prelude = f"FROM {busybox_image}\nCOPY apt-get /usr/bin/apt-get\nRUN chmod 755 /usr/bin/apt-get\n"
    tags = {
        "dg4-alone:1": prelude + "RUN apt-get update\nRUN apt-get install -y curl\n",
        "dg4-together:1": prelude
        + "RUN apt-get update && apt-get install -y curl\nCOPY app.txt /app.txt\n"
        + 'USER 1000\nHEALTHCHECK CMD ["true"]\n',
        "dg4-add:1": prelude + "ADD payload.tar /opt/\nUSER 0:0\n",
    }
    for tag, dockerfile in tags.items():
        build_image(api, dockerfile, tag, files)
    made = []
    for tag in ("dg4-add:1", "dg4-together:1"):
        c = api.create_container(tag, ["sleep", "3600"], name=tag.split(":")[0])
        api.start(c)
        made.append(c["Id"])
    try:
        yield collect_snapshot(CollectOptions(docker_host=dockerd.url, processes="api"))
    finally:
        for cid in made:
            api.remove_container(cid, force=True)
        for tag in tags:
            api.remove_image(tag, force=True)


def _run(snap: Snapshot, cid: str) -> CheckResult:
    return run_check(CHECKS[cid], Context(snap, Options(include_containers=("dg4",))))


def _objs(res: CheckResult, outcome: Outcome) -> set[str]:
    return {d.obj for d in res.details if d.outcome is outcome}


def test_4_1_effective_user_from_the_image(built: Snapshot) -> None:
    res = _run(built, "4.1")
    assert res.outcome is Outcome.WARN
    assert _objs(res, Outcome.WARN) == {"container:dg4-add"}  # USER 0:0 in the image
    assert _objs(res, Outcome.PASS) == {"container:dg4-together"}


def test_4_6_healthcheck_from_the_image(built: Snapshot) -> None:
    res = _run(built, "4.6")
    assert res.outcome is Outcome.WARN
    assert "image:dg4-together:1" in _objs(res, Outcome.PASS)
    assert {"image:dg4-alone:1", "image:dg4-add:1"} <= _objs(res, Outcome.WARN)


def test_4_7_update_alone_in_real_history(built: Snapshot) -> None:
    res = _run(built, "4.7")
    assert res.outcome is Outcome.INFO
    flagged = {d.obj for d in res.details}
    assert flagged == {"image:dg4-alone:1"}, res.details
    assert "apt-get update" in (res.details[0].value or "")


def test_4_9_add_in_real_history(built: Snapshot) -> None:
    res = _run(built, "4.9")
    assert res.outcome is Outcome.INFO
    assert {d.obj for d in res.details} == {"image:dg4-add:1"}, res.details
    assert "/opt/" in (res.details[0].value or "")


def test_6_1_counts_images_in_use(built: Snapshot) -> None:
    res = _run(built, "6.1")
    assert res.outcome is Outcome.INFO
    unused = {d.obj for d in res.details[1:]}
    assert "image:dg4-alone:1" in unused
    assert "image:dg4-add:1" not in unused and "image:dg4-together:1" not in unused
