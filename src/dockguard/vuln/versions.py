"""Version orderings of the ecosystems dockguard matches, and a dispatcher over them.

Every comparator returns a negative number, zero or a positive number like C's ``strcmp``.
Parsing is cached: a scan compares the same installed version against many advisory events.

* dpkg (Debian, Ubuntu): Debian Policy 5.6.12, the algorithm of dpkg's ``verrevcmp`` over
  cached (non-digit, number) pairs.
* apk (Alpine): the token scheme of apk-tools' ``version.c`` (digits, a letter, ``_alpha``/
  ``_beta``/``_pre``/``_rc`` before and ``_cvs``/``_svn``/``_git``/``_hg``/``_p`` after the
  release, ``~hash``, ``-rN``; a digit group with a leading zero compares as text).
* rpm (Red Hat and friends): ``rpmvercmp`` including ``~`` and ``^``; EVR splitting.
* PEP 440 (PyPI) through ``packaging``.
* SemVer 2.0 (npm, Go with its ``v`` prefix, crates.io).

Versions come from images and feeds that an attacker may have written.  The comparators are
total on every string and never raise: digit runs are ASCII only (``'²'.isdigit()`` is True
and ``int('²')`` raises) and are ordered by length then text, never through ``int()`` (which
refuses more than 4300 digits).  Whether a version is fit to be compared at all is a separate
question answered by `version_problem`; `compare_checked` combines both and returns an
`Incomparable` (with the reason) instead of a misleading order.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from packaging.version import InvalidVersion, Version

Comparator = Callable[[str, str], int]

_CACHE = 65536


#: Longest version string that is compared; real ones stay under 100 characters.
MAX_VERSION_LENGTH = 256

NumKey = tuple[int, str]


def _sign(a: object, b: object) -> int:
    return (a > b) - (a < b)  # type: ignore[operator]


def _is_digit(c: str) -> bool:
    return "0" <= c <= "9"


def _num_key(digits: str) -> NumKey:
    """Order key of an ASCII digit run by numeric value, without ``int()``."""
    stripped = digits.lstrip("0")
    return len(stripped), stripped


_ZERO: NumKey = (0, "")


# --- dpkg -----------------------------------------------------------------------------------

_Z: tuple[tuple[int, ...], NumKey] = ((0,), _ZERO)


def _dpkg_char_order(c: str) -> int:
    # dpkg's order(): '~' sorts before the end of the string, letters before everything else.
    if c == "~":
        return -1
    if c.isascii() and c.isalpha():
        return ord(c)
    return ord(c) + 256


def _dpkg_part_key(text: str) -> tuple[tuple[tuple[int, ...], NumKey], ...]:
    pairs: list[tuple[tuple[int, ...], NumKey]] = []
    i, n = 0, len(text)
    while i < n:
        j = i
        while j < n and not _is_digit(text[j]):
            j += 1
        non_digit = (*(_dpkg_char_order(c) for c in text[i:j]), 0)
        k = j
        while k < n and _is_digit(text[k]):
            k += 1
        pairs.append((non_digit, _num_key(text[j:k])))
        i = k
    while pairs and pairs[-1] == _Z:
        pairs.pop()
    return tuple(pairs)


def _dpkg_parts_cmp(a: tuple, b: tuple) -> int:
    # dpkg pads the shorter string: a missing (non-digit, digit) pair compares like ("", 0).
    for i in range(max(len(a), len(b))):
        x = a[i] if i < len(a) else _Z
        y = b[i] if i < len(b) else _Z
        if x != y:
            return -1 if x < y else 1
    return 0


@lru_cache(maxsize=_CACHE)
def dpkg_parse(version: str) -> tuple[NumKey, tuple, tuple]:
    """Parsed Debian version ``[epoch:]upstream[-revision]``: epoch key and two pair lists.

    A non-numeric epoch counts as 0 here; `version_problem` reports it.
    """
    version = version.strip()
    epoch = _ZERO
    colon = version.find(":")
    if colon >= 0:
        head = version[:colon]
        if _all_digits(head):
            epoch = _num_key(head)
        version = version[colon + 1 :]
    dash = version.rfind("-")
    if dash >= 0:
        upstream, revision = version[:dash], version[dash + 1 :]
    else:
        upstream, revision = version, ""
    return epoch, _dpkg_part_key(upstream), _dpkg_part_key(revision)


def compare_dpkg(a: str, b: str) -> int:
    """Compare two Debian package versions as ``dpkg --compare-versions`` does."""
    ea, ua, ra = dpkg_parse(a)
    eb, ub, rb = dpkg_parse(b)
    if ea != eb:
        return -1 if ea < eb else 1
    return _dpkg_parts_cmp(ua, ub) or _dpkg_parts_cmp(ra, rb)


def _all_digits(text: str) -> bool:
    return bool(text) and all(_is_digit(c) for c in text)


# --- apk ------------------------------------------------------------------------------------

# Token kinds and suffix ranks in apk-tools' order (src/version.c): the order is the semantics.
_T_INITIAL, _T_DIGIT, _T_LETTER, _T_SUFFIX, _T_SUFFIX_NO, _T_HASH, _T_REVISION, _T_END = range(8)
_T_INVALID = 8
_SUFFIX_NONE = 5
_SUFFIXES = {"alpha": 1, "beta": 2, "pre": 3, "rc": 4, "cvs": 6, "svn": 7, "git": 8, "hg": 9}
_SUFFIXES["p"] = 10
_HEX = frozenset("0123456789abcdefABCDEF")

ApkToken = tuple[int, NumKey, str]  # kind, number (or (suffix rank, "")), raw text


def _apk_digits(s: str, pos: int) -> tuple[NumKey, str, int]:
    end = pos
    while end < len(s) and "0" <= s[end] <= "9":
        end += 1
    text = s[pos:end]
    return _num_key(text), text, end


@lru_cache(maxsize=_CACHE)
def _apk_tokens(s: str) -> tuple[ApkToken, ...]:
    """Tokens of an apk version; the last one is END or INVALID."""
    number, text, pos = _apk_digits(s, 0)
    kind = _T_INITIAL if text else _T_INVALID
    out: list[ApkToken] = [(kind, number, text)]
    while kind < _T_END:
        if pos >= len(s):
            kind = _T_END
            out.append((kind, _ZERO, ""))
            break
        c = s[pos]
        number, text = _ZERO, ""
        if "a" <= c <= "z":
            kind = _T_LETTER if kind <= _T_DIGIT else _T_INVALID
            text = c
            pos += 1
        elif c == "." or "0" <= c <= "9":
            if c == "." and kind > _T_DIGIT:
                kind = _T_INVALID
            else:
                if c == ".":
                    pos += 1
                if kind in (_T_INITIAL, _T_DIGIT):
                    kind = _T_DIGIT
                elif kind == _T_SUFFIX:
                    kind = _T_SUFFIX_NO
                else:
                    kind = _T_INVALID
                if kind != _T_INVALID:
                    number, text, pos = _apk_digits(s, pos)
                    if not text:
                        kind = _T_INVALID
        elif c == "_" and kind <= _T_SUFFIX_NO:
            end = pos + 1
            while end < len(s) and "a" <= s[end] <= "z":
                end += 1
            text = s[pos + 1 : end]
            pos = end
            rank = _SUFFIXES.get(text, 0)
            number = (rank, "")
            kind = _T_SUFFIX if rank else _T_INVALID
        elif c == "~" and kind < _T_HASH:
            end = pos + 1
            while end < len(s) and s[end] in _HEX:
                end += 1
            text = s[pos + 1 : end]
            pos = end
            kind = _T_HASH if text else _T_INVALID
        elif c == "-" and kind < _T_REVISION and s.startswith("-r", pos):
            number, text, pos = _apk_digits(s, pos + 2)
            kind = _T_REVISION if text else _T_INVALID
        else:
            kind = _T_INVALID
        out.append((kind, number, text))
    return tuple(out)


def _apk_token_cmp(a: ApkToken, b: ApkToken) -> int:
    kind = a[0]
    if kind == _T_DIGIT and (a[2].startswith("0") or b[2].startswith("0")):
        return _sign(a[2], b[2])  # a leading zero makes a fraction: compare as text
    if kind in (_T_INITIAL, _T_DIGIT, _T_SUFFIX_NO, _T_REVISION, _T_SUFFIX):
        return _sign(a[1], b[1])
    return _sign(a[2], b[2])


def compare_apk(a: str, b: str) -> int:
    """Compare two Alpine package versions as apk-tools' ``apk_version_compare`` does."""
    ta, tb = _apk_tokens(a.strip()), _apk_tokens(b.strip())
    i = 0
    while ta[i][0] == tb[i][0] and ta[i][0] < _T_END:
        r = _apk_token_cmp(ta[i], tb[i])
        if r:
            return r
        i += 1
    ka, kb = ta[i][0], tb[i][0]
    if ka == kb:
        return 0
    # Equal so far: the longer version is newer unless what follows is a pre-release suffix.
    if ka == _T_SUFFIX and ta[i][1][0] < _SUFFIX_NONE:
        return -1
    if kb == _T_SUFFIX and tb[i][1][0] < _SUFFIX_NONE:
        return 1
    if ka > kb:
        return -1
    if kb > ka:
        return 1
    return 0


