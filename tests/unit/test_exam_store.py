"""Exam sessions in the state store: atomic, migrated into older stores, no plain password."""

from __future__ import annotations

import multiprocessing
import sqlite3
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tai_labs.exam.model import Candidate, Draw, Session, SessionScenario, SessionState
from tai_labs.exam.slips import make_slips, record_slips, write_slips
from tai_labs.exam.store import (
    ExamStore,
    SessionExistsError,
    SessionNotFoundError,
    SessionStateError,
    SlipsIssuedError,
)
from tai_labs.lab.store import SCHEMA_VERSION, Store

# The schema of the release before exam sessions (user_version 1), as it made stores.
V1_SCHEMA = """
CREATE TABLE labs (id TEXT PRIMARY KEY, scenario TEXT NOT NULL, scenario_file TEXT NOT NULL,
    candidate TEXT NOT NULL, seed INTEGER NOT NULL, status TEXT NOT NULL, created REAL NOT NULL,
    updated REAL NOT NULL, error TEXT);
CREATE TABLE steps (lab_id TEXT NOT NULL REFERENCES labs(id) ON DELETE CASCADE,
    step TEXT NOT NULL, status TEXT NOT NULL, started REAL, finished REAL, detail TEXT,
    PRIMARY KEY (lab_id, step));
CREATE TABLE nodes (lab_id TEXT NOT NULL REFERENCES labs(id) ON DELETE CASCADE,
    name TEXT NOT NULL, resource TEXT NOT NULL, kind TEXT NOT NULL, engine TEXT NOT NULL,
    number INTEGER, mgmt_address TEXT, host_key TEXT, ready INTEGER NOT NULL DEFAULT 0,
    info TEXT NOT NULL DEFAULT '{}', PRIMARY KEY (lab_id, name));
PRAGMA user_version = 1;
"""


def make_session(
    name: str = "ccp2-test", logins: tuple[str, ...] = ("abc", "cde", "efg")
) -> Session:
    return Session(
        name=name,
        block="CCP2",
        scenarios=(
            SessionScenario(id="s1", title="Un", block="CCP2", file="/x/scenario.yaml", variants=2),
        ),
        duration=120,
        created=datetime(2027, 1, 1, tzinfo=UTC),
        draw_key="0" * 32,
        candidates=tuple(
            Candidate(
                login=login,
                nom="Nom",
                prenom="Prénom",
                roster_line=i + 2,
                login_derived=True,
                draws=(Draw(scenario="s1", seed=i, variant={"v": i}),),
            )
            for i, login in enumerate(logins)
        ),
    )


def counts(path: Path) -> tuple[int, int]:
    db = sqlite3.connect(path)
    try:
        return (
            db.execute("SELECT count(*) FROM exam_sessions").fetchone()[0],
            db.execute("SELECT count(*) FROM exam_candidates").fetchone()[0],
        )
    finally:
        db.close()


def test_round_trip_list_and_remove(tmp_path: Path) -> None:
    exams = ExamStore(Store(tmp_path / "state.db"))
    session = make_session()
    exams.create(session)
    assert exams.get("ccp2-test") == session
    assert exams.names() == ["ccp2-test"]
    exams.remove("ccp2-test")
    assert exams.find("ccp2-test") is None and counts(tmp_path / "state.db") == (0, 0)
    with pytest.raises(SessionNotFoundError):
        exams.get("ccp2-test")


def test_an_existing_name_is_refused_and_left_as_it_was(tmp_path: Path) -> None:
    exams = ExamStore(Store(tmp_path / "state.db"))
    exams.create(make_session())
    with pytest.raises(SessionExistsError):
        exams.create(make_session(logins=("xyz",)))
    assert [c.login for c in exams.get("ccp2-test").candidates] == ["abc", "cde", "efg"]


