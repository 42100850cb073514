"""Bounded, typed loading of hostile input.

Everything dockguard reads may have been written by an attacker: snapshots, profiles, reports,
suppression and VEX files, advisory feeds, image manifests and configs.  This module is the one
place where bytes become Python values:

- every file read has a byte cap and refuses what is not a regular file or a stream
  (directories; ``/dev/zero`` stops at the cap instead of filling memory);
- every JSON/YAML parse has a nesting cap and turns every failure (syntax, nesting, integers of
  thousands of digits, YAML aliases, unknown tags) into one `InputError`;
- `InputError` names the file and, where known, the JSON path, so that the CLI can print one
  line and exit 2.

Decoders built on top (snapshot, report, seccomp profile, OSV record, ...) raise `InputError`
via `InputError.at` with the JSON path of the offending value.
"""

from __future__ import annotations

import functools
import json
import os
import stat
from collections.abc import Callable, Iterable, Iterator
from typing import IO, Protocol, TypeVar, overload

from dockguard.errors import OperationalError
from dockguard.jsontypes import Json, JsonObject

_T = TypeVar("_T")
_U = TypeVar("_U")

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB

#: Nesting depth allowed in any JSON or YAML document dockguard reads.  Real documents
#: (OCI manifests, snapshots, OSV records, seccomp profiles) stay below 20.
MAX_DEPTH = 64

#: Objects and arrays allowed in one document by the loaders that pass it to `parse_json`.
MAX_NODES = 1_000_000

#: Default byte caps per kind of file; callers may pass tighter ones.
MAX_SNAPSHOT = 256 * MiB
MAX_REPORT = 256 * MiB
MAX_PROFILE = 8 * MiB
MAX_POLICY = 4 * MiB       # suppressions, VEX, authz policies
MAX_RECORD = 16 * MiB      # one advisory record or feed member


class _EventSource(Protocol):
    """The part of a PyYAML loader `_has_alias` uses."""

    def get_event(self) -> object:
        """The next parse event, or None at the end."""
        ...


class InputError(OperationalError):
    """Input that dockguard refuses: unreadable, too large, too deep or of the wrong shape.

    `origin` names the file (or stream), `where` the JSON path or line inside it.
    """

    def __init__(self, origin: str, problem: str, where: str = "") -> None:
        self.origin = origin
        self.where = where
        self.problem = problem
        place = f"{origin}: {where}" if where else origin
        super().__init__(f"{place}: {problem}")

    @classmethod
    def at(cls, origin: str, path: Iterable[str | int], problem: str) -> InputError:
        """An error at a JSON path given as keys and indexes (``$.a[3].b``)."""
        return cls(origin, problem, json_path(path))


def json_path(parts: Iterable[str | int]) -> str:
    """``['a', 3, 'b']`` → ``$.a[3].b``."""
    out = "$"
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else f".{p}"
    return out


def read_bytes(path: str | os.PathLike[str], *, limit: int, what: str = "file") -> bytes:
    """Read at most `limit` bytes of `path`; more is an `InputError`, never a partial read.

    ``-`` reads standard input.  Directories are refused; character devices, FIFOs and
    ``/proc`` files are read as streams (so ``/dev/zero`` fails at the cap).
    """
    name = str(path)
    if name == "-":
        import sys

        return _read_capped(sys.stdin.buffer, limit, "<stdin>", what)
    try:
        st = os.stat(name)
    except OSError as exc:
        raise InputError(name, f"cannot read {what}: {exc.strerror or exc}") from None
    if stat.S_ISDIR(st.st_mode):
        raise InputError(name, f"is a directory, not a {what}")
    if stat.S_ISREG(st.st_mode) and st.st_size > limit:
        raise InputError(name, f"{what} of {st.st_size} bytes is larger than the {limit} allowed")
    try:
        with open(name, "rb") as f:
            return _read_capped(f, limit, name, what)
    except OSError as exc:
        raise InputError(name, f"cannot read {what}: {exc.strerror or exc}") from None