# --- rpm ------------------------------------------------------------------------------------


def _rpm_alnum(c: str) -> bool:
    return c.isascii() and c.isalnum()


def rpmvercmp(a: str, b: str) -> int:
    """rpm's ``rpmvercmp`` on one version or release string (``~`` and ``^`` included)."""
    if a == b:
        return 0
    i = j = 0
    na, nb = len(a), len(b)
    while i < na or j < nb:
        while i < na and not _rpm_alnum(a[i]) and a[i] not in "~^":
            i += 1
        while j < nb and not _rpm_alnum(b[j]) and b[j] not in "~^":
            j += 1
        ca = a[i] if i < na else ""
        cb = b[j] if j < nb else ""
        if ca == "~" or cb == "~":
            if ca != "~":
                return 1
            if cb != "~":
                return -1
            i += 1
            j += 1
            continue
        if ca == "^" or cb == "^":
            if not ca:
                return -1
            if not cb:
                return 1
            if ca != "^":
                return 1
            if cb != "^":
                return -1
            i += 1
            j += 1
            continue
        if not (ca and cb):
            break
        si, sj = i, j
        if _is_digit(ca):
            isnum = True
            while i < na and _is_digit(a[i]):
                i += 1
            while j < nb and _is_digit(b[j]):
                j += 1
        else:
            isnum = False
            while i < na and a[i].isascii() and a[i].isalpha():
                i += 1
            while j < nb and b[j].isascii() and b[j].isalpha():
                j += 1
        seg_a, seg_b = a[si:i], b[sj:j]
        if not seg_b:
            return 1 if isnum else -1
        if isnum:
            seg_a, seg_b = seg_a.lstrip("0"), seg_b.lstrip("0")
            if len(seg_a) != len(seg_b):
                return 1 if len(seg_a) > len(seg_b) else -1
        if seg_a != seg_b:
            return 1 if seg_a > seg_b else -1
    if i >= na and j >= nb:
        return 0
    return -1 if i >= na else 1


