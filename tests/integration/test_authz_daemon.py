"""``dockguard authz serve`` in front of a real private dockerd.

A second private daemon (not the session one) is started with
``--authorization-plugin=<unique name>`` after the plugin, served by a real ``dockguard authz
serve`` child from a temp-dir socket, is published through ``/etc/docker/plugins/NAME.spec``.
The daemon also listens on 127.0.0.1 with mutual TLS so that user exceptions (the client
certificate CN) are exercised.  Refusals are asserted from the docker CLI and from raw Engine
API requests made with curl.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import trustme

from tests.integration.authz_plugin import Plugin, SpecFile, cli_env, curl, docker, unique_name
from tests.integration.dockerd import PrivateDaemon, cleanup_root, free_port, import_busybox, start_daemon

ADMIN = "dg-admin"
ALICE = "dg-alice"


@dataclass
class Setup:
    """The plugin, its daemon and how to talk to them."""

    name: str
    plugin: Plugin
    daemon: PrivateDaemon
    env: dict[str, str]
    plugin_dir: Path
    tls_envs: dict[str, dict[str, str]]
    image: str

    def denied(self, proc: subprocess.CompletedProcess[str]) -> str:
        """Assert the CLI call was refused by this plugin; return its stderr."""
        assert proc.returncode != 0, f"expected a refusal, got success: {proc.stdout}"
        assert f"authorization denied by plugin {self.name}: dockguard: refused: " in proc.stderr, proc.stderr
        return proc.stderr


def _policy(name: str) -> str:
    return f"""
version: 1
plugin_name: {name}
exceptions:
  - users: [{ADMIN}]
    rules: [privileged]
    comment: the admin may run privileged containers
  - images: ["dg-tools:*"]
    rules: [host-ipc]
  - labels: {{"dg.test/monitoring": "yes"}}
    rules: [host-pid]
