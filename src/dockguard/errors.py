"""Exceptions that the CLI turns into a one-line message and exit code 2."""

from __future__ import annotations


class DockguardError(Exception):
    """Base class: the message is shown to the user as is."""


class UsageError(DockguardError):
    """The command line asks for something impossible (unknown check id, bad option value)."""


class OperationalError(DockguardError):
    """dockguard could not do its work: daemon unreachable, unreadable input, missing database."""
