"""The deadline's grading: every ended candidate's frozen labs graded, several at once.

``freeze.grade_frozen`` grades one candidate's labs from their ``exam-end`` snapshots;
``grade_ended`` runs it for a class, ``parallel`` candidates at a time, and says per candidate
the reports or why they could not be made: one lab that cannot be graded does not stop the
others (its grid cell then reads « lab non noté » and the jury sees why).

``ungraded`` lists the candidates with a frozen lab that has no grade made since its freeze,
so that ``session end`` run again after a crash grades only what is left.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from pydantic import ValidationError

from tai_labs.errors import TaiLabsError
from tai_labs.exam.clock import CandidateClock
from tai_labs.exam.clock_store import ClockStore
from tai_labs.exam.freeze import grade_frozen
from tai_labs.exam.results import grade_files
from tai_labs.grading.result import GradeReport


@dataclass(frozen=True)
class Graded:
    """One candidate's grading at the deadline."""

    login: str
    #: scenario -> report, for the labs graded.
    reports: dict[str, GradeReport] = field(default_factory=dict)
    #: Why their labs could not be graded (None: graded).
    error: str | None = None
    seconds: float = 0.0


def _graded_since_freeze(mine: CandidateClock) -> bool:
    for freeze in mine.frozen:
        files = grade_files(freeze.lab)
        if not files:
            return False
        try:
            latest = GradeReport.model_validate_json(files[-1].read_text(encoding="utf-8"))
        except (OSError, ValidationError):
            return False
        if latest.started < freeze.at:
            return False
    return True


def ungraded(clocks: ClockStore, name: str) -> list[str]:
    """Ended candidates (their end finished) with a frozen lab not graded since its freeze."""
    session = clocks.exams.get(name)
    clock = clocks.clock(name)
    out = []
    for cand in session.candidates:
        mine = clock.of(cand.login)
        if mine.ended_at is not None and mine.complete and not _graded_since_freeze(mine):
            out.append(cand.login)
    return out


def grade_ended(
    clocks: ClockStore,
    name: str,
    logins: Sequence[str],
    *,
    parallel: int = 2,
    on_graded: Callable[[Graded], None] | None = None,
) -> list[Graded]:
    """Grade these ended candidates' frozen labs, ``parallel`` candidates at a time (each
    candidate's labs one after the other); in the order of ``logins``."""

    def one(login: str) -> Graded:
        t0 = time.monotonic()
        try:
            reports = grade_frozen(name, login, clocks=clocks)
            got = Graded(login, reports, None, round(time.monotonic() - t0, 1))
        except TaiLabsError as exc:
            got = Graded(login, {}, exc.message, round(time.monotonic() - t0, 1))
        except Exception as exc:  # one candidate's crash must not leave the others ungraded
            got = Graded(login, {}, f"{type(exc).__name__}: {exc}", round(time.monotonic() - t0, 1))
        if on_graded is not None:
            on_graded(got)
        return got

    if not logins:
        return []
    with ThreadPoolExecutor(max_workers=max(1, min(parallel, len(logins)))) as pool:
        return list(pool.map(one, logins))
