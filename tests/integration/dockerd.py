"""A private dockerd for the integration tests.

It gets its own --data-root, --exec-root, --pidfile and unix socket under a temp directory,
no bridge and no iptables, and is stopped by its pid.  It never touches another daemon.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import signal
import subprocess
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker

DOCKERD = shutil.which("dockerd") or "/usr/sbin/dockerd"
BUSYBOX = shutil.which("busybox") or "/bin/busybox"
BUSYBOX_APPLETS = (
    "sh",
    "ls",
    "cat",
    "chmod",
    "sleep",
    "id",
    "echo",
    "true",
    "false",
    "touch",
    "stat",
    "mkdir",
    "rm",
    "env",
    "ps",
    "top",
    "grep",
    "wc",
    "head",
    "tail",
    "sed",
    "date",
)


@dataclass
class PrivateDaemon:
    """A running private dockerd and how to reach it."""

    root: Path
    socket: Path
    pidfile: Path
    process: subprocess.Popen[bytes]
    config_file: Path | None = None
    extra_args: tuple[str, ...] = ()
    _client: docker.APIClient | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        """DOCKER_HOST value for this daemon."""
        return f"unix://{self.socket}"

    @property
    def pid(self) -> int:
        """The dockerd pid."""
        return self.process.pid

    @property
    def api(self) -> docker.APIClient:
        """A low-level Engine API client bound to this daemon only."""
        if self._client is None:
            self._client = docker.APIClient(base_url=self.url, version="auto", timeout=120)
        return self._client

    @property
    def log(self) -> str:
        """The daemon log so far (for failure messages)."""
        return (self.root / "dockerd.log").read_text(errors="replace")

    def _kill_containers(self) -> None:
        """Kill this daemon's running containers so that it shuts down promptly."""
        from concurrent.futures import ThreadPoolExecutor

        api = self.api
        try:
            ids = [c["Id"] for c in api.containers()]
            with ThreadPoolExecutor(max_workers=8) as pool:
                list(pool.map(lambda cid: api.kill(cid), ids))
        except Exception:
            pass

    def stop(self) -> None:
        """Stop this daemon (by its own pid) and wait for it."""
        if self.process.poll() is None and self._client is not None:
            self._kill_containers()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        if self._client is not None:
            self._client.close()


def start_daemon(
    root: Path,
    *,
    extra_args: tuple[str, ...] = (),
    daemon_json: dict[str, Any] | None = None,
    listen_unix: bool = True,
    timeout: float = 60.0,
    unix_host: str | None = None,
) -> PrivateDaemon:
    """Start a private dockerd under `root` and wait until it answers /_ping.

    `unix_host` is the ``--host`` value of its unix socket when it must be spelled in a
    particular way (``unix://ROOT//docker.sock``); the socket is the path it names.
    """
    root.mkdir(parents=True, exist_ok=True)
    sock = root / "docker.sock"
    if unix_host is not None:
        sock = Path(os.path.normpath(unix_host.removeprefix("unix://")))
    pidfile = root / "docker.pid"
    args = [
        DOCKERD,
        f"--data-root={root / 'data'}",
        f"--exec-root={root / 'exec'}",
        f"--pidfile={pidfile}",
        "--bridge=none",
        "--iptables=false",
        "--ip6tables=false",
    ]
    if listen_unix:
        args.append(f"--host={unix_host or f'unix://{sock}'}")
    # Always pass --config-file so the host's /etc/docker/daemon.json never leaks in, and keep
    # the daemon's trust key in the temp dir (dockerd 20.10 writes /etc/docker/key.json otherwise).
    config_file = root / "daemon.json"
    config_file.write_text(json.dumps({"deprecated-key-path": str(root / "key.json"), **(daemon_json or {})}))
    args.append(f"--config-file={config_file}")
    args.extend(extra_args)
    log = open(root / "dockerd.log", "wb")  # noqa: SIM115 - handed to the child
    # HOME in the temp dir: tools the daemon runs (ps for `top`) keep their state there.
    env = dict(os.environ, HOME=str(root))
    proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=env)
    daemon = PrivateDaemon(root, sock, pidfile, proc, config_file, tuple(extra_args))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"dockerd exited with {proc.returncode}:\n{daemon.log[-3000:]}")
        if not listen_unix:
            return daemon
        if sock.exists():
            try:
                if daemon.api.ping():
                    return daemon
            except Exception:
                pass
        time.sleep(0.1)
    daemon.stop()
    raise RuntimeError(f"dockerd did not answer within {timeout}s:\n{daemon.log[-3000:]}")


