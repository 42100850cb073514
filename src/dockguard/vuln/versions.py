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
* SemVer 2.0 (npm, Go with its ``v`` prefix): lenient, ``1.2`` reads as ``1.2.0``.
* Cargo (crates.io): strict SemVer 2.0 as the ``semver`` crate parses it, SemVer precedence.
* Maven: ``ComparableVersion`` of maven-artifact 3.8 (items, lists, qualifier order).
* RubyGems: ``Gem::Version`` (canonical segments, strings before numbers).
* Composer (Packagist): composer/semver's ``VersionParser::normalize``, then PHP's
  ``version_compare`` on the normalised strings; a ``dev-`` branch has no order.
* NuGet: ``NuGet.Versioning`` (up to four numbers, case-insensitive labels, metadata ignored).

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
from typing import Union, cast

from packaging.version import InvalidVersion, Version

Comparator = Callable[[str, str], int]

_CACHE = 65536


#: Longest version string that is compared; real ones stay under 100 characters.
MAX_VERSION_LENGTH = 256

NumKey = tuple[int, str]
#: One SemVer/Cargo pre-release identifier: (0, number, "") or (1, 0, text).
_PreId = tuple[int, NumKey, str]
#: The pre-release part of a key: (1,) for a release, else (0, identifiers) (sorts first).
_PreKey = Union[tuple[int], tuple[int, tuple[_PreId, ...]]]  # noqa: UP007
SemverKey = tuple[NumKey, NumKey, NumKey, _PreKey]
NugetKey = tuple[Union[NumKey, tuple[int], tuple[int, tuple[tuple[int, int, str], ...]]], ...]  # noqa: UP007
_DpkgPair = tuple[tuple[int, ...], NumKey]


def _sign(a: object, b: object) -> int:
    return int(a > b) - int(a < b)  # type: ignore[operator]


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


def _dpkg_parts_cmp(a: tuple[_DpkgPair, ...], b: tuple[_DpkgPair, ...]) -> int:
    # dpkg pads the shorter string: a missing (non-digit, digit) pair compares like ("", 0).
    for i in range(max(len(a), len(b))):
        x = a[i] if i < len(a) else _Z
        y = b[i] if i < len(b) else _Z
        if x != y:
            return -1 if x < y else 1
    return 0


@lru_cache(maxsize=_CACHE)
def dpkg_parse(version: str) -> tuple[NumKey, tuple[_DpkgPair, ...], tuple[_DpkgPair, ...]]:
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
def semver_key(v: str) -> SemverKey | None:
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


# --- Cargo (crates.io) ------------------------------------------------------------------------

# SemVer 2.0 as the spec's grammar states it: three numbers without leading zeros, numeric
# pre-release identifiers without leading zeros, build metadata after "+".
_CARGO = re.compile(
    r"(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)"
    r"(?:-((?:0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*)(?:\.(?:0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*))*))?"
    r"(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?",
    re.ASCII,
)
#: The ``semver`` crate keeps major, minor and patch in a u64.
_U64_MAX: NumKey = _num_key(str(2**64 - 1))


@lru_cache(maxsize=_CACHE)
def cargo_key(v: str) -> SemverKey | None:
    """Precedence key of a crates.io version (strict SemVer 2.0); None when it is not one."""
    m = _CARGO.fullmatch(v.strip())
    if not m:
        return None
    core = (_num_key(m.group(1)), _num_key(m.group(2)), _num_key(m.group(3)))
    if any(k > _U64_MAX for k in core):
        return None
    pre = m.group(4)
    if pre is None:
        return (*core, (1,))
    ids = tuple((0, _num_key(p), "") if _all_digits(p) else (1, _ZERO, p) for p in pre.split("."))
    return (*core, (0, ids))


def compare_cargo(a: str, b: str) -> int:
    """Compare two crate versions by SemVer precedence (build metadata ignored); else generic."""
    ka, kb = cargo_key(a), cargo_key(b)
    if ka is None or kb is None:
        return compare_generic(a, b)
    return _sign(ka, kb)


