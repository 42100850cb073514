"""A Python base image made from this host's files, for building the Dockerfile without a registry.

The repository's Dockerfile starts ``FROM ${BASE}`` (``python:3.11-slim`` for users).  The tests
cannot pull, so they make a stand-in from what is installed here:

- Debian's own Python 3.11 (the files of its ``python3.11-minimal``, ``libpython3.11-minimal``
  and ``libpython3.11-stdlib`` packages, as listed by ``dpkg -L``), without the
  ``EXTERNALLY-MANAGED`` marker, so pip may install into it as in the official image;
- dockguard's runtime dependencies, pip and setuptools, copied file by file (their ``RECORD``)
  from the virtualenv that runs the tests into ``/usr/lib/python3/dist-packages``, so that
  ``pip install --no-index`` finds every requirement already satisfied;
- every shared library those programs and extension modules load (from ``ldd``), libseccomp,
  ``ldconfig`` with its cache (``ctypes.util.find_library`` asks it), a static busybox as
  ``/bin/sh`` for the Dockerfile's ``RUN``, and a minimal ``/etc/passwd`` and ``/etc/group``.

The result is a root filesystem tar for ``docker import``; nothing is downloaded.
"""

from __future__ import annotations

import importlib.metadata as md
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import docker
from packaging.requirements import Requirement

DEBIAN_PYTHON_PACKAGES = ("python3.11-minimal", "libpython3.11-minimal", "libpython3.11-stdlib")
SITE = "usr/lib/python3/dist-packages"
#: Installed alongside the runtime dependencies: what the Dockerfile's ``pip install`` needs offline.
BUILD_TOOLS = ("pip", "setuptools")
_SKIP = re.compile(r"^/usr/share/(doc|man|lintian|binfmts)/|/EXTERNALLY-MANAGED$|/__pycache__/")
_LDD = re.compile(r"(?:=>\s*)?(/\S+)\s+\(0x")


class BaseUnavailable(RuntimeError):
    """This host lacks what the stand-in base is made of (with what is missing)."""


