from __future__ import annotations

import multiprocessing
import os
import sqlite3
import stat
from pathlib import Path

import pytest

from tai_labs.errors import TaiLabsError
from tai_labs.lab.secrets import LabSecrets
from tai_labs.lab.store import LabBusyError, LabNotFoundError, NodeRecord, Store, lab_lock


def test_labs_steps_and_nodes_round_trip(tmp_path: Path) -> None:
    store = Store(tmp_path / "state.db")
    store.add_lab("abc123", "compte-verrouille", Path("/x/scenario.yaml"), "alice", 3)
    store.step_started("abc123", "network")
    store.step_finished("abc123", "network", "done")
    store.step_started("abc123", "nodes")
    store.step_finished("abc123", "nodes", "failed", "boom")
    assert store.done_steps("abc123") == {"network"}
    node = NodeRecord(
        "abc123",
        "dc1",
        "abc123-dc1",
        "ad-dc",
        "container",
        1,
        "100.64.1.11",
        "ssh-ed25519 AAAA",
        False,
        {"image": "ad-dc"},
    )
    store.put_node(node)
    store.set_ready("abc123", "dc1", True)
    (got,) = store.nodes("abc123")
    assert got.ready and got.info == {"image": "ad-dc"}
    store.remove_lab("abc123")
    with pytest.raises(LabNotFoundError):
        store.lab("abc123")
    assert store.nodes("abc123") == [] and store.steps("abc123") == []


def test_a_lab_id_is_used_once(tmp_path: Path) -> None:
    store = Store(tmp_path / "state.db")
    store.add_lab("abc123", "s", Path("/x"), "a", 0)
    with pytest.raises(Exception, match="already used"):
        store.add_lab("abc123", "s", Path("/x"), "a", 0)


def _writer(path: str, lab: str) -> None:
    store = Store(Path(path))
    store.add_lab(lab, "s", Path("/x"), "c", 0)
    for i in range(20):
        store.step_started(lab, f"s{i}")
        store.step_finished(lab, f"s{i}", "done")
        store.set_status(lab, f"status{i}")


def test_ten_processes_write_without_corrupting(tmp_path: Path) -> None:
    path = str(tmp_path / "state.db")
    Store(Path(path))
    labs = [f"lab{i:03d}" for i in range(10)]
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_writer, args=(path, lab)) for lab in labs]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    store = Store(Path(path))
    assert sorted(r.id for r in store.labs()) == labs
    for lab in labs:
        assert len(store.done_steps(lab)) == 20
        assert store.lab(lab).status == "status19"


def test_lab_lock_is_exclusive(tmp_path: Path) -> None:
    with lab_lock("abc123", data=tmp_path):
        with pytest.raises(LabBusyError), lab_lock("abc123", data=tmp_path):
            pass
        with lab_lock("other1", data=tmp_path):
            pass
    with lab_lock("abc123", data=tmp_path):
        pass


def test_secrets_are_private_stable_and_complex(tmp_path: Path) -> None:
    secrets = LabSecrets(tmp_path / "lab")
    first = secrets.get("admin_password", 20)
    assert secrets.get("admin_password", 20) == first
    assert LabSecrets(tmp_path / "lab").all() == {"admin_password": first}
    assert len(first) == 20
    assert any(c.isupper() for c in first) and any(c.isdigit() for c in first)
    mode = stat.S_IMODE(os.stat(secrets.path).st_mode)
    assert mode == 0o600
    assert secrets.get("other") != first


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_store_and_its_side_files_are_owner_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TAI_LABS_DATA", str(tmp_path))
    old = os.umask(0o022)  # the usual umask: what SQLite alone would make 0644
    try:
        store = Store()
        store.add_lab("abc123", "s", Path("/x"), "alice", 3)
        assert store.path == tmp_path / "state.db"
        with sqlite3.connect(store.path) as db:  # a reader holds it: -wal and -shm exist
            db.execute("SELECT * FROM labs").fetchall()
            sides = [tmp_path / f"state.db{s}" for s in ("-wal", "-shm")]
            assert all(p.exists() for p in sides)
            assert {p.name: _mode(p) for p in [store.path, *sides]} == {
                "state.db": 0o600,
                "state.db-wal": 0o600,
                "state.db-shm": 0o600,
            }
    finally:
        os.umask(old)


def test_a_store_left_readable_is_tightened_when_opened(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    Store(path).add_lab("abc123", "s", Path("/x"), "alice", 3)
    leftovers = [path, tmp_path / "state.db-wal", tmp_path / "state.db-shm"]
    with sqlite3.connect(path) as other:  # another process has it open: the side files stay
        other.execute("SELECT * FROM labs").fetchall()
        for p in leftovers:
            p.chmod(0o644)  # as an older release left them
        store = Store(path)
        assert [_mode(p) for p in leftovers] == [0o600, 0o600, 0o600]
    assert store.lab("abc123").candidate == "alice"


def test_lock_files_are_private_and_the_labs_folder_is_not_listable(tmp_path: Path) -> None:
    labs = tmp_path / "labs"
    labs.mkdir(mode=0o755)
    labs.chmod(0o755)
    with lab_lock("abc123", data=tmp_path):
        pass
    assert _mode(labs) == 0o711  # others may traverse it (QEMU to a VM's disks), not list it
    assert _mode(labs / ".abc123.lock") == 0o600


@pytest.mark.parametrize("bad", ["/../../x", "abc123\n", "../abc1", "ABC123"])
def test_a_bad_lab_id_touches_no_file(tmp_path: Path, bad: str) -> None:
    with pytest.raises(TaiLabsError, match="invalid lab id"), lab_lock(bad, data=tmp_path):
        pass
    assert list(tmp_path.rglob("*")) == []


def test_grade_history_is_owner_only(tmp_path: Path) -> None:
    from datetime import UTC, datetime
    from types import SimpleNamespace

    from tai_labs.lab.grading import record_grade

    report = SimpleNamespace(
        started=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        model_dump_json=lambda indent: '{"candidate": "alice"}',
    )
    path = record_grade(SimpleNamespace(folder=tmp_path), report)  # type: ignore[arg-type]
    assert (_mode(path.parent), _mode(path)) == (0o700, 0o600)
    assert path.read_text() == '{"candidate": "alice"}\n'
