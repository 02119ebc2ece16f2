"""Exam sessions in the state store, beside the labs (``lab.store``, owner-only SQLite).

A session is one row of ``exam_sessions`` (its plan, as JSON of the model without the
candidates) and one row per candidate in ``exam_candidates`` (identity and draws as JSON, and
the password's scrypt hash in a column of its own, never in the JSON). Creating a session
writes every row in one transaction: a failure leaves nothing, not half a class.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Mapping
from datetime import UTC, datetime

from tai_labs.errors import TaiLabsError, UsageError
from tai_labs.exam import credentials
from tai_labs.exam.model import Session, SessionState
from tai_labs.lab.store import Store


class SessionNotFoundError(UsageError):
    def __init__(self, name: str) -> None:
        super().__init__(
            f"no exam session {name!r}", hint="`tai-labs session ls` lists the sessions"
        )


class SessionExistsError(UsageError):
    def __init__(self, name: str) -> None:
        super().__init__(
            f"an exam session named {name!r} exists already",
            hint=f"pick another name, or remove it first with `tai-labs session rm {name}`",
        )


class SessionStateError(TaiLabsError):
    exit_code = 2


class SlipsIssuedError(SessionStateError):
    def __init__(self, name: str, count: int) -> None:
        super().__init__(
            f"the slips of session {name} were made already ({count} candidate(s))",
            hint="--candidate LOGIN replaces one lost slip; --again replaces them all "
            "(the printed slips then stop working)",
        )


class ExamStore:
    def __init__(self, store: Store | None = None) -> None:
        self.store = store or Store()

    def create(self, session: Session) -> None:
        """Record a new session and all its candidates, or nothing at all."""
        now = time.time()
        plan = session.model_dump(mode="json", exclude={"candidates"})
        try:
            with self.store.writing() as db:
                db.execute(
                    "INSERT INTO exam_sessions VALUES (?, ?, ?, ?, ?)",
                    (session.name, session.state.value, now, now, json.dumps(plan)),
                )
                for position, cand in enumerate(session.candidates):
                    db.execute(
                        "INSERT INTO exam_candidates VALUES (?, ?, ?, ?, NULL, NULL)",
                        (session.name, cand.login, position, cand.model_dump_json()),
                    )
        except sqlite3.IntegrityError:
            if self.find(session.name) is not None:
                raise SessionExistsError(session.name) from None
            raise

    def find(self, name: str) -> Session | None:
        with self.store.reading() as db:
            row = db.execute("SELECT * FROM exam_sessions WHERE name = ?", (name,)).fetchone()
            if row is None:
                return None
            cands = db.execute(
                "SELECT doc FROM exam_candidates WHERE session = ? ORDER BY position", (name,)
            ).fetchall()
        plan = json.loads(row["doc"])
        plan["state"] = row["state"]
        plan["candidates"] = [json.loads(c["doc"]) for c in cands]
        return Session.model_validate(plan)

    def get(self, name: str) -> Session:
        session = self.find(name)
        if session is None:
            raise SessionNotFoundError(name)
        return session

    def names(self) -> list[str]:
        with self.store.reading() as db:
            rows = db.execute("SELECT name FROM exam_sessions ORDER BY created").fetchall()
        return [r["name"] for r in rows]

    def sessions(self) -> list[Session]:
        return [s for s in (self.find(n) for n in self.names()) if s is not None]

    def remove(self, name: str) -> None:
        """Remove a session that has no labs yet (state ``created``), with its candidates."""
        session = self.get(name)
        if session.state is not SessionState.CREATED:
            raise SessionStateError(
                f"session {name} is {session.state.value}: its labs exist",
                hint=f"remove it with `tai-labs session down {name}`, which removes them too",
            )
        with self.store.writing() as db:
            # A `session up` that failed half-way leaves the session created with labs.
            if db.execute("SELECT 1 FROM exam_labs WHERE session = ?", (name,)).fetchone():
                raise SessionStateError(
                    f"session {name} has labs already (a `session up` did not finish)",
                    hint=f"remove it with `tai-labs session down {name}`, which removes them too",
                )
            # Compare-and-delete: a session another command moved on meanwhile stays whole.
            removed = db.execute(
                "DELETE FROM exam_sessions WHERE name = ? AND state = ?",
                (name, SessionState.CREATED.value),
            ).rowcount
            if not removed:
                raise SessionStateError(
                    f"session {name} changed while this command ran",
                    hint=f"`tai-labs session show {name}` says where it is",
                )
            db.execute("DELETE FROM exam_candidates WHERE session = ?", (name,))

    def set_state(self, name: str, new: SessionState) -> Session:
        """Move a session one step forward (``SessionState.can_become``), compare-and-set:
        of two commands moving it at once, one wins and the other is told its new state."""
        current = self.get(name).state
        if not current.can_become(new):
            raise SessionStateError(
                f"session {name} is {current.value}: it cannot become {new.value}",
                hint=f"`tai-labs session show {name}` says where it is",
            )
        with self.store.writing() as db:
            moved = db.execute(
                "UPDATE exam_sessions SET state = ?, updated = ? WHERE name = ? AND state = ?",
                (new.value, time.time(), name, current.value),
            ).rowcount
        if not moved:
            raise SessionStateError(
                f"session {name} changed while this command ran (now {self.get(name).state.value})",
                hint="run the command again if it is still needed",
            )
        return self.get(name)

    # -- credentials -----------------------------------------------------------------------

    def set_password_hashes(
        self,
        name: str,
        hashes: Mapping[str, str],
        *,
        replace: bool = False,
        gateway_hashes: Mapping[str, str] | None = None,
    ) -> None:
        """Store the hashes of these logins, all in one transaction.

        Unless ``replace``, a candidate who has a password already makes it fail with nothing
        changed: checked inside the transaction, so of two ``slips`` run at once, one wins
        and the other's page is void and said so.
        """
        session = self.get(name)
        known = {c.login for c in session.candidates}
        unknown = sorted(set(hashes) - known)
        if unknown:
            session.candidate(unknown[0])  # raises, naming it
        now = time.time()
        with self.store.writing() as db:
            if not replace:
                marks = ",".join("?" * len(hashes))
                issued = db.execute(
                    f"SELECT count(*) FROM exam_candidates WHERE session = ? AND login IN "
                    f"({marks}) AND password_hash IS NOT NULL",
                    (name, *hashes),
                ).fetchone()[0]
                if issued:
                    raise SlipsIssuedError(name, issued)
            for login, hashed in hashes.items():
                db.execute(
                    "UPDATE exam_candidates SET password_hash = ?, password_issued = ? "
                    "WHERE session = ? AND login = ?",
                    (hashed, now, name, login),
                )
            for login, crypt_hash in (gateway_hashes or {}).items():
                db.execute(
                    "INSERT OR REPLACE INTO exam_gateway VALUES (?, ?, ?)",
                    (name, login, crypt_hash),
                )

    def password_issued(self, name: str) -> dict[str, datetime | None]:
        """When each candidate's password was last made (None: no slip printed yet)."""
        self.get(name)
        with self.store.reading() as db:
            rows = db.execute(
                "SELECT login, password_issued FROM exam_candidates WHERE session = ? "
                "ORDER BY position",
                (name,),
            ).fetchall()
        return {
            r["login"]: (
                datetime.fromtimestamp(r["password_issued"], UTC) if r["password_issued"] else None
            )
            for r in rows
        }

    def check_password(self, name: str, login: str, password: str) -> bool:
        """Whether ``password`` is this candidate's; an unknown session or login is False,
        after the same scrypt work as a wrong password (the time tells a prober nothing)."""
        with self.store.reading() as db:
            row = db.execute(
                "SELECT password_hash FROM exam_candidates WHERE session = ? AND login = ?",
                (name, login),
            ).fetchone()
        return credentials.verify_password(row["password_hash"] if row else None, password)

    # -- a session's labs and gateway passwords (``exam.fleet``, ``exam.access``) ---------

    def lab_links(self, name: str) -> dict[tuple[str, str], str]:
        """The session's labs: (login, scenario id) -> lab id, once chosen by `session up`."""
        with self.store.reading() as db:
            rows = db.execute(
                "SELECT login, scenario, lab_id FROM exam_labs WHERE session = ?", (name,)
            ).fetchall()
        return {(r["login"], r["scenario"]): r["lab_id"] for r in rows}

    def link_lab(self, name: str, login: str, scenario: str, lab_id: str) -> str:
        """Record the lab of (login, scenario) unless one is already; the lab id that holds."""
        with self.store.writing() as db:
            db.execute(
                "INSERT OR IGNORE INTO exam_labs VALUES (?, ?, ?, ?)",
                (name, login, scenario, lab_id),
            )
            row = db.execute(
                "SELECT lab_id FROM exam_labs WHERE session = ? AND login = ? AND scenario = ?",
                (name, login, scenario),
            ).fetchone()
        return str(row["lab_id"])

    def unlink_lab(self, name: str, lab_id: str) -> None:
        with self.store.writing() as db:
            db.execute("DELETE FROM exam_labs WHERE session = ? AND lab_id = ?", (name, lab_id))

    def gateway_hash(self, name: str, login: str) -> str | None:
        """The crypt(3) hash of the candidate's slip password, for their gateway account."""
        with self.store.reading() as db:
            row = db.execute(
                "SELECT crypt_hash FROM exam_gateway WHERE session = ? AND login = ?",
                (name, login),
            ).fetchone()
        return str(row["crypt_hash"]) if row else None

    def purge(self, name: str) -> None:
        """Remove the session's record whatever its state (`session down`, once its labs and
        accounts are gone): candidates, hashes and lab links go with it."""
        with self.store.writing() as db:
            db.execute("DELETE FROM exam_labs WHERE session = ?", (name,))
            db.execute("DELETE FROM exam_gateway WHERE session = ?", (name,))
            db.execute("DELETE FROM exam_candidates WHERE session = ?", (name,))
            db.execute("DELETE FROM exam_sessions WHERE name = ?", (name,))
