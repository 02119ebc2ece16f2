"""The exam clock: deadlines and what is due (pure), then start, extend, end and run over a
real state store. Labs are absent here (a candidate without a lab has nothing to freeze);
freezing real labs is tests/integration/test_exam_freeze.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from test_exam_store import make_session

from tai_labs.errors import UsageError
from tai_labs.exam.clock import (
    CandidateClock,
    SessionClock,
    check_extra,
    deadline,
    due,
    format_left,
    next_event,
    time_left,
)
from tai_labs.exam.clock_store import ClockStore
from tai_labs.exam.day import RunEvent, extend, run_session, start_session, status
from tai_labs.exam.freeze import AccessNotClosedError, NotFrozenError, end_candidates, grade_frozen
from tai_labs.exam.model import Candidate, Session, SessionState
from tai_labs.exam.seams import AccessGate
from tai_labs.exam.store import ExamStore, SessionStateError
from tai_labs.lab.store import Store

T0 = datetime(2027, 1, 12, 8, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def started(session: Session, **state: object) -> Session:
    return session.model_copy(update={"state": SessionState.STARTED, **state})


def clock(**extra: int) -> SessionClock:
    return SessionClock(
        started_at=T0,
        candidates={k: CandidateClock(login=k, extra_minutes=v) for k, v in extra.items()},
    )


# -- pure ----------------------------------------------------------------------------------


def test_deadline_is_start_plus_duration_plus_own_extra() -> None:
    session = started(make_session())  # 120 min
    c = clock(cde=30)
    assert deadline(session, c, "abc") == at(120)
    assert deadline(session, c, "cde") == at(150)
    assert deadline(session, SessionClock(), "abc") is None  # not started


def test_time_left_edges() -> None:
    session = started(make_session())
    c = clock()
    assert time_left(session, c, "abc", at(0)) == timedelta(minutes=120)
    assert time_left(session, c, "abc", at(120) - timedelta(seconds=1)) == timedelta(seconds=1)
    assert time_left(session, c, "abc", at(120)) == timedelta(0)
    assert time_left(session, c, "abc", at(500)) == timedelta(0)  # never negative
    # Before the start: the whole time, extra included.
    assert time_left(session, SessionClock(), "abc", at(-60)) == timedelta(minutes=120)
    ended = SessionClock(
        started_at=T0, candidates={"abc": CandidateClock(login="abc", ended_at=at(10))}
    )
    assert time_left(session, ended, "abc", at(11)) == timedelta(0)  # ended early: none left
    practice = make_session().model_copy(update={"duration": None, "practice": True})
    assert time_left(practice, c, "abc", at(9999)) is None


def test_a_deadline_is_due_at_its_very_instant_not_a_second_before() -> None:
    session = started(make_session())
    c = clock(cde=15)
    assert due(session, c, at(120) - timedelta(microseconds=1)).end == ()
    assert due(session, c, at(120)).end == ("abc", "efg")  # roster order, cde has 15 more
    assert due(session, c, at(135)).end == ("abc", "cde", "efg")
    assert next_event(session, c, at(0)) == at(120)
    assert next_event(session, c, at(120)) == at(135)
    assert next_event(session, c, at(135)) is None


def test_an_ended_candidate_is_not_due_again_but_a_crashed_end_is_resumed() -> None:
    session = started(make_session())
    c = SessionClock(
        started_at=T0,
        candidates={
            "abc": CandidateClock(login="abc", ended_at=at(100), complete=True),
            "cde": CandidateClock(login="cde", ended_at=at(100)),  # crashed mid-freeze
        },
    )
    todo = due(session, c, at(121))
    assert (todo.end, todo.resume) == (("efg",), ("cde",))


def test_start_is_due_at_the_planned_start_only_while_up() -> None:
    up = make_session().model_copy(update={"state": SessionState.UP, "start": at(30)})
    assert not due(up, SessionClock(), at(29)).start
    assert due(up, SessionClock(), at(30)).start
    assert next_event(up, SessionClock(), at(0)) == at(30)
    assert not due(up.model_copy(update={"start": None}), SessionClock(), at(30)).start
    assert not due(started(up), clock(), at(30)).start


def test_extra_time_refused_when_it_cannot_apply() -> None:
    session = started(make_session())
    check_extra(session, clock(), "abc", 30, at(60))  # fine
    with pytest.raises(UsageError, match="out of range"):
        check_extra(session, clock(), "abc", -5, at(60))
    with pytest.raises(UsageError, match="would be past"):
        check_extra(session, clock(), "abc", 10, at(131))
    with pytest.raises(UsageError, match="no candidate"):
        check_extra(session, clock(), "zzz", 10, at(0))
    ended = SessionClock(
        started_at=T0, candidates={"abc": CandidateClock(login="abc", ended_at=at(120))}
    )
    with pytest.raises(UsageError, match="too late"):
        check_extra(session, ended, "abc", 30, at(121))
    practice = make_session().model_copy(update={"duration": None, "practice": True})
    with pytest.raises(UsageError, match="no duration"):
        check_extra(practice, clock(), "abc", 30, at(0))


def test_format_left() -> None:
    assert format_left(None) == "sans limite"
    assert format_left(timedelta(0)) == "terminé"
    assert format_left(timedelta(minutes=65, seconds=30)) == "1 h 05"
    assert format_left(timedelta(minutes=12, seconds=3)) == "12 min 03 s"


# -- over the store --------------------------------------------------------------------------


class Gate:
    """Records what a real gate (i14-fleet's gateway accounts) would be asked to do."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    @property
    def gate(self) -> AccessGate:
        return AccessGate(
            open=lambda _s, login: self.calls.append(("open", login)),
            close=lambda _s, login: self.calls.append(("close", login)),
        )


def no_labs(_session: Session, _cand: Candidate) -> dict[str, str]:
    return {}


@pytest.fixture
def clocks(tmp_path: Path) -> ClockStore:
    exams = ExamStore(Store(tmp_path / "state.db"))
    exams.create(make_session())
    return ClockStore(exams)


def test_start_needs_labs_up_then_opens_each_access_once(clocks: ClockStore) -> None:
    gate = Gate()
    with pytest.raises(SessionStateError, match="session up"):
        start_session(clocks, "ccp2-test", gate=gate.gate, now=lambda: at(0))
    assert gate.calls == []
    clocks.exams.set_state("ccp2-test", SessionState.UP)
    first = start_session(clocks, "ccp2-test", gate=gate.gate, now=lambda: at(0))
    assert (first.already, first.opened, first.started_at) == (False, ("abc", "cde", "efg"), T0)
    again = start_session(clocks, "ccp2-test", gate=gate.gate, now=lambda: at(5))
    assert (again.already, again.opened, again.started_at) == (True, (), T0)  # start kept
    assert gate.calls == [("open", "abc"), ("open", "cde"), ("open", "efg")]


def test_a_start_that_crashed_midway_opens_only_what_is_left(clocks: ClockStore) -> None:
    clocks.exams.set_state("ccp2-test", SessionState.UP)

    def crash(_s: Session, login: str) -> None:
        if login == "cde":
            raise RuntimeError("gateway down")

    with pytest.raises(RuntimeError):
        start_session(clocks, "ccp2-test", gate=AccessGate(crash, crash), now=lambda: at(0))
    gate = Gate()
    resumed = start_session(clocks, "ccp2-test", gate=gate.gate, now=lambda: at(1))
    assert resumed.already and resumed.opened == ("cde", "efg")
    assert clocks.clock("ccp2-test").started_at == T0


def test_extend_sets_the_total_and_moves_the_deadline(clocks: ClockStore) -> None:
    assert extend(clocks, "ccp2-test", "cde", 20, now=lambda: at(-10)) is None  # before start
    clocks.exams.set_state("ccp2-test", SessionState.UP)
    start_session(clocks, "ccp2-test", gate=Gate().gate, now=lambda: at(0))
    assert extend(clocks, "ccp2-test", "cde", 30, now=lambda: at(60)) == at(150)
    assert extend(clocks, "ccp2-test", "cde", 30, now=lambda: at(61)) == at(150)  # not 180


def test_end_closes_access_once_recorded_and_a_second_end_changes_nothing(
    clocks: ClockStore,
) -> None:
    clocks.exams.set_state("ccp2-test", SessionState.UP)
    start_session(clocks, "ccp2-test", gate=Gate().gate, now=lambda: at(0))
    gate = Gate()
    [ended] = end_candidates(
        clocks, "ccp2-test", ["cde"], gate=gate.gate, find_labs=no_labs, now=lambda: at(50)
    )
    assert (ended.already, ended.ended_at, ended.missing) == (False, at(50), ("s1",))
    assert gate.calls == [("close", "cde")]
    [again] = end_candidates(
        clocks, "ccp2-test", ["cde"], gate=gate.gate, find_labs=no_labs, now=lambda: at(70)
    )
    assert again.already and again.ended_at == at(50)  # the first end stands
    _, _, rows = status(clocks, "ccp2-test", find_labs=no_labs, now=lambda: at(60))
    by = {r.login: r for r in rows}
    assert not by["cde"].access_open and by["abc"].access_open
    assert by["cde"].left == timedelta(0) and by["abc"].left == timedelta(minutes=60)
    with pytest.raises(UsageError, match="too late"):
        extend(clocks, "ccp2-test", "cde", 10, now=lambda: at(71))


def test_grading_a_candidate_who_has_not_ended_is_refused(clocks: ClockStore) -> None:
    clocks.exams.set_state("ccp2-test", SessionState.UP)
    start_session(clocks, "ccp2-test", gate=Gate().gate, now=lambda: at(0))
    with pytest.raises(NotFrozenError, match="not ended"):
        grade_frozen("ccp2-test", "abc", clocks=clocks)


def test_run_starts_at_the_planned_time_and_ends_each_at_their_deadline(
    clocks: ClockStore,
) -> None:
    # A session planned at T0 (the model refuses a past start only at creation).
    name = "ccp2-run"
    clocks.exams.create(make_session(name).model_copy(update={"start": T0}))
    clocks.exams.set_state(name, SessionState.UP)
    extend(clocks, name, "efg", 15, now=lambda: at(-5))
    now = [at(-2)]
    events: list[RunEvent] = []
    gate = Gate()

    def sleep(seconds: float) -> None:
        assert seconds > 0
        now[0] += timedelta(seconds=seconds)

    run_session(
        clocks, name, gate=gate.gate, find_labs=no_labs, on_event=events.append,
        now=lambda: now[0], sleep=sleep, poll=600,
    )  # fmt: skip
    kinds = [e.kind for e in events]
    assert kinds == ["waiting", "started", "waiting", "ended", "waiting", "ended", "finished"]
    assert clocks.clock(name).started_at == T0
    first, second = (e for e in events if e.kind == "ended")
    assert [x.login for x in first.ended] == ["abc", "cde"]
    assert [x.ended_at for x in first.ended] == [at(120), at(120)]
    assert [(x.login, x.ended_at) for x in second.ended] == [("efg", at(135))]
    assert clocks.exams.get(name).state is SessionState.ENDED
    assert gate.calls[:3] == [("open", "abc"), ("open", "cde"), ("open", "efg")]
    assert sorted(gate.calls[3:]) == [("close", "abc"), ("close", "cde"), ("close", "efg")]
    # Run again after the end: nothing to do, nothing changed.
    events.clear()
    run_session(
        clocks, name, gate=gate.gate, find_labs=no_labs, on_event=events.append,
        now=lambda: now[0], sleep=sleep,
    )  # fmt: skip
    assert [e.kind for e in events] == ["finished"] and len(gate.calls) == 6


def test_run_interrupted_then_run_again_resumes_without_redoing(clocks: ClockStore) -> None:
    name = "ccp2-int"
    clocks.exams.create(make_session(name).model_copy(update={"start": T0}))
    clocks.exams.set_state(name, SessionState.UP)
    now = [at(0)]
    gate = Gate()

    def interrupt_after_start(event: RunEvent) -> None:
        if event.kind == "started":
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_session(
            clocks, name, gate=gate.gate, find_labs=no_labs, on_event=interrupt_after_start,
            now=lambda: now[0], sleep=lambda s: None,
        )  # fmt: skip
    now[0] = at(200)  # the runner was down past the deadline: everyone is due at once
    events: list[RunEvent] = []
    run_session(
        clocks, name, gate=gate.gate, find_labs=no_labs, on_event=events.append,
        now=lambda: now[0], sleep=lambda s: None,
    )  # fmt: skip
    assert [e.kind for e in events] == ["ended", "finished"]
    assert [c for c in gate.calls if c[0] == "open"] == [
        ("open", "abc"), ("open", "cde"), ("open", "efg"),
    ]  # fmt: skip
    assert clocks.clock(name).started_at == T0  # the start is not moved by the rerun


def test_run_refuses_what_it_cannot_run(clocks: ClockStore) -> None:
    with pytest.raises(SessionStateError, match="not up"):
        run_session(clocks, "ccp2-test", gate=Gate().gate, find_labs=no_labs, on_event=print)
    clocks.exams.set_state("ccp2-test", SessionState.UP)
    with pytest.raises(UsageError, match="no planned start"):
        run_session(clocks, "ccp2-test", gate=Gate().gate, find_labs=no_labs, on_event=print)


def test_a_close_that_failed_is_retried_by_the_next_end_and_the_end_time_kept(
    clocks: ClockStore,
) -> None:
    clocks.exams.set_state("ccp2-test", SessionState.UP)
    start_session(clocks, "ccp2-test", gate=Gate().gate, now=lambda: at(0))

    def down(_s: Session, _login: str) -> None:
        raise RuntimeError("gateway down")

    def down_for_abc(_s: Session, login: str) -> None:
        if login == "abc":
            raise RuntimeError("gateway down")
        closed.append(login)

    closed: list[str] = []
    with pytest.raises(AccessNotClosedError, match="access of abc could not be closed"):
        end_candidates(
            clocks, "ccp2-test", ["abc", "cde"], gate=AccessGate(down, down_for_abc),
            find_labs=no_labs, now=lambda: at(120),
        )  # fmt: skip
    assert closed == ["cde"]  # the failure on abc did not leave cde open
    assert clocks.clock("ccp2-test").of("cde").complete
    mine = clocks.clock("ccp2-test").of("abc")
    assert mine.ended_at == at(120) and not mine.complete  # recorded first: a crash resumes
    assert due(clocks.exams.get("ccp2-test"), clocks.clock("ccp2-test"), at(121)).resume == ("abc",)
    gate = Gate()
    [ended] = end_candidates(
        clocks, "ccp2-test", ["abc"], gate=gate.gate, find_labs=no_labs, now=lambda: at(125)
    )
    assert gate.calls == [("close", "abc")] and ended.ended_at == at(120) and not ended.already
    assert clocks.clock("ccp2-test").of("abc").complete


def test_an_end_after_the_deadline_shows_how_late(clocks: ClockStore) -> None:
    clocks.exams.set_state("ccp2-test", SessionState.UP)
    start_session(clocks, "ccp2-test", gate=Gate().gate, now=lambda: at(0))
    end_candidates(
        clocks, "ccp2-test", ["abc"], gate=Gate().gate, find_labs=no_labs, now=lambda: at(127)
    )
    end_candidates(
        clocks, "ccp2-test", ["cde"], gate=Gate().gate, find_labs=no_labs, now=lambda: at(90)
    )
    _, _, rows = status(clocks, "ccp2-test", find_labs=no_labs, now=lambda: at(130))
    late = {r.login: r.late for r in rows}
    assert late == {"abc": timedelta(minutes=7), "cde": timedelta(0), "efg": timedelta(0)}


def test_run_waits_for_a_lab_another_command_holds(clocks: ClockStore) -> None:
    from tai_labs.lab.store import LabBusyError

    clocks.exams.set_state("ccp2-test", SessionState.UP)
    start_session(clocks, "ccp2-test", gate=Gate().gate, now=lambda: at(0))
    tries = []

    def busy_once(_session: Session, cand: Candidate) -> dict[str, str]:
        tries.append(cand.login)
        if len(tries) == 1:
            raise LabBusyError("lab1")
        return {}

    events: list[RunEvent] = []
    run_session(
        clocks, "ccp2-test", gate=Gate().gate, find_labs=busy_once, on_event=events.append,
        now=lambda: at(130), sleep=lambda s: None, parallel=1,
    )  # fmt: skip
    assert [e.kind for e in events] == ["busy", "ended", "finished"]
    assert "lab1" in events[0].note


def test_labs_by_draw_finds_the_lab_of_login_scenario_and_seed(tmp_path: Path) -> None:
    from tai_labs.exam.seams import AmbiguousLabError, labs_by_draw

    store = Store(tmp_path / "state.db")
    session = make_session()  # abc drew seed 0 of s1, cde seed 1
    abc, cde, _ = session.candidates
    store.add_lab("lab1", "s1", Path("/x/scenario.yaml"), "abc", 0)
    store.add_lab("lab2", "s1", Path("/x/scenario.yaml"), "cde", 0)  # not cde's seed
    store.add_lab("lab3", "s2", Path("/x/other.yaml"), "cde", 1)  # not the session's scenario
    assert labs_by_draw(session, abc, store) == {"s1": "lab1"}
    assert labs_by_draw(session, cde, store) == {}
    store.add_lab("lab4", "s1", Path("/x/scenario.yaml"), "abc", 0)
    with pytest.raises(AmbiguousLabError, match="lab1, lab4"):
        labs_by_draw(session, abc, store)


def test_run_tries_a_failed_close_again_until_it_closes(clocks: ClockStore) -> None:
    clocks.exams.set_state("ccp2-test", SessionState.UP)
    start_session(clocks, "ccp2-test", gate=Gate().gate, now=lambda: at(0))
    closes: list[str] = []

    def flaky(_s: Session, login: str) -> None:
        closes.append(login)
        if closes.count("abc") == 1 and login == "abc":
            raise RuntimeError("gateway down")

    events: list[RunEvent] = []
    run_session(
        clocks, "ccp2-test", gate=AccessGate(flaky, flaky), find_labs=no_labs,
        on_event=events.append, now=lambda: at(130), sleep=lambda s: None,
    )  # fmt: skip
    assert [e.kind for e in events] == ["busy", "ended", "finished"]
    assert closes == ["abc", "cde", "efg", "abc"]
    assert clocks.exams.get("ccp2-test").state is SessionState.ENDED
