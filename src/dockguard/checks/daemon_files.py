"""CIS Docker Benchmark 1.6.0 section 3: ownership and permissions of daemon files.

Modes are compared bitwise (see `_common.mode_problem`); an absent file is N/A with the
paths searched, never a pass.
"""

from __future__ import annotations

from dockguard.checks._common import (
    CIS_BENCHMARK,
    FileRequirement,
    containerd_socket_path,
    daemon_json_path,
    evaluate_files,
    unit_searched,
)
from dockguard.checks.catalogue import Check, CheckFn, check
from dockguard.engine import Context, FactsMissing
from dockguard.model import Evaluation, Outcome, Severity

CERTS_D = "/etc/docker/certs.d"
_CERT_SUFFIXES = (".crt", ".cert")
_KEY_SUFFIX = ".key"

_ROOT_OWNED = FileRequirement(group="root")
_FILE_PERMS_DOC = "https://docs.docker.com/engine/security/protect-access/"
_CERTS_DOC = "https://docs.docker.com/engine/security/certificates/"
_SYSTEMD_DOC = "https://docs.docker.com/config/daemon/systemd/"
_DAEMON_DOC = "https://docs.docker.com/reference/cli/dockerd/"


def _mode(allowed: int) -> FileRequirement:
    return FileRequirement(allowed_mode=allowed)


# -- unit files ------------------------------------------------------------------------------


def _unit(ctx: Context, name: str, req: FileRequirement) -> Evaluation:
    path = ctx.host.unit_files.get(name)
    if path is None:
        return evaluate_files(ctx, (), req, what=name, searched=unit_searched(name))
    return evaluate_files(ctx, (path,), req, what=name)


def _c_3_1(ctx: Context) -> Evaluation:
    return _unit(ctx, "docker.service", _ROOT_OWNED)


def _c_3_2(ctx: Context) -> Evaluation:
    return _unit(ctx, "docker.service", _mode(0o644))


def _c_3_3(ctx: Context) -> Evaluation:
    return _unit(ctx, "docker.socket", _ROOT_OWNED)


def _c_3_4(ctx: Context) -> Evaluation:
    return _unit(ctx, "docker.socket", _mode(0o644))


# -- /etc/docker -----------------------------------------------------------------------------


def _c_3_5(ctx: Context) -> Evaluation:
    return evaluate_files(ctx, ("/etc/docker",), _ROOT_OWNED, what="/etc/docker")


def _c_3_6(ctx: Context) -> Evaluation:
    return evaluate_files(ctx, ("/etc/docker",), _mode(0o755), what="/etc/docker")


# -- registry certificates -------------------------------------------------------------------


def _registry_cert_files(ctx: Context) -> list[str]:
    """Certificate and key files directly inside /etc/docker/certs.d/<registry>/.

    Docker reads only that level, so deeper files are not registry certificates.
    """
    base = ctx.host.files.get(CERTS_D)
    if base is None:
        raise FactsMissing(f"{CERTS_D} was not collected")
    found = []
    for path, fact in ctx.host.files.items():
        if not path.startswith(CERTS_D + "/") or not fact.exists or fact.kind == "dir":
            continue
        rel = path[len(CERTS_D) + 1 :]
        if rel.count("/") != 1:
            continue
        if path.endswith((*_CERT_SUFFIXES, _KEY_SUFFIX)):
            found.append(path)
    return sorted(found)


def _c_3_7(ctx: Context) -> Evaluation:
    files = _registry_cert_files(ctx)
    return evaluate_files(
        ctx, files, _ROOT_OWNED, what="registry certificates", searched=(f"{CERTS_D}/*/",)
    )


def _c_3_8(ctx: Context) -> Evaluation:
    files = _registry_cert_files(ctx)
    if not files:
        return evaluate_files(
            ctx, (), _mode(0o444), what="registry certificates", searched=(f"{CERTS_D}/*/",)
        )
    certs = [f for f in files if not f.endswith(_KEY_SUFFIX)]
    keys = [f for f in files if f.endswith(_KEY_SUFFIX)]
    # Client keys are secrets: readable by root only, stricter than the certificates.
    parts = [
        evaluate_files(ctx, certs, _mode(0o444), what="registry certificates"),
        evaluate_files(ctx, keys, _mode(0o400), what="registry client keys"),
    ]
    return _merge(parts)


