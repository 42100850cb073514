"""The Maven, RubyGems and Composer comparators against each ecosystem's own implementation.

Like the dpkg oracle test: the real code decides.  Maven's ``ComparableVersion`` comes from
Debian's ``libmaven3-core-java`` (run by a tiny Java program in source-file mode, JDK from
``default-jdk-headless``), ``Gem::Version`` from Debian's ``ruby``, composer/semver's
``VersionParser`` and ``Comparator`` (and PHP's own ``version_compare``) from
``php-composer-semver`` and ``php-cli``.  Each oracle runs as one long-lived process that
answers a batch of pairs per call, so thousands of pairs take seconds.

There is no such oracle on Debian for NuGet (NuGet.Versioning is not packaged) or for the
``semver`` crate of crates.io: those comparators are checked against the published examples
in tests/unit/test_vuln_versions.py.
"""

from __future__ import annotations

import itertools
import random
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dockguard.vuln.versions import (
    compare_composer,
    compare_gem,
    compare_maven,
    composer_normalize,
    gem_valid,
    php_version_compare,
    version_problem,
)

#: Pairs checked per ecosystem in this run.
CHECKED: dict[str, int] = {"Maven": 0, "RubyGems": 0, "Packagist": 0, "php version_compare": 0}


class Oracle:
    """A child process that reads ``a<TAB>b`` lines and answers one line per pair."""

    def __init__(self, argv: list[str], cwd: Path | None = None) -> None:
        self.proc = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            encoding="utf-8", cwd=cwd,
        )

    def ask(self, pairs: list[tuple[str, str]]) -> list[list[str]]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        text = "".join(f"{a}\t{b}\n" for a, b in pairs)
        # Written from a thread: the answers may fill the pipe before the questions are all sent.
        writer = threading.Thread(target=lambda: (self.proc.stdin.write(text), self.proc.stdin.flush()))  # type: ignore[union-attr]
        writer.start()
        answers = [self.proc.stdout.readline().rstrip("\n").split("\t") for _ in pairs]
        writer.join()
        if any(a == [""] for a in answers):
            stderr = self.proc.stderr.read() if self.proc.poll() is not None and self.proc.stderr else ""
            raise AssertionError(f"oracle stopped answering: {stderr[-2000:]}")
        return answers

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


def _sign(n: int) -> int:
    return (n > 0) - (n < 0)


# --- Maven ------------------------------------------------------------------------------------

_JAVA = """
import java.io.*;
import java.nio.charset.StandardCharsets;
import org.apache.maven.artifact.versioning.ComparableVersion;

public class MavenOracle {
    public static void main(String[] args) throws IOException {
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        PrintStream out = new PrintStream(new FileOutputStream(FileDescriptor.out), true, "UTF-8");
        for (String line; (line = in.readLine()) != null; ) {
            int tab = line.indexOf('\\t');
            ComparableVersion a = new ComparableVersion(line.substring(0, tab));
            ComparableVersion b = new ComparableVersion(line.substring(tab + 1));
            out.println(Integer.signum(a.compareTo(b)));
        }
    }
}
"""


def _maven_artifact_jar() -> Path:
    import zipfile

    for jar in sorted(Path("/usr/share/java").glob("maven*-artifact*.jar")):
        with zipfile.ZipFile(jar) as zf:
            if "org/apache/maven/artifact/versioning/ComparableVersion.class" in zf.namelist():
                return jar
    raise AssertionError("maven-artifact's ComparableVersion not found: install libmaven3-core-java")


@pytest.fixture(scope="module")
def maven(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Oracle]:
    src = tmp_path_factory.mktemp("maven-oracle") / "MavenOracle.java"
    src.write_text(_JAVA)
    oracle = Oracle(["java", "-cp", str(_maven_artifact_jar()), str(src)])
    yield oracle
    oracle.close()


def _check_maven(oracle: Oracle, pairs: list[tuple[str, str]]) -> None:
    want = [int(a[0]) for a in oracle.ask(pairs)]
    wrong = [(a, b, w, compare_maven(a, b)) for (a, b), w in zip(pairs, want, strict=True)
             if _sign(compare_maven(a, b)) != w]
    CHECKED["Maven"] += len(pairs)
    assert not wrong, wrong[:10]


