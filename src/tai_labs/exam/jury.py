"""What the jury downloads for a session: the grid and each candidate's reports, as files.

The same inputs as `tai-labs session report` (each lab's latest grade, the practice
records' hint costs), in one place for every face that hands them out (the portal's
instructor pages). A candidate's reports go out with every lab secret value blanked, as
in `session export`: a command's evidence may quote what it printed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from tai_labs.exam.grid import Grid, Outcome, build_grid
from tai_labs.exam.model import Session
from tai_labs.exam.practice import PracticeRecord, read_records
from tai_labs.exam.results import candidate_labs, latest_outcomes
from tai_labs.lab.store import LabRecord, Store


@dataclass(frozen=True)
class JuryInputs:
    session: Session
    #: ``outcomes[login][scenario]``: each lab's latest grade, or why it has none.
    outcomes: dict[str, dict[str, Outcome]]
    labs: dict[tuple[str, str], LabRecord]
    #: The candidates' practice records (a practice session), else None.
    practice: dict[str, PracticeRecord] | None


def jury_inputs(session: Session, store: Store | None = None) -> JuryInputs:
    practice = read_records(session) if session.practice else None
    return JuryInputs(
        session, latest_outcomes(session, store), candidate_labs(session, store), practice
    )


def jury_grid(inputs: JuryInputs, *, generated: datetime) -> Grid:
    """The grid, hints' cost deducted in a practice session (as `session report` does)."""
    costs = None
    if inputs.practice is not None:
        costs = {
            login: {sc.id: rec.hint_cost(sc.id) for sc in inputs.session.scenarios}
            for login, rec in inputs.practice.items()
        }
    return build_grid(inputs.session, inputs.outcomes, generated=generated, hint_costs=costs)