# --- Maven ------------------------------------------------------------------------------------

# maven-artifact's ComparableVersion (3.8): a version is a list of items; "-" and a change
# between digits and letters open a sub-list.  Items are ints, qualifiers (strings) or lists.
_MVN_INT, _MVN_STR, _MVN_LIST = 0, 1, 2
_MVN_QUALIFIERS = ("alpha", "beta", "milestone", "rc", "snapshot", "", "sp")
_MVN_ALIASES = {"ga": "", "final": "", "release": "", "cr": "rc"}
_MVN_SHORT = {"a": "alpha", "b": "beta", "m": "milestone"}
_MVN_RELEASE = str(_MVN_QUALIFIERS.index(""))

#: (kind, value): an int (`NumKey`), a qualifier (str) or a list of items (tuple of items).
MvnItem = tuple[int, Union[NumKey, str, tuple["MvnItem", ...]]]  # noqa: UP007
#: The mutable item tree `maven_parse` builds before freezing it.
_MvnTree = list[Union[MvnItem, "_MvnTree"]]


def _mvn_qualifier(value: str) -> str:
    # Known qualifiers order by their index, unknown ones after all of them, as text.
    if value in _MVN_QUALIFIERS:
        return str(_MVN_QUALIFIERS.index(value))
    return f"{len(_MVN_QUALIFIERS)}-{value}"


def _mvn_string(value: str, followed_by_digit: bool) -> MvnItem:
    if followed_by_digit and len(value) == 1:
        value = _MVN_SHORT.get(value, value)
    return _MVN_STR, _mvn_qualifier(_MVN_ALIASES.get(value, value))


def _mvn_item(digits: bool, text: str) -> MvnItem:
    return (_MVN_INT, _num_key(text)) if digits else _mvn_string(text, False)


def _mvn_is_null(item: MvnItem | _MvnTree) -> bool:
    if isinstance(item, list):
        return not item
    kind, value = item
    return value == _ZERO if kind == _MVN_INT else value == _MVN_RELEASE


def _mvn_normalise(items: _MvnTree) -> None:
    # Trailing nulls (0, "", ga, empty lists) go; a non-null list does not stop the walk.
    for i in range(len(items) - 1, -1, -1):
        if _mvn_is_null(items[i]):
            del items[i]
        elif not isinstance(items[i], list):
            break


def _mvn_freeze(items: _MvnTree) -> MvnItem:
    return _MVN_LIST, tuple(_mvn_freeze(x) if isinstance(x, list) else x for x in items)


@lru_cache(maxsize=_CACHE)
def maven_parse(version: str) -> MvnItem:
    """The item tree ComparableVersion builds from `version` (lower-cased), normalised."""
    text = version.lower()
    root: _MvnTree = []
    current = root
    stack = [root]
    digits = False
    start = 0

    def sublist() -> None:
        nonlocal current
        new: _MvnTree = []
        current.append(new)
        current = new
        stack.append(new)

    for i, c in enumerate(text):
        if c in ".-":
            current.append((_MVN_INT, _ZERO) if i == start else _mvn_item(digits, text[start:i]))
            start = i + 1
            if c == "-":
                sublist()
        elif _is_digit(c):
            if not digits and i > start:
                if current:  # ".X1" reads as "-X1" for any qualifier X
                    sublist()
                current.append(_mvn_string(text[start:i], True))
                start = i
                sublist()
            digits = True
        else:
            if digits and i > start:
                current.append(_mvn_item(True, text[start:i]))
                start = i
                sublist()
            digits = False
    if len(text) > start:
        if not digits and current:  # so does a trailing ".X"
            sublist()
        current.append(_mvn_item(digits, text[start:]))
    while stack:
        _mvn_normalise(stack.pop())
    return _mvn_freeze(root)