"""


def _tls(base: Path, port: int) -> tuple[tuple[str, ...], dict[str, dict[str, str]]]:
    ca = trustme.CA()
    base.mkdir()
    ca.cert_pem.write_to_path(str(base / "ca.pem"))
    server = ca.issue_cert("127.0.0.1", "localhost")
    server.cert_chain_pems[0].write_to_path(str(base / "server-cert.pem"))
    server.private_key_pem.write_to_path(str(base / "server-key.pem"))
    envs = {}
    for cn in (ADMIN, ALICE):
        d = base / cn
        d.mkdir()
        leaf = ca.issue_cert(f"{cn}.example.test", common_name=cn)
        ca.cert_pem.write_to_path(str(d / "ca.pem"))
        leaf.cert_chain_pems[0].write_to_path(str(d / "cert.pem"))
        leaf.private_key_pem.write_to_path(str(d / "key.pem"))
        envs[cn] = {"DOCKER_HOST": f"tcp://127.0.0.1:{port}", "DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": str(d)}
    args = (
        "--tlsverify",
        f"--tlscacert={base / 'ca.pem'}",
        f"--tlscert={base / 'server-cert.pem'}",
        f"--tlskey={base / 'server-key.pem'}",
        f"--host=tcp://127.0.0.1:{port}",
    )
    return args, envs


@pytest.fixture(scope="module")
def authz() -> Iterator[Setup]:
    if shutil.which("dockerd") is None:
        pytest.fail("dockerd is not installed: run `make test`, which installs docker.io")
    name = unique_name()
    plugin_dir = Path(tempfile.mkdtemp(prefix="dg-authzp-"))
    root = Path(tempfile.mkdtemp(prefix="dg-authzd-"))
    (plugin_dir / "policy.yaml").write_text(_policy(name))
    sock = plugin_dir / "plugin.sock"
    plugin = Plugin(sock, plugin_dir / "decisions.jsonl",
                    ("--policy", str(plugin_dir / "policy.yaml"), "-H", f"unix://{root / 'docker.sock'}"))
    spec = SpecFile(name, sock)
    daemon: PrivateDaemon | None = None
    port = free_port()
    tls_args, tls_envs = _tls(plugin_dir / "tls", port)
    try:
        plugin.start()
        spec.write()
        daemon = start_daemon(root, extra_args=(f"--authorization-plugin={name}", *tls_args))
        image = import_busybox(daemon.api)
        config = plugin_dir / "cli"
        config.mkdir()
        env = cli_env(daemon, config)
        full_tls = {cn: {**env, **e} for cn, e in tls_envs.items()}
        yield Setup(name, plugin, daemon, env, plugin_dir, full_tls, image)
    finally:
        if daemon is not None:
            daemon.stop()
        plugin.stop()
        spec.remove()
        cleanup_root(root)
        shutil.rmtree(plugin_dir, ignore_errors=True)


def _absent(s: Setup, container: str) -> None:
    out = docker(s.env, "ps", "-a", "--filter", f"name=^{container}$", "--format", "{{.Names}}", check=True)
    assert out.stdout.strip() == "", f"{container} exists although it was refused"


# ------------------------------------------------------------------------------ ordinary work


def test_ordinary_work_keeps_working(authz: Setup) -> None:
    s = authz
    run = docker(s.env, "run", "--rm", s.image, "echo", "hello")
    assert run.returncode == 0 and run.stdout.strip() == "hello", run.stderr
    hardened = docker(
        s.env, "run", "-d", "--name", "dg-hardened", "--read-only", "--cap-drop", "ALL",
        "--security-opt", "no-new-privileges", "--memory", "64m", "--pids-limit", "50", "--user", "1000",
        s.image, "sh", "-c", "echo started; sleep 300",
    )
    assert hardened.returncode == 0, hardened.stderr
    try:
        ps = docker(s.env, "ps", "--format", "{{.Names}}", check=True)
        assert "dg-hardened" in ps.stdout.split()
        inspect = json.loads(docker(s.env, "inspect", "dg-hardened", check=True).stdout)[0]
        assert inspect["HostConfig"]["ReadonlyRootfs"] is True and inspect["State"]["Running"] is True
        deadline = time.monotonic() + 10
        while "started" not in docker(s.env, "logs", "dg-hardened").stdout and time.monotonic() < deadline:
            time.sleep(0.1)
        assert "started" in docker(s.env, "logs", "dg-hardened").stdout
        ex = docker(s.env, "exec", "dg-hardened", "id", "-u")
        assert ex.returncode == 0 and ex.stdout.strip() == "1000", ex.stderr
        assert docker(s.env, "update", "--memory", "96m", "--memory-swap", "96m", "dg-hardened").returncode == 0
        assert docker(s.env, "stop", "-t", "0", "dg-hardened").returncode == 0
    finally:
        docker(s.env, "rm", "-f", "dg-hardened")


# ------------------------------------------------------------------------------ refusals (CLI)

CLI_REFUSALS = [
    (["--privileged"], "5.5 privileged container (policy rule privileged)"),
    (["--cap-add", "SYS_ADMIN"], "5.4 capabilities beyond Docker's defaults: SYS_ADMIN (policy rule capabilities)"),
    (["--cap-add", "ALL"], "(policy rule capabilities)"),
    (["-v", "/etc:/hostetc:ro"], "5.6 host /etc mounted at /hostetc (read-only) (policy rule sensitive-mounts)"),
    (["--mount", "type=bind,src=/,dst=/host"], "5.6 host / mounted at /host (policy rule sensitive-mounts)"),
    (["--mount", "type=volume,src=dg-inline,dst=/x,volume-driver=local,volume-opt=type=none,volume-opt=o=bind,"
      "volume-opt=device=/usr"], "5.6 host /usr mounted at /x (policy rule sensitive-mounts)"),
    (["--pid", "host"], "5.16 host PID namespace (policy rule host-pid)"),
    (["--ipc", "host"], "5.17 host IPC namespace (policy rule host-ipc)"),
    (["--uts", "host"], "5.21 host UTS namespace (policy rule host-uts)"),
    (["--userns", "host"], "5.31 host user namespace (policy rule host-userns)"),
    (["--security-opt", "seccomp=unconfined"], "5.22 seccomp disabled (policy rule seccomp-unconfined)"),
    (["--security-opt", "apparmor=unconfined"], "5.2 AppArmor profile is unconfined (policy rule apparmor-unconfined)"),
    (["--device", "/dev/null:/dev/n2"], "5.18 host device /dev/null exposed at /dev/n2 (rwm) "
     "(policy rule host-devices)"),
    (["--device-cgroup-rule", "c *:* rwm"], "(policy rule host-devices)"),
    (["--security-opt", "systempaths=unconfined"], "(policy rule system-paths)"),
]


@pytest.mark.parametrize(("args", "reason"), CLI_REFUSALS, ids=[" ".join(a)[:40] for a, _ in CLI_REFUSALS])
def test_cli_refusals(authz: Setup, args: list[str], reason: str) -> None:
    name = f"dg-refused-{abs(hash(tuple(args))) % 10**8}"
    err = authz.denied(docker(authz.env, "create", "--name", name, *args, authz.image, "true"))
    assert reason in err
    _absent(authz, name)


def test_daemon_socket_and_plugin_files_cannot_be_mounted(authz: Setup) -> None:
    s = authz
    err = s.denied(docker(s.env, "create", "-v", f"{s.daemon.socket}:/var/run/docker.sock", s.image))
    assert f"5.32 Docker socket {s.daemon.socket} mounted at /var/run/docker.sock (policy rule docker-socket)" in err
    err = s.denied(docker(s.env, "create", "-v", f"{s.daemon.root}:/d", s.image))
    assert f"contains the Docker socket {s.daemon.socket} (policy rule docker-socket)" in err
    err = s.denied(docker(s.env, "create", "-v", f"{s.plugin_dir}:/p", s.image))
    assert f"exposes {s.plugin_dir}" in err and "(policy rule self-protection)" in err
    # a symlink to a sensitive directory is judged by where it points
    link = s.plugin_dir.parent / f"{s.plugin_dir.name}-etc-link"
    link.symlink_to("/etc")
    try:
        err = s.denied(docker(s.env, "create", "-v", f"{link}:/x", s.image))
        assert "5.6 host /etc mounted at /x (policy rule sensitive-mounts)" in err
    finally:
        link.unlink()


def test_disguised_volume_refused_at_create(authz: Setup) -> None:
    s = authz
    err = s.denied(docker(s.env, "volume", "create", "-d", "local", "-o", "type=none", "-o", "o=bind",
                          "-o", "device=/etc", "dg-disguised"))
    assert "5.6 host /etc mounted at volume dg-disguised (policy rule sensitive-mounts)" in err
    assert docker(s.env, "volume", "inspect", "dg-disguised").returncode != 0
    ok = docker(s.env, "volume", "create", "dg-plain")
    assert ok.returncode == 0, ok.stderr
    run = docker(s.env, "run", "--rm", "-v", "dg-plain:/data", s.image, "touch", "/data/x")
    assert run.returncode == 0, run.stderr
    docker(s.env, "volume", "rm", "dg-plain")


def test_exec_privileged_refused(authz: Setup) -> None:
    s = authz
    assert docker(s.env, "run", "-d", "--name", "dg-exec", s.image, "sleep", "300").returncode == 0
    try:
        assert docker(s.env, "exec", "dg-exec", "true").returncode == 0
        err = s.denied(docker(s.env, "exec", "--privileged", "dg-exec", "true"))
        assert "5.23 docker exec --privileged (policy rule exec-privileged)" in err
    finally:
        docker(s.env, "rm", "-f", "dg-exec")


# ------------------------------------------------------------------------------ refusals (raw API)


def test_update_with_devices_refused(authz: Setup) -> None:
    s = authz
    assert docker(s.env, "create", "--name", "dg-upd", s.image, "true").returncode == 0
    try:
        body = json.dumps({"Devices": [{"PathOnHost": "/dev/null", "PathInContainer": "/dev/n",
                                        "CgroupPermissions": "rwm"}]}).encode()
        code, text = curl(s.daemon, "POST", "/v1.41/containers/dg-upd/update", data=body)
        assert code == 403 and "5.18 host device /dev/null" in text
        limits = b'{"Memory": 67108864, "MemorySwap": 67108864}'
        code, text = curl(s.daemon, "POST", "/v1.41/containers/dg-upd/update", data=limits)
        assert code == 200, text
    finally:
        docker(s.env, "rm", "-f", "dg-upd")


def test_old_api_start_with_host_config_is_judged_like_a_create(authz: Setup) -> None:
    s = authz
    cid = docker(s.env, "create", "--name", "dg-oldapi", s.image, "sleep", "300", check=True).stdout.strip()
    try:
        body = b'{"Binds":["/etc:/hostetc"],"CapAdd":["SYS_ADMIN"]}'
        code, text = curl(s.daemon, "POST", f"/v1.23/containers/{cid}/start", data=body)
        assert code == 403, text
        assert "5.6 host /etc mounted at /hostetc (policy rule sensitive-mounts)" in text
        assert "5.4 capabilities beyond Docker's defaults: SYS_ADMIN (policy rule capabilities)" in text
        # the same through the absolute-form request target and an encoded path
        code, text = curl(s.daemon, "POST", "/ignored", data=body,
                          extra=("--request-target", f"http://docker/v1.23/containers%2F{cid}/start"))
        assert code == 403 and "policy rule sensitive-mounts" in text
        state = json.loads(docker(s.env, "inspect", cid, check=True).stdout)[0]
        assert state["State"]["Running"] is False and not state["HostConfig"]["Binds"]
        # no body and no Content-Length: it may be chunked, so it is refused
        code, text = curl(s.daemon, "POST", f"/v1.23/containers/{cid}/start", headers=())
        assert code == 403 and "(policy rule hidden-body)" in text
        code, text = curl(s.daemon, "POST", f"/v1.23/containers/{cid}/start", headers=("Content-Length: 0",))
        assert code == 204, text
    finally:
        docker(s.env, "rm", "-f", cid)


def test_bodies_the_plugin_cannot_see_are_refused(authz: Setup) -> None:
    s = authz
    big = json.dumps({"Image": s.image, "Labels": {"pad": "x" * 1_100_000}, "HostConfig": {"Privileged": True}})
    code, text = curl(s.daemon, "POST", "/v1.41/containers/create?name=dg-big", data=big.encode())
    assert code == 403 and "over dockerd's 1 MiB forwarding limit" in text and "(policy rule hidden-body)" in text
    code, text = curl(s.daemon, "POST", "/v1.41/containers/create?name=dg-big", data=big.encode(),
                      headers=("Content-Type: application/json", "Transfer-Encoding: chunked"))
    assert code == 403 and "(policy rule hidden-body)" in text
    _absent(s, "dg-big")
    # a form-encoded /build would hand dockerd parameters the plugin never sees
    code, text = curl(s.daemon, "POST", "/v1.41/build", data=b"networkmode=host&remote=http://127.0.0.1:1/x",
                      headers=("Content-Type: application/x-www-form-urlencoded",))
    assert code == 403 and "form-encoded body" in text


@pytest.mark.parametrize(
    "body",
    [
        '{"Image":"%s","Privileged":true}',
        '{"Image":"%s","HostConfig":{"Privileged":false,"privileged":true}}',
        '{"Image":"%s","HostConfig":{"Privileged":true},"HostConfig":{"Memory":0}}',
        '{"Image":"%s","HostConfig":{"Bind\u017f":["/etc:/e"]}}',
    ],
    ids=["top-level", "case-folded", "duplicate-merged", "long-s"],
)
def test_bodies_read_the_way_dockerd_reads_them(authz: Setup, body: str) -> None:
    s = authz
    code, text = curl(s.daemon, "POST", "/v1.41/containers/create?name=dg-goread",
                      data=(body % s.image).encode())
    assert code == 403, text
    assert "(policy rule privileged)" in text or "(policy rule sensitive-mounts)" in text
    _absent(s, "dg-goread")


def test_build_privileges_and_buildkit_grpc(authz: Setup) -> None:
    s = authz
    ctx = s.plugin_dir.parent / f"{s.plugin_dir.name}-build"
    ctx.mkdir()
    try:
        (ctx / "Dockerfile").write_text(f"FROM {s.image}\nRUN echo built > /built\n")
        err = s.denied(docker(s.env, "build", "--network", "host", "-t", "dg-built:host", str(ctx)))
        assert "5.10 build on the host network (policy rule build-privileges)" in err
        err = s.denied(docker(s.env, "build", "--cgroup-parent", "/dg-evil", "-t", "dg-built:cg", str(ctx)))
        assert "5.25 cgroup parent set to /dg-evil (policy rule build-privileges)" in err
        ok = docker(s.env, "build", "-t", "dg-built:1", str(ctx))
        assert ok.returncode == 0, ok.stderr
        docker(s.env, "rmi", "dg-built:1")
    finally:
        shutil.rmtree(ctx)
    code, text = curl(s.daemon, "POST", "/v1.41/grpc", headers=("Connection: Upgrade", "Upgrade: h2c"))
    assert code == 403 and "(policy rule buildkit-grpc)" in text


def test_the_plugin_cannot_be_disabled_or_replaced(authz: Setup) -> None:
    s = authz
    for method, path in (
        ("POST", f"/v1.41/plugins/{s.name}/disable"),
        ("POST", f"/v1.41/plugins/{s.name}:latest/set"),
        ("POST", f"/v1.41/plugins/{s.name}/upgrade?remote=example.test/evil"),
        ("DELETE", f"/v1.41/plugins/{s.name}?force=1"),
        ("POST", f"/v1.41/plugins/pull?remote=example.test/evil&name={s.name}"),
        ("POST", f"/v1.41/plugins/create?name={s.name}"),
    ):
        code, text = curl(s.daemon, method, path, data=b"[]" if "pull" in path or "upgrade" in path else None)
        assert code == 403, (path, text)
        assert "(policy rule self-protection)" in text, (path, text)
    code, text = curl(s.daemon, "POST", "/v1.41/swarm/join", data=b'{"RemoteAddrs":["127.0.0.1:1"]}')
    assert code == 403 and "(policy rule swarm-join)" in text


def _free_udp_port() -> int:
    """A UDP port in swarm's data-path range (1024-49151) free on 127.0.0.1 right now."""
    import random
    import socket

    for _ in range(200):
        port = random.randint(20000, 49151)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            try:
                u.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free UDP port")


