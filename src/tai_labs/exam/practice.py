"""Practice sessions: what a candidate may do for themselves, and the record of it.

In a practice session (``Session.practice``) a candidate may check their own work (a
grading on demand, of which they see per check only the verdict and the scenario's message
for it, never the evidence, the solution or why a grader decided), reveal the next hint of
a scenario (its cost is deducted from that scenario's points), and put their lab back as
they got it. Each is recorded with its time in the candidate's practice record, which the
jury report and the grid show. An exam session refuses all three.

These are the library calls the web portal makes; the CLI (`session check|hint|reset`) is
another face on them. The record is one owner-only JSON file per candidate under the data
folder (``practice/SESSION/LOGIN.json``), changed under a lock so two calls at once both
count.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from tai_labs.errors import TaiLabsError, UsageError
from tai_labs.exam.model import Session
from tai_labs.exam.results import candidate_labs
from tai_labs.exam.store import ExamStore
from tai_labs.grading.model import Verdict
from tai_labs.grading.result import GradeReport
from tai_labs.lab.grading import grade_lab
from tai_labs.lab.runtime import open_lab
from tai_labs.lab.snapshots import reset_lab
from tai_labs.lab.store import LabRecord
from tai_labs.locations import locations
from tai_labs.private_files import create_private, private_folder, write_private
from tai_labs.scenario.model import Messages

#: What a candidate reads for a check that could not be judged: nothing of why (the reason
#: names commands and nodes of the grader's own).
NOT_JUDGED_FR = {
    Verdict.ERROR: "Ce contrôle n'a pas pu être évalué pour l'instant : réessayez plus tard.",
    Verdict.SKIPPED: "Non évalué : un contrôle dont il dépend échoue encore.",
}


class PracticeOnlyError(UsageError):
    def __init__(self, session: str, what: str) -> None:
        super().__init__(
            f"session {session} is an exam session: {what} is for practice sessions only",
            hint="candidates check, reset and read hints only in a session created with "
            "--practice; an exam is graded at its end",
        )


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CheckFeedback(_Model):
    """One check as the candidate sees it."""

    id: str
    title: str
    verdict: Verdict
    message: str


class CheckRun(_Model):
    scenario: str
    lab: str
    at: datetime
    points: float
    max_points: float
    checks: tuple[CheckFeedback, ...]


class Attempt(_Model):
    """A check of their work the candidate ran, as recorded."""

    at: datetime
    scenario: str
    lab: str
    points: float
    max_points: float
    passed: int
    total: int


class HintTaken(_Model):
    at: datetime
    scenario: str
    #: 1 for the scenario's first hint.
    number: int = Field(ge=1)
    cost: float


class ResetDone(_Model):
    at: datetime
    scenario: str
    lab: str


class PracticeRecord(_Model):
    session: str
    login: str
    attempts: tuple[Attempt, ...] = ()
    hints: tuple[HintTaken, ...] = ()
    resets: tuple[ResetDone, ...] = ()

    def hint_cost(self, scenario: str) -> float:
        return sum(h.cost for h in self.hints if h.scenario == scenario)

    def of(self, scenario: str) -> PracticeRecord:
        """The record limited to one scenario (for that scenario's report)."""
        return self.model_copy(
            update={
                "attempts": tuple(a for a in self.attempts if a.scenario == scenario),
                "hints": tuple(h for h in self.hints if h.scenario == scenario),
                "resets": tuple(r for r in self.resets if r.scenario == scenario),
            }
        )


class HintReveal(_Model):
    scenario: str
    number: int
    of: int
    text: str
    cost: float
    #: Everything this candidate's hints of the scenario have cost, this one included.
    total_cost: float


def record_path(session: str, login: str) -> Path:
    return locations().data / "practice" / session / f"{login}.json"


def read_record(session: str, login: str) -> PracticeRecord:
    path = record_path(session, login)
    if not path.exists():
        return PracticeRecord(session=session, login=login)
    return PracticeRecord.model_validate_json(path.read_text(encoding="utf-8"))


def read_records(session: Session) -> dict[str, PracticeRecord]:
    return {c.login: read_record(session.name, c.login) for c in session.candidates}


@contextmanager
def _updating(session: str, login: str) -> Iterator[list[PracticeRecord]]:
    """The record, for a change written back when the block ends (one writer at a time)."""
    path = record_path(session, login)
    private_folder(path.parent)
    lock = path.with_name(f".{login}.lock")
    create_private(lock)
    with open(lock, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            box = [read_record(session, login)]
            yield box
            write_private(path, box[0].model_dump_json(indent=2) + "\n")
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _practice(name: str, login: str, what: str, exams: ExamStore | None) -> Session:
    session = (exams or ExamStore()).get(name)
    if not session.practice:
        raise PracticeOnlyError(name, what)
    session.candidate(login)  # raises for a stranger
    return session


def _scenario(session: Session, scenario: str | None) -> list[str]:
    ids = [s.id for s in session.scenarios]
    if scenario is None:
        return ids
    if scenario not in ids:
        raise UsageError(
            f"session {session.name} has no scenario {scenario!r}",
            hint=f"its scenarios: {', '.join(ids)}",
        )
    return [scenario]


def _lab(session: Session, login: str, scenario: str) -> LabRecord:
    record = candidate_labs(session).get((login, scenario))
    if record is None:
        raise TaiLabsError(
            f"{login} has no lab of {scenario} in session {session.name}",
            hint=f"bring the session's labs up first: `tai-labs session up {session.name}`",
        )
    return record


def _now() -> datetime:
    return datetime.now(UTC)


def candidate_feedback(
    report: GradeReport, messages: Mapping[str, Messages]
) -> tuple[CheckFeedback, ...]:
    """What the candidate may read of a grading: per check its verdict and the scenario's
    message for it (``messages`` by check id); a fixed sentence when it was not judged."""
    return tuple(
        CheckFeedback(
            id=c.id,
            title=c.title,
            verdict=c.verdict,
            message=NOT_JUDGED_FR.get(c.verdict)
            or (messages[c.id].passed if c.verdict is Verdict.PASS else messages[c.id].failed),
        )
        for c in report.checks
    )


def check_work(
    name: str, login: str, scenario: str | None = None, *, exams: ExamStore | None = None
) -> list[CheckRun]:
    """Grade the candidate's labs now (each, or one scenario's) and record the attempt.

    The candidate gets per check its verdict and the scenario's message for that verdict;
    the grade is also kept in the lab's history like any other.
    """
    session = _practice(name, login, "checking one's work", exams)
    runs = []
    for sc in _scenario(session, scenario):
        lab = _lab(session, login, sc)
        messages = {c.id: c.messages for c in open_lab(lab.id).loaded.scenario.checks}
        report = grade_lab(lab.id, audit=False)
        feedback = candidate_feedback(report, messages)
        run = CheckRun(
            scenario=sc,
            lab=lab.id,
            at=_now(),
            points=report.points,
            max_points=report.max_points,
            checks=feedback,
        )
        with _updating(name, login) as box:
            attempt = Attempt(
                at=run.at,
                scenario=sc,
                lab=lab.id,
                points=run.points,
                max_points=run.max_points,
                passed=sum(1 for c in feedback if c.verdict is Verdict.PASS),
                total=len(feedback),
            )
            box[0] = box[0].model_copy(update={"attempts": (*box[0].attempts, attempt)})
        runs.append(run)
    return runs


def reveal_hint(
    name: str, login: str, scenario: str | None = None, *, exams: ExamStore | None = None
) -> HintReveal:
    """Reveal the candidate's next hint of a scenario (the only one, if the session has one
    scenario) and record it with its cost."""
    session = _practice(name, login, "reading a hint", exams)
    ids = _scenario(session, scenario)
    if len(ids) > 1:
        raise UsageError(
            "say which scenario the hint is for",
            hint=f"--scenario, one of: {', '.join(ids)}",
        )
    sc = ids[0]
    hints = open_lab(_lab(session, login, sc).id).loaded.scenario.hints
    with _updating(name, login) as box:
        taken = [h for h in box[0].hints if h.scenario == sc]
        if len(taken) >= len(hints):
            raise UsageError(
                f"no hint left for {sc}: {len(hints)} already revealed",
                hint="`tai-labs session check` tells which checks still fail",
            )
        hint = hints[len(taken)]
        entry = HintTaken(at=_now(), scenario=sc, number=len(taken) + 1, cost=hint.cost)
        box[0] = box[0].model_copy(update={"hints": (*box[0].hints, entry)})
        total = box[0].hint_cost(sc)
    return HintReveal(
        scenario=sc,
        number=entry.number,
        of=len(hints),
        text=hint.text,
        cost=hint.cost,
        total_cost=total,
    )


def reset_work(
    name: str,
    login: str,
    scenario: str | None = None,
    *,
    exams: ExamStore | None = None,
) -> list[ResetDone]:
    """Put the candidate's labs (each, or one scenario's) back as at exam start; recorded."""
    session = _practice(name, login, "resetting one's lab", exams)
    done = []
    for sc in _scenario(session, scenario):
        lab = _lab(session, login, sc)
        reset_lab(lab.id)
        entry = ResetDone(at=_now(), scenario=sc, lab=lab.id)
        with _updating(name, login) as box:
            box[0] = box[0].model_copy(update={"resets": (*box[0].resets, entry)})
        done.append(entry)
    return done