MAVEN_TRICKY = [
    "1", "1.0", "1.0.0", "1-0", "1.0-1", "1-1", "1.1", "1.0.1", "1.0-alpha-1", "1.0-alpha1", "1.0-a1", "1.0a1",
    "1.0-alpha", "1.0-beta", "1.0-b2", "1.0-milestone-1", "1.0-m1", "1.0-rc1", "1.0-RC1", "1.0-cr1", "1.0.CR1",
    "1.0-SNAPSHOT", "1.0.RELEASE", "1.0.Final", "1.0-final", "1.0-ga", "1.0.GA", "1-sp", "1-ga", "1-sp1",
    "1.0-sp", "1.0.sp1", "1.0-foo", "1.0-bar", "1.0.foo", "1.0-1-foo", "1.0-xyz1", "1.0-1.1", "2.0", "2.0.0.0",
    "2.0-1", "2.0.a", "2.0.0-a", "2.0-0.1", "1.0-alpha-10", "1.0-alpha-2", "1.0.0.Beta3", "5.3.18",
    "2.14.1", "2.15.0", "2.0-beta9", "2.17.1", "2.3.2", "2.12.4", "1.2.3-20230101.120000-1", "0", "0.0.1",
    "1..1", "1.-1", "-1", "1-", "1.", "a", "a1", "1a", "1-a", "1.a1b2", "1.0.0-dev", "1.0.0-pre", "1.0.0-SP3",
    "9.4.51.v20230217", "9.4.9.v20180320", "3.0.0-M5", "3.0.0-M10", "1.0.0-RC-1", "1.0.0.RC.1",
]


def test_maven_tricky_pairs_agree_with_comparable_version(maven: Oracle) -> None:
    _check_maven(maven, list(itertools.product(MAVEN_TRICKY, MAVEN_TRICKY)))


def _maven_repo_versions() -> list[str]:
    # Every version Debian's Java packages installed a POM for (real Maven Central versions).
    found = {p.parent.name for p in Path("/usr/share/maven-repo").rglob("*.pom")}
    return sorted(found)


def test_maven_installed_artifact_versions_agree(maven: Oracle) -> None:
    versions = _maven_repo_versions()
    assert len(versions) > 20
    rnd = random.Random(7)
    pairs = [(rnd.choice(versions), rnd.choice(versions)) for _ in range(1500)]
    pairs += [(v, t) for v in versions for t in ("1.0", "2.0-SNAPSHOT", "3.8.7")]
    _check_maven(maven, pairs)


_maven_token = st.sampled_from(
    ["0", "1", "2", "10", "01", "007", "alpha", "beta", "a", "b", "m", "rc", "cr", "snapshot", "sp", "ga", "final",
     "release", "milestone", "foo", "x", "RELEASE", "SNAPSHOT", "Final", "Alpha", "z9"]
)
_maven_version = st.lists(st.tuples(_maven_token, st.sampled_from([".", "-", "", "."])), min_size=1, max_size=6).map(
    lambda parts: "".join(t + s for t, s in parts).rstrip(".-") or "0"
)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.lists(st.tuples(_maven_version, _maven_version), min_size=120, max_size=120))
def test_maven_generated_pairs_agree(maven: Oracle, pairs: list[tuple[str, str]]) -> None:
    near = [(a, a + suffix) for (a, _), suffix in zip(pairs, itertools.cycle(["-1", ".0", "-sp", "-a1", "-SNAPSHOT"]))]
    _check_maven(maven, pairs + near[:100])


# --- RubyGems ---------------------------------------------------------------------------------

_RUBY = r"""
STDOUT.sync = true
STDIN.each_line do |line|
  a, b = line.chomp("\n").split("\t", -1)
  ok_a = Gem::Version.correct?(a) ? 1 : 0
  ok_b = Gem::Version.correct?(b) ? 1 : 0
  cmp = (ok_a == 1 && ok_b == 1) ? (Gem::Version.new(a) <=> Gem::Version.new(b)) : "E"
  puts [ok_a, ok_b, cmp].join("\t")
end
"""


@pytest.fixture(scope="module")
def ruby() -> Iterator[Oracle]:
    oracle = Oracle(["ruby", "-e", _RUBY])
    yield oracle
    oracle.close()


