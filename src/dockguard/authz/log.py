"""The decision log: one JSON object per line, per AuthZ request.

Fields: ``time`` (UTC, ISO 8601 with milliseconds), ``user`` and ``auth`` (what dockerd passed:
the TLS client certificate CN and ``TLS``; empty on the unix socket), ``method``, ``uri`` (as
sent, cut at `MAX_URI` characters), ``endpoint`` (normalised), ``decision`` (``allow``,
``refuse``, or ``would-refuse`` in audit mode), ``mode``, ``rules`` and ``reasons`` of the
refusals, ``waived`` (refusals an exception waived, as ``rule: reason``) and ``ms`` (time to
decide).  Lines are written whole under a lock, so concurrent requests never interleave.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from typing import IO

from dockguard.errors import OperationalError

MAX_URI = 4096


_second: tuple[int, str] = (-1, "")


def _now() -> str:
    global _second
    t = time.time()
    whole = int(t)
    sec, text = _second
    if sec != whole:  # strftime once a second; the tuple is replaced whole, so threads see one or the other
        text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole))
        _second = (whole, text)
    return f"{text}.{int(t % 1 * 1000):03d}Z"


class DecisionLog:
    """Append-only JSON-lines log to a file (mode 0600) or to stderr."""

    def __init__(self, path: str | None) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._file: IO[str] | None = None
        self._failed = False
        if path:
            self._file = self._open(path)

    @staticmethod
    def _open(path: str) -> IO[str]:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise OperationalError(f"cannot open the decision log {path}: {exc.strerror or exc}") from None
        return os.fdopen(fd, "a", encoding="utf-8", buffering=1)

    def reopen(self) -> None:
        """Reopen the file (after logrotate moved it)."""
        if not self.path:
            return
        new = self._open(self.path)
        with self._lock:
            old, self._file = self._file, new
            self._failed = False
        if old is not None:
            old.close()

    def write(self, entry: dict[str, object]) -> None:
        """Append one entry; a failing disk is reported once on stderr, never raised."""
        entry = {"time": _now(), **entry}
        uri = entry.get("uri")
        if isinstance(uri, str) and len(uri) > MAX_URI:
            entry["uri"] = uri[:MAX_URI] + "..."
        line = json.dumps(entry, separators=(",", ":"), ensure_ascii=True) + "\n"
        with self._lock:
            target = self._file if self._file is not None else sys.stderr
            try:
                target.write(line)
                target.flush()
            except (OSError, ValueError) as exc:
                if not self._failed:
                    self._failed = True
                    print(f"dockguard authz: cannot write the decision log: {exc}", file=sys.stderr, flush=True)

    def close(self) -> None:
        """Close the file."""
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None
