"""OpenVEX documents: vendor statements about which vulnerabilities really affect a product.

Read from JSON (spec v0.2.0, ``@context`` ``https://openvex.dev/ns/v0.2.0``; the older
``https://openvex.dev/ns`` form with plain-string vulnerabilities and products is accepted too)
and applied to the vulnerability findings of a report:

* a statement is about a finding when its vulnerability ``name`` (or ``@id``) or one of its
  ``aliases`` equals the finding's id or one of the finding's aliases, and one of its products
  covers the finding's package:

  - a package product (a purl that is not ``pkg:oci``/``pkg:docker``) covers a finding whose
    purl has the same type, namespace and name, and the same version unless the product purl
    has none (qualifiers are ignored); so does one of its ``subcomponents``;
  - an image product (a reference such as ``app:1.0``, ``docker.io/library/app:1.0``,
    ``image:app:1.0``, an image id ``sha256:…``, ``name@sha256:…`` or a ``pkg:oci`` purl) covers
    the findings of that image: all of them, or with ``subcomponents`` only those whose purl
    matches a subcomponent;

* when several statements are about a finding, the newest one wins (statement ``timestamp``,
  else the document's; equal times go to the later statement, files in command-line order);
* ``not_affected`` and ``fixed`` keep the finding in the report marked ``suppressed`` (``VEX
  not_affected: <justification or impact statement>`` / ``VEX fixed``), so it no longer counts
  for ``--fail-on``; ``affected`` and ``under_investigation`` leave it as it is.

Findings that are already suppressed (an ignore file) keep their reason.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import functools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from dockguard.inputs import MAX_NODES, MAX_POLICY, InputError, parse_json, read_bytes
from dockguard.jsontypes import Json, JsonObject
from dockguard.model import Finding, FindingKind, Report

STATUSES = ("not_affected", "affected", "fixed", "under_investigation")
SUPPRESSING = frozenset(("not_affected", "fixed"))
JUSTIFICATIONS = (
    "component_not_present",
    "vulnerable_code_not_present",
    "vulnerable_code_not_in_execute_path",
    "vulnerable_code_cannot_be_controlled_by_adversary",
    "inline_mitigations_already_exist",
)
_CONTEXT = re.compile(r"https://openvex\.dev/ns(/v\d+\.\d+\.\d+)?")
_IMAGE_PURL_TYPES = frozenset(("oci", "docker"))
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
# Statements without any timestamp sort before every dated one.
_EPOCH = dt.datetime.min.replace(tzinfo=dt.UTC)

PurlKey = tuple[str, str, str, str | None]


@dataclass(frozen=True)
class Component:
    """A product or subcomponent: its identifiers (``@id``, ``identifiers.purl``, a sha-256 hash)."""

    ids: tuple[str, ...]

    @functools.cached_property
    def purls(self) -> tuple[PurlKey, ...]:
        """The purl identifiers, normalised (see `purl_key`)."""
        return tuple(k for k in map(purl_key, self.ids) if k is not None)

    @property
    def is_image(self) -> bool:
        """True when the component names a container image rather than a package."""
        return all(k[0] in _IMAGE_PURL_TYPES for k in self.purls)

    def covers_package(self, purl: PurlKey) -> bool:
        """True when one of the component's package purls matches the finding's `purl`."""
        return any(_same_package(p, purl) for p in self.purls if p[0] not in _IMAGE_PURL_TYPES)


@dataclass(frozen=True)
class Product(Component):
    """A statement's product, possibly narrowed to some of its subcomponents."""

    subcomponents: tuple[Component, ...] = ()


@dataclass(frozen=True)
class Statement:
    """One OpenVEX statement, with the document's timestamp filled in when it has none."""

    vulnerability: str
    aliases: tuple[str, ...]
    products: tuple[Product, ...]
    status: str
    justification: str = ""
    impact_statement: str = ""
    timestamp: dt.datetime | None = None
    origin: str = ""

    @property
    def names(self) -> tuple[str, ...]:
        """The vulnerability name followed by its aliases."""
        return (self.vulnerability, *self.aliases)

    @property
    def reason(self) -> str:
        """The suppression reason this statement gives (empty for non-suppressing statuses)."""
        if self.status == "not_affected":
            return f"VEX not_affected: {self.justification or self.impact_statement}"
        if self.status == "fixed":
            return "VEX fixed"
        return ""

    def covers(self, purl: PurlKey | None, image: frozenset[str]) -> bool:
        """True when a product covers a finding with package `purl` in an image known as `image`."""
        for product in self.products:
            if product.is_image:
                if not image or not _names_image(product, image):
                    continue
                if not product.subcomponents:
                    return True
                if purl is not None and any(s.covers_package(purl) for s in product.subcomponents):
                    return True
            elif purl is not None and (
                product.covers_package(purl) or any(s.covers_package(purl) for s in product.subcomponents)
            ):
                return True
        return False


