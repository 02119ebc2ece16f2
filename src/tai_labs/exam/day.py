"""The exam day: start a session, give extra time, follow it, and run its clock.

``start_session`` opens every candidate's access and records the start; ``run_session`` is
the foreground loop that starts the session at its planned time and ends each candidate at
their own deadline (``freeze.end_candidates``). Each step is recorded as it is done (the
store's ``ClockStore``), so a second ``start``, a ``run`` stopped by Ctrl-C and run again,
or a crash, redo nothing and finish what was left.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from tai_labs.errors import UsageError
from tai_labs.exam.clock import (
    SessionClock,
    all_ended,
    check_extra,
    deadline,
    due,
    next_event,
    time_left,
)
from tai_labs.exam.clock_store import ClockStore
from tai_labs.exam.freeze import (
    AccessNotClosedError,
    Ended,
    end_candidates,
    finish_if_all_ended,
)
from tai_labs.exam.model import Session, SessionState
from tai_labs.exam.seams import AccessGate, LabFinder
from tai_labs.exam.store import SessionStateError
from tai_labs.lab.store import LabBusyError, Store

#: How often `run` looks again at the store while waiting (extra time given meanwhile, an
#: end by hand): a deadline is kept to within this.
POLL_SECONDS = 5.0


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Started:
    started_at: datetime
    #: The session was started before this call.
    already: bool
    #: Candidates whose access this call opened.
    opened: tuple[str, ...]


def start_session(
    clocks: ClockStore, name: str, *, gate: AccessGate, now: Callable[[], datetime] = _now
) -> Started:
    """Start the clock and open each candidate's access. A second call opens only what a
    crash left closed, and changes nothing else."""
    session = clocks.exams.get(name)
    if session.state is SessionState.ENDED:
        raise SessionStateError(
            f"session {name} has ended: it does not start again",
            hint=f"`tai-labs session status {name}` shows each candidate's end",
        )
    moved = clocks.start(name, now()) if session.state is not SessionState.STARTED else False
    session = clocks.exams.get(name)
    clock = clocks.clock(name)
    assert clock.started_at is not None
    opened = []
    for cand in session.candidates:
        mine = clock.of(cand.login)
        if mine.ended_at is None and mine.access_opened is None:
            gate.open(session, cand.login)
            clocks.access_opened(name, cand.login, now())
            opened.append(cand.login)
    return Started(clock.started_at, not moved, tuple(opened))


def extend(
    clocks: ClockStore, name: str, login: str, minutes: int, *, now: Callable[[], datetime] = _now
) -> datetime | None:
    """Set the candidate's total extra time; return their new deadline (None before the start)."""
    session = clocks.exams.get(name)
    check_extra(session, clocks.clock(name), login, minutes, now())
    clocks.set_extra(name, login, minutes)
    return deadline(session, clocks.clock(name), login)


@dataclass(frozen=True)
class CandidateStatus:
    login: str
    name: str
    #: Labs of theirs that exist and are ready, out of the session's scenarios.
    labs_ready: int
    labs: int
    #: scenario -> lab id, for those that exist.
    lab_ids: dict[str, str]
    deadline: datetime | None
    left: timedelta | None
    access_open: bool
    extra_minutes: int
    ended_at: datetime | None
    frozen: int
    complete: bool

    @property
    def late(self) -> timedelta:
        """How long after their deadline access actually closed (a `run` that was down at
        the deadline): the jury should know; zero when on time or ended early."""
        if self.ended_at is None or self.deadline is None:
            return timedelta(0)
        return max(self.ended_at - self.deadline, timedelta(0))


