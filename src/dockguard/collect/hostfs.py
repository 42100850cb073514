"""Reading host paths under a host root (``--host-root``), symlinks resolved inside that root.

When dockguard runs in a container with the host's ``/`` mounted at ``/host``, an absolute
symlink such as ``/var/run -> /run`` must resolve to ``/host/run``, not to the container's
``/run``.  Every host path goes through `HostFS` so that this is done in one place.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from dockguard.snapshot import FileFact, FileKind

_MAX_LINKS = 40


class HostFS:
    """Access to the host filesystem rooted at `root`."""

    def __init__(self, root: str = "/") -> None:
        self.root = os.path.abspath(root)
        self._users: dict[int, str] | None = None
        self._groups: dict[int, str] | None = None

    @property
    def is_real_root(self) -> bool:
        """True when the host root is this process's own ``/``."""
        return self.root == "/"

    def real(self, path: str) -> str:
        """Map a host path to a path of this process, resolving symlinks inside the root."""
        if self.is_real_root:
            return path
        parts = [p for p in path.split("/") if p not in ("", ".")]
        resolved: list[str] = []
        hops = 0
        while parts:
            part = parts.pop(0)
            if part == "..":
                if resolved:
                    resolved.pop()
                continue
            candidate = os.path.join(self.root, *resolved, part)
            try:
                target = os.readlink(candidate)
            except OSError:
                resolved.append(part)
                continue
            hops += 1
            if hops > _MAX_LINKS:
                resolved.append(part)
                break
            target_parts = [p for p in target.split("/") if p not in ("", ".")]
            if target.startswith("/"):
                resolved = []
            parts = target_parts + parts
        return os.path.join(self.root, *resolved)

    def host_realpath(self, path: str) -> str:
        """The canonical host path of `path` (symlinks resolved), as seen on the host."""
        if self.is_real_root:
            return os.path.realpath(path)
        real = self.real(path)
        rel = os.path.relpath(real, self.root)
        return "/" if rel == "." else "/" + rel

    def read_text(self, path: str, limit: int = 4 * 1024 * 1024) -> str:
        """Read a small text file (raises OSError)."""
        with open(self.real(path), "rb") as f:
            data = f.read(limit + 1)
        if len(data) > limit:
            raise OSError(f"{path} is larger than {limit} bytes")
        return data.decode("utf-8", errors="replace")

    def exists(self, path: str) -> bool:
        """True when the path exists (following symlinks)."""
        return os.path.exists(self.real(path))

    def listdir(self, path: str) -> list[str]:
        """Names in a host directory ([] when absent or unreadable)."""
        try:
            return sorted(os.listdir(self.real(path)))
        except OSError:
            return []

    def stat(self, path: str, *, with_content: bool = False) -> FileFact:
        """A FileFact for `path` (following symlinks, like docker-bench's stat)."""
        real = self.real(path)
        try:
            st = os.stat(real)
        except FileNotFoundError:
            return FileFact(path=path, exists=False)
        except OSError as exc:
            return FileFact(path=path, exists=False, error=exc.strerror or str(exc))
        content = None
        if with_content and stat.S_ISREG(st.st_mode):
            try:
                content = self.read_text(path, limit=1024 * 1024)
            except OSError as exc:
                return FileFact(
                    path,
                    True,
                    FileKind.FILE,
                    stat.S_IMODE(st.st_mode),
                    st.st_uid,
                    st.st_gid,
                    self.user_name(st.st_uid),
                    self.group_name(st.st_gid),
                    None,
                    f"cannot read: {exc}",
                )
        return FileFact(
            path=path,
            exists=True,
            kind=_kind(st.st_mode),
            mode=stat.S_IMODE(st.st_mode),
            uid=st.st_uid,
            gid=st.st_gid,
            owner=self.user_name(st.st_uid),
            group=self.group_name(st.st_gid),
            content=content,
        )

    def walk_files(self, path: str, max_entries: int = 2000) -> list[str]:
        """Host paths of every file and directory below `path` (bounded)."""
        top = self.real(path)
        out: list[str] = []
        for dirpath, dirnames, filenames in os.walk(top):
            rel = os.path.relpath(dirpath, top)
            base = path if rel == "." else os.path.join(path, rel)
            for name in sorted(dirnames) + sorted(filenames):
                out.append(os.path.join(base, name))
                if len(out) >= max_entries:
                    return out
        return out

    def user_name(self, uid: int) -> str | None:
        """Host user name for `uid` from the host's /etc/passwd."""
        if self._users is None:
            self._users = {u.uid: u.name for u in parse_passwd(self._safe_read("/etc/passwd"))}
        return self._users.get(uid)

    def group_name(self, gid: int) -> str | None:
        """Host group name for `gid` from the host's /etc/group."""
        if self._groups is None:
            self._groups = {g[1]: g[0] for g in _group_rows(self._safe_read("/etc/group"))}
        return self._groups.get(gid)

    def _safe_read(self, path: str) -> str:
        try:
            return self.read_text(path)
        except OSError:
            return ""


def _kind(mode: int) -> FileKind:
    if stat.S_ISREG(mode):
        return FileKind.FILE
    if stat.S_ISDIR(mode):
        return FileKind.DIR
    if stat.S_ISSOCK(mode):
        return FileKind.SOCKET
    if stat.S_ISLNK(mode):
        return FileKind.SYMLINK
    return FileKind.OTHER


def _group_rows(text: str) -> list[tuple[str, int, tuple[str, ...]]]:
    rows = []
    for line in text.splitlines():
        fields = line.split(":")
        if len(fields) < 4 or line.startswith("#"):
            continue
        try:
            gid = int(fields[2])
        except ValueError:
            continue
        members = tuple(m for m in fields[3].strip().split(",") if m)
        rows.append((fields[0], gid, members))
    return rows


def parse_group(text: str) -> dict[str, tuple[int, tuple[str, ...]]]:
    """/etc/group → name → (gid, members)."""
    return {name: (gid, members) for name, gid, members in _group_rows(text)}


class _User:
    __slots__ = ("gid", "name", "uid")

    def __init__(self, name: str, uid: int, gid: int) -> None:
        self.name, self.uid, self.gid = name, uid, gid


def parse_passwd(text: str) -> list[_User]:
    """/etc/passwd → users (name, uid, gid)."""
    users = []
    for line in text.splitlines():
        fields = line.split(":")
        if len(fields) < 4 or line.startswith("#"):
            continue
        try:
            users.append(_User(fields[0], int(fields[2]), int(fields[3])))
        except ValueError:
            continue
    return users


def host_path_join(*parts: str) -> str:
    """Join host path parts (always POSIX)."""
    return str(Path("/", *[p.lstrip("/") for p in parts]))
