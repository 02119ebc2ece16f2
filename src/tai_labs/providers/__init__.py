"""Engines that run lab nodes: LXC containers and libvirt VMs, behind one interface."""

from __future__ import annotations


def available_engines() -> frozenset[str]:
    """Engines wired into the lab lifecycle (`up`/`down`): the ``tai_labs.engines`` plugins.

    Whether this host can run them now is `tai-labs doctor`'s question.
    """
    from tai_labs.providers.base import ENGINES

    return frozenset(ENGINES.declared())