def runtime_distributions(root: str = "dockguard") -> list[md.Distribution]:
    """`root`'s installed requirement closure (markers evaluated, extras followed), without `root`."""
    seen: dict[str, set[str]] = {}
    dists: dict[str, md.Distribution] = {}
    todo: list[tuple[str, frozenset[str]]] = [(root, frozenset())]
    while todo:
        name, extras = todo.pop()
        dist = md.distribution(name)
        key = _norm(dist.metadata["Name"])
        if key in seen and extras <= seen[key]:
            continue
        seen.setdefault(key, set()).update(extras)
        dists[key] = dist
        for text in dist.requires or ():
            req = Requirement(text)
            envs = [{"extra": e} for e in (extras or {""})]
            if req.marker is None or any(req.marker.evaluate(env) for env in envs):
                todo.append((req.name, frozenset(req.extras)))
    dists.pop(_norm(root), None)
    return sorted(dists.values(), key=lambda d: _norm(d.metadata["Name"]))


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _dpkg_files(package: str) -> list[str]:
    proc = subprocess.run(["dpkg", "-L", package], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise BaseUnavailable(f"Debian package {package} is not installed (apt-get install {package})")
    return [line for line in proc.stdout.splitlines() if line.startswith("/")]


def _libraries(paths: list[str]) -> set[str]:
    """Every shared object the ELF files in `paths` load, as paths on this host."""
    libs: set[str] = set()
    for path in paths:
        proc = subprocess.run(["ldd", path], capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            continue  # not dynamic (a static binary, a script)
        for line in proc.stdout.splitlines():
            m = _LDD.search(line)
            if m and os.path.exists(m.group(1)):
                libs.add(m.group(1))
    return libs


def _find_libseccomp() -> str:
    for d in ("/usr/lib/x86_64-linux-gnu", "/lib/x86_64-linux-gnu", "/usr/lib64", "/usr/lib"):
        p = os.path.join(d, "libseccomp.so.2")
        if os.path.exists(p):
            return p
    raise BaseUnavailable("libseccomp.so.2 not found (apt-get install libseccomp2)")


class _Tree:
    """A root filesystem staged in a directory (so that ``ldconfig -r`` can index it)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        # Same top-level layout as this host (merged /usr on Debian 12).
        for top in ("bin", "sbin", "lib", "lib64"):
            host = f"/{top}"
            if os.path.islink(host):
                os.symlink(os.readlink(host), root / top)
        for d in ("etc", "tmp", "root", "var/cache", "usr/bin", "usr/sbin", "usr/lib", SITE):
            (root / d).mkdir(parents=True, exist_ok=True)
        os.chmod(root / "tmp", 0o1777)
        os.chmod(root / "root", 0o700)

    def _target(self, path: str) -> Path:
        # Resolve the directory part on this host, so /lib/x/libc.so.6 lands in usr/lib/x/.
        real_dir = os.path.realpath(os.path.dirname(path))
        return self.root / real_dir.lstrip("/") / os.path.basename(path)

    def copy(self, src: str, dest: str | None = None) -> None:
        """Copy host file `src` to `dest` (default: the same path), symlinks kept as symlinks."""
        target = self.root / dest.lstrip("/") if dest else self._target(src)
        if target.exists() or target.is_symlink():
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        if os.path.islink(src):
            os.symlink(os.readlink(src), target)
            link = os.path.join(os.path.dirname(src), os.readlink(src))
            self.copy(os.path.normpath(link))  # the file it names, too
        elif os.path.isdir(src):
            target.mkdir(exist_ok=True)
        else:
            shutil.copy2(src, target)

    def write(self, path: str, text: str, mode: int = 0o644) -> None:
        target = self.root / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
        os.chmod(target, mode)


def base_rootfs_tar(dest: Path) -> Path:
    """Write the stand-in base as a rootfs tar at `dest` (see the module docstring)."""
    with tempfile.TemporaryDirectory(prefix="dg-base-") as tmp:
        stage_rootfs(Path(tmp))
        with tarfile.open(dest, "w") as tar:
            for entry in sorted(os.listdir(tmp)):
                tar.add(os.path.join(tmp, entry), arcname=entry)
    return dest


def stage_rootfs(root: Path) -> None:
    """Lay the stand-in base out in the empty directory `root` and check that its Python runs."""
    busybox = shutil.which("busybox") or "/bin/busybox"
    ldconfig = next((p for p in ("/sbin/ldconfig", "/usr/sbin/ldconfig") if os.path.exists(p)), None)
    if not os.path.exists(busybox) or ldconfig is None:
        raise BaseUnavailable("busybox or ldconfig not found (apt-get install busybox-static libc-bin)")
    tree = _Tree(root)
    elves = _copy_debian_python(tree) + _copy_distributions(tree)
    libseccomp = _find_libseccomp()
    for lib in sorted(_libraries([*elves, libseccomp]) | {libseccomp}):
        tree.copy(lib)
    tree.copy(ldconfig)
    shutil.copy2(busybox, root / "usr/bin/busybox")
    for applet in ("sh", "ls", "cat", "rm", "mkdir", "id"):
        os.symlink("busybox", root / "usr/bin" / applet)
    tree.write("/etc/passwd", "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n")
    tree.write("/etc/group", "root:x:0:\nnogroup:x:65534:\n")
    tree.write("/etc/ld.so.conf", "include /etc/ld.so.conf.d/*.conf\n")
    multiarch = f"{os.uname().machine}-linux-gnu"
    tree.write(f"/etc/ld.so.conf.d/{multiarch}.conf", f"/usr/local/lib\n/usr/lib/{multiarch}\n")
    subprocess.run([ldconfig, "-r", str(root)], check=True, capture_output=True)
    _check_runs(root, busybox)


def _copy_debian_python(tree: _Tree) -> list[str]:
    """Debian's Python 3.11 into `tree`; returns the ELF files copied (for ldd)."""
    elves = []
    for package in DEBIAN_PYTHON_PACKAGES:
        for path in _dpkg_files(package):
            if _SKIP.search(path) or not os.path.lexists(path) or (os.path.isdir(path) and not os.path.islink(path)):
                continue
            tree.copy(path)
            if not os.path.islink(path) and (path.endswith(".so") or "/bin/" in path):
                elves.append(path)
    os.symlink("python3.11", tree.root / "usr/bin/python3")
    return elves


def _copy_distributions(tree: _Tree) -> list[str]:
    """dockguard's runtime dependencies and the build tools into `tree`'s dist-packages."""
    site = tree.root / SITE
    venv_site = Path(str(md.distribution("pip").locate_file("")))
    elves = []
    for name in [d.metadata["Name"] for d in runtime_distributions()] + list(BUILD_TOOLS):
        for f in md.distribution(name).files or ():
            rel = Path(str(f))
            if (rel.parts and rel.parts[0] == "..") or "__pycache__" in rel.parts:
                continue  # console scripts and byte code: pip makes its own in the image
            src = venv_site / rel
            if not src.is_file():
                continue
            (site / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, site / rel)
            if src.suffix == ".so" or ".so." in src.name:
                elves.append(str(src))
    return elves


def _check_runs(root: Path, busybox: str) -> None:
    """Fail here, with the reason, when the staged Python cannot import dockguard's dependencies."""
    # pyseccomp is left out: its find_library runs ldconfig with /dev/null, absent from a bare chroot.
    probe = "import ssl, sqlite3, zlib, lzma, bz2, ctypes, cryptography.x509, zstandard, yaml, jinja2, docker"
    proc = subprocess.run(
        [busybox, "chroot", str(root), "/usr/bin/python3", "-c", probe],
        capture_output=True, text=True, check=False, env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
    )
    if proc.returncode != 0:
        raise BaseUnavailable(f"the staged Python does not work: {proc.stderr.strip()[-800:]}")


def import_base(api: docker.APIClient, tag: str = "dg-python-base:3.11") -> str:
    """Make the base tar and ``docker import`` it; returns the tag."""
    with tempfile.TemporaryDirectory(prefix="dg-base-tar-") as tmp:
        tar = base_rootfs_tar(Path(tmp) / "base.tar")
        repo, _, version = tag.partition(":")
        api.import_image_from_file(str(tar), repository=repo, tag=version or "latest")
    return tag


if __name__ == "__main__":  # make the tar by hand: python -m tests.integration.container_base OUT.tar
    out = base_rootfs_tar(Path(sys.argv[1] if len(sys.argv) > 1 else "dg-python-base.tar"))
    print(out, f"{out.stat().st_size / 1048576:.1f} MiB", file=sys.stderr)
