"""`session up` and `session down`: every candidate's labs, admitted first, built in parallel.

A session has one lab per candidate and scenario, built with the candidate's drawn seed and
their login as the candidate name (``tai-labs up FILE --candidate LOGIN --seed SEED``). Each
lab's id is chosen and recorded in the store (``exam_labs``) *before* it is built, so a
`session up` interrupted anywhere resumes the same labs when run again: a ready lab is
skipped, a failed or half-built one resumed (``lifecycle.up`` with the same id carries on
from its last finished step), and no candidate ever gets two labs of one scenario.

Before anything is built, the admission check: the memory the labs still to build ask for
(each node's memory, its kind's row in ``kinds.py`` unless the scenario says, as the lab plan
gives it) and an estimate of their disk, against what the host has available now (labs of
other sessions already running count as used). Too little: an error with the figures and
nothing created.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from tai_labs.errors import TaiLabsError, UsageError
from tai_labs.exam.access import close_access
from tai_labs.exam.model import Session, SessionState
from tai_labs.exam.store import ExamStore, SessionStateError
from tai_labs.lab import lifecycle
from tai_labs.lab.plan import LabPlan, make_plan
from tai_labs.lab.store import LabRecord, Store
from tai_labs.locations import locations
from tai_labs.providers.naming import new_lab_id
from tai_labs.scenario.loader import load_scenario

#: Memory kept for the host itself and the tool (MiB), not handed to labs.
HOST_RESERVE_MIB = 1024
#: Disk kept free on the data folder's file system (MiB).
DISK_RESERVE_MIB = 2048
#: Disk a container node's writable layer takes when the scenario sets no cap (MiB): a
#: provisioned Debian node writes a few hundred MiB over its image (packages' state, logs).
CONTAINER_DISK_MIB = 512
#: A VM's overlay over its image, before its extra disks (MiB).
VM_DISK_MIB = 2048
#: Labs built at once at most, whatever the host: provisioning is CPU-bound.
MAX_PARALLEL = 8


class AdmissionError(TaiLabsError):
    """The host cannot hold the session: nothing was created."""

    exit_code = 2


# -- planning (no lab) ------------------------------------------------------------------


@dataclass(frozen=True)
class PlannedNode:
    name: str
    kind: str
    engine: str
    memory_mib: int
    disk_mib: int


@dataclass(frozen=True)
class PlannedLab:
    login: str
    scenario: str
    file: Path
    seed: int
    nodes: tuple[PlannedNode, ...]

    @property
    def memory_mib(self) -> int:
        return sum(n.memory_mib for n in self.nodes)

    @property
    def disk_mib(self) -> int:
        return sum(n.disk_mib for n in self.nodes)


def node_disk_mib(plan_disk_limit: int | None, own_kernel: bool, extra_disks: int) -> int:
    """What one node may take on the data folder's disk (an estimate, MiB)."""
    if own_kernel:
        return VM_DISK_MIB + extra_disks
    return (plan_disk_limit or CONTAINER_DISK_MIB) + extra_disks


def planned_nodes(plan: LabPlan) -> tuple[PlannedNode, ...]:
    return tuple(
        PlannedNode(
            name=n.name,
            kind=n.kind.value,
            engine=n.engine,
            memory_mib=n.memory_mib,
            disk_mib=node_disk_mib(
                n.disk_limit_mib, n.image_form == "disk", sum(d.size_mib for d in n.disks)
            ),
        )
        for n in plan.nodes
    )


def plan_session(session: Session) -> list[PlannedLab]:
    """Every lab of the session, in roster order then scenario order, with its nodes as the
    lab layer plans them for that candidate's variant (memory and disks may depend on it)."""
    return [
        plan_lab(cand.login, sc.id, Path(sc.file), cand.draw(sc.id).seed)
        for cand in session.candidates
        for sc in session.scenarios
    ]


