"""A private Debian ``docker-registry`` (distribution 2.8) for the channel tests.

Each instance gets its own config (written here, never the package's default, which listens on
all interfaces), storage directory and port on 127.0.0.1, and is stopped by its pid.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.integration.dockerd import free_port

REGISTRY = shutil.which("docker-registry") or "/usr/bin/docker-registry"
HTPASSWD = shutil.which("htpasswd") or "/usr/bin/htpasswd"


@dataclass
class Registry:
    """A running private registry."""

    root: Path
    port: int
    process: subprocess.Popen[bytes]
    scheme: str

    @property
    def host(self) -> str:
        """``127.0.0.1:PORT`` (the reference prefix)."""
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """``scheme://127.0.0.1:PORT``."""
        return f"{self.scheme}://{self.host}"

    @property
    def log(self) -> str:
        """The registry log so far."""
        return (self.root / "registry.log").read_text(errors="replace")

    def stop(self, remove: bool = True) -> None:
        """Stop this registry by its own pid and (by default) remove its directory."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        if remove:
            shutil.rmtree(self.root, ignore_errors=True)


def write_htpasswd(path: Path, user: str, password: str) -> Path:
    """A bcrypt htpasswd file (the registry refuses other hash types)."""
    out = subprocess.run(
        [HTPASSWD, "-Bbn", user, password], check=True, capture_output=True, text=True
    ).stdout
    path.write_text(out)
    return path


def start_registry(
    root: Path,
    *,
    tls: tuple[Path, Path] | None = None,
    minimum_tls: str | None = None,
    ciphersuites: list[str] | None = None,
    htpasswd: Path | None = None,
    token: dict[str, str] | None = None,
    storage_middleware: list[dict[str, Any]] | None = None,
    data_dir: Path | None = None,
    timeout: float = 20.0,
) -> Registry:
    """Start ``docker-registry serve`` on 127.0.0.1 with the given transport and auth.

    `storage_middleware` goes to ``middleware.storage`` (e.g. ``redirect``); `data_dir` lets
    several registries share one storage directory (default ``root/data``).
    """
    root.mkdir(parents=True, exist_ok=True)
    port = free_port()
    http: dict[str, Any] = {
        "addr": f"127.0.0.1:{port}",
        "secret": "dockguard-test-secret",
        "headers": {"X-Content-Type-Options": ["nosniff"]},
    }
    if tls:
        http["tls"] = {"certificate": str(tls[0]), "key": str(tls[1])}
        if minimum_tls:
            http["tls"]["minimumtls"] = minimum_tls
        if ciphersuites:
            http["tls"]["ciphersuites"] = ciphersuites
    config: dict[str, Any] = {
        "version": 0.1,
        "log": {"level": "info", "accesslog": {"disabled": True}},
        "storage": {"filesystem": {"rootdirectory": str(data_dir or root / "data")},
                    "delete": {"enabled": True}},
        "http": http,
    }
    if htpasswd:
        config["auth"] = {"htpasswd": {"realm": "dockguard-test", "path": str(htpasswd)}}
    if token:
        config["auth"] = {"token": token}
    if storage_middleware:
        config["middleware"] = {"storage": storage_middleware}
    cfg = root / "config.yml"
    cfg.write_text(yaml.safe_dump(config))
    with open(root / "registry.log", "wb") as log:
        proc = subprocess.Popen(
            [REGISTRY, "serve", str(cfg)], stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )
    reg = Registry(root, port, proc, "https" if tls else "http")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"docker-registry exited with {proc.returncode}:\n{reg.log[-2000:]}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return reg
        except OSError:
            time.sleep(0.05)
    reg.stop()
    raise RuntimeError(f"docker-registry did not listen within {timeout}s:\n{reg.log[-2000:]}")


def _digest(data: bytes) -> str:
    import hashlib

    return "sha256:" + hashlib.sha256(data).hexdigest()


def push_blob(session: Any, base: str, repo: str, data: bytes) -> str:
    """Monolithic blob upload (POST then PUT ?digest=); returns the digest."""
    from urllib.parse import urljoin

    digest = _digest(data)
    r = session.post(f"{base}/v2/{repo}/blobs/uploads/")
    assert r.status_code == 202, (r.status_code, r.text)
    location = urljoin(f"{base}/v2/{repo}/blobs/uploads/", r.headers["Location"])
    sep = "&" if "?" in location else "?"
    r = session.put(f"{location}{sep}digest={digest}", data=data,
                    headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 201, (r.status_code, r.text)
    return digest


def push_image(
    session: Any, base: str, repo: str, tag: str, layer_tars: list[bytes],
    *, architecture: str = "amd64", push_manifest_tag: bool = True,
) -> tuple[str, bytes, list[str]]:
    """Push gzip layers plus a config and a schema-2 manifest; returns (digest, manifest, diff_ids)."""
    import gzip
    import json

    diff_ids = [_digest(t) for t in layer_tars]
    blobs = [gzip.compress(t, mtime=0) for t in layer_tars]
    config = json.dumps({
        "architecture": architecture, "os": "linux",
        "config": {"Env": ["PATH=/bin"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }).encode()
    config_digest = push_blob(session, base, repo, config)
    layers = []
    for blob in blobs:
        layers.append({"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                       "size": len(blob), "digest": push_blob(session, base, repo, blob)})
    manifest = json.dumps({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
                   "size": len(config), "digest": config_digest},
        "layers": layers,
    }).encode()
    digest = _digest(manifest)
    r = session.put(f"{base}/v2/{repo}/manifests/{tag if push_manifest_tag else digest}",
                    data=manifest,
                    headers={"Content-Type": "application/vnd.docker.distribution.manifest.v2+json"})
    assert r.status_code == 201, (r.status_code, r.text)
    return digest, manifest, diff_ids


def push_index(session: Any, base: str, repo: str, tag: str,
               entries: list[tuple[str, bytes, str]]) -> str:
    """Push an OCI index over already pushed manifests: entries = (digest, manifest, arch)."""
    import json

    index = json.dumps({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {"mediaType": "application/vnd.docker.distribution.manifest.v2+json",
             "digest": d, "size": len(m), "platform": {"os": "linux", "architecture": arch}}
            for d, m, arch in entries
        ],
    }).encode()
    r = session.put(f"{base}/v2/{repo}/manifests/{tag}", data=index,
                    headers={"Content-Type": "application/vnd.oci.image.index.v1+json"})
    assert r.status_code == 201, (r.status_code, r.text)
    return _digest(index)


def tar_of(files: dict[str, bytes]) -> bytes:
    """A small layer tar with regular files."""
    import io
    import tarfile

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@dataclass(frozen=True)
class SeenRequest:
    """One request a RecordingFileServer received."""

    method: str
    path: str
    headers: dict[str, str]
    """Header names lower-cased."""


class RecordingFileServer:
    """Serves the files under `root` on 127.0.0.1 (over TLS with `ssl_context`) and records
    every request with its headers - a stand-in for the blob storage a registry redirects to.
    """

    def __init__(self, root: Path, ssl_context: Any = None) -> None:
        import http.server
        import threading

        self.root = root.resolve()
        self.requests: list[SeenRequest] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self._serve(body=True)

            def do_HEAD(self) -> None:
                self._serve(body=False)

            def _serve(self, body: bool) -> None:
                from urllib.parse import unquote, urlsplit

                server.requests.append(SeenRequest(
                    self.command, self.path, {k.lower(): v for k, v in self.headers.items()}
                ))
                path = (server.root / unquote(urlsplit(self.path).path).lstrip("/")).resolve()
                if not path.is_relative_to(server.root) or not path.is_file():
                    self.send_error(404)
                    return
                data = path.read_bytes()
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if body:
                    self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if ssl_context is not None:
            self.httpd.socket = ssl_context.wrap_socket(self.httpd.socket, server_side=True)
        self.port = int(self.httpd.server_address[1])
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=10)
