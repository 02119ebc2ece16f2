"""`session up`/`down` without a lab: planning from the catalogue, admission figures, the
default parallelism, and resuming (the lab layer's `up`/`down` stood in by recorders that
write the store as they would; the real labs are in tests/e2e/test_exam_session_labs.py)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tai_labs.errors import TaiLabsError
from tai_labs.exam import fleet
from tai_labs.exam.access import gateway_names
from tai_labs.exam.model import Candidate, Draw, Session, SessionScenario, SessionState
from tai_labs.exam.store import ExamStore, SessionStateError
from tai_labs.kinds import NodeKind
from tai_labs.lab.store import Store
from tai_labs.providers import gateway_shell
from tai_labs.scenario import catalog
from tai_labs.scenario.loader import load_scenario

BIG = fleet.HostCapacity(memory_available_mib=64 * 1024, disk_free_mib=500 * 1024, cores=2)


def session_of(*scenarios: str, logins: tuple[str, ...] = ("alice", "bruno")) -> Session:
    infos = tuple(
        SessionScenario(
            id=s, title=s, block="CCP2", file=str(catalog.find(s).resolve()), variants=1
        )
        for s in scenarios
    )
    return Session(
        name="ccp2-test",
        block="CCP2",
        mixed=True,
        scenarios=infos,
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
                draws=tuple(Draw(scenario=s, seed=10 + i, variant={}) for s in scenarios),
            )
            for i, login in enumerate(logins)
        ),
    )


def test_the_plan_has_one_lab_per_candidate_and_scenario_with_the_kinds_memory() -> None:
    session = session_of("compte-verrouille", "route-site-distant")
    labs = fleet.plan_session(session)
    assert [(lab.login, lab.scenario, lab.seed) for lab in labs] == [
        ("alice", "compte-verrouille", 10),
        ("alice", "route-site-distant", 10),
        ("bruno", "compte-verrouille", 11),
        ("bruno", "route-site-distant", 11),
    ]
    # Each node's memory is its kind's row in kinds.py unless the scenario says otherwise.
    loaded = load_scenario(catalog.find("route-site-distant"), candidate="alice", seed=10)
    for planned in labs[1].nodes:
        node = loaded.scenario.node(planned.name)
        assert planned.kind == node.kind.value
        assert planned.memory_mib == (node.memory or NodeKind(planned.kind).spec.memory_mib)
    assert "ad-dc" in {n.kind for n in labs[0].nodes}
    assert labs[0].memory_mib == sum(n.memory_mib for n in labs[0].nodes)


def test_a_vm_node_counts_its_overlay_and_its_extra_disks() -> None:
    assert fleet.node_disk_mib(None, True, 1024) == fleet.VM_DISK_MIB + 1024
    assert fleet.node_disk_mib(None, False, 0) == fleet.CONTAINER_DISK_MIB
    assert fleet.node_disk_mib(300, False, 0) == 300


def lab(login: str, *nodes: tuple[str, int]) -> fleet.PlannedLab:
    return fleet.PlannedLab(
        login,
        "s1",
        Path("/x"),
        1,
        tuple(fleet.PlannedNode(kind, kind, "container", mib, 512) for kind, mib in nodes),
    )


def test_admission_gives_the_figures_when_memory_is_short() -> None:
    labs = [lab(f"c{i}", ("ad-dc", 768), ("linux-client", 256)) for i in range(12)]
    small = fleet.HostCapacity(memory_available_mib=8192, disk_free_mib=500 * 1024, cores=2)
    admission = fleet.admit(labs, small)
    assert (admission.labs, admission.nodes, admission.memory_mib) == (12, 24, 12 * 1024)
    [problem] = admission.problems()
    assert problem.startswith("memory: 12 lab(s), 24 node(s) need 12.0 GiB")
    assert "12 × ad-dc 768 MiB + 12 × linux-client 256 MiB" in problem
    assert "8.0 GiB available, 7.0 GiB after 1024 MiB kept" in problem
    assert fleet.admit(labs, BIG).problems() == []


def test_admission_gives_the_figures_when_disk_is_short() -> None:
    labs = [lab("c1", ("linux-client", 256))] * 3
    tight = fleet.HostCapacity(memory_available_mib=64 * 1024, disk_free_mib=3000, cores=2)
    [problem] = fleet.admit(labs, tight).problems()
    assert problem.startswith("disk: 3 node(s) need about 1.5 GiB; 2.9 GiB free")
    assert "0.9 GiB after 2048 MiB kept free" in problem


def test_default_parallelism_from_cores_and_memory() -> None:
    labs = [lab(f"c{i}", ("ad-dc", 768), ("linux-client", 256)) for i in range(12)]
    assert fleet.default_parallel(labs, BIG) == 2  # two cores
    many = fleet.HostCapacity(64 * 1024, 500 * 1024, 64)
    assert fleet.default_parallel(labs, many) == fleet.MAX_PARALLEL
    scarce = fleet.HostCapacity(1024 + 1500, 500 * 1024, 8)  # one 1 GiB lab fits, not two
    assert fleet.default_parallel(labs, scarce) == 1
    assert fleet.default_parallel(labs[:1], many) == 1
    assert fleet.default_parallel([], BIG) == 1


def test_a_node_name_two_scenarios_share_gets_the_scenario_number() -> None:
    names = gateway_names({"s1": ["dc1", "pc1"], "s2": ["pc1", "srv"], "s3": ["box"]})
    assert names == {
        "s1": {"dc1": "dc1", "pc1": "pc1-1"},
        "s2": {"pc1": "pc1-2", "srv": "srv"},
        "s3": {"box": "box"},
    }
    with pytest.raises(TaiLabsError, match="too long"):
        gateway_names({"s1": ["a" * 15], "s2": ["a" * 15]})


def test_the_gateway_shell_takes_each_nodes_key_and_refuses_a_path() -> None:
    config: dict[str, Any] = {"keys": {"pc1": "id_abc123", "pc2": "../../etc/shadow"}}
    assert gateway_shell.key_file(config, "pc1") == "id_abc123"
    assert gateway_shell.key_file({}, "pc1") == "id_ed25519"
    with pytest.raises(gateway_shell.Refused):
        gateway_shell.key_file(config, "pc2")
    argv = gateway_shell.ssh_argv("/h", "100.64.1.11", None, False, "id_abc123")
    assert argv[argv.index("-i") + 1] == "/h/id_abc123"


# -- up and down, the lab layer stood in ---------------------------------------------------


class LabLayer:
    """Records `up`/`down` and writes the store as the lab layer does; ``fail`` makes the
    named candidates' first `up` fail."""

    def __init__(self, store: Store, fail: set[str] | None = None) -> None:
        self.store = store
        self.fail = set(fail or ())
        self.ups: list[tuple[str, str, int]] = []
        self.downs: list[str] = []
        self.lock = threading.Lock()

    def up(
        self, file: Path, *, candidate: str, seed: int, lab_id: str, store: Store, report: Any
    ) -> None:
        with self.lock:
            self.ups.append((candidate, lab_id, seed))
        if store.find_lab(lab_id) is None:
            store.add_lab(lab_id, "s", file, candidate, seed)
        report(fleet.lifecycle.Event("nodes", "started"))
        if candidate in self.fail:
            self.fail.discard(candidate)
            store.set_status(lab_id, "failed", "boom")
            raise TaiLabsError("boom")
        store.set_status(lab_id, "ready")

    def down(self, lab_id: str, *, store: Store) -> list[str]:
        self.downs.append(lab_id)
        store.remove_lab(lab_id)
        return [f"container {lab_id}-pc1"]


