"""The test tree itself: pytest imports test modules by basename (no packages), so two tiers
holding the same file name stop the whole run at collection."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def test_every_test_module_has_a_basename_of_its_own() -> None:
    names = Counter(p.name for p in TESTS.rglob("test_*.py"))
    assert len(names) > 50  # the tree was found
    assert [n for n, count in names.items() if count > 1] == []
