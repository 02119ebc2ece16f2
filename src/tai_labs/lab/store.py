"""The lab state store: one embedded SQLite database for every lab on this host.

Several `tai-labs` processes may run at once (ten `up` on different labs, a `status` while
an `up` runs): the database is in WAL mode, every write is a short ``BEGIN IMMEDIATE``
transaction, and readers never block writers. A separate per-lab lock file (see
``lab_lock``) keeps two commands from changing the same lab at the same time.

The store says which candidate each lab is for, and which variant (seed) they drew: it is
owner-only (0600, and so are the ``-wal`` and ``-shm`` files SQLite makes beside it, which
take the database's mode), and a store an older release left readable is tightened when it
is opened. The labs' folder can be traversed (QEMU reaches a lab's disks through it) but not
listed, and lock files are 0600.
"""

from __future__ import annotations

import fcntl
import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tai_labs.errors import TaiLabsError
from tai_labs.locations import locations
from tai_labs.private_files import (
    PRIVATE_FILE,
    TRAVERSE_ONLY_DIR,
    create_private,
    private_folder,
    tighten,
)
from tai_labs.providers.naming import check_lab_id

SCHEMA_VERSION = 3  # the last of _MIGRATIONS; version 1 is _SCHEMA alone
#: Files SQLite keeps beside the database (WAL mode; ``-journal`` if it ever falls back).
SIDE_FILES = ("-wal", "-shm", "-journal")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS labs (
    id TEXT PRIMARY KEY,
    scenario TEXT NOT NULL,
    scenario_file TEXT NOT NULL,
    candidate TEXT NOT NULL,
    seed INTEGER NOT NULL,
    status TEXT NOT NULL,
    created REAL NOT NULL,
    updated REAL NOT NULL,
    error TEXT
);
CREATE TABLE IF NOT EXISTS steps (
    lab_id TEXT NOT NULL REFERENCES labs(id) ON DELETE CASCADE,
    step TEXT NOT NULL,
    status TEXT NOT NULL,
    started REAL,
    finished REAL,
    detail TEXT,
    PRIMARY KEY (lab_id, step)
);
CREATE TABLE IF NOT EXISTS nodes (
    lab_id TEXT NOT NULL REFERENCES labs(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    resource TEXT NOT NULL,
    kind TEXT NOT NULL,
    engine TEXT NOT NULL,
    number INTEGER,
    mgmt_address TEXT,
    host_key TEXT,
    ready INTEGER NOT NULL DEFAULT 0,
    info TEXT NOT NULL DEFAULT '{}',
    PRIMARY KEY (lab_id, name)
);
"""
#: What each schema version adds to the one before, applied in order to an older store
#: (``CREATE ... IF NOT EXISTS``: a store that has it already is left as it is). Version 2:
#: exam sessions (``tai_labs.exam.store``), one row per session and one per candidate; the
#: candidate's password is only ever a scrypt hash (``tai_labs.exam.credentials``).
_MIGRATIONS: dict[int, str] = {
    2: """
CREATE TABLE IF NOT EXISTS exam_sessions (
    name TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    created REAL NOT NULL,
    updated REAL NOT NULL,
    doc TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS exam_candidates (
    session TEXT NOT NULL REFERENCES exam_sessions(name) ON DELETE CASCADE,
    login TEXT NOT NULL,
    position INTEGER NOT NULL,
    doc TEXT NOT NULL,
    password_hash TEXT,
    password_issued REAL,
    PRIMARY KEY (session, login)
);
""",
    # Version 3: a session's labs (one per candidate and scenario, the id chosen before the
    # lab is built, so an interrupted `session up` resumes the same lab), and each
    # candidate's gateway password as a crypt(3) hash for `chpasswd -e` (made with the slip).
    3: """
CREATE TABLE IF NOT EXISTS exam_labs (
    session TEXT NOT NULL,
    login TEXT NOT NULL,
    scenario TEXT NOT NULL,
    lab_id TEXT NOT NULL UNIQUE,
    PRIMARY KEY (session, login, scenario),
    FOREIGN KEY (session, login) REFERENCES exam_candidates(session, login) ON DELETE CASCADE
);
CREATE TABLE IF NOT EXISTS exam_gateway (
    session TEXT NOT NULL,
    login TEXT NOT NULL,
    crypt_hash TEXT NOT NULL,
    PRIMARY KEY (session, login),
    FOREIGN KEY (session, login) REFERENCES exam_candidates(session, login) ON DELETE CASCADE
);
""",
}


class StoreError(TaiLabsError):
    pass


class LabNotFoundError(StoreError):
    exit_code = 2

    def __init__(self, lab_id: str) -> None:
        super().__init__(f"no lab {lab_id!r}", hint="`tai-labs ls` lists the labs of this host")


class LabBusyError(StoreError):
    def __init__(self, lab_id: str) -> None:
        super().__init__(
            f"lab {lab_id} is being changed by another tai-labs command",
            hint="wait for it to finish (or stop it with Ctrl-C), then try again",
        )


@dataclass(frozen=True)
class LabRecord:
    id: str
    scenario: str
    scenario_file: str
    candidate: str
    seed: int
    status: str
    created: float
    updated: float
    error: str | None


@dataclass(frozen=True)
class NodeRecord:
    lab_id: str
    name: str
    resource: str
    kind: str
    engine: str
    number: int | None
    mgmt_address: str | None
    host_key: str | None
    ready: bool
    info: dict[str, Any]


@dataclass(frozen=True)
class StepRecord:
    step: str
    status: str
    started: float | None
    finished: float | None
    detail: str | None


class Store:
    def __init__(self, path: Path | None = None) -> None:
        self.path = path or locations().store
        # Created 0600 before SQLite opens it: SQLite gives its side files the same mode.
        create_private(self.path)
        for suffix in SIDE_FILES:
            tighten(self.path.with_name(self.path.name + suffix), PRIVATE_FILE)
        with self._connect() as db:
            db.executescript(_SCHEMA)
        self._migrate()

    def _migrate(self) -> None:
        """Bring an older store up to this release's schema, in one transaction per version.

        A store a newer release made keeps its version (never lowered): its extra tables are
        left alone.
        """
        with self._connect() as db:
            version = db.execute("PRAGMA user_version").fetchone()[0]
        for target in sorted(v for v in _MIGRATIONS if v > version):
            with self._write() as db:
                # Another process may have migrated since we read the version: look again
                # under the write lock, so a migration runs once.
                if db.execute("PRAGMA user_version").fetchone()[0] >= target:
                    continue
                for statement in _MIGRATIONS[target].split(";"):
                    if statement.strip():
                        db.execute(statement)
                db.execute(f"PRAGMA user_version = {target}")

    def reading(self) -> AbstractContextManager[sqlite3.Connection]:
        """A connection for reads (a layer above keeping its own tables in this store)."""
        return self._connect()

    def writing(self) -> AbstractContextManager[sqlite3.Connection]:
        """One ``BEGIN IMMEDIATE`` transaction: committed whole, or rolled back whole."""
        return self._write()

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode = WAL")
            db.execute("PRAGMA foreign_keys = ON")
            db.execute("PRAGMA busy_timeout = 30000")
            db.row_factory = sqlite3.Row
            yield db
        finally:
            db.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    # -- labs ------------------------------------------------------------------------------

    def add_lab(
        self, lab_id: str, scenario: str, scenario_file: Path, candidate: str, seed: int
    ) -> LabRecord:
        now = time.time()
        try:
            with self._write() as db:
                db.execute(
                    "INSERT INTO labs VALUES (?, ?, ?, ?, ?, 'creating', ?, ?, NULL)",
                    (lab_id, scenario, str(scenario_file), candidate, seed, now, now),
                )
        except sqlite3.IntegrityError:
            raise StoreError(
                f"lab id {lab_id!r} is already used",
                hint="pick another --lab-id, or resume it with `tai-labs up --lab-id` "
                "and the same scenario",
            ) from None
        return self.lab(lab_id)

    def lab(self, lab_id: str) -> LabRecord:
        with self._connect() as db:
            row = db.execute("SELECT * FROM labs WHERE id = ?", (lab_id,)).fetchone()
        if row is None:
            raise LabNotFoundError(lab_id)
        return LabRecord(**dict(row))

    def find_lab(self, lab_id: str) -> LabRecord | None:
        try:
            return self.lab(lab_id)
        except LabNotFoundError:
            return None

    def labs(self) -> list[LabRecord]:
        with self._connect() as db:
            rows = db.execute("SELECT * FROM labs ORDER BY created").fetchall()
        return [LabRecord(**dict(r)) for r in rows]

    def set_status(self, lab_id: str, status: str, error: str | None = None) -> None:
        with self._write() as db:
            db.execute(
                "UPDATE labs SET status = ?, error = ?, updated = ? WHERE id = ?",
                (status, error, time.time(), lab_id),
            )

    def remove_lab(self, lab_id: str) -> None:
        with self._write() as db:
            db.execute("DELETE FROM labs WHERE id = ?", (lab_id,))

    # -- steps -----------------------------------------------------------------------------

    def step_started(self, lab_id: str, step: str) -> None:
        with self._write() as db:
            db.execute(
                "INSERT OR REPLACE INTO steps VALUES (?, ?, 'running', ?, NULL, NULL)",
                (lab_id, step, time.time()),
            )

    def step_finished(self, lab_id: str, step: str, status: str, detail: str | None = None) -> None:
        with self._write() as db:
            db.execute(
                "UPDATE steps SET status = ?, finished = ?, detail = ? "
                "WHERE lab_id = ? AND step = ?",
                (status, time.time(), detail, lab_id, step),
            )

    def steps(self, lab_id: str) -> list[StepRecord]:
        with self._connect() as db:
            rows = db.execute(
                "SELECT step, status, started, finished, detail FROM steps WHERE lab_id = ? "
                "ORDER BY started",
                (lab_id,),
            ).fetchall()
        return [StepRecord(**dict(r)) for r in rows]

    def done_steps(self, lab_id: str) -> set[str]:
        return {s.step for s in self.steps(lab_id) if s.status == "done"}

    # -- nodes -----------------------------------------------------------------------------

    def put_node(self, node: NodeRecord) -> None:
        with self._write() as db:
            db.execute(
                "INSERT OR REPLACE INTO nodes VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    node.lab_id,
                    node.name,
                    node.resource,
                    node.kind,
                    node.engine,
                    node.number,
                    node.mgmt_address,
                    node.host_key,
                    int(node.ready),
                    json.dumps(node.info),
                ),
            )

    def set_ready(self, lab_id: str, name: str, ready: bool) -> None:
        with self._write() as db:
            db.execute(
                "UPDATE nodes SET ready = ? WHERE lab_id = ? AND name = ?",
                (int(ready), lab_id, name),
            )

    def nodes(self, lab_id: str) -> list[NodeRecord]:
        with self._connect() as db:
            rows = db.execute(
                "SELECT * FROM nodes WHERE lab_id = ? ORDER BY number, name", (lab_id,)
            ).fetchall()
        out = []
        for row in rows:
            data = dict(row)
            data["ready"] = bool(data["ready"])
            data["info"] = json.loads(data["info"])
            out.append(NodeRecord(**data))
        return out


@contextmanager
def lab_lock(lab_id: str, *, data: Path | None = None) -> Iterator[None]:
    """Exclusive right to change one lab; fails at once if another command holds it.

    The id is checked before the lock file is made: it names a file beside the labs.
    """
    path = locations(data).lab_lock(check_lab_id(lab_id))
    private_folder(path.parent, TRAVERSE_ONLY_DIR)
    create_private(path)
    with open(path, "w") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise LabBusyError(lab_id) from None
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