@functools.lru_cache(maxsize=65536)
def purl_key(text: str) -> PurlKey | None:
    """(type, namespace, name, version) of a purl string, or None when `text` is not a purl.

    PyPI names are PEP 503 normalised so ``pkg:pypi/Jinja2`` and ``pkg:pypi/jinja2`` agree.
    """
    if not text.startswith("pkg:"):
        return None
    from packageurl import PackageURL

    from dockguard.image.purl import pep503

    try:
        p = PackageURL.from_string(text)
    except ValueError:
        return None
    name = pep503(p.name) if p.type == "pypi" else p.name
    return (p.type, p.namespace or "", name, p.version or None)


def _same_package(product: PurlKey, finding: PurlKey) -> bool:
    return product[:3] == finding[:3] and (product[3] is None or product[3] == finding[3])


def image_keys(refs: Iterable[str]) -> frozenset[str]:
    """Normalised names of one image (labels, repo tags, id) for matching image products."""
    out: set[str] = set()
    for ref in refs:
        out |= _ref_keys(ref)
    return frozenset(out)


def _ref_keys(ref: str) -> set[str]:
    ref = ref.strip().removeprefix("image:")
    if not ref:
        return set()
    if _DIGEST.fullmatch(ref):
        return {ref}
    name, at, digest = ref.partition("@")
    if at:
        return {digest} if _DIGEST.fullmatch(digest) else set()
    slash = name.rfind("/")
    if ":" not in name[slash + 1 :]:
        name += ":latest"
    for prefix in ("docker.io/", "index.docker.io/", "registry-1.docker.io/"):
        if name.startswith(prefix):
            name = name[len(prefix) :]
            break
    return {name.removeprefix("library/")}


def _names_image(product: Component, image: frozenset[str]) -> bool:
    for ident in product.ids:
        if ident.startswith("pkg:"):
            if _oci_names_image(ident, image):
                return True
        elif _ref_keys(ident) & image:
            return True
    return False


def _oci_names_image(purl: str, image: frozenset[str]) -> bool:
    from packageurl import PackageURL

    try:
        p = PackageURL.from_string(purl)
    except ValueError:
        return False
    if p.type not in _IMAGE_PURL_TYPES:
        return False
    if p.version and _DIGEST.fullmatch(p.version):
        return p.version in image
    quals = p.qualifiers if isinstance(p.qualifiers, dict) else {}
    repo = quals.get("repository_url") or "/".join(x for x in (p.namespace, p.name) if x)
    tag = quals.get("tag") or p.version or "latest"
    return bool(_ref_keys(f"{repo}:{tag}") & image)


def parse(text: str | bytes, origin: str = "<vex>") -> tuple[Statement, ...]:
    """Parse one OpenVEX JSON document; raise `InputError` naming `origin`, the JSON path and
    the statement."""
    doc = parse_json(text, origin, max_nodes=MAX_NODES)
    if not isinstance(doc, dict):
        raise InputError(origin, "expected an OpenVEX document (a JSON object)", "$")
    context = doc.get("@context")
    if not isinstance(context, str) or not _CONTEXT.fullmatch(context):
        raise InputError(
            origin,
            f"not an OpenVEX document (@context {_short(context)}, expected https://openvex.dev/ns/v0.2.0)",
            "$.@context",
        )
    doc_time = _timestamp(doc.get("timestamp"), _Where(origin, "$", "document"))
    statements = doc.get("statements")
    if not isinstance(statements, list):
        raise InputError(origin, "'statements' must be a list", "$.statements")
    return tuple(
        _statement(raw, _Where(origin, f"$.statements[{i}]", f"statement #{i + 1}"), doc_time)
        for i, raw in enumerate(statements)
    )


