"""Language runtimes that official images build from source (not installed as packages).

* Python: ``/usr/local/include/pythonX.Y/patchlevel.h`` (``#define PY_VERSION "3.12.1"``), the
  header set ``make install`` leaves beside ``/usr/local/lib/pythonX.Y``;
* Node.js: ``/usr/local/bin/node``, whose ``process.release.headersUrl`` embeds
  ``node-vX.Y.Z-headers.tar.gz``; else ``/usr/local/include/node/node_version.h``;
* OpenJDK: the ``release`` file of a JDK or JRE outside the distribution's ``/usr/lib/jvm``
  (``/opt/java/openjdk/release``: ``JAVA_VERSION="17.0.10"``).

Each is a ``generic`` package named by `dockguard.vuln.ecosystems.Runtime`; no OSV ecosystem
publishes advisories for them, so the scan reports them as not checked.  Runtimes under
``/usr/lib`` and ``/usr/bin`` belong to OS packages and are matched as those.
"""

from __future__ import annotations

import json
import re

from dockguard.image.inventory.base import (
    Blob,
    Catalogue,
    CatalogueInput,
    Cataloguer,
    Extracted,
    Triggers,
    Want,
    truncate,
)
from dockguard.image.limits import Limits
from dockguard.image.packages import Package
from dockguard.image.purl import make_purl
from dockguard.vuln.ecosystems import PackageType, Runtime

_PY_HEADER = re.compile(r"^(?:usr/local|opt/[^/]+(?:/[^/]+)?)/include/python3\.\d+[a-z]*/patchlevel\.h$")
_PY_VERSION = re.compile(rb'^#define\s+PY_VERSION\s+"(3\.\d+\.\d+(?:(?:a|b|rc)\d+)?\+?)"', re.M)
_NODE_BINARY = ("usr/local/bin/node", "opt/node/bin/node")
_NODE_HEADER = re.compile(r"^(?:usr/local|opt/[^/]+)/include/node/node_version\.h$")
_NODE_URL = re.compile(rb"node-v(\d{1,3}\.\d{1,3}\.\d{1,3})-headers\.tar\.gz")
_NODE_DEFINE = re.compile(rb"^#define\s+NODE_(MAJOR|MINOR|PATCH)_VERSION\s+(\d{1,4})\s*$", re.M)
_JDK_RELEASE = re.compile(r"^(?:opt|usr/local)/(?:[^/]+/){0,3}release$")
_JAVA_VERSION = re.compile(rb'^JAVA_VERSION="?([0-9][0-9A-Za-z.+_\-]{0,40})"?\s*$', re.M)
_IMPLEMENTOR = re.compile(rb'^IMPLEMENTOR="?([^"\n]{1,80})"?\s*$', re.M)
MAX_SMALL = 64 * 1024
MAX_BINARY = 512 * 1024 * 1024
_CHUNK = 1 << 20


def _scan_binary(blob: Blob, pattern: re.Pattern[bytes]) -> bytes | None:
    """First match of `pattern` in the file, read in chunks that overlap by 256 bytes."""
    offset = 0
    while offset < blob.size:
        chunk = blob.read_at(offset, _CHUNK + 256)
        m = pattern.search(chunk)
        if m:
            return m.group(1)
        offset += _CHUNK
    return None


def _record(runtime: Runtime, version: str, evidence: str) -> Extracted:
    return Extracted(json.dumps([runtime.value, version, evidence]).encode())


class RuntimeCataloguer(Cataloguer):
    """Python, Node.js and OpenJDK installed outside the distribution's package manager."""

    name = "runtimes"
    version = "1"
    triggers = Triggers(paths=frozenset(_NODE_BINARY), suffixes=("/patchlevel.h", "/node_version.h", "/release"))

    def wants(self, path: str, size: int, mode: int, limits: Limits) -> Want | None:
        if path in _NODE_BINARY:
            return Want(MAX_BINARY, quiet=True)
        if _PY_HEADER.match(path) or _NODE_HEADER.match(path) or _JDK_RELEASE.match(path):
            return Want(MAX_SMALL, quiet=True)
        return None

    def extract(self, path: str, blob: Blob, limits: Limits) -> Extracted:
        if path in _NODE_BINARY:
            found = _scan_binary(blob, _NODE_URL) if blob.read_at(0, 4) == b"\x7fELF" else None
            if found is None:
                return Extracted(None)
            return _record(Runtime.NODE, found.decode(), "process.release.headersUrl in the binary")
        data = blob.read_all()
        if path.endswith("/patchlevel.h"):
            m = _PY_VERSION.search(data)
            return _record(Runtime.PYTHON, m.group(1).decode(), "PY_VERSION") if m else Extracted(None)
        if path.endswith("/node_version.h"):
            parts = dict(_NODE_DEFINE.findall(data))
            if all(k in parts for k in (b"MAJOR", b"MINOR", b"PATCH")):
                version = ".".join(parts[k].decode() for k in (b"MAJOR", b"MINOR", b"PATCH"))
                return _record(Runtime.NODE, version, "NODE_*_VERSION")
            return Extracted(None)
        m = _JAVA_VERSION.search(data)
        if not m:
            return Extracted(None)
        impl = _IMPLEMENTOR.search(data)
        evidence = "JAVA_VERSION" + (f" (IMPLEMENTOR {impl.group(1).decode('utf-8', 'replace')})" if impl else "")
        return _record(Runtime.OPENJDK, m.group(1).decode(), evidence)

    def collect(self, inp: CatalogueInput, limit: int) -> Catalogue:
        out = Catalogue()
        found: list[Package] = []
        binaries = {p for p in inp.files if p in _NODE_BINARY}
        for path, index, data in inp.sorted_files():
            try:
                name, version, evidence = (str(v) for v in json.loads(data))
                runtime = Runtime(name)
            except (ValueError, TypeError):
                out.incomplete.append(f"/{path}: damaged runtime record")
                continue
            if path.endswith("/node_version.h") and binaries:
                continue  # the binary says which node runs
            found.append(Package(
                type=PackageType.GENERIC, name=runtime.value, version=version, source_name=runtime.value,
                source_version=version, purl=make_purl("generic", runtime.value, version),
                layer=inp.layer_id(index), path="/" + path, evidence=evidence,
            ))
        out.packages = truncate(found, limit, out, "language runtimes")
        return out