def _check_gem(oracle: Oracle, pairs: list[tuple[str, str]]) -> None:
    wrong = []
    for (a, b), (ok_a, ok_b, cmp) in zip(pairs, oracle.ask(pairs), strict=True):
        for v, ok in ((a, ok_a), (b, ok_b)):
            if gem_valid(v) != (ok == "1") or (version_problem("RubyGems", v) is None and ok != "1"):
                wrong.append((v, "validity", ok))
        if cmp != "E" and _sign(compare_gem(a, b)) != int(cmp):
            wrong.append((a, b, f"{cmp} but {compare_gem(a, b)}"))
    CHECKED["RubyGems"] += len(pairs)
    assert not wrong, wrong[:10]


GEM_TRICKY = [
    "1", "1.0", "1.0.0", "1.0.a", "1.0.a1", "1.0.b", "1.0.rc1", "1.0.0.rc1", "1.0-1", "1.0.pre", "1.0-pre",
    "1.0.0.pre.1", "1.a", "1.0.A", "1.0.0.0.1", "0.9", "1.1", "1.1.a", "2.0.0.beta.1", "2.0.0.beta.10",
    "2.0.0.beta.2", "5.2.4.3", "5.2.4.2", "6.1.7.7", "7.0.8.1", "1.0.0-a", "1.0.0.a.0", "1.0.0.a.0.1",
    "1..0", "1.0.", "", " ", "a", "1_0", "-1", "1.0 ", " 1.0", "1.0a", "1.a1", "1.0.a.b", "1.0.b.a", "10.0",
]


def test_gem_tricky_pairs_agree_with_gem_version(ruby: Oracle) -> None:
    _check_gem(ruby, list(itertools.product(GEM_TRICKY, GEM_TRICKY)))


def _installed_gem_versions() -> list[str]:
    roots = [Path("/usr/share/rubygems-integration"), Path("/usr/lib/ruby/gems"), Path("/var/lib/gems")]
    found = set()
    for root in roots:
        for spec in root.rglob("*.gemspec") if root.is_dir() else ():
            name = spec.name.removesuffix(".gemspec")
            found.add(name.rpartition("-")[2])
    return sorted(found)


def test_gem_installed_versions_agree(ruby: Oracle) -> None:
    versions = _installed_gem_versions()
    assert len(versions) > 20
    pairs = list(itertools.product(versions, versions))
    _check_gem(ruby, pairs)


_gem_token = st.sampled_from(["0", "1", "2", "10", "01", "a", "b", "rc", "pre", "beta", "A", "z", "1a", "a1"])
_gem_version = st.one_of(
    st.lists(st.tuples(_gem_token, st.sampled_from([".", "-", ".", ""])), min_size=1, max_size=6).map(
        lambda parts: "".join(t + s for t, s in parts)
    ),
    st.from_regex(r"\A[0-9]{1,2}(\.[0-9a-c]{1,2}){0,4}(-[0-9a-c]{1,3})?\Z"),
)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.lists(st.tuples(_gem_version, _gem_version), min_size=120, max_size=120))
def test_gem_generated_pairs_agree(ruby: Oracle, pairs: list[tuple[str, str]]) -> None:
    near = [(a, a + suffix) for (a, _), suffix in zip(pairs, itertools.cycle([".0", ".a", ".1", "-1", ".pre"]))]
    _check_gem(ruby, pairs + near[:100])


# --- Composer ---------------------------------------------------------------------------------

_PHP = r"""<?php
require '/usr/share/php/Composer/Semver/autoload.php';
use Composer\Semver\Comparator;
use Composer\Semver\VersionParser;
$parser = new VersionParser();
function norm($parser, $v) {
    try { return $parser->normalize($v); } catch (\UnexpectedValueException $e) { return "!"; }
}
while (($line = fgets(STDIN)) !== false) {
    [$a, $b] = explode("\t", rtrim($line, "\n"), 2);
    $na = norm($parser, $a);
    $nb = norm($parser, $b);
    $cmp = "E";
    if ($na !== "!" && $nb !== "!") {
        $cmp = Comparator::lessThan($na, $nb) ? -1 : (Comparator::equalTo($na, $nb) ? 0
            : (Comparator::greaterThan($na, $nb) ? 1 : "X"));
    }
    echo $na, "\t", $nb, "\t", $cmp, "\t", version_compare($a, $b), "\n";
}
"""


