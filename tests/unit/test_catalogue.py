"""The CIS catalogue: 117 unique checks with complete metadata."""

from __future__ import annotations

import re
from collections import Counter

from dockguard.checks.catalogue import SECTIONS, catalogue, select


def test_catalogue_has_117_unique_checks_with_metadata() -> None:
    checks = catalogue()
    ids = [c.meta.id for c in checks]
    assert len(ids) == 117
    assert len(set(ids)) == 117
    per_section = Counter(c.meta.section for c in checks)
    assert per_section == {"1": 20, "2": 18, "3": 24, "4": 12, "5": 32, "6": 2, "7": 9}
    for c in checks:
        m = c.meta
        assert re.fullmatch(r"\d+(\.\d+){1,2}", m.id), m.id
        assert m.title.startswith("Ensure ") or m.title.startswith("Run ") or m.title.startswith("Enable "), m.title
        assert m.level in (1, 2), m.id
        assert len(m.remediation) > 20, m.id
        assert m.remediation_impact, m.id
        assert m.section in SECTIONS
        assert m.automated or not m.scored, m.id
        assert m.references, m.id
        if m.automated:
            assert c.fn is not None, f"{m.id} is automated but has no function"


def test_ids_are_in_cis_order() -> None:
    ids = [tuple(int(p) for p in c.meta.id.split(".")) for c in catalogue()]
    assert ids == sorted(ids)


def test_level_selection_is_real() -> None:
    # docker-bench's level groups are empty (`-c cis_level1` runs only 6.1 and 6.2)
    level1 = select(catalogue(), level=1)
    assert 60 < len(level1) < 117
    assert all(c.meta.level == 1 for c in level1)
    assert len(select(catalogue(), level=2)) == 117
