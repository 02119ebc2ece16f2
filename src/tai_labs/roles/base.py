"""The role contract: provision a node of one kind from the scenario, then say when it is ready.

A role runs against a node through ``NodeContext.exec`` (the engine's out-of-band channel:
no network needed) and, for readiness, may probe the node from the host over the
management network. Provisioning is idempotent: an interrupted ``up`` runs it again.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import ClassVar

from tai_labs.context import NodeContext, NodeError
from tai_labs.plugins import ROLES_GROUP, Registry

#: Provisioning a node failed (the node context's error: a command that failed is one too).
RoleError = NodeError


class NotReadyError(RoleError):
    """A node did not become ready in time; says which node and what was awaited."""

    def __init__(self, node: str, waited_for: str, timeout: float, last: str = "") -> None:
        detail = f" (last: {last})" if last else ""
        super().__init__(
            f"node {node!r} not ready after {timeout:.0f}s: waited for {waited_for}{detail}",
            hint=f"inspect it with `tai-labs console LAB {node}`",
        )
        self.node = node
        self.waited_for = waited_for


def wait_until(
    probe: Callable[[], tuple[bool, str]],
    *,
    node: str,
    what: str,
    timeout: float,
    every: float = 0.5,
) -> None:
    """Poll ``probe`` (ok, detail) until ok, or raise NotReadyError with the last detail."""
    deadline = time.monotonic() + timeout
    last = ""
    while True:
        ok, last = probe()
        if ok:
            return
        if time.monotonic() >= deadline:
            raise NotReadyError(node, what, timeout, last)
        time.sleep(every)


class Role(ABC):
    """Provisioning and readiness for the node kinds whose row (tai_labs.kinds) names it."""

    #: The role's key, its entry-point name in ``tai_labs.roles`` ("ad-dc", "linux" ...).
    name: ClassVar[str]
    #: Seconds readiness may take on a 2-core machine before it is an error.
    ready_timeout: ClassVar[float] = 120.0

    @abstractmethod
    def provision(self, ctx: NodeContext) -> None:
        """Configure the node from the scenario; safe to run again."""

    @abstractmethod
    def wait_ready(self, ctx: NodeContext) -> None:
        """Return when the node's service answers; raise NotReadyError otherwise."""

    def tls_certificates(self, ctx: NodeContext) -> dict[str, str]:
        """The certificates the node's TLS services show, by service ("ldaps", "winrm"), as
        PEM, read out of band (the exec channel) once the node is ready: the lab pins them.
        The default: no TLS service to pin."""
        return {}

    def wait_started(self, ctx: NodeContext) -> None:
        """After a revert: the node's own services answer. Unlike ``wait_ready`` this must
        not depend on the rest of the lab, which the scenario may have broken on purpose."""
        self.wait_ready(ctx)


#: Roles by key; role modules register on import and are ``tai_labs.roles`` entry points.
ROLE_PLUGINS: Registry[Role] = Registry("role", ROLES_GROUP, Role)
register_role = ROLE_PLUGINS.register