def _merge(parts: list[Evaluation]) -> Evaluation:
    details = tuple(d for p in parts for d in p.details)
    outcomes = {p.outcome for p in parts}
    for worst in (Outcome.ERROR, Outcome.WARN, Outcome.PASS):
        if worst in outcomes:
            reasons = "; ".join(p.reason for p in parts if p.outcome is worst and p.reason)
            return Evaluation(worst, details, reasons)
    return parts[0]


# -- daemon TLS files ------------------------------------------------------------------------


# dockerd's fallbacks when TLS is on but a file is not named: root's ~/.docker directory.
_TLS_DEFAULTS = {
    "tlscacert": "/root/.docker/ca.pem",
    "tlscert": "/root/.docker/cert.pem",
    "tlskey": "/root/.docker/key.pem",
}


def _tls_file(ctx: Context, key: str, what: str, req: FileRequirement) -> Evaluation:
    cfg = ctx.config
    path = cfg.get(key)
    if not path:
        tls_on = cfg.get("tls") is True or cfg.get("tlsverify") is not None
        if not tls_on:
            raise FactsMissing(f"{what} is not configured ({key} unset): TLS not in use")
        path = _TLS_DEFAULTS[key]
    return evaluate_files(ctx, (str(path),), req, what=what)


def _c_3_9(ctx: Context) -> Evaluation:
    return _tls_file(ctx, "tlscacert", "TLS CA certificate", _ROOT_OWNED)


def _c_3_10(ctx: Context) -> Evaluation:
    return _tls_file(ctx, "tlscacert", "TLS CA certificate", _mode(0o444))


def _c_3_11(ctx: Context) -> Evaluation:
    return _tls_file(ctx, "tlscert", "Docker server certificate", _ROOT_OWNED)


def _c_3_12(ctx: Context) -> Evaluation:
    return _tls_file(ctx, "tlscert", "Docker server certificate", _mode(0o444))


def _c_3_13(ctx: Context) -> Evaluation:
    return _tls_file(ctx, "tlskey", "Docker server key", _ROOT_OWNED)


def _c_3_14(ctx: Context) -> Evaluation:
    return _tls_file(ctx, "tlskey", "Docker server key", _mode(0o400))


# -- Docker socket ---------------------------------------------------------------------------


def docker_socket_paths(ctx: Context) -> tuple[str, ...]:
    """The unix sockets the daemon serves, as the collector worked them out once
    (`HostFacts.docker_sockets`: ``-H``/``hosts``, ``fd://`` through docker.socket, the default
    socket; paths normalised), each stat'ed under that very path."""
    return ctx.need(ctx.host.docker_sockets, "the daemon's sockets", "daemon-config")


def _c_3_15(ctx: Context) -> Evaluation:
    groups = ctx.host.groups or {}
    docker = groups.get("docker")
    # root:root is stricter than root:docker (only root reaches the daemon), so it passes.
    req = FileRequirement(
        group="docker", group_gid=docker.gid if docker else None, accept_root_group=True
    )
    return evaluate_files(ctx, docker_socket_paths(ctx), req, what="Docker socket")


def _c_3_16(ctx: Context) -> Evaluation:
    return evaluate_files(ctx, docker_socket_paths(ctx), _mode(0o660), what="Docker socket")


# -- daemon.json, /etc/default/docker, /etc/sysconfig/docker, containerd socket --------------


def _c_3_17(ctx: Context) -> Evaluation:
    return evaluate_files(ctx, (daemon_json_path(ctx),), _ROOT_OWNED, what="daemon.json")


def _c_3_18(ctx: Context) -> Evaluation:
    return evaluate_files(ctx, (daemon_json_path(ctx),), _mode(0o644), what="daemon.json")


def _c_3_19(ctx: Context) -> Evaluation:
    return evaluate_files(ctx, ("/etc/default/docker",), _ROOT_OWNED, what="/etc/default/docker")