def _mvn_cmp(a: MvnItem, b: MvnItem | None) -> int:
    kind, value = a
    if kind == _MVN_INT:
        if b is None:
            return 0 if value == _ZERO else 1
        return _sign(value, b[1]) if b[0] == _MVN_INT else 1
    if kind == _MVN_STR:
        if b is None:
            return _sign(value, _MVN_RELEASE)
        if b[0] == _MVN_STR:
            return _sign(value, b[1])
        return -1
    value = cast("tuple[MvnItem, ...]", value)  # kind is _MVN_LIST
    if b is None:  # the whole list against "nothing", not just its first item
        return next((c for c in (_mvn_cmp(x, None) for x in value) if c), 0)
    if b[0] != _MVN_LIST:
        return -1 if b[0] == _MVN_INT else 1
    other = cast("tuple[MvnItem, ...]", b[1])
    for i in range(max(len(value), len(other))):
        if i >= len(value):
            c = -_mvn_cmp(other[i], None)
        else:
            c = _mvn_cmp(value[i], other[i] if i < len(other) else None)
        if c:
            return c
    return 0


def compare_maven(a: str, b: str) -> int:
    """Compare two Maven versions as maven-artifact's ``ComparableVersion`` does.

    Past `MAX_VERSION_LENGTH` (which `version_problem` refuses) the generic order is used:
    the item tree nests once per ``-`` and would otherwise grow without bound.
    """
    if len(a) > MAX_VERSION_LENGTH or len(b) > MAX_VERSION_LENGTH:
        return compare_generic(a, b)
    return _mvn_cmp(maven_parse(a), maven_parse(b))


# --- RubyGems ---------------------------------------------------------------------------------

_GEM_VALID = re.compile(r"\s*([0-9]+(?>\.[0-9a-zA-Z]+)*(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?)?\s*", re.ASCII)
_GEM_SEGMENT = re.compile(r"[0-9]+|[A-Za-z]+", re.ASCII)


def gem_valid(version: str) -> bool:
    """True when ``Gem::Version.new`` accepts `version`."""
    return _GEM_VALID.fullmatch(version) is not None


def _drop_trailing_zeros(segments: list[NumKey | str]) -> list[NumKey | str]:
    while segments and segments[-1] == _ZERO:
        segments.pop()
    return segments


@lru_cache(maxsize=_CACHE)
def gem_segments(version: str) -> tuple[NumKey | str, ...]:
    """``Gem::Version#canonical_segments``: numbers as keys, trailing zeros dropped per part."""
    text = version.strip() or "0"
    text = text.replace("-", ".pre.")
    segments: list[NumKey | str] = [_num_key(s) if _is_digit(s[0]) else s for s in _GEM_SEGMENT.findall(text)]
    first_string = next((i for i, s in enumerate(segments) if isinstance(s, str)), len(segments))
    return (*_drop_trailing_zeros(segments[:first_string]), *_drop_trailing_zeros(segments[first_string:]))


def compare_gem(a: str, b: str) -> int:
    """Compare two gem versions as ``Gem::Version#<=>`` does (invalid ones: generic)."""
    if not (gem_valid(a) and gem_valid(b)):
        return compare_generic(a, b)
    sa, sb = gem_segments(a), gem_segments(b)
    if sa == sb:
        return 0
    for i in range(max(len(sa), len(sb))):
        x = sa[i] if i < len(sa) else _ZERO
        y = sb[i] if i < len(sb) else _ZERO
        if x == y:
            continue
        xs, ys = isinstance(x, str), isinstance(y, str)
        if xs != ys:
            return -1 if xs else 1  # a string (pre-release) sorts before a number
        return _sign(x, y)
    return 0


# --- Composer (Packagist) ---------------------------------------------------------------------

