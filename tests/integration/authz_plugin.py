"""A real ``dockguard authz serve`` child and the spec file that makes dockerd find it.

The spec file (``/etc/docker/plugins/NAME.spec`` → ``unix://SOCKET``) is the only thing the
authz tests write outside their temp dirs; it carries a unique name and is removed (with the
directory when the test created it) at the end.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.integration.dockerd import PrivateDaemon

SPEC_DIR = Path("/etc/docker/plugins")


def unique_name(prefix: str = "dgauthz") -> str:
    """A plugin name no other test or host plugin uses."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@dataclass
class SpecFile:
    """``SPEC_DIR/NAME.spec`` pointing at a socket; `remove` undoes exactly what `write` did."""

    name: str
    socket: Path
    created_dir: bool = False

    @property
    def path(self) -> Path:
        """Where the spec file lives."""
        return SPEC_DIR / f"{self.name}.spec"

    def write(self) -> None:
        """Create the spec (and its directory if missing)."""
        if not SPEC_DIR.is_dir():
            SPEC_DIR.mkdir(parents=True)
            self.created_dir = True
        self.path.write_text(f"unix://{self.socket}\n")

    def remove(self) -> None:
        """Remove the spec, and the directory when this test created it and it is empty."""
        self.path.unlink(missing_ok=True)
        if self.created_dir:
            with contextlib.suppress(OSError):
                SPEC_DIR.rmdir()


@dataclass
class Plugin:
    """A running ``dockguard authz serve`` process."""

    socket: Path
    log: Path
    args: tuple[str, ...]
    process: subprocess.Popen[bytes] | None = None
    stderr_path: Path | None = None
    restarts: int = field(default=0)

    def start(self, timeout: float = 20.0) -> None:
        """Start the plugin and wait until its socket accepts connections."""
        self.stderr_path = self.log.with_suffix(f".stderr{self.restarts}")
        err = open(self.stderr_path, "wb")  # noqa: SIM115 - handed to the child
        self.process = subprocess.Popen(
            [sys.executable, "-m", "dockguard", "authz", "serve", "--socket", str(self.socket),
             "--log", str(self.log), *self.args],
            stdout=subprocess.DEVNULL, stderr=err, start_new_session=True,
        )
        err.close()
        self.restarts += 1
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"dockguard authz serve exited: {self.stderr}")
            if _connects(self.socket):
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"dockguard authz serve did not listen on {self.socket}: {self.stderr}")

    @property
    def stderr(self) -> str:
        """What the plugin printed on stderr."""
        return self.stderr_path.read_text(errors="replace") if self.stderr_path else ""

    def kill(self) -> None:
        """SIGKILL the plugin (a crash: the socket file stays behind)."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        """SIGTERM the plugin and wait."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def decisions(self) -> list[dict[str, Any]]:
        """The decision log so far."""
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines() if line.strip()]


def _connects(path: Path) -> bool:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(str(path))
        return True
    except OSError:
        return False
    finally:
        s.close()


def cli_env(daemon: PrivateDaemon, config_dir: Path) -> dict[str, str]:
    """Environment for the docker CLI: this daemon only, its config in a temp dir, legacy builder."""
    e = dict(os.environ)
    e["DOCKER_HOST"] = daemon.url
    e.pop("DOCKER_TLS_VERIFY", None)
    e.pop("DOCKER_CERT_PATH", None)
    e["DOCKER_CONFIG"] = str(config_dir)
    e["DOCKER_BUILDKIT"] = "0"
    return e


def docker(env: dict[str, str], *args: str, timeout: float = 120, check: bool = False,
           stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run the docker CLI with `env` (see `cli_env`)."""
    proc = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout, env=env, input=stdin)
    if check and proc.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} failed ({proc.returncode}): {proc.stderr}")
    return proc


def curl(daemon: PrivateDaemon, method: str, path: str, *, data: bytes | None = None,
         headers: tuple[str, ...] = ("Content-Type: application/json",), timeout: float = 60,
         extra: tuple[str, ...] = ()) -> tuple[int, str]:
    """A raw Engine API request with curl over the daemon's unix socket: (status, body)."""
    cmd = ["curl", "-sS", "--max-time", str(timeout), "--unix-socket", str(daemon.socket), "-X", method,
           "-o", "-", "-w", "\n%{http_code}"]
    for h in headers:
        cmd += ["-H", h]
    if data is not None:
        cmd += ["--data-binary", "@-"]
    cmd += [*extra, f"http://docker{path}"]
    proc = subprocess.run(cmd, input=data, capture_output=True, timeout=timeout + 10)
    out = proc.stdout.decode(errors="replace")
    body, _, code = out.rpartition("\n")
    return int(code) if code.strip().isdigit() else 0, body
