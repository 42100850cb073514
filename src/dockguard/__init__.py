"""dockguard: audit the security of a Docker installation end to end."""

__version__ = "0.1.0"
