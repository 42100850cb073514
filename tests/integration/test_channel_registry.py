"""`registry probe` and registry pulls against real Debian docker-registry instances.

Every registry listens on 127.0.0.1 with a config written by tests.integration.registry and is
stopped by its pid.  Certificates come from trustme.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import trustme

from dockguard.channel import registry_api
from dockguard.channel.registry_api import Credentials, RegistryClient, parse_reference
from dockguard.cli import main
from dockguard.errors import OperationalError
from dockguard.image.digests import DigestMismatch
from dockguard.image.pull import looks_like_registry_ref, open_registry_source
from dockguard.image.scan import build_inventory
from dockguard.image.sources import DaemonSource
from tests.image_json import image
from tests.integration.dockerd import PrivateDaemon, build_image
from tests.integration.probes import step_facts
from tests.integration.registry import (
    Registry,
    push_image,
    push_index,
    start_registry,
    tar_of,
    write_htpasswd,
)

USER, PASSWORD = "alice", "s3cret-pw"


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def pem_files(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("reg-pki")
    good = ca.issue_cert("127.0.0.1", "localhost")
    expired = ca.issue_cert(
        "127.0.0.1",
        not_before=dt.datetime.now(dt.UTC) - dt.timedelta(days=40),
        not_after=dt.datetime.now(dt.UTC) - dt.timedelta(days=2),
    )
    out = {"ca": d / "ca.pem"}
    ca.cert_pem.write_to_path(str(out["ca"]))
    for name, leaf in (("good", good), ("expired", expired)):
        out[f"{name}.crt"] = d / f"{name}.crt"
        out[f"{name}.key"] = d / f"{name}.key"
        leaf.cert_chain_pems[0].write_to_path(str(out[f"{name}.crt"]))
        leaf.private_key_pem.write_to_path(str(out[f"{name}.key"]))
    return out


@pytest.fixture
def registries() -> Iterator[Any]:
    started: list[Registry] = []

    def start(**kw: Any) -> Registry:
        reg = start_registry(Path(tempfile.mkdtemp(prefix="dg-registry-")), **kw)
        started.append(reg)
        return reg

    yield start
    for reg in started:
        reg.stop()


@pytest.fixture(scope="module")
def plain_registry() -> Iterator[Registry]:
    reg = start_registry(Path(tempfile.mkdtemp(prefix="dg-registry-plain-")))
    yield reg
    reg.stop()


@pytest.fixture(scope="module")
def tls_registry(pem_files: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
                 ) -> Iterator[Registry]:
    htpasswd = write_htpasswd(tmp_path_factory.mktemp("htpasswd") / "htpasswd", USER, PASSWORD)
    reg = start_registry(
        Path(tempfile.mkdtemp(prefix="dg-registry-tls-")),
        tls=(pem_files["good.crt"], pem_files["good.key"]), htpasswd=htpasswd,
    )
    yield reg
    reg.stop()


def session(auth: tuple[str, str] | None = None, verify: bool | str = True) -> requests.Session:
    s = requests.Session()
    s.trust_env = False
    s.auth = auth
    s.verify = verify
    return s


def probe(capsys: pytest.CaptureFixture[str], *argv: str, stdin: str | None = None,
          monkeypatch: pytest.MonkeyPatch | None = None) -> tuple[int, dict[str, Any]]:
    if stdin is not None:
        assert monkeypatch is not None
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    code = main(["registry", "probe", *argv, "--format", "json"])
    return code, json.loads(capsys.readouterr().out)


def steps(result: dict[str, Any]) -> dict[str, str]:
    return {s["name"]: s["status"] for s in result["steps"]}


def reasons(result: dict[str, Any]) -> dict[str, str]:
    return {s["name"]: s["reason"] for s in result["steps"]}


def findings(result: dict[str, Any]) -> dict[str, str]:
    return {f["id"]: f["severity"] for f in result["findings"]}


# --- probe verdicts ----------------------------------------------------------------------


def test_plain_open_registry(plain_registry: Registry, capsys: pytest.CaptureFixture[str]) -> None:
    push_image(session(), plain_registry.url, "probe/app", "1", [tar_of({"a": b"A"})])
    code, result = probe(capsys, plain_registry.host, "--try-push", "--fail-on", "critical")
    assert code == 1
    assert step_facts(result)["scheme"] == "http"
    assert step_facts(result)["api_version_header"] == "registry/2.0"
    assert findings(result) == {
        "registry.plain-http": "HIGH",
        "registry.anonymous-catalog": "MEDIUM",
        "registry.anonymous-pull": "MEDIUM",
        "registry.anonymous-push": "CRITICAL",
    }
    assert "probe/app" in step_facts(result)["repositories"].split(", ")
    assert "upload cancelled (HTTP 204)" in reasons(result)["anonymous-push"]


def test_push_is_not_tried_without_the_flag(
    plain_registry: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    code, result = probe(capsys, f"http://{plain_registry.host}")
    assert code == 0
    assert steps(result)["anonymous-push"] == "SKIPPED"
    assert "registry.anonymous-push" not in findings(result)


def test_tls_htpasswd_registry_is_closed(
    tls_registry: Registry, pem_files: dict[str, Path], capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    code, result = probe(
        capsys, tls_registry.url, "--ca-cert", str(pem_files["ca"]), "--try-push",
        "--repository", "private/app", "--username", USER, "--password-stdin",
        "--fail-on", "low", stdin=PASSWORD + "\n", monkeypatch=monkeypatch,
    )
    assert code == 0, result
    assert result["findings"] == []
    assert step_facts(result)["auth"] == "basic"
    assert {k: v for k, v in step_facts(result).items() if k.startswith("tls_versions.")} == {
        "tls_versions.TLSv1.0": "refused", "tls_versions.TLSv1.1": "refused",
        "tls_versions.TLSv1.2": "accepted", "tls_versions.TLSv1.3": "accepted",
    }
    assert reasons(result)["credentials"] == "accepted"
    assert reasons(result)["anonymous-catalog"] == "refused: HTTP 401"
    assert reasons(result)["anonymous-pull"] == "refused: tags list HTTP 401"
    assert reasons(result)["anonymous-push"] == "refused: HTTP 401"
    assert steps(result)["certificate-chain"] == "COMPLETED"
    assert "verifies against" in reasons(result)["certificate-chain"]


def test_wrong_password_and_untrusted_chain(
    tls_registry: Registry, pem_files: dict[str, Path], capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    code, result = probe(capsys, tls_registry.url, "--ca-cert", str(pem_files["ca"]),
                         "--username", USER, "--password-stdin",
                         stdin="wrong\n", monkeypatch=monkeypatch)
    assert code == 0
    assert reasons(result)["credentials"] == "refused: HTTP 401"
    # No --ca-cert: trustme's CA is in no trust store, so the credentials stay home.
    code, result = probe(capsys, tls_registry.url, "--username", USER, "--password-stdin",
                         stdin=PASSWORD + "\n", monkeypatch=monkeypatch)
    assert code == 0
    assert steps(result)["credentials"] == "SKIPPED"
    assert reasons(result)["credentials"] == (
        "refusing to send credentials: the certificate chain does not verify "
        "(unable to get local issuer certificate)"
    )
    assert findings(result) == {"registry.cert-untrusted": "MEDIUM"}


def test_basic_auth_over_plain_http_is_critical(
    registries: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    reg = registries(htpasswd=write_htpasswd(tmp_path / "htpasswd", USER, PASSWORD))
    # It really works with credentials over plain HTTP (that is the problem).
    assert session((USER, PASSWORD)).get(f"{reg.url}/v2/").status_code == 200
    code, result = probe(capsys, reg.host, "--username", USER, "--password-stdin",
                         "--fail-on", "critical", stdin=PASSWORD + "\n", monkeypatch=monkeypatch)
    assert code == 1
    assert findings(result) == {"registry.plain-http": "HIGH",
                                "registry.basic-over-http": "CRITICAL"}
    assert reasons(result)["credentials"] == (
        "refusing to send credentials over plain HTTP "
        "(allowed for a loopback registry with --allow-plain-http-credentials)"
    )
    # With the explicit permission (a loopback registry only), the check runs.
    code, result = probe(capsys, reg.host, "--username", USER, "--password-stdin",
                         "--allow-plain-http-credentials", stdin=PASSWORD + "\n",
                         monkeypatch=monkeypatch)
    assert reasons(result)["credentials"] == "accepted"


def test_token_realm_over_http_is_high(
    registries: Any, pem_files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    realm = "http://127.0.0.1:9/token"  # discard port: nothing answers there
    reg = registries(
        tls=(pem_files["good.crt"], pem_files["good.key"]),
        token={"realm": realm, "service": "dg-registry", "issuer": "dg-issuer",
               "rootcertbundle": str(pem_files["ca"])},
    )
    code, result = probe(capsys, reg.url, "--ca-cert", str(pem_files["ca"]), "--fail-on", "high")
    assert code == 1
    assert findings(result) == {"registry.bearer-realm-http": "HIGH"}
    assert step_facts(result)["token_realm"] == realm
    # The token service cannot be reached: the step says so instead of passing.
    assert steps(result)["anonymous-token"] == "FAILED"


def test_tls_1_0_accepted_is_high(
    registries: Any, pem_files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    # The default suites are all AEAD (TLS 1.2+): with them alone even minimumtls tls1.0
    # cannot complete a TLS 1.0 handshake, so add a CBC suite as old configs did.
    reg = registries(
        tls=(pem_files["good.crt"], pem_files["good.key"]), minimum_tls="tls1.0",
        ciphersuites=["TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
                      "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "TLS_AES_128_GCM_SHA256"],
    )
    code, result = probe(capsys, reg.url, "--ca-cert", str(pem_files["ca"]))
    assert code == 0
    assert step_facts(result)["tls_versions.TLSv1.0"] == "accepted"
    assert step_facts(result)["tls_versions.TLSv1.1"] == "accepted"
    assert findings(result)["registry.tls-old-version"] == "HIGH"


def test_expired_certificate_is_high(
    registries: Any, pem_files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    reg = registries(tls=(pem_files["expired.crt"], pem_files["expired.key"]))
    code, result = probe(capsys, reg.url, "--ca-cert", str(pem_files["ca"]), "--fail-on", "high")
    assert code == 1
    assert findings(result)["registry.cert-expired"] == "HIGH"
    assert int(step_facts(result)["certificate.days_left"]) < 0
    # The chain is fine apart from the date, which is reported once, not twice.
    assert "registry.cert-untrusted" not in findings(result)


def test_unreachable_registry_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    from tests.integration.dockerd import free_port

    code, result = probe(capsys, f"127.0.0.1:{free_port()}")
    assert code == 2
    assert steps(result)["connect"] == "FAILED"
    assert set(list(steps(result).values())[1:]) == {"SKIPPED"}


# --- pulls -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pushed(dockerd: PrivateDaemon, busybox_image: str, plain_registry: Registry) -> str:
    """A busybox-based image with a Python package, pushed by the private dockerd."""
    metadata = b"Metadata-Version: 2.1\nName: demo-pkg\nVersion: 1.2.3\n"
    build_image(dockerd.api, f"FROM {busybox_image}\nCOPY METADATA "
                "/usr/lib/python3/site-packages/demo_pkg-1.2.3.dist-info/METADATA\n",
                "dg-chan-app:1", {"METADATA": metadata})
    name = f"{plain_registry.host}/chan/app"
    dockerd.api.tag("dg-chan-app:1", name, "1")
    out = list(dockerd.api.push(name, tag="1", stream=True, decode=True))
    assert not [o for o in out if "error" in o], out
    return f"{name}:1"


def test_registry_pull_matches_daemon_inventory(
    pushed: str, dockerd: PrivateDaemon, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert looks_like_registry_ref(pushed)
    source = open_registry_source(pushed)
    try:
        meta = source.metadata()
        inspect = dockerd.api.inspect_image("dg-chan-app:1")
        assert [layer.diff_id for layer in meta.layers] == inspect["RootFS"]["Layers"]
        assert meta.kind == "registry"
        # Each blob is verified on download; it decompresses to the layer's diff_id.
        for layer in meta.layers:
            stream = source.open_layer(layer)
            digest = hashlib.sha256(stream.stream.read()).hexdigest()
            stream.stream.close()
            assert f"sha256:{digest}" == layer.diff_id
        from_registry = build_inventory(source)
    finally:
        source.close()
    monkeypatch.setenv("DOCKER_HOST", dockerd.url)
    daemon_source = DaemonSource("dg-chan-app:1")
    try:
        from_daemon = build_inventory(daemon_source)
    finally:
        daemon_source.close()
    assert from_registry.packages == from_daemon.packages
    assert any(p.name == "demo-pkg" for p in from_registry.packages)
    assert from_registry.layers == from_daemon.layers
    assert from_registry.setuid_files == from_daemon.setuid_files


def test_image_scan_cli_pulls_by_reference_without_a_daemon(
    pushed: str, dockerd: PrivateDaemon, tmp_path: Path
) -> None:
    def packages(target: str, env: dict[str, str]) -> list[tuple[str, str, str]]:
        p = subprocess.run(
            [sys.executable, "-m", "dockguard", "image", "scan", target, "--list-packages", "--format", "json",
             "--no-cache"],
            env=env, capture_output=True, text=True, timeout=120,
        )
        assert p.returncode == 0, p.stderr
        data = json.loads(p.stdout)
        return sorted((pk["type"], pk["name"], pk["version"]) for pk in data["packages"])

    no_daemon = dict(os.environ, DOCKER_HOST=f"unix://{tmp_path}/none.sock", DOCKER_CONFIG=str(tmp_path))
    by_ref = packages(pushed, no_daemon)
    by_daemon = packages("dg-chan-app:1", dict(os.environ, DOCKER_HOST=dockerd.url))
    assert by_ref == by_daemon
    assert ("pypi", "demo-pkg", "1.2.3") in by_ref


def test_index_follows_platform_and_digest_pins(plain_registry: Registry) -> None:
    s = session()
    amd = push_image(s, plain_registry.url, "multi/app", "amd64", [tar_of({"amd": b"1"})])
    arm = push_image(s, plain_registry.url, "multi/app", "arm64",
                     [tar_of({"arm": b"2"}), tar_of({"more": b"3"})], architecture="arm64")
    index_digest = push_index(s, plain_registry.url, "multi/app", "1",
                              [(amd[0], amd[1], "amd64"), (arm[0], arm[1], "arm64")])
    client = RegistryClient(plain_registry.host)
    ref = parse_reference(f"{plain_registry.host}/multi/app:1")
    pulled = client.resolve(ref, "linux/arm64")
    assert pulled.index_digest == index_digest
    assert pulled.manifest_digest == arm[0]
    assert pulled.platform == "linux/arm64"
    assert [json.loads(arm[1])["layers"][i]["digest"] for i in (0, 1)] == [
        d.digest for d in pulled.layers
    ]
    assert client.resolve(ref, "linux/amd64").manifest_digest == amd[0]
    with pytest.raises(OperationalError, match="no image for linux/s390x"):
        client.resolve(ref, "linux/s390x")
    # Pinned by digest: the manifest is verified against it.
    pinned = parse_reference(f"{plain_registry.host}/multi/app@{amd[0]}")
    assert client.resolve(pinned, "linux/amd64").manifest_digest == amd[0]


def test_corrupted_blob_is_rejected(plain_registry: Registry) -> None:
    """A layer whose stored bytes no longer match its digest is refused, not scanned."""
    s = session()
    _, manifest, _ = push_image(s, plain_registry.url, "corrupt/app", "1",
                                     [tar_of({"x": b"original"})])
    layer = json.loads(manifest)["layers"][0]
    data_dir = plain_registry.root / "data" / "docker" / "registry" / "v2" / "blobs" / "sha256"
    hexd = layer["digest"].split(":")[1]
    blob = data_dir / hexd[:2] / hexd / "data"
    original = blob.read_bytes()
    blob.write_bytes(bytes([original[0] ^ 0xFF]) + original[1:])
    client = RegistryClient(plain_registry.host)
    desc = registry_api.Descriptor(layer["mediaType"], layer["digest"], layer["size"])
    with pytest.raises(DigestMismatch):
        client.open_blob("corrupt/app", desc)


def test_tls_pull_needs_trust_and_credentials(
    tls_registry: Registry, pem_files: dict[str, Path]
) -> None:
    s = session((USER, PASSWORD), str(pem_files["ca"]))
    digest, _, diff_ids = push_image(s, tls_registry.url, "private/app", "1",
                                     [tar_of({"secret": b"data"})])
    ref = f"{tls_registry.host}/private/app:1"
    # Verification is on: trustme's CA is unknown without ca_cert.
    with pytest.raises(OperationalError, match=r"CERTIFICATE_VERIFY_FAILED|TLS error"):
        open_registry_source(ref, username=USER, password=PASSWORD).metadata()
    # Without credentials: Basic challenge, clear error.
    with pytest.raises(OperationalError, match="requires a login"):
        open_registry_source(ref, ca_cert=str(pem_files["ca"])).metadata()
    source = open_registry_source(ref, username=USER, password=PASSWORD,
                                  ca_cert=str(pem_files["ca"]))
    assert [layer.diff_id for layer in source.metadata().layers] == diff_ids
    source.close()
    # --insecure skips verification (and is the only way to), but then the credentials stay
    # home: they only ever go over verified TLS.
    insecure = open_registry_source(ref, insecure=True, username=USER, password=PASSWORD)
    with pytest.raises(OperationalError, match="refusing to send credentials: TLS verification "
                       "is off"):
        insecure.pulled()
    insecure.close()
    assert digest


def test_credentials_from_docker_config_and_helper(
    tls_registry: Registry, pem_files: dict[str, Path], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import base64

    ref = f"{tls_registry.host}/private/app:1"
    push_image(session((USER, PASSWORD), str(pem_files["ca"])), tls_registry.url,
               "private/app", "1", [tar_of({"secret": b"data"})])
    cfg = tmp_path / "docker"
    cfg.mkdir()
    auth = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    (cfg / "config.json").write_text(json.dumps({"auths": {tls_registry.host: {"auth": auth}}}))
    monkeypatch.setenv("DOCKER_CONFIG", str(cfg))
    source = open_registry_source(ref, ca_cert=str(pem_files["ca"]))
    assert source.client.credentials is not None
    assert source.client.credentials.source.endswith("config.json")
    assert source.metadata().layers
    source.close()

    # A real credential helper program on PATH (docker-credential-<name> get).
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    helper = bin_dir / "docker-credential-dgtest"
    helper.write_text(
        "#!/bin/sh\nread server\n"
        f"if [ \"$server\" = \"{tls_registry.host}\" ]; then\n"
        f"  printf '{{\"ServerURL\":\"%s\",\"Username\":\"{USER}\",\"Secret\":\"{PASSWORD}\"}}' "
        "\"$server\"\nelse echo 'credentials not found in native keychain'; exit 1; fi\n"
    )
    helper.chmod(0o755)
    (cfg / "config.json").write_text(json.dumps({"credHelpers": {tls_registry.host: "dgtest"}}))
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    source = open_registry_source(ref, ca_cert=str(pem_files["ca"]))
    assert source.client.credentials == Credentials(USER, PASSWORD, "docker-credential-dgtest")
    assert source.metadata().layers
    source.close()
    # Nothing stored for another registry: anonymous.
    assert registry_api.credentials_from_config("other.example:5000") is None


def test_image_scan_sends_credentials_over_plain_http_only_with_the_flag(
    registries: Any, tmp_path: Path
) -> None:
    """A loopback registry with htpasswd over plain HTTP: the pull is refused without
    --allow-plain-http-credentials (nothing is sent), and works with it."""
    reg = registries(htpasswd=write_htpasswd(tmp_path / "htpasswd", USER, PASSWORD))
    layer = tar_of({"etc/os-release": b"ID=alpine\nVERSION_ID=3.19.1\n"})
    push_image(session((USER, PASSWORD)), reg.url, "team/app", "1", [layer])
    env = dict(os.environ, DOCKER_CONFIG=str(tmp_path), HOME=str(tmp_path), XDG_CACHE_HOME=str(tmp_path))

    def scan(*extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "dockguard", "image", "scan", f"{reg.host}/team/app:1", "--list-packages",
             "--format", "json", "--no-cache", "--username", USER, "--password-stdin", *extra],
            env=env, input=PASSWORD + "\n", capture_output=True, text=True, timeout=120,
        )

    refused = scan()
    assert refused.returncode == 2
    assert "refusing to send credentials" in refused.stderr
    assert "--allow-plain-http-credentials" in refused.stderr
    assert "Traceback" not in refused.stderr
    allowed = scan("--allow-plain-http-credentials")
    assert allowed.returncode == 0, allowed.stderr
    assert image(json.loads(allowed.stdout))["os_family"] == "alpine"
