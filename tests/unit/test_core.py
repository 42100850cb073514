"""Engine, registry selection, snapshot round-trip and serialisation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dockguard.checks.catalogue import check, manual, normalise_id, select
from dockguard.engine import Context, FactsMissing, Options, evaluate, per_object
from dockguard.errors import OperationalError, UsageError
from dockguard.model import (
    CollectionError,
    Detail,
    Evaluation,
    Finding,
    FindingKind,
    Outcome,
    ProbeStep,
    Severity,
    StepStatus,
)
from dockguard.snapshot import (
    AuditFacts,
    AuditSource,
    ConfigSource,
    ConfigValue,
    ContainerFacts,
    DaemonConfig,
    DaemonFacts,
    DeviceMapping,
    EndpointProbeFacts,
    FileFact,
    FileKind,
    GroupFact,
    HistoryEntry,
    HostFacts,
    ImageFacts,
    ImageScanSummary,
    IndexConfig,
    MountFact,
    MountPoint,
    NetworkFacts,
    PluginFacts,
    PortBinding,
    ProcessFact,
    SeccompKind,
    SeccompSetting,
    Snapshot,
    SwarmFacts,
    TcpListener,
    UserFact,
)


def _ok(ctx: Context) -> Evaluation:
    return Evaluation(Outcome.PASS)


def _boom(ctx: Context) -> Evaluation:
    raise KeyError("Config")


def _needs_host(ctx: Context) -> Evaluation:
    return Evaluation(Outcome.PASS if ctx.host.audit else Outcome.WARN)


def _c(cid: str, fn=_ok, level: int = 1):  # type: ignore[no-untyped-def]
    return check(cid, f"title {cid}", level=level, severity=Severity.MEDIUM, remediation="fix", fn=fn)


CHECKS = (_c("1.1.1"), _c("1.2.2", level=2), _c("2.2"), _c("2.12"), _c("5.1"), _c("5.12", level=2))


def test_exact_id_selection_does_not_match_suffixes() -> None:
    # docker-bench's suffix regex makes `-e 2_2` drop 1.2.2 too; ours must not.
    ids = [c.meta.id for c in select(CHECKS, exclude=["2_2"])]
    assert "1.2.2" in ids and "2.2" not in ids
    assert [c.meta.id for c in select(CHECKS, include=["check_2.2"])] == ["2.2"]
    assert [c.meta.id for c in select(CHECKS, include=["5.1"])] == ["5.1"]


def test_group_and_level_selection() -> None:
    assert [c.meta.id for c in select(CHECKS, include=["docker_daemon_configuration"])] == ["2.2", "2.12"]
    assert [c.meta.id for c in select(CHECKS, include=["5"])] == ["5.1", "5.12"]
    assert [c.meta.id for c in select(CHECKS, level=1)] == ["1.1.1", "2.2", "2.12", "5.1"]
    assert [c.meta.id for c in select(CHECKS, include=["cis_level1"])] == ["1.1.1", "2.2", "2.12", "5.1"]
    assert [c.meta.id for c in select(CHECKS, include=["1.1"])] == ["1.1.1"]


def test_unknown_id_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match=r"9\.9"):
        select(CHECKS, include=["9.9"])
    assert normalise_id("cis_2_2") == "2.2"


def test_engine_turns_crashes_and_missing_facts_into_outcomes() -> None:
    checks = (
        _c("1.1.1", _boom),
        _c("1.2.2", _needs_host),
        manual("4.2", "manual one", level=1, remediation="look"),
        _c("2.2"),
    )
    report = evaluate(Snapshot(errors=(CollectionError("host", "/", "permission denied"),)), checks)
    outcomes = {r.id: (r.outcome, r.reason) for r in report.results}
    assert outcomes["1.1.1"][0] is Outcome.ERROR and "KeyError" in outcomes["1.1.1"][1]
    assert outcomes["1.2.2"] == (Outcome.NA, "host facts not collected: permission denied")
    assert outcomes["4.2"][0] is Outcome.NOTE
    assert outcomes["2.2"][0] is Outcome.PASS
    assert report.classic_score == 1
    assert report.count(Outcome.ERROR) == 1


def test_manual_check_helper_never_scores() -> None:
    m = manual(
        "4.4", "scan", level=1, remediation="scan", fn=lambda ctx: Evaluation(Outcome.WARN, (Detail("image:x", "old"),))
    )
    report = evaluate(Snapshot(), (m,))
    assert report.results[0].outcome is Outcome.NOTE
    assert report.results[0].details[0].obj == "image:x"
    assert report.classic_score == 0


def test_no_warn_detail_under_a_manual_note() -> None:
    """issue 11: 2.1 showed a [NOTE] header over a [WARN] detail."""
    from dockguard.report import text

    details = (Detail("daemon", "runs as root"), Detail("x", "ok", Outcome.PASS))
    m = manual("2.1", "rootless", level=1, remediation="r", fn=lambda ctx: Evaluation(Outcome.WARN, details))
    result = evaluate(Snapshot(), (m,)).results[0]
    assert result.outcome is Outcome.NOTE
    assert [d.outcome for d in result.details] == [Outcome.INFO, Outcome.PASS]
    lines = text.render_result(result, text.TextOptions())
    assert lines[0].startswith("[NOTE] 2.1 ")
    assert lines[1] == "[INFO]      * daemon: runs as root"
    assert not any("[WARN]" in line for line in lines)
    # An INFO or ERROR from a manual helper keeps its details (they are facts or failures).
    info = manual("5.18", "devices", level=1, remediation="r",
                  fn=lambda ctx: Evaluation(Outcome.INFO, (Detail("container:a", "device /dev/kvm"),)))
    kept = evaluate(Snapshot(), (info,)).results[0]
    assert (kept.outcome, kept.details[0].outcome) == (Outcome.INFO, Outcome.WARN)


def test_per_object_helper() -> None:
    ev = per_object([("container:a", None), ("container:b", "privileged")])
    assert ev.outcome is Outcome.WARN
    assert [d.obj for d in ev.details if d.outcome is Outcome.WARN] == ["container:b"]
    assert per_object([]).outcome is Outcome.NA
    assert per_object([("container:a", None)]).outcome is Outcome.PASS


def test_container_filters() -> None:
    snap = Snapshot(
        containers=(
            ContainerFacts(id="1", name="web-1", labels={"tier": "front"}),
            ContainerFacts(id="2", name="db", labels={"tier": "back"}),
            ContainerFacts(id="3", name="web-2", running=False),
        )
    )
    ctx = Context(snap, Options(include_containers=("web",)))
    assert [c.name for c in ctx.containers] == ["web-1", "web-2"]
    assert [c.name for c in ctx.running] == ["web-1"]
    assert [c.name for c in Context(snap, Options(exclude_containers=("web-*",))).containers] == ["db"]
    assert [c.name for c in Context(snap, Options(labels=("tier=back",))).containers] == ["db"]
    with pytest.raises(FactsMissing):
        _ = Context(Snapshot()).containers


def full_snapshot() -> Snapshot:
    """A snapshot with every kind of fact filled, for round-trip tests."""
    return Snapshot(
        tool_version="0.1.0",
        created=1795904169.5,
        hostname="h",
        docker_host="unix:///var/run/docker.sock",
        host=HostFacts(
            root="/",
            files={"/etc/docker": FileFact("/etc/docker", True, FileKind.DIR, 0o755, 0, 0, "root", "root")},
            unit_files={"docker.service": "/lib/systemd/system/docker.service"},
            binaries={"dockerd": "/usr/sbin/dockerd"},
            mounts=(MountFact("/", "/dev/vda", "ext4", "rw"),),
            groups={"docker": GroupFact("docker", 999, ("alice",))},
            users={"bob": UserFact("bob", 1001, 999)},
            audit=AuditFacts(AuditSource.FILES, ("-w /usr/sbin/dockerd -k docker",)),
            apparmor_enabled=False,
            dockerd=ProcessFact(42, "/usr/sbin/dockerd", ("/usr/sbin/dockerd", "-H", "fd://")),
            containerd_socket="/run/containerd/containerd.sock",
            docker_sockets=("/run/docker.sock",),
            docker_tcp_listeners=(TcpListener("tcp://0.0.0.0:2376", ConfigSource.SOCKET_UNIT),),
        ),
        daemon=DaemonFacts(
            server_version="20.10.24",
            security_options=("name=seccomp,profile=default",),
            index_configs=(IndexConfig("docker.io", True, True, ()),),
            swarm=SwarmFacts("active", managers=3, autolock=False),
            config=DaemonConfig(
                {
                    "icc": ConfigValue(False, ConfigSource.FILE, "false"),
                    "default-ulimits": ConfigValue({"nofile": {"Hard": 1, "Soft": 1.5}}, ConfigSource.FILE),
                    "hosts": ConfigValue(("fd://", "tcp://0.0.0.0:2376"), ConfigSource.FLAG_FILE),
                    "runtimes": ConfigValue({"r": {"runtimeArgs": ("--x", None, True)}}, ConfigSource.FILE),
                },
                "/etc/docker/daemon.json",
                True,
            ),
        ),
        containers=(
            ContainerFacts(
                id="a" * 64,
                name="web",
                user="0:0",
                cap_add=("NET_ADMIN",),
                pids_limit=None,
                mounts=(MountPoint("bind", "/etc", "/hostetc", False, "rprivate"),),
                ports=(PortBinding("80", "tcp", "", 80),),
                devices=(DeviceMapping("/dev/fuse", "/dev/fuse", "rwm"),),
                healthcheck=("CMD", "true"),
                health_status="healthy",
                labels={"a": "b"},
                processes=(ProcessFact(7, comm="sleep", cmdline=("sleep", "1")),),
                security_opt=('seccomp={"defaultAction": "SCMP_ACT_ERRNO"}',),
                seccomp=SeccompSetting(SeccompKind.INLINE, '{"defaultAction": "SCMP_ACT_ERRNO"}', "builtin"),
            ),
        ),
        images=(ImageFacts("sha256:" + "b" * 64, ("app:1",), history=(HistoryEntry("ADD file:x in /", False),)),),
        networks=(NetworkFacts("n1", "bridge", "bridge", options={"com.docker.network.bridge.name": "docker0"}),),
        plugins=(PluginFacts("authz", True, ("docker.authz/1.0",)),),
        environment={"DOCKER_CONTENT_TRUST": "1"},
        errors=(CollectionError("docker", "plugins", "boom"),),
        endpoint_probes=(
            EndpointProbeFacts(
                "tcp://127.0.0.1:2376",
                plain_http=False,
                client_verification=True,
                foreign_client_cert_accepted=False,
                tls_versions_accepted=("TLSv1.3",),
                steps=(ProbeStep("plain-http", StepStatus.COMPLETED, "refused: the port speaks TLS"),),
                findings=(Finding("endpoint.weak-tls", FindingKind.ENDPOINT, Severity.MEDIUM, "t", "tcp://x:1",
                                  evidence=(("tls_version", "TLSv1.1"),)),),
            ),
        ),
        image_scans=(
            ImageScanSummary("app:1", "sha256:" + "b" * 64, complete=False, not_read=("layer 2",),
                             vulnerabilities={Severity.HIGH: 2}, setuid_files=("/bin/su",), secrets=("ENV K: A***",)),
            ImageScanSummary("gone:1", error="no such image", vulnerabilities=None),
        ),
    )


def test_snapshot_round_trip(tmp_path: Path) -> None:
    snap = full_snapshot()
    path = tmp_path / "snap.json"
    snap.save(path)
    again = Snapshot.load(path)
    assert again == snap
    assert again.to_json() == snap.to_json()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not json", "not valid JSON"),
        ("{}", "no schema_version"),
        ('{"schema_version": 99}', "not supported"),
        ('{"schema_version": 1, "containers": [{"name": "x"}]}', "missing key id"),
        ('{"schema_version": 1, "bogus": 1}', "unknown key"),
        ('{"schema_version": 1, "containers": [{"id": "x", "name": "y", "privileged": "yes"}]}', "expected bool"),
    ],
)
def test_bad_snapshots_are_clear_errors(text: str, message: str) -> None:
    with pytest.raises(OperationalError, match=message):
        Snapshot.from_json(text)


def test_unreadable_snapshot(tmp_path: Path) -> None:
    with pytest.raises(OperationalError, match="cannot read snapshot"):
        Snapshot.load(tmp_path / "missing.json")


def test_snapshot_json_is_plain_json() -> None:
    data = json.loads(full_snapshot().to_json())
    assert data["schema_version"] == 2
    assert data["daemon"]["config"]["values"]["hosts"]["value"] == ["fd://", "tcp://0.0.0.0:2376"]
    assert data["image_scans"][0]["vulnerabilities"] == {"HIGH": 2}
    assert data["containers"][0]["seccomp"]["kind"] == "inline"
    assert data["containers"][0]["ports"][0]["host_port"] == 80
