"""Which nodes have a graphical console, and where on the host their display is served.

A node with a desktop (a Windows VM: ``vm_domain`` gives those domains a VNC display on the
host's 127.0.0.1) is shown to the candidate in the browser by the portal, which proxies its
WebSocket to the port this module reads from libvirt. The port always comes from the host's
own records (the domain's live XML), never from a request.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, runtime_checkable

from tai_labs.errors import UsageError
from tai_labs.kinds import NodeKind
from tai_labs.lab.store import NodeRecord
from tai_labs.providers.vm_domain import VNC_LISTEN

#: The host address every node display listens on (the proxy connects there only).
DISPLAY_HOST = VNC_LISTEN


class NoConsoleError(UsageError):
    """The node has no graphical console to show now (not a VM desktop, or not running)."""


@runtime_checkable
class _DisplayEngine(Protocol):
    def vnc_port(self, node: str) -> int: ...


def desktop_kind(kind: str) -> bool:
    """Whether nodes of ``kind`` have a desktop (Windows: always a VM with a display)."""
    try:
        return NodeKind(kind).spec.windows
    except ValueError:
        return False  # a plugin's kind: no display unless its engine says so one day


def has_desktop(node: NodeRecord) -> bool:
    """Whether ``node`` has a graphical console: a VM with a desktop (``vm_domain`` gives
    those domains, and only those, a VNC display)."""
    return node.engine == "vm" and desktop_kind(node.kind)


def display_port(lab_id: str, node: NodeRecord, data: Path | None = None) -> int:
    """The TCP port on ``DISPLAY_HOST`` of ``node``'s display (blocking: asks libvirt).

    Raises ``NoConsoleError`` for a node without a desktop, and the engine's errors
    (``NodeNotFoundError``, ``NodeStateError``) when its domain is gone or not running.
    """
    if not has_desktop(node):
        raise NoConsoleError(f"{node.name} has no graphical console")
    from tai_labs.providers.engines import LabEngine

    engine = LabEngine(lab_id, data=data).engine(node.engine)
    if not isinstance(engine, _DisplayEngine):
        raise NoConsoleError(f"the {node.engine} engine shows no display")
    return engine.vnc_port(node.resource)
