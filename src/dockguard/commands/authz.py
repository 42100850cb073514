"""``dockguard authz``: serve the authorization plugin, print the default policy, dry-run it.

Exit codes: ``serve`` 0 after SIGTERM/SIGINT, 2 when it cannot start (bad policy, socket in
use); ``policy`` 0; ``check`` 1 when something would be refused, 0 when nothing would, 2 on
errors (unreachable daemon, unreadable policy or compose file).
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dockguard.authz.policy import Policy
    from dockguard.commands.common import Subparsers


def register(subparsers: Subparsers) -> None:
    """Add ``authz`` and its sub-subcommands."""
    p = subparsers.add_parser(
        "authz",
        help="a Docker authorization plugin that enforces the CIS runtime checks",
        description="Refuse at the daemon what CIS section 5 warns about (privileged containers, host "
        "namespaces, sensitive mounts, ...), with the same checks as `dockguard bench`.",
    )
    sub = p.add_subparsers(dest="authz_command", metavar="SUBCOMMAND", parser_class=type(p))
    p.set_defaults(handler=lambda args: _usage(p))

    serve = sub.add_parser("serve", help="serve the plugin protocol on a unix socket")
    serve.add_argument("--socket", required=True, metavar="PATH",
                       help="unix socket to listen on (e.g. /run/docker/plugins/dockguard.sock, or the path "
                       "a /etc/docker/plugins/NAME.spec file names)")
    serve.add_argument("--policy", metavar="FILE", help="policy YAML (default: `dockguard authz policy`)")
    serve.add_argument("--mode", choices=("enforce", "audit"), default="enforce",
                       help="enforce refuses; audit allows everything and logs what it would refuse")
    serve.add_argument("--log", metavar="FILE", help="decision log, JSON lines (default: stderr)")
    serve.add_argument("-H", "--docker-host", metavar="URL",
                       help="daemon for read-only look-ups of named volumes and container:<id> namespaces "
                       "(default: $DOCKER_HOST or unix:///var/run/docker.sock)")
    serve.set_defaults(handler=_serve)

    pol = sub.add_parser("policy", help="print the default policy (YAML, commented)")
    pol.set_defaults(handler=_policy)

    check = sub.add_parser("check", help="dry run: what the policy would refuse among existing containers "
                           "and compose services")
    check.add_argument("--policy", metavar="FILE", help="policy YAML (default: the default policy)")
    check.add_argument("--compose", action="append", default=[], metavar="FILE",
                       help="also judge the services of this compose file (repeatable)")
    check.add_argument("-H", "--docker-host", metavar="URL",
                       help="daemon whose containers are judged (default: $DOCKER_HOST or the local socket)")
    check.add_argument("--no-daemon", action="store_true",
                       help="judge only the compose files; do not contact a daemon")
    check.add_argument("--user", default="", metavar="NAME",
                       help="judge as if NAME (a TLS client certificate CN) asked, for user exceptions")
    check.add_argument("--format", choices=("text", "json"), default="text")
    check.set_defaults(handler=_check)


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


def _load(path: str | None) -> Policy:
    from dockguard.authz.policy import Policy, load_policy

    return load_policy(path) if path else Policy()


def _serve(args: argparse.Namespace) -> int:
    import os

    from dockguard.authz.decide import Decider
    from dockguard.authz.log import DecisionLog
    from dockguard.authz.lookup import DaemonLookup
    from dockguard.authz.server import PluginServer, ServeState, run
    from dockguard.collect.docker_api import default_docker_host

    docker_host = args.docker_host or default_docker_host()
    sockets = (docker_host[len("unix://"):],) if docker_host.startswith("unix://") else ()
    # the plugin's own files may never be mounted in, nor the directories holding them (a
    # container could replace them); other files in those directories stay usable
    own = tuple(os.path.abspath(p) for p in (args.socket, args.policy, args.log) if p)
    guarded = tuple(dict.fromkeys(os.path.dirname(p) for p in own))
    lookup = DaemonLookup(docker_host)

    def make() -> Decider:
        return Decider(_load(args.policy), lookup, docker_sockets=sockets, protected=own, guarded_dirs=guarded,
                       own_socket=os.path.abspath(args.socket))

    decider = make()
    log = DecisionLog(args.log)
    server = PluginServer(args.socket, ServeState(decider, args.mode == "audit", log))
    print(
        f"dockguard authz: serving on {args.socket} (mode {args.mode}, policy {decider.policy.origin}, "
        f"look-ups on {docker_host})",
        file=sys.stderr,
        flush=True,
    )
    try:
        return run(server, make if args.policy else None)
    finally:
        lookup.close()


def _policy(args: argparse.Namespace) -> int:
    from dockguard.authz.policy import default_policy_text

    sys.stdout.write(default_policy_text())
    return 0


def _check(args: argparse.Namespace) -> int:
    from dockguard.authz.dryrun import dry_run, render_json, render_text
    from dockguard.collect.docker_api import default_docker_host
    from dockguard.errors import UsageError

    if args.no_daemon and not args.compose:
        raise UsageError("--no-daemon leaves nothing to check: give --compose FILE")
    policy = _load(args.policy)
    host = None if args.no_daemon else (args.docker_host or default_docker_host())
    verdicts = dry_run(policy, docker_host=host, compose=args.compose, user=args.user)
    render = render_json if args.format == "json" else render_text
    sys.stdout.write(render(verdicts, policy))
    return 1 if any(not v.decision.allow for v in verdicts) else 0
