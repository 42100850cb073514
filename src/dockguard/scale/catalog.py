"""Listing a registry: the catalog and each repository's tags, paged and bounded.

``GET /v2/_catalog?n=N[&last=L]`` and ``GET /v2/NAME/tags/list?n=N[&last=L]`` with the
``Link: <…?last=L&n=N>; rel="next"`` header of the Distribution API.  The next page is asked
for with our own request built from the ``last`` parameter only — a server-chosen URL is
never followed (credentials go nowhere but the registry) — and each page must move ``last``
strictly forward, so a server that loops or repeats itself ends the listing with an error
instead of running forever.  Every page is a bounded body (`MAX_PAGE_BYTES`), the whole
listing has a cap (`MAX_REPOSITORIES`, `MAX_TAGS`), and names that are not valid repository
names or tags are counted and reported, never requested.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from urllib.parse import parse_qs, quote, urlsplit

from dockguard.channel.bounded_http import Deadline, read_capped, shown
from dockguard.channel.registry_api import RegistryClient
from dockguard.errors import OperationalError
from dockguard.inputs import InputError, parse_json

PAGE_SIZE = 1000
"""Entries asked for per page (``n``)."""
MAX_PAGE_BYTES = 4 * 1024 * 1024
"""One catalog or tags page."""
MAX_REPOSITORIES = 200_000
"""Repositories listed from one catalog."""
MAX_TAGS = 100_000
"""Tags listed for one repository."""
MAX_LINK = 8 * 1024
"""Characters of a ``Link`` header parsed."""

_PATH_RE = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*)*$")
_TAG_RE = re.compile(r"^[\w][\w.-]{0,127}$", re.ASCII)
_NEXT = re.compile(r"<([^>]*)>\s*;\s*rel=\"?next\"?", re.IGNORECASE)


@dataclass
class Listing:
    """Names from one paged listing and how many invalid ones were dropped."""

    names: list[str] = field(default_factory=list)
    invalid: int = 0
    pages: int = 0


def next_last(link: str) -> str | None:
    """The ``last`` parameter of a ``Link: <…>; rel="next"`` header, or None."""
    if not link or len(link) > MAX_LINK:
        return None
    m = _NEXT.search(link)
    if m is None:
        return None
    try:
        query = parse_qs(urlsplit(m.group(1)).query)
    except ValueError:
        return None
    values = query.get("last")
    return values[0] if values else None


class CatalogClient(RegistryClient):
    """`RegistryClient` plus the catalog and tag listings (same auth, TLS and deadline rules)."""

    def list_repositories(self) -> Listing:
        """Every valid repository name of the catalog (scope ``registry:catalog:*``)."""
        return self._listing("/v2/_catalog", "registry:catalog:*", "repositories", _PATH_RE,
                             f"catalog of {self.registry}", MAX_REPOSITORIES)

    def list_tags(self, repository: str) -> Listing:
        """Every valid tag of `repository`."""
        return self._listing(f"/v2/{repository}/tags/list", f"repository:{repository}:pull", "tags",
                             _TAG_RE, f"tags of {self.registry}/{repository}", MAX_TAGS)

    def _listing(self, path: str, scope: str, key: str, pattern: re.Pattern[str], what: str,
                 cap: int) -> Listing:
        out = Listing()
        for page in self._pages(path, scope, key, what):
            out.pages += 1
            for item in page:
                if isinstance(item, str) and pattern.match(item):
                    out.names.append(item)
                else:
                    out.invalid += 1
            if len(out.names) > cap:
                raise OperationalError(f"{what}: more than {cap} entries")
        return out

    def _pages(self, path: str, scope: str, key: str, what: str) -> Iterator[Sequence[object]]:
        last: str | None = None
        while True:
            query = f"n={PAGE_SIZE}" + (f"&last={quote(last, safe='')}" if last is not None else "")
            with Deadline(self.deadline, what) as dl, self._request("GET", f"{path}?{query}", scope, dl) as r:
                if r.status_code in (401, 403):
                    raise self._denied(what, r.status_code)
                if r.status_code != 200:
                    raise OperationalError(f"{what}: HTTP {r.status_code}")
                body = read_capped(r, MAX_PAGE_BYTES, what)
                link = r.headers.get("Link", "")
            try:
                doc = parse_json(body, what)
            except InputError as exc:
                raise OperationalError(str(exc)) from None
            items = doc.get(key) if isinstance(doc, dict) else None
            if items is None and isinstance(doc, dict):
                items = []  # the registry answers "tags": null for a repository without tags
            if not isinstance(items, list):
                raise OperationalError(f"{what}: the answer has no {key} list")
            yield items
            following = next_last(link)
            if following is None:
                return
            if last is not None and following <= last:
                raise OperationalError(f"{what}: the next page ({shown(following)!r}) does not move past "
                                       f"the last one ({shown(last)!r}); refusing to loop")
            last = following