def _c_3_20(ctx: Context) -> Evaluation:
    return evaluate_files(ctx, ("/etc/default/docker",), _mode(0o644), what="/etc/default/docker")


def _c_3_21(ctx: Context) -> Evaluation:
    return evaluate_files(
        ctx, ("/etc/sysconfig/docker",), _mode(0o644), what="/etc/sysconfig/docker"
    )


def _c_3_22(ctx: Context) -> Evaluation:
    return evaluate_files(
        ctx, ("/etc/sysconfig/docker",), _ROOT_OWNED, what="/etc/sysconfig/docker"
    )


def _c_3_23(ctx: Context) -> Evaluation:
    return evaluate_files(
        ctx, (containerd_socket_path(ctx),), _ROOT_OWNED, what="containerd socket"
    )


def _c_3_24(ctx: Context) -> Evaluation:
    return evaluate_files(
        ctx, (containerd_socket_path(ctx),), _mode(0o660), what="containerd socket"
    )


# -- declarations ----------------------------------------------------------------------------

_OWN_IMPACT = "None: the daemon runs as root and keeps working with root-owned files."
_MODE_IMPACT = "None for the daemon; users who relied on editing the file lose write access."


def _own(
    cis: str,
    title: str,
    what: str,
    fn: CheckFn,
    *,
    group: str = "root",
    severity: Severity = Severity.MEDIUM,
    refs: tuple[str, ...] = (),
) -> Check:
    return check(
        cis,
        title,
        level=1,
        severity=severity,
        remediation=f"Give {what} to root with `chown root:{group} <path>` so that only "
        f"root{' and the ' + group + ' group' if group != 'root' else ''} can replace it.",
        impact=_OWN_IMPACT,
        references=(CIS_BENCHMARK, *refs),
        fn=fn,
    )


def _perm(
    cis: str,
    title: str,
    what: str,
    mode: str,
    fn: CheckFn,
    *,
    severity: Severity = Severity.MEDIUM,
    refs: tuple[str, ...] = (),
) -> Check:
    return check(
        cis,
        title,
        level=1,
        severity=severity,
        remediation=f"Remove every permission bit beyond {mode} from {what}: "
        f"`chmod {mode} <path>` (or a stricter mode).",
        impact=_MODE_IMPACT,
        references=(CIS_BENCHMARK, *refs),
        fn=fn,
    )