def test_swarm_services_are_judged(authz: Setup) -> None:
    s = authz
    port = free_port()
    init = docker(s.env, "swarm", "init", "--listen-addr", f"127.0.0.1:{port}", "--advertise-addr",
                  f"127.0.0.1:{port}", "--data-path-port", str(_free_udp_port()))
    assert init.returncode == 0, init.stderr
    try:
        err = s.denied(docker(s.env, "service", "create", "--name", "dg-svc", "--mount",
                              "type=bind,src=/etc,dst=/hostetc", s.image, "sleep", "300"))
        assert "5.6 host /etc mounted at /hostetc (policy rule sensitive-mounts)" in err
        err = s.denied(docker(s.env, "service", "create", "--name", "dg-svc", "--cap-add", "CAP_SYS_ADMIN",
                              s.image, "sleep", "300"))
        assert "(policy rule capabilities)" in err
        # dockerd 20.10 decodes a service spec sent as text/plain, which it does not forward to plugins
        spec = json.dumps({"Name": "dg-svc", "TaskTemplate": {"ContainerSpec": {"Image": s.image}}}).encode()
        code, text = curl(s.daemon, "POST", "/v1.41/services/create", data=spec, headers=("Content-Type: text/plain",))
        assert code == 403 and "Content-Type text/plain is not application/json" in text
        assert "dg-svc" not in docker(s.env, "service", "ls", "--format", "{{.Name}}", check=True).stdout
        ok = docker(s.env, "service", "create", "--detach", "--name", "dg-svc-ok", s.image, "sleep", "300")
        assert ok.returncode == 0, ok.stderr
        docker(s.env, "service", "rm", "dg-svc-ok")
    finally:
        docker(s.env, "swarm", "leave", "--force")


