"""The instructor's live view: which checks pass now in a candidate's running lab.

Read-only: the checks only read the nodes (as ``tai-labs grade`` reads them), no restart
phase, no change audit, and nothing is written to the lab's grade history (a progress
glance is not a grading the jury should find there). Never shown to candidates.
"""

from __future__ import annotations

from dataclasses import dataclass

from tai_labs.grading.model import Verdict
from tai_labs.lab.grading import grade_lab


@dataclass(frozen=True)
class Progress:
    lab: str
    #: Checks to earn that pass now, of ``checks`` (invariants hold by default: not progress).
    passing: int
    checks: int
    points: float
    max_points: float
    #: Invariants broken now (collateral damage).
    broken: int = 0

    def text(self) -> str:
        """``3/7``, and the damage when there is some: ``3/7, 1 dommage``."""
        damage = f", {self.broken} dommage{'s' if self.broken > 1 else ''}" if self.broken else ""
        return f"{self.passing}/{self.checks}{damage}"


def lab_progress(lab_id: str) -> Progress:
    report = grade_lab(lab_id, audit=False, keep=False)
    earned = [c for c in report.checks if not c.invariant]
    passing = sum(1 for c in earned if c.verdict is Verdict.PASS)
    broken = sum(1 for c in report.checks if c.invariant and c.verdict is Verdict.FAIL)
    return Progress(lab_id, passing, len(earned), report.points, report.max_points, broken)
