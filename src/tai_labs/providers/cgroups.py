"""Cgroup layout on the host: which hierarchies exist, and removing a lab's cgroup dirs.

Hosts differ (cgroup v1, hybrid, pure v2); LXC places each container under the relative
dir we give it in every hierarchy, so cleanup walks the same relative dir in each one.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path


def hierarchies() -> list[Path]:
    """Mount points of all cgroup (v1) and cgroup2 hierarchies."""
    roots: list[Path] = []
    with open("/proc/self/mountinfo", encoding="utf-8") as fh:
        for line in fh:
            left, _, right = line.partition(" - ")
            fstype = right.split()[0] if right else ""
            if fstype in ("cgroup", "cgroup2"):
                roots.append(Path(left.split()[4]))
    return roots


def has_v1_memory() -> bool:
    return Path("/sys/fs/cgroup/memory/memory.limit_in_bytes").exists()


def memory_limit_line(mib: int) -> str:
    """The LXC config line that caps a container's memory on this host."""
    if has_v1_memory():
        return f"lxc.cgroup.memory.limit_in_bytes = {mib * 1024 * 1024}"
    return f"lxc.cgroup2.memory.max = {mib * 1024 * 1024}"


def dirs_of(relative: str) -> list[Path]:
    """Existing cgroup dirs for relative in every hierarchy."""
    return [root / relative for root in hierarchies() if (root / relative).is_dir()]


def pids_in(relative: str) -> set[int]:
    """Every process in relative and its sub-cgroups, in any hierarchy."""
    pids: set[int] = set()
    for top in dirs_of(relative):
        for dirpath, _dirs, files in os.walk(top):
            for name in ("cgroup.procs", "tasks"):
                if name in files:
                    try:
                        text = (Path(dirpath) / name).read_text()
                    except OSError:
                        continue
                    pids.update(int(p) for p in text.split())
    return pids


def kill_all(relative: str, *, timeout: float = 5.0) -> set[int]:
    """SIGKILL every process in the cgroup subtree until it is empty (or timeout)."""
    killed: set[int] = set()
    deadline = time.monotonic() + timeout
    while True:
        pids = pids_in(relative)
        if not pids or time.monotonic() > deadline:
            return killed
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
                killed.add(pid)
            except ProcessLookupError:
                pass
        time.sleep(0.1)


def remove_tree(relative: str, *, timeout: float = 5.0) -> list[Path]:
    """rmdir the cgroup subtree bottom-up in every hierarchy; returns the dirs removed.

    The kernel frees a cgroup only once its last process is reaped, so retry briefly.
    """
    removed: list[Path] = []
    deadline = time.monotonic() + timeout
    for top in dirs_of(relative):
        subdirs = sorted(
            (Path(d) for d, _, _ in os.walk(top)), key=lambda p: len(p.parts), reverse=True
        )
        for d in subdirs:
            while True:
                try:
                    d.rmdir()
                    removed.append(d)
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        break
                    time.sleep(0.1)
    return removed


def prune_empty_parents(relative: str) -> None:
    """rmdir relative's ancestors that became empty (e.g. tai-labs/<lab> after its last node)."""
    parts = Path(relative).parts
    for depth in range(len(parts) - 1, 0, -1):
        rel = Path(*parts[:depth])
        for root in hierarchies():
            with contextlib.suppress(OSError):
                (root / rel).rmdir()
