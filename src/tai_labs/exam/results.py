"""Which grade report of each candidate's lab goes in the jury grid, read from the host.

A candidate's lab of a scenario is the lab recorded with their login, that scenario and
their drawn seed (``tai-labs up SCENARIO --candidate LOGIN --seed SEED``). Its grade is the
latest one kept in the lab's grade history (``lab.grading.record_grade``: every grading
writes there, the one at the deadline included). A lab that does not exist, failed to
build or was never graded is a ``MissingLab`` saying so.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from tai_labs.exam.grid import MissingLab, Outcome
from tai_labs.exam.model import Session
from tai_labs.grading.result import GradeReport
from tai_labs.lab.runtime import lab_folder
from tai_labs.lab.store import LabRecord, Store


def candidate_labs(
    session: Session, store: Store | None = None
) -> dict[tuple[str, str], LabRecord]:
    """``(login, scenario) -> lab`` for the labs of this session that exist on this host."""
    wanted = {
        (cand.login, sc.id, cand.draw(sc.id).seed): (cand.login, sc.id)
        for cand in session.candidates
        for sc in session.scenarios
    }
    found: dict[tuple[str, str], LabRecord] = {}
    for record in sorted((store or Store()).labs(), key=lambda r: r.updated):
        key = wanted.get((record.candidate, record.scenario, record.seed))
        if key is not None:
            found[key] = record  # the latest updated wins, should there be two
    return found


def grade_files(lab_id: str) -> list[Path]:
    """The lab's kept grade reports, oldest first (their names are their start times)."""
    folder = lab_folder(lab_id) / "grades"
    return sorted(folder.glob("*.json")) if folder.is_dir() else []


def latest_grade(record: LabRecord) -> Outcome:
    files = grade_files(record.id)
    if not files:
        if record.status != "ready":
            return MissingLab(scenario=record.scenario, reason=f"lab en échec ({record.status})")
        return MissingLab(scenario=record.scenario, reason="lab non noté")
    try:
        return GradeReport.model_validate_json(files[-1].read_text(encoding="utf-8"))
    except (OSError, ValidationError):
        return MissingLab(scenario=record.scenario, reason=f"note illisible ({files[-1].name})")


def latest_outcomes(session: Session, store: Store | None = None) -> dict[str, dict[str, Outcome]]:
    """``outcomes[login][scenario]`` for ``grid.build_grid``: each lab's latest grade."""
    labs = candidate_labs(session, store)
    outcomes: dict[str, dict[str, Outcome]] = {}
    for cand in session.candidates:
        mine = outcomes.setdefault(cand.login, {})
        for sc in session.scenarios:
            record = labs.get((cand.login, sc.id))
            if record is None:
                mine[sc.id] = MissingLab(scenario=sc.id, reason="lab absent")
            else:
                mine[sc.id] = latest_grade(record)
    return outcomes
