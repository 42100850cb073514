"""Package URLs (purl) for inventory entries.

Built directly (percent-encoding per the purl spec, with packageurl-python's per-type case
rules) because inventories of thousands of packages would otherwise spend more time building
purls than reading layers; tests check the output against packageurl-python itself.
"""

from __future__ import annotations

import re
from urllib.parse import quote

_PEP503 = re.compile(r"[-_.]+")


def pep503(name: str) -> str:
    """PEP 503 normalised project name."""
    return _PEP503.sub("-", name).lower()


def _enc(text: str) -> str:
    return quote(text, safe=":")


def make_purl(
    ptype: str,
    name: str,
    version: str,
    *,
    namespace: str | None = None,
    qualifiers: dict[str, str] | None = None,
) -> str:
    """A purl string; Go module paths and npm scopes are split into namespace and name."""
    if ptype in ("golang", "npm") and namespace is None and "/" in name:
        namespace, _, name = name.rpartition("/")
    if ptype == "pypi":
        name = pep503(name)
    if ptype == "apk":
        name = name.lower()
        namespace = namespace.lower() if namespace else namespace
    elif ptype == "npm":
        name = name.lower()
    out = f"pkg:{ptype}/"
    if namespace:
        out += "/".join(_enc(seg) for seg in namespace.split("/") if seg) + "/"
    out += _enc(name)
    if version:
        out += "@" + _enc(version)
    quals = sorted((k.lower(), v) for k, v in (qualifiers or {}).items() if v)
    if quals:
        out += "?" + "&".join(f"{k}={_enc(v)}" for k, v in quals)
    return out


def os_purl(ptype: str, distro_ns: str, name: str, version: str, arch: str, distro: str) -> str:
    """purl of an OS package; an epoch (``1:``) becomes the ``epoch`` qualifier."""
    epoch = ""
    if ":" in version and version.split(":", 1)[0].isdigit():
        epoch, version = version.split(":", 1)
    return make_purl(
        ptype,
        name,
        version,
        namespace=distro_ns,
        qualifiers={"arch": arch, "distro": distro, "epoch": epoch if epoch != "0" else ""},
    )