# ------------------------------------------------------------------------------ exceptions


def test_user_image_and_label_exceptions(authz: Setup) -> None:
    s = authz
    admin, alice = s.tls_envs[ADMIN], s.tls_envs[ALICE]
    ok = docker(admin, "create", "--name", "dg-admin-priv", "--privileged", s.image, "true")
    assert ok.returncode == 0, ok.stderr
    err = s.denied(docker(alice, "create", "--name", "dg-alice-priv", "--privileged", s.image, "true"))
    assert "5.5 privileged container (policy rule privileged)" in err
    # the exception covers only the rule it names
    err = s.denied(docker(admin, "create", "--privileged", "--pid", "host", s.image, "true"))
    assert "(policy rule host-pid)" in err and "(policy rule privileged)" not in err
    entries = [e for e in s.plugin.decisions() if e["user"] == ADMIN and e["decision"] == "allow"
               and e["endpoint"] == "POST /containers/create"]
    assert entries and entries[-1]["auth"] == "TLS"
    assert any(w.startswith("privileged: 5.5") for w in entries[-1]["waived"])
    docker(s.env, "rm", "-f", "dg-admin-priv")

    assert docker(s.env, "tag", s.image, "dg-tools:1").returncode == 0
    assert docker(s.env, "create", "--name", "dg-tools-ipc", "--ipc", "host", "dg-tools:1", "true").returncode == 0
    s.denied(docker(s.env, "create", "--ipc", "host", s.image, "true"))
    ok = docker(s.env, "create", "--name", "dg-mon", "--pid", "host", "--label", "dg.test/monitoring=yes",
                s.image, "true")
    assert ok.returncode == 0, ok.stderr
    s.denied(docker(s.env, "create", "--pid", "host", "--label", "dg.test/monitoring=no", s.image, "true"))
    docker(s.env, "rm", "-f", "dg-tools-ipc", "dg-mon")
    docker(s.env, "rmi", "dg-tools:1")


