"""The fleet with real parts: two private dockerds audited into one store (SQLite and the
private PostgreSQL), ``fleet report`` answering "where does CVE-X run?" with both hosts, the
difference after a container changed, and the HTML report in headless Chromium."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.dockerd import PrivateDaemon, build_image, cleanup_root, import_busybox, start_daemon
from tests.integration.scale_fixtures import (
    SITE,
    advisory_dir,
    build_db,
    dockguard,
    metadata,
)

pytestmark = pytest.mark.slow

APP = "dg-fleet-app:1"


@pytest.fixture(scope="module")
def second_dockerd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateDaemon]:
    """A second private dockerd on this machine: same hostname, its own daemon ID."""
    root = tmp_path_factory.mktemp("fleet-dockerd")
    daemon = start_daemon(root)
    try:
        yield daemon
    finally:
        daemon.stop()
        cleanup_root(root)


def _app_image(daemon: PrivateDaemon) -> str:
    """busybox plus jinja2 2.10's dist-info (affected by PyPA advisories) in a layer of its own."""
    base = import_busybox(daemon.api)
    files = {"site/jinja2-2.10.dist-info/METADATA": metadata("jinja2", "2.10")}
    return build_image(daemon.api, f"FROM {base}\nCOPY site /{SITE}/\n", APP, files)


def _run(daemon: PrivateDaemon, image: str, name: str) -> str:
    cid: str = daemon.api.create_container(image, ["sleep", "3600"], name=name)["Id"]
    daemon.api.start(cid)
    return cid


@pytest.fixture(scope="module")
def hosts(dockerd: PrivateDaemon, second_dockerd: PrivateDaemon) -> Iterator[tuple[PrivateDaemon, PrivateDaemon]]:
    """Host A runs ``web``, host B runs ``api``, both from the vulnerable image."""
    import docker

    _run(dockerd, _app_image(dockerd), "fleet-web")
    _run(second_dockerd, _app_image(second_dockerd), "fleet-api")
    try:
        yield dockerd, second_dockerd
    finally:
        for daemon, name in ((dockerd, "fleet-web"), (second_dockerd, "fleet-api")):
            with contextlib.suppress(docker.errors.NotFound):
                daemon.api.remove_container(name, force=True)


@pytest.fixture(scope="module")
def vuln_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("fleet-db")
    return build_db(base / "vuln.db", base / "work", ("jinja2",))


#: A jinja2 advisory affecting 2.10 (fixed in 2.11.3), left out of `old_db`; reports name it by its CVE.
HELD_OUT = "PYSEC-2021-66"
NEW_ID = "CVE-2020-28493"


