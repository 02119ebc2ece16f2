"""A candidate's end: access closed at once, every lab frozen as they left it, graded from there.

Ending one candidate (``end_candidate``) is three steps, each recorded before the next, so a
rerun after a crash does only what is left and a rerun after success changes nothing:

1. their end time is recorded (once: a rerun keeps the first) and their access closed;
2. each lab gets an ``exam-end`` snapshot (the lab layer's machinery, the one of
   ``exam-start``: a container's files, copied while its processes are frozen; a VM's disk and
   memory), recorded with its time;
3. every node of the lab is stopped: nothing left running in it (a loop, a timer) acts any
   more, and ``tai-labs exec``, a console or the gateway find nothing to act on.

``grade_frozen`` grades each lab from its ``exam-end`` snapshot, never from what the nodes
hold now: the nodes are put back to the snapshot (booted if stopped), graded as
``tai-labs grade`` grades (restart phase included), and stopped again. Whatever was done after
the end, by anyone, is gone before a check runs, and two gradings read the same state. What
lived only in a container's memory at the end (a route added by hand and never saved) is not
in its snapshot: it is judged as after a reboot, as the restart phase already judges it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime

from tai_labs.errors import TaiLabsError
from tai_labs.exam.clock import LabFreeze
from tai_labs.exam.clock_store import ClockStore
from tai_labs.exam.model import Candidate, Session, SessionState
from tai_labs.exam.seams import AccessGate, LabFinder
from tai_labs.exam.store import SessionStateError
from tai_labs.grading.result import GradeReport
from tai_labs.lab import lifecycle
from tai_labs.lab.restart import grade_lab_restarting
from tai_labs.lab.runtime import Lab, open_lab
from tai_labs.lab.store import lab_lock
from tai_labs.providers.base import NodeState

#: The snapshot every lab gets at its candidate's end (a name the engines accept).
EXAM_END = "exam-end"


class NotFrozenError(SessionStateError):
    pass


class AccessNotClosedError(TaiLabsError):
    pass


@dataclass(frozen=True)
class Ended:
    """What one ``end_candidate`` did."""

    login: str
    ended_at: datetime
    #: Nothing was left to do: the candidate was ended and frozen before this call.
    already: bool
    #: Labs frozen by this call (scenario -> lab id).
    frozen: dict[str, str]
    #: Scenarios the candidate has no lab of (never brought up): nothing to freeze.
    missing: tuple[str, ...]


def _stop_all(lab: Lab) -> None:
    def stop(resource: str) -> None:
        if lab.engine.state(resource) not in (NodeState.STOPPED, NodeState.ABSENT):
            lab.engine.stop(resource)

    nodes = [n.resource for n in lab.plan.nodes]
    with ThreadPoolExecutor(max_workers=max(1, len(nodes))) as pool:
        errors = [f.exception() for f in [pool.submit(stop, r) for r in nodes]]
    for error in errors:
        if error is not None:
            raise error


def _now() -> datetime:
    return datetime.now(UTC)


def end_candidates(
    clocks: ClockStore,
    name: str,
    logins: Sequence[str],
    *,
    gate: AccessGate,
    find_labs: LabFinder,
    parallel: int = 2,
    now: Callable[[], datetime] = _now,
) -> list[Ended]:
    """End these candidates now: first record each end and close each access (all of them,
    at once, before any snapshot), then freeze their labs, ``parallel`` candidates at a time.
    Resumable: what a previous run did is kept and not done again."""
    session = clocks.exams.get(name)
    if session.state not in (SessionState.STARTED, SessionState.ENDED):
        raise SessionStateError(
            f"session {name} is {session.state.value}: it has not started, nobody can end",
            hint=f"start it with `tai-labs session start {name}`",
        )
    cands = [session.candidate(login) for login in logins]
    before = clocks.clock(name)
    ended_at = {}
    unclosed: dict[str, BaseException] = {}
    for cand in cands:
        ended_at[cand.login] = clocks.mark_ended(name, cand.login, now())
        # On every run, first thing: cheap, idempotent, and it must not wait for a snapshot.
        # One gate failure must not leave the next candidates open: each is tried, the
        # failures raised once their labs are frozen (stopped nodes reach nothing anyway).
        try:
            gate.close(session, cand.login)
        except Exception as exc:  # the gate is another part's code: any failure counts
            unclosed[cand.login] = exc

    def freeze(cand: Candidate) -> Ended:
        labs = find_labs(session, cand)
        frozen = {}
        for scenario, lab_id in labs.items():
            if _freeze_lab(clocks, session, cand.login, scenario, lab_id, now):
                frozen[scenario] = lab_id
        if cand.login not in unclosed:  # else not complete: `run` tries the close again
            clocks.mark_complete(name, cand.login)
        missing = tuple(sc.id for sc in session.scenarios if sc.id not in labs)
        return Ended(
            cand.login, ended_at[cand.login], before.of(cand.login).complete, frozen, missing
        )

    with ThreadPoolExecutor(max_workers=max(1, min(parallel, len(cands)))) as pool:
        futures = [pool.submit(freeze, cand) for cand in cands]
    errors = [f.exception() for f in futures]
    for error in errors:
        if error is not None:
            raise error
    if unclosed:
        login, first = next(iter(unclosed.items()))
        raise AccessNotClosedError(
            f"the access of {', '.join(unclosed)} could not be closed ({login}: {first}); "
            "their labs are frozen",
            hint=f"run `tai-labs session end {name}` again: it tries the close again",
        ) from first
    return [f.result() for f in futures]


def _freeze_lab(
    clocks: ClockStore,
    session: Session,
    login: str,
    scenario: str,
    lab_id: str,
    now: Callable[[], datetime],
) -> bool:
    """Snapshot the lab (unless recorded already), record it, stop its nodes; True if this
    call took the snapshot."""
    with lab_lock(lab_id):
        # Read under the lock: another `end` (or `run`) may have frozen it while we came.
        recorded = clocks.clock(session.name).of(login).frozen_lab(scenario)
        lab = open_lab(lab_id)
        if recorded is None:
            lifecycle.take_snapshot(lab, EXAM_END)
            clocks.add_freeze(
                session.name,
                login,
                LabFreeze(
                    scenario=scenario,
                    lab=lab_id,
                    snapshot=EXAM_END,
                    at=now(),
                    nodes=tuple(n.name for n in lab.plan.nodes),
                ),
            )
        # Every run: a node started by hand since the end is stopped again.
        _stop_all(lab)
    return recorded is None


def finish_if_all_ended(clocks: ClockStore, name: str) -> bool:
    """Move the session to ``ended`` once every candidate has ended; True if it is."""
    session = clocks.exams.get(name)
    if session.state is SessionState.ENDED:
        return True
    clock = clocks.clock(name)
    if not all(clock.of(c.login).complete for c in session.candidates):
        return False
    try:
        clocks.exams.set_state(name, SessionState.ENDED)
    except SessionStateError:
        if clocks.exams.get(name).state is not SessionState.ENDED:
            raise
    return True


def _restore(lab: Lab) -> None:
    """The lab back to its ``exam-end`` snapshot, every node booted and its role started."""
    with lab_lock(lab.id):
        lifecycle.step_boot(lab, lambda _event: None)
        lifecycle.revert_to(lab, EXAM_END)


def grade_frozen(
    name: str, login: str, *, clocks: ClockStore | None = None
) -> dict[str, GradeReport]:
    """Grade each lab of an ended candidate from its ``exam-end`` snapshot (scenario ->
    report, in the session's scenario order). Each report is also kept in the lab's grade
    history (``grades/``), like every grading. The nodes are stopped again afterwards.

    The same state is read every time, so running it twice gives the same verdicts; what
    anyone did in a node after the end is reverted before grading. Raises ``NotFrozenError``
    for a candidate whose end has not finished (run ``session end`` again: it resumes)."""
    clocks = clocks or ClockStore()
    session = clocks.exams.get(name)
    mine = clocks.clock(name).of(session.candidate(login).login)
    if mine.ended_at is None:
        raise NotFrozenError(
            f"{login} has not ended: their labs are live, not frozen",
            hint=f"`tai-labs session end {name} --candidate {login}` ends them",
        )
    reports: dict[str, GradeReport] = {}
    for sc in session.scenarios:
        freeze = mine.frozen_lab(sc.id)
        if freeze is None:
            continue
        lab = open_lab(freeze.lab)
        lost = [
            n.name for n in lab.plan.nodes if EXAM_END not in lab.engine.list_snapshots(n.resource)
        ]
        if lost:
            raise TaiLabsError(
                f"lab {freeze.lab}: {', '.join(lost)} has no {EXAM_END} snapshot: "
                "its frozen state is lost",
                hint="the lab was reset or rebuilt after the end; the jury decides",
            )
        try:
            _restore(lab)
            reports[sc.id] = grade_lab_restarting(freeze.lab)
        finally:
            with lab_lock(lab.id):
                _stop_all(open_lab(freeze.lab))
    return reports


def frozen_labs(session: Session, clocks: ClockStore) -> dict[str, tuple[LabFreeze, ...]]:
    """Each candidate's frozen labs (the freeze metadata a jury archive keeps)."""
    clock = clocks.clock(session.name)
    return {c.login: clock.of(c.login).frozen for c in session.candidates}
