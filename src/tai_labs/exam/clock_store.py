"""The exam clock in the state store: when a session started, and each candidate's timing.

Two tables beside ``exam_sessions`` (created here if missing, ``IF NOT EXISTS``, so an older
store gains them on first use and a session without them reads as not started). Every change
is one short transaction that only moves forward: a start is recorded once (with the state's
move ``up`` -> ``started`` in the same transaction), an end time once, a lab's freeze once. A
command run twice, or after a crash, finds what is done and does only what is left.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime

from tai_labs.exam.clock import CandidateClock, LabFreeze, SessionClock
from tai_labs.exam.model import SessionState
from tai_labs.exam.store import ExamStore, SessionStateError

_TABLES = """
CREATE TABLE IF NOT EXISTS exam_clock (
    session TEXT PRIMARY KEY REFERENCES exam_sessions(name) ON DELETE CASCADE,
    started_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS exam_timing (
    session TEXT NOT NULL REFERENCES exam_sessions(name) ON DELETE CASCADE,
    login TEXT NOT NULL,
    extra_minutes INTEGER NOT NULL DEFAULT 0,
    access_opened REAL,
    ended_at REAL,
    frozen TEXT NOT NULL DEFAULT '[]',
    complete INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (session, login)
)
"""


def _time(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


class ClockStore:
    def __init__(self, exams: ExamStore | None = None) -> None:
        self.exams = exams or ExamStore()
        with self.exams.store.writing() as db:
            for statement in _TABLES.split(";"):
                db.execute(statement)

    def clock(self, name: str) -> SessionClock:
        self.exams.get(name)  # an unknown session is said so, not read as "not started"
        with self.exams.store.reading() as db:
            row = db.execute("SELECT started_at FROM exam_clock WHERE session = ?", (name,))
            started = row.fetchone()
            rows = db.execute("SELECT * FROM exam_timing WHERE session = ?", (name,)).fetchall()
        candidates = {
            r["login"]: CandidateClock(
                login=r["login"],
                extra_minutes=r["extra_minutes"],
                access_opened=_time(r["access_opened"]),
                ended_at=_time(r["ended_at"]),
                frozen=tuple(LabFreeze.model_validate(f) for f in json.loads(r["frozen"])),
                complete=bool(r["complete"]),
            )
            for r in rows
        }
        return SessionClock(
            started_at=_time(started["started_at"]) if started else None, candidates=candidates
        )

    def start(self, name: str, when: datetime) -> bool:
        """Move the session ``up`` -> ``started`` and record ``when``, in one transaction.

        False if it was started already (nothing changed); a session in any other state is
        refused with where it is."""
        current = self.exams.get(name).state
        if current is SessionState.STARTED:
            return False
        if current is not SessionState.UP:
            raise SessionStateError(
                f"session {name} is {current.value}: only a session whose labs are up starts",
                hint=f"bring its labs up first: `tai-labs session up {name}`"
                if current is SessionState.CREATED
                else f"it has ended; `tai-labs session status {name}` shows how",
            )
        with self.exams.store.writing() as db:
            moved = db.execute(
                "UPDATE exam_sessions SET state = ?, updated = ? WHERE name = ? AND state = ?",
                (SessionState.STARTED.value, when.timestamp(), name, SessionState.UP.value),
            ).rowcount
            if not moved:
                return False  # another command started it meanwhile: its time stands
            db.execute("INSERT OR IGNORE INTO exam_clock VALUES (?, ?)", (name, when.timestamp()))
        return True

    def _row(self, db: sqlite3.Connection, name: str, login: str) -> None:
        db.execute(
            "INSERT OR IGNORE INTO exam_timing (session, login) VALUES (?, ?)", (name, login)
        )

    def set_extra(self, name: str, login: str, minutes: int) -> None:
        """The candidate's total extra time (set, not added: giving it twice changes nothing);
        refused inside the transaction if they ended meanwhile."""
        with self.exams.store.writing() as db:
            self._row(db, name, login)
            changed = db.execute(
                "UPDATE exam_timing SET extra_minutes = ? "
                "WHERE session = ? AND login = ? AND ended_at IS NULL",
                (minutes, name, login),
            ).rowcount
        if not changed:
            raise SessionStateError(
                f"{login} ended while this command ran: no extra time given",
                hint=f"`tai-labs session status {name}` shows their end",
            )

    def access_opened(self, name: str, login: str, when: datetime) -> None:
        with self.exams.store.writing() as db:
            self._row(db, name, login)
            db.execute(
                "UPDATE exam_timing SET access_opened = ? "
                "WHERE session = ? AND login = ? AND access_opened IS NULL",
                (when.timestamp(), name, login),
            )

    def mark_ended(self, name: str, login: str, when: datetime) -> datetime:
        """Record the candidate's end once; return it (an earlier one stands)."""
        with self.exams.store.writing() as db:
            self._row(db, name, login)
            db.execute(
                "UPDATE exam_timing SET ended_at = ? "
                "WHERE session = ? AND login = ? AND ended_at IS NULL",
                (when.timestamp(), name, login),
            )
            row = db.execute(
                "SELECT ended_at FROM exam_timing WHERE session = ? AND login = ?", (name, login)
            ).fetchone()
        ended = _time(row["ended_at"])
        assert ended is not None
        return ended

    def add_freeze(self, name: str, login: str, freeze: LabFreeze) -> None:
        """Record a lab's freeze (read and written in one transaction); a lab frozen already
        keeps its first record."""
        with self.exams.store.writing() as db:
            self._row(db, name, login)
            row = db.execute(
                "SELECT frozen FROM exam_timing WHERE session = ? AND login = ?", (name, login)
            ).fetchone()
            frozen = json.loads(row["frozen"])
            if any(f["scenario"] == freeze.scenario for f in frozen):
                return
            frozen.append(freeze.model_dump(mode="json"))
            db.execute(
                "UPDATE exam_timing SET frozen = ? WHERE session = ? AND login = ?",
                (json.dumps(frozen), name, login),
            )

    def mark_complete(self, name: str, login: str) -> None:
        """Every lab of the candidate is frozen: their end is finished."""
        with self.exams.store.writing() as db:
            db.execute(
                "UPDATE exam_timing SET complete = 1 "
                "WHERE session = ? AND login = ? AND ended_at IS NOT NULL",
                (name, login),
            )
