"""Decisions on AuthZ requests: routing, bodies → facts, the section-5 checks, policy."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any

import pytest

from dockguard.authz.decide import BINDINGS, AuthzRequest, Decider, Decision, plugin_ref
from dockguard.authz.lookup import ContainerInfo, LookupFailed, VolumeInfo, container_info
from dockguard.authz.policy import Policy, parse_policy
from dockguard.checks.catalogue import catalogue
from dockguard.snapshot import MountPoint


@dataclass
class Daemon:
    """An in-memory stand-in for the daemon look-ups (the integration tests use the real one)."""

    volumes: dict[str, VolumeInfo] = field(default_factory=dict)
    containers: dict[str, ContainerInfo] = field(default_factory=dict)
    down: bool = False
    asked: list[str] = field(default_factory=list)

    def volume(self, name: str) -> VolumeInfo | None:
        self.asked.append(f"volume {name}")
        if self.down:
            raise LookupFailed("daemon look-up failed: ConnectionError")
        return self.volumes.get(name)

    def container(self, ref: str) -> ContainerInfo | None:
        self.asked.append(f"container {ref}")
        if self.down:
            raise LookupFailed("daemon look-up failed: ConnectionError")
        return self.containers.get(ref)


def req(method: str, uri: str, body: Any = None, user: str = "", **headers: str) -> AuthzRequest:
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    h = {"Content-Type": "application/json", "Content-Length": str(len(data))} if data else {}
    h.update({k.replace("_", "-"): v for k, v in headers.items()})
    return AuthzRequest(method, uri, user=user, body=data, headers=h)


def create(hc: dict[str, Any] | None = None, **cfg: Any) -> AuthzRequest:
    body: dict[str, Any] = {"Image": "busybox", **cfg}
    if hc is not None:
        body["HostConfig"] = hc
    return req("POST", "/v1.41/containers/create?name=web", body)


def reasons(d: Decision) -> list[str]:
    return [r.render() for r in d.refusals]


DEFAULT = Decider(Policy(), Daemon())


def test_the_decision_runs_the_catalogue_check_functions() -> None:
    by_id = {c.meta.id: c for c in catalogue()}
    for b in BINDINGS:
        assert DEFAULT._checks[b.check_id] is by_id[b.check_id]


def test_checks_run_as_the_engine_runs_them() -> None:
    """The decider's own check runner (no per-check record) gives the engine's outcome and details."""
    from dataclasses import replace

    from dockguard.authz.decide import _OneContainer, _run
    from dockguard.authz.gojson import parse_body
    from dockguard.authz.translate import container_create
    from dockguard.checks.catalogue import Check
    from dockguard.engine import Context, run_check
    from dockguard.model import Evaluation, Outcome
    from dockguard.snapshot import Snapshot

    bodies = [
        {"Image": "x"},
        {"Image": "x", "HostConfig": {"Privileged": True, "Binds": ["/etc:/e", "/var/run/docker.sock:/s"],
                                      "PidMode": "host", "CapAdd": ["ALL"], "SecurityOpt": ["seccomp=unconfined"],
                                      "Devices": [{"PathOnHost": "/dev/sda", "PathInContainer": "/dev/sda"}]}},
    ]
    for body in bodies:
        facts = container_create(parse_body(json.dumps(body)), "c").facts
        for running in (True, False):
            f = replace(facts, running=running)
            snap = Snapshot(containers=(f,), daemon=DEFAULT._daemon, host=DEFAULT._host)
            for b in BINDINGS:
                check = DEFAULT._checks[b.check_id]
                want = run_check(check, Context(snap))
                got = _run(check, _OneContainer(snap, facts=f))
                assert (got.outcome, got.details, got.reason) == (want.outcome, want.details, want.reason), b.check_id

    def broken(ctx: Context) -> Evaluation:
        raise ValueError("boom")

    def wrong(ctx: Context) -> Evaluation:
        return "WARN"  # type: ignore[return-value]

    snap = Snapshot(containers=(), daemon=DEFAULT._daemon, host=DEFAULT._host)
    for fn, reason in ((broken, "ValueError: boom"), (wrong, "TypeError: check returned str, not Evaluation")):
        check = replace(DEFAULT._checks["5.5"], fn=fn)
        assert isinstance(check, Check)
        assert _run(check, _OneContainer(snap)) == Evaluation(Outcome.ERROR, reason=reason)
        assert run_check(check, Context(snap)).reason == reason
    assert _run(DEFAULT._checks["5.5"], _OneContainer(Snapshot(containers=None))).outcome is Outcome.NA


def test_plain_requests_are_allowed() -> None:
    for r in (
        req("GET", "/v1.41/containers/json"),
        req("HEAD", "/_ping"),
        create({"Binds": ["/srv/data:/data", "named:/x"], "CapDrop": ["ALL"], "CapAdd": ["NET_BIND_SERVICE"],
                "SecurityOpt": ["no-new-privileges", "apparmor=docker-default"]}),
        req("POST", "/v1.41/containers/c/start", **{"Content_Length": "0"}),
        req("POST", "/v1.41/containers/c/exec", {"Cmd": ["sh"], "User": "root"}),
        req("POST", "/v1.41/build?t=x&networkmode=default"),
        req("POST", "/v1.41/volumes/create", {"Name": "v", "DriverOpts": {"type": "nfs", "o": "addr=10.0.0.1",
                                                                         "device": ":/export"}}),
    ):
        d = DEFAULT.decide(r)
        assert d.allow, (r.uri, d.message)


@pytest.mark.parametrize(
    ("request_", "expected"),
    [
        (create({"Privileged": True}), "5.5 privileged container (policy rule privileged)"),
        (create({"CapAdd": ["cap_sys_admin"]}), "5.4 capabilities beyond Docker's defaults: SYS_ADMIN"),
        (create({"CapAdd": ["ALL"], "CapDrop": ["NET_RAW"]}), "5.4 capabilities beyond Docker's defaults: ALL except"),
        (create({"Capabilities": ["CAP_SYS_MODULE"]}), "SYS_MODULE (policy rule capabilities)"),
        (create({"Binds": ["/etc/shadow:/s:ro"]}), "5.6 host /etc/shadow mounted at /s (read-only)"),
        (create({"Binds": ["/var/run/../../usr:/u"]}), "5.6 host /var/run/../../usr mounted at /u"),
        (create({"Mounts": [{"Type": "bind", "Source": "/", "Target": "/h"}]}), "5.6 host / mounted at /h"),
        (create({"Binds": ["/run/docker.sock:/d.sock"]}), "5.32 Docker socket /run/docker.sock mounted at /d.sock"),
        (create({"Binds": ["/var/run:/vr"]}), "contains the Docker socket"),
        (create(Volumes={"/etc:/x": {}}), "5.6 host /etc mounted at /x"),
        (create({"PidMode": "host"}), "5.16 host PID namespace (policy rule host-pid)"),
        (create({"PidMode": "host:whatever"}), "5.16 host PID namespace"),
        (create({"IpcMode": "host"}), "5.17 host IPC namespace"),
        (create({"UTSMode": "host"}), "5.21 host UTS namespace"),
        (create({"UsernsMode": "host"}), "5.31 host user namespace"),
        (create({"SecurityOpt": ["seccomp:unconfined"]}), "5.22 seccomp disabled (policy rule seccomp-unconfined)"),
        (create({"SecurityOpt": ["apparmor=unconfined"]}), "5.2 AppArmor profile is unconfined"),
        (create({"Devices": [{"PathOnHost": "/dev/mem", "PathInContainer": "/dev/mem", "CgroupPermissions": "r"}]}),
         "5.18 host device /dev/mem exposed at /dev/mem (r)"),
        (create({"DeviceCgroupRules": ["b 8:* rwm"]}), "(policy rule host-devices)"),
        (create({"DeviceRequests": [{"Driver": "nvidia", "Count": -1}]}), "devices requested from nvidia"),
        (create({"MaskedPaths": [], "ReadonlyPaths": []}), "(policy rule system-paths)"),
        (create({"Mounts": [{"Type": "image", "Source": "x", "Target": "/i"}]}), "mount type 'image' at /i is not"),
        (create({"Mounts": [{"Type": "volume", "Source": "v", "Target": "/x", "VolumeOptions": {"DriverConfig": {
            "Name": "local", "Options": {"type": "none", "o": "bind", "device": "/boot"}}}}]}),
         "5.6 host /boot mounted at /x"),
        (req("POST", "/v1.41/volumes/create", {"Name": "ov", "DriverOpts": {"type": "overlay",
             "o": "lowerdir=/etc,upperdir=/tmp/u,workdir=/tmp/w", "device": "overlay"}}),
         "5.6 host /etc mounted at volume ov"),
        (req("POST", "/v1.41/volumes/create", {"Name": "blk", "DriverOpts": {"type": "ext4", "device": "/dev/sda1"}}),
         "5.6 host /dev/sda1 mounted at volume blk"),
        (req("POST", "/v1.41/volumes/create", {"Name": "rel", "DriverOpts": {"o": "bind", "device": "etc"}}),
         "5.6 host /etc mounted at volume rel"),
        (req("POST", "/v1.41/containers/c/exec", {"Privileged": True}), "5.23 docker exec --privileged"),
        (req("POST", "/v1.41/containers/c/update", {"Devices": [{"PathOnHost": "/dev/kmsg"}]}), "/dev/kmsg"),
        (req("POST", "/v1.23/containers/c/start", {"Binds": ["/etc:/e"]}), "5.6 host /etc mounted at /e"),
        (req("POST", "/v1.23/containers/c/start", {"Privileged": True}), "5.5 privileged container"),
        (req("POST", "/v1.23/containers/c/start"), "may carry a HostConfig the plugin cannot see"),
        (req("POST", "/v1.41/containers/c/start?checkpoint=x&checkpoint-dir=/var/lib"), "(policy rule checkpoint-dir)"),
        (req("POST", "/v1.41/containers/c/checkpoints", {"CheckpointID": "x", "CheckpointDir": "/etc"}),
         "checkpoint written to a directory on the host"),
        (req("DELETE", "/v1.41/containers/c/checkpoints/x?dir=/etc"), "(policy rule checkpoint-dir)"),
        (req("POST", "/v1.41/build?networkmode=host"), "5.10 build on the host network (policy rule build-privileges)"),
        (req("POST", "/v1.41/build?cgroupparent=/x"), "5.25 cgroup parent set to /x (policy rule build-privileges)"),
        (req("POST", "/v1.41/grpc"), "(policy rule buildkit-grpc)"),
        (req("POST", "/v1.41/swarm/join", {"RemoteAddrs": ["10.0.0.1"]}), "(policy rule swarm-join)"),
        (req("POST", "/v1.41/plugins/create?name=x"), "/plugins/create installs a plugin"),
        (req("POST", "/v1.41/plugins/dockguard/disable"), "would disable the authorization plugin dockguard"),
        (req("POST", "/v1.41/plugins/docker.io/library/dockguard:latest/set", ["x=1"]),
         "(policy rule self-protection)"),
        (req("DELETE", "/v1.41/plugins/dockguard"), "would remove the authorization plugin"),
        (req("POST", "/v1.41/plugins/pull?remote=evil/x&name=dockguard", []), "under the name of"),
        (req("POST", "/v1.41/plugins/pull?remote=vieux/sshfs", [
            {"Name": "network", "Value": ["host"]}, {"Name": "mount", "Value": ["/var/lib/docker/plugins/"]},
            {"Name": "device", "Value": ["/dev/fuse"]}, {"Name": "capabilities", "Value": ["CAP_SYS_ADMIN"]}]),
         "5.4 capabilities beyond Docker's defaults: SYS_ADMIN (policy rule plugin-privileges)"),
        (req("POST", "/v1.41/plugins/pull?remote=x", [{"Name": "something new", "Value": ["x"]}]),
         "plugin privilege 'something new' is not understood"),
        (req("GET", "/v1.41/volumes/../../nope"),
         "is not an Engine API endpoint dockguard knows (policy default: deny)"),
    ],
    ids=lambda v: v.uri[:60] if isinstance(v, AuthzRequest) else None,
)
def test_refusals(request_: AuthzRequest, expected: str) -> None:
    d = DEFAULT.decide(request_)
    assert not d.allow
    assert d.message.startswith("dockguard: refused: ")
    assert expected in d.message, d.message


def test_message_format_from_the_issue() -> None:
    d = DEFAULT.decide(create({"Privileged": True}))
    assert d.message == "dockguard: refused: 5.5 privileged container (policy rule privileged)"


def test_privileged_is_judged_once() -> None:
    d = DEFAULT.decide(create({"Privileged": True}))
    assert [r.rule for r in d.refusals] == ["privileged"]


def test_services() -> None:
    spec = {"Name": "s", "Labels": {"a": "b"}, "TaskTemplate": {
        "ContainerSpec": {"Image": "x", "Mounts": [{"Type": "bind", "Source": "/sys", "Target": "/s"}],
                          "CapabilityAdd": ["CAP_NET_ADMIN"],
                          "Privileges": {"Seccomp": {"Mode": "unconfined"}, "AppArmor": {"Mode": "disabled"}}},
        "Networks": [{"Target": "host"}]}}
    d = DEFAULT.decide(req("POST", "/v1.44/services/create", spec))
    text = d.message
    for part in ("5.6 host /sys mounted at /s", "NET_ADMIN (policy rule capabilities)", "5.22 seccomp disabled",
                 "5.2 AppArmor profile is unconfined"):
        assert part in text
    assert "host-network" not in text  # off by default
    assert Decider(parse_policy("rules: {host-network: on}", "p")).decide(
        req("POST", "/v1.44/services/x/update?version=3", spec)).message.count("5.10 host network namespace") == 1
    custom = base64.b64encode(json.dumps({"defaultAction": "SCMP_ACT_ALLOW"}).encode()).decode()
    spec2 = {"TaskTemplate": {"ContainerSpec": {"Image": "x", "Privileges": {"Seccomp": {"Mode": "custom",
                                                                                       "Profile": custom}}}}}
    assert "(policy rule seccomp-unconfined)" in DEFAULT.decide(req("POST", "/services/create", spec2)).message
    plugin = {"TaskTemplate": {"Runtime": "plugin", "PluginSpec": {"Name": "p", "Remote": "x", "Privileges": [
        {"Name": "mount", "Value": ["/"]}]}}}
    assert "(policy rule plugin-privileges)" in DEFAULT.decide(req("POST", "/services/create", plugin)).message


def test_hidden_bodies() -> None:
    big = req("POST", "/v1.41/containers/create", None, Content_Length="1100000", Content_Type="application/json")
    assert "1100000 bytes: over dockerd's 1 MiB forwarding limit" in DEFAULT.decide(big).message
    plain = req("POST", "/v1.41/services/create", None, Content_Length="99", Content_Type="text/plain")
    assert "Content-Type text/plain is not application/json" in DEFAULT.decide(plain).message
    form = req("POST", "/v1.41/build", None, Content_Type="application/x-www-form-urlencoded", Content_Length="20")
    assert "form-encoded body" in DEFAULT.decide(form).message
    small = req("POST", "/v1.23/containers/c/start", None, Content_Length="7")
    assert DEFAULT.decide(small).allow


def test_go_decoding_tricks_are_seen() -> None:
    for body in (
        b'{"Image":"x","Privileged":true}',
        b'{"Image":"x","HostConfig":{"privileged":true}}',
        b'{"Image":"x","HostConfig":{"Privileged":true},"HostConfig":{"Memory":1}}',
        '{"Image":"x","HostConfig":{"Bind\u017f":["/etc:/e"]}}'.encode(),
        b'{"Image":"x","Binds":["/etc:/e"],"HostConfig":{}}',
    ):
        d = DEFAULT.decide(req("POST", "/containers/create", body))
        assert not d.allow, body


def test_malformed_and_internal_errors_fail_safe() -> None:
    d = DEFAULT.decide(req("POST", "/containers/create", b'{"Image": "x", "HostConfig": {"Privileged": "1"}}'))
    assert not d.allow and "(fail-safe)" in d.message and "$.HostConfig.Privileged" in d.message
    d = DEFAULT.decide(req("POST", "/containers/create", b"not json"))
    assert not d.allow and "malformed request" in d.message

    class Broken(Daemon):
        def volume(self, name: str) -> VolumeInfo | None:
            raise RuntimeError("boom")

    d = Decider(Policy(), Broken()).decide(create({"Binds": ["named:/x"]}))
    assert not d.allow and d.message == "dockguard: refused: internal error: RuntimeError: boom (fail-safe)"


def test_authz_request_parsing() -> None:
    raw = json.dumps({"User": "alice", "UserAuthNMethod": "TLS", "RequestMethod": "POST",
                      "RequestUri": "/v1.41/containers/create", "RequestBody": base64.b64encode(b"{}").decode(),
                      "RequestHeaders": {"Content-Type": "application/json"}}).encode()
    r = AuthzRequest.from_json(raw)
    assert (r.user, r.auth_method, r.method, r.body, r.header("content-type")) == (
        "alice", "TLS", "POST", b"{}", "application/json")
    from dockguard.inputs import InputError

    for bad in (b"[]", b'{"RequestMethod": 1}', b'{"RequestMethod": "GET", "RequestBody": "!!"}', b"{}"):
        with pytest.raises(InputError):
            AuthzRequest.from_json(bad)


def test_lookups_named_volumes_volumes_from_and_shared_namespaces() -> None:
    daemon = Daemon(
        volumes={"evil": VolumeInfo("evil", "local", {"type": "none", "o": "bind", "device": "/etc"}),
                 "fine": VolumeInfo("fine", "local", {})},
        containers={
            "etc": ContainerInfo("1", mounts=(MountPoint("bind", "/etc", "/hostetc"),),
                                 volume_names=(("evil", "/v", True),)),
            "hostpid": ContainerInfo("2", pid_mode="host"),
            "chain": ContainerInfo("3", pid_mode="container:hostpid", ipc_mode="private"),
        },
    )
    d = Decider(Policy(), daemon)
    assert "5.6 host /etc mounted at /x" in d.decide(create({"Binds": ["evil:/x"]})).message
    assert "5.6 host /etc mounted at /y" in d.decide(
        create({"Mounts": [{"Type": "volume", "Source": "evil", "Target": "/y"}]})).message
    assert d.decide(create({"Binds": ["fine:/x", "missing:/m"]})).allow
    vf = d.decide(create({"VolumesFrom": ["etc:ro"]})).message
    assert "5.6 host /etc mounted at /hostetc" in vf and "host /etc mounted at /v" in vf
    assert "5.16 host PID namespace" in d.decide(create({"PidMode": "container:chain"})).message
    assert d.decide(create({"IpcMode": "container:chain"})).allow
    daemon.down = True
    down = d.decide(create({"Binds": ["fine:/x"]}))
    assert not down.allow and "named volume fine cannot be verified" in down.message
    assert "cannot be verified" in d.decide(create({"PidMode": "container:x"})).message


def test_exceptions_by_user_image_and_label() -> None:
    policy = parse_policy(
        """
