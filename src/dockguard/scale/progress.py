"""Progress of a registry scan on stderr: images, layers, bytes and an estimate of the time left.

On a terminal one line is redrawn at most every half second; otherwise (logs, CI) a line is
written every `LOG_INTERVAL` seconds and once at the end, so a long scan neither floods a log
nor goes silent.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import TextIO

LOG_INTERVAL = 10.0
TTY_INTERVAL = 0.5
IMAGE_WEIGHT = 256 * 1024
"""Bytes of work an image task is counted as, next to the layer bytes, for the estimate."""


def _mib(n: int) -> str:
    return f"{n / 1048576:.1f} MiB"


def _clock(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


@dataclass
class ScanProgress:
    """Counters the scan updates; `show` writes them when it is time to."""

    images_total: int = 0
    images_done: int = 0
    layers_total: int = 0
    layers_done: int = 0
    layers_reused: int = 0
    bytes_total: int = 0
    bytes_done: int = 0
    stream: TextIO | None = None
    enabled: bool = True

    def __post_init__(self) -> None:
        self._out = self.stream or sys.stderr
        self._tty = self._out.isatty()
        self._started = time.monotonic()
        self._last = 0.0
        self._open = False

    def note(self, text: str) -> None:
        """A one-off line (a phase starts, a warning)."""
        if not self.enabled:
            return
        self._end_line()
        self._out.write(f"dockguard: {text}\n")
        self._out.flush()

    def eta(self) -> float | None:
        """Seconds left by the rate so far, or None before anything finished."""
        total = self.bytes_total + self.images_total * IMAGE_WEIGHT
        done = self.bytes_done + self.images_done * IMAGE_WEIGHT
        elapsed = time.monotonic() - self._started
        if done <= 0 or total <= 0 or elapsed <= 0:
            return None
        return max(0.0, elapsed * (total - done) / done)

    def line(self) -> str:
        """The progress line."""
        eta = self.eta()
        layers = f"layers {self.layers_done}/{self.layers_total}"
        if self.layers_reused:
            layers += f" ({self.layers_reused} already stored)"
        return (f"images {self.images_done}/{self.images_total}, {layers}, "
                f"{_mib(self.bytes_done)}/{_mib(self.bytes_total)}, "
                f"ETA {_clock(eta) if eta is not None else '?'}")

    def show(self, force: bool = False) -> None:
        """Write the line if the interval passed (or `force`)."""
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self._last < (TTY_INTERVAL if self._tty else LOG_INTERVAL):
            return
        self._last = now
        if self._tty:
            self._out.write(f"\rdockguard: {self.line()}\x1b[K")
            self._open = True
        else:
            self._out.write(f"dockguard: {self.line()}\n")
        self._out.flush()

    def finish(self) -> None:
        """The final line."""
        self.show(force=True)
        self._end_line()

    def _end_line(self) -> None:
        if self._open:
            self._out.write("\n")
            self._open = False
