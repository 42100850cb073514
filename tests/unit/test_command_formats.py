"""Every report-producing command offers its surface's whole format set, one suppressions
option (with the ``--ignore-file`` alias), ``-o`` and ``--fail-on`` — read from the real parser."""

from __future__ import annotations

import argparse

import pytest

from dockguard.cli import build_parser
from dockguard.model import Surface
from dockguard.report.formats import FORMATS, SURFACE_FORMATS

COMMANDS: dict[tuple[str, ...], Surface] = {
    ("bench",): Surface.BENCH,
    ("audit",): Surface.AUDIT,
    ("image", "scan"): Surface.IMAGE_SCAN,
    ("daemon", "probe"): Surface.DAEMON_PROBE,
    ("registry", "probe"): Surface.REGISTRY_PROBE,
    ("seccomp", "lint"): Surface.SECCOMP_LINT,
    ("diff",): Surface.DIFF,
    ("registry", "scan"): Surface.REGISTRY_SCAN,
    ("fleet", "report"): Surface.FLEET,
}


def _subparser(path: tuple[str, ...]) -> argparse.ArgumentParser:
    parser = build_parser()
    for name in path:
        (action,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        parser = action.choices[name]
    return parser


def _option(parser: argparse.ArgumentParser, flag: str) -> argparse.Action:
    (action,) = [a for a in parser._actions if flag in a.option_strings]
    return action


@pytest.mark.parametrize("path", list(COMMANDS), ids=" ".join)
def test_command_offers_its_surface_formats_and_the_shared_options(path: tuple[str, ...]) -> None:
    parser = _subparser(path)
    surface = COMMANDS[path]
    fmt = _option(parser, "--format")
    assert tuple(fmt.choices or ()) == SURFACE_FORMATS[surface]
    # issue 14 names the fleet report's formats: text, json, html, sarif (no JUnit: no test cases)
    assert {"json", "sarif", "html"} | ({"junit"} if surface is not Surface.FLEET else set()) \
        <= set(SURFACE_FORMATS[surface])
    suppressions = _option(parser, "--suppressions")
    assert "--ignore-file" in suppressions.option_strings and suppressions.dest == "suppressions"
    assert _option(parser, "-o").dest == "output"
    assert _option(parser, "--fail-on").dest == "fail_on"
    help_text = parser.format_help()
    for name in SURFACE_FORMATS[surface]:
        assert name in help_text


def test_every_surface_format_has_a_formatter() -> None:
    for surface, names in SURFACE_FORMATS.items():
        for name in names:
            assert name in FORMATS or name == "table", (surface, name)


def test_vex_where_vulnerabilities_are_found() -> None:
    for path in (("audit",), ("image", "scan")):
        assert _option(_subparser(path), "--vex").dest == "vex"


@pytest.mark.parametrize("argv", [["image", "scan", "registry.invalid/app:1"],
                                  ["registry", "probe", "registry.invalid"],
                                  ["registry", "scan", "registry.invalid"]], ids=" ".join)
def test_passwords_on_stdin_are_bounded_and_never_in_argv(argv: list[str], monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    import io

    from dockguard.cli import main

    monkeypatch.setattr("sys.stdin", io.StringIO("x" * 100_000))
    assert main([*argv, "--username", "u", "--password-stdin"]) == 2
    assert "the password on stdin is longer than 64 KiB" in capsys.readouterr().err
    assert main([*argv, "--username", "u"]) == 2
    assert "passwords never go in argv" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin", io.StringIO("\n"))
    assert main([*argv, "--username", "u", "--password-stdin"]) == 2
    assert "no password on stdin" in capsys.readouterr().err
