"""The one root of tai-labs' exceptions.

Library code raises these; only the CLI turns them into messages and exit codes
(see ``tai_labs.cli.app``), so the library stays usable from tests and other programs.
"""

from __future__ import annotations


class TaiLabsError(Exception):
    """Base of every error tai-labs raises on purpose.

    ``hint`` tells the user how to fix the problem; the CLI prints it under the message.
    """

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n  hint: {self.hint}"


class UsageError(TaiLabsError):
    """The command was called wrongly (unknown scenario, bad option value)."""

    exit_code = 2


class MissingDependencyError(TaiLabsError):
    """An optional Python package or system tool needed for this operation is absent."""

    exit_code = 2


def require_module(module: str, *, package: str, purpose: str):  # type: ignore[no-untyped-def]
    """Import a heavy protocol library on first use, naming the package if it is missing."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependencyError(
            f"{purpose} needs the Python package {package!r}, which is not installed",
            hint=f"pip install {package}",
        ) from exc