_PHP_TRIM = " \t\n\r\0\x0b"
_COMPOSER_MODIFIER = r"[._-]?(?:(stable|beta|b|RC|alpha|a|patch|pl|p)((?:[.-]?[0-9]+)*+)?)?([.-]?dev)?"
_COMPOSER_ALIAS = re.compile(r"^([^,\s]++) ++as ++([^,\s]++)$", re.ASCII)
_COMPOSER_FLAG = re.compile(r"@(?:stable|RC|beta|alpha|dev)$", re.ASCII | re.IGNORECASE)
_COMPOSER_BUILD = re.compile(r"^([^,\s+]++)\+[^\s]++$", re.ASCII)
_COMPOSER_CLASSIC = re.compile(
    r"^v?([0-9]{1,5})(\.[0-9]++)?(\.[0-9]++)?(\.[0-9]++)?" + _COMPOSER_MODIFIER + "$", re.ASCII | re.IGNORECASE
)
_COMPOSER_DATE = re.compile(
    r"^v?([0-9]{4}(?:[.:-]?[0-9]{2}){1,6}(?:[.:-]?[0-9]{1,3})?)" + _COMPOSER_MODIFIER + "$", re.ASCII | re.IGNORECASE
)
_COMPOSER_DEV = re.compile(r"(.*?)[.-]?dev$", re.ASCII | re.IGNORECASE)
_COMPOSER_BRANCH = re.compile(
    r"^v?([0-9]++)(\.(?:[0-9]++|[xX*]))?(\.(?:[0-9]++|[xX*]))?(\.(?:[0-9]++|[xX*]))?$", re.ASCII | re.IGNORECASE
)
_COMPOSER_STABILITY = {"a": "alpha", "b": "beta", "p": "patch", "pl": "patch", "rc": "RC"}


def _composer_branch(name: str) -> str:
    name = name.strip(_PHP_TRIM)
    m = _COMPOSER_BRANCH.match(name)
    if not m:
        return "dev-" + name
    parts = "".join((g if g is not None else ".x").replace("*", "x").replace("X", "x") for g in m.groups())
    return parts.replace("x", "9999999") + "-dev"


@lru_cache(maxsize=_CACHE)
def composer_normalize(version: str) -> str | None:
    """composer/semver's ``VersionParser::normalize``; None where it throws.

    ``1.0`` → ``1.0.0.0``, ``v2.1-beta.2`` → ``2.1.0.0-beta2``, ``1.x-dev`` →
    ``1.9999999.9999999.9999999-dev``, a branch → ``dev-<name>``.
    """
    text = version.strip(_PHP_TRIM)
    m = _COMPOSER_ALIAS.match(text)
    if m:
        text = m.group(1)
    m = _COMPOSER_FLAG.search(text)
    if m:
        text = text[: m.start()]
    if text in ("master", "trunk", "default"):
        text = "dev-" + text
    if text[:4].lower() == "dev-":
        return "dev-" + text[4:]
    m = _COMPOSER_BUILD.match(text)
    if m:
        text = m.group(1)
    m = _COMPOSER_CLASSIC.match(text)
    index = 5
    if m:
        groups = m.groups()
        out = groups[0] + "".join(g if g else ".0" for g in groups[1:4])
    else:
        m = _COMPOSER_DATE.match(text)
        index = 2
        if m:
            out = re.sub(r"[^0-9]", ".", m.group(1))
    if m:
        stability, number, dev = m.group(index), m.group(index + 1), m.group(index + 2)
        if stability:
            if stability == "stable":
                return out
            lowered = stability.lower()
            out += "-" + _COMPOSER_STABILITY.get(lowered, lowered) + (number or "").lstrip(".-")
        if dev:
            out += "-dev"
        return out
    m = _COMPOSER_DEV.search(text)
    if m:
        branch = _composer_branch(m.group(1))
        if "dev-" not in branch:
            return branch
    return None


_PHP_FORMS = (("dev", 0), ("alpha", 1), ("a", 1), ("beta", 2), ("b", 2), ("RC", 3), ("rc", 3), ("#", 4), ("pl", 5),
              ("p", 5))
_LONG_MAX: NumKey = _num_key(str(2**63 - 1))


def _php_form(part: str) -> int:
    return next((order for name, order in _PHP_FORMS if part.startswith(name)), -1)


