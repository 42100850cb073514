"""Unit tests for CIS section 4 (container images and build file)."""

from __future__ import annotations

import pytest

from dockguard.checks.container_images import (
    CHECKS,
    add_instructions,
    is_root_user,
    parse_history,
    update_alone,
)
from dockguard.model import CollectionError, Outcome, Severity
from dockguard.snapshot import HistoryEntry, ImageScanSummary, Snapshot

from .factories_4567 import container, history, image, objs, run, snapshot

DEBIAN_BASE = "/bin/sh -c #(nop) ADD file:5d673d25da3a14ce1f6cf66e4c7fd4f4b85a3759a9d93efb3fd9ff852b5b56e4 in / "
DEBIAN_CMD = '/bin/sh -c #(nop)  CMD ["bash"]'


def test_section_4_declares_twelve_checks_with_metadata() -> None:
    ids = [c.meta.id for c in CHECKS]
    assert ids == [f"4.{i}" for i in range(1, 13)]
    for c in CHECKS:
        assert c.meta.title and c.meta.remediation and c.meta.references
        assert c.meta.level in (1, 2)
        assert c.meta.scored == c.meta.automated
    automated = {c.meta.id for c in CHECKS if c.meta.automated}
    assert automated == {"4.1", "4.5", "4.6"}
    assert {c.meta.id for c in CHECKS if c.meta.level == 2} == {"4.5", "4.8", "4.11", "4.12"}


# ---------------------------------------------------------------- 4.1


@pytest.mark.parametrize("user", ["", "0", "root", "0:0", "root:root", "0:1000", "root:staff", " 0 ", "00"])
def test_root_user_forms(user: str) -> None:
    assert is_root_user(user)


@pytest.mark.parametrize("user", ["1000", "1000:0", "app", "app:root", "nobody:nogroup", "10"])
def test_non_root_user_forms(user: str) -> None:
    assert not is_root_user(user)


def test_4_1_pass_fail_na() -> None:
    ok = run("4.1", snapshot(containers=(container("a", user="app"),)))
    assert ok.outcome is Outcome.PASS
    bad = run(
        "4.1",
        snapshot(containers=(container("a", user="app"), container("b", user="0:0"))),
    )
    assert bad.outcome is Outcome.WARN
    assert objs(bad, Outcome.WARN) == ["container:b"]  # docker-bench misses 0:0
    na = run("4.1", snapshot(containers=(container("a", user="", running=False),)))
    assert na.outcome is Outcome.NA and na.reason == "no running containers"
    missing = run("4.1", snapshot(containers=None))
    assert missing.outcome is Outcome.NA and "not collected" in missing.reason


# ---------------------------------------------------------------- 4.5


def test_4_5_content_trust() -> None:
    assert run("4.5", snapshot(environment={"DOCKER_CONTENT_TRUST": "1"})).outcome is Outcome.PASS
    # The docker CLI enables trust for any value strconv.ParseBool does not read as false.
    assert run("4.5", snapshot(environment={"DOCKER_CONTENT_TRUST": "true"})).outcome is (Outcome.PASS)
    unset = run("4.5", snapshot(environment={}))
    assert unset.outcome is Outcome.WARN and "unset" in unset.details[0].message
    off = run("4.5", snapshot(environment={"DOCKER_CONTENT_TRUST": "0"}))
    assert off.outcome is Outcome.WARN
    err = CollectionError("environment", "env", "environment not readable")
    na = run("4.5", snapshot(errors=(err,)))
    assert na.outcome is Outcome.NA and "environment not readable" in na.reason


# ---------------------------------------------------------------- 4.6


def test_4_6_healthcheck() -> None:
    ok = run("4.6", snapshot(imgs=(image("a:1"),)))
    assert ok.outcome is Outcome.PASS
    bad = run(
        "4.6",
        snapshot(
            imgs=(
                image("a:1"),
                image("none:1", healthcheck=None),
                image("off:1", healthcheck=("NONE",)),
            )
        ),
    )
    assert bad.outcome is Outcome.WARN
    assert sorted(objs(bad, Outcome.WARN)) == ["image:none:1", "image:off:1"]
    assert run("4.6", snapshot(imgs=())).outcome is Outcome.NA
    assert run("4.6", snapshot(imgs=None)).outcome is Outcome.NA


def test_4_6_untagged_image_uses_short_id() -> None:
    img = image("x:1", repo_tags=(), healthcheck=None)
    res = run("4.6", snapshot(imgs=(img,)))
    assert objs(res, Outcome.WARN) == [f"image:{img.id.removeprefix('sha256:')[:12]}"]


# ---------------------------------------------------------------- 4.7


