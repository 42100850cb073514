"""Blob redirects during registry pulls, with a real docker-registry.

The registry's ``redirect`` storage middleware answers blob GETs with ``307`` to
``<baseurl scheme and host>/<storage path>``; a RecordingFileServer serves the registry's storage
directory there and records the headers it gets.  ``localhost`` is another host than
``127.0.0.1`` as far as credentials go, although both reach the same loopback address.
"""

from __future__ import annotations

import hashlib
import json
import os
import ssl
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import trustme

from dockguard.channel.registry_api import Credentials, RegistryClient, parse_reference
from dockguard.errors import OperationalError
from dockguard.image.pull import RegistrySource, open_registry_source
from tests.integration.registry import (
    RecordingFileServer,
    Registry,
    push_image,
    start_registry,
    tar_of,
    write_htpasswd,
)

USER, PASSWORD = "carol", "redirect-pw"
METADATA = b"Metadata-Version: 2.1\nName: redirected-pkg\nVersion: 4.5.6\n"
LAYER = tar_of({"usr/lib/python3/site-packages/redirected_pkg-4.5.6.dist-info/METADATA": METADATA})


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    ca = trustme.CA()
    d = tmp_path_factory.mktemp("redirect-pki")
    ca.cert_pem.write_to_path(str(d / "ca.pem"))
    registry_cert = ca.issue_cert("127.0.0.1")
    registry_cert.cert_chain_pems[0].write_to_path(str(d / "registry.crt"))
    registry_cert.private_key_pem.write_to_path(str(d / "registry.key"))
    blob_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("localhost").configure_cert(blob_ctx)
    return {"dir": d, "ca": str(d / "ca.pem"), "blob_ctx": blob_ctx}


