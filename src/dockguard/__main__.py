"""Allow ``python -m dockguard``."""

from dockguard.cli import main

raise SystemExit(main())
