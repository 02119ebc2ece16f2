"""Self-service practice labs: a practice account picks a scenario and gets its own lab.

Each request becomes a practice session of one candidate (the account) and one scenario in
the exam store, like any practice session (``Session.practice``), so "check my work", hints
and reset (``exam.practice``) work on it unchanged; its lab is built with the account as
the candidate and their draw's seed, and its id is chosen and recorded before it is built.

The server enforces, here, with an injected clock and injected lab operations (``LabOps``)
so that all of it is unit-testable:

- a quota of labs per account (``Policy.per_account``, queued ones included);
- the host's capacity, with the figures of ``session up`` (``fleet.admit``): a request waits
  in a FIFO queue until the labs ahead of it are started and it fits; its position is
  shown; ``tick`` starts it as soon as it fits;
- an idle time-to-live (``Policy.ttl``): a lab with no activity (``touch``: a page, a
  terminal keystroke) for that long is removed by ``tick``, its session record with it;
  ``warn_before`` the end, the page says so. A lab's clock starts when it is built.

The server calls ``tick`` periodically (``Ticker``) and after a request.
"""

from __future__ import annotations

import secrets
import shutil
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal, Protocol

from tai_labs.errors import TaiLabsError, UsageError
from tai_labs.exam import draw
from tai_labs.exam.fleet import (
    MAX_PARALLEL,
    HostCapacity,
    PlannedLab,
    admit,
    host_capacity,
    planned_nodes,
)
from tai_labs.exam.model import LOGIN, Candidate, Session, SessionScenario, SessionState
from tai_labs.exam.store import ExamStore
from tai_labs.lab.store import LabRecord, Store
from tai_labs.locations import locations
from tai_labs.providers.naming import new_lab_id

State = Literal["queued", "started"]
_TABLE = """
CREATE TABLE IF NOT EXISTS selfservice_labs (
    position INTEGER PRIMARY KEY AUTOINCREMENT,
    account TEXT NOT NULL,
    scenario TEXT NOT NULL,
    scenario_file TEXT NOT NULL,
    session TEXT NOT NULL,
    lab_id TEXT NOT NULL UNIQUE,
    seed INTEGER NOT NULL,
    state TEXT NOT NULL,
    memory_mib INTEGER NOT NULL,
    disk_mib INTEGER NOT NULL,
    requested REAL NOT NULL,
    last_active REAL NOT NULL
)
"""
#: A session name is ``libre-`` and 8 hex digits: no account name in it (it has a length cap).
SESSION_PREFIX = "libre-"


@dataclass(frozen=True)
class Policy:
    """What the server allows (``tai-labs serve --practice-*``)."""

    #: Labs an account may hold at once, queued ones included.
    per_account: int = 1
    #: Seconds without activity after which a lab is removed.
    ttl: float = 2 * 3600.0
    #: Seconds before the removal from which the page warns.
    warn_before: float = 600.0
    #: Seconds between two runs of ``tick`` in the server.
    tick_every: float = 30.0


@dataclass(frozen=True)
class SelfLab:
    """A self-service lab as recorded (``status`` is the lab store's, once started)."""

    position: int
    account: str
    scenario: str
    scenario_file: str
    session: str
    lab_id: str
    seed: int
    state: State
    memory_mib: int
    disk_mib: int
    requested: float
    last_active: float


@dataclass(frozen=True)
class LabStatus:
    """What the candidate's page shows of their lab, now."""

    lab: SelfLab
    #: queued, building, ready or failed.
    phase: str
    #: 1 for the next to start; None once started.
    queue_position: int | None
    #: Steps of `up` done and their total (progress while it builds).
    steps_done: int
    steps_total: int
    current_step: str | None
    error: str | None
    #: Seconds before an idle lab is removed (None while queued or building).
    expires_in: float | None
    warning: bool


class QuotaError(UsageError):
    exit_code = 2


class CapacityError(TaiLabsError):
    """The lab could never fit this host, even empty: refused rather than queued forever."""

    exit_code = 2


class LabOps(Protocol):
    """What the service does to labs; the real ones are ``HostLabOps``."""

    def plan(self, file: Path, login: str, seed: int) -> PlannedLab: ...

    def capacity(self) -> HostCapacity: ...

    def start(self, lab: SelfLab, done: Callable[[SelfLab], None]) -> None:
        """Build the lab in the background; call ``done`` when it has finished, either way."""

    def status(self, lab_id: str) -> LabRecord | None: ...

    def steps(self, lab_id: str) -> tuple[int, int, str | None]:
        """(steps done, steps in all, the step running) of the lab's `up`."""

    def remove(self, lab_id: str) -> None: ...

    def close(self) -> None:
        """The server stops: builds in progress stop at their next step (resumed later)."""


