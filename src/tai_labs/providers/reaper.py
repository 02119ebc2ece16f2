"""Keeping the tool the parent of whatever it starts.

On this kind of host PID 1 is not an init that reaps promptly, so processes orphaned by a
container monitor would linger as zombies. Making the tool a child subreaper (prctl) puts
such orphans under the tool, which reaps them here.
"""

from __future__ import annotations

import ctypes
import gc
import os
import subprocess
from collections.abc import Iterable
from typing import Any

PR_SET_CHILD_SUBREAPER = 36


def become_subreaper() -> bool:
    """Mark this process as a child subreaper; False if the kernel refused."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)) == 0
    except OSError:
        return False


def _zombie_children() -> list[int]:
    me = os.getpid()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="utf-8", errors="replace") as fh:
                stat = fh.read()
        except OSError:
            continue
        # Fields after the command name (which may contain spaces) start after the last ')'.
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] == "Z" and int(fields[1]) == me:
            found.append(int(entry))
    return found


def _popens() -> list[subprocess.Popen[Any]]:
    found = []
    for o in gc.get_objects():
        try:
            if isinstance(o, subprocess.Popen):
                found.append(o)
        except ReferenceError:
            continue  # a weak proxy whose object is gone: isinstance asks it, and it raises
    return found


def _waited_by_popen() -> set[int]:
    """Pids of children a ``subprocess.Popen`` of this process has yet to wait for.

    Each such Popen is polled first: one whose child has exited reaps it itself and keeps
    its status (another thread's ``wait`` then returns it), so a Popen nobody waits for (an
    abandoned one, or one in ``subprocess``'s own list of those still running when freed)
    leaves no zombie. ``poll`` never blocks, nor races a thread in ``wait``: it skips a
    child whose wait lock is held.
    """
    kept = set()
    for popen in _popens():
        if popen.returncode is None and popen.pid and popen.poll() is None:
            kept.add(popen.pid)
    return kept


def reap_orphans(keep: Iterable[int] = ()) -> list[int]:
    """Reap zombie children that are not ours to wait for (keep: pids owned by Popen objects).

    Children of a live ``Popen`` (another thread's ``subprocess.run`` between its child's exit
    and its wait) are never reaped here: their status would be lost, and ``Popen.wait`` would
    then report 0 for a command that failed.
    """
    keep = set(keep)
    zombies = [pid for pid in _zombie_children() if pid not in keep]
    if zombies:  # the scan of live objects only when there is something to reap
        keep |= _waited_by_popen()
    reaped = []
    for pid in zombies:
        if pid in keep:
            continue
        try:
            os.waitpid(pid, os.WNOHANG)
            reaped.append(pid)
        except ChildProcessError:
            pass
    return reaped