def _php_canonical(v: str) -> str:
    # PHP's canonicalisation: "-_+" become ".", and a "." goes between digits and non-digits.
    out = [v[0]]
    prev = v[0]
    for c in v[1:]:
        dig, prev_dig = _is_digit(c), _is_digit(prev)
        if c in "-_+":
            if out[-1] != ".":
                out.append(".")
        elif (prev != "." and not prev_dig and dig) or (prev_dig and c != "." and not dig):
            if out[-1] != ".":
                out.append(".")
            out.append(c)
        elif not (c.isascii() and c.isalnum()):
            if out[-1] != ".":
                out.append(".")
        else:
            out.append(c)
        prev = c
    return "".join(out)


def _php_leading_number(part: str) -> NumKey:
    end = 0
    while end < len(part) and _is_digit(part[end]):
        end += 1
    key = _num_key(part[:end])
    return min(key, _LONG_MAX)  # strtol saturates


def _php_part_cmp(x: str, y: str) -> int:
    dx, dy = _is_digit(x[:1]), _is_digit(y[:1])
    if dx and dy:
        return _sign(_php_leading_number(x), _php_leading_number(y))
    if not dx and not dy:
        return _sign(_php_form(x), _php_form(y))
    return _sign(_php_form("#N#"), _php_form(y)) if dx else _sign(_php_form(x), _php_form("#N#"))


def php_version_compare(a: str, b: str) -> int:
    """PHP's ``version_compare`` (ext/standard/versioning.c), element by element."""
    if not a or not b:
        return 0 if a == b else (1 if a else -1)
    s1 = a if a[0] == "#" else _php_canonical(a)
    s2 = b if b[0] == "#" else _php_canonical(b)
    i = j = 0
    more1 = more2 = True
    result = 0
    while i < len(s1) and j < len(s2) and more1 and more2:
        e1, e2 = s1.find(".", i), s2.find(".", j)
        more1, more2 = e1 >= 0, e2 >= 0
        result = _php_part_cmp(s1[i:e1] if more1 else s1[i:], s2[j:e2] if more2 else s2[j:])
        if result:
            return result
        if more1:
            i = e1 + 1
        if more2:
            j = e2 + 1
    if more1:
        return 1 if _is_digit(s1[i : i + 1]) else php_version_compare(s1[i:], "#N#")
    if more2:
        return -1 if _is_digit(s2[j : j + 1]) else php_version_compare("#N#", s2[j:])
    return 0


def compare_composer(a: str, b: str) -> int:
    """Compare two Composer versions: normalised, then PHP's ``version_compare``.

    A version composer/semver refuses, or a ``dev-`` branch, falls back to the generic order
    (`version_problem` reports both).
    """
    na, nb = composer_normalize(a), composer_normalize(b)
    if na is None or nb is None or na.startswith("dev-") or nb.startswith("dev-"):
        return compare_generic(a, b)
    if na == nb:
        return 0
    return php_version_compare(na, nb)


# --- NuGet ------------------------------------------------------------------------------------

_NUGET = re.compile(
    r"([0-9]+(?:\.[0-9]+){0,3})(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?",
    re.ASCII,
)
_INT32_MAX: NumKey = _num_key(str(2**31 - 1))
_INT32_LABEL = re.compile(r"-?[0-9]+", re.ASCII)


def _nuget_label(label: str) -> tuple[int, int, str]:
    # A label is a number when Int32.TryParse accepts it (a leading "-" included), else text
    # compared without regard to case.
    if _INT32_LABEL.fullmatch(label):
        digits = label.lstrip("-").lstrip("0") or "0"
        if len(digits) <= 10:
            n = int(digits) * (-1 if label.startswith("-") else 1)
            if -(2**31) <= n < 2**31:
                return 0, n, ""
    return 1, 0, label.upper()