def test_create_is_all_or_nothing(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    exams = ExamStore(Store(path))
    db = sqlite3.connect(path)
    # the third candidate's row fails half-way through the class
    db.execute(
        "CREATE TRIGGER fail BEFORE INSERT ON exam_candidates WHEN NEW.login = 'efg' "
        "BEGIN SELECT RAISE(ABORT, 'disk full'); END"
    )
    db.commit()
    db.close()
    with pytest.raises(sqlite3.DatabaseError, match="disk full"):
        exams.create(make_session())
    assert counts(path) == (0, 0)
    assert exams.find("ccp2-test") is None


def test_a_store_from_before_sessions_is_migrated_and_keeps_its_labs(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    old = sqlite3.connect(path)
    old.executescript(V1_SCHEMA)
    old.execute(
        "INSERT INTO labs VALUES ('abc123', 'compte-verrouille', '/x', 'alice', 3, 'ready', 1, 1, "
        "NULL)"
    )
    old.commit()
    old.close()
    store = Store(path)
    assert [lab.id for lab in store.labs()] == ["abc123"]
    with store.reading() as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 3
    ExamStore(store).create(make_session())
    Store(path)  # opening it again changes nothing
    assert counts(path) == (1, 3) and [lab.id for lab in Store(path).labs()] == ["abc123"]


def test_a_newer_store_keeps_its_version(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    Store(path)
    db = sqlite3.connect(path)
    db.execute("PRAGMA user_version = 7")
    db.commit()
    db.close()
    with Store(path).reading() as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 7


def test_only_hashes_reach_the_store_file(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    exams = ExamStore(Store(path))
    exams.create(make_session())
    slips = make_slips(exams.get("ccp2-test"))
    record_slips(exams, "ccp2-test", slips)
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("state.db"))
    for slip in slips:
        assert slip.password.encode() not in raw
        assert exams.check_password("ccp2-test", slip.candidate.login, slip.password)
    assert raw.count(b"scrypt$16384$8$1$") >= 3
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    issued = exams.password_issued("ccp2-test")
    assert all(issued.values())


def test_check_password_refuses_wrong_unknown_and_not_yet_issued(tmp_path: Path) -> None:
    exams = ExamStore(Store(tmp_path / "state.db"))
    exams.create(make_session())
    assert not exams.check_password("ccp2-test", "abc", "")  # no slip printed yet
    (slip,) = make_slips(exams.get("ccp2-test"), ["cde"])
    record_slips(exams, "ccp2-test", [slip])
    assert exams.check_password("ccp2-test", "cde", slip.password)
    assert not exams.check_password("ccp2-test", "cde", "aaaa-bbbb-cccc")
    assert not exams.check_password("ccp2-test", "abc", slip.password)  # another's password
    assert not exams.check_password("ccp2-test", "nobody", slip.password)
    assert not exams.check_password("other", "cde", slip.password)


def test_reissuing_voids_the_earlier_password(tmp_path: Path) -> None:
    exams = ExamStore(Store(tmp_path / "state.db"))
    exams.create(make_session())
    (first,) = make_slips(exams.get("ccp2-test"), ["abc"])
    record_slips(exams, "ccp2-test", [first])
    (second,) = make_slips(exams.get("ccp2-test"), ["abc"])
    record_slips(exams, "ccp2-test", [second], replace=True)
    assert not exams.check_password("ccp2-test", "abc", first.password)
    assert exams.check_password("ccp2-test", "abc", second.password)


def test_a_session_with_labs_is_not_removed_by_rm(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    exams = ExamStore(Store(path))
    exams.create(make_session())
    db = sqlite3.connect(path)
    db.execute("UPDATE exam_sessions SET state = 'up'")
    db.commit()
    db.close()
    assert exams.get("ccp2-test").state is SessionState.UP
    with pytest.raises(SessionStateError, match="session down"):
        exams.remove("ccp2-test")
    assert counts(path) == (1, 3)


def _open(path: str) -> None:
    Store(Path(path))


def test_processes_opening_an_old_store_at_once_migrate_it_once(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    old = sqlite3.connect(path)
    old.executescript(V1_SCHEMA)
    old.close()
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_open, args=(str(path),)) for _ in range(6)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(60)
    assert [proc.exitcode for proc in procs] == [0] * 6
    with Store(path).reading() as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert counts(path) == (0, 0)


def test_a_second_first_issue_is_refused_inside_the_transaction(tmp_path: Path) -> None:
    # two `session slips` at once: both saw no password, the second to store must fail
    exams = ExamStore(Store(tmp_path / "state.db"))
    exams.create(make_session())
    first = make_slips(exams.get("ccp2-test"))
    second = make_slips(exams.get("ccp2-test"))
    record_slips(exams, "ccp2-test", first)
    with pytest.raises(SlipsIssuedError, match="made already"):
        record_slips(exams, "ccp2-test", second)
    for slip in first:
        assert exams.check_password("ccp2-test", slip.candidate.login, slip.password)
    record_slips(exams, "ccp2-test", second, replace=True)
    assert not exams.check_password("ccp2-test", "abc", first[0].password)


def test_a_page_whose_hashes_could_not_be_stored_is_removed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    exams = ExamStore(Store(tmp_path / "state.db"))
    exams.create(make_session())
    out = tmp_path / "billets.html"

    def full_disk(*args: object, **kwargs: object) -> None:
        assert out.exists()  # written first, 0600
        assert stat.S_IMODE(out.stat().st_mode) == 0o600
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(exams, "set_password_hashes", full_disk)
    with pytest.raises(sqlite3.OperationalError):
        write_slips(exams, "ccp2-test", out)
    assert not out.exists()
    assert not any(ExamStore(Store(tmp_path / "state.db")).password_issued("ccp2-test").values())
    monkeypatch.undo()
    assert write_slips(exams, "ccp2-test", out) == 3 and out.exists()


def test_states_move_forward_one_step_at_a_time(tmp_path: Path) -> None:
    exams = ExamStore(Store(tmp_path / "state.db"))
    exams.create(make_session())
    with pytest.raises(SessionStateError, match="cannot become started"):
        exams.set_state("ccp2-test", SessionState.STARTED)
    for state in (SessionState.UP, SessionState.STARTED, SessionState.ENDED):
        assert exams.set_state("ccp2-test", state).state is state
    for state in SessionState:
        with pytest.raises(SessionStateError):
            exams.set_state("ccp2-test", state)
    assert exams.get("ccp2-test").state is SessionState.ENDED


def test_a_state_changed_meanwhile_is_not_overwritten(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "state.db"
    exams = ExamStore(Store(path))
    exams.create(make_session())
    real_get = exams.get

    def stale_get(name: str) -> Session:
        seen = real_get(name)
        db = sqlite3.connect(path)  # another command moves it right after we read it
        db.execute("UPDATE exam_sessions SET state = 'up'")
        db.commit()
        db.close()
        monkeypatch.setattr(exams, "get", real_get)
        return seen

    monkeypatch.setattr(exams, "get", stale_get)
    with pytest.raises(SessionStateError, match="changed while this command ran"):
        exams.set_state("ccp2-test", SessionState.UP)
    assert exams.get("ccp2-test").state is SessionState.UP
