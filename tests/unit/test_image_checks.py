"""OS detection, secrets (always redacted), configuration checks and the image CLI."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from dockguard.cli import main
from dockguard.image import osdetect
from dockguard.image.config_rules import check_image
from dockguard.image.scan import build_inventory
from dockguard.image.secrets import scan_config, scan_text
from dockguard.image.sources import open_target
from dockguard.jsontypes import JsonObject
from tests.unit.image_helpers import OS_RELEASE_DEBIAN, D, F, docker_save, layer_tar


def detect(files: dict[str, str], today: dt.date = dt.date(2026, 1, 1)) -> osdetect.Detection:
    return osdetect.detect(files.get, today)


def test_os_detection_variants() -> None:
    d = detect({"etc/os-release": OS_RELEASE_DEBIAN.decode()})
    assert d.os is not None and (d.os.family, d.os.version, d.os.eol) == ("debian", "12", False)
    sid = detect({"etc/os-release": 'PRETTY_NAME="Debian GNU/Linux trixie/sid"\nID=debian\n',
                  "etc/debian_version": "trixie/sid\n"})
    assert sid.os is not None and sid.os.unstable and sid.os.version == "unstable"
    assert any("unstable" in w for w in sid.warnings)
    old = detect({"etc/debian_version": "9.13\n"})
    assert old.os is not None and (old.os.family, old.os.version, old.os.eol) == ("debian", "9", True)
    assert any("end-of-life" in w for w in old.warnings)
    alp = detect({"etc/alpine-release": "3.14.2\n"})
    assert alp.os is not None and (alp.os.version, alp.os.eol) == ("3.14", True)
    edge = detect({"etc/os-release": "ID=alpine\nVERSION_ID=3.20.0_alpha2\n",
                   "etc/apk/repositories": "# x\nhttps://mirror/alpine/edge/main\n"})
    assert edge.os is not None and edge.os.unstable and edge.os.version == "edge"
    ub = detect({"etc/os-release": 'ID=ubuntu\nVERSION_ID="20.04"\n'})
    assert ub.os is not None and ub.os.eol is True
    assert detect({}).os is None


def test_secret_rules_and_redaction() -> None:
    aws = "AKIA" + "ABCDEFGHIJKLMNOP"
    ghp = "ghp_" + "a" * 36
    text = (f"aws_key = {aws}\ntoken: {ghp}\n-----BEGIN OPENSSH PRIVATE KEY-----\n"
            "DB_PASSWORD=s3cr3t-value\nPASSWORD=${FROM_ENV}\nGPG_KEY=ABCDEF0123456789\n")
    hits = scan_text(text, "file:/etc/app.conf")
    assert [h.rule for h in hits] == ["aws-access-key-id", "github-token", "private-key",
                                      "generic-secret-assignment"]
    for hit in hits:
        assert aws not in hit.redacted and ghp not in hit.redacted and "s3cr3t" not in hit.redacted
    assert hits[0].redacted.startswith("aws_key = AKIA*")
    cfg: JsonObject = {"config": {"Env": ["PATH=/usr/bin", "API_KEY=abcdef123456"],
                      "Labels": {"token": "xoxb-1234567890-abc"}},
           "history": [{"created_by": "RUN echo MYSQL_ROOT_PASSWORD=rootpass123 > /x"}]}
    locs = {h.location for h in scan_config(cfg)}
    assert locs == {"env:API_KEY", "label:token", "history:0"}
    assert "abcdef123456" not in json.dumps([h.redacted for h in scan_config(cfg)])


def _image(tmp_path: Path, config: dict[str, object], history: list[dict[str, object]],
           tags: tuple[str, ...] = ("app:latest",)) -> Path:
    layers = [
        layer_tar([D("etc"), F("etc/os-release", OS_RELEASE_DEBIAN), D("tmp", 0o1777),
                   D("data", 0o777), F("usr/bin/passwd", b"x", mode=0o4755),
                   F("usr/bin/wall", b"x", mode=0o2755),
                   F("root/.aws/credentials", b"aws_secret_access_key = " + b"A" * 40 + b"\n")]),
        layer_tar([F("app/settings.py", b"SECRET_KEY = 'django-insecure-abcdefgh'\n")]),
    ]
    path = tmp_path / "img.tar"
    docker_save(path, layers, config=config, history=history, tags=tags)
    return path


def test_config_checks(tmp_path: Path) -> None:
    history: list[dict[str, object]] = [
        {"created_by": "/bin/sh -c #(nop) ADD file:abc in / "},
        {"created_by": "/bin/sh -c #(nop)  CMD [\"sh\"]", "empty_layer": True},
        {"created_by": "/bin/sh -c apt-get update"},
        {"created_by": "/bin/sh -c #(nop) ADD https://example.com/x.tgz /opt/"},
    ]
    path = _image(tmp_path, {"User": "0:0", "ExposedPorts": {"80/tcp": {}, "8080/tcp": {}}},
                  history)
    inv = build_inventory(open_target(str(path)))
    assert [layer.created_by for layer in inv.layers] == [
        str(history[0]["created_by"]).strip(), history[2]["created_by"]]
    findings = check_image(inv, "image:app:latest")
    by_id: dict[str, list[str]] = {}
    for f in findings:
        by_id.setdefault(f.id, []).append(f.title)
    assert by_id["IMG-ROOT-USER"] == ["Image runs as root (USER 0:0)"]
    assert "IMG-NO-HEALTHCHECK" in by_id and "IMG-UPDATE-ALONE" in by_id
    assert by_id["IMG-ADD"] == ["ADD downloads from a URL"]  # the base rootfs ADD is not flagged
    assert by_id["IMG-PRIVILEGED-PORT"] == ["Image exposes privileged port 80/tcp"]
    assert "IMG-LATEST-TAG" in by_id
    assert sorted(by_id["IMG-SETUID"]) == ["setgid file /usr/bin/wall", "setuid file /usr/bin/passwd"]
    assert by_id["IMG-WORLD-WRITABLE-DIR"] == ["World-writable directory without sticky bit /data"]
    secret_locs = sorted(f.fact("location") for f in findings if f.id == "IMG-SECRET")
    assert secret_locs == ["file:/app/settings.py:1", "file:/root/.aws/credentials:1"]
    assert "django-insecure" not in json.dumps([f.evidence for f in findings])

    ok = _image(tmp_path, {"User": "app", "Healthcheck": {"Test": ["CMD", "true"]}},
                [{"created_by": "ADD rootfs.tar /"}, {"created_by": "RUN apt-get update && "
                                                                    "apt-get install -y curl"}],
                tags=("app:1.0",))
    ids = {f.id for f in check_image(build_inventory(open_target(str(ok))), "image:app:1.0")}
    assert not ids & {"IMG-ROOT-USER", "IMG-NO-HEALTHCHECK", "IMG-UPDATE-ALONE", "IMG-ADD",
                      "IMG-LATEST-TAG", "IMG-PRIVILEGED-PORT"}


def test_cli_list_packages_sbom_and_missing_db(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKGUARD_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("DOCKGUARD_DB", str(tmp_path / "nodb.sqlite"))
    status = (b"Package: zlib1g\nStatus: install ok installed\nVersion: 1:1.2.13.dfsg-1\n"
              b"Architecture: amd64\nSource: zlib\n\n")
    path = tmp_path / "img.tar"
    docker_save(path, [layer_tar([F("etc/os-release", OS_RELEASE_DEBIAN),
                                  F("var/lib/dpkg/status", status)])])
    # No database: the inventory and the configuration are still reported (issue 11).
    assert main(["image", "scan", str(path)]) == 0
    out_text = capsys.readouterr().out
    assert "Vulnerabilities: NOT CHECKED: no database at" in out_text and "db update" in out_text
    assert "IMG-ROOT-USER" in out_text
    assert main(["image", "scan", "--list-packages", "--format", "json", str(path)]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [(p["name"], p["source_name"]) for p in doc["packages"]] == [("zlib1g", "zlib")]
    out = tmp_path / "sbom.json"
    assert main(["image", "sbom", str(path), "-o", str(out), "--spec", "1.5"]) == 0
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    text = out.read_text()
    assert JsonStrictValidator(SchemaVersion.V1_5).validate_str(text) is None
    bom = json.loads(text)
    assert [c["purl"] for c in bom["components"] if "purl" in c] == [
        "pkg:deb/debian/zlib1g@1.2.13.dfsg-1?arch=amd64&distro=debian-12&epoch=1"]
    assert main(["image", "scan", str(tmp_path / "nope.tar")]) == 2
    assert main(["image", "scan", "--list-packages", "--platform", "bad", str(path)]) == 2
