"""Practice mode behind the lab page: gradings and resets run off the event loop, one at a
time per lab, and what the candidate's practice panel shows.

A grading of the 3-node lab takes seconds and a reset longer: both run in this desk's worker
threads, so the event loop keeps serving the others' pages and terminals. Per lab at most one
job runs; a second "Vérifier mon travail" while one runs joins it rather than grading twice,
and a reset waits for nothing (it is refused while a job runs). The outcome of the last job
of each lab is kept in memory for the page to show (the attempts themselves are recorded by
``tai_labs.exam.practice``, which outlives a restart).

What reaches the page: per check its verdict and the scenario's message (``CheckRun``, which
holds no evidence), revealed hints, and fixed French sentences; never an exception's text
(it can name the grader's commands and nodes).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from tai_labs.errors import TaiLabsError
from tai_labs.exam import practice
from tai_labs.exam.practice import Attempt, CheckRun, PracticeRecord
from tai_labs.lab.runtime import render_for_lab
from tai_labs.lab.secrets import LabSecrets
from tai_labs.lab.store import LabRecord
from tai_labs.locations import locations
from tai_labs.scenario.model import Hint

log = logging.getLogger(__name__)

#: Gradings and resets at once across the whole portal (the host has few cores; a job over
#: this waits its turn in the queue).
WORKERS = 4
#: How long the "Vérifier mon travail" request waits for its grading before answering with
#: the page saying it runs (the page then reloads itself until it is done).
CHECK_WAIT = 45.0


class JobKind(StrEnum):
    CHECK = "check"
    RESET = "reset"


#: The only sentences a redirect may ask the page to show (``?m=CODE``): a code, never text
#: from the request, so a crafted link cannot put words on the candidate's page.
NOTICES = {
    "busy": "Une opération est déjà en cours sur ce lab : attendez qu'elle se termine.",
    "hint-none": "Il n'y a plus d'indice pour ce scénario.",
    "hint-failed": "L'indice n'a pas pu être affiché : réessayez dans un instant.",
}
CHECK_FAILED = (
    "La vérification n'a pas pu se faire (le lab est peut-être en cours de préparation) : "
    "réessayez dans un instant."
)
RESET_FAILED = (
    "La remise à zéro n'a pas abouti : réessayez, ou prévenez votre formateur si cela recommence."
)
RUNNING = {
    JobKind.CHECK: "Vérification de votre travail en cours…",
    JobKind.RESET: "Remise à zéro du lab en cours : vos machines redémarrent…",
}


@dataclass(frozen=True)
class Outcome:
    """The end of the last job of a lab: a check's run, or a reset, or a failure."""

    kind: JobKind
    at: datetime
    run: CheckRun | None = None
    failed: str | None = None


@dataclass
class _Job:
    kind: JobKind
    future: Future[Any]


class PracticeDesk:
    """The portal's practice jobs: a thread pool, the job running per lab, the last outcome."""

    def __init__(self, workers: int = WORKERS) -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="practice")
        self._lock = threading.Lock()
        self._jobs: dict[str, _Job] = {}
        self._last: dict[str, Outcome] = {}
        self._hints: dict[str, tuple[Hint, ...]] = {}

    def running(self, lab_id: str) -> JobKind | None:
        with self._lock:
            job = self._jobs.get(lab_id)
            return job.kind if job else None

    def last(self, lab_id: str) -> Outcome | None:
        with self._lock:
            return self._last.get(lab_id)

    def start(self, kind: JobKind, lab_id: str, work: Callable[[], Any]) -> Future[Any] | None:
        """Run ``work`` for the lab unless a job runs: then the running check to join (for a
        check), or None (refused)."""
        with self._lock:
            job = self._jobs.get(lab_id)
            if job is not None:
                return job.future if job.kind is kind is JobKind.CHECK else None
            future = self._pool.submit(self._run, kind, lab_id, work)
            self._jobs[lab_id] = _Job(kind, future)
            return future

    def _run(self, kind: JobKind, lab_id: str, work: Callable[[], Any]) -> Outcome:
        try:
            result = work()
            run = result[0] if kind is JobKind.CHECK and result else None
            outcome = Outcome(kind, datetime.now(UTC), run=run)
        except Exception as exc:  # a job's end is told on the page, never its text
            if not isinstance(exc, TaiLabsError):
                log.exception("lab %s: practice %s failed", lab_id, kind)
            else:
                log.warning("lab %s: practice %s failed: %s", lab_id, kind, exc)
            failed = CHECK_FAILED if kind is JobKind.CHECK else RESET_FAILED
            outcome = Outcome(kind, datetime.now(UTC), failed=failed)
        with self._lock:
            self._last[lab_id] = outcome
            self._jobs.pop(lab_id, None)
        return outcome

    def hints(self, lab: LabRecord, data: Path | None) -> tuple[Hint, ...]:
        """The lab's hints as its scenario renders them for this lab (cached: they do not
        change during the lab's life)."""
        with self._lock:
            found = self._hints.get(lab.id)
        if found is None:
            loaded = render_for_lab(
                Path(lab.scenario_file),
                lab.id,
                lab.candidate,
                lab.seed,
                LabSecrets(locations(data).lab(lab.id)),
            )
            found = tuple(loaded.scenario.hints)
            with self._lock:
                self._hints[lab.id] = found
        return found


