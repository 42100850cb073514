"""``dockguard seccomp``: lint, diff, explain, run and learn seccomp profiles.

``lint`` is an audit: it produces a `Report` (every ``--format``, ``--suppressions``, ``-o``,
the one exit policy; the work is in `dockguard.pipeline.seccomp_lint`).  ``diff`` and
``explain`` describe profiles rather than judge them: they keep their own text and JSON.

Exit codes: lint 1 on validation errors (CRITICAL findings: the default ``--fail-on``) or on
warnings at/above a lower ``--fail-on``, 2 when a profile cannot be read or parsed (the others
are still reported); diff 1 when the
profiles differ (like diff(1)); run and learn pass the command's exit status through, and a
command killed by a signal gives 128 + the signal number like a shell (SIGSYS from a
``SCMP_ACT_KILL`` rule: 159 on x86-64 and arm64) with one line on stderr naming the signal and
the syscalls the profile kills; 2 for unreadable or malformed input and usage errors.

Profiles are read through `dockguard.inputs` (at most 8 MiB, nesting capped): every problem
with the file is an `InputError` naming it and the JSON path.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

from dockguard.commands.common import Subparsers, add_report_arguments, check_outputs, write_output
from dockguard.errors import UsageError
from dockguard.inputs import InputError
from dockguard.model import Surface

if TYPE_CHECKING:
    from dockguard.jsontypes import JsonObject
    from dockguard.seccomp.apply import Translation
    from dockguard.seccomp.effective import ProfileContext
    from dockguard.seccomp.profile import ParseResult, Profile


def register(subparsers: Subparsers) -> None:
    """Add ``seccomp`` and its sub-subcommands."""
    p = subparsers.add_parser(
        "seccomp",
        help="lint, diff, explain, run and learn seccomp profiles",
        description="Work with Docker seccomp profiles (both the old and the current format).",
    )
    sub = p.add_subparsers(dest="seccomp_command", metavar="SUBCOMMAND", parser_class=type(p))
    p.set_defaults(handler=lambda args: _usage(p))

    lint = sub.add_parser(
        "lint",
        help="validate a profile and warn about risky choices",
        description="Validate seccomp profiles strictly and warn about risky choices. The result is a "
        "report in any --format: each problem is a finding with the profile's file, line and JSON path. "
        "Validation errors are CRITICAL and fail by default; risk warnings (HIGH, MEDIUM, LOW) fail "
        "only with a lower --fail-on. A profile that cannot be read or parsed is reported with the "
        "others and gives exit 2.",
    )
    lint.add_argument("profiles", nargs="*", metavar="PROFILE", help="profile JSON file(s)")
    lint.add_argument(
        "--container",
        action="append",
        default=[],
        metavar="NAME",
        help="lint the profile a container runs with (Engine API; repeatable)",
    )
    lint.add_argument(
        "-H",
        "--docker-host",
        metavar="URL",
        help="daemon for --container (default: $DOCKER_HOST or the local socket)",
    )
    _context_args(lint, caps=False, kernel=False)
    add_report_arguments(lint, Surface.SECCOMP_LINT, fail_on_help=(
        "exit 1 on findings at or above SEVERITY (default CRITICAL: the validation errors; HIGH, "
        "MEDIUM, LOW or WARN also count the risk warnings)"))
    lint.set_defaults(handler=_lint)

    diff = sub.add_parser(
        "diff",
        help="compare the effective action per syscall of two profiles",
        description="Compare the effective action per syscall of two profiles. It describes the "
        "profiles rather than auditing them: text or JSON only, exit 1 when they differ (like diff(1)).",
    )
    diff.add_argument("a", metavar="A")
    diff.add_argument("b", metavar="B")
    _context_args(diff)
    _format_arg(diff)
    diff.set_defaults(handler=_diff)

    explain = sub.add_parser(
        "explain",
        help="what a profile does to each syscall",
        description="Show what a profile does to each syscall. It describes the profile rather than "
        "auditing it: text or JSON only.",
    )
    explain.add_argument("profile", metavar="PROFILE")
    explain.add_argument(
        "syscalls",
        nargs="*",
        metavar="SYSCALL",
        help="syscalls to explain (default: every syscall the profile names)",
    )
    _context_args(explain)
    _format_arg(explain)
    explain.set_defaults(handler=_explain)

    run = sub.add_parser(
        "run",
        help="run a command under a profile (libseccomp, forked child)",
        description="Run a command under a profile. Exit status: the command's own; 128 + N when a "
        "signal N ended it, as a shell reports it (SIGSYS from an SCMP_ACT_KILL rule: 159 on x86-64 "
        "and arm64), with one line on stderr naming the signal and the syscalls the profile kills.",
    )
    run.add_argument("--profile", required=True, metavar="PROFILE")
    run.add_argument("--caps", metavar="SPEC", help=_CAPS_HELP)
    run.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        help="do not report syscall names skipped by the translation",
    )
    run.add_argument("command", nargs=argparse.REMAINDER, metavar="-- CMD ...")
    run.set_defaults(handler=_run)

    learn = sub.add_parser("learn", help="trace a command with strace and write a profile for it")
    learn.add_argument("-o", "--output", required=True, metavar="OUT.json")
    learn.add_argument(
        "--base",
        metavar="PROFILE",
        help="extend this profile with the syscalls it lacks instead of writing a minimal one",
    )
    learn.add_argument(
        "--no-verify",
        action="store_true",
        help="do not re-run the command under the learned profile",
    )
    learn.add_argument("command", nargs=argparse.REMAINDER, metavar="-- CMD ...")
    learn.set_defaults(handler=_learn)


_CAPS_HELP = (
    "capability bounding set used for includes/excludes conditions: 'default' (Docker's 14), "
    "'all', 'none', a list (CAP_SYS_ADMIN,CAP_NET_ADMIN) "
    "or edits of the default (+SYS_ADMIN,-NET_RAW)"
)


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


def _context_args(p: argparse.ArgumentParser, *, caps: bool = True, kernel: bool = True) -> None:
    p.add_argument(
        "--arch",
        metavar="ARCH",
        help="architecture for arches conditions (default: this machine's, e.g. amd64)",
    )
    if caps:
        p.add_argument("--caps", metavar="SPEC", help=_CAPS_HELP)
    if kernel:
        p.add_argument(
            "--kernel",
            metavar="X.Y",
            help="kernel version for minKernel conditions (default: the running kernel)",
        )


def _format_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--format", choices=("text", "json"), default="text",
                   help="text or json (a description of profiles, not an audit report)")


def _context(args: argparse.Namespace) -> ProfileContext:
    from dockguard.seccomp.effective import (
        ProfileContext,
        check_arch,
        native_arch,
        parse_caps,
        parse_kernel,
        running_kernel,
    )

    arch = check_arch(args.arch) if getattr(args, "arch", None) else native_arch()
    kernel_text = getattr(args, "kernel", None)
    kernel = parse_kernel(kernel_text) if kernel_text else running_kernel()
    return ProfileContext(arch, parse_caps(getattr(args, "caps", None)), kernel)


def _command(args: argparse.Namespace) -> list[str]:
    cmd = list(args.command)
    if cmd and cmd[0] == "--":
        cmd = cmd[1:]
    if not cmd:
        raise UsageError("no command given (put it after --)")
    return cmd


def _lint(args: argparse.Namespace) -> int:
    from dockguard.commands.common import finish_report
    from dockguard.exit_policy import parse_fail_on
    from dockguard.pipeline.seccomp_lint import DEFAULT_FAIL_ON, lint_report
    from dockguard.seccomp.effective import check_arch, native_arch

    if not args.profiles and not args.container:
        raise UsageError("give a PROFILE file or --container NAME")
    fail_on = parse_fail_on(args.fail_on) or DEFAULT_FAIL_ON
    arch = check_arch(args.arch) if args.arch else native_arch()
    check_outputs(args.output)
    report = lint_report(args.profiles, args.container, arch=arch, docker_host=args.docker_host,
                         on_error=lambda message: print(f"dockguard: error: {message}", file=sys.stderr))
    return finish_report(report, args, fail_on)


def _load(path: str) -> Profile:
    from dockguard.seccomp.profile import load_profile_file

    _, result = load_profile_file(path)
    return _accepted(path, result)


def _accepted(path: str, result: ParseResult) -> Profile:
    """The profile of `result`, or an InputError when Docker would refuse it."""
    rejected = [d for d in result.diagnostics if d.rejected_by_docker]
    if result.profile is None or rejected:
        first = rejected[0] if rejected else result.diagnostics[0]
        raise InputError.at(
            path, first.path,
            f"invalid profile (Docker would refuse it): {first.message} (see dockguard seccomp lint)",
        )
    return result.profile


def _diff(args: argparse.Namespace) -> int:
    from dockguard.seccomp import profile_diff

    ctx = _context(args)
    result = profile_diff.diff_profiles(_load(args.a), _load(args.b), ctx)
    render = profile_diff.render_json if args.format == "json" else profile_diff.render_text
    write_output(render(result, args.a, args.b), None)
    return 0 if result.identical else 1


def _explain(args: argparse.Namespace) -> int:
    from dockguard.seccomp import explain
    from dockguard.seccomp.effective import listed_names

    ctx = _context(args)
    profile = _load(args.profile)
    items = explain.explain(profile, ctx, args.syscalls)
    unlisted = 0 if args.syscalls else listed_names(profile.names())[1]
    render = explain.render_json if args.format == "json" else explain.render_text
    write_output(render(items, ctx, args.profile, unlisted), None)
    return 0


def _run(args: argparse.Namespace) -> int:
    from dockguard.seccomp.apply import resolve_command, run_under, translate

    cmd = _command(args)
    resolve_command(cmd)
    profile = _load(args.profile)
    translation = translate(profile, _context(args))
    if not args.quiet:
        _report_skips(translation)
    sys.stdout.flush()
    sys.stderr.flush()
    return run_under(translation, cmd)


def _report_skips(translation: Translation) -> None:
    if translation.unknown_names:
        print(
            f"dockguard: skipped {len(translation.unknown_names)} syscall name(s) this libseccomp "
            f"does not know: {', '.join(translation.unknown_names)}",
            file=sys.stderr,
        )
    if translation.skipped_arches:
        print(
            f"dockguard: skipped architecture(s) pyseccomp does not know: {', '.join(translation.skipped_arches)}",
            file=sys.stderr,
        )


def _learn(args: argparse.Namespace) -> int:
    from dockguard.inputs import parse_json
    from dockguard.seccomp.apply import native_scmp_arch, resolve_command, run_under, translate
    from dockguard.seccomp.effective import ProfileContext, native_arch
    from dockguard.seccomp.learn import build_profile, strace_path, trace_command
    from dockguard.seccomp.profile import load_profile_file, parse_profile

    cmd = _command(args)
    check_outputs(args.output)
    strace_path()
    resolve_command(cmd)
    base: Profile | None = None
    base_data: JsonObject | None = None
    if args.base:
        text, result = load_profile_file(args.base)  # read once: the base may be stdin ("-")
        base = _accepted(args.base, result)
        parsed = parse_json(text, args.base)
        base_data = parsed if isinstance(parsed, dict) else None  # `_load` accepted it: an object
    trace = trace_command(cmd)
    arch = native_arch()
    data, names = build_profile(trace.syscalls, native_scmp_arch(), cmd, base=base, base_data=base_data, arch=arch)
    text = json.dumps(data, indent=2) + "\n"
    write_output(text, args.output)
    err = sys.stderr
    if base is not None:
        added = ", ".join(names) if names else "none"
        print(
            f"dockguard: wrote {args.output}: {args.base} plus {len(names)} syscall(s): {added}",
            file=err,
        )
    else:
        print(
            f"dockguard: wrote {args.output}: {len(trace.syscalls)} syscalls observed, "
            f"{len(names)} allowed with the container-runtime baseline",
            file=err,
        )
    if trace.unrecognised:
        print(
            "dockguard: ignored unrecognised names in the trace: " + ", ".join(sorted(trace.unrecognised)),
            file=err,
        )
    print(
        "dockguard: coverage is only the code paths this run exercised; other inputs, "
        "options or error paths may need more syscalls",
        file=err,
    )
    if args.no_verify:
        return trace.exit_code
    result = parse_profile(text)
    assert result.profile is not None
    translation = translate(result.profile, ProfileContext(arch))
    err.flush()
    code = run_under(translation, cmd, quiet_child=True)
    if code == trace.exit_code:
        print(
            f"dockguard: verified: the command exits {code} under the learned profile, as it did when traced",
            file=err,
        )
        return trace.exit_code
    print(
        f"dockguard: verification FAILED: the command exits {code} under the learned profile "
        f"but exited {trace.exit_code} when traced",
        file=err,
    )
    return trace.exit_code or 1
