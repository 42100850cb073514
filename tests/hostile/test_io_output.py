"""``-o`` and friends never destroy what is at the path: devices, FIFOs, links, directories.

Every test runs the real CLI (``bench --snapshot`` on a small snapshot is the cheapest command
that writes a report) and checks the node at the output path afterwards.  The writer is
`dockguard.outputs`; all commands that write user-named files go through it.
"""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import pytest

from tests.hostile.harness import MAX_RSS_MIB, CliRun, run_cli

REPORT_HEAD = "CIS Docker Benchmark 1.6.0"


def _snapshot(tmp_path: Path) -> Path:
    snap = tmp_path / "snap.json"
    snap.write_text('{"schema_version": 1, "hostname": "h"}')
    return snap


def _bench(tmp_path: Path, scratch: Path, *out: str) -> CliRun:
    return run_cli(["bench", "--snapshot", str(_snapshot(tmp_path)), *out], scratch=scratch,
                   trace_writes=True)


def _clean(run: CliRun, tmp_path: Path) -> None:
    assert not run.traceback and "internal error" not in run.stderr, run.stderr
    assert run.max_rss_mib < MAX_RSS_MIB
    assert run.writes_outside(tmp_path) == []


def _no_temp_files(directory: Path) -> None:
    assert [p.name for p in directory.iterdir() if ".tmp-" in p.name] == []


@pytest.mark.skipif(os.geteuid() != 0, reason="mknod of a character device needs root")
def test_character_device_is_written_in_place_not_replaced(tmp_path: Path, scratch: Path) -> None:
    node = tmp_path / "n"
    os.mknod(node, stat.S_IFCHR | 0o666, os.makedev(1, 3))  # a private /dev/null
    run = _bench(tmp_path, scratch, "-o", str(node))
    assert run.code == 0, run.stderr
    _clean(run, tmp_path)
    st = os.lstat(node)
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(1, 3)
    _no_temp_files(tmp_path)