def plan_lab(login: str, scenario: str, file: Path, seed: int) -> PlannedLab:
    """One lab of ``file`` for ``login`` in the variant ``seed`` draws, as the lab layer
    plans it."""
    loaded = load_scenario(file, candidate=login, seed=seed)
    plan = make_plan(loaded.scenario, "planned")
    return PlannedLab(login, scenario, file, seed, planned_nodes(plan))


# -- admission ----------------------------------------------------------------------------


@dataclass(frozen=True)
class HostCapacity:
    memory_available_mib: int
    disk_free_mib: int
    cores: int


def host_capacity(data: Path | None = None) -> HostCapacity:
    """What the host has now: MemAvailable (labs already running are counted as used), the
    free space of the data folder's file system, the cores."""
    info = {}
    for line in Path("/proc/meminfo").read_text().splitlines():
        key, _, rest = line.partition(":")
        if rest.split():
            info[key] = int(rest.split()[0])
    folder = data or locations().data
    while not folder.exists():
        folder = folder.parent
    return HostCapacity(
        memory_available_mib=info.get("MemAvailable", 0) // 1024,
        disk_free_mib=shutil.disk_usage(folder).free // 2**20,
        cores=os.cpu_count() or 1,
    )


@dataclass(frozen=True)
class Admission:
    labs: int
    nodes: int
    memory_mib: int
    disk_mib: int
    #: (kind, memory per node) -> how many nodes: the figures behind ``memory_mib``.
    by_kind: Mapping[tuple[str, int], int]
    capacity: HostCapacity

    @property
    def memory_usable_mib(self) -> int:
        return self.capacity.memory_available_mib - HOST_RESERVE_MIB

    @property
    def disk_usable_mib(self) -> int:
        return self.capacity.disk_free_mib - DISK_RESERVE_MIB

    def problems(self) -> list[str]:
        out = []
        if self.memory_mib > self.memory_usable_mib:
            detail = " + ".join(
                f"{count} × {kind} {mib} MiB" for (kind, mib), count in sorted(self.by_kind.items())
            )
            out.append(
                f"memory: {self.labs} lab(s), {self.nodes} node(s) need {_gib(self.memory_mib)} "
                f"({detail}); the host has {_gib(self.capacity.memory_available_mib)} available, "
                f"{_gib(max(self.memory_usable_mib, 0))} after {HOST_RESERVE_MIB} MiB kept for "
                "itself"
            )
        if self.disk_mib > self.disk_usable_mib:
            out.append(
                f"disk: {self.nodes} node(s) need about {_gib(self.disk_mib)}; "
                f"{_gib(self.capacity.disk_free_mib)} free for {locations().data}, "
                f"{_gib(max(self.disk_usable_mib, 0))} after {DISK_RESERVE_MIB} MiB kept free"
            )
        return out


def _gib(mib: int) -> str:
    return f"{mib / 1024:.1f} GiB"


def admit(labs: Sequence[PlannedLab], capacity: HostCapacity) -> Admission:
    """The figures of the labs still to build against the host; ``problems()`` says what
    does not fit."""
    nodes = [n for lab in labs for n in lab.nodes]
    return Admission(
        labs=len(labs),
        nodes=len(nodes),
        memory_mib=sum(n.memory_mib for n in nodes),
        disk_mib=sum(n.disk_mib for n in nodes),
        by_kind=dict(Counter((n.kind, n.memory_mib) for n in nodes)),
        capacity=capacity,
    )


def admit_at_once(labs: Sequence[PlannedLab], at_once: int, capacity: HostCapacity) -> Admission:
    """The figures of the ``at_once`` largest labs together: what labs built and kept up
    ``at_once`` at a time (each removed before the next starts) can need at worst."""
    largest = sorted(labs, key=lambda lab: (lab.memory_mib, lab.disk_mib), reverse=True)
    return admit(largest[:at_once], capacity)