@pytest.fixture
def exams(tmp_path: Path) -> ExamStore:
    exams = ExamStore(Store(tmp_path / "state.db"))
    exams.create(session_of("compte-verrouille"))
    return exams


def test_up_resumes_retries_only_the_failed_and_never_duplicates(
    exams: ExamStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    layer = LabLayer(exams.store, fail={"bruno"})
    monkeypatch.setattr(fleet.lifecycle, "up", layer.up)
    lines: list[str] = []
    with pytest.raises(fleet.SessionUpError, match="bruno"):
        fleet.session_up(
            "ccp2-test", exams=exams, capacity=BIG, progress=lambda c: lines.append(c.login)
        )
    assert sorted(lines) == ["alice", "bruno"]  # one line per candidate
    assert exams.get("ccp2-test").state is SessionState.CREATED
    links = exams.lab_links("ccp2-test")
    assert set(links) == {("alice", "compte-verrouille"), ("bruno", "compte-verrouille")}
    assert [(c, seed) for c, _, seed in sorted(layer.ups)] == [("alice", 10), ("bruno", 11)]
    # Again: only bruno's lab, under the same id; then the session is up.
    result = fleet.session_up("ccp2-test", exams=exams, capacity=BIG)
    assert layer.ups[-1] == ("bruno", links[("bruno", "compte-verrouille")], 11)
    assert len(layer.ups) == 3
    assert result.state == "up" and exams.get("ccp2-test").state is SessionState.UP
    assert {lab.status for c in result.candidates for lab in c.labs} == {"skipped", "ready"}
    # And again: nothing to do.
    result = fleet.session_up("ccp2-test", exams=exams, capacity=BIG)
    assert len(layer.ups) == 3 and result.admission is not None and result.admission.labs == 0
    assert exams.lab_links("ccp2-test") == links
    assert [s.status for s in fleet.session_labs("ccp2-test", exams=exams)] == ["ready"] * 2


def test_a_host_too_small_creates_nothing(
    exams: ExamStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    layer = LabLayer(exams.store)
    monkeypatch.setattr(fleet.lifecycle, "up", layer.up)
    tiny = fleet.HostCapacity(memory_available_mib=1200, disk_free_mib=500 * 1024, cores=2)
    with pytest.raises(fleet.AdmissionError, match=r"memory: 2 lab\(s\)"):
        fleet.session_up("ccp2-test", exams=exams, capacity=tiny)
    assert layer.ups == [] and exams.lab_links("ccp2-test") == {}
    assert exams.store.labs() == []


def test_down_removes_labs_then_the_record_and_keeps_it_while_a_lab_stays(
    exams: ExamStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    layer = LabLayer(exams.store)
    monkeypatch.setattr(fleet.lifecycle, "up", layer.up)
    fleet.session_up("ccp2-test", exams=exams, capacity=BIG)
    closed: list[str] = []
    monkeypatch.setattr(fleet, "close_access", lambda name, login, exams: closed.append(name) or [])
    stuck = sorted(exams.lab_links("ccp2-test").values())[0]

    def down(lab_id: str, *, store: Store) -> list[str]:
        if lab_id == stuck:
            raise TaiLabsError("busy")
        return layer.down(lab_id, store=store)

    monkeypatch.setattr(fleet.lifecycle, "down", down)
    with pytest.raises(TaiLabsError, match="1 lab"):
        fleet.session_down("ccp2-test", exams=exams)
    assert list(exams.lab_links("ccp2-test").values()) == [stuck]
    assert exams.find("ccp2-test") is not None
    monkeypatch.setattr(fleet.lifecycle, "down", layer.down)
    result = fleet.session_down("ccp2-test", exams=exams)
    assert result.record_removed and closed == ["ccp2-test", "ccp2-test"]
    assert exams.find("ccp2-test") is None and exams.store.labs() == []
    with exams.store.reading() as db:
        assert db.execute("SELECT count(*) FROM exam_labs").fetchone()[0] == 0


def test_down_refuses_a_running_exam_without_force(
    exams: ExamStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fleet.lifecycle, "up", LabLayer(exams.store).up)
    fleet.session_up("ccp2-test", exams=exams, capacity=BIG)
    exams.set_state("ccp2-test", SessionState.STARTED)
    with pytest.raises(SessionStateError, match="running"):
        fleet.session_down("ccp2-test", exams=exams)
    assert exams.find("ccp2-test") is not None


def test_the_slip_stores_a_crypt_hash_of_the_same_password_for_the_gateway(
    exams: ExamStore,
) -> None:
    import subprocess

    from tai_labs.exam.slips import make_slips, record_slips

    session = exams.get("ccp2-test")
    made = make_slips(session)
    record_slips(exams, "ccp2-test", made)
    for slip in made:
        stored = exams.gateway_hash("ccp2-test", slip.candidate.login)
        assert stored is not None and stored.startswith("$6$")
        salt = stored.split("$")[2]
        again = subprocess.run(
            ["openssl", "passwd", "-6", "-salt", salt, "-stdin"],
            input=slip.password + "\n", capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
        assert again == stored  # the slip's password, exactly, opens the account
        assert slip.password not in stored
    exams.remove("ccp2-test")  # the hashes go with the session
    with exams.store.reading() as db:
        assert db.execute("SELECT count(*) FROM exam_gateway").fetchone()[0] == 0


def test_rm_refuses_a_session_whose_up_did_not_finish(
    exams: ExamStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    layer = LabLayer(exams.store, fail={"bruno"})
    monkeypatch.setattr(fleet.lifecycle, "up", layer.up)
    with pytest.raises(fleet.SessionUpError):
        fleet.session_up("ccp2-test", exams=exams, capacity=BIG)
    assert exams.get("ccp2-test").state is SessionState.CREATED
    with pytest.raises(SessionStateError, match="session down"):
        exams.remove("ccp2-test")  # rolled back: its labs would be left without a session
    assert len(exams.lab_links("ccp2-test")) == 2 and exams.find("ccp2-test") is not None


def test_once_stopped_a_labs_up_is_interrupted_at_its_next_event() -> None:
    stop = threading.Event()
    report = fleet._stopper(stop)
    report(fleet.lifecycle.Event("nodes", "created", "pc1"))  # not stopped: nothing
    stop.set()
    with pytest.raises(KeyboardInterrupt):
        report(fleet.lifecycle.Event("boot", "booted", "pc1"))