def _read_capped(f: IO[bytes], limit: int, origin: str, what: str) -> bytes:
    data = f.read(limit + 1)
    if len(data) > limit:
        raise InputError(origin, f"{what} is larger than the {limit} bytes allowed")
    return data


def decode_utf8(data: bytes, origin: str, what: str = "file") -> str:
    """UTF-8 text of `data` (a leading BOM is dropped) or an `InputError`."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(origin, f"{what} is not UTF-8 text (byte {exc.start})") from None


def read_text(path: str | os.PathLike[str], *, limit: int, what: str = "file") -> str:
    """`read_bytes` decoded as UTF-8."""
    return decode_utf8(read_bytes(path, limit=limit, what=what), str(path), what)


def parse_json(
    data: str | bytes,
    origin: str,
    *,
    max_depth: int = MAX_DEPTH,
    max_nodes: int | None = None,
    object_pairs_hook: Callable[[list[tuple[str, Json]]], JsonObject] | None = None,
) -> Json:
    """Parse JSON; any failure is an `InputError` (syntax, nesting, huge integers, NaN).

    `max_nodes` caps the objects and arrays the document may hold (counted as ``{`` and ``[``
    characters before parsing, so an overestimate): a megabyte of ``[],`` would otherwise
    become 350 000 lists of 64 bytes each.  `object_pairs_hook` (as in `json.loads`) lets a
    caller see duplicate keys; what it returns for an object should be a dict (subclass) so
    that the nesting cap still applies.
    """
    if max_nodes is not None:
        nodes = data.count(b"{") + data.count(b"[") if isinstance(data, bytes) else data.count("{") + data.count("[")
        if nodes > max_nodes:
            raise InputError(origin, f"more than {max_nodes} JSON objects and arrays ({nodes} brackets)")
    if isinstance(data, bytes):
        data = decode_utf8(data, origin, "JSON")
    try:
        value = json.loads(data, parse_constant=_no_constant, object_pairs_hook=object_pairs_hook)
    except json.JSONDecodeError as exc:
        raise InputError(origin, f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        raise InputError(origin, f"JSON nested deeper than {max_depth} levels") from None
    except ValueError as exc:  # integers past sys.get_int_max_str_digits(), NaN/Infinity
        raise InputError(origin, f"not acceptable JSON: {str(exc).split(';')[0]}") from None
    check_depth(value, origin, max_depth)
    result: Json = value
    return result


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is not a JSON number")


def check_depth(value: object, origin: str, max_depth: int = MAX_DEPTH) -> None:
    """Refuse a parsed document nested deeper than `max_depth`.

    Iterative, and its memory is one iterator per level (not one entry per node: a document
    of millions of empty lists must not double its footprint here).
    """
    if not isinstance(value, dict | list):
        return
    stack: list[Iterator[object]] = [iter(value.values() if isinstance(value, dict) else value)]
    while stack:
        for child in stack[-1]:
            if isinstance(child, dict | list):
                if len(stack) >= max_depth:
                    raise InputError(origin, f"nested deeper than {max_depth} levels")
                stack.append(iter(child.values() if isinstance(child, dict) else child))
                break
        else:
            stack.pop()


def load_json_file(path: str | os.PathLike[str], *, limit: int, what: str = "JSON file") -> Json:
    """Read (bounded) and parse a JSON file."""
    return parse_json(read_bytes(path, limit=limit, what=what), str(path))


def parse_yaml(text: str | bytes, origin: str, *, max_depth: int = MAX_DEPTH, dates: bool = True) -> object:
    """Parse YAML safely: no aliases or anchors (no billion laughs), no Python tags.

    The result is typed `object`: YAML 1.1 also yields dates, timestamps and non-string keys,
    so callers narrow it (`expect`, ``isinstance``) like any hostile value.

    Scalars are typed as YAML 1.1's safe loader types them (``2024-01-31`` is a date); with
    ``dates=False`` date-like scalars stay strings, so that the caller can validate them and
    name the key of a bad one (``2024-13-45``) instead of failing inside the YAML loader.
    """
    import yaml

    if isinstance(text, bytes):
        text = decode_utf8(text, origin, "YAML")
    loader_cls = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    if not dates:
        loader_cls = _without_dates(loader_cls)
    loader = loader_cls(text)
    try:
        if _has_alias(loader):
            raise InputError(origin, "YAML anchors and aliases are not accepted")
    finally:
        loader.dispose()
    loader = loader_cls(text)
    try:
        value: object = loader.get_single_data()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise InputError(origin, f"invalid YAML: {problem}", where) from None
    except RecursionError:
        raise InputError(origin, f"YAML nested deeper than {max_depth} levels") from None
    except ValueError as exc:  # e.g. an integer past the digit limit, a date out of range
        raise InputError(origin, f"invalid YAML value: {exc}") from None
    finally:
        loader.dispose()
    check_depth(value, origin, max_depth)
    return value


@functools.cache
def _without_dates(base: type) -> type:
    """A subclass of the YAML loader `base` whose resolver leaves timestamps as strings."""
    resolvers = {
        first: [(tag, rx) for tag, rx in entries if tag != "tag:yaml.org,2002:timestamp"]
        for first, entries in base.yaml_implicit_resolvers.items()  # type: ignore[attr-defined]
    }
    return type(f"{base.__name__}WithoutDates", (base,), {"yaml_implicit_resolvers": resolvers})


def _has_alias(loader: _EventSource) -> bool:
    """True when the event stream holds an alias (scanning events is linear and bounded)."""
    import yaml

    try:
        while True:
            event = loader.get_event()
            if event is None:
                return False
            if isinstance(event, yaml.AliasEvent):
                return True
    except yaml.YAMLError:
        return False  # the real parse below reports the syntax error with its line


def load_yaml_file(path: str | os.PathLike[str], *, limit: int, what: str = "YAML file") -> object:
    """Read (bounded) and parse a YAML file."""
    return parse_yaml(read_bytes(path, limit=limit, what=what), str(path))


# A decoded JSON value keeps its precision (`JsonObject`, list of `Json`); anything else (YAML,
# an `object`) gives ``dict[str, object]`` / ``list[object]``.
@overload
def expect(
    value: Json, kind: type[dict[str, Json]], origin: str, path: Iterable[str | int]
) -> JsonObject: ...
@overload
def expect(
    value: Json, kind: type[list[Json]], origin: str, path: Iterable[str | int]
) -> list[Json]: ...
@overload
def expect(
    value: object, kind: type[dict[str, object]], origin: str, path: Iterable[str | int]
) -> dict[str, object]: ...
@overload
def expect(value: object, kind: type[list[object]], origin: str, path: Iterable[str | int]) -> list[object]: ...
@overload
def expect(value: object, kind: type[_T], origin: str, path: Iterable[str | int]) -> _T: ...
@overload
def expect(value: object, kind: tuple[type[_T], type[_U]], origin: str, path: Iterable[str | int]) -> _T | _U: ...
@overload
def expect(value: object, kind: tuple[type, ...], origin: str, path: Iterable[str | int]) -> object: ...
def expect(value: object, kind: type | tuple[type, ...], origin: str, path: Iterable[str | int]) -> object:
    """`value` if it is an instance of `kind` (bool is not an int), else an `InputError`.

    Typed by `kind`: ``dict`` gives ``dict[str, object]`` and ``list`` gives ``list[object]``
    (their members are still hostile and are narrowed in turn).  Keys are not checked: a YAML
    mapping may hold non-string keys, which then fail where they are looked up or compared.
    """
    kinds = kind if isinstance(kind, tuple) else (kind,)
    ok = isinstance(value, kinds) and not (isinstance(value, bool) and bool not in kinds)
    if not ok:
        names = " or ".join(_type_name(k) for k in kinds)
        raise InputError.at(origin, path, f"expected {names}, got {_type_name(type(value))}")
    return value


def _type_name(t: type) -> str:
    return {dict: "an object", list: "a list", str: "a string", int: "an integer", float: "a number",
            bool: "a boolean", type(None): "null"}.get(t, t.__name__)