@pytest.mark.parametrize(
    "line",
    [
        "/bin/sh -c apt-get update",
        "RUN /bin/sh -c apt-get update # buildkit",
        "/bin/sh -c apt-get -y update && echo done",
        "/bin/sh -c apk update",
        "/bin/sh -c yum -q update",
        "|1 VERSION=2 /bin/sh -c dnf update",
        "/bin/sh -c apt-get install -y curl && apt-get update",
        "/bin/sh -c apt-get -o Acquire::Retries=3 update",
    ],
)
def test_update_alone_detected(line: str) -> None:
    assert update_alone(line)


@pytest.mark.parametrize(
    "line",
    [
        "/bin/sh -c apt-get update && apt-get install -y curl",
        "RUN /bin/sh -c apt-get update &&     DEBIAN_FRONTEND=noninteractive apt-get install -y curl # buildkit",
        "/bin/sh -c apk update && apk add curl",
        "/bin/sh -c apk add --update curl",
        "/bin/sh -c apk --update add curl",
        "/bin/sh -c yum update -y && yum install -y httpd",
        "/bin/sh -c apt-get update && apt-get upgrade -y",
        "/bin/sh -c #(nop)  LABEL note=apt-get update",
        "/bin/sh -c echo update",
        "/bin/sh -c pip install --upgrade pip && git submodule update",
    ],
)
def test_update_with_install_or_unrelated_not_flagged(line: str) -> None:
    assert not update_alone(line)


def test_4_7_info_pass_na() -> None:
    good = image(
        "good:1",
        history=history(DEBIAN_BASE, "/bin/sh -c apt-get update && apt-get install -y curl"),
    )
    bad = image("bad:1", history=history(DEBIAN_BASE, "/bin/sh -c apt-get update", DEBIAN_CMD))
    res = run("4.7", snapshot(imgs=(good, bad)))
    assert res.outcome is Outcome.INFO
    assert objs(res) == ["image:bad:1"]
    assert res.details[0].value == "/bin/sh -c apt-get update"
    # Manual check: nothing found becomes NOTE (a human still has to look at Dockerfiles).
    clean = run("4.7", snapshot(imgs=(good,)))
    assert clean.outcome is Outcome.NOTE and "no update-only" in clean.reason
    assert run("4.7", snapshot(imgs=(image("x:1", history=None),))).outcome is Outcome.NA
    partial = run("4.7", snapshot(imgs=(bad, image("x:1", history=None))))
    assert partial.outcome is Outcome.INFO and "x:1" in partial.reason


# ---------------------------------------------------------------- 4.9


def test_parse_history_forms() -> None:
    assert parse_history(DEBIAN_BASE)[0] == "ADD"
    assert parse_history("ADD app.tar.gz /opt/ # buildkit") == ("ADD", "app.tar.gz /opt/")
    assert parse_history("COPY . /src # buildkit") == ("COPY", ". /src")
    assert parse_history("RUN /bin/sh -c make # buildkit") == ("RUN", "make")
    assert parse_history("/bin/sh -c make") == ("RUN", "make")
    assert parse_history("sh") == ("", "sh")


def test_add_beyond_base_layer() -> None:
    hist = history(
        DEBIAN_BASE,
        DEBIAN_CMD,
        "ADD https://example.org/tool.tgz /opt/ # buildkit",
        "/bin/sh -c #(nop) ADD dir:0123456789abcdef0123 in /app ",
        "COPY . /src # buildkit",
    )
    assert add_instructions(hist) == [
        "https://example.org/tool.tgz /opt/",
        "dir:0123456789abcdef0123 in /app",
    ]
    # A base image imported from a tarball with BuildKit: the oldest entry is the base rootfs.
    assert add_instructions(history("ADD rootfs.tar.xz / # buildkit", 'CMD ["sh"]')) == []


def test_oldest_entry_follows_timestamps() -> None:
    base = "ADD rootfs.tar.xz / # buildkit"
    app = "ADD app.tar / # buildkit"
    # Stored oldest first with the API's unix times (base and CMD often share one second).
    stored = (
        HistoryEntry(base, created="1700000000"),
        HistoryEntry('CMD ["sh"]', created="1700000000"),
        HistoryEntry(app, created="1700000500"),
    )
    assert add_instructions(stored) == ["app.tar /"]
    # The same history listed newest first (Engine API order, RFC 3339 times) is recognised.
    api_order = (
        HistoryEntry(app, created="2024-02-01T00:00:00Z"),
        HistoryEntry(base, created="2024-01-01T00:00:00Z"),
    )
    assert add_instructions(api_order) == ["app.tar /"]


def test_4_9_info_pass_na() -> None:
    plain = image("plain:1", history=history(DEBIAN_BASE, DEBIAN_CMD, "COPY . /app # buildkit"))
    adds = image("adds:1", history=history(DEBIAN_BASE, "ADD https://x.example/a.tgz /a # buildkit"))
    res = run("4.9", snapshot(imgs=(plain, adds)))
    assert res.outcome is Outcome.INFO
    assert objs(res) == ["image:adds:1"]
    assert "remote URL" in res.details[0].message
    clean = run("4.9", snapshot(imgs=(plain,)))
    assert clean.outcome is Outcome.NOTE
    assert run("4.9", snapshot(imgs=None)).outcome is Outcome.NA