@pytest.mark.skipif(os.geteuid() != 0, reason="mknod of a character device needs root")
def test_relative_device_path_and_bench_log_pair(tmp_path: Path, scratch: Path) -> None:
    """The issue's reproduction (``-o ./n`` relative to the cwd) and ``-l FILE`` (FILE + FILE.json)."""
    node = scratch / "n"
    os.mknod(node, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    run = run_cli(["bench", "--snapshot", str(_snapshot(tmp_path)), "-o", "./n", "-l", "./n"],
                  scratch=scratch, trace_writes=True)
    assert run.code == 0, run.stderr
    _clean(run, tmp_path)
    assert stat.S_ISCHR(os.lstat(node).st_mode)
    log_json = scratch / "n.json"
    assert stat.S_ISREG(os.lstat(log_json).st_mode) and log_json.read_text().lstrip().startswith("{")
    _no_temp_files(scratch)


def test_fifo_with_a_reader_receives_the_report(tmp_path: Path, scratch: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received: list[bytes] = []

    def read() -> None:
        with open(fifo, "rb") as f:
            received.append(f.read())

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    run = _bench(tmp_path, scratch, "-o", str(fifo))
    reader.join(timeout=30)
    assert run.code == 0, run.stderr
    _clean(run, tmp_path)
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert REPORT_HEAD in received[0].decode()
    _no_temp_files(tmp_path)


@pytest.mark.parametrize("name", ["/dev/stdout", "/dev/fd/1", "/proc/self/fd/1", "-"])
def test_standard_output_names_write_to_the_open_descriptor(tmp_path: Path, scratch: Path, name: str) -> None:
    run = _bench(tmp_path, scratch, "-o", name)
    assert run.code == 0, run.stderr
    _clean(run, tmp_path)
    assert REPORT_HEAD in run.stdout
    # stdout is a regular file here: it was written through fd 1, not replaced or reopened
    assert not any(w.startswith(("/dev/stdout", "/proc/self/fd")) for w in run.writes)


def test_symlink_to_a_regular_file_is_refused(tmp_path: Path, scratch: Path) -> None:
    target = tmp_path / "precious.txt"
    target.write_text("keep me")
    link = tmp_path / "report.txt"
    link.symlink_to(target)
    run = _bench(tmp_path, scratch, "-o", str(link))
    assert run.code == 2
    _clean(run, tmp_path)
    assert f"cannot write {link}: it is a symbolic link to {target}" in run.stderr
    assert link.is_symlink() and target.read_text() == "keep me"
    _no_temp_files(tmp_path)


def test_dangling_symlink_is_refused_and_nothing_is_created(tmp_path: Path, scratch: Path) -> None:
    link = tmp_path / "report.txt"
    link.symlink_to(tmp_path / "elsewhere" / "new.txt")
    run = _bench(tmp_path, scratch, "-o", str(link))
    assert run.code == 2
    _clean(run, tmp_path)
    assert "dangling symbolic link" in run.stderr
    assert not (tmp_path / "elsewhere").exists() and link.is_symlink()


def test_directory_is_refused(tmp_path: Path, scratch: Path) -> None:
    directory = tmp_path / "out"
    directory.mkdir()
    run = _bench(tmp_path, scratch, "-o", str(directory))
    assert run.code == 2
    _clean(run, tmp_path)
    assert f"cannot write {directory}: it is a directory" in run.stderr
    assert list(directory.iterdir()) == []
    _no_temp_files(tmp_path)


def test_new_file_is_created_with_the_umask_mode(tmp_path: Path, scratch: Path) -> None:
    out = tmp_path / "new.txt"
    run = _bench(tmp_path, scratch, "-o", str(out))
    assert run.code == 0, run.stderr
    _clean(run, tmp_path)
    assert REPORT_HEAD in out.read_text()
    umask = os.umask(0o022)
    os.umask(umask)
    assert stat.S_IMODE(out.stat().st_mode) == 0o666 & ~umask
    _no_temp_files(tmp_path)


def test_existing_regular_file_is_replaced_and_keeps_its_mode(tmp_path: Path, scratch: Path) -> None:
    out = tmp_path / "old.txt"
    out.write_text("old content that is longer than nothing " * 100)
    out.chmod(0o640)
    inode = out.stat().st_ino
    run = _bench(tmp_path, scratch, "-o", str(out))
    assert run.code == 0, run.stderr
    _clean(run, tmp_path)
    text = out.read_text()
    assert REPORT_HEAD in text and "old content" not in text
    assert stat.S_IMODE(out.stat().st_mode) == 0o640
    assert out.stat().st_ino != inode  # replaced atomically by rename, not rewritten in place
    _no_temp_files(tmp_path)


def test_missing_parent_directory_is_one_clean_error(tmp_path: Path, scratch: Path) -> None:
    out = tmp_path / "no" / "such" / "dir.txt"
    run = _bench(tmp_path, scratch, "-o", str(out))
    assert run.code == 2
    _clean(run, tmp_path)
    assert f"cannot write {out}: No such file or directory" in run.stderr


def test_non_utf8_package_path_lists_without_leaving_a_temp_file(tmp_path: Path, scratch: Path) -> None:
    """``--list-packages -o out.txt`` with a dist-info whose name holds invalid UTF-8 bytes."""
    rootfs = tmp_path / "rootfs"
    (rootfs / "etc").mkdir(parents=True)
    (rootfs / "etc" / "os-release").write_text("ID=debian\nVERSION_ID=12\n")
    dist = os.path.join(os.fsencode(rootfs), b"usr/lib/python3/dist-packages/foo-1.0\xff.dist-info")
    os.makedirs(dist)
    with open(os.path.join(dist, b"METADATA"), "w") as f:
        f.write("Metadata-Version: 2.1\nName: foo\nVersion: 1.0\n")
    out = tmp_path / "out.txt"
    run = run_cli(["image", "scan", "--offline", "--list-packages", "-o", str(out), f"dir:{rootfs}"],
                  scratch=scratch, trace_writes=True)
    assert run.code == 0, run.stderr
    _clean(run, tmp_path)
    text = out.read_text(encoding="utf-8")  # valid UTF-8: the bad byte is escaped
    assert "foo-1.0\\udcff.dist-info/METADATA" in text
    _no_temp_files(tmp_path)


def test_surrogates_from_a_snapshot_reach_a_text_report_escaped(tmp_path: Path, scratch: Path) -> None:
    r"""A JSON ``\udcff`` escape in a snapshot (a host file name with an invalid byte) is written
    as ``\udcff`` text, in a file and on stdout, instead of failing and leaving a temp file."""
    snap = tmp_path / "snap.json"
    snap.write_text('{"schema_version": 1, "hostname": "h\\udcffx"}')
    out = tmp_path / "r.txt"
    for target in (str(out), "-"):
        run = run_cli(["bench", "--snapshot", str(snap), "-o", target], scratch=scratch, trace_writes=True)
        assert run.code == 0, run.stderr
        _clean(run, tmp_path)
    assert "h\\udcffx" in out.read_text(encoding="utf-8")
    assert "h\\udcffx" in run.stdout
    _no_temp_files(tmp_path)


def test_tls_init_refuses_a_link_in_the_way_before_writing_any_key(tmp_path: Path, scratch: Path) -> None:
    out = tmp_path / "tls"
    out.mkdir()
    precious = tmp_path / "precious"
    precious.write_text("keep me")
    (out / "server-cert.pem").symlink_to(precious)
    run = run_cli(["daemon", "tls-init", "--out", str(out), "--host", "h.test", "--force"], scratch=scratch,
                  trace_writes=True)
    assert run.code == 2
    _clean(run, tmp_path)
    assert "server-cert.pem: it is a symbolic link" in run.stderr
    assert sorted(p.name for p in out.iterdir()) == ["server-cert.pem"]  # no key written half-way
    assert precious.read_text() == "keep me"


def test_tls_init_writes_private_keys_never_readable_by_others(tmp_path: Path, scratch: Path) -> None:
    out = tmp_path / "tls"
    run = run_cli(["daemon", "tls-init", "--out", str(out), "--host", "h.test"], scratch=scratch, trace_writes=True)
    assert run.code == 0, run.stderr
    _clean(run, tmp_path)
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in out.iterdir()}
    assert modes["ca-key.pem"] == 0o400 and modes["server-key.pem"] == 0o400
    assert all(m & 0o077 == 0 for n, m in modes.items() if "key" in n)
    _no_temp_files(out)


@pytest.mark.parametrize("command", [["collect"], ["bench"]])
def test_output_path_is_checked_before_collecting(command: list[str], tmp_path: Path, scratch: Path) -> None:
    directory = tmp_path / "out"
    directory.mkdir()
    run = run_cli([*command, "-H", f"unix://{tmp_path}/no.sock", "--host-root", str(tmp_path), "-o", str(directory)],
                  scratch=scratch, trace_writes=True)
    assert run.code == 2
    _clean(run, tmp_path)
    assert run.stderr.strip() == f"dockguard: error: cannot write {directory}: it is a directory (give a file name)"


@pytest.mark.skipif(os.geteuid() != 0, reason="mknod of a character device needs root")
def test_image_sbom_to_a_device_keeps_the_device(tmp_path: Path, scratch: Path) -> None:
    rootfs = tmp_path / "rootfs"
    (rootfs / "etc").mkdir(parents=True)
    (rootfs / "etc" / "os-release").write_text("ID=debian\nVERSION_ID=12\n")
    node = tmp_path / "null"
    os.mknod(node, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    run = run_cli(["image", "sbom", f"dir:{rootfs}", "-o", str(node)], scratch=scratch, trace_writes=True)
    assert run.code == 0, run.stderr
    _clean(run, tmp_path)
    assert stat.S_ISCHR(os.lstat(node).st_mode) and os.lstat(node).st_rdev == os.makedev(1, 3)
    _no_temp_files(tmp_path)


@pytest.mark.parametrize("command", [["image", "scan"], ["image", "sbom"], ["audit", "--no-images", "-q"]])
def test_bad_output_is_refused_before_the_work_starts(command: list[str], tmp_path: Path, scratch: Path) -> None:
    """`-o DIR` fails at once with the output's error, not after a scan (or the scan's own error)."""
    target = [] if command[0] == "audit" else ["dir:/nonexistent-rootfs"]
    run = run_cli([*command, *target, "-o", str(tmp_path)], scratch=scratch,
                  env={"DOCKER_HOST": f"unix://{tmp_path}/none.sock"})
    assert run.code == 2
    assert "it is a directory" in run.stderr, run.stderr
    assert "nonexistent-rootfs" not in run.stderr
