"""Hostile seccomp profiles through the real CLI: bounded, linear, and never silent.

Timing figures (100k and 1M names, and the ratio that shows lint is linear) are printed by
``bench/bench_seccomp.py``; here the big inputs only have to finish well inside the harness
deadline, with their problems grouped instead of listed a million times.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.hostile.harness import MAX_RSS_MIB, CliRun, run_cli


def _profile(tmp_path: Path, doc: object, name: str = "p.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(doc))
    return path


def _clean(run: CliRun, tmp_path: Path) -> None:
    assert not run.traceback and "internal error" not in run.stderr, run.stderr
    assert run.max_rss_mib < MAX_RSS_MIB
    assert run.writes_outside(tmp_path) == []


def _one_rule(names: list[str], **extra: object) -> dict[str, object]:
    return {"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": names, "action": "SCMP_ACT_ALLOW", **extra}]}


def test_min_kernel_of_5000_digits_is_a_lint_error_not_a_crash(tmp_path: Path, scratch: Path) -> None:
    profile = _profile(tmp_path, _one_rule(["read"], includes={"minKernel": "9" * 5000 + ".1"}))
    run = run_cli(["seccomp", "lint", str(profile)], scratch=scratch, trace_writes=True)
    assert run.code == 1, run.stderr
    _clean(run, tmp_path)
    line = next(ln for ln in run.stdout.splitlines() if "minKernel" in ln)
    assert "syscalls[0].includes.minKernel" in line and 'must be "MAJOR.MINOR"' in line
    assert len(line) < 300  # the value is cut, not echoed 5000 digits long
    run = run_cli(["seccomp", "explain", str(profile)], scratch=scratch, trace_writes=True)
    assert run.code == 2
    _clean(run, tmp_path)
    assert f"{profile}: $.syscalls[0].includes.minKernel: invalid profile" in run.stderr


@pytest.mark.parametrize("value", ["4.8\n", "٤.٨", "4.8.1", "-1.2"])
def test_min_kernel_forms_python_would_accept_but_docker_does_not(value: str, tmp_path: Path, scratch: Path) -> None:
    profile = _profile(tmp_path, _one_rule(["read"], includes={"minKernel": value}))
    run = run_cli(["seccomp", "lint", "--format", "json", str(profile)], scratch=scratch)
    assert run.code == 1
    _clean(run, tmp_path)
    findings = json.loads(run.stdout)["findings"]
    assert "seccomp.bad-kernel" in [f["id"] for f in findings]
    (kernel,) = [f for f in findings if f["id"] == "seccomp.bad-kernel"]
    assert kernel["evidence"]["json_path"] == "syscalls[0].includes.minKernel" and kernel["line"] == 1


def test_integer_of_5000_digits_in_a_profile(tmp_path: Path, scratch: Path) -> None:
    profile = tmp_path / "p.json"
    profile.write_text('{"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": ' + "1" * 5000 + "}")
    run = run_cli(["seccomp", "lint", str(profile)], scratch=scratch)
    assert run.code == 2
    _clean(run, tmp_path)
    assert f"dockguard: error: {profile}: not acceptable JSON: Exceeds the limit (4300 digits)" in run.stderr


@pytest.mark.parametrize("count", [100_000, 1_000_000])
def test_lint_of_one_rule_with_many_names_is_linear_and_grouped(count: int, tmp_path: Path, scratch: Path) -> None:
    profile = tmp_path / "big.json"
    with profile.open("w") as f:  # 1M names is 5 MB of '"nosuchcall",'-style entries
        f.write('{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"action": "SCMP_ACT_ALLOW", "names": [')
        f.write(",".join(['"read"', '"bogus"'] * (count // 2)))
        f.write("]}]}")
    run = run_cli(["seccomp", "lint", str(profile)], scratch=scratch, timeout=90)
    assert run.code == 1, run.stderr  # unknown names are validation errors
    _clean(run, tmp_path)
    assert f"{count // 2 - 50} more 'unknown-syscall' problem(s)" in run.stdout
    assert f"{count // 2 - 1 - 50} more 'duplicate-name' problem(s)" in run.stdout
    assert len(run.stdout.splitlines()) < 200


def test_explain_and_diff_of_many_made_up_names_stay_bounded(tmp_path: Path, scratch: Path) -> None:
    a = tmp_path / "a.json"
    with a.open("w") as f:
        f.write('{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"action": "SCMP_ACT_ALLOW", "names": [')
        f.write(",".join(f'"x{i}"' for i in range(500_000)))
        f.write(', "ptrace"]}]}')
    b = _profile(tmp_path, _one_rule(["read"]), "b.json")
    run = run_cli(["seccomp", "explain", str(a)], scratch=scratch, timeout=90)
    assert run.code == 0, run.stderr
    _clean(run, tmp_path)
    assert "499900 more names that are not a syscall on any architecture are not listed" in run.stdout
    assert "ptrace" in run.stdout
    run = run_cli(["seccomp", "diff", "--format", "json", str(a), str(b)], scratch=scratch, timeout=90)
    assert run.code == 1, run.stderr
    _clean(run, tmp_path)
    doc = json.loads(run.stdout)
    assert doc["unlisted_unknown_names"] == 499_900
    assert {"ptrace", "read"} <= {d["syscall"] for d in doc["differences"]}


def test_cis_5_22_on_a_huge_inline_profile_finishes(tmp_path: Path, scratch: Path) -> None:
    def inline(i: int) -> str:  # ten different profiles: the linter's cache does not hide the cost
        return json.dumps({"defaultAction": "SCMP_ACT_ALLOW",
                           "syscalls": [{"names": ["read"] * 100_000 + [f"x{i}"], "action": "SCMP_ACT_ERRNO"}]})

    containers = [{"id": f"c{i}", "name": f"web{i}", "security_opt": [f"seccomp={inline(i)}"]} for i in range(10)]
    snap = tmp_path / "snap.json"
    snap.write_text(json.dumps({"schema_version": 1, "containers": containers}))
    run = run_cli(["bench", "--snapshot", str(snap), "-c", "5.22", "--format", "json"], scratch=scratch, timeout=90)
    assert run.code == 0, run.stderr
    _clean(run, tmp_path)
    (result,) = json.loads(run.stdout)["results"]
    assert result["outcome"] == "WARN"
    assert "deny-list" in result["details"][0]["message"]


def test_surrogate_syscall_name_is_reported_escaped(tmp_path: Path, scratch: Path) -> None:
    profile = tmp_path / "p.json"
    profile.write_text('{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["\\ud800read"], '
                       '"action": "SCMP_ACT_ALLOW"}]}')
    for args in (["seccomp", "lint"], ["seccomp", "explain"]):
        run = run_cli([*args, str(profile)], scratch=scratch)
        assert run.code in (0, 1), run.stderr
        _clean(run, tmp_path)
        assert "\\ud800read" in run.stdout


@pytest.mark.parametrize(
    ("doc", "where"),
    [
        ({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": 5}]}, "$.syscalls[0].action"),
        ({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": "all"}, "$.syscalls"),
        ([1, 2], "$"),
    ],
)
def test_profiles_docker_refuses_name_the_json_path(doc: object, where: str, tmp_path: Path, scratch: Path) -> None:
    profile = _profile(tmp_path, doc)
    for args in (["seccomp", "explain", str(profile)], ["seccomp", "diff", str(profile), str(profile)],
                 ["seccomp", "run", "--profile", str(profile), "--", "true"]):
        run = run_cli(args, scratch=scratch)
        assert run.code == 2, (args, run.stderr)
        _clean(run, tmp_path)
        assert f"dockguard: error: {profile}: {where}: invalid profile (Docker would refuse it)" in run.stderr


def test_run_killed_by_the_profile_says_so(tmp_path: Path, scratch: Path) -> None:
    """Exit status 128 + SIGSYS as a shell would give, plus one line naming signal and syscall."""
    pytest.importorskip("pyseccomp")
    profile = _profile(tmp_path, {"defaultAction": "SCMP_ACT_ALLOW",
                                  "syscalls": [{"names": ["execve"], "action": "SCMP_ACT_KILL"}]})
    run = run_cli(["seccomp", "run", "--profile", str(profile), "--", "true"], scratch=scratch)
    assert run.code == 159
    _clean(run, tmp_path)
    assert "true was killed by SIGSYS (signal 31; exit status 159 = 128 + 31)" in run.stderr
    assert "execve is killed by this profile" in run.stderr


def test_run_killed_later_names_the_killed_syscalls(tmp_path: Path, scratch: Path) -> None:
    pytest.importorskip("pyseccomp")
    profile = _profile(tmp_path, {"defaultAction": "SCMP_ACT_ALLOW",
                                  "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_KILL_PROCESS"}]})
    run = run_cli(["seccomp", "run", "-q", "--profile", str(profile), "--", "sh", "-c", "echo $PPID; exit 3"],
                  scratch=scratch)
    # sh reads its parent pid with getppid at start-up: killed before the echo
    assert run.code == 159, (run.code, run.stderr)
    _clean(run, tmp_path)
    assert "killed by SIGSYS" in run.stderr and "it kills: getppid" in run.stderr


def test_run_killed_by_another_signal_names_it(tmp_path: Path, scratch: Path) -> None:
    pytest.importorskip("pyseccomp")
    profile = _profile(tmp_path, {"defaultAction": "SCMP_ACT_ALLOW",
                                  "syscalls": [{"names": ["mount"], "action": "SCMP_ACT_ERRNO"}]})
    run = run_cli(["seccomp", "run", "-q", "--profile", str(profile), "--", "sh", "-c", "kill -TERM $$"],
                  scratch=scratch)
    assert run.code == 143
    _clean(run, tmp_path)
    assert "sh was killed by SIGTERM (signal 15; exit status 143 = 128 + 15)" in run.stderr
