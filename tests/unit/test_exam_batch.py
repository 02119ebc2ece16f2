"""The deadline's batch grading over a real state store: who still needs grading (a frozen
lab with no grade made since its freeze), and one candidate's failure leaving the others
graded. Grading real frozen labs: tests/e2e/test_exam_day.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from test_exam_grid import report
from test_exam_store import make_session

from tai_labs.exam import batch
from tai_labs.exam.batch import grade_ended, ungraded
from tai_labs.exam.clock import LabFreeze
from tai_labs.exam.clock_store import ClockStore
from tai_labs.exam.store import ExamStore
from tai_labs.grading.result import GradeReport
from tai_labs.lab.runtime import lab_folder
from tai_labs.lab.store import Store

FROZEN = datetime(2027, 1, 12, 10, 0, tzinfo=UTC)


@pytest.fixture
def clocks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ClockStore:
    monkeypatch.setenv("TAI_LABS_DATA", str(tmp_path / "data"))
    exams = ExamStore(Store(tmp_path / "state.db"))
    exams.create(make_session())
    return ClockStore(exams)


def freeze(clocks: ClockStore, login: str, lab: str) -> None:
    clocks.mark_ended("ccp2-test", login, FROZEN)
    clocks.add_freeze(
        "ccp2-test", login, LabFreeze(scenario="s1", lab=lab, snapshot="exam-end", at=FROZEN,
                                      nodes=("pc1",)),
    )  # fmt: skip
    clocks.mark_complete("ccp2-test", login)


def keep_grade(lab: str, started: datetime) -> None:
    folder = lab_folder(lab) / "grades"
    folder.mkdir(parents=True, exist_ok=True)
    got = report("s1", "x", {"C6": (1, 2)}).model_copy(update={"lab": lab, "started": started})
    (folder / f"{started:%Y%m%dT%H%M%S}.json").write_text(got.model_dump_json())


def test_ungraded_is_a_frozen_lab_without_a_grade_since_its_freeze(clocks: ClockStore) -> None:
    freeze(clocks, "abc", "aaaaaa")  # frozen, never graded
    freeze(clocks, "cde", "cccccc")
    keep_grade("cccccc", FROZEN - timedelta(minutes=5))  # a grade from before the end only
    assert ungraded(clocks, "ccp2-test") == ["abc", "cde"]  # efg has not ended
    keep_grade("cccccc", FROZEN + timedelta(minutes=1))
    assert ungraded(clocks, "ccp2-test") == ["abc"]
    clocks.mark_ended("ccp2-test", "efg", FROZEN)
    clocks.mark_complete("ccp2-test", "efg")  # ended with no lab: nothing to grade
    assert ungraded(clocks, "ccp2-test") == ["abc"]


def test_one_candidate_failing_leaves_the_others_graded(
    clocks: ClockStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fake_grade(name: str, login: str, *, clocks: ClockStore) -> dict[str, GradeReport]:
        if login == "cde":
            raise RuntimeError("the lab's folder is gone")
        return {"s1": report("s1", login, {"C6": (2, 2)})}

    monkeypatch.setattr(batch, "grade_frozen", fake_grade)
    seen: list[str] = []
    got = grade_ended(
        clocks, "ccp2-test", ["abc", "cde", "efg"], parallel=2,
        on_graded=lambda g: seen.append(g.login),
    )  # fmt: skip
    assert [g.login for g in got] == ["abc", "cde", "efg"]  # in the order asked
    assert sorted(seen) == ["abc", "cde", "efg"]
    assert [g.error for g in got] == [None, "RuntimeError: the lab's folder is gone", None]
    assert got[0].reports["s1"].points == 2 and got[1].reports == {}


def test_not_ended_is_an_error_of_that_candidate_only(clocks: ClockStore) -> None:
    [got] = grade_ended(clocks, "ccp2-test", ["abc"])
    assert got.error is not None and "has not ended" in got.error
    assert grade_ended(clocks, "ccp2-test", []) == []
