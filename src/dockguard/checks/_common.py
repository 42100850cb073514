"""Small helpers shared by the host and daemon-file checks: file lookups, owner and mode tests.

Permissions are compared bitwise: "644 or more restrictive" means no bit outside 0o644 is
set (``mode & ~0o644 == 0``), so 0o622 fails even though 622 < 644 as a number.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from dockguard.engine import Context, FactsMissing
from dockguard.model import Detail, Evaluation, Outcome
from dockguard.snapshot import ConfigSource, FileFact

CIS_BENCHMARK = "https://www.cisecurity.org/benchmark/docker"
DEFAULT_DOCKER_SOCKET = "/var/run/docker.sock"
DEFAULT_CONTAINERD_SOCKET = "/run/containerd/containerd.sock"
DEFAULT_DAEMON_JSON = "/etc/docker/daemon.json"
UNIT_DIRS = (
    "/etc/systemd/system",
    "/run/systemd/system",
    "/lib/systemd/system",
    "/usr/lib/systemd/system",
)


def file_label(path: str) -> str:
    """Logical object label of a host path."""
    return f"file:{path}"


def mode_problem(fact: FileFact, allowed: int) -> str | None:
    """Why `fact`'s permissions exceed `allowed`, or None when they do not."""
    extra = fact.mode & ~allowed
    if extra == 0:
        return None
    return f"mode {fact.mode:04o} grants {extra:04o} beyond {allowed:04o}"


def _is_root_user(fact: FileFact) -> bool:
    return fact.uid == 0 if fact.uid >= 0 else fact.owner == "root"


def _group_ok(fact: FileFact, group: str, group_gid: int | None) -> bool:
    if group == "root":
        return fact.gid == 0 if fact.gid >= 0 else fact.group == "root"
    if fact.group is not None and fact.group == group:
        return True
    return group_gid is not None and fact.gid == group_gid


def owner_text(fact: FileFact) -> str:
    """``owner:group`` with numeric ids where names are unknown."""
    owner = fact.owner if fact.owner is not None else str(fact.uid)
    group = fact.group if fact.group is not None else str(fact.gid)
    return f"{owner}:{group}"


def owner_problem(
    fact: FileFact,
    group: str = "root",
    group_gid: int | None = None,
    *,
    accept_root_group: bool = False,
) -> str | None:
    """Why `fact` is not owned by root:`group`, or None when it is.

    `accept_root_group` also accepts root:root, which is stricter than root:`group`.
    """
    if _is_root_user(fact) and (
        _group_ok(fact, group, group_gid) or (accept_root_group and _group_ok(fact, "root", None))
    ):
        return None
    return f"owned by {owner_text(fact)}, expected root:{group}"


@dataclass(frozen=True)
class FileRequirement:
    """What one file check demands: an owner group or a maximum mode (one of the two)."""

    group: str | None = None
    group_gid: int | None = None
    allowed_mode: int | None = None
    accept_root_group: bool = False

    def problem(self, fact: FileFact) -> str | None:
        """The violation found on `fact`, or None."""
        if self.allowed_mode is not None:
            return mode_problem(fact, self.allowed_mode)
        return owner_problem(
            fact,
            self.group or "root",
            self.group_gid,
            accept_root_group=self.accept_root_group,
        )

    def ok_message(self, fact: FileFact) -> str:
        """Detail text for a file that satisfies the requirement."""
        if self.allowed_mode is not None:
            return f"mode {fact.mode:04o}"
        text = f"owned by {owner_text(fact)}"
        group = self.group or "root"
        if group != "root" and not _group_ok(fact, group, self.group_gid):
            text += f" (stricter than root:{group})"
        return text


def lookup(ctx: Context, path: str) -> FileFact:
    """The collected FileFact of `path`; FactsMissing when the collector did not look at it."""
    fact = ctx.host.files.get(path)
    if fact is None:
        raise FactsMissing(f"{path} was not collected")
    return fact


def evaluate_files(
    ctx: Context,
    paths: Iterable[str],
    req: FileRequirement,
    *,
    what: str,
    searched: Iterable[str] = (),
) -> Evaluation:
    """Apply `req` to every existing path; N/A (with the paths searched) when none exists.

    A path that could not be stat'ed yields ERROR: an unreadable file is neither compliant
    nor absent.
    """
    details: list[Detail] = []
    errors: list[str] = []
    looked: list[str] = []
    for path in paths:
        looked.append(path)
        fact = lookup(ctx, path)
        if fact.error:
            errors.append(f"{path}: {fact.error}")
            details.append(Detail(file_label(path), f"cannot stat: {fact.error}", Outcome.ERROR))
            continue
        if not fact.exists:
            continue
        problem = req.problem(fact)
        if problem is None:
            details.append(Detail(file_label(path), req.ok_message(fact), Outcome.PASS))
        else:
            value = f"{fact.mode:04o}" if req.allowed_mode is not None else owner_text(fact)
            details.append(Detail(file_label(path), problem, Outcome.WARN, value))
    if errors:
        return Evaluation(Outcome.ERROR, tuple(details), "; ".join(errors))
    if not details:
        where = ", ".join([*looked, *searched]) or "(no path known)"
        return Evaluation(Outcome.NA, (), f"{what} not found (searched: {where})")
    if any(d.outcome is Outcome.WARN for d in details):
        details.sort(key=lambda d: d.outcome is not Outcome.WARN)
        return Evaluation(Outcome.WARN, tuple(details))
    return Evaluation(Outcome.PASS, tuple(details))


def daemon_json_path(ctx: Context) -> str:
    """The daemon.json in use: the configured one, else Docker's default path."""
    daemon = ctx.snapshot.daemon
    if daemon is not None and daemon.config is not None and daemon.config.config_file:
        return daemon.config.config_file
    return DEFAULT_DAEMON_JSON


def containerd_socket_path(ctx: Context) -> str:
    """The containerd socket in use (collector's answer, else containerd's default)."""
    return ctx.host.containerd_socket or DEFAULT_CONTAINERD_SOCKET


def unit_searched(name: str) -> tuple[str, ...]:
    """Where a systemd unit file was looked for, for N/A reasons."""
    return tuple(f"{d}/{name}" for d in UNIT_DIRS)


_PROVENANCE = {
    ConfigSource.FILE: "daemon.json",
    ConfigSource.FLAG: "dockerd flag",
    ConfigSource.FLAG_FILE: "dockerd flag and daemon.json",
    ConfigSource.UNIT: "docker.service ExecStart",
    ConfigSource.UNIT_FILE: "docker.service ExecStart and daemon.json",
    ConfigSource.SOCKET_UNIT: "docker.socket ListenStream",
}


def provenance(source: ConfigSource | None) -> str:
    """Human words for ``DaemonConfig.source()``."""
    return "default" if source is None else _PROVENANCE[source]
