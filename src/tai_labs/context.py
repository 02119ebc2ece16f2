"""What roles, faults and actions receive to act on one node: ``NodeContext``.

Two ways into the node: the engine's exec channel (``run``, ``write_file``: no network needed,
so it works on a node whose network the scenario broke) and the lab's sessions (``sessions``:
SSH, LDAPS, WinRM, the device CLI, as graders use them). Around them, what the node is in the
scenario: its declaration, the scenario, its variables and secrets, its management address.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, overload

from tai_labs.errors import TaiLabsError
from tai_labs.providers.base import ExecResult
from tai_labs.scenario.model import Node, Scenario
from tai_labs.sessions.base import (
    CommandSession,
    DeviceSession,
    DirectorySession,
    PowerShellSession,
    SessionError,
)
from tai_labs.sessions.winrm import admin_session

#: Runs argv inside the node: (argv, input, timeout) -> result.
Exec = Callable[[Sequence[str], "str | bytes | None", "float | None"], ExecResult]

#: Secrets shorter than this are not looked for in command lines: so short a value could be
#: part of an ordinary argument by chance (the lab's secrets are 12 to 20 characters).
MIN_SECRET_LEN = 6


class NodeError(TaiLabsError):
    """Acting on a node failed: a command it ran, or provisioning it."""


class Sessions(Protocol):
    """The lab's sessions, opened on demand: ``get(node, kind)`` as graders get them."""

    @overload
    def get(self, node: str, kind: Literal["command"]) -> CommandSession: ...
    @overload
    def get(self, node: str, kind: Literal["powershell"]) -> PowerShellSession: ...
    @overload
    def get(self, node: str, kind: Literal["directory"]) -> DirectorySession: ...
    @overload
    def get(self, node: str, kind: Literal["device"]) -> DeviceSession: ...
    def get(self, node: str, kind: str) -> Any: ...


class NoSessions:
    """The sessions of a context opened without any (provisioning before the lab answers)."""

    def get(self, node: str, kind: str) -> Any:
        raise SessionError(f"no {kind} session to {node} here: only the exec channel is open")


@dataclass
class NodeContext:
    """One node of a lab, as roles, faults and actions act on it."""

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
    #: The lab's sessions (to this node or another one).
    sessions: Sessions = field(default_factory=NoSessions)

    def run(
        self,
        argv: Sequence[str],
        *,
        input: str | bytes | None = None,
        timeout: float | None = 120.0,
        check: bool = True,
    ) -> ExecResult:
        leaked = self.secret_in(argv)
        if leaked is not None:
            # The command line shows in `ps`, in the node and on the host (lxc-attach's own
            # arguments): never run it, and never print it (it holds the secret).
            raise NodeError(
                f"{self.node.name}: the lab secret {leaked!r} is in the command line of "
                f"`{argv[0]}`; the command was not run",
                hint="pass the secret on standard input (a step's `input`, or the tool's "
                "--stdin/PASSWD_FD=0 option), never as an argument",
            )
        result = self.exec(argv, input, timeout)
        if check and not result.ok:
            raise NodeError(
                f"{self.node.name}: `{' '.join(argv)}` failed (rc={result.rc}): "
                f"{(result.stderr or result.stdout).strip()[-500:]}"
            )
        return result

    def secret_in(self, argv: Sequence[str]) -> str | None:
        """The name of a lab secret that appears in ``argv``, or None."""
        for name, value in self.secrets.items():
            if len(value) >= MIN_SECRET_LEN and any(value in arg for arg in argv):
                return name
        return None

    def write_file(self, path: str, content: str, mode: str = "0644") -> None:
        # Content goes through stdin: no value is ever spliced into a shell command line.
        self.run(stdin_to_file_argv(path, mode), input=content)


#: Writes its stdin to "$1" with mode "$2", creating parent folders like ``install -D``.
#: ``cat`` reads fd 0 as it is: reopening it as /dev/stdin (what ``install`` would do) is
#: refused in an unprivileged node, whose pipe from the host belongs to an unmapped uid.
_STDIN_TO_FILE = (
    '(umask 022 && mkdir -p -- "$(dirname -- "$1")") && umask 077 && '
    'rm -f -- "$1" && cat > "$1" && chmod -- "$2" "$1"'
)


def stdin_to_file_argv(path: str, mode: str) -> list[str]:
    """argv writing the command's stdin to path with mode (path and mode never parsed)."""
    return ["sh", "-c", _STDIN_TO_FILE, "sh", path, mode]


def open_powershell(ctx: NodeContext) -> PowerShellSession:
    """A WinRM session to the node, as the grading pool opens one."""
    return admin_session(ctx.node.name, str(ctx.mgmt_address), ctx.secrets.get("admin_password"))


@contextmanager
def powershell(ctx: NodeContext) -> Iterator[PowerShellSession]:
    """The node's PowerShell session for the length of a ``with`` block."""
    session = open_powershell(ctx)
    try:
        yield session
    finally:
        session.close()
