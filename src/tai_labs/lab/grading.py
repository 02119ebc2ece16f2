"""Grading an existing lab: run the checks over its sessions and keep the report.

Every report is also written to the lab's folder (``grades/<started>.json``), so a jury can
see every grading of the lab, not only the last one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from tai_labs.grading.identity import Identities, record_identities
from tai_labs.grading.result import CheckResult, GradeReport
from tai_labs.grading.runner import grade
from tai_labs.lab.audit import audit_lab
from tai_labs.lab.runtime import Lab, open_lab
from tai_labs.private_files import private_folder, write_private


def exam_start(lab: Lab) -> datetime | None:
    """When the lab was handed over: the end of `up`'s last step."""
    steps = [s for s in lab.store.steps(lab.id) if s.status == "done" and s.finished]
    if not steps:
        return None
    return datetime.fromtimestamp(max(s.finished for s in steps if s.finished), UTC)


#: The exam-start identities of the checks' objects, in the lab's folder (owner-only: the host's
#: record, out of the candidate's reach like every file the grader trusts).
IDENTITIES_FILE = "identities.json"


def record_lab_identities(lab: Lab, on_unrecorded: Callable[[str, str], None]) -> Identities:
    """Record what the checks' objects are now (at exam start) in the lab's folder."""
    with lab.sessions:
        record = record_identities(lab.loaded.scenario.checks, lab.sessions, on_unrecorded)
    write_private(lab.folder / IDENTITIES_FILE, record.model_dump_json(indent=2) + "\n")
    return record


def lab_identities(lab: Lab) -> Identities | None:
    """The lab's exam-start identities; None for a lab brought up before they were recorded."""
    return lab.read_record(IDENTITIES_FILE, Identities, "the exam-start identities")


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
    audit: bool = True,
    keep: bool = True,
) -> GradeReport:
    """Grade a lab by looking at its real end state; the report is also kept in its history.

    ``audit``: also list what else changed since exam start (``lab.audit``; never scored).
    ``keep``: False for a glance that is not a grading (nothing in the lab's history)."""
    lab = open_lab(lab_id)
    identities = lab_identities(lab)
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
            identities=identities,
            on_result=on_result,
        )
        if audit:
            read = [(e.node, e.command) for c in report.checks for e in c.evidence]
            report = report.model_copy(update={"changes": audit_lab(lab, identities, read)})
    if keep:
        record_grade(lab, report)
    return report