async def wait_for(future: Future[Any], seconds: float) -> bool:
    """Wait up to ``seconds`` for a job, without cancelling it; True when it is done."""
    wrapped = asyncio.wrap_future(future)
    done, _ = await asyncio.wait({wrapped}, timeout=seconds)
    return bool(done)


def points(value: float) -> str:
    """2.0 -> "2", 1.5 -> "1,5" (French decimal comma)."""
    return f"{value:g}".replace(".", ",")


def moment(at: datetime) -> str:
    """A recorded time in the server's time zone, as a candidate reads it."""
    return at.astimezone().strftime("%d/%m/%Y %H:%M:%S")


@dataclass(frozen=True)
class CheckLine:
    title: str
    #: The verdict's value (``pass``, ``fail``...), for the page's styles.
    verdict: str
    label: str
    message: str


@dataclass(frozen=True)
class LastOutcome:
    kind: str
    at: str
    failed: str | None = None
    points: str = ""
    max_points: str = ""
    checks: tuple[CheckLine, ...] = ()


@dataclass(frozen=True)
class RevealedHint:
    number: int
    text: str
    cost: str


@dataclass(frozen=True)
class AttemptRow:
    at: str
    points: str
    max_points: str
    passed: int
    total: int
    #: Hints read by the time of this attempt, and what they cost.
    hints_used: int
    hint_cost: str


@dataclass(frozen=True)
class PracticeView:
    """What the practice panel of a lab page shows, ready to print."""

    running: str | None
    last: LastOutcome | None
    notice: str | None
    hints: tuple[RevealedHint, ...]
    hints_total: int
    #: The cost of the next hint, None when none is left (or hints could not be read).
    next_hint_cost: str | None
    hint_cost: str
    #: Newest first.
    attempts: tuple[AttemptRow, ...]
    resets: tuple[str, ...]


def _last(outcome: Outcome | None) -> LastOutcome | None:
    if outcome is None:
        return None
    at = moment(outcome.at)
    if outcome.failed or outcome.run is None:
        return LastOutcome(outcome.kind.value, at, failed=outcome.failed)
    run = outcome.run
    lines = tuple(
        CheckLine(c.title, c.verdict.value, c.verdict.label_fr, c.message) for c in run.checks
    )
    return LastOutcome(
        outcome.kind.value, moment(run.at), None, points(run.points), points(run.max_points), lines
    )


def _attempt_row(attempt: Attempt, record: PracticeRecord) -> AttemptRow:
    before = [h for h in record.hints if h.at <= attempt.at]
    return AttemptRow(
        moment(attempt.at),
        points(attempt.points),
        points(attempt.max_points),
        attempt.passed,
        attempt.total,
        len(before),
        points(sum(h.cost for h in before)),
    )


def practice_view(
    desk: PracticeDesk,
    session: str,
    login: str,
    lab: LabRecord,
    data: Path | None,
    notice: str | None = None,
) -> PracticeView:
    record = practice.read_record(session, login).of(lab.scenario)
    try:
        hints = desk.hints(lab, data)
    except (TaiLabsError, OSError) as exc:  # the panel still shows; hints say they are missing
        log.warning("lab %s: its hints could not be read: %s", lab.id, exc)
        hints = ()
    taken = len(record.hints)
    running = desk.running(lab.id)
    return PracticeView(
        running=RUNNING[running] if running else None,
        last=_last(desk.last(lab.id)),
        notice=NOTICES.get(notice or ""),
        hints=tuple(
            RevealedHint(h.number, hints[h.number - 1].text, points(h.cost))
            for h in record.hints
            if h.number <= len(hints)
        ),
        hints_total=len(hints),
        next_hint_cost=points(hints[taken].cost) if taken < len(hints) else None,
        hint_cost=points(record.hint_cost(lab.scenario)),
        attempts=tuple(_attempt_row(a, record) for a in reversed(record.attempts)),
        resets=tuple(moment(r.at) for r in reversed(record.resets)),
    )
