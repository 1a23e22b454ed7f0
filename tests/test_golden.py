"""The Idlib tables are unchanged: every chart's table and the key figures, for three windows, are
recomputed and compared with the CSVs written by tests/golden/make_golden.py before the refactoring."""

from __future__ import annotations

import difflib
import sys
from pathlib import Path

import pytest

GOLDEN = Path(__file__).parent / "golden"
sys.path.insert(0, str(GOLDEN))

from make_golden import WINDOWS, golden_tables  # noqa: E402


@pytest.fixture(scope="module")
def computed() -> dict[str, dict[str, str]]:
    return golden_tables()


@pytest.mark.parametrize("window", list(WINDOWS))
def test_tables_equal_the_golden_csvs(computed, window):
    expected = {p.name: p.read_text(encoding="utf-8") for p in sorted((GOLDEN / window).glob("*.csv"))}
    assert sorted(computed[window]) == sorted(expected), "the set of tables changed"
    for name, text in expected.items():
        diff = "".join(difflib.unified_diff(text.splitlines(True), computed[window][name].splitlines(True),
                                            f"golden/{window}/{name}", "computed now", n=1))
        assert not diff, diff[:4000]
