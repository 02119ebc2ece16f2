"""The exam clock as pure functions: each candidate's deadline, time left, and what is due.

A session's clock starts when access opens (``session start``, or ``session run`` at the
planned start): ``started_at`` is that moment, never the planned time, so a runner launched
late costs candidates nothing. A candidate's deadline is ``started_at + duration + extra``,
``extra`` being their own minutes (a late arrival, a *tiers temps*). A practice session has no
duration, hence no deadline. Nothing here reads the clock or the store: ``now`` is given, so
every edge (exactly at the deadline, a second before, extra time given after the end) is
tested without waiting.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field

from tai_labs.errors import UsageError
from tai_labs.exam.model import MAX_DURATION_MINUTES, Session, SessionState

#: Extra time of one candidate, in minutes: more than the longest épreuve is a typo.
MAX_EXTRA_MINUTES = MAX_DURATION_MINUTES


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LabFreeze(_Model):
    """One lab frozen at a candidate's end: what the jury's grade is read from."""

    scenario: str
    lab: str
    snapshot: str
    #: When the snapshot was taken (the state graded is the lab's at that instant).
    at: datetime
    #: The nodes stopped after the snapshot, so nothing running in them changes anything.
    nodes: tuple[str, ...]


class CandidateClock(_Model):
    """One candidate's timing, as the store keeps it."""

    login: str
    extra_minutes: int = Field(default=0, ge=0, le=MAX_EXTRA_MINUTES)
    #: When their access was opened (None: not yet, or the start crashed before it).
    access_opened: datetime | None = None
    #: When their access was closed: their end. Set first, so an end that crashed is resumed.
    ended_at: datetime | None = None
    #: The labs frozen so far (a scenario they have no lab of has nothing to freeze).
    frozen: tuple[LabFreeze, ...] = ()
    #: Every lab of theirs frozen: the end finished (False with ``ended_at``: a crash).
    complete: bool = False

    def frozen_lab(self, scenario: str) -> LabFreeze | None:
        return next((f for f in self.frozen if f.scenario == scenario), None)


class SessionClock(_Model):
    """The session's clock: when it started, and each candidate's own timing."""

    started_at: datetime | None = None
    candidates: Mapping[str, CandidateClock] = Field(default_factory=dict)

    def of(self, login: str) -> CandidateClock:
        return self.candidates.get(login) or CandidateClock(login=login)


def deadline(session: Session, clock: SessionClock, login: str) -> datetime | None:
    """When this candidate's time is up; None before the start or without a duration."""
    if clock.started_at is None or session.duration is None:
        return None
    extra = clock.of(login).extra_minutes
    return clock.started_at + timedelta(minutes=session.duration + extra)


def time_left(session: Session, clock: SessionClock, login: str, now: datetime) -> timedelta | None:
    """Time this candidate has left at ``now``: zero once ended or past their deadline, the
    whole duration (and extra) before the start, None without a duration (practice)."""
    if session.duration is None:
        return None
    cand = clock.of(login)
    if cand.ended_at is not None:
        return timedelta(0)
    end = deadline(session, clock, login)
    if end is None:
        return timedelta(minutes=session.duration + cand.extra_minutes)
    return max(end - now, timedelta(0))


@dataclass(frozen=True)
class Due:
    """What the clock asks for at a given instant."""

    #: The session must start now (planned start reached, still ``up``).
    start: bool
    #: Candidates whose deadline has passed and who are not ended yet, in roster order.
    end: tuple[str, ...]
    #: Candidates whose end began and did not finish (a crash): to be resumed.
    resume: tuple[str, ...]


def due(session: Session, clock: SessionClock, now: datetime) -> Due:
    """What ``session run`` must do at ``now``. A deadline is due at the very instant it is
    reached (``now >= deadline``): the candidate has had all of their time then."""
    start = session.state is SessionState.UP and session.start is not None and now >= session.start
    end: list[str] = []
    resume: list[str] = []
    if session.state is SessionState.STARTED:
        for cand in session.candidates:
            mine = clock.of(cand.login)
            if mine.ended_at is not None:
                if not mine.complete:
                    resume.append(cand.login)
                continue
            end_at = deadline(session, clock, cand.login)
            if end_at is not None and now >= end_at:
                end.append(cand.login)
    return Due(start=start, end=tuple(end), resume=tuple(resume))


def next_event(session: Session, clock: SessionClock, now: datetime) -> datetime | None:
    """The next instant after ``now`` at which something falls due (a start or a deadline);
    None when nothing ever will (ended, practice, or no planned start yet)."""
    if session.state is SessionState.UP:
        return session.start if session.start is not None and session.start > now else None
    if session.state is not SessionState.STARTED:
        return None
    ahead = [
        end
        for cand in session.candidates
        if clock.of(cand.login).ended_at is None
        and (end := deadline(session, clock, cand.login)) is not None
        and end > now
    ]
    return min(ahead, default=None)


def all_ended(session: Session, clock: SessionClock) -> bool:
    """Every candidate ended and every one of their labs frozen."""
    return all(clock.of(c.login).complete for c in session.candidates)


def check_extra(
    session: Session, clock: SessionClock, login: str, minutes: int, now: datetime
) -> None:
    """Refuse extra time that cannot apply: a practice session (no deadline), a candidate
    already ended, a figure out of range, or a deadline that would already be past."""
    session.candidate(login)  # raises, naming the session's logins
    if session.duration is None:
        raise UsageError(
            f"session {session.name} has no duration: extra time means nothing",
            hint="a practice session has no deadline",
        )
    if not 0 <= minutes <= MAX_EXTRA_MINUTES:
        raise UsageError(
            f"extra time of {minutes} min is out of range",
            hint=f"give the candidate's total extra time, 0 to {MAX_EXTRA_MINUTES} minutes",
        )
    mine = clock.of(login)
    if mine.ended_at is not None:
        raise UsageError(
            f"{login} ended at {mine.ended_at.astimezone():%H:%M:%S}: too late for extra time",
            hint="their labs are frozen; extra time is given before the deadline",
        )
    if clock.started_at is not None:
        new_end = clock.started_at + timedelta(minutes=session.duration + minutes)
        if new_end <= now:
            raise UsageError(
                f"with {minutes} min of extra time, {login}'s deadline "
                f"({new_end.astimezone():%H:%M}) would be past already",
                hint=f"end them now with `tai-labs session end {session.name} --candidate {login}`",
            )


def format_left(left: timedelta | None) -> str:
    """``1 h 05``, ``12 min 30 s``, ``terminé`` (0), ``sans limite`` (None): French, the
    instructor reads it aloud."""
    if left is None:
        return "sans limite"
    seconds = int(left.total_seconds())
    if seconds <= 0:
        return "terminé"
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d}"
    return f"{minutes} min {secs:02d} s"
