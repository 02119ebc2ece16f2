"""Grading an existing lab: run the checks over its sessions and keep the report.

Every report is also written to the lab's folder (``grades/<started>.json``), so a jury can
see every grading of the lab, not only the last one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from tai_labs.grading.result import CheckResult, GradeReport
from tai_labs.grading.runner import grade
from tai_labs.lab.runtime import Lab, open_lab
from tai_labs.private_files import private_folder, write_private


def exam_start(lab: Lab) -> datetime | None:
    """When the lab was handed over: the end of `up`'s last step."""
    steps = [s for s in lab.store.steps(lab.id) if s.status == "done" and s.finished]
    if not steps:
        return None
    return datetime.fromtimestamp(max(s.finished for s in steps if s.finished), UTC)


def record_grade(lab: Lab, report: GradeReport) -> Path:
    """Keep the report in the lab's grade history; return the file."""
    # Owner-only: a VM lab's folder can be traversed by others (QEMU), and a grade names the
    # candidate and what they missed.
    history = private_folder(lab.folder / "grades")
    path = history / f"{report.started.strftime('%Y%m%dT%H%M%S')}.json"
    # The same bytes as `grade --format json` (reports.grading.to_json).
    write_private(path, report.model_dump_json(indent=2) + "\n")
    return path


def grade_lab(
    lab_id: str,
    *,
    only: Sequence[str] = (),
    threshold: float = 0.5,
    on_result: Callable[[CheckResult], None] | None = None,
) -> GradeReport:
    """Grade a lab by looking at its real end state; the report is also kept in its history."""
    lab = open_lab(lab_id)
    with lab.sessions:
        report = grade(
            lab.loaded.scenario,
            lab.sessions,
            lab=lab.id,
            candidate=lab.record.candidate,
            seed=lab.record.seed,
            only=only,
            threshold=threshold,
            exam_started=exam_start(lab),
            on_result=on_result,
        )
    record_grade(lab, report)
    return report