# ------------------------------------------------------------------------------ audit mode, look-ups, dry run


def _restart(s: Setup, *extra: str) -> None:
    s.plugin.stop()
    base = [a for a in s.plugin.args if a not in ("--mode", "audit", "enforce")]
    s.plugin.args = (*base, *extra)
    s.plugin.start()


def test_audit_mode_then_lookups_then_dry_run(authz: Setup, tmp_path: Path) -> None:
    s = authz
    _restart(s, "--mode", "audit")
    try:
        before = len(s.plugin.decisions())
        assert docker(s.env, "volume", "create", "-d", "local", "-o", "type=none", "-o", "o=bind",
                      "-o", "device=/etc", "dg-bindvol").returncode == 0
        assert docker(s.env, "run", "-d", "--name", "dg-hostpid", "--pid", "host", s.image, "sleep", "300"
                      ).returncode == 0
        assert docker(s.env, "create", "--name", "dg-etc", "-v", "/etc:/hostetc", s.image, "true").returncode == 0
        assert docker(s.env, "create", "--name", "dg-priv", "--privileged", s.image, "true").returncode == 0
        audited = [e for e in s.plugin.decisions()[before:] if e["decision"] == "would-refuse"]
        rules = {r for e in audited for r in e["rules"]}
        assert {"sensitive-mounts", "host-pid", "privileged"} <= rules
        assert all(e["mode"] == "audit" for e in audited)
    finally:
        _restart(s, "--mode", "enforce")
    try:
        # named volumes, --volumes-from and container:<id> namespaces are looked up on the daemon
        err = s.denied(docker(s.env, "create", "-v", "dg-bindvol:/x", s.image, "true"))
        assert "5.6 host /etc mounted at /x (policy rule sensitive-mounts)" in err
        err = s.denied(docker(s.env, "create", "--volumes-from", "dg-etc", s.image, "true"))
        assert "5.6 host /etc mounted at /hostetc (policy rule sensitive-mounts)" in err
        err = s.denied(docker(s.env, "create", "--pid", "container:dg-hostpid", s.image, "true"))
        assert "5.16 host PID namespace (policy rule host-pid)" in err
        # the dry run lists what is already there and what a compose file would deploy
        compose = tmp_path / "compose.yml"
        compose.write_text(
            "services:\n"
            "  web:\n    image: nginx\n    volumes: [\"evil:/x\", \"./data:/data\"]\n"
            "  tool:\n    image: busybox\n    cap_add: [NET_ADMIN]\n"
            "  calm:\n    image: busybox\n    read_only: true\n"
            "volumes:\n  evil:\n    driver_opts: {type: none, o: bind, device: /usr}\n"
        )
        env = {**s.env, "PYTHONPATH": os.pathsep.join(sys.path)}
        run = subprocess.run([sys.executable, "-m", "dockguard", "authz", "check", "--policy",
                              str(s.plugin_dir / "policy.yaml"), "--compose", str(compose)],
                             capture_output=True, text=True, env=env, timeout=120)
        assert run.returncode == 1, run.stderr
        out = run.stdout
        assert "would refuse  container dg-hostpid: 5.16 host PID namespace (policy rule host-pid)" in out
        assert "would refuse  container dg-etc: 5.6 host /etc mounted at /hostetc" in out
        assert "would refuse  container dg-priv: 5.5 privileged container (policy rule privileged)" in out
        assert f"compose service web ({compose}): 5.6 host /usr mounted at /x" in out
        assert "compose service tool" in out and "NET_ADMIN (policy rule capabilities)" in out
        assert "compose service calm" not in out
        assert "internal error" not in run.stderr
    finally:
        docker(s.env, "rm", "-f", "dg-hostpid", "dg-etc", "dg-priv")
        docker(s.env, "volume", "rm", "dg-bindvol")