def default_parallel(labs: Sequence[PlannedLab], capacity: HostCapacity) -> int:
    """Labs built at once: one per core (provisioning is CPU-bound), no more than the memory
    holds of the largest lab at once, at least one."""
    if not labs:
        return 1
    largest = max(lab.memory_mib for lab in labs) or 1
    by_memory = max((capacity.memory_available_mib - HOST_RESERVE_MIB) // largest, 1)
    return max(1, min(capacity.cores, by_memory, MAX_PARALLEL, len(labs)))


# -- up -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class LabOutcome:
    scenario: str
    lab_id: str
    status: str  # "ready" (built now), "skipped" (ready already) or "failed"
    seconds: float = 0.0
    error: str | None = None


@dataclass(frozen=True)
class CandidateOutcome:
    login: str
    labs: tuple[LabOutcome, ...]

    @property
    def ok(self) -> bool:
        return all(lab.status != "failed" for lab in self.labs)


@dataclass
class UpResult:
    session: str
    state: str
    parallel: int
    admission: Admission | None
    candidates: list[CandidateOutcome] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.candidates)


class SessionUpError(TaiLabsError):
    """Some labs failed; the others are up. Running `session up` again retries them."""

    def __init__(self, message: str, *, hint: str | None = None, result: UpResult) -> None:
        super().__init__(message, hint=hint)
        self.result = result


Progress = Callable[[CandidateOutcome], None]


def _ready(record: LabRecord | None) -> bool:
    return record is not None and record.status == "ready"


def _up_candidate(
    exams: ExamStore,
    session: Session,
    labs: Sequence[PlannedLab],
    store: Store,
    stop: threading.Event | None = None,
) -> CandidateOutcome:
    outcomes = []
    for planned in labs:
        lab_id = exams.link_lab(session.name, planned.login, planned.scenario, new_lab_id())
        if _ready(store.find_lab(lab_id)):
            outcomes.append(LabOutcome(planned.scenario, lab_id, "skipped"))
            continue
        began = time.monotonic()
        try:
            lifecycle.up(
                planned.file,
                candidate=planned.login,
                seed=planned.seed,
                lab_id=lab_id,
                store=store,
                report=_stopper(stop),
            )
        except Exception as exc:  # one candidate's failure must not stop the others
            outcomes.append(
                LabOutcome(
                    planned.scenario,
                    lab_id,
                    "failed",
                    time.monotonic() - began,
                    str(exc) or type(exc).__name__,
                )
            )
            continue
        outcomes.append(LabOutcome(planned.scenario, lab_id, "ready", time.monotonic() - began))
    return CandidateOutcome(labs[0].login, tuple(outcomes))


def _stopper(stop: threading.Event | None) -> lifecycle.Reporter:
    """A lab's reporter that interrupts its `up` at the next event once ``stop`` is set:
    the lab layer records the step as interrupted, and the next `session up` resumes it."""

    def report(_: lifecycle.Event) -> None:
        if stop is not None and stop.is_set():
            raise KeyboardInterrupt

    return report


