"""Cgroup layout on the host: which hierarchies exist, and removing a lab's cgroup dirs.

Hosts differ (cgroup v1, hybrid, pure v2); LXC places each container under the relative
dir we give it in every hierarchy, so cleanup walks the same relative dir in each one.
"""

from __future__ import annotations

import contextlib
import os
import re
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


#: cgroup v1 ``name=systemd`` and v2 hierarchies, where a node's systemd keeps its units.
_UNIT_HIERARCHIES = ("systemd", "unified")
_CGROUP_NAME = re.compile(r"[A-Za-z0-9@._:\\-]+")
_PROCS_LIMIT = 1024 * 1024


def node_cgroup_procs(container_dir: str, node_path: str) -> list[int] | None:
    """The pids (as the node numbers them) in one of the node's own cgroups, read from the
    host's hierarchy, or None when ``node_path`` is not a node's ``.../cgroup.procs``.

    ``node_path`` is what the node calls it (``/sys/fs/cgroup/systemd/system.slice/
    ssh.service/cgroup.procs``); the host reads ``/sys/fs/cgroup/systemd/<container_dir>/
    system.slice/ssh.service/cgroup.procs``, where LXC put the node. The kernel writes that
    file, so no program of the node takes part. Raises FileNotFoundError if it is absent.
    """
    parts = node_path.split("/")
    if parts[:4] != ["", "sys", "fs", "cgroup"] or len(parts) < 6:
        return None
    hierarchy, rest = parts[4], parts[5:]
    if hierarchy not in _UNIT_HIERARCHIES or rest[-1] != "cgroup.procs":
        return None
    if any(name in (".", "..") or not _CGROUP_NAME.fullmatch(name) for name in rest):
        return None
    host = Path("/sys/fs/cgroup", hierarchy, container_dir, *rest)
    fd = os.open(host, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as fh:
        text = fh.read(_PROCS_LIMIT).decode()
    pids = []
    for word in text.split():
        inner = _innermost_pid(int(word))
        if inner is not None:
            pids.append(inner)
    return pids


def node_cgroup_entries(container_dir: str, node_path: str) -> list[str] | None:
    """The names in one of the node's own cgroup dirs (sub-cgroups and the kernel's files),
    read from the host's hierarchy, sorted; None when ``node_path`` is not such a dir.

    ``node_path`` is what the node calls it (``/sys/fs/cgroup/systemd/system.slice``), as for
    ``node_cgroup_procs``. Raises FileNotFoundError if it is absent (the node is stopped, or
    systemd removed the slice)."""
    parts = node_path.rstrip("/").split("/")
    if parts[:4] != ["", "sys", "fs", "cgroup"] or len(parts) < 5:
        return None
    hierarchy, rest = parts[4], parts[5:]
    if hierarchy not in _UNIT_HIERARCHIES:
        return None
    if any(name in (".", "..") or not _CGROUP_NAME.fullmatch(name) for name in rest):
        return None
    host = Path("/sys/fs/cgroup", hierarchy, container_dir, *rest)
    fd = os.open(host, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        names = os.listdir(fd)
    finally:
        os.close(fd)
    # A node's root can make thousands of dirs: as many as running_services would look at.
    return sorted(names)[: MAX_SERVICES * 4]


def _innermost_pid(host_pid: int) -> int | None:
    """The pid a host process has in its own (the node's) pid namespace, None if gone."""
    try:
        status = Path(f"/proc/{host_pid}/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("NSpid:"):
            return int(line.split()[-1])
    return host_pid


#: At most this many services are listed per node (a node could make thousands of dirs).
MAX_SERVICES = 500


def running_services(container_dir: str, root: Path = Path("/sys/fs/cgroup")) -> set[str] | None:
    """The node's services that have a process now, read from the host's hierarchy: each
    ``system.slice/<unit>.service`` whose ``cgroup.procs`` (written by the kernel) is not
    empty. None when the node's cgroups are not there (stopped, or another layout).

    The node's root can make such a dir and put a process in it (a service seems to run),
    but cannot make a service that runs look stopped without stopping it.
    """
    for hierarchy in ("systemd", "unified", ""):
        slice_dir = root / hierarchy / container_dir / "system.slice"
        if slice_dir.is_dir():
            break
    else:
        return None
    found: set[str] = set()
    for entry in sorted(os.listdir(slice_dir))[: MAX_SERVICES * 4]:
        if not entry.endswith(".service") or not _CGROUP_NAME.fullmatch(entry):
            continue
        try:
            fd = os.open(slice_dir / entry / "cgroup.procs", os.O_RDONLY | os.O_NOFOLLOW)
        except OSError:
            continue
        with os.fdopen(fd, "rb") as fh:
            if fh.read(64).strip():
                found.add(entry)
        if len(found) >= MAX_SERVICES:
            break
    return found
