"""Self-service practice labs without a lab: the quota, the FIFO queue and its positions, the
idle time-to-live (warning, activity, removal) on a fake clock. The lab layer's build and
removal are stood in by ``RecordingOps``, which writes the lab store as `up`/`down` would;
the real labs are in tests/e2e/test_selfservice_lab.py."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tai_labs.exam import selfservice
from tai_labs.exam.fleet import HOST_RESERVE_MIB, HostCapacity, PlannedLab, PlannedNode
from tai_labs.exam.practice import record_path
from tai_labs.exam.selfservice import Policy, QuotaError, SelfLab, SelfService
from tai_labs.exam.store import ExamStore
from tai_labs.lab.store import LabRecord, Store
from tai_labs.scenario import catalog

LAB_MIB = 1000


class RecordingOps:
    """Plans every lab at ``LAB_MIB``; the host has room for ``room`` of them beside the
    ready ones; ``start`` records the build for the test to finish (``finish``)."""

    def __init__(self, store: Store, room: int = 1) -> None:
        self.store = store
        self.room = room
        self.started: list[tuple[SelfLab, Callable[[SelfLab], None]]] = []
        self.removed: list[str] = []

    def plan(self, file: Path, login: str, seed: int) -> PlannedLab:
        node = PlannedNode("pc1", "linux-client", "lxc", LAB_MIB, 512)
        return PlannedLab(login, file.parent.name, file, seed, (node,))

    def capacity(self) -> HostCapacity:
        mine = {lab.lab_id for lab, _ in self.started}
        running = sum(1 for r in self.store.labs() if r.id in mine and r.status == "ready")
        free = HOST_RESERVE_MIB + (self.room - running) * LAB_MIB + LAB_MIB // 2
        return HostCapacity(memory_available_mib=free, disk_free_mib=10**6, cores=2)

    def start(self, lab: SelfLab, done: Callable[[SelfLab], None]) -> None:
        if self.store.find_lab(lab.lab_id) is None:
            self.store.add_lab(
                lab.lab_id, lab.scenario, Path(lab.scenario_file), lab.account, lab.seed
            )
        self.started.append((lab, done))

    def finish(self, index: int, status: str = "ready") -> None:
        lab, done = self.started[index]
        self.store.set_status(lab.lab_id, status, None if status == "ready" else "boom")
        done(lab)

    def status(self, lab_id: str) -> LabRecord | None:
        return self.store.find_lab(lab_id)

    def steps(self, lab_id: str) -> tuple[int, int, str | None]:
        return (9, 9, None) if self.store.find_lab(lab_id) else (0, 9, None)

    def remove(self, lab_id: str) -> None:
        self.removed.append(lab_id)
        self.store.remove_lab(lab_id)

    def close(self) -> None:
        pass


class World:
    def __init__(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **policy: float) -> None:
        monkeypatch.setenv("TAI_LABS_DATA", str(tmp_path / "data"))
        self.now = [1_000_000.0]
        self.store = Store(tmp_path / "data" / "state.db")
        self.ops = RecordingOps(self.store)
        self.service = SelfService(
            self.store,
            self.ops,
            Policy(**policy),  # type: ignore[arg-type]
            clock=lambda: self.now[0],
        )
        self.file = catalog.find("securiser-poste")

    def ask(self, account: str) -> SelfLab:
        return self.service.request(account, self.file)


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> World:
    return World(tmp_path, monkeypatch, ttl=3600.0, warn_before=600.0)


def test_a_request_is_a_practice_session_of_the_account_and_its_lab_id(world: World) -> None:
    lab = world.ask("alice")
    session = ExamStore(world.store).get(lab.session)
    assert session.practice and session.name.startswith(selfservice.SESSION_PREFIX)
    assert [c.login for c in session.candidates] == ["alice"]
    assert session.candidates[0].draw("securiser-poste").seed == lab.seed
    assert lab.state == "queued" and lab.memory_mib == LAB_MIB


def test_the_quota_refuses_a_second_lab_of_the_same_account(world: World) -> None:
    world.ask("alice")
    with pytest.raises(QuotaError, match="alice holds 1 practice lab"):
        world.ask("alice")
    assert [lab.account for lab in world.service.labs()] == ["alice"]
    world.ask("bruno")  # another account has its own quota
    assert len(world.service.labs()) == 2


def test_the_quota_is_configurable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    w = World(tmp_path, monkeypatch, per_account=2)
    w.ask("alice")
    w.ask("alice")
    with pytest.raises(QuotaError):
        w.ask("alice")


def test_a_lab_too_large_for_the_host_is_refused_not_queued(world: World) -> None:
    world.ops.room = 0
    world.ops.capacity = lambda: HostCapacity(HOST_RESERVE_MIB + 10, 10**6, 2)  # type: ignore[method-assign]
    with pytest.raises(selfservice.CapacityError, match="too large for this host"):
        world.ask("alice")
    assert world.service.labs() == []
    assert ExamStore(world.store).sessions() == []


def test_the_queue_is_first_come_first_served_with_positions(world: World) -> None:
    a, b, c = world.ask("alice"), world.ask("bruno"), world.ask("chloe")
    assert world.service.tick() == [f"started {a.lab_id} (alice, securiser-poste)"]
    # alice's lab is being built: its memory counts as taken; the others wait, in order
    assert world.service.status(world.service.find(a.lab_id)).phase == "building"  # type: ignore[arg-type]
    assert [world.service.status(x).queue_position for x in world.service.queue()] == [1, 2]
    assert world.service.queue()[0].lab_id == b.lab_id
    world.ops.finish(0)
    assert world.service.tick() == []  # ready, still on the host: no room yet
    assert world.service.status(world.service.find(a.lab_id)).phase == "ready"  # type: ignore[arg-type]
    world.service.remove(world.service.find(a.lab_id))  # type: ignore[arg-type]
    assert world.service.tick() == [f"started {b.lab_id} (bruno, securiser-poste)"]
    assert world.service.status(world.service.find(c.lab_id)).queue_position == 1  # type: ignore[arg-type]


def test_nobody_overtakes_the_head_of_the_queue(world: World) -> None:
    world.ask("alice")
    world.service.tick()  # alice's lab takes the room
    first = world.ask("bruno")
    world.ops.plan = lambda f, login, s: PlannedLab(login, "x", f, s, ())  # type: ignore[method-assign]
    small = world.ask("chloe")  # would fit: needs nothing
    assert small.memory_mib == 0
    assert world.service.tick() == []
    assert [q.lab_id for q in world.service.queue()] == [first.lab_id, small.lab_id]


def _ready(world: World, account: str) -> SelfLab:
    lab = world.ask(account)
    world.service.tick()
    world.ops.finish(len(world.ops.started) - 1)
    found = world.service.find(lab.lab_id)
    assert found is not None
    return found


def test_ttl_warns_before_removing_and_activity_extends_it(world: World) -> None:
    lab = _ready(world, "alice")
    status = world.service.status(lab)
    assert status.expires_in == 3600 and not status.warning
    world.now[0] += 2999
    assert not world.service.status(lab).warning
    world.now[0] += 1
    status = world.service.status(lab)
    assert status.warning and status.expires_in == 600
    assert world.service.reap() == []
    world.service.touch(lab.lab_id)  # a page, a keystroke
    lab = world.service.find(lab.lab_id)  # type: ignore[assignment]
    status = world.service.status(lab)
    assert not status.warning and status.expires_in == 3600
    world.now[0] += 3599
    assert world.service.tick() == []
    world.now[0] += 1
    assert world.service.tick() == [f"removed {lab.lab_id} (alice, idle)"]
    assert world.ops.removed == [lab.lab_id]
    assert world.service.labs() == [] and world.store.find_lab(lab.lab_id) is None
    assert ExamStore(world.store).find(lab.session) is None
    world.ask("alice")  # the quota is free again


def test_the_practice_history_goes_with_the_lab(world: World) -> None:
    lab = _ready(world, "alice")
    path = record_path(lab.session, "alice")
    path.parent.mkdir(parents=True)
    path.write_text("{}")
    world.now[0] += 3600
    world.service.tick()
    assert not path.parent.exists()


def test_a_lab_being_built_is_not_reaped_and_its_clock_starts_when_built(world: World) -> None:
    lab = world.ask("alice")
    world.service.tick()
    world.now[0] += 10 * 3600  # a very long build
    assert world.service.reap() == []
    assert world.service.status(world.service.find(lab.lab_id)).expires_in is None  # type: ignore[arg-type]
    with pytest.raises(Exception, match="being built"):
        world.service.remove(world.service.find(lab.lab_id))  # type: ignore[arg-type]
    world.ops.finish(0)
    assert world.service.status(world.service.find(lab.lab_id)).expires_in == 3600  # type: ignore[arg-type]


def test_a_failed_build_shows_its_error_and_is_reaped_too(world: World) -> None:
    lab = world.ask("alice")
    world.service.tick()
    world.ops.finish(0, "failed")
    status = world.service.status(world.service.find(lab.lab_id))  # type: ignore[arg-type]
    assert status.phase == "failed" and status.error == "boom"
    world.now[0] += 3600
    assert world.service.tick() == [f"removed {lab.lab_id} (alice, idle)"]


def test_a_restarted_server_resumes_the_labs_left_half_built(world: World) -> None:
    lab = world.ask("alice")
    world.service.tick()
    again = SelfService(world.store, world.ops, world.service.policy, clock=lambda: world.now[0])
    assert again.tick() == [f"resumed {lab.lab_id}"]
    assert again.status(again.find(lab.lab_id)).phase == "building"  # type: ignore[arg-type]


def test_only_the_owner_finds_a_lab(world: World) -> None:
    lab = world.ask("alice")
    assert world.service.own("alice", lab.lab_id) == lab
    assert world.service.own("bruno", lab.lab_id) is None
    assert world.service.own("alice", "nosuch") is None


def test_a_lab_removed_by_hand_shows_as_failed_and_goes_at_its_ttl(world: World) -> None:
    lab = _ready(world, "alice")
    world.store.remove_lab(lab.lab_id)  # `tai-labs down` or `session down` behind its back
    status = world.service.status(lab)
    assert status.phase == "failed" and status.error == "lab absent"
    world.now[0] += 3600
    assert world.service.tick() == [f"removed {lab.lab_id} (alice, idle)"]