def session_up(
    name: str,
    *,
    parallel: int | None = None,
    progress: Progress | None = None,
    exams: ExamStore | None = None,
    capacity: HostCapacity | None = None,
) -> UpResult:
    """Bring every lab of the session up (resuming), then move it ``created`` -> ``up``.

    Raises ``AdmissionError`` before anything is created when the host is too small for the
    labs still to build, ``SessionUpError`` (after all candidates were tried) when a lab
    failed: run it again to retry those.
    """
    exams = exams or ExamStore()
    store = exams.store
    session = exams.get(name)
    if session.state is SessionState.ENDED:
        raise SessionStateError(
            f"session {name} has ended: its labs are frozen for grading",
            hint=f"`tai-labs session down {name}` removes them",
        )
    if parallel is not None and parallel < 1:
        raise UsageError("--parallel takes 1 or more")
    links = exams.lab_links(name)
    planned = plan_session(session)
    todo = [
        lab for lab in planned if not _ready(_find(store, links.get((lab.login, lab.scenario))))
    ]
    capacity = capacity or host_capacity()
    admission = admit(todo, capacity)
    problems = admission.problems()
    if problems:
        raise AdmissionError(
            f"this host cannot hold session {name}: " + "; ".join(problems),
            hint="fewer candidates or scenarios per host, or free memory or disk first "
            "(`tai-labs ls` lists the labs running)",
        )
    workers = parallel or default_parallel(todo, capacity)
    by_login: dict[str, list[PlannedLab]] = {}
    for lab in planned:
        by_login.setdefault(lab.login, []).append(lab)
    result = UpResult(name, session.state.value, workers, admission)

    stop = threading.Event()

    def one(login: str) -> CandidateOutcome:
        outcome = _up_candidate(exams, session, by_login[login], store, stop)
        if progress is not None:
            progress(outcome)
        return outcome

    pool = ThreadPoolExecutor(max_workers=workers)
    try:
        result.candidates = list(pool.map(one, [c.login for c in session.candidates]))
    except BaseException:
        # Ctrl-C: no new lab starts, those being built stop at their next event (recorded
        # as interrupted by the lab layer); the next `session up` resumes them all.
        stop.set()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown()
    if not result.ok:
        failed = [c.login for c in result.candidates if not c.ok]
        raise SessionUpError(
            f"session {name}: the labs of {len(failed)} candidate(s) failed "
            f"({', '.join(failed)}); the others are ready",
            hint=f"run `tai-labs session up {name}` again: it retries them only",
            result=result,
        )
    if session.state is SessionState.CREATED:
        result.state = exams.set_state(name, SessionState.UP).state.value
    return result


def _find(store: Store, lab_id: str | None) -> LabRecord | None:
    return store.find_lab(lab_id) if lab_id else None


@dataclass(frozen=True)
class SessionLab:
    """A lab of the session, for `session show`/`status`: who, which scenario, its state."""

    login: str
    scenario: str
    lab_id: str
    status: str  # the lab's store status, or "absent" (chosen, not created yet, or gone)


def session_labs(name: str, *, exams: ExamStore | None = None) -> list[SessionLab]:
    """The session's labs in roster then scenario order (only those `session up` chose)."""
    exams = exams or ExamStore()
    session = exams.get(name)
    links = exams.lab_links(name)
    out = []
    for cand in session.candidates:
        for sc in session.scenarios:
            lab_id = links.get((cand.login, sc.id))
            if lab_id is not None:
                record = exams.store.find_lab(lab_id)
                status = record.status if record else "absent"
                out.append(SessionLab(cand.login, sc.id, lab_id, status))
    return out


# -- down ---------------------------------------------------------------------------------


@dataclass
class DownResult:
    session: str
    accounts: list[str] = field(default_factory=list)
    labs: dict[str, list[str]] = field(default_factory=dict)
    record_removed: bool = False


def session_down(
    name: str,
    *,
    force: bool = False,
    exams: ExamStore | None = None,
) -> DownResult:
    """Remove every gateway account and lab of the session, then its record.

    Safe to run again after an interruption: each lab is removed by its recorded id, and the
    record goes last, only when every lab is gone. A session whose exam is running
    (``started``) is refused unless ``force``: its candidates are working in those labs.
    """
    exams = exams or ExamStore()
    session = exams.get(name)
    if session.state is SessionState.STARTED and not force and not session.practice:
        raise SessionStateError(
            f"session {name} is running: its candidates are working in these labs",
            hint=f"end it first (`tai-labs session end {name}`), or add --force",
        )
    result = DownResult(name)
    result.accounts = close_access(name, None, exams=exams)
    errors = []
    for (_, _), lab_id in sorted(exams.lab_links(name).items()):
        try:
            result.labs[lab_id] = lifecycle.down(lab_id, store=exams.store)
        except TaiLabsError as exc:
            errors.append(f"{lab_id}: {exc}")
            continue
        exams.unlink_lab(name, lab_id)
    if errors:
        raise TaiLabsError(
            f"session {name}: {len(errors)} lab(s) could not be removed: " + "; ".join(errors),
            hint=f"run `tai-labs session down {name}` again; the record stays until they are gone",
        )
    exams.purge(name)
    result.record_removed = True
    return result
