"""The jury grid of a session: one row per candidate, points and acquise / non acquise per
competence of the block, per scenario and in total.

Built from the per-lab grade reports (``GradeReport``, what `tai-labs grade --format json`
writes) and nothing else, so whoever produced them (a grading at the deadline, a frozen
state graded again) only chooses which reports go in. A lab with no report is a
``MissingLab`` with its reason: shown as such in every format, never as a silent zero, and
every competence that lab would have assessed is *incomplète* in the total.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from tai_labs.exam.model import Session
from tai_labs.grading.result import GradeReport
from tai_labs.referential import load_referential

#: The state of a competence in a cell: acquise, non acquise, or not judgeable because a lab
#: that assesses it has no result.
Status = Literal["acquise", "non acquise", "incomplète"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MissingLab(_Model):
    """A candidate's lab of one scenario that has no grade: why, in French, for the jury."""

    scenario: str
    reason: str = Field(min_length=3)


class Column(_Model):
    id: str
    title: str


class CompetenceCell(_Model):
    competence: str
    points: float
    max_points: float
    status: Status


class ScenarioCell(_Model):
    scenario: str
    #: "notée": a grade report went in; "manquante": the lab has none (``reason`` says why).
    state: Literal["notée", "manquante"]
    reason: str = ""
    lab: str = ""
    points: float | None = None
    max_points: float | None = None
    #: Points given up for hints read (practice sessions), already deducted from ``points``.
    hint_cost: float = 0.0
    competences: tuple[CompetenceCell, ...] = ()


class GridRow(_Model):
    login: str
    nom: str
    prenom: str
    scenarios: tuple[ScenarioCell, ...]
    #: Per competence, summed over the scenarios.
    competences: tuple[CompetenceCell, ...]
    points: float
    max_points: float
    #: False when a lab has no result: the total then counts only the labs graded.
    complete: bool

    @property
    def missing(self) -> list[ScenarioCell]:
        return [s for s in self.scenarios if s.state == "manquante"]


class Grid(_Model):
    session: str
    block: str
    block_title: str
    practice: bool
    threshold: float
    generated: datetime
    scenarios: tuple[Column, ...]
    #: The competences shown: the block's, then any other a report scored (mixed sessions).
    competences: tuple[Column, ...]
    #: Which competences each scenario assesses (from its reports; all of the block's when
    #: no candidate's lab of it was graded).
    covers: dict[str, tuple[str, ...]]
    rows: tuple[GridRow, ...]


Outcome = GradeReport | MissingLab


def _status(total: list[float], threshold: float) -> Status:
    # The report's own rule (grading.runner): a share of the competence's points.
    points, max_points = total
    return "acquise" if max_points > 0 and points >= threshold * max_points else "non acquise"


def _columns(session: Session, outcomes: Mapping[str, Mapping[str, Outcome]]) -> list[Column]:
    referential = load_referential()
    block = referential.block(session.block)
    ids = [c.id for c in block.competences]
    seen = {
        comp.id
        for per_scenario in outcomes.values()
        for outcome in per_scenario.values()
        if isinstance(outcome, GradeReport)
        for comp in outcome.competences
    }
    order = [c.id for c in referential.competences]
    ids += sorted(seen - set(ids), key=lambda i: order.index(i) if i in order else len(order))
    return [Column(id=i, title=_title(i)) for i in ids]


def _title(competence: str) -> str:
    try:
        return load_referential().competence(competence).title
    except KeyError:
        return competence


def build_grid(
    session: Session,
    outcomes: Mapping[str, Mapping[str, Outcome]],
    *,
    generated: datetime,
    threshold: float = 0.5,
    hint_costs: Mapping[str, Mapping[str, float]] | None = None,
) -> Grid:
    """The grid of ``session`` from ``outcomes[login][scenario]``.

    A candidate or scenario absent from ``outcomes`` is a missing lab ("aucun résultat").
    ``hint_costs[login][scenario]``: points to deduct for hints read (practice).
    """
    columns = _columns(session, outcomes)
    all_ids = tuple(c.id for c in columns)
    block_ids = tuple(c.id for c in load_referential().block(session.block).competences)
    covers: dict[str, tuple[str, ...]] = {}
    for sc in session.scenarios:
        assessed = {
            comp.id
            for per_scenario in outcomes.values()
            if isinstance(report := per_scenario.get(sc.id), GradeReport)
            for comp in report.competences
        }
        covers[sc.id] = tuple(i for i in all_ids if i in assessed) if assessed else block_ids
    costs = hint_costs or {}
    rows = []
    for cand in session.candidates:
        mine = outcomes.get(cand.login, {})
        cells: list[ScenarioCell] = []
        sums: dict[str, list[float]] = {}
        incomplete: set[str] = set()
        for sc in session.scenarios:
            outcome = mine.get(sc.id) or MissingLab(scenario=sc.id, reason="aucun résultat")
            if isinstance(outcome, MissingLab):
                cells.append(ScenarioCell(scenario=sc.id, state="manquante", reason=outcome.reason))
                incomplete.update(covers[sc.id])
                continue
            cost = costs.get(cand.login, {}).get(sc.id, 0.0)
            comps = []
            for comp in outcome.competences:
                comps.append(
                    CompetenceCell(
                        competence=comp.id,
                        points=comp.points,
                        max_points=comp.max_points,
                        status="acquise" if comp.acquired else "non acquise",
                    )
                )
                total = sums.setdefault(comp.id, [0.0, 0.0])
                total[0] += comp.points
                total[1] += comp.max_points
            cells.append(
                ScenarioCell(
                    scenario=sc.id,
                    state="notée",
                    lab=outcome.lab,
                    points=max(0.0, outcome.points - cost),
                    max_points=outcome.max_points,
                    hint_cost=cost,
                    competences=tuple(comps),
                )
            )
        totals = tuple(
            CompetenceCell(
                competence=cid,
                points=sums.get(cid, [0.0, 0.0])[0],
                max_points=sums.get(cid, [0.0, 0.0])[1],
                status="incomplète" if cid in incomplete else _status(sums[cid], threshold),
            )
            for cid in all_ids
            if cid in sums or cid in incomplete
        )
        graded = [c for c in cells if c.state == "notée"]
        rows.append(
            GridRow(
                login=cand.login,
                nom=cand.nom,
                prenom=cand.prenom,
                scenarios=tuple(cells),
                competences=totals,
                points=sum(c.points or 0.0 for c in graded),
                max_points=sum(c.max_points or 0.0 for c in graded),
                complete=len(graded) == len(cells),
            )
        )
    return Grid(
        session=session.name,
        block=session.block,
        block_title=load_referential().block(session.block).title,
        practice=session.practice,
        threshold=threshold,
        generated=generated,
        scenarios=tuple(Column(id=s.id, title=s.title) for s in session.scenarios),
        competences=tuple(columns),
        covers=covers,
        rows=tuple(rows),
    )
