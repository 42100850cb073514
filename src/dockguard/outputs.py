"""The one safe writer for files the user names (``-o``, ``-l``, ``--out``).

Writing a report must never damage what is already at the path the user gave:

- a **new path** or an **existing regular file** is written atomically: a temporary file in
  the same directory (``.NAME.tmp-PID-RANDOM``, created exclusively, never following a link)
  is filled, flushed and renamed over the target, so readers see the old or the new content,
  never half of it; an existing file keeps its permission bits; the temporary file is removed
  on every failure path (including Ctrl-C);
- a **character or block device, a FIFO or a socket** (``/dev/null``, ``/dev/tty``, a named
  pipe) is opened for writing in place, without ``O_CREAT``/``O_TRUNC``: renaming a regular
  file over ``/dev/null`` would delete the device;
- ``-``, ``/dev/stdout``, ``/dev/stderr``, ``/dev/fd/N`` and ``/proc/self/fd/N`` are written to
  the already open descriptor N (so ``-o /dev/stdout >>log`` appends like the shell would);
- a **symbolic link** to a regular file (or a dangling one) is refused: dockguard does not
  replace the file behind a link, nor the link itself; a link to a device or FIFO is written in
  place like the device;
- a **directory** is refused.

Text is encoded as UTF-8 with ``backslashreplace``: a lone surrogate (a file name with invalid
UTF-8 bytes decoded with ``surrogateescape``) becomes ``\\udcff`` instead of an exception; in a
JSON document that is the same escape a JSON reader turns back into the same string.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import stat
import sys

from dockguard.errors import OperationalError, UsageError

_FD_PATH = re.compile(r"/(?:dev/fd|proc/self/fd)/(\d{1,6})")
_STREAMS = {"/dev/stdin": 0, "/dev/stdout": 1, "/dev/stderr": 2}


class OutputError(OperationalError):
    """An output path that cannot or must not be written."""

    def __init__(self, path: str, problem: str) -> None:
        self.path = path
        super().__init__(f"cannot write {path}: {problem}")


def encode_text(text: str) -> bytes:
    """UTF-8 bytes of `text`; lone surrogates become backslash escapes instead of raising."""
    return text.encode("utf-8", "backslashreplace")


def write_text(path: str | None, text: str, *, mode: int | None = None) -> None:
    """Write `text` to `path` (``None`` or ``-``: standard output); see the module docstring."""
    write_bytes(path, encode_text(text), mode=mode)


def write_bytes(path: str | os.PathLike[str] | None, data: bytes, *, mode: int | None = None) -> None:
    """Write `data` to `path` safely.

    `mode` is the permission of a file created or replaced (default: 0o666 minus the umask for
    a new file, the current bits for an existing one); the temporary file is created 0o600 so
    that private data (keys) is never readable by others, even briefly.
    """
    if path is None or str(path) == "-":
        _write_fd(1, data, "<stdout>")
        return
    name = os.fspath(path)
    fd_number = _stream_number(name)
    if fd_number is not None:
        _write_fd(fd_number, data, name)
        return
    kind, st = _classify(name)
    if kind == "special":
        _write_in_place(name, data)
    else:
        _replace_atomically(name, data, mode, st)


def check_target(path: str | os.PathLike[str]) -> None:
    """Raise the `OutputError` that writing `path` would raise for what is there now (a link
    to a file, a directory...), without writing: for commands that write several files and
    must not stop half-way."""
    name = os.fspath(path)
    if _stream_number(name) is None:
        _classify(name)


def _classify(name: str) -> tuple[str, os.stat_result | None]:
    """``("new", None)``, ``("regular", stat)`` or ``("special", stat)``; refusals raise."""
    if not name:
        raise UsageError("empty output path")
    try:
        lst = os.lstat(name)
    except FileNotFoundError:
        return "new", None
    except OSError as exc:
        raise OutputError(name, exc.strerror or str(exc)) from None
    st = lst
    if stat.S_ISLNK(lst.st_mode):
        try:
            st = os.stat(name)
        except OSError:
            raise OutputError(name, f"it is a dangling symbolic link (to {os.readlink(name)!r}); "
                                    "dockguard does not create files behind links") from None
    kind = st.st_mode
    if stat.S_ISDIR(kind):
        raise OutputError(name, "it is a directory (give a file name)")
    if stat.S_ISCHR(kind) or stat.S_ISBLK(kind) or stat.S_ISFIFO(kind) or stat.S_ISSOCK(kind):
        return "special", st
    if stat.S_ISLNK(lst.st_mode):
        raise OutputError(name, f"it is a symbolic link to {os.path.realpath(name)}; dockguard does "
                                "not replace files behind links (give the target path)")
    if not stat.S_ISREG(kind):
        raise OutputError(name, "it is not a regular file, a device or a FIFO")
    return "regular", st


def _stream_number(name: str) -> int | None:
    if name in _STREAMS:
        return _STREAMS[name]
    m = _FD_PATH.fullmatch(name)
    return int(m.group(1)) if m else None


def _write_fd(fd: int, data: bytes, name: str) -> None:
    """Write to an open descriptor (flushing Python's own buffers of stdout/stderr first)."""
    stream = {1: sys.stdout, 2: sys.stderr}.get(fd)
    if stream is not None:
        buffer = getattr(stream, "buffer", None)
        if buffer is None:  # a text-only replacement (tests, embedding): keep it text
            stream.write(data.decode("utf-8"))
            stream.flush()
            return
        stream.flush()
        buffer.write(data)
        buffer.flush()
        return
    try:
        _write_all(fd, data)
    except OSError as exc:
        raise OutputError(name, exc.strerror or str(exc)) from None


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _write_in_place(name: str, data: bytes) -> None:
    """Devices and FIFOs: open the existing node for writing, never create or truncate it."""
    try:
        fd = os.open(name, os.O_WRONLY | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as exc:
        raise OutputError(name, exc.strerror or str(exc)) from None
    try:
        _write_all(fd, data)
    except OSError as exc:
        raise OutputError(name, exc.strerror or str(exc)) from None
    finally:
        os.close(fd)


def _replace_atomically(name: str, data: bytes, mode: int | None, existing: os.stat_result | None) -> None:
    directory, base = os.path.split(name)
    directory = directory or "."
    tmp = os.path.join(directory, f".{base}.tmp-{os.getpid()}-{secrets.token_hex(4)}")
    if mode is None:
        mode = stat.S_IMODE(existing.st_mode) if existing is not None else 0o666 & ~_umask()
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        raise OutputError(name, exc.strerror or str(exc)) from None
    try:
        try:
            _write_all(fd, data)
            if existing is not None and os.geteuid() == 0:
                os.fchown(fd, existing.st_uid, existing.st_gid)
            os.fchmod(fd, mode)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, name)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise OutputError(name, exc.strerror or str(exc)) from None
        raise


def _umask() -> int:
    # os.umask can only be read by setting it; dockguard is single-threaded where it writes.
    current = os.umask(0o022)
    os.umask(current)
    return current