def status(
    clocks: ClockStore,
    name: str,
    *,
    find_labs: LabFinder,
    now: Callable[[], datetime] = _now,
    store: Store | None = None,
) -> tuple[Session, SessionClock, list[CandidateStatus]]:
    """Each candidate's state at ``now``: labs ready, time left, access, end and freeze."""
    session = clocks.exams.get(name)
    clock = clocks.clock(name)
    store = store or clocks.exams.store
    at = now()
    rows = []
    for cand in session.candidates:
        mine = clock.of(cand.login)
        labs = find_labs(session, cand)
        ready = sum(1 for lab in labs.values() if store.lab(lab).status == "ready")
        rows.append(
            CandidateStatus(
                login=cand.login,
                name=cand.full_name,
                labs_ready=ready,
                labs=len(session.scenarios),
                lab_ids=labs,
                deadline=deadline(session, clock, cand.login),
                left=time_left(session, clock, cand.login, at),
                access_open=mine.access_opened is not None and mine.ended_at is None,
                extra_minutes=mine.extra_minutes,
                ended_at=mine.ended_at,
                frozen=len(mine.frozen),
                complete=mine.complete,
            )
        )
    return session, clock, rows


@dataclass(frozen=True)
class RunEvent:
    """What the loop did, for the CLI to print: ``waiting`` (until ``at``), ``started``,
    ``ended`` (``ended`` holds the candidates), ``busy`` (a lab held by another command,
    or an access the gateway failed to close: tried again), ``finished``."""

    kind: str
    at: datetime | None = None
    started: Started | None = None
    ended: tuple[Ended, ...] = ()
    note: str = ""


def run_session(
    clocks: ClockStore,
    name: str,
    *,
    gate: AccessGate,
    find_labs: LabFinder,
    on_event: Callable[[RunEvent], None],
    parallel: int = 2,
    now: Callable[[], datetime] = _now,
    sleep: Callable[[float], None] = time.sleep,
    poll: float = POLL_SECONDS,
) -> None:
    """Run the session's clock in the foreground until every candidate has ended.

    Starts it at its planned ``start`` (or at once if that is past), ends each candidate at
    their deadline, resumes ends a crash left half done. Stopping it (Ctrl-C) loses nothing:
    run it again and it carries on. A practice session, or one with no planned start that is
    not started, has nothing to wait for: refused with what to do."""
    session = clocks.exams.get(name)
    if session.state is SessionState.CREATED:
        raise SessionStateError(
            f"session {name} is created: its labs are not up",
            hint=f"`tai-labs session up {name}` first",
        )
    if session.duration is None:
        raise UsageError(
            f"session {name} is a practice session: it has no deadline to run to",
            hint=f"open it with `tai-labs session start {name}`",
        )
    if session.state is SessionState.UP and session.start is None:
        raise UsageError(
            f"session {name} has no planned start",
            hint=f"start it by hand: `tai-labs session start {name}`, then run this again",
        )
    last_wait: datetime | None = None
    while True:
        session = clocks.exams.get(name)
        clock = clocks.clock(name)
        if session.state is SessionState.ENDED or (
            session.state is SessionState.STARTED and all_ended(session, clock)
        ):
            finish_if_all_ended(clocks, name)
            on_event(RunEvent("finished"))
            return
        at = now()
        todo = due(session, clock, at)
        if todo.start:
            on_event(RunEvent("started", started=start_session(clocks, name, gate=gate, now=now)))
            continue
        logins = todo.resume + todo.end
        if logins:
            try:
                ended = end_candidates(
                    clocks, name, logins, gate=gate, find_labs=find_labs, parallel=parallel,
                    now=now,
                )  # fmt: skip
            except (LabBusyError, AccessNotClosedError) as exc:
                # Another command (an `end` by hand) holds a lab, or the gateway failed to
                # close an access (the labs are frozen all the same): look again shortly.
                on_event(RunEvent("busy", note=exc.message))
                sleep(poll)
                continue
            on_event(RunEvent("ended", ended=tuple(ended)))
            continue
        upcoming = next_event(session, clock, at)
        if upcoming is None:  # started, every deadline past, an end still running elsewhere
            upcoming = at + timedelta(seconds=poll)
        if upcoming != last_wait:
            on_event(RunEvent("waiting", at=upcoming))
            last_wait = upcoming
        sleep(max(0.0, min(poll, (upcoming - at).total_seconds())))
