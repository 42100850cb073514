"""`daemon probe` and `daemon tls-init` against real private dockerd instances on 127.0.0.1.

Each daemon listens only on TCP, started with certificates made by `dockguard daemon tls-init`,
and is stopped by its pid at the end of the test.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest

from dockguard.channel import daemon_probe
from dockguard.cli import main
from tests.integration.dockerd import PrivateDaemon, cleanup_root, free_port, start_daemon
from tests.integration.probes import step_facts


def wait_port(port: int, proc: subprocess.Popen[bytes], log: str = "", timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}: {log}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("pki") / "certs"
    assert main(["daemon", "tls-init", "--out", str(out), "--host", "localhost",
                 "--ip", "127.0.0.1", "--days", "90"]) == 0
    return out


@pytest.fixture
def tcp_daemon() -> Iterator[Any]:
    """Factory: start a TCP-only private dockerd with extra args; all stopped at the end."""
    started: list[tuple[PrivateDaemon, Path]] = []

    def start(*args: str) -> str:
        root = Path(tempfile.mkdtemp(prefix="dg-tcp-dockerd-"))
        port = free_port()
        daemon = start_daemon(root, extra_args=(*args, "-H", f"tcp://127.0.0.1:{port}"),
                              listen_unix=False)
        started.append((daemon, root))
        wait_port(port, daemon.process, "")
        return f"tcp://127.0.0.1:{port}"

    yield start
    for daemon, root in started:
        daemon.stop()
        cleanup_root(root)


def tls_args(pki: Path, *, verify: bool) -> tuple[str, ...]:
    files = (f"--tlscacert={pki / 'ca.pem'}", f"--tlscert={pki / 'server-cert.pem'}",
             f"--tlskey={pki / 'server-key.pem'}")
    # dockerd 20.10 turns client verification on whenever a CA is given, unless told otherwise.
    return ("--tlsverify", *files) if verify else ("--tls", "--tlsverify=false", *files)


def probe_json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any]]:
    code = main(["daemon", "probe", *argv, "--format", "json"])
    return code, json.loads(capsys.readouterr().out)


def steps(result: dict[str, Any]) -> dict[str, str]:
    return {s["name"]: s["status"] for s in result["steps"]}


def finding_ids(result: dict[str, Any]) -> dict[str, str]:
    return {f["id"]: f["severity"] for f in result["findings"]}


def test_tls_init_files_have_safe_modes(pki: Path) -> None:
    modes = {p.name: p.stat().st_mode & 0o777 for p in pki.iterdir()}
    assert modes == {
        "ca.pem": 0o444, "server-cert.pem": 0o444, "cert.pem": 0o444,
        "ca-key.pem": 0o400, "server-key.pem": 0o400, "key.pem": 0o400,
    }
    assert pki.stat().st_mode & 0o777 == 0o700


def test_tls_init_refuses_to_overwrite(pki: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = (pki / "ca-key.pem").read_bytes()
    code = main(["daemon", "tls-init", "--out", str(pki), "--host", "localhost"])
    assert code == 2
    assert "--force" in capsys.readouterr().err
    assert (pki / "ca-key.pem").read_bytes() == before


def test_tlsverify_daemon_accepts_client_and_probe_is_clean(
    pki: Path, tcp_daemon: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    url = tcp_daemon(*tls_args(pki, verify=True))
    # The docker SDK with the client certificate (what DOCKER_CERT_PATH users get) works.
    tls = docker.tls.TLSConfig(client_cert=(str(pki / "cert.pem"), str(pki / "key.pem")),
                               ca_cert=str(pki / "ca.pem"), verify=True)
    client = docker.APIClient(base_url=url.replace("tcp://", "https://"), tls=tls, version="1.41")
    client.trust_env = False  # else requests prefers $REQUESTS_CA_BUNDLE over the given CA
    assert client.ping()
    client.close()

    code, result = probe_json(capsys, url, "--cert-path", str(pki), "--fail-on", "low")
    assert code == 0, result
    assert set(steps(result).values()) == {"COMPLETED"}, result["steps"]
    # 90 days of validity: not "expiring" (< 30 days), no finding at all.
    assert result["findings"] == []
    facts = step_facts(result)
    assert facts["client_verification"] == "True"
    assert facts["foreign_client_cert_accepted"] == "False"
    assert facts["tls_versions.TLSv1.0"] == "refused"
    assert facts["tls_versions.TLSv1.2"] == "accepted"
    assert 88 <= int(facts["certificate.days_left"]) <= 90
    assert facts["api_version"]
    assert result["source"]["surface"] == "daemon-probe" and result["source"]["target"] == url

    run = daemon_probe.probe(daemon_probe.parse_endpoint(url), None)
    assert run.facts.tls_authentication is True
    assert run.facts.tls_versions_accepted == ("TLSv1.2", "TLSv1.3")
    assert run.facts.certificate is not None and 88 <= run.facts.certificate.days_left <= 90
    assert daemon_probe.endpoint_summary(run)["tls_authentication"] is True


def test_tls_without_verify_is_critical(
    pki: Path, tcp_daemon: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    url = tcp_daemon(*tls_args(pki, verify=False))
    code, result = probe_json(capsys, url, "--fail-on", "critical")
    assert code == 1
    assert finding_ids(result) == {"endpoint.tls-no-client-verify": "CRITICAL"}
    assert steps(result)["tls-without-client-cert"] == "COMPLETED"
    assert steps(result)["client-cert"] == "SKIPPED"
    run = daemon_probe.probe(daemon_probe.parse_endpoint(url), None)
    assert run.facts.tls_authentication is False
    assert run.facts.client_verification is False
    assert daemon_probe.endpoint_summary(run)["tls_authentication"] is False


def test_plain_tcp_is_critical(tcp_daemon: Any, capsys: pytest.CaptureFixture[str]) -> None:
    url = tcp_daemon()
    code, result = probe_json(capsys, url, "--fail-on", "high")
    assert code == 1
    assert finding_ids(result) == {"endpoint.plain-http": "CRITICAL"}
    assert step_facts(result)["api_version"]
    assert step_facts(result)["plain_http"] == "True"


def test_short_lived_certificate_is_medium(
    tmp_path: Path, tcp_daemon: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    short = tmp_path / "short"
    assert main(["daemon", "tls-init", "--out", str(short), "--host", "dockerd.invalid",
                 "--days", "10"]) == 0
    capsys.readouterr()
    url = tcp_daemon(*tls_args(short, verify=True))
    code, result = probe_json(capsys, url, "--cert-path", str(short), "--fail-on", "medium")
    assert code == 1
    # Expiring soon, and 127.0.0.1 is not in the SAN (only dockerd.invalid is).
    assert finding_ids(result) == {
        "endpoint.cert-expiring": "MEDIUM",
        "endpoint.cert-san-mismatch": "MEDIUM",
    }


def test_nothing_listening_is_unreachable_not_secure(capsys: pytest.CaptureFixture[str]) -> None:
    code, result = probe_json(capsys, f"tcp://127.0.0.1:{free_port()}")
    assert code == 2
    assert steps(result)["plain-http"] == "FAILED"
    assert set(list(steps(result).values())[1:]) == {"SKIPPED"}
    assert "Connection refused" in result["steps"][0]["reason"]
    run = daemon_probe.probe(daemon_probe.parse_endpoint(f"tcp://127.0.0.1:{free_port()}"), None)
    assert run.facts.tls_authentication is None
    assert run.facts.failed_steps == ("plain-http",) and not run.facts.reachable
    summary = daemon_probe.endpoint_summary(run)
    assert summary["tls_authentication"] is None
    assert summary["failed_steps"] == ["plain-http"]


def test_foreign_ca_client_certificate_accepted_is_critical(
    pki: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`openssl s_server -Verify 1` requires a client certificate but ignores verify errors."""
    port = free_port()
    proc = subprocess.Popen(
        ["openssl", "s_server", "-accept", f"127.0.0.1:{port}", "-quiet", "-www",
         "-cert", str(pki / "server-cert.pem"), "-key", str(pki / "server-key.pem"),
         "-Verify", "1"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        wait_port(port, proc)
        code, result = probe_json(capsys, f"tcp://127.0.0.1:{port}", "--fail-on", "critical")
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert code == 1
    assert steps(result)["tls-without-client-cert"] == "COMPLETED"
    assert step_facts(result)["client_verification"] == "True"
    assert finding_ids(result) == {"endpoint.foreign-client-cert-accepted": "CRITICAL"}


def test_unix_socket_of_private_daemon(
    dockerd: PrivateDaemon, capsys: pytest.CaptureFixture[str]
) -> None:
    code, result = probe_json(capsys, dockerd.url)
    assert code == 0
    st = os.stat(dockerd.socket)
    facts = step_facts(result)
    assert facts["mode"] == f"{st.st_mode & 0o7777:04o}"
    assert facts["owner"] == "root"
    assert steps(result) == {"socket": "COMPLETED", "ping": "COMPLETED"}
    assert facts["api_version"] == dockerd.api.version()["ApiVersion"]


def test_unix_socket_world_writable_is_critical(
    dockerd: PrivateDaemon, capsys: pytest.CaptureFixture[str]
) -> None:
    old = os.stat(dockerd.socket).st_mode & 0o7777
    os.chmod(dockerd.socket, 0o666)
    try:
        code, result = probe_json(capsys, dockerd.url, "--fail-on", "critical")
    finally:
        os.chmod(dockerd.socket, old)
    assert code == 1
    assert finding_ids(result)["endpoint.socket-world-accessible"] == "CRITICAL"


def test_missing_socket_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, result = probe_json(capsys, f"unix://{tmp_path}/nope.sock")
    assert code == 2
    assert steps(result) == {"socket": "FAILED", "ping": "SKIPPED"}