CHECKS: tuple[Check, ...] = (
    _own(
        "3.1",
        "Ensure that the docker.service file ownership is set to root:root",
        "the docker.service unit file",
        _c_3_1,
        refs=(_SYSTEMD_DOC,),
    ),
    _perm(
        "3.2",
        "Ensure that docker.service file permissions are appropriately set",
        "the docker.service unit file",
        "644",
        _c_3_2,
        refs=(_SYSTEMD_DOC,),
    ),
    _own(
        "3.3",
        "Ensure that docker.socket file ownership is set to root:root",
        "the docker.socket unit file",
        _c_3_3,
        refs=(_SYSTEMD_DOC,),
    ),
    _perm(
        "3.4",
        "Ensure that docker.socket file permissions are set to 644 or more restrictive",
        "the docker.socket unit file",
        "644",
        _c_3_4,
        refs=(_SYSTEMD_DOC,),
    ),
    _own(
        "3.5",
        "Ensure that the /etc/docker directory ownership is set to root:root",
        "the /etc/docker directory",
        _c_3_5,
        refs=(_CERTS_DOC,),
    ),
    _perm(
        "3.6",
        "Ensure that /etc/docker directory permissions are set to 755 or more restrictively",
        "the /etc/docker directory",
        "755",
        _c_3_6,
        refs=(_CERTS_DOC,),
    ),
    _own(
        "3.7",
        "Ensure that registry certificate file ownership is set to root:root",
        "every certificate and key under /etc/docker/certs.d/<registry>/",
        _c_3_7,
        refs=(_CERTS_DOC,),
    ),
    check(
        "3.8",
        "Ensure that registry certificate file permissions are set to 444 or more restrictively",
        level=1,
        severity=Severity.MEDIUM,
        remediation="Make registry certificates under /etc/docker/certs.d/<registry>/ "
        "read-only (`chmod 444 *.crt *.cert`) and client keys readable by root only "
        "(`chmod 400 *.key`).",
        impact=_MODE_IMPACT,
        references=(CIS_BENCHMARK, _CERTS_DOC),
        fn=_c_3_8,
    ),
    _own(
        "3.9",
        "Ensure that TLS CA certificate file ownership is set to root:root",
        "the CA certificate named by tlscacert",
        _c_3_9,
        refs=(_FILE_PERMS_DOC,),
    ),
    _perm(
        "3.10",
        "Ensure that TLS CA certificate file permissions are set to 444 or more restrictively",
        "the CA certificate named by tlscacert",
        "444",
        _c_3_10,
        refs=(_FILE_PERMS_DOC,),
    ),
    _own(
        "3.11",
        "Ensure that Docker server certificate file ownership is set to root:root",
        "the server certificate named by tlscert",
        _c_3_11,
        refs=(_FILE_PERMS_DOC,),
    ),
    _perm(
        "3.12",
        "Ensure that the Docker server certificate file permissions are set to 444 "
        "or more restrictively",
        "the server certificate named by tlscert",
        "444",
        _c_3_12,
        refs=(_FILE_PERMS_DOC,),
    ),
    _own(
        "3.13",
        "Ensure that the Docker server certificate key file ownership is set to root:root",
        "the server key named by tlskey",
        _c_3_13,
        severity=Severity.HIGH,
        refs=(_FILE_PERMS_DOC,),
    ),
    _perm(
        "3.14",
        "Ensure that the Docker server certificate key file permissions are set to 400",
        "the server key named by tlskey",
        "400",
        _c_3_14,
        severity=Severity.HIGH,
        refs=(_FILE_PERMS_DOC,),
    ),
    _own(
        "3.15",
        "Ensure that the Docker socket file ownership is set to root:docker",
        "the Docker socket",
        _c_3_15,
        group="docker",
        severity=Severity.HIGH,
        refs=(_FILE_PERMS_DOC, _DAEMON_DOC),
    ),
    _perm(
        "3.16",
        "Ensure that the Docker socket file permissions are set to 660 or more restrictively",
        "the Docker socket",
        "660",
        _c_3_16,
        severity=Severity.HIGH,
        refs=(_FILE_PERMS_DOC, _DAEMON_DOC),
    ),
    _own(
        "3.17",
        "Ensure that the daemon.json file ownership is set to root:root",
        "daemon.json",
        _c_3_17,
        refs=(_DAEMON_DOC,),
    ),
    _perm(
        "3.18",
        "Ensure that daemon.json file permissions are set to 644 or more restrictive",
        "daemon.json",
        "644",
        _c_3_18,
        refs=(_DAEMON_DOC,),
    ),
    _own(
        "3.19",
        "Ensure that the /etc/default/docker file ownership is set to root:root",
        "/etc/default/docker",
        _c_3_19,
        refs=(_SYSTEMD_DOC,),
    ),
    _perm(
        "3.20",
        "Ensure that the /etc/default/docker file permissions are set to 644 or more restrictively",
        "/etc/default/docker",
        "644",
        _c_3_20,
        refs=(_SYSTEMD_DOC,),
    ),
    _perm(
        "3.21",
        "Ensure that the /etc/sysconfig/docker file permissions are set to 644 or "
        "more restrictively",
        "/etc/sysconfig/docker",
        "644",
        _c_3_21,
        refs=(_SYSTEMD_DOC,),
    ),
    _own(
        "3.22",
        "Ensure that the /etc/sysconfig/docker file ownership is set to root:root",
        "/etc/sysconfig/docker",
        _c_3_22,
        refs=(_SYSTEMD_DOC,),
    ),
    _own(
        "3.23",
        "Ensure that the Containerd socket file ownership is set to root:root",
        "the containerd socket",
        _c_3_23,
        severity=Severity.HIGH,
    ),
    _perm(
        "3.24",
        "Ensure that the Containerd socket file permissions are set to 660 or more restrictively",
        "the containerd socket",
        "660",
        _c_3_24,
        severity=Severity.HIGH,
    ),
)
