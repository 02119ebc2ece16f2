"""The subreaper's sweep leaves alone the children a `subprocess.Popen` still waits for."""

from __future__ import annotations

import subprocess
import time
import weakref
from pathlib import Path

from tai_labs.providers.reaper import reap_orphans


def _is_zombie(pid: int) -> bool:
    stat = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8", errors="replace")
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def test_a_child_another_thread_waits_for_keeps_its_exit_status() -> None:
    # Another worker's `subprocess.run(["false"])`: the child has exited, its wait is next.
    proc = subprocess.Popen(["false"])
    deadline = time.monotonic() + 10
    while not _is_zombie(proc.pid):
        assert time.monotonic() < deadline, "the child did not exit"
        time.sleep(0.01)
    # A lab's cleanup sweeps zombies meanwhile (lxc-stop's loop, `down`).
    assert proc.pid not in reap_orphans()
    # Reaped by the sweep, the status would be lost and `wait` would say 0.
    assert proc.wait(timeout=10) == 1


def test_a_zombie_no_popen_waits_for_is_reaped() -> None:
    proc = subprocess.Popen(["true"])
    pid = proc.pid
    deadline = time.monotonic() + 10
    while not _is_zombie(pid):
        assert time.monotonic() < deadline, "the child did not exit"
        time.sleep(0.01)
    proc.returncode = 0  # as if its Popen were gone: an adopted orphan
    assert pid in reap_orphans()
    assert not Path(f"/proc/{pid}").exists()


def test_a_dead_weak_proxy_among_live_objects_does_not_stop_the_sweep() -> None:
    class Thing:
        pass

    thing = Thing()
    _dead = weakref.proxy(thing)  # alive to the end of the test, among gc's objects
    del thing  # the proxy stays, dead: asking its type raises ReferenceError
    child = subprocess.Popen(["false"])
    deadline = time.monotonic() + 10
    while not _is_zombie(child.pid):
        assert time.monotonic() < deadline, "the child did not exit"
        time.sleep(0.01)
    reap_orphans()  # scans every live object, the proxy among them
    assert child.returncode == 1  # polled, so reaped with its status, not lost


def test_a_popen_nobody_waits_for_leaves_no_zombie() -> None:
    # An abandoned Popen (never waited, still referenced): its exited child is reaped
    # through it, so its status is kept and no zombie lingers under the tool.
    abandoned = [subprocess.Popen(["true"])]
    deadline = time.monotonic() + 10
    while not _is_zombie(abandoned[0].pid):
        assert time.monotonic() < deadline, "the child did not exit"
        time.sleep(0.01)
    reap_orphans()
    assert not Path(f"/proc/{abandoned[0].pid}").exists()
    assert abandoned[0].returncode == 0