@lru_cache(maxsize=_CACHE)
def split_evr(evr: str) -> tuple[NumKey, str, str | None]:
    """Split ``[epoch:]version[-release]`` into epoch key, version and release (epoch 0 if none)."""
    evr = evr.strip()
    epoch = _ZERO
    colon = evr.find(":")
    if colon >= 0 and _all_digits(evr[:colon]):
        epoch = _num_key(evr[:colon])
        evr = evr[colon + 1 :]
    dash = evr.rfind("-")
    if dash >= 0:
        return epoch, evr[:dash], evr[dash + 1 :]
    return epoch, evr, None


def compare_rpm(a: str, b: str) -> int:
    """Compare two RPM ``epoch:version-release`` strings; a missing release matches any."""
    ea, va, ra = split_evr(a)
    eb, vb, rb = split_evr(b)
    if ea != eb:
        return -1 if ea < eb else 1
    c = rpmvercmp(va, vb)
    if c or ra is None or rb is None:
        return c
    return rpmvercmp(ra, rb)


# --- PEP 440 --------------------------------------------------------------------------------


@lru_cache(maxsize=_CACHE)
def _pep440(v: str) -> Version | None:
    try:
        return Version(v)
    except (InvalidVersion, ValueError):  # ValueError: a digit run past int()'s limit
        return None


def compare_pep440(a: str, b: str) -> int:
    """Compare two Python package versions (PEP 440); invalid ones fall back to generic."""
    va, vb = _pep440(a), _pep440(b)
    if va is None or vb is None:
        return compare_generic(a, b)
    return _sign(va, vb)


# --- SemVer ---------------------------------------------------------------------------------

_SEMVER = re.compile(
    r"^[v=]?\s*([0-9]+)(?:\.([0-9]+))?(?:\.([0-9]+))?(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]*)?$", re.ASCII
)