class HostLabOps:
    """The real operations: plan with the lab layer, build with ``lifecycle.up`` in a pool of
    threads, remove with ``lifecycle.down``, the host's figures from ``fleet.host_capacity``."""

    def __init__(self, store: Store, data: Path | None = None) -> None:
        self.store = store
        self.data = data
        self.pool = ThreadPoolExecutor(max_workers=MAX_PARALLEL, thread_name_prefix="selfservice")
        self.stopping = threading.Event()

    def plan(self, file: Path, login: str, seed: int) -> PlannedLab:
        from tai_labs.lab.plan import make_plan
        from tai_labs.scenario.loader import load_scenario

        loaded = load_scenario(file, candidate=login, seed=seed)
        plan = make_plan(loaded.scenario, "planned")
        return PlannedLab(login, loaded.scenario.id, file, seed, planned_nodes(plan))

    def capacity(self) -> HostCapacity:
        return host_capacity(self.data)

    def start(self, lab: SelfLab, done: Callable[[SelfLab], None]) -> None:
        from tai_labs.lab import lifecycle

        def stop_here(_: lifecycle.Event) -> None:
            # As `session up` on Ctrl-C: the lab layer records the step as interrupted,
            # and the next server resumes the lab.
            if self.stopping.is_set():
                raise KeyboardInterrupt

        def build() -> None:
            try:
                lifecycle.up(
                    Path(lab.scenario_file),
                    candidate=lab.account,
                    seed=lab.seed,
                    lab_id=lab.lab_id,
                    store=self.store,
                    report=stop_here,
                )
            except Exception:  # the lab store keeps the failure; the page shows it
                pass
            finally:
                done(lab)

        self.pool.submit(build)

    def status(self, lab_id: str) -> LabRecord | None:
        return self.store.find_lab(lab_id)

    def steps(self, lab_id: str) -> tuple[int, int, str | None]:
        from tai_labs.lab.lifecycle import UP_STEPS

        records = self.store.steps(lab_id)
        done = {r.step for r in records if r.status == "done"}
        running = [r.step for r in records if r.status == "running"]
        return len(done), len(UP_STEPS), running[-1] if running else None

    def remove(self, lab_id: str) -> None:
        from tai_labs.lab import lifecycle

        lifecycle.down(lab_id, store=self.store)

    def close(self) -> None:
        self.stopping.set()
        self.pool.shutdown(wait=True, cancel_futures=True)


def _row(row: object) -> SelfLab:
    r = dict(row)  # type: ignore[call-overload]  # a sqlite3.Row
    return SelfLab(**r)


