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
    passing: int
    checks: int
    points: float
    max_points: float


def lab_progress(lab_id: str) -> Progress:
    report = grade_lab(lab_id, audit=False, keep=False)
    passing = sum(1 for c in report.checks if c.verdict is Verdict.PASS)
    return Progress(lab_id, passing, len(report.checks), report.points, report.max_points)