@dataclass(frozen=True)
class _Where:
    """Where a value sits: file, JSON path, and the human label (``statement #2 (CVE-1)``)."""

    origin: str
    path: str
    label: str

    def fail(self, problem: str, key: str = "") -> InputError:
        return InputError(self.origin, f"{self.label}: {problem}", f"{self.path}.{key}" if key else self.path)

    def child(self, key: str | int, label: str) -> _Where:
        path = f"{self.path}[{key}]" if isinstance(key, int) else f"{self.path}.{key}"
        return _Where(self.origin, path, label)


def _statement(raw: Json, where: _Where, doc_time: dt.datetime | None) -> Statement:
    if not isinstance(raw, dict):
        raise where.fail("expected an object")
    vuln = raw.get("vulnerability")
    aliases: list[str] = []
    if isinstance(vuln, str):
        name: Json = vuln
    elif isinstance(vuln, dict):
        name = vuln.get("name") or vuln.get("@id") or ""
        raw_aliases = vuln.get("aliases") or []
        if not isinstance(raw_aliases, list) or not all(isinstance(a, str) and a for a in raw_aliases):
            raise where.fail("'vulnerability.aliases' must be a list of strings", "vulnerability.aliases")
        aliases = [a for a in raw_aliases if isinstance(a, str)]  # all are (checked above)
    else:
        raise where.fail("missing 'vulnerability' (an object with 'name')", "vulnerability")
    if not isinstance(name, str) or not name.strip():
        raise where.fail("'vulnerability' needs a 'name' or '@id'", "vulnerability")
    where = _Where(where.origin, where.path, f"{where.label} ({_cut(name.strip())})")
    status = raw.get("status")
    if not isinstance(status, str) or status not in STATUSES:
        raise where.fail(f"'status' must be one of {', '.join(STATUSES)}, not {_short(status)}", "status")
    justification = _text(raw, "justification", where)
    impact = _text(raw, "impact_statement", where)
    if justification and justification not in JUSTIFICATIONS:
        raise where.fail(
            f"unknown justification {_short(justification)} (allowed: {', '.join(JUSTIFICATIONS)})", "justification"
        )
    if status == "not_affected" and not (justification or impact):
        raise where.fail("'not_affected' needs a 'justification' or an 'impact_statement'")
    products = raw.get("products")
    if not isinstance(products, list) or not products:
        raise where.fail("'products' must be a non-empty list", "products")
    parsed = tuple(
        _product(p, where.child("products", where.label).child(j, f"{where.label}: product #{j + 1}"))
        for j, p in enumerate(products)
    )
    stamp = _timestamp(raw.get("timestamp"), where) or doc_time
    return Statement(
        vulnerability=name.strip(),
        aliases=tuple(a.strip() for a in aliases),
        products=parsed,
        status=status,
        justification=justification,
        impact_statement=impact,
        timestamp=stamp,
        origin=f"{where.origin}: {where.label}",
    )


def _text(raw: JsonObject, key: str, where: _Where) -> str:
    value = raw.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise where.fail(f"'{key}' must be a string", key)
    return value.strip()


def _component_ids(raw: Json, where: _Where) -> tuple[str, ...]:
    ids: list[Json]
    if isinstance(raw, str):
        ids = [raw]
    elif isinstance(raw, dict):
        ids = []
        if raw.get("@id") is not None:
            ids.append(raw["@id"])
        identifiers = raw.get("identifiers") or {}
        hashes = raw.get("hashes") or {}
        if not isinstance(identifiers, dict) or not isinstance(hashes, dict):
            raise where.fail("'identifiers' and 'hashes' must be objects")
        if identifiers.get("purl") is not None:
            ids.append(identifiers["purl"])
        if hashes.get("sha-256") is not None:
            if not isinstance(hashes["sha-256"], str):
                raise where.fail("'hashes.sha-256' must be a string", "hashes.sha-256")
            ids.append(f"sha256:{hashes['sha-256']}")
    else:
        raise where.fail("expected an object with '@id'")
    if not ids:
        raise where.fail("needs an '@id' (a purl or an image reference) or identifiers.purl")
    texts: list[str] = []
    for ident in ids:
        if not isinstance(ident, str) or not ident.strip():
            raise where.fail("identifiers must be non-empty strings")
        if ident.startswith("pkg:") and purl_key(ident) is None:
            raise where.fail(f"invalid package URL {_short(ident)}")
        texts.append(ident.strip())
    return tuple(texts)