class SelfService:
    """The self-service labs of this host: requests, the queue, the quota, the reaper."""

    def __init__(
        self,
        store: Store,
        ops: LabOps,
        policy: Policy | None = None,
        *,
        clock: Callable[[], float],
        exams: ExamStore | None = None,
    ) -> None:
        self.store = store
        self.ops = ops
        self.policy = policy or Policy()
        self.clock = clock
        self.exams = exams or ExamStore(store)
        self._lock = threading.Lock()
        #: Labs this process is building: the others "started" and not built are resumed.
        self._building: set[str] = set()
        self._resumed = False
        with store.writing() as db:
            db.execute(_TABLE)

    # -- reading -------------------------------------------------------------------------

    def labs(self, account: str | None = None) -> list[SelfLab]:
        with self.store.reading() as db:
            if account is None:
                rows = db.execute("SELECT * FROM selfservice_labs ORDER BY position").fetchall()
            else:
                rows = db.execute(
                    "SELECT * FROM selfservice_labs WHERE account = ? ORDER BY position",
                    (account,),
                ).fetchall()
        return [_row(r) for r in rows]

    def find(self, lab_id: str) -> SelfLab | None:
        with self.store.reading() as db:
            row = db.execute(
                "SELECT * FROM selfservice_labs WHERE lab_id = ?", (lab_id,)
            ).fetchone()
        return _row(row) if row else None

    def own(self, account: str, lab_id: str) -> SelfLab | None:
        """The account's lab ``lab_id``; None for another's or none (the portal says 404)."""
        lab = self.find(lab_id)
        return lab if lab is not None and lab.account == account else None

    def queue(self) -> list[SelfLab]:
        return [lab for lab in self.labs() if lab.state == "queued"]

    def status(self, lab: SelfLab) -> LabStatus:
        now = self.clock()
        if lab.state == "queued":
            ahead = [q.position for q in self.queue()]
            where = ahead.index(lab.position) + 1 if lab.position in ahead else None
            return LabStatus(lab, "queued", where, 0, 0, None, None, None, False)
        record = self.ops.status(lab.lab_id)
        done, total, current = self.ops.steps(lab.lab_id)
        if record is not None and record.status == "ready":
            phase = "ready"
        elif lab.lab_id in self._building or (record is not None and record.status == "creating"):
            phase = "building"
        else:
            phase = "failed"  # its `up` failed, or the lab was removed by hand
        expires = None
        if phase in ("ready", "failed"):
            expires = max(0.0, lab.last_active + self.policy.ttl - now)
        return LabStatus(
            lab,
            phase,
            None,
            done,
            total,
            current,
            (record.error if record is not None else "lab absent") if phase == "failed" else None,
            expires,
            expires is not None and expires <= self.policy.warn_before,
        )

    # -- asking ---------------------------------------------------------------------------

    def request(self, account: str, scenario_file: Path) -> SelfLab:
        """Queue a lab of ``scenario_file`` for ``account`` (``tick`` starts it when it fits).

        Raises ``QuotaError`` when the account holds its quota of labs, ``CapacityError``
        when the lab would not fit the host even with nothing else on it.
        """
        from tai_labs.scenario.loader import load_scenario, variable_specs

        if not LOGIN.fullmatch(account):
            raise UsageError(f"{account!r} cannot hold a practice lab (not a candidate login)")
        loaded = load_scenario(scenario_file)
        meta = loaded.scenario.scenario
        specs = variable_specs(scenario_file)
        key = secrets.token_hex(16)
        seed = draw.draw_scenario(key, meta.id, specs, [account])[0]
        planned = self.ops.plan(scenario_file, account, seed.seed)
        # This service's running labs will go (their TTL): only a lab that would not fit
        # even then is refused; any other waits in the queue.
        have = self.ops.capacity()
        freeable = sum(
            lab.memory_mib
            for lab in self.labs()
            if lab.state == "started" and lab.lab_id not in self._building
        )
        most = replace(have, memory_available_mib=have.memory_available_mib + freeable)
        problems = admit([planned], most).problems()
        if problems:
            raise CapacityError(
                f"{meta.id} is too large for this host: " + "; ".join(problems),
                hint="pick a smaller scenario, or ask an instructor",
            )
        name = SESSION_PREFIX + secrets.token_hex(4)
        session = Session(
            name=name,
            block=meta.block,
            practice=True,
            scenarios=(
                SessionScenario(
                    id=meta.id,
                    title=meta.title,
                    block=meta.block,
                    file=str(scenario_file.resolve()),
                    variants=draw.variant_count(specs),
                ),
            ),
            created=datetime.fromtimestamp(self.clock(), UTC),
            draw_key=key,
            candidates=(
                Candidate(
                    login=account,
                    nom=account,
                    prenom="",
                    roster_line=1,
                    login_derived=False,
                    draws=(seed,),
                ),
            ),
        )
        now = self.clock()
        lab_id = new_lab_id()
        with self._lock:
            # Counted and inserted in one transaction under one lock: two clicks at once
            # cannot both pass the quota.
            with self.store.writing() as db:
                held = db.execute(
                    "SELECT count(*) FROM selfservice_labs WHERE account = ?", (account,)
                ).fetchone()[0]
                if held >= self.policy.per_account:
                    raise QuotaError(
                        f"{account} holds {held} practice lab(s), the most allowed",
                        hint="remove one of yours first",
                    )
                db.execute(
                    "INSERT INTO selfservice_labs (account, scenario, scenario_file, session, "
                    "lab_id, seed, state, memory_mib, disk_mib, requested, last_active) "
                    "VALUES (?, ?, ?, ?, ?, ?, 'queued', ?, ?, ?, ?)",
                    (
                        account,
                        meta.id,
                        str(scenario_file.resolve()),
                        name,
                        lab_id,
                        seed.seed,
                        planned.memory_mib,
                        planned.disk_mib,
                        now,
                        now,
                    ),
                )
            try:
                self.exams.create(session)
            except BaseException:
                with self.store.writing() as db:
                    db.execute("DELETE FROM selfservice_labs WHERE lab_id = ?", (lab_id,))
                raise
        found = self.find(lab_id)
        assert found is not None
        return found

    def touch(self, lab_id: str) -> None:
        """Activity on the lab (a page, a keystroke): its idle clock starts again."""
        with self.store.writing() as db:
            db.execute(
                "UPDATE selfservice_labs SET last_active = ? WHERE lab_id = ?",
                (self.clock(), lab_id),
            )

    def remove(self, lab: SelfLab) -> None:
        """Remove the lab from the host, its session record and practice history, its row."""
        if lab.lab_id in self._building:
            raise UsageError("this lab is being built: remove it once it is ready or failed")
        if lab.state == "started":
            self.ops.remove(lab.lab_id)
        self.exams.purge(lab.session)
        shutil.rmtree(locations().data / "practice" / lab.session, ignore_errors=True)
        with self.store.writing() as db:
            db.execute("DELETE FROM selfservice_labs WHERE lab_id = ?", (lab.lab_id,))

    # -- the server's loop ----------------------------------------------------------------

    def tick(self) -> list[str]:
        """Remove idle labs, then start queued ones in order while they fit; what it did."""
        done = self.reap()
        done += self.admit()
        return done

    def reap(self) -> list[str]:
        now = self.clock()
        out = []
        for lab in self.labs():
            if lab.state != "started" or lab.lab_id in self._building:
                continue
            if lab.last_active + self.policy.ttl <= now:
                self.remove(lab)
                out.append(f"removed {lab.lab_id} ({lab.account}, idle)")
        return out

    def _used_mib(self) -> int:
        """Memory of this service's labs being built: not yet taken from MemAvailable."""
        return sum(lab.memory_mib for lab in self.labs() if lab.lab_id in self._building)

    def admit(self) -> list[str]:
        out = []
        with self._lock:
            if not self._resumed:
                # A server restarted mid-build: resume those labs (same id, `up` resumes).
                self._resumed = True
                for lab in self.labs():
                    record = self.ops.status(lab.lab_id)
                    if lab.state == "started" and (record is None or record.status != "ready"):
                        self._launch(lab)
                        out.append(f"resumed {lab.lab_id}")
            for lab in self.queue():
                have = self.ops.capacity()
                have = replace(
                    have, memory_available_mib=have.memory_available_mib - self._used_mib()
                )
                if admit([self._planned(lab)], have).problems():
                    break  # first come, first served: nobody overtakes the head of the queue
                with self.store.writing() as db:
                    db.execute(
                        "UPDATE selfservice_labs SET state = 'started', last_active = ? "
                        "WHERE lab_id = ?",
                        (self.clock(), lab.lab_id),
                    )
                self._launch(replace(lab, state="started"))
                out.append(f"started {lab.lab_id} ({lab.account}, {lab.scenario})")
        return out

    def _planned(self, lab: SelfLab) -> PlannedLab:
        from tai_labs.exam.fleet import PlannedNode

        # The figures recorded at the request (the plan's sums) stand for its nodes.
        node = PlannedNode("lab", "practice", "any", lab.memory_mib, lab.disk_mib)
        return PlannedLab(lab.account, lab.scenario, Path(lab.scenario_file), lab.seed, (node,))

    def _launch(self, lab: SelfLab) -> None:
        self._building.add(lab.lab_id)
        self.ops.start(lab, self._built)

    def _built(self, lab: SelfLab) -> None:
        # Its idle clock starts now: the build may take longer than the TTL.
        self.touch(lab.lab_id)
        self._building.discard(lab.lab_id)
        record = self.ops.status(lab.lab_id)
        if record is not None and record.status == "ready":
            session = self.exams.find(lab.session)
            if session is not None and session.state is SessionState.CREATED:
                self.exams.set_state(lab.session, SessionState.UP)


class Ticker:
    """Runs ``service.tick`` every ``policy.tick_every`` seconds in a thread of the server."""

    def __init__(self, service: SelfService, log: Callable[[str], None] | None = None) -> None:
        self.service = service
        self.log = log or (lambda line: print(line, flush=True))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="selfservice-tick", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                for line in self.service.tick():
                    self.log(f"libre-service : {line}")
            except Exception as exc:  # one failed removal must not stop the reaper
                self.log(f"libre-service : {exc}")
            self._stop.wait(self.service.policy.tick_every)
