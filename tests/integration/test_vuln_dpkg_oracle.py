"""The Debian comparator against the real oracle, ``dpkg --compare-versions``."""

from __future__ import annotations

import itertools
import random
import subprocess
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dockguard.vuln.versions import compare_dpkg

_SCRIPT = r"""
while IFS=' ' read -r a b; do
  if dpkg --compare-versions "$a" lt "$b"; then echo '<'
  elif dpkg --compare-versions "$a" eq "$b"; then echo '='
  else echo '>'; fi
done
"""


def dpkg_oracle(pairs: list[tuple[str, str]]) -> list[int]:
    """dpkg's verdict on every pair, in one shell run."""
    text = "".join(f"{a} {b}\n" for a, b in pairs)
    out = subprocess.run(["bash", "-c", _SCRIPT], input=text, capture_output=True, text=True, check=True).stdout.split()
    assert len(out) == len(pairs)
    return [{"<": -1, "=": 0, ">": 1}[o] for o in out]


def _sign(n: int) -> int:
    return (n > 0) - (n < 0)


def _assert_agrees(pairs: list[tuple[str, str]]) -> None:
    want = dpkg_oracle(pairs)
    wrong = [(a, b, w) for (a, b), w in zip(pairs, want, strict=True) if _sign(compare_dpkg(a, b)) != w]
    assert not wrong, wrong[:10]


_upstream_chars = "0123456789abcz.+~"
_revision_chars = "0123456789abz.+~"
_version = st.builds(
    lambda epoch, first, up, rev: f"{epoch}{first}{up}{rev}",
    st.sampled_from(["", "", "", "0:", "1:", "2:", "10:"]),
    st.sampled_from("0123456789"),
    st.text(_upstream_chars + "-", max_size=8).filter(lambda s: not s.endswith("-")),
    st.one_of(st.just(""), st.text(_revision_chars, min_size=1, max_size=6).map(lambda r: "-" + r)),
)


def _related(draw_base: str, rnd: random.Random) -> str:
    """A version close to `draw_base`, so that pairs exercise the subtle cases."""
    edits = ["~", "~~", "+b1", "a", "0", ".0", "-1", "~rc1", "+deb12u1", "1"]
    return draw_base + rnd.choice(edits)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(_version, _version), min_size=150, max_size=150), st.randoms())
def test_generated_pairs_agree_with_dpkg(pairs: list[tuple[str, str]], rnd: random.Random) -> None:
    near = [(a, _related(a, rnd)) for a, _ in pairs[:100]]
    _assert_agrees(pairs + near)


def _installed_versions() -> list[str]:
    status = Path("/var/lib/dpkg/status")
    versions = {
        line.split(":", 1)[1].strip()
        for line in status.read_text(errors="replace").splitlines()
        if line.startswith("Version:")
    }
    return sorted(versions)


def test_real_installed_versions_agree_with_dpkg() -> None:
    versions = _installed_versions()
    assert len(versions) > 50
    rnd = random.Random(1234)
    pairs = [(rnd.choice(versions), rnd.choice(versions)) for _ in range(1200)]
    pairs += [(v, w) for v, w in itertools.pairwise(versions)]
    _assert_agrees(pairs)
    # Sorting every installed version gives dpkg's order.
    import functools

    ordered = sorted(versions, key=functools.cmp_to_key(compare_dpkg))
    _assert_agrees(list(itertools.pairwise(ordered)))
    assert all(w <= 0 for w in dpkg_oracle(list(itertools.pairwise(ordered))))
