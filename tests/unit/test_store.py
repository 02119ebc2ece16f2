from __future__ import annotations

import multiprocessing
import os
import stat
from pathlib import Path

import pytest

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
