"""Our purl builder agrees with packageurl-python (the reference implementation)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from packageurl import PackageURL

from dockguard.image.purl import make_purl

TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")),
               min_size=1, max_size=12).filter(lambda s: "/" not in s and s.strip() == s)


@settings(max_examples=300, deadline=None)
@given(ptype=st.sampled_from(["deb", "apk", "rpm", "pypi", "npm", "golang"]),
       namespace=st.one_of(st.none(), TEXT), name=TEXT, version=TEXT,
       arch=st.sampled_from(["", "amd64", "x86_64", "noarch"]),
       distro=st.sampled_from(["", "debian-12", "alpine-3.19"]))
def test_matches_packageurl(ptype: str, namespace: str | None, name: str, version: str,
                            arch: str, distro: str) -> None:
    quals = {"arch": arch, "distro": distro}
    ours = make_purl(ptype, name, version, namespace=namespace, qualifiers=quals)
    ref_name = name
    if ptype == "pypi":
        from dockguard.image.purl import pep503

        ref_name = pep503(name)
    ref = PackageURL(type=ptype, namespace=namespace, name=ref_name, version=version,
                     qualifiers={k: v for k, v in quals.items() if v}).to_string()
    # Same components once parsed; packageurl-python lowercases apk/npm/pypi names after
    # percent-encoding (%2b), we before (%2B): both decode to the same purl.
    assert PackageURL.from_string(ours).to_dict() == PackageURL.from_string(ref).to_dict()
    if ptype not in ("apk", "npm", "pypi") or ours.lower() == ours:
        assert ours == ref


def test_known_examples() -> None:
    assert make_purl("deb", "openssl", "3.0.11-1~deb12u2", namespace="debian",
                     qualifiers={"arch": "amd64", "distro": "debian-12"}) == (
        "pkg:deb/debian/openssl@3.0.11-1~deb12u2?arch=amd64&distro=debian-12")
    assert make_purl("golang", "github.com/BurntSushi/toml", "v1.3.2") == (
        "pkg:golang/github.com/BurntSushi/toml@v1.3.2")
    assert make_purl("npm", "@types/node", "20.1.0") == "pkg:npm/%40types/node@20.1.0"
