"""Small helpers shared by the SARIF, JUnit and HTML formatters, the suppressions and diff.

Object labels look like ``container:web``, ``image:app:1.0``, ``file:/etc/docker/daemon.json``
or ``daemon``: a kind, a colon and a name.  Findings may carry a file path inside their object
(`Finding.path`), which gives the fuller location ``image:app:1.0//usr/lib/libssl.so.3``.
"""

from __future__ import annotations

import re

from dockguard.checks.catalogue import SECTIONS
from dockguard.model import Finding, Severity

# XML 1.0 forbids most C0 controls even as character references; attacker-controlled names
# may contain them, so they are replaced before reaching an XML or HTML serialiser.
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def clean_text(text: str) -> str:
    """Replace characters that XML 1.0 cannot carry with U+FFFD.

    The same set breaks other consumers too: a lone surrogate is not UTF-8 and NUL cannot be
    stored in a PostgreSQL text column (GitLab, DefectDojo), so the JSON formats use it as well.
    """
    return _XML_INVALID.sub("\ufffd", text)


# In JSON text from json.dumps(ensure_ascii=False): a raw lone surrogate or U+FFFE/U+FFFF, or a
# backslash run ending in an escape of a C0 control other than tab, newline and carriage return.
_JSON_INVALID = re.compile(
    r"(\\+)(u000[0-7bBeEfF]|u001[0-9a-fA-F]|[bf])|[\ud800-\udfff\ufffe\uffff]"
)


def _json_replacement(match: re.Match[str]) -> str:
    slashes = match.group(1)
    if slashes is None:
        return "\ufffd"
    if len(slashes) % 2 == 0:
        return match.group(0)  # an escaped backslash followed by plain text, not an escape
    return slashes[:-1] + "\ufffd"


def clean_json_text(text: str) -> str:
    """JSON text with the characters `clean_text` replaces replaced (one pass over the
    serialised text, much faster than cleaning every string of a big document)."""
    return _JSON_INVALID.sub(_json_replacement, text)


def utf16_length(text: str) -> int:
    """Length in UTF-16 code units, the unit JavaScript-based consumers count characters in.

    Never less than the number of code points, so a text within a limit by this measure is
    within it for consumers that count code points (Ruby, Python) too.
    """
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def shorten(text: str, limit: int) -> str:
    """`text` cut to at most `limit` UTF-16 code units at a word boundary, ending with "…".

    Text within the limit is returned unchanged; a single word longer than the limit is cut
    inside the word (there is no boundary to cut at).
    """
    if utf16_length(text) <= limit:
        return text
    room = limit - 1  # for the ellipsis
    head = text[:room]
    while utf16_length(head) > room:
        head = head[:-1]
    cut = head.rstrip()
    if not text[len(head) : len(head) + 1].isspace():
        # The cut fell inside a word: go back to the last whitespace, if there is one.
        space = max(cut.rfind(" "), cut.rfind("\n"), cut.rfind("\t"))
        if space > 0:
            cut = cut[:space].rstrip()
    return cut.rstrip(" ,;:-") + "…"


def object_phrase(obj: str) -> str:
    """How messages name an object: ``container:web`` → ``container web``, ``daemon`` → ``daemon``."""
    if not obj:
        return "the host"
    kind, sep, name = obj.partition(":")
    return f"{kind} {name}" if sep else obj


def split_obj(obj: str) -> tuple[str, str]:
    """``container:web`` → (``container``, ``web``); a label without a colon is its own kind."""
    kind, sep, name = obj.partition(":")
    if not sep:
        return obj, obj
    return kind, name


def finding_path(finding: Finding) -> str:
    """The file path a finding points at inside its object, or ``""``."""
    return finding.path


def finding_purl(finding: Finding) -> str:
    """The package URL of a finding, or ``""``."""
    return finding.package.purl if finding.package else ""


def package_facts(finding: Finding) -> tuple[str, str, str, str]:
    """(package name, installed version, fixed version, purl) of a finding, ``""`` when absent."""
    pkg, vuln = finding.package, finding.vulnerability
    installed = vuln.installed if vuln else (pkg.version if pkg else "")
    return (pkg.name if pkg else "", installed, (vuln.fixed or "") if vuln else "", pkg.purl if pkg else "")


def finding_location(finding: Finding) -> str:
    """``obj`` plus ``/`` and the file path when there is one (``image:app:1.0//usr/lib/x``)."""
    path = finding_path(finding)
    if not path or "//" in finding.obj or split_obj(finding.obj)[1] == path:
        return finding.obj
    return f"{finding.obj}/{path}" if path.startswith("/") else f"{finding.obj}//{path}"


def section_title(section: str) -> str:
    """``5`` → ``5 Container Runtime``; other section names are returned unchanged."""
    name = SECTIONS.get(section)
    return f"{section} {name}" if name else section


def section_key(section: str) -> tuple[int, str]:
    """Sort key that orders CIS sections numerically and puts other sections after them."""
    return (int(section), "") if section.isdigit() else (10_000, section)


SEVERITY_ORDER: tuple[Severity, ...] = tuple(sorted(Severity, key=lambda s: -s.rank))