def test_decision_log(authz: Setup) -> None:
    s = authz
    before = len(s.plugin.decisions())
    s.denied(docker(s.env, "create", "--name", "dg-logged", "--privileged", s.image, "true"))
    assert docker(s.env, "ps").returncode == 0
    new = s.plugin.decisions()[before:]
    refused = [e for e in new if e["decision"] == "refuse"]
    assert len(refused) == 1
    e = refused[0]
    assert e["method"] == "POST" and "/containers/create?name=dg-logged" in e["uri"]
    assert e["endpoint"] == "POST /containers/create" and e["user"] == "" and e["mode"] == "enforce"
    assert e["rules"] == ["privileged"] and e["reasons"] == ["5.5 privileged container (policy rule privileged)"]
    assert set(e) >= {"time", "user", "method", "uri", "decision", "rules", "reasons", "ms"}
    assert any(x["decision"] == "allow" and x["endpoint"] == "GET /containers/json" for x in new)
    # dockerd asks the plugin only about paths its router knows: an unknown one is a 404 first
    before = len(s.plugin.decisions())
    code, _ = curl(s.daemon, "GET", "/v1.41/no/such/endpoint", headers=())
    assert code == 404
    assert not [e for e in s.plugin.decisions()[before:] if "no/such" in e["uri"]]