def _product(raw: Json, where: _Where) -> Product:
    ids = _component_ids(raw, where)
    subs_raw = raw.get("subcomponents") if isinstance(raw, dict) else None
    subs_raw = subs_raw or []
    if not isinstance(subs_raw, list):
        raise where.fail("'subcomponents' must be a list", "subcomponents")
    subs = tuple(
        Component(_component_ids(s, where.child("subcomponents", where.label).child(
            k, f"{where.label}, subcomponent #{k + 1}")))
        for k, s in enumerate(subs_raw)
    )
    return Product(ids=ids, subcomponents=subs)


def _timestamp(value: Json, where: _Where) -> dt.datetime | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > 64:
        raise where.fail("'timestamp' must be an RFC 3339 string", "timestamp")
    text = value.strip()
    # Python's parser takes at most microseconds; Go tooling writes nanoseconds.
    text = re.sub(r"(\.\d{6})\d+", r"\1", text)
    try:
        stamp = dt.datetime.fromisoformat(text)
    except ValueError:
        raise where.fail(f"invalid timestamp {_short(value)} (expected RFC 3339)", "timestamp") from None
    return stamp if stamp.tzinfo is not None else stamp.replace(tzinfo=dt.UTC)


def _short(value: object, limit: int = 60) -> str:
    if isinstance(value, dict | list):
        return "an object" if isinstance(value, dict) else "a list"
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _cut(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def load(path: str | Path) -> tuple[Statement, ...]:
    """Read (at most `MAX_POLICY` bytes) and parse one OpenVEX file."""
    origin = "<stdin>" if str(path) == "-" else str(path)
    return parse(read_bytes(path, limit=MAX_POLICY, what="VEX file"), origin)


def load_all(paths: Iterable[str | Path] | None) -> tuple[Statement, ...]:
    """The statements of every file, in file order then document order."""
    return tuple(s for p in paths or () for s in load(p))


def apply(report: Report, statements: Sequence[Statement], image_refs: Iterable[str] = ()) -> Report:
    """`apply_findings` on the findings of `report`."""
    if not statements:
        return report
    return dataclasses.replace(report, findings=apply_findings(report.findings, statements, image_refs))


def apply_findings(
    findings: Sequence[Finding], statements: Sequence[Statement], image_refs: Iterable[str] = ()
) -> tuple[Finding, ...]:
    """Mark vulnerability findings that a winning ``not_affected``/``fixed`` statement covers.

    A finding's image is the name in its ``image:`` object label, plus `image_refs` (other
    tags, the image id) when the findings are about one image.
    """
    if not statements:
        return tuple(findings)
    by_name: dict[str, list[int]] = {}
    for i, s in enumerate(statements):
        for name in dict.fromkeys(s.names):
            by_name.setdefault(name, []).append(i)
    extra = image_keys(image_refs)
    return tuple(_apply_one(f, statements, by_name, extra) for f in findings)


def _apply_one(
    finding: Finding, statements: Sequence[Statement], by_name: dict[str, list[int]], extra: frozenset[str]
) -> Finding:
    if finding.kind is not FindingKind.VULNERABILITY or finding.suppressed:
        return finding
    ids = [finding.id, *(finding.vulnerability.aliases if finding.vulnerability else ())]
    candidates = sorted({i for name in ids for i in by_name.get(name, ())})
    if not candidates:
        return finding
    purl = purl_key(finding.package.purl) if finding.package and finding.package.purl else None
    image = extra | image_keys([finding.obj]) if finding.obj.startswith("image:") else extra
    winner: tuple[dt.datetime, int] | None = None
    for i in candidates:
        s = statements[i]
        if s.covers(purl, image):
            key = (s.timestamp or _EPOCH, i)
            if winner is None or key >= winner:
                winner = key
    if winner is None:
        return finding
    reason = statements[winner[1]].reason
    return dataclasses.replace(finding, suppressed=reason) if reason else finding


def add_argument(parser: argparse.ArgumentParser) -> None:
    """Add the ``--vex FILE`` option (repeatable) to a command's parser."""
    parser.add_argument(
        "--vex",
        metavar="FILE",
        action="append",
        default=[],
        help="OpenVEX JSON document (repeatable); vulnerabilities it declares not_affected or fixed "
        "stay in the report marked as suppressed",
    )
