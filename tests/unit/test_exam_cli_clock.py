"""`tai-labs session start|extend|status|end|run` through typer's runner: clear messages,
and a second run changes nothing. No lab exists here: a candidate without one has nothing to
freeze (the real freeze is tests/integration/test_exam_freeze.py), and no gateway account is
opened: these labs do not exist (the real accounts are tests/e2e/test_exam_session_labs.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_exam_cli import create, env, run

from tai_labs.cli import exam as exam_cli
from tai_labs.exam.clock_store import ClockStore
from tai_labs.exam.model import SessionState
from tai_labs.exam.seams import NO_GATEWAY
from tai_labs.exam.store import ExamStore

__all__ = ["env"]  # the fixture, imported for pytest


@pytest.fixture(autouse=True)
def _no_gateway(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(exam_cli, "_gate", lambda: NO_GATEWAY)


def test_the_day_in_order_and_each_command_twice(env: Path) -> None:
    assert create()[0] == 0
    code, _, error = run("session", "start", "ccp2-jan")
    assert code == 2 and error is not None and "session up" in str(error.hint)
    assert ExamStore().get("ccp2-jan").state is SessionState.CREATED  # nothing changed

    ExamStore().set_state("ccp2-jan", SessionState.UP)  # what `session up` does (i14-fleet)
    code, out, _ = run("session", "start", "ccp2-jan")
    assert code == 0 and "commencée" in out and "3 candidat(s)" in out
    started = ClockStore().clock("ccp2-jan").started_at
    code, out, _ = run("session", "start", "ccp2-jan")
    assert code == 0 and "déjà commencée" in out and "rien n'a changé" in out
    assert ClockStore().clock("ccp2-jan").started_at == started

    code, out, _ = run("session", "extend", "ccp2-jan", "-c", "pdurand", "--minutes", "30")
    assert code == 0 and "30 min" in out
    code, out, _ = run("session", "status", "ccp2-jan", "--json")
    rows = {r["login"]: r for r in json.loads(out)["candidates"]}
    assert rows["pdurand"]["extra_minutes"] == 30
    assert rows["pdurand"]["seconds_left"] > rows["chloe-martin"]["seconds_left"] > 7000
    assert {r["access"] for r in rows.values()} == {"open"}
    assert rows["pdurand"]["labs"] == 2 and rows["pdurand"]["labs_ready"] == 0

    code, out, _ = run("session", "end", "ccp2-jan", "-c", "pdurand")
    assert code == 0 and "pdurand : terminé" in out and "aucun lab pour" in out
    code, out, _ = run("session", "end", "ccp2-jan", "-c", "pdurand")
    assert code == 0 and "déjà terminé" in out
    code, out, _ = run("session", "status", "ccp2-jan")
    assert code == 0 and "fermé" in out and "terminé" in out
    code, _, error = run("session", "extend", "ccp2-jan", "-c", "pdurand", "--minutes", "5")
    assert code != 0 and error is not None and "too late" in error.message

    code, out, _ = run("session", "end", "ccp2-jan")
    assert code == 0 and "session ccp2-jan terminée" in out
    assert ExamStore().get("ccp2-jan").state is SessionState.ENDED
    code, out, _ = run("session", "run", "ccp2-jan")
    assert code == 0 and "terminée" in out
    code, _, error = run("session", "start", "ccp2-jan")
    assert code == 2 and error is not None and "has ended" in error.message


def test_run_without_a_planned_start_says_what_to_do(env: Path) -> None:
    assert create()[0] == 0
    ExamStore().set_state("ccp2-jan", SessionState.UP)
    code, _, error = run("session", "run", "ccp2-jan")
    assert code != 0 and error is not None and "session start" in str(error.hint)