@pytest.fixture(scope="module")
def old_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The jinja2 advisories without `HELD_OUT`: the database before it was published."""
    base = tmp_path_factory.mktemp("fleet-old-db")
    osv = advisory_dir(base / "work", ("jinja2",))
    held = osv / "vulns" / "jinja2" / f"{HELD_OUT}.yaml"
    assert held.is_file(), held
    held.unlink()
    r = dockguard(["db", "import", str(osv), "--db", str(base / "old.db")])
    assert r.returncode == 0, r.stderr
    return base / "old.db"


def _audit(daemon: PrivateDaemon, store: str, db: Path, out: Path) -> dict[str, Any]:
    env = {"DOCKER_HOST": daemon.url, "DOCKGUARD_DB": str(db), "DOCKGUARD_CACHE_DIR": str(out.parent / "cache"),
           "PATH": "/usr/bin:/bin"}
    r = dockguard(["audit", "-q", "--no-registries", "--store", store, "--format", "json", "-o", str(out)], env)
    assert r.returncode == 0, r.stderr
    assert "internal error" not in r.stderr
    assert "recorded host" in r.stderr, r.stderr
    data: dict[str, Any] = json.loads(out.read_text())
    return data


def _fleet(store: str, *args: str) -> dict[str, Any]:
    r = dockguard(["fleet", "report", "--store", store, "--format", "json", *args])
    assert r.returncode == 0, r.stderr
    data: dict[str, Any] = json.loads(r.stdout)
    return data


def test_where_a_cve_runs_on_two_hosts_and_what_changed(
        hosts: tuple[PrivateDaemon, PrivateDaemon], store_url: str, vuln_db: Path, tmp_path: Path) -> None:
    a, b = hosts
    report_a = _audit(a, store_url, vuln_db, tmp_path / "a1.json")
    _audit(b, store_url, vuln_db, tmp_path / "b1.json")
    ids = sorted({f["id"] for f in report_a["findings"]
                  if f["kind"] == "vulnerability" and f["package"]["name"].lower() == "jinja2"})
    assert ids, "the audit found no jinja2 advisory"
    cve = ids[0]
    info_a, info_b = a.api.info(), b.api.info()
    assert info_a["ID"] != info_b["ID"] and info_a["Name"] == info_b["Name"]

    fleet = _fleet(store_url, "--cve", cve)
    hosts_doc = fleet["source"]["hosts"]
    assert {h["daemon_id"] for h in hosts_doc} == {info_a["ID"], info_b["ID"]}
    assert len({h["label"] for h in hosts_doc}) == 2  # one hostname, two daemons: two hosts
    label = {h["daemon_id"]: h["label"] for h in hosts_doc}
    image_a, image_b = a.api.inspect_image(APP), b.api.inspect_image(APP)
    where = {(f["evidence"]["host"], f["evidence"]["containers"], f["evidence"]["image"], f["evidence"]["image_id"],
              f["package"]["layer"], f["package"]["name"].lower(), f["package"]["version"])
             for f in fleet["findings"] if f["id"] == cve}
    # Each daemon built its own image: the layer that brought jinja2 is the last of each.
    assert where == {(label[info_a["ID"]], "fleet-web", APP, image_a["Id"], image_a["RootFS"]["Layers"][-1],
                      "jinja2", "2.10"),
                     (label[info_b["ID"]], "fleet-api", APP, image_b["Id"], image_b["RootFS"]["Layers"][-1],
                      "jinja2", "2.10")}

    text = dockguard(["fleet", "report", "--store", store_url, "--cve", cve]).stdout
    assert f"{label[info_a['ID']]} → fleet-web → {APP}" in text
    assert f"{label[info_b['ID']]} → fleet-api → {APP}" in text

    # Host A: the vulnerable container is gone, a plain busybox one runs instead.
    a.api.remove_container("fleet-web", force=True)
    plain = _run(a, "dg-busybox:1", "fleet-plain")
    try:
        _audit(a, store_url, vuln_db, tmp_path / "a2.json")
        again = _fleet(store_url, "--cve", cve)
        live = {f["evidence"]["host"] for f in again["findings"] if f["suppressed"] is None}
        fixed = {f["evidence"]["host"] for f in again["findings"] if f["change"] == "fixed"}
        assert live == {label[info_b["ID"]]} and fixed == {label[info_a["ID"]]}
        full = _fleet(store_url)
        a_doc = next(h for h in full["source"]["hosts"] if h["daemon_id"] == info_a["ID"])
        assert a_doc["previous_run"] and a_doc["containers"] >= 1
        text = dockguard(["fleet", "report", "--store", store_url]).stdout
        assert f"{label[info_a['ID']]} (previous run {a_doc['previous_run']}):" in text
        assert f"    - [{fixed_severity(again, cve)}] {cve}" in text
        html = tmp_path / "fleet.html"
        r = dockguard(["fleet", "report", "--store", store_url, "--format", "html", "-o", str(html)])
        assert r.returncode == 0, r.stderr
        if store_url.endswith(".sqlite"):
            _check_in_browser(html, cve, label[info_a["ID"]], label[info_b["ID"]])
        # --fail-on: the vulnerable image still runs on B.
        gate = dockguard(["fleet", "report", "--store", store_url, "--fail-on", "LOW", "--cve", cve])
        assert gate.returncode == 1, gate.stderr
    finally:
        a.api.remove_container(plain, force=True)
        _run(a, APP, "fleet-web")  # as the next store engine's run expects it


def fixed_severity(report: dict[str, Any], cve: str) -> str:
    return str(next(f["severity"] for f in report["findings"] if f["id"] == cve and f["change"] == "fixed"))


def _check_in_browser(html: Path, cve: str, host_a: str, host_b: str) -> None:
    from playwright.sync_api import sync_playwright

    from tests.integration.test_html_browser import CHROMIUM, launch

    if not Path(CHROMIUM).exists():
        pytest.fail("Debian chromium is not installed (make test-deps installs it)")
    errors: list[str] = []
    requests: list[str] = []
    with sync_playwright() as p:
        browser = launch(p)
        try:
            page = browser.new_page()
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.on("request", lambda r: requests.append(r.url))
            page.goto(html.resolve().as_uri())
            for section in ("fleet-hosts", "fleet-checks", "fleet-images", "fleet-where", "fleet-changes"):
                assert page.locator(f"#{section}").is_visible(), section
            hosts_text = page.locator("#fleet-hosts").inner_text()
            assert host_a in hosts_text and host_b in hosts_text
            where = page.locator("#fleet-where").inner_text()
            assert cve in where and f"{host_b} → fleet-api → {APP}" in where
            changes = page.locator("#fleet-changes").inner_text()
            assert host_a in changes and cve in changes
            page.screenshot(path=str(html.with_suffix(".png")), full_page=True)
        finally:
            browser.close()
    assert errors == [] and requests == [html.resolve().as_uri()]


def test_store_failure_still_writes_the_report(hosts: tuple[PrivateDaemon, PrivateDaemon], vuln_db: Path,
                                               tmp_path: Path) -> None:
    a, _ = hosts
    bad = tmp_path / "a-directory"
    bad.mkdir()
    out = tmp_path / "report.json"
    env = {"DOCKER_HOST": a.url, "DOCKGUARD_DB": str(vuln_db), "DOCKGUARD_CACHE_DIR": str(tmp_path / "c"),
           "PATH": "/usr/bin:/bin"}
    r = dockguard(["audit", "-q", "--no-registries", "--store", str(bad), "--format", "json", "-o", str(out)], env)
    assert r.returncode == 2
    assert "not recorded in the store" in r.stderr and "not a regular file" in r.stderr
    assert "internal error" not in r.stderr
    assert json.loads(out.read_text())["source"]["surface"] == "audit"


def test_collect_store_records_the_host(hosts: tuple[PrivateDaemon, PrivateDaemon], tmp_path: Path) -> None:
    _, b = hosts
    store = str(tmp_path / "c.sqlite")
    env = {"DOCKER_HOST": b.url, "PATH": "/usr/bin:/bin"}
    r = dockguard(["collect", "--store", store], env)
    assert r.returncode == 0, r.stderr
    assert b.api.info()["ID"] in r.stderr
    fleet = dockguard(["fleet", "report", "--store", store])
    assert fleet.returncode == 0
    assert "(not audited)" in fleet.stdout and "no audit recorded" in fleet.stdout


def test_a_new_advisory_reaches_every_host_by_rematch_without_a_new_audit(
        hosts: tuple[PrivateDaemon, PrivateDaemon], store_url: str, vuln_db: Path, old_db: Path,
        tmp_path: Path) -> None:
    a, b = hosts
    audited = [_audit(d, store_url, old_db, tmp_path / f"{n}.json") for d, n in ((a, "a"), (b, "b"))]
    for report in audited:
        ids = {i for f in report["findings"] if f["kind"] == "vulnerability"
               for i in (f["id"], *f["vulnerability"]["aliases"])}
        assert ids and not ids & {HELD_OUT, NEW_ID}  # jinja2 2.10 is vulnerable, but not yet to NEW_ID
    before = _fleet(store_url, "--cve", NEW_ID)
    assert before["findings"] == [] and [n["part"] for n in before["notes"]] == [f"cve:{NEW_ID}"]
    runs = {h["label"]: h["run"] for h in before["source"]["hosts"]}

    # `db update` brought HELD_OUT: re-match the stored inventories, no new audit.
    r = dockguard(["store", "rematch", "--store", store_url, "--db", str(vuln_db), "--format", "json"])
    assert r.returncode == 0, r.stderr
    rematch = json.loads(r.stdout)
    assert rematch["new"] >= 2, rematch  # HELD_OUT in the image of each host

    fleet = _fleet(store_url, "--cve", NEW_ID)
    assert {h["label"]: h["run"] for h in fleet["source"]["hosts"]} == runs  # still the same audits
    info_a, info_b = a.api.info(), b.api.info()
    label = {h["daemon_id"]: h["label"] for h in fleet["source"]["hosts"]}
    image_a, image_b = a.api.inspect_image(APP), b.api.inspect_image(APP)
    where = {(f["evidence"]["host"], f["evidence"]["containers"], f["evidence"]["image"], f["evidence"]["image_id"],
              f["package"]["layer"], f["package"]["name"].lower(), f["package"]["version"])
             for f in fleet["findings"]}
    assert where == {(label[info_a["ID"]], "fleet-web", APP, image_a["Id"], image_a["RootFS"]["Layers"][-1],
                      "jinja2", "2.10"),
                     (label[info_b["ID"]], "fleet-api", APP, image_b["Id"], image_b["RootFS"]["Layers"][-1],
                      "jinja2", "2.10")}
    assert {f["id"] for f in fleet["findings"]} == {NEW_ID}
    assert all(HELD_OUT in f["vulnerability"]["aliases"] for f in fleet["findings"])
    assert all(f["evidence"]["vulns_as_of"].startswith(f"rematch {rematch['run']} at ") for f in fleet["findings"])
    assert all(f["suppressed"] is None and f["change"] is None for f in fleet["findings"])  # one audit per host
    notes = [n for n in fleet["notes"] if n["status"] == "WARNING"]
    assert sorted(n["part"] for n in notes) == sorted(f"host:{x}" for x in runs)
    assert all(f"as of rematch {rematch['run']}" in n["reason"] for n in notes)
    # The alias answers too, and the text layout draws both paths.
    text = dockguard(["fleet", "report", "--store", store_url, "--cve", HELD_OUT]).stdout
    (tmp_path / "fleet-cve.txt").write_text(text)  # kept for a look (docs/scale.md shows one)
    assert f"{label[info_a['ID']]} → fleet-web → {APP}" in text
    assert f"{label[info_b['ID']]} → fleet-api → {APP}" in text
    gate = dockguard(["fleet", "report", "--store", store_url, "--fail-on", "LOW", "--cve", NEW_ID])
    assert gate.returncode == 1, gate.stderr