# ------------------------------------------------------------------------------ plugin restart


def test_plugin_restart_while_dockerd_runs(authz: Setup) -> None:
    """Observed with dockerd 20.10: while the plugin is down every request waits ~15 s (dockerd
    retries the plugin with back-off) and then fails with HTTP 500 "plugin NAME failed with error: ... connection
    refused"; nothing is let through.  A request pending when the plugin comes back completes."""
    s = authz
    s.plugin.kill()
    t0 = time.monotonic()
    code, text = curl(s.daemon, "GET", "/v1.41/containers/json", headers=(), timeout=60)
    waited = time.monotonic() - t0
    assert code == 500, text
    assert f"plugin {s.name} failed with error" in text and "connection refused" in text
    assert waited > 10, waited

    results: dict[str, tuple[int, str]] = {}

    def pending() -> None:
        results["ps"] = curl(s.daemon, "GET", "/v1.41/containers/json", headers=(), timeout=60)

    th = threading.Thread(target=pending)
    th.start()
    time.sleep(2)
    assert "ps" not in results  # still waiting for the plugin
    s.plugin.start()
    th.join(timeout=60)
    assert results["ps"][0] == 200, results["ps"]
    assert docker(s.env, "run", "--rm", s.image, "true").returncode == 0
    s.denied(docker(s.env, "create", "--privileged", s.image, "true"))