exceptions:
  - users: [ops]
    rules: [privileged]
  - images: ["registry.example/mon/*"]
    rules: [host-pid]
  - labels: {role: "monitor*"}
    rules: [host-ipc]
  - images: ["tools:*"]
    rules: [exec-privileged]
""",
        "p",
    )
    daemon = Daemon(containers={"c1": ContainerInfo("1", image="tools:1"), "c2": ContainerInfo("2", image="app:1")})
    d = Decider(policy, daemon)
    ok = d.decide(req("POST", "/containers/create", {"Image": "x", "HostConfig": {"Privileged": True}}, user="ops"))
    assert ok.allow and [w.rule for w in ok.waived] == ["privileged"]
    assert not d.decide(req("POST", "/containers/create", {"Image": "x", "Privileged": True}, user="dev")).allow
    assert d.decide(create({"PidMode": "host"}, Image="registry.example/mon/node:1")).allow
    assert not d.decide(create({"PidMode": "host"}, Image="registry.example/app:1")).allow
    assert d.decide(create({"IpcMode": "host"}, Labels={"role": "monitoring"})).allow
    assert not d.decide(create({"IpcMode": "host"}, Labels={"role": "web"})).allow
    # exec: the target container's image is looked up only because an exception needs it
    assert d.decide(req("POST", "/containers/c1/exec", {"Privileged": True})).allow
    assert not d.decide(req("POST", "/containers/c2/exec", {"Privileged": True})).allow
    assert "container c1" in daemon.asked


def test_rules_off_and_default_allow() -> None:
    p = parse_policy("default: allow\nrules: {privileged: off, host-network: on, memory-limit: on}\n", "p")
    d = Decider(p, Daemon())
    assert d.decide(create({"Privileged": True, "Memory": 1 << 26})).allow
    assert d.decide(req("GET", "/v1.47/some/future/endpoint")).allow
    assert "5.10 host network namespace" in d.decide(create({"NetworkMode": "host", "Memory": 1 << 26})).message
    assert "5.11 no memory limit" in d.decide(create({})).message
    # an update is judged only on what it changes
    assert d.decide(req("POST", "/containers/c/update", {"RestartPolicy": {"Name": "always"}})).allow
    assert "5.11 no memory limit" in d.decide(req("POST", "/containers/c/update", {"Memory": 0})).message


def test_self_protection_of_files() -> None:
    d = Decider(Policy(), Daemon(), protected=("/srv/authz/policy.yaml",), guarded_dirs=("/srv/authz",))
    for src in ("/srv/authz", "/srv", "/srv/authz/policy.yaml", "/var/lib/docker/containers", "/run/containerd"):
        assert "(policy rule self-protection)" in d.decide(create({"Binds": [f"{src}:/x"]})).message, src
    assert d.decide(create({"Binds": ["/srv/authz-other:/x", "/srv/data:/d"]})).allow


def test_plugin_ref() -> None:
    assert plugin_ref("docker.io/library/dockguard:latest") == plugin_ref("dockguard") == "dockguard"
    assert plugin_ref("Example.com/x/dockguard:1.0@sha256:ab") == "example.com/x/dockguard"


def test_container_info_is_parsed_defensively() -> None:
    info = container_info({"Config": {"Image": "x", "Labels": {"a": "b", "n": None}}, "HostConfig": [],
                           "Mounts": [{"Type": "bind", "Source": "/etc", "Destination": "/e"}, "junk",
                                      {"Type": "volume", "Name": "v", "Destination": "/v", "RW": False}]})
    assert info.image == "x" and info.labels == {"a": "b"} and info.pid_mode == ""
    assert info.mounts == (MountPoint("bind", "/etc", "/e", True, ""),) and info.volume_names == (("v", "/v", False),)


def test_own_names_from_spec_files(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import dockguard.authz.decide as decide_mod

    specs, sockets = tmp_path / "specs", tmp_path / "sockets"
    specs.mkdir()
    sockets.mkdir()
    sock = tmp_path / "run" / "authz.sock"
    (specs / "corp-authz.spec").write_text(f"unix://{sock}\n")
    (specs / "other.spec").write_text("unix:///elsewhere.sock\n")
    (specs / "json-named.json").write_text(json.dumps({"Name": "json-named", "Addr": f"unix://{sock}"}))
    (specs / "huge.spec").write_bytes(b"x" * (decide_mod.MAX_SPEC + 1))
    monkeypatch.setattr(decide_mod, "SPEC_DIRS", (str(specs),))
    monkeypatch.setattr(decide_mod, "SOCKET_DIR", str(sockets))
    names = decide_mod.own_plugin_names("dockguard", str(sock))
    assert names == {"dockguard", "authz", "corp-authz", "json-named"}
    d = Decider(Policy(), Daemon(), own_socket=str(sock))
    assert "(policy rule self-protection)" in d.decide(req("POST", "/v1.41/plugins/corp-authz:latest/disable")).message
    assert d.decide(req("POST", "/v1.41/plugins/other/disable")).allow