@pytest.fixture(scope="module")
def php(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Oracle]:
    script = tmp_path_factory.mktemp("php-oracle") / "oracle.php"
    script.write_text(_PHP)
    oracle = Oracle(["php", "-n", str(script)])
    yield oracle
    oracle.close()


def _check_composer(oracle: Oracle, pairs: list[tuple[str, str]]) -> None:
    wrong: list[object] = []
    for (a, b), (na, nb, cmp, raw) in zip(pairs, oracle.ask(pairs), strict=True):
        for v, n in ((a, na), (b, nb)):
            mine = composer_normalize(v)
            if (mine or "!") != n:
                wrong.append(("normalize", v, n, mine))
            problem = version_problem("Packagist", v)
            if v.strip() == v and (problem is None) != (n != "!" and not n.startswith("dev-")):
                wrong.append(("problem", v, n, problem))
        if _sign(php_version_compare(a, b)) != int(raw):
            wrong.append(("version_compare", a, b, raw, php_version_compare(a, b)))
        branch = na.startswith("dev-") or nb.startswith("dev-")
        if cmp != "E" and not branch and _sign(compare_composer(a, b)) != int(cmp):
            wrong.append(("compare", a, b, cmp, compare_composer(a, b)))
    CHECKED["Packagist"] += len(pairs)
    CHECKED["php version_compare"] += len(pairs)
    assert not wrong, wrong[:10]


COMPOSER_TRICKY = [
    "1.0.0", "1.0", "1", "v1.0.0", "V1.0", "1.0.0.0", "1.0.0-beta2", "1.0.0-RC1", "1.0.0-rc1", "1.0.0-RC",
    "1.0.0-alpha", "1.0.0-a1", "1.0.0-b", "1.0.0-beta.2", "1.0.0-beta-2", "1.0.0-patch1", "1.0.0-pl1", "1.0.0-p1",
    "1.0.0-stable", "1.0.0-STABLE", "1.0.0-dev", "1.0.0-beta2-dev", "1.0.x-dev", "1.x-dev", "dev-master",
    "dev-feature/x", "master", "1.0.0+build.5", "1.0.0 as 2.0.0", "1.0.0@beta", "1.0.0-beta@dev",
    "20100102", "2010-01-02", "2010-01-02-10-20-30.5", "2010.01.02", "1.0.0-beta.2.1", "1.0.0.1", "1.0.0.10",
    "1.0.0-alpha1", "1.0.0-alpha10", "1.0.0-alpha2", "5.4.47", "2.8.52", "3.4.0-BETA1", "4.4.0-RC2",
    "1.2.3.4.5", "1.0.0-gamma", "1.0-", "-1.0", "", "foo", "1.0.0-beta.2-dev", "99999.0", "100000.0",
    "1.0.0-RC1-dev", "2.0.0-p", "1.0.0-beta-dev", "1.0.0.x-dev", "1.0.*-dev", "1.0.0a", "1.0.0b1", "1.0.0rc1",
]


def test_composer_tricky_pairs_agree_with_composer_semver(php: Oracle) -> None:
    _check_composer(php, list(itertools.product(COMPOSER_TRICKY, COMPOSER_TRICKY)))


_composer_version = st.one_of(
    st.from_regex(
        r"\A[vV]?[0-9]{1,3}(\.[0-9]{1,3}){0,4}([-._]?(alpha|beta|a|b|RC|rc|patch|pl|p|stable|dev|x)[.-]?[0-9]{0,2})?"
        r"([-.]?dev)?\Z"
    ),
    st.from_regex(r"\A[0-9]{4}[-.]?[0-9]{2}[-.]?[0-9]{2}([-.][0-9]{1,3})?\Z"),
    st.text("0123456789.-_+abcdeprvx", min_size=1, max_size=12),
)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.lists(st.tuples(_composer_version, _composer_version), min_size=120, max_size=120))
def test_composer_generated_pairs_agree(php: Oracle, pairs: list[tuple[str, str]]) -> None:
    near = [(a, a + suffix) for (a, _), suffix in zip(pairs, itertools.cycle(["-dev", ".0", "-beta1", "-p1", "1"]))]
    _check_composer(php, pairs + near[:100])
