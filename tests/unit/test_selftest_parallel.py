"""`selftest --parallel`: order, bounds, and what a failure or Ctrl-C leaves (no lab)."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from tai_labs.errors import UsageError
from tai_labs.lab import selftest
from tai_labs.lab.selftest import SelftestResult, Unit, run_ordered, run_selftest


def test_results_come_in_the_items_order_whatever_finishes_first() -> None:
    running, most = 0, 0
    guard = threading.Lock()

    def work(item: int) -> int:
        nonlocal running, most
        with guard:
            running += 1
            most = max(most, running)
        time.sleep(0.02 * (5 - item))  # the first items finish last
        with guard:
            running -= 1
        return item * 10

    assert run_ordered(range(5), work, 2, threading.Event()) == [0, 10, 20, 30, 40]
    assert most == 2


def test_one_at_a_time_runs_in_the_calling_thread() -> None:
    threads = run_ordered([1, 2], lambda _: threading.current_thread(), 1, threading.Event())
    assert threads == [threading.main_thread()] * 2


def test_parallel_below_one_is_refused() -> None:
    with pytest.raises(UsageError):
        run_ordered([1], lambda x: x, 0, threading.Event())


def test_a_crash_stops_the_others_skips_the_rest_and_is_raised() -> None:
    stop = threading.Event()
    started: list[str] = []
    stopped: list[str] = []

    def work(item: str) -> str:
        started.append(item)
        if item == "crash":
            time.sleep(0.05)
            raise RuntimeError("worker crashed")
        # A running item winds down once told: as run_variant, by KeyboardInterrupt.
        if not stop.wait(5):
            return item
        stopped.append(item)
        raise KeyboardInterrupt

    with pytest.raises(RuntimeError, match="worker crashed"):
        run_ordered(["slow", "crash", "never", "never-either"], work, 2, stop)
    assert started == ["slow", "crash"] and stopped == ["slow"]


def test_ctrl_c_while_waiting_stops_the_workers_and_waits_for_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stop = threading.Event()
    finished: list[int] = []

    def work(item: int) -> int:
        stop.wait(5)
        finished.append(item)  # each worker's cleanup ran before the error goes on
        return item

    def interrupted(*args: Any, **kwargs: Any) -> Any:
        raise KeyboardInterrupt

    monkeypatch.setattr(selftest, "wait", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_ordered([1, 2, 3], work, 2, stop)
    assert stop.is_set() and sorted(finished) == [1, 2]


class FakeLabs:
    """lifecycle.up/down that record the lab ids; `up` reports events as the real one."""

    def __init__(self) -> None:
        self.up: list[str] = []
        self.down: list[str] = []
        self.guard = threading.Lock()
        self.stop_during_up: threading.Event | None = None

    def do_up(self, file: Path, *, lab_id: str, report: Any, **_: Any) -> Any:
        with self.guard:
            self.up.append(lab_id)
        if self.stop_during_up is not None:
            self.stop_during_up.set()  # Ctrl-C or another worker's crash, half-way
        report(SimpleNamespace(step="images", message="started"))
        return SimpleNamespace(id=lab_id, name=file.parent.name)

    def do_down(self, lab_id: str) -> list[str]:
        with self.guard:
            self.down.append(lab_id)
        return ["container x"]


@pytest.fixture
def labs(monkeypatch: pytest.MonkeyPatch) -> FakeLabs:
    fake = FakeLabs()
    monkeypatch.setattr(selftest.lifecycle, "up", fake.do_up)
    monkeypatch.setattr(selftest.lifecycle, "down", fake.do_down)
    return fake


def units(*names: str) -> list[Unit]:
    return [Unit(Path(f"/catalogue/{n}/scenario.yaml"), 0, {}) for n in names]


def test_every_lab_a_crashed_run_brought_up_is_brought_down(
    labs: FakeLabs, monkeypatch: pytest.MonkeyPatch
) -> None:
    def prove(lab: Any, phase: Any) -> None:
        if lab.name == "b":
            # Outside any phase (as a broken output stream would): the whole run stops.
            raise RuntimeError("b broke")
        while phase("exam start", lambda: (True, "")):  # phases until told to stop
            time.sleep(0.01)

    monkeypatch.setattr(selftest, "_prove", prove)
    with pytest.raises(RuntimeError, match="b broke"):
        run_selftest(units("a", "b", "c", "d"), lambda _: None, parallel=2)
    # a stopped before its `up` began, or was brought down; c and d never started
    assert labs.up and set(labs.up) <= set(labs.down) and len(labs.down) <= 2


def test_a_mismatch_is_a_result_not_a_stop(labs: FakeLabs, monkeypatch: pytest.MonkeyPatch) -> None:
    said: list[str] = []

    def prove(lab: Any, phase: Any) -> None:
        phase("exam start", lambda: (lab.name != "a", "x: gives points for doing nothing"))

    monkeypatch.setattr(selftest, "_prove", prove)
    results = run_selftest(units("a", "b", "c"), said.append, parallel=2)
    assert [r.scenario for r in results] == ["a", "b", "c"]
    assert [r.ok for r in results] == [False, True, True]
    assert sorted(labs.up) == sorted(labs.down) and len(labs.down) == 3
    # Each line names its lab first: interleaved, they still read.
    assert "a: FAIL exam start x: gives points for doing nothing" in said
    assert all(line.split(":")[0] in ("a", "b", "c") for line in said)


def test_a_stop_during_up_interrupts_it_and_still_brings_the_lab_down(
    labs: FakeLabs,
) -> None:
    stop = labs.stop_during_up = threading.Event()
    with pytest.raises(KeyboardInterrupt):
        selftest.run_variant(Path("/catalogue/a/scenario.yaml"), 0, {}, print, stop=stop)
    assert len(labs.up) == 1 and labs.down == labs.up


def test_a_variant_stopped_before_it_began_makes_no_lab(labs: FakeLabs) -> None:
    stop = threading.Event()
    stop.set()
    with pytest.raises(KeyboardInterrupt):
        selftest.run_variant(Path("/catalogue/a/scenario.yaml"), 0, {}, print, stop=stop)
    assert labs.up == labs.down == []


def test_a_variant_is_named_in_its_label() -> None:
    assert SelftestResult("s", {}, 0).label == "s"
    assert SelftestResult("s", {"os": "debian", "n": 2}, 0).label == "s[os=debian,n=2]"


def test_labs_at_once_that_do_not_fit_are_refused_before_any_lab(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tai_labs.cli import selftest as cli
    from tai_labs.exam.fleet import AdmissionError, HostCapacity
    from tai_labs.scenario import catalog

    # compte-verrouille plans 1,152 MiB (DC, router, client), securiser-poste 384 MiB; the
    # host keeps 1,024 MiB for itself: 1,376 MiB usable holds one at a time, not both.
    monkeypatch.setattr(cli, "host_capacity", lambda: HostCapacity(2400, 10**6, 2))
    found = selftest.selftest_units(
        [catalog.find("compte-verrouille"), catalog.find("securiser-poste")]
    )
    cli._admit(found, 1)
    with pytest.raises(AdmissionError, match="2 selftest labs at once") as refused:
        cli._admit(found, 2)
    assert "1.5 GiB" in str(refused.value)  # what the two largest need together