@pytest.fixture(scope="module")
def storage(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One storage directory, shared by every registry and blob server of this module."""
    return tmp_path_factory.mktemp("redirect-storage")


@pytest.fixture(scope="module")
def htpasswd(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_htpasswd(tmp_path_factory.mktemp("redirect-htpasswd") / "htpasswd",
                          USER, PASSWORD)


@pytest.fixture
def servers() -> Iterator[Any]:
    """Start registries and blob servers; every one is stopped at the end of the test."""
    started: list[Registry | RecordingFileServer] = []

    def blob_server(root: Path, ssl_context: ssl.SSLContext | None = None
                    ) -> RecordingFileServer:
        server = RecordingFileServer(root, ssl_context)
        started.append(server)
        return server

    def registry(**kw: Any) -> Registry:
        reg = start_registry(Path(tempfile.mkdtemp(prefix="dg-registry-redirect-")), **kw)
        started.append(reg)
        return reg

    yield blob_server, registry
    for s in reversed(started):
        s.stop()


def redirecting(baseurl: str) -> list[dict[str, Any]]:
    return [{"name": "redirect", "options": {"baseurl": baseurl}}]


def session(verify: bool | str = True) -> requests.Session:
    s = requests.Session()
    s.trust_env = False
    s.auth = (USER, PASSWORD)
    s.verify = verify
    return s


def pull_and_check(ref: str, diff_ids: list[str], ca_cert: str | None = None,
                   *, plain_http_credentials: bool = False) -> None:
    """Pull config and layers with credentials; each layer decompresses to its diff_id."""
    if plain_http_credentials:
        client = RegistryClient(parse_reference(ref).registry,
                                credentials=Credentials(USER, PASSWORD),
                                allow_plain_http_credentials=True)
        source = RegistrySource(client, ref, None)
    else:
        source = open_registry_source(ref, username=USER, password=PASSWORD, ca_cert=ca_cert)
    try:
        meta = source.metadata()
        assert [layer.diff_id for layer in meta.layers] == diff_ids
        for layer in meta.layers:
            stream = source.open_layer(layer)
            digest = "sha256:" + hashlib.sha256(stream.stream.read()).hexdigest()
            stream.stream.close()
            assert digest == layer.diff_id
    finally:
        source.close()


def blob_paths(manifest: bytes) -> set[str]:
    doc = json.loads(manifest)
    digests = [doc["config"]["digest"]] + [layer["digest"] for layer in doc["layers"]]
    return {
        f"/docker/registry/v2/blobs/sha256/{d[7:9]}/{d[7:]}/data" for d in digests
    }


def test_redirect_to_another_host_drops_the_authorization_header(
    servers: Any, storage: Path, htpasswd: Path
) -> None:
    blob_server, registry = servers
    blobs = blob_server(storage)
    reg = registry(htpasswd=htpasswd, data_dir=storage,
                   storage_middleware=redirecting(f"http://localhost:{blobs.port}/"))
    _, manifest, diff_ids = push_image(session(), reg.url, "redir/app", "1", [LAYER])
    config_digest = json.loads(manifest)["config"]["digest"]

    # The registry itself redirects the blob GET (with the credentials it demands) ...
    r = session().get(f"{reg.url}/v2/redir/app/blobs/{config_digest}", allow_redirects=False)
    assert r.status_code == 307
    assert r.headers["Location"].startswith(f"http://localhost:{blobs.port}/docker/registry/v2/")
    anonymous = session()
    anonymous.auth = None
    assert anonymous.get(f"{reg.url}/v2/").status_code == 401
    blobs.requests.clear()

    # ... and the pull follows it: digests verified, no credentials for the other host.
    # (Credentials over plain HTTP need the explicit loopback permission.)
    with pytest.raises(OperationalError, match="--allow-plain-http-credentials"):
        pull_and_check(f"{reg.host}/redir/app:1", diff_ids)
    assert blobs.requests == []
    pull_and_check(f"{reg.host}/redir/app:1", diff_ids, plain_http_credentials=True)
    assert {req.path for req in blobs.requests} == blob_paths(manifest)
    assert all("authorization" not in req.headers for req in blobs.requests), blobs.requests
    assert {req.headers["host"] for req in blobs.requests} == {f"localhost:{blobs.port}"}


def test_https_redirect_to_another_https_host(
    servers: Any, storage: Path, htpasswd: Path, pki: dict[str, Any], tmp_path: Path
) -> None:
    blob_server, registry = servers
    blobs = blob_server(storage, pki["blob_ctx"])
    reg = registry(htpasswd=htpasswd, data_dir=storage,
                   tls=(pki["dir"] / "registry.crt", pki["dir"] / "registry.key"),
                   storage_middleware=redirecting(f"https://localhost:{blobs.port}/"))
    _, manifest, diff_ids = push_image(session(pki["ca"]), reg.url, "redir/tls", "1", [LAYER])
    blobs.requests.clear()

    pull_and_check(f"{reg.host}/redir/tls:1", diff_ids, pki["ca"])
    assert {req.path for req in blobs.requests} == blob_paths(manifest)
    assert all("authorization" not in req.headers for req in blobs.requests), blobs.requests

    # The CLI scans the redirected layers like any other.
    blobs.requests.clear()
    proc = subprocess.run(
        [sys.executable, "-m", "dockguard", "image", "scan", f"{reg.host}/redir/tls:1",
         "--ca-cert", pki["ca"], "--username", USER, "--password-stdin",
         "--list-packages", "--format", "json", "--no-cache"],
        input=PASSWORD + "\n", capture_output=True, text=True, timeout=120,
        env=dict(os.environ, DOCKER_CONFIG=str(tmp_path)),
    )
    assert proc.returncode == 0, proc.stderr
    packages = {(p["name"], p["version"]) for p in json.loads(proc.stdout)["packages"]}
    assert ("redirected-pkg", "4.5.6") in packages
    assert blobs.requests
    assert all("authorization" not in req.headers for req in blobs.requests)


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_https_to_http_redirect_is_refused(
    servers: Any, storage: Path, htpasswd: Path, pki: dict[str, Any], tmp_path: Path
) -> None:
    blob_server, registry = servers
    blobs = blob_server(storage)
    reg = registry(htpasswd=htpasswd, data_dir=storage,
                   tls=(pki["dir"] / "registry.crt", pki["dir"] / "registry.key"),
                   storage_middleware=redirecting(f"http://localhost:{blobs.port}/"))
    push_image(session(pki["ca"]), reg.url, "redir/down", "1", [LAYER])
    ref = f"{reg.host}/redir/down:1"
    target = f"http://localhost:{blobs.port}/docker/registry/v2/blobs/sha256/"

    with pytest.raises(OperationalError, match=f"refusing redirect from HTTPS to {target}"):
        open_registry_source(ref, username=USER, password=PASSWORD,
                             ca_cert=pki["ca"]).metadata()
    # --insecure is about the registry's own certificate; it does not allow a downgrade
    # (shown on an open registry over the same storage: with --insecure no credentials go out).
    with pytest.raises(OperationalError, match="refusing to send credentials"):
        open_registry_source(ref, insecure=True, username=USER, password=PASSWORD).metadata()
    open_reg = registry(data_dir=storage,
                        tls=(pki["dir"] / "registry.crt", pki["dir"] / "registry.key"),
                        storage_middleware=redirecting(f"http://localhost:{blobs.port}/"))
    with pytest.raises(OperationalError, match="refusing redirect from HTTPS"):
        open_registry_source(f"{open_reg.host}/redir/down:1", insecure=True).metadata()
    proc = subprocess.run(
        [sys.executable, "-m", "dockguard", "image", "scan", ref, "--ca-cert", pki["ca"],
         "--username", USER, "--password-stdin", "--list-packages",
         "--no-cache"],
        input=PASSWORD + "\n", capture_output=True, text=True, timeout=120,
        env=dict(os.environ, DOCKER_CONFIG=str(tmp_path)),
    )
    assert proc.returncode == 2
    assert "refusing redirect from HTTPS to http://localhost:" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    # Nothing was fetched over plain HTTP.
    assert blobs.requests == []