def busybox_tar(applets: tuple[str, ...] = BUSYBOX_APPLETS) -> bytes:
    """A root filesystem tar with a static busybox and some applet links."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for d in ("bin", "etc", "tmp", "root"):
            info = tarfile.TarInfo(d)
            info.type = tarfile.DIRTYPE
            info.mode = 0o1777 if d == "tmp" else 0o755
            tar.addfile(info)
        tar.add(BUSYBOX, arcname="bin/busybox")
        for applet in applets:
            info = tarfile.TarInfo(f"bin/{applet}")
            info.type = tarfile.SYMTYPE
            info.linkname = "busybox"
            tar.addfile(info)
        for name, text in (
            ("etc/passwd", "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/tmp:/bin/sh\n"),
            ("etc/group", "root:x:0:\napp:x:1000:\n"),
        ):
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def import_busybox(api: docker.APIClient, repository: str = "dg-busybox", tag: str = "1") -> str:
    """Import the busybox rootfs as an image (like ``docker import``); returns ``repo:tag``."""
    with tempfile.NamedTemporaryFile(suffix=".tar") as f:
        f.write(busybox_tar())
        f.flush()
        api.import_image_from_file(f.name, repository=repository, tag=tag)
    return f"{repository}:{tag}"


def build_image(api: docker.APIClient, dockerfile: str, tag: str, files: dict[str, bytes] | None = None) -> str:
    """``docker build`` a context made of `dockerfile` and `files` (legacy builder, no pulls)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in {"Dockerfile": dockerfile.encode(), **(files or {})}.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    buf.seek(0)
    out = []
    for chunk in api.build(fileobj=buf, custom_context=True, tag=tag, rm=True, pull=False, decode=True):
        out.append(chunk)
        if "error" in chunk:
            raise RuntimeError(f"docker build {tag} failed: {chunk['error']}")
    return tag


def _descendants(pid: int) -> list[int]:
    out: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                kids = [int(k) for k in f.read().split()]
        except OSError:
            continue
        for kid in kids:
            out.append(kid)
            out.extend(_descendants(kid))
    return out


def kill_leftovers(root: Path) -> int:
    """SIGKILL processes a stopped daemon left behind (shims naming `root`) and their children.

    Only processes whose command line names this daemon's own temp directory are touched.
    """
    marker = str(root).encode()
    victims: list[int] = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == os.getpid():
            continue
        try:
            with open(f"/proc/{name}/cmdline", "rb") as f:
                cmdline = f.read()
        except OSError:
            continue
        if marker in cmdline:
            victims.extend(_descendants(int(name)))
            victims.append(int(name))
    for pid in victims:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    return len(victims)


def cleanup_root(root: Path) -> None:
    """Remove a daemon root: kill what its daemon left running, unmount, delete."""
    kill_leftovers(root)
    with open("/proc/self/mountinfo") as f:
        mounts = [line.split()[4] for line in f]
    for mp in sorted((m for m in mounts if m.startswith(str(root))), key=len, reverse=True):
        subprocess.run(["umount", "-l", mp], check=False, capture_output=True)
    shutil.rmtree(root, ignore_errors=True)


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def env_for(daemon: PrivateDaemon) -> dict[str, str]:
    """Environment for running dockguard against `daemon`."""
    env = dict(os.environ)
    env["DOCKER_HOST"] = daemon.url
    env.pop("DOCKER_TLS_VERIFY", None)
    env.pop("DOCKER_CERT_PATH", None)
    return env
