"""Version orderings: known pairs from each ecosystem's rules plus ordering properties."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dockguard.vuln.versions import (
    Incomparable,
    compare,
    compare_apk,
    compare_checked,
    compare_dpkg,
    compare_pep440,
    compare_rpm,
    compare_semver,
    rpmvercmp,
    version_problem,
)


def _check(cmp, a: str, op: str, b: str) -> None:
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


@settings(max_examples=300)
@given(st.sampled_from([compare_dpkg, compare_apk, compare_semver, compare_rpm]), st.data())
def test_orderings_are_antisymmetric_and_transitive(cmp, data) -> None:  # type: ignore[no-untyped-def]
    strat = {
        compare_dpkg: _dpkg_versions,
        compare_apk: _apk_versions,
        compare_semver: _semver_versions,
        compare_rpm: _rpm_versions,
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


@pytest.mark.parametrize("cmp", [compare_dpkg, compare_apk, compare_rpm, compare_pep440, compare_semver])
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
