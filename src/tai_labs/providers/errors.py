"""Exceptions of the lab runtime: node engines and lab networks (images add theirs).

One small tree so callers can catch the whole runtime layer (``RuntimeLayerError``) or
just the part they can act on (a missing system tool, a failed image build, a node that
does not exist).
"""

from __future__ import annotations

from tai_labs.errors import TaiLabsError


class RuntimeLayerError(TaiLabsError):
    """Base of every error raised by images (``images.errors``), providers and networks."""


class HostRequirementError(RuntimeLayerError):
    """The host cannot run labs: not root, or a system tool (lxc, debootstrap, nft) is absent."""

    exit_code = 2


class CommandError(RuntimeLayerError):
    """A host command we rely on failed; carries its argv, exit code and stderr tail."""

    def __init__(self, argv: list[str], rc: int, stderr: str, *, hint: str | None = None) -> None:
        tail = stderr.strip().splitlines()[-5:]
        super().__init__(
            f"command failed (rc={rc}): {' '.join(argv)}\n" + "\n".join(tail), hint=hint
        )
        self.argv = argv
        self.rc = rc
        self.stderr = stderr


class EngineError(RuntimeLayerError):
    """A node engine operation failed."""


class NodeNotFoundError(EngineError):
    """The named node does not exist in this lab."""


class NodeStateError(EngineError):
    """The operation is not valid in the node's current state (e.g. revert while running)."""


class NodeStartError(EngineError):
    """A node did not reach the running state."""


class ExecTimeoutError(EngineError):
    """A command run inside a node did not finish in time."""


class SnapshotNotFoundError(EngineError):
    """The named snapshot does not exist for this node."""


class NetworkError(RuntimeLayerError):
    """A lab bridge, address or filter rule could not be set up or removed."""
