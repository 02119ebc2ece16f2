"""The jury grid: grade reports in, one row per candidate out; CSV, JSON and HTML forms."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import UTC, datetime

import pytest

from tai_labs.exam.grid import Grid, MissingLab, build_grid
from tai_labs.exam.model import Candidate, Draw, Session, SessionScenario
from tai_labs.grading.result import CompetenceResult, GradeReport
from tai_labs.reports import grid as render

WHEN = datetime(2027, 1, 12, 11, 0, tzinfo=UTC)


def make_session(practice: bool = False) -> Session:
    people = [("alice-durand", "Durand", "Alice"), ("bruno-n-diaye", "N'Diaye", "Bruno")]
    people.append(("chloe-martin", "Martin", "Chloé"))
    return Session(
        name="ccp2-test",
        block="CCP2",
        practice=practice,
        scenarios=(
            SessionScenario(id="s1", title="Compte", block="CCP2", file="/x/1.yaml", variants=2),
            SessionScenario(id="s2", title="Réseau", block="CCP2", file="/x/2.yaml", variants=2),
        ),
        duration=120,
        created=WHEN,
        draw_key="0" * 32,
        candidates=tuple(
            Candidate(
                login=login,
                nom=nom,
                prenom=prenom,
                roster_line=i + 2,
                login_derived=True,
                draws=(
                    Draw(scenario="s1", seed=i, variant={}),
                    Draw(scenario="s2", seed=i, variant={}),
                ),
            )
            for i, (login, nom, prenom) in enumerate(people)
        ),
    )


def report(scenario: str, login: str, comps: dict[str, tuple[float, float]]) -> GradeReport:
    """A grade report whose competences earned ``comps[id] = (points, max)``."""
    results = [
        CompetenceResult(
            id=cid,
            title=cid,
            block="CCP2",
            points=p,
            max_points=m,
            acquired=p >= 0.5 * m,
            checks=[],
        )
        for cid, (p, m) in comps.items()
    ]
    return GradeReport(
        lab=f"{scenario}-{login}",
        scenario=scenario,
        scenario_title=scenario,
        block="CCP2",
        candidate=login,
        seed=0,
        started=WHEN,
        finished=WHEN,
        threshold=0.5,
        checks=[],
        competences=results,
        points=sum(p for p, _ in comps.values()),
        max_points=sum(m for _, m in comps.values()),
    )


@pytest.fixture
def grid() -> Grid:
    outcomes = {
        # Full marks on s1, half of C5 on s2.
        "alice-durand": {
            "s1": report("s1", "alice-durand", {"C6": (7, 7)}),
            "s2": report("s2", "alice-durand", {"C5": (2, 4), "C6": (1, 3)}),
        },
        # Nothing done on s1; s2's lab failed: missing, not zero.
        "bruno-n-diaye": {
            "s1": report("s1", "bruno-n-diaye", {"C6": (0, 7)}),
            "s2": MissingLab(scenario="s2", reason="lab en échec (failed)"),
        },
        # chloe-martin: no result at all.
    }
    return build_grid(make_session(), outcomes, generated=WHEN)


def test_rows_points_and_statuses(grid: Grid) -> None:
    assert [r.login for r in grid.rows] == ["alice-durand", "bruno-n-diaye", "chloe-martin"]
    assert [c.id for c in grid.competences] == ["C5", "C6", "C7"]
    assert grid.covers == {"s1": ("C6",), "s2": ("C5", "C6")}
    alice, bruno, chloe = grid.rows
    assert (alice.points, alice.max_points, alice.complete) == (10, 14, True)
    totals = {c.competence: (c.points, c.max_points, c.status) for c in alice.competences}
    assert totals == {"C5": (2, 4, "acquise"), "C6": (8, 10, "acquise")}
    assert [c.state for c in alice.scenarios] == ["notée", "notée"]

    # Bruno: s1 graded (0/7), s2 missing: C5 and C6 (what s2 assesses) are incomplete.
    assert (bruno.points, bruno.max_points, bruno.complete) == (0, 7, False)
    s1, s2 = bruno.scenarios
    assert (s1.state, s1.points, s1.competences[0].status) == ("notée", 0, "non acquise")
    assert (s2.state, s2.reason, s2.points) == ("manquante", "lab en échec (failed)", None)
    assert {c.competence: c.status for c in bruno.competences} == {
        "C5": "incomplète",
        "C6": "incomplète",
    }
    # Chloé: nothing at all, every lab missing, never a zero grade.
    assert [c.reason for c in chloe.scenarios] == ["aucun résultat", "aucun résultat"]
    assert not chloe.complete and chloe.max_points == 0
    assert all(c.status == "incomplète" for c in chloe.competences)


def test_a_competence_below_the_threshold_is_not_acquired() -> None:
    outcomes = {
        login: {
            "s1": report("s1", login, {"C6": (3, 7)}),
            "s2": report("s2", login, {"C6": (1, 3)}),
        }
        for login in ("alice-durand", "bruno-n-diaye", "chloe-martin")
    }
    row = build_grid(make_session(), outcomes, generated=WHEN).rows[0]
    assert [(c.competence, c.points, c.max_points, c.status) for c in row.competences] == [
        ("C6", 4, 10, "non acquise")
    ]


def test_hint_costs_are_deducted_from_the_scenario_points() -> None:
    outcomes = {"alice-durand": {"s1": report("s1", "alice-durand", {"C6": (7, 7)})}}
    grid = build_grid(
        make_session(practice=True),
        outcomes,
        generated=WHEN,
        hint_costs={"alice-durand": {"s1": 2.5}},
    )
    cell = grid.rows[0].scenarios[0]
    assert (cell.points, cell.max_points, cell.hint_cost) == (4.5, 7, 2.5)
    assert grid.rows[0].points == 4.5
    assert "s1 · indices" in render.header(grid)


def test_csv_has_a_bom_semicolons_and_reads_back(grid: Grid) -> None:
    data = render.to_csv(grid)
    assert data.startswith(b"\xef\xbb\xbf")
    assert b"\r\n" in data
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline=""), delimiter=";"))
    head = rows[0]
    assert head[:3] == ["Nom", "Prénom", "Identifiant"]
    assert len(rows) == 4 and all(len(r) == len(head) for r in rows)
    # "8/10" in a cell is a date to Calc and Excel: points and maxima are columns of their own.
    assert not any(re.fullmatch(r"[\d,]+/[\d,]+", c) for r in rows for c in r)
    by_login = {r[2]: dict(zip(head, r, strict=True)) for r in rows[1:]}
    alice = by_login["alice-durand"]
    assert (alice["s2 · C5 points"], alice["s2 · C5 sur"], alice["s2 · C5"]) == (
        "2",
        "4",
        "acquise",
    )
    assert (alice["Total · C6 points"], alice["Total · C6 sur"]) == ("8", "10")
    assert alice["Total · C6"] == "acquise"
    assert alice["Total points"] == "10" and alice["Total sur"] == "14"
    assert alice["Total · C7"] == "non évaluée"
    bruno = by_login["bruno-n-diaye"]
    assert bruno["Nom"] == "N'Diaye"
    assert bruno["s2 · points"] == "manquant (lab en échec (failed))"
    assert bruno["Total · C5"] == "incomplète"
    assert "s2 : lab manquant" in bruno["Observations"]
    assert by_login["chloe-martin"]["Prénom"] == "Chloé"


def test_csv_decimal_comma() -> None:
    outcomes = {"alice-durand": {"s1": report("s1", "alice-durand", {"C6": (2.5, 7)})}}
    data = render.to_csv(build_grid(make_session(), outcomes, generated=WHEN))
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig")), delimiter=";"))
    assert rows[1][rows[0].index("s1 · points")] == "2,5"


def test_json_round_trips(grid: Grid) -> None:
    text = render.to_json(grid)
    assert Grid.model_validate_json(text) == grid
    assert json.loads(text)["rows"][1]["scenarios"][1]["state"] == "manquante"


def test_html_names_every_candidate_and_missing_lab(grid: Grid) -> None:
    page = render.to_html(grid)
    assert "size: A4 landscape" in page
    for name in ("DURAND Alice", "N&#39;DIAYE Bruno", "MARTIN Chloé"):
        assert name in page
    assert "lab manquant : lab en échec (failed)" in page
    assert page.count('class="signature"') == 3
    assert "http" not in page  # self-contained: no external resource
