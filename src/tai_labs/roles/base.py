"""The role contract: provision a node of one kind from the scenario, then say when it is ready.

A role runs against a node through ``RoleContext.exec`` (the engine's out-of-band channel:
no network needed) and, for readiness, may probe the node from the host over the
management network. Provisioning is idempotent: an interrupted ``up`` runs it again.
"""

from __future__ import annotations

import ipaddress
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from tai_labs.errors import TaiLabsError
from tai_labs.providers.base import ExecResult
from tai_labs.scenario.model import Node, Scenario

#: Runs argv inside the node: (argv, input, timeout) -> result.
Exec = Callable[[Sequence[str], "str | bytes | None", "float | None"], ExecResult]


class RoleError(TaiLabsError):
    """Provisioning a node failed."""


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


@dataclass
class RoleContext:
    """What a role knows about its node and the lab."""

    lab_id: str
    node: Node
    scenario: Scenario
    variables: Mapping[str, Any]
    exec: Exec
    mgmt_address: ipaddress.IPv4Address
    #: Per-lab secrets by name (the domain's Administrator password is "admin_password").
    secrets: Mapping[str, str] = field(default_factory=dict)
    #: The scenario's folder, where templates named by steps live.
    folder: Path | None = None

    def run(
        self,
        argv: Sequence[str],
        *,
        input: str | bytes | None = None,
        timeout: float | None = 120.0,
        check: bool = True,
    ) -> ExecResult:
        result = self.exec(argv, input, timeout)
        if check and not result.ok:
            raise RoleError(
                f"{self.node.name}: `{' '.join(argv)}` failed (rc={result.rc}): "
                f"{(result.stderr or result.stdout).strip()[-500:]}"
            )
        return result

    def write_file(self, path: str, content: str, mode: str = "0644") -> None:
        # Content goes through stdin: no value is ever spliced into a shell command line.
        self.run(["install", "-D", "-m", mode, "/dev/stdin", path], input=content)


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

    #: Seconds readiness may take on a 2-core machine before it is an error.
    ready_timeout: ClassVar[float] = 120.0

    @abstractmethod
    def provision(self, ctx: RoleContext) -> None:
        """Configure the node from the scenario; safe to run again."""

    @abstractmethod
    def wait_ready(self, ctx: RoleContext) -> None:
        """Return when the node's service answers; raise NotReadyError otherwise."""

    def wait_started(self, ctx: RoleContext) -> None:
        """After a revert: the node's own services answer. Unlike ``wait_ready`` this must
        not depend on the rest of the lab, which the scenario may have broken on purpose."""
        self.wait_ready(ctx)
