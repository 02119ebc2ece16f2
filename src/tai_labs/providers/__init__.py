"""Engines that run lab nodes: LXC containers and libvirt VMs, behind one interface."""

from __future__ import annotations


def available_engines() -> frozenset[str]:
    """Engines wired into the lab lifecycle (`up`/`down`).

    Both are wired; whether this host can run them now is `tai-labs doctor`'s question.
    """
    return frozenset({"container", "vm"})