@lru_cache(maxsize=_CACHE)
def nuget_key(v: str) -> NugetKey | None:
    """Order key of a NuGet version (``NuGetVersion``); None when it does not parse."""
    m = _NUGET.fullmatch(v.strip())
    if not m:
        return None
    numbers = [_num_key(x) for x in m.group(1).split(".")]
    if any(n > _INT32_MAX for n in numbers):
        return None
    numbers += [_ZERO] * (4 - len(numbers))
    labels = m.group(2)
    if labels is None:
        return (*numbers, (1,))
    return (*numbers, (0, tuple(_nuget_label(x) for x in labels.split("."))))


def compare_nuget(a: str, b: str) -> int:
    """Compare two NuGet versions as ``VersionComparer.Default`` does; invalid ones: generic."""
    ka, kb = nuget_key(a), nuget_key(b)
    if ka is None or kb is None:
        return compare_generic(a, b)
    return _sign(ka, kb)


# --- generic --------------------------------------------------------------------------------

_RUNS = re.compile(r"[0-9]+|[A-Za-z]+")


@lru_cache(maxsize=_CACHE)
def _generic_key(v: str) -> tuple[tuple[int, NumKey, str], ...]:
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
    "Azure Linux": compare_rpm,
    "Photon OS": compare_rpm,
    "Wolfi": compare_apk,
    "Chainguard": compare_apk,
    "PyPI": compare_pep440,
    "npm": compare_semver,
    "Go": compare_semver,
    "crates.io": compare_cargo,
    "Hex": compare_semver,
    "Maven": compare_maven,
    "RubyGems": compare_gem,
    "Packagist": compare_composer,
    "NuGet": compare_nuget,
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
    refuse a non-numeric epoch (dpkg itself rejects it); RubyGems, Packagist, crates.io and
    NuGet refuse what their own parsers refuse (Packagist also a ``dev-`` branch).  Maven
    orders every string, so it refuses nothing more.
    """
    text = version.strip()
    if not text:
        return "is empty"
    if len(text) > MAX_VERSION_LENGTH:
        return f"is {len(text)} characters long (more than {MAX_VERSION_LENGTH})"
    for c in text:
        if not " " <= c <= "~":
            return f"holds the character {c!r} (U+{ord(c):04X}), which is not printable ASCII"
    base = ecosystem.split(":", 1)[0]
    if base in _DPKG_FAMILY:
        colon = text.find(":")
        if colon >= 0 and not _all_digits(text[:colon]):
            return f"has the epoch {text[:colon]!r}, which is not a number"
    elif base in _GRAMMARS:
        return _GRAMMARS[base](text)
    return None


def _gem_problem(text: str) -> str | None:
    return None if gem_valid(text) else "is not a RubyGems version (Gem::Version refuses it)"


def _composer_problem(text: str) -> str | None:
    normal = composer_normalize(text)
    if normal is None:
        return "is not a Composer version (composer/semver's VersionParser refuses it)"
    if normal.startswith("dev-"):
        return f"is the development branch {normal!r}, which has no version order"
    return None


def _cargo_problem(text: str) -> str | None:
    if cargo_key(text) is not None:
        return None
    return "is not a SemVer 2.0 version (MAJOR.MINOR.PATCH), as crates.io requires"


def _nuget_problem(text: str) -> str | None:
    return None if nuget_key(text) is not None else "is not a NuGet version (1 to 4 numbers, labels after '-')"


#: Ecosystems whose versions follow a grammar the ecosystem's own tools enforce: a version
#: outside it cannot be ordered the way those tools would order it.
_GRAMMARS: dict[str, Callable[[str], str | None]] = {
    "RubyGems": _gem_problem,
    "Packagist": _composer_problem,
    "crates.io": _cargo_problem,
    "NuGet": _nuget_problem,
}


def compare_checked(ecosystem: str, a: str, b: str, cmp: Comparator | None = None) -> int | Incomparable:
    """`compare` when both versions are fit for it (`version_problem`), else `Incomparable`.

    `cmp` overrides the ecosystem's comparator (an OSV ``SEMVER`` range in any ecosystem).
    """
    for v in (a, b):
        problem = version_problem(ecosystem, v)
        if problem is not None:
            return Incomparable(v, problem)
    return (cmp or comparator(ecosystem))(a, b)
