"""The private-daemon harness itself: isolated, answering, able to build and run images."""

from __future__ import annotations

from tests.integration.dockerd import PrivateDaemon, build_image


def test_private_daemon_is_isolated(dockerd: PrivateDaemon) -> None:
    info = dockerd.api.info()
    assert info["DockerRootDir"] == str(dockerd.root / "data")
    assert dockerd.pidfile.read_text().strip() == str(dockerd.pid)


def test_busybox_image_runs(dockerd: PrivateDaemon, busybox_image: str) -> None:
    c = dockerd.api.create_container(busybox_image, ["sh", "-c", "echo hello-$((6*7))"])
    try:
        dockerd.api.start(c)
        assert dockerd.api.wait(c, timeout=60)["StatusCode"] == 0
        assert b"hello-42" in dockerd.api.logs(c)
    finally:
        dockerd.api.remove_container(c, force=True)


def test_build_from_local_base(dockerd: PrivateDaemon, busybox_image: str) -> None:
    tag = build_image(dockerd.api, f'FROM {busybox_image}\nUSER app\nCMD ["id"]\n', "dg-built:1")
    assert dockerd.api.inspect_image(tag)["Config"]["User"] == "app"
