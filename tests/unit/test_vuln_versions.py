"""Version orderings: known pairs from each ecosystem's rules plus ordering properties."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dockguard.vuln.versions import (
    Incomparable,
    compare,
    compare_apk,
    compare_cargo,
    compare_checked,
    compare_composer,
    compare_dpkg,
    compare_gem,
    compare_maven,
    compare_nuget,
    compare_pep440,
    compare_rpm,
    compare_semver,
    composer_normalize,
    php_version_compare,
    rpmvercmp,
    version_problem,
)


def _check(cmp: Callable[[str, str], int], a: str, op: str, b: str) -> None:
    want = {"<": -1, "=": 0, ">": 1}[op]
    got = cmp(a, b)
    assert (got > 0) - (got < 0) == want, f"{a} {op} {b}"
    got = cmp(b, a)
    assert (got > 0) - (got < 0) == -want, f"{b} vs {a}"


@pytest.mark.parametrize(
    ("a", "op", "b"),
    [
        ("1:2.38.1-5+deb12u3", ">", "2.39"),  # the epoch dominates
        ("2.38.1-5+deb12u1", ">", "2.38.1-5"),
        ("2.38.1-5+deb12u3", ">", "2.38.1-5+deb12u1"),
        ("1.0~rc1", "<", "1.0"),
        ("1.0~~", "<", "1.0~"),
        ("1.0", "=", "1.0-0"),
        ("1.0a", "<", "1.0+"),
        ("1.0", "<", "1.0a"),
        ("1.01", "=", "1.1"),
        ("0:1.0", "=", "1.0"),
        ("7.88.1-10+deb12u5", "<", "7.88.1-10+deb12u12"),
        ("3.0.11-1~deb12u2", "<", "3.0.11-1"),
    ],
)
def test_dpkg_known_pairs(a: str, op: str, b: str) -> None:
    _check(compare_dpkg, a, op, b)


@pytest.mark.parametrize(
    ("a", "op", "b"),
    [
        ("1.1.1c-r0", "<", "1.1.1d-r0"),  # letter after the last digit group
        ("2.4.41-r0", ">", "2.4.39-r5"),
        ("1.0.4-r3", "<", "1.0.4-r4"),
        ("1.0-r10", ">", "1.0-r9"),
        ("1.1_alpha1", "<", "1.1"),
        ("1.3_alpha2", "<", "1.3_alpha3"),
        ("0.8_beta1", "<", "0.8_rc1"),
        ("1.3_pre1-r1", "<", "1.3"),
        ("3.1_p16", "<", "3.1_p17"),
        ("1.0_p1", ">", "1.0"),
        ("1.0_p10-r0", ">", "1.0_p9-r0"),
        ("0.1.0_alpha_pre2", "<", "0.1.0_alpha"),
        ("1.2.2-r1", ">", "1.2.2"),
        ("2.01", "<", "2.1"),  # a leading zero compares as text
        ("8.2.0015", "<", "8.2.002"),
        ("1.0_rc1", "<", "1.0"),
        ("1.0", "<", "1.0bc"),
        ("1.0", "=", "1.0"),
        ("20050718-r1", "<", "20050718-r2"),
        ("6b-r7", ">", "1.12-r7"),
    ],
)
def test_apk_known_pairs(a: str, op: str, b: str) -> None:
    _check(compare_apk, a, op, b)


@pytest.mark.parametrize(
    ("a", "op", "b"),
    [
        ("1.0", "<", "2.0"),
        ("2.0.1a", ">", "2.0.1"),
        ("5.5p1", "<", "5.5p10"),
        ("10.0001", "=", "10.1"),
        ("6.0.rc1", ">", "6.0"),
        ("1.0~rc1", "<", "1.0"),
        ("1.0^git1", ">", "1.0"),
        ("1.0^git1", "<", "1.0.1"),
        ("2_0", "=", "2.0"),
        ("xyz.4", "<", "8"),
        ("a+", "=", "a_"),
    ],
)
def test_rpmvercmp_known_pairs(a: str, op: str, b: str) -> None:
    _check(rpmvercmp, a, op, b)


def test_rpm_evr() -> None:
    _check(compare_rpm, "1:1.0-1.el9", ">", "2.0-1.el9")
    _check(compare_rpm, "3.0.7-24.el9", "<", "3.0.7-27.el9")
    _check(compare_rpm, "3.0.7", "=", "3.0.7-27.el9")  # a fix without release covers all


def test_semver_precedence_from_the_spec() -> None:
    chain = [
        "1.0.0-alpha",
        "1.0.0-alpha.1",
        "1.0.0-alpha.beta",
        "1.0.0-beta",
        "1.0.0-beta.2",
        "1.0.0-beta.11",
        "1.0.0-rc.1",
        "1.0.0",
        "1.0.1",
        "1.10.0",
    ]
    for lower, higher in itertools.pairwise(chain):
        _check(compare_semver, lower, "<", higher)
    _check(compare_semver, "v1.2.3", "=", "1.2.3")
    _check(compare_semver, "v2.0.0+incompatible", "=", "2.0.0")
    _check(compare_semver, "v0.0.0-20191109021931-daa7c04131f5", "<", "v0.0.1")


def test_pep440() -> None:
    _check(compare_pep440, "2.10", ">", "2.9.6")
    _check(compare_pep440, "1.0rc1", "<", "1.0")
    _check(compare_pep440, "1.0.post1", ">", "1.0")
    _check(compare_pep440, "1!0.1", ">", "2.0")


def test_dispatcher_uses_the_ecosystem_ordering() -> None:
    # "1.10" vs "1.9": every ordering agrees; "1.0~1" vs "1.0" only dpkg puts it first.
    assert compare("Debian:12", "1.0~1", "1.0") < 0
    assert compare("Ubuntu:22.04", "1:1.0", "2.0") > 0
    assert compare("Alpine:v3.19", "1.0_rc1", "1.0") < 0
    assert compare("PyPI", "1.0rc1", "1.0") < 0
    assert compare("Go", "v1.2.3", "1.2.4") < 0
    assert compare("Rocky Linux:9", "1.0^a", "1.0") > 0


_dpkg_versions = st.from_regex(r"\A([0-3]:)?[0-9][0-9a-z.+~]{0,6}(-[0-9a-z.+~]{1,5})?\Z")
_apk_versions = st.from_regex(
    r"\A[0-9]{1,3}(\.[0-9]{1,3}){0,3}[a-z]?(_(alpha|beta|pre|rc|p)[0-9]{0,2})?(-r[0-9]{1,2})?\Z"
)
_semver_versions = st.from_regex(r"\A[0-9]{1,2}\.[0-9]{1,2}\.[0-9]{1,2}(-[0-9a-z]{1,3}(\.[0-9a-z]{1,3})?)?\Z")
# RPM orders EVRs totally only when every release is present: a missing release matches any
# (see test_rpm_missing_release_is_not_transitive), so the property is drawn on full EVRs.
_rpm_versions = st.from_regex(r"\A([0-3]:)?[0-9]{1,3}(\.[0-9]{1,3}){0,2}(~rc[0-9])?-[0-9]{1,2}(\.el[0-9])?\Z")


_maven_versions = st.from_regex(r"\A[0-9]{1,2}([.-]([0-9]{1,2}|alpha|beta|rc|sp|ga|foo|a1|b2)){0,4}\Z")
_gem_versions = st.from_regex(r"\A[0-9]{1,2}(\.([0-9]{1,2}|a|b|pre|rc1)){0,4}\Z")
_composer_versions = st.from_regex(r"\A[0-9]{1,2}(\.[0-9]{1,2}){0,3}(-(alpha|beta|RC|patch)[0-9]?)?(-dev)?\Z")
_nuget_versions = st.from_regex(r"\A[0-9]{1,2}(\.[0-9]{1,2}){0,3}(-[0-9a-zA-Z]{1,3}(\.[0-9a-zA-Z]{1,3})?)?\Z")
_cargo_versions = st.from_regex(
    r"\A(0|[1-9][0-9]?)\.(0|[1-9])\.(0|[1-9])(-(0|[1-9]|[a-z]{1,3})(\.(0|[1-9]|[a-z]{1,2}))?)?\Z"
)


@settings(max_examples=300)
@given(st.sampled_from([compare_dpkg, compare_apk, compare_semver, compare_rpm, compare_maven, compare_gem,
                        compare_composer, compare_nuget, compare_cargo]), st.data())
def test_orderings_are_antisymmetric_and_transitive(cmp, data) -> None:  # type: ignore[no-untyped-def]
    strat = {
        compare_dpkg: _dpkg_versions,
        compare_apk: _apk_versions,
        compare_semver: _semver_versions,
        compare_rpm: _rpm_versions,
        compare_maven: _maven_versions,
        compare_gem: _gem_versions,
        compare_composer: _composer_versions,
        compare_nuget: _nuget_versions,
        compare_cargo: _cargo_versions,
    }[cmp]
    a, b, c = data.draw(strat), data.draw(strat), data.draw(strat)
    assert cmp(a, a) == 0
    assert (cmp(a, b) > 0) == (cmp(b, a) < 0)
    if cmp(a, b) <= 0 and cmp(b, c) <= 0:
        assert cmp(a, c) <= 0


def test_rpm_missing_release_is_not_transitive() -> None:
    """Deliberate: a version without release equals every release of it, so '=' does not chain."""
    assert compare_rpm("0-1", "0") == 0
    assert compare_rpm("0", "0-0") == 0
    assert compare_rpm("0-1", "0-0") > 0


@pytest.mark.parametrize("cmp", [compare_dpkg, compare_apk, compare_rpm, compare_pep440, compare_semver, compare_maven,
                                 compare_gem, compare_composer, compare_nuget, compare_cargo])
def test_digit_runs_past_int_limits_and_lookalike_digits(cmp) -> None:  # type: ignore[no-untyped-def]
    huge = "1." + "9" * 5000
    assert cmp(huge, "1.9") > 0
    assert cmp("1.9", huge) < 0
    assert cmp(huge, huge) == 0
    for odd in ("1.²", "²:1", "1.٣"):
        assert isinstance(cmp(odd, "1.0"), int)


def test_digit_runs_compare_by_value_without_int() -> None:
    assert compare_dpkg("1.0010", "1.9") > 0
    assert compare_dpkg("1:" + "0" * 4000 + "2", "2:1") == 0 - compare_dpkg("2:1", "1:" + "0" * 4000 + "2")
    assert compare_apk("1.10", "1.9") > 0
    assert compare_semver("1.10.0", "1.9.0") > 0
    assert compare_rpm("2:" + "9" * 5000, "3:1") < 0


def test_version_problem_and_checked_compare() -> None:
    assert version_problem("Debian:12", "2.38.1-5+deb12u1") is None
    assert "not printable ASCII" in (version_problem("PyPI", "1.²") or "")
    assert "5002 characters" in (version_problem("npm", "1." + "9" * 5000) or "")
    assert "epoch" in (version_problem("Ubuntu:22.04", "x:1.0") or "")
    assert version_problem("Rocky Linux:9", "x:1.0") is None  # rpm has no such rule
    assert "empty" in (version_problem("Alpine:v3.19", "  ") or "")
    assert compare_checked("Alpine:v3.19", "1.2-r0", "1.3-r0") < 0  # type: ignore[operator]
    bad = compare_checked("Alpine:v3.19", "1.2-r0", "1.²-r0")
    assert isinstance(bad, Incomparable) and bad.version == "1.²-r0"


@pytest.mark.parametrize(
    ("a", "op", "b"),
    [
        # maven-artifact 3.8's ComparableVersion (each checked against it in the oracle test)
        ("1.0-alpha-1", "<", "1.0"),
        ("1.0-alpha-1", "=", "1.0-a1"),
        ("1.0-alpha-2", "<", "1.0-alpha-10"),
        ("1.0-alpha", "<", "1.0-beta"),
        ("1.0-beta", "<", "1.0-milestone"),
        ("1.0-milestone", "<", "1.0-rc"),
        ("1.0-rc", "=", "1.0-cr"),
        ("1.0-rc", "<", "1.0-SNAPSHOT"),
        ("1.0-SNAPSHOT", "<", "1.0"),
        ("1.0", "=", "1.0.RELEASE"),
        ("1.0", "=", "1.0-ga"),
        ("1.0", "=", "1.0.Final"),
        ("1.0", "<", "1-sp"),
        ("1-ga", "<", "1-sp"),
        ("1-sp", "<", "1-foo"),  # unknown qualifiers after the known ones
        ("1-foo", "<", "1-1"),
        ("1.0", "<", "1.0-1"),
        ("1.0-1", "=", "1-1"),
        ("1.0.CR1", "<", "1.0-1"),  # ".X1" reads as "-X1"
        ("2.0", "<", "2.0-0.1"),  # the whole sub-list counts, not its first item
        ("2.14.1", "<", "2.15.0"),
        ("9.4.9.v20180320", "<", "9.4.51.v20230217"),
        ("3.0.0-M5", "<", "3.0.0-M10"),
    ],
)
def test_maven_known_pairs(a: str, op: str, b: str) -> None:
    _check(compare_maven, a, op, b)


@pytest.mark.parametrize(
    ("a", "op", "b"),
    [
        ("1.0.a", "<", "1.0"),  # a letter makes a pre-release
        ("1.0.a", "<", "1.0.b"),
        ("1.0.rc1", "<", "1.0"),
        ("1.0", "=", "1.0.0"),
        ("1.0.0.1", ">", "1.0"),
        ("1.0-1", "<", "1.0"),  # "-" reads as ".pre."
        ("1.0-1", "=", "1.0.pre.1"),
        ("5.2.4.3", ">", "5.2.4.2"),
        ("2.0.0.beta.2", "<", "2.0.0.beta.10"),
        ("1.0.A", "<", "1.0.a"),  # text compares by bytes
        ("", "=", "0"),
    ],
)
def test_gem_known_pairs(a: str, op: str, b: str) -> None:
    _check(compare_gem, a, op, b)


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        ("1.0", "1.0.0.0"),
        ("v1.0.0", "1.0.0.0"),
        ("1.0.0-beta2", "1.0.0.0-beta2"),
        ("1.0.0-b.2", "1.0.0.0-beta2"),
        ("1.0.0-RC1", "1.0.0.0-RC1"),
        ("1.0.0-rc1", "1.0.0.0-RC1"),
        ("1.0.0-pl1", "1.0.0.0-patch1"),
        ("1.0.0-stable", "1.0.0.0"),
        ("1.0.0-beta2-dev", "1.0.0.0-beta2-dev"),
        ("1.0.0+build.5", "1.0.0.0"),
        ("1.0.0 as 2.0.0", "1.0.0.0"),
        ("1.0.0@beta", "1.0.0.0"),
        ("1.x-dev", "1.9999999.9999999.9999999-dev"),
        ("2010-01-02", "2010.01.02"),
        ("dev-master", "dev-master"),
        ("master", "dev-master"),
        ("foo", None),
        ("1.0.0-gamma", None),
        ("1.0.0.0.0", None),
        ("100000.0", "100000.0"),  # read as a date
    ],
)
def test_composer_normalisation(raw: str, normal: str | None) -> None:
    assert composer_normalize(raw) == normal


def test_composer_order_and_branches() -> None:
    chain = ["1.0.0-dev", "1.0.0-alpha1", "1.0.0-beta1", "1.0.0-beta2", "1.0.0-RC1", "1.0.0", "1.0.0-p1", "1.0.1"]
    for lower, higher in itertools.pairwise(chain):
        _check(compare_composer, lower, "<", higher)
    _check(compare_composer, "v1.0", "=", "1.0.0.0")
    _check(compare_composer, "1.0.0-b2", "=", "1.0.0-beta2")
    assert "development branch" in (version_problem("Packagist", "dev-main") or "")
    assert "not a Composer version" in (version_problem("Packagist", "1.0-gamma") or "")
    assert version_problem("Packagist", "v2.1.0") is None
    # PHP's own version_compare, quirks included ("1" < "1.0", "1.0." < "1.0.").
    assert php_version_compare("1", "1.0") < 0
    assert php_version_compare("1.0rc1", "1.0") < 0
    assert php_version_compare("1.0.", "1.0.") < 0
    assert php_version_compare("1.0-dev", "1.0-alpha") < 0


def test_cargo_is_strict_semver_with_spec_precedence() -> None:
    # The precedence example of semver.org, section 11.
    chain = ["1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2", "1.0.0-beta.11",
             "1.0.0-rc.1", "1.0.0"]
    for lower, higher in itertools.pairwise(chain):
        _check(compare_cargo, lower, "<", higher)
    _check(compare_cargo, "1.0.0+build.1", "=", "1.0.0+build.2")  # metadata has no precedence
    _check(compare_cargo, "2.0.0", ">", "1.99.99")
    bad_versions = ("1.2", "v1.2.3", "01.0.0", "1.0.0-01", "1.0.0-", "1.0.0+", "=1.0.0", "1.0.0.0",
                    "18446744073709551616.0.0")
    for bad in bad_versions:
        assert "SemVer" in (version_problem("crates.io", bad) or ""), bad
    assert version_problem("crates.io", "0.0.0-0") is None
    assert version_problem("crates.io", "18446744073709551615.0.0+x.01") is None


def test_nuget_follows_the_published_rules() -> None:
    # learn.microsoft.com "Package versioning": normalised versions and pre-release order.
    for a, b in [("1.0", "1.0.0"), ("1.0.0.0", "1.0.0"), ("1.01.1", "1.1.1"), ("1.00", "1.0.0"),
                 ("1.0.0-Beta", "1.0.0-beta"), ("1.0.0+git.abc", "1.0.0"), ("1", "1.0.0.0")]:
        _check(compare_nuget, a, "=", b)
    ordered = ["1.0.1-aaa", "1.0.1-alpha10", "1.0.1-alpha2", "1.0.1-beta", "1.0.1-open", "1.0.1-rc", "1.0.1-zzz",
               "1.0.1"]
    for lower, higher in itertools.pairwise(ordered):
        _check(compare_nuget, lower, "<", higher)
    _check(compare_nuget, "1.0.0-alpha.2", "<", "1.0.0-alpha.10")  # SemVer 2 numeric labels
    _check(compare_nuget, "1.0.0-alpha.1", "<", "1.0.0-alpha.a")
    _check(compare_nuget, "1.0.0.1", ">", "1.0.0")
    _check(compare_nuget, "4.7.2", "<", "13.0.1")
    for bad in ("1.0.0.0.0", "1.a", "", "1.0-", "2147483648.0", "v1.0"):
        assert version_problem("NuGet", bad), bad
    assert version_problem("NuGet", "2147483647.0") is None