# ---------------------------------------------------------------- 4.4 / 4.8 / 4.10 scan seam


def test_manual_image_checks_note_without_scan() -> None:
    snap = snapshot(imgs=(image(),))
    for cid in ("4.2", "4.3", "4.4", "4.8", "4.10", "4.11", "4.12"):
        assert run(cid, snap).outcome is Outcome.NOTE, cid


def _scans(*summaries: ImageScanSummary) -> Snapshot:
    return snapshot(imgs=(image(),), image_scans=summaries)


APP = ImageScanSummary(
    "app:1",
    vulnerabilities={Severity.HIGH: 2, Severity.CRITICAL: 1, Severity.LOW: 0},
    setuid_files=("/usr/bin/passwd", "/bin/su"),
    secrets=("ENV AWS_KEY: AKIA****",),
)
CLEAN = ImageScanSummary("clean:1", vulnerabilities={Severity.HIGH: 0})
BROKEN = ImageScanSummary("broken:1", complete=False, error="layer blob missing")


def test_scans_report_what_they_found_in_their_own_words() -> None:
    vulns = run("4.4", _scans(APP, CLEAN, BROKEN))
    assert vulns.outcome is Outcome.ERROR  # one image could not be scanned: no overall word on it
    by_obj = {d.obj: d for d in vulns.details}
    assert by_obj["image:app:1"].message == "3 vulnerabilities (CRITICAL 1, HIGH 2)"
    assert by_obj["image:app:1"].outcome is Outcome.INFO  # a manual check: facts, not WARN
    assert by_obj["image:clean:1"].outcome is Outcome.PASS
    assert by_obj["image:broken:1"].outcome is Outcome.ERROR
    assert "vulnerabilities found in 1 scanned image(s) (app:1)" in vulns.reason
    assert "the scan failed for 1 scanned image(s) (broken:1)" in vulns.reason

    setuid = run("4.8", _scans(APP, CLEAN))
    assert setuid.outcome is Outcome.INFO
    assert [d.message for d in setuid.details if d.obj == "image:app:1"] == [
        "setuid/setgid file: /usr/bin/passwd", "setuid/setgid file: /bin/su"]
    assert setuid.reason == ("setuid/setgid files found in 1 scanned image(s) (app:1); "
                             "none found in 1 scanned image(s) (clean:1)")
    assert "from dockguard image scan" not in setuid.reason

    secrets = run("4.10", _scans(APP))
    assert [d.message for d in secrets.details] == ["possible secret: ENV AWS_KEY: AKIA****"]


def test_clean_complete_scans_say_so() -> None:
    res = run("4.8", _scans(CLEAN))
    assert res.outcome is Outcome.NOTE  # manual: a human still decides
    assert res.reason == "no setuid/setgid file found in 1 scanned image(s) (clean:1)"
    assert [d.outcome for d in res.details] == [Outcome.PASS]


def test_incomplete_scan_is_never_called_clean() -> None:
    partial = ImageScanSummary("part:1", complete=False, not_read=("layer 3: truncated",),
                               vulnerabilities={})
    for cid in ("4.4", "4.8", "4.10"):
        res = run(cid, _scans(partial))
        assert res.outcome is Outcome.NA, cid
        assert res.details[0].outcome is Outcome.NA
        assert "incomplete" in res.details[0].message and "layer 3: truncated" in res.details[0].message
        assert res.reason == "not determined for 1 scanned image(s) (part:1)"
    # What an incomplete scan did find is still shown.
    found = ImageScanSummary("part:1", complete=False, not_read=("x",), setuid_files=("/bin/su",))
    res = run("4.8", _scans(found))
    assert res.outcome is Outcome.INFO
    assert {d.outcome for d in res.details} == {Outcome.INFO, Outcome.NA}


def test_4_4_not_applicable_without_a_database() -> None:
    no_db = ImageScanSummary("app:1", vulnerabilities=None, setuid_files=())
    res = run("4.4", _scans(no_db))
    assert res.outcome is Outcome.NA
    assert "no vulnerability database" in res.details[0].message
    assert run("4.8", _scans(no_db)).outcome is Outcome.NOTE  # the rest of the scan is complete


def test_no_scanned_image_and_filters() -> None:
    empty = run("4.4", _scans())
    assert empty.outcome is Outcome.NOTE and empty.reason.startswith("no image was scanned")
    res = run("4.8", _scans(APP, CLEAN), exclude_containers=("app",))
    assert [d.obj for d in res.details] == ["image:clean:1"]
