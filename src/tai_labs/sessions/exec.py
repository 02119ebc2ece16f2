"""The engine's out-of-band channel as a command session: no network needed.

Used when the node's network is broken (by a fault or by the candidate), and by probes that
must run inside the node whatever its management link does.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Sequence

from tai_labs.providers.base import ExecResult
from tai_labs.providers.errors import EngineError
from tai_labs.sessions.base import CommandResult, CommandSession, SessionError
from tai_labs.sessions.deadline import budget

Runner = Callable[[Sequence[str], "str | None", float], ExecResult]


class ExecSession(CommandSession):
    shell = "posix"
    transport = "exec"

    def __init__(self, node: str, run: Runner, *, fallback: str = "") -> None:
        """fallback: why this channel stands in for SSH ("fallback: host key mismatch"),
        recorded with every piece of evidence it gives; "" when it was asked for itself."""
        self.node = node
        self._run = run
        self.fallback = fallback

    def run(
        self, argv: Sequence[str], *, timeout: float = 30.0, input: str | None = None
    ) -> CommandResult:
        timeout = budget(timeout, f"{self.node}: `{shlex.join(argv)}`")
        # The engine passes argv straight to the node (lxc-attach): no shell re-parses it.
        try:
            result = self._run(list(argv), input, timeout)
        except EngineError as exc:
            raise SessionError(f"{self.node}: {exc.message}") from exc
        return CommandResult(
            result.rc, result.stdout, result.stderr, shlex.join(argv), result.truncated
        )
