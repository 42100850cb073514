"""An image of the real daemon that cannot be read in full: `image scan` and `audit` say so,
and their ``--fail-on`` gates exit 2 instead of passing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.image_json import complete, incomplete
from tests.integration.dockerd import PrivateDaemon, build_image, env_for


def dockguard(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "dockguard", *args], env=env, capture_output=True,
                          text=True, timeout=600)


def test_incomplete_daemon_image_fails_image_and_audit_gates(
    dockerd: PrivateDaemon, busybox_image: str, tmp_path: Path
) -> None:
    tag = build_image(
        dockerd.api,
        f"FROM {busybox_image}\nRUN mkdir -p /var/lib/dpkg && "
        "dd if=/dev/zero of=/var/lib/dpkg/status bs=1048576 count=65 2>/dev/null\n",
        "dg-incomplete:1",
    )
    env = env_for(dockerd)
    env["DOCKGUARD_CACHE_DIR"] = str(tmp_path / "cache")
    env["DOCKGUARD_DB"] = str(tmp_path / "none.db")
    reason = "/var/lib/dpkg/status: 68157440 bytes is over the 67108864-byte cap for one file"

    scan = dockguard(env, "image", "scan", "--list-packages", "--format", "json", tag)
    assert scan.returncode == 0, scan.stderr
    doc = json.loads(scan.stdout)
    assert complete(doc) is False and any(reason in r for r in incomplete(doc))
    assert "Traceback" not in scan.stderr

    container = dockerd.api.create_container(tag, ["true"], name="dg-incomplete")
    try:
        gated = dockguard(env, "audit", "--format", "json", "-q", "--no-registries", "--fail-on", "CRITICAL")
        assert gated.returncode == 2, gated.stderr
        assert "cannot be decided" in gated.stderr and "image:dg-incomplete:1: INCOMPLETE" in gated.stderr
        sections = {n["part"]: n for n in json.loads(gated.stdout)["notes"]}
        assert sections["image:dg-incomplete:1"]["status"] == "INCOMPLETE"
        assert reason in sections["image:dg-incomplete:1"]["reason"]
        plain = dockguard(env, "audit", "--format", "json", "-q", "--no-registries")
        assert plain.returncode == 0, plain.stderr
    finally:
        dockerd.api.remove_container(container, force=True)