@lru_cache(maxsize=_CACHE)
def semver_key(v: str) -> tuple | None:
    """Precedence key of a SemVer 2.0 version (``v`` prefix and build metadata ignored)."""
    m = _SEMVER.match(v.strip())
    if not m:
        return None
    major, minor, patch, pre = m.groups()
    core = (_num_key(major), _num_key(minor or ""), _num_key(patch or ""))
    if pre is None:
        return (*core, (1,))
    ids = tuple((0, _num_key(p), "") if _all_digits(p) else (1, _ZERO, p) for p in pre.split("."))
    return (*core, (0, ids))


def compare_semver(a: str, b: str) -> int:
    """Compare two SemVer versions; invalid ones fall back to generic."""
    ka, kb = semver_key(a), semver_key(b)
    if ka is None or kb is None:
        return compare_generic(a, b)
    return _sign(ka, kb)


# --- generic --------------------------------------------------------------------------------

_RUNS = re.compile(r"[0-9]+|[A-Za-z]+")


@lru_cache(maxsize=_CACHE)
def _generic_key(v: str) -> tuple:
    return tuple((1, _num_key(r), "") if _is_digit(r[0]) else (0, _ZERO, r.lower()) for r in _RUNS.findall(v))


def compare_generic(a: str, b: str) -> int:
    """Natural ordering for ecosystems without a specific comparator: numbers numerically."""
    return _sign(_generic_key(a), _generic_key(b))


# --- dispatcher -----------------------------------------------------------------------------

_BY_ECOSYSTEM: dict[str, Comparator] = {
    "Debian": compare_dpkg,
    "Ubuntu": compare_dpkg,
    "Alpine": compare_apk,
    "Red Hat": compare_rpm,
    "Rocky Linux": compare_rpm,
    "AlmaLinux": compare_rpm,
    "openSUSE": compare_rpm,
    "SUSE": compare_rpm,
    "Mageia": compare_rpm,
    "openEuler": compare_rpm,
    "PyPI": compare_pep440,
    "npm": compare_semver,
    "Go": compare_semver,
    "crates.io": compare_semver,
    "Hex": compare_semver,
}


def comparator(ecosystem: str) -> Comparator:
    """The comparator of an OSV ecosystem (``Debian:12`` uses Debian's); generic otherwise."""
    base = ecosystem.split(":", 1)[0]
    return _BY_ECOSYSTEM.get(base, compare_generic)


def compare(ecosystem: str, a: str, b: str) -> int:
    """Compare versions `a` and `b` under `ecosystem`'s ordering (negative, 0, positive)."""
    return comparator(ecosystem)(a, b)


# --- fitness for comparison -----------------------------------------------------------------

_DPKG_FAMILY = frozenset({"Debian", "Ubuntu"})


@dataclass(frozen=True)
class Incomparable:
    """The typed answer "cannot compare": which version was refused and why."""

    version: str
    reason: str

    def describe(self) -> str:
        """``version '1.²…': reason`` — short enough for a report cell."""
        shown = self.version if len(self.version) <= 40 else self.version[:37] + "..."
        return f"version {shown!r} {self.reason}"


@lru_cache(maxsize=_CACHE)
def version_problem(ecosystem: str, version: str) -> str | None:
    """Why `version` cannot be ordered under `ecosystem`'s rules, or None when it can.

    Refused everywhere: an empty version, one longer than `MAX_VERSION_LENGTH`, one holding a
    character that is not printable ASCII (no ecosystem's grammar allows one, and such
    characters are how look-alike digits such as ``'²'`` get in).  Debian and Ubuntu also
    refuse a non-numeric epoch (dpkg itself rejects it).
    """
    text = version.strip()
    if not text:
        return "is empty"
    if len(text) > MAX_VERSION_LENGTH:
        return f"is {len(text)} characters long (more than {MAX_VERSION_LENGTH})"
    for c in text:
        if not " " <= c <= "~":
            return f"holds the character {c!r} (U+{ord(c):04X}), which is not printable ASCII"
    if ecosystem.split(":", 1)[0] in _DPKG_FAMILY:
        colon = text.find(":")
        if colon >= 0 and not _all_digits(text[:colon]):
            return f"has the epoch {text[:colon]!r}, which is not a number"
    return None


def compare_checked(ecosystem: str, a: str, b: str, cmp: Comparator | None = None) -> int | Incomparable:
    """`compare` when both versions are fit for it (`version_problem`), else `Incomparable`.

    `cmp` overrides the ecosystem's comparator (an OSV ``SEMVER`` range in any ecosystem).
    """
    for v in (a, b):
        problem = version_problem(ecosystem, v)
        if problem is not None:
            return Incomparable(v, problem)
    return (cmp or comparator(ecosystem))(a, b)
