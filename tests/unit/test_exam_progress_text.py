"""The instructor's live progress line: checks to earn, and collateral damage apart."""

from __future__ import annotations

from tai_labs.exam.progress import Progress


def test_progress_counts_checks_to_earn_and_says_the_damage() -> None:
    assert Progress("lab1", 3, 7, 6.0, 19.0).text() == "3/7"
    assert Progress("lab1", 3, 7, 6.0, 19.0, broken=1).text() == "3/7, 1 dommage"
    assert Progress("lab1", 0, 7, 0.0, 19.0, broken=2).text() == "0/7, 2 dommages"
