"""Compose services judged by the authz policy, and bind/volume parsing shared with requests."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockguard.authz.compose import interpolate, load_compose, parse_compose
from dockguard.authz.decide import Decider
from dockguard.authz.dryrun import existing_subject
from dockguard.authz.lookup import VolumeInfo
from dockguard.authz.policy import Policy
from dockguard.authz.translate import local_volume_sources, parse_bind
from dockguard.inputs import InputError
from dockguard.snapshot import ContainerFacts, MountPoint


def judge(text: str, base: str = "/srv/app", env: dict[str, str] | None = None) -> dict[str, str]:
    f = parse_compose(text.encode(), "compose.yml", base, env or {})
    d = Decider(Policy(), None, resolve_symlinks=False)
    return {s.what.removeprefix("compose service "): d.judge([s]).message for s in f.subjects}


def test_compose_services() -> None:
    out = judge(
        """
services:
  ok:
    image: nginx
    volumes: ["./html:/usr/share/nginx/html:ro", "data:/data"]
    cap_drop: [ALL]
    ports: ["127.0.0.1:8080:80"]
  priv:
    image: x
    privileged: true
  caps:
    image: x
    cap_add: [SYS_ADMIN]
  mounts:
    image: x
    volumes:
      - type: bind
        source: /var/run/docker.sock
        target: /var/run/docker.sock
      - ../../etc:/e
  ns:
    image: x
    pid: host
    ipc: host
    uts: host
    userns_mode: host
  follower:
    image: x
    pid: "service:ns"
    volumes_from: ["mounts:ro"]
  sec:
    image: x
    security_opt: ["seccomp:unconfined", "apparmor=unconfined"]
    devices: ["/dev/sda:/dev/sda:r", {source: /dev/kvm, target: /dev/kvm, permissions: rwm}]
  disguised:
    image: x
    volumes: ["hostetc:/h"]
volumes:
  data: {}
  hostetc:
    driver: local
    driver_opts: {type: none, o: bind, device: /etc}
"""
    )
    assert out["ok"] == ""
    assert out["priv"] == "dockguard: refused: 5.5 privileged container (policy rule privileged)"
    assert "SYS_ADMIN (policy rule capabilities)" in out["caps"]
    assert "5.32 Docker socket /var/run/docker.sock mounted at /var/run/docker.sock" in out["mounts"]
    assert "5.6 host /etc mounted at /e" in out["mounts"]  # ../../etc from /srv/app
    for rule in ("host-pid", "host-ipc", "host-uts", "host-userns"):
        assert f"(policy rule {rule})" in out["ns"]
    assert "5.16 host PID namespace" in out["follower"] and "5.6 host /etc mounted at /e" in out["follower"]
    assert "seccomp disabled" in out["sec"] and "AppArmor profile is unconfined" in out["sec"]
    assert "/dev/sda exposed at /dev/sda (r)" in out["sec"] and "/dev/kvm" in out["sec"]
    assert "5.6 host /etc mounted at /h" in out["disguised"]


def test_interpolation_and_env_file(tmp_path: Path) -> None:
    assert interpolate("${A:-x}-${B-y}-$C-$$D-${E}", {"A": "", "B": "", "C": "c"}) == "x--c-$D-"
    (tmp_path / ".env").write_text("# comment\nSRC=/etc\nexport MODE='ro'\n")
    (tmp_path / "compose.yml").write_text("services:\n  a:\n    image: x\n    volumes: [\"${SRC}:/s:${MODE}\"]\n")
    f = load_compose(str(tmp_path / "compose.yml"), env={})
    msg = Decider(Policy(), None, resolve_symlinks=False).judge(list(f.subjects)).message
    assert "5.6 host /etc mounted at /s (read-only)" in msg


def test_external_volume_needs_the_daemon() -> None:
    out = judge("services:\n  a:\n    image: x\n    volumes: [\"ext:/x\"]\nvolumes:\n  ext:\n    external: true\n")
    assert "named volume ext cannot be verified (no daemon to look it up)" in out["a"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("services: {}\n", "no services"),
        ("services:\n  a:\n    privileged: sometimes\n", "$.services.a.privileged: expected true or false"),
        ("services:\n  a:\n    volumes: {x: y}\n", "$.services.a.volumes: expected a list"),
        ("services:\n  a:\n    volumes: [\"a:b:c:d\"]\n", "$.services.a.volumes[0]: volume specification"),
        ("x: &a {image: y}\nservices:\n  a: *a\n", "aliases are not accepted"),
        ("services:\n  a:\n    pids_limit: lots\n", "expected an integer"),
    ],
)
def test_bad_compose_files(text: str, message: str) -> None:
    with pytest.raises(InputError) as exc:
        parse_compose(text.encode(), "c.yml", "/", {})
    assert message in str(exc.value)


def test_parse_bind_and_local_volumes() -> None:
    assert parse_bind("/a:/b:ro,rshared") == ("/a", "/b", "ro,rshared")
    assert parse_bind("/data") == ("", "/data", "")
    assert parse_bind("a:b:c:d") is None and parse_bind(":x") is None
    assert local_volume_sources({}) == []
    assert local_volume_sources({"type": "nfs", "o": "addr=1.2.3.4", "device": ":/x"}) == []
    assert local_volume_sources({"type": "none", "o": "bind", "device": "/etc/../usr"}) == ["/usr"]
    assert local_volume_sources({"o": "rbind,ro", "device": "srv"}) == ["/srv"]
    assert local_volume_sources({"type": "xfs", "device": "/dev/sdb1"}) == ["/dev/sdb1"]
    assert local_volume_sources({"type": "overlay", "o": "lowerdir=/etc:/usr,upperdir=/u,workdir=/w",
                                 "device": "overlay"}) == ["/etc", "/usr", "/u", "/w"]


def test_existing_container_as_a_request() -> None:
    c = ContainerFacts(id="1", name="old", running=False, status="exited", apparmor_profile="",
                       mounts=(MountPoint("volume", "/var/lib/docker/volumes/v/_data", "/v"),))
    vols = {"/var/lib/docker/volumes/v/_data": VolumeInfo("v", "local", {"o": "bind", "device": "/boot"})}
    s = existing_subject(c, vols)
    assert s.facts.running and s.facts.apparmor_profile == "docker-default"
    msg = Decider(Policy(), None, resolve_symlinks=False).judge([s]).message
    assert "5.6 host /boot mounted at /v" in msg
