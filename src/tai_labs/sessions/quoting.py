"""Quoting of values for the shells sessions talk to: POSIX sh and PowerShell.

Sessions quote; callers never do. Every value becomes one literal word of the target shell,
whatever it holds (spaces, quotes, ``$``, ``;``, newlines), so a check's parameter or a
candidate-chosen name cannot turn into code on the node.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping, Sequence

#: Characters PowerShell accepts as a single quote: ASCII ' and the typographic ones
#: (U+2018..U+201B). Any of them would end a '...' literal, so each is doubled, as
#: CodeGeneration.EscapeSingleQuotedStringContent does in PowerShell itself.
_PS_SINGLE_QUOTES = "'\u2018\u2019\u201a\u201b"
_PS_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def posix_join(argv: Sequence[str]) -> str:
    """argv as one POSIX sh command line (each argument a single literal word)."""
    if not argv:
        raise ValueError("empty command")
    for arg in argv:
        _check_value(arg)
    return shlex.join(argv)


def ps_quote(value: str) -> str:
    """A PowerShell single-quoted literal of ``value``: no expansion of ``$``, backtick, etc."""
    _check_value(value)
    return "'" + "".join(c * 2 if c in _PS_SINGLE_QUOTES else c for c in value) + "'"


def ps_variable(name: str) -> str:
    """``$name``, for a parameter name that is a plain identifier (refused otherwise)."""
    if not _PS_NAME.fullmatch(name):
        raise ValueError(f"not a PowerShell parameter name: {name!r}")
    return f"${name}"


def ps_prelude(parameters: Mapping[str, str] | None) -> str:
    """Lines binding each parameter as a quoted variable: ``$login = 'o''brien'``."""
    return "".join(f"{ps_variable(k)} = {ps_quote(v)}\n" for k, v in (parameters or {}).items())


def ps_command(argv: Sequence[str]) -> str:
    """A PowerShell statement running argv with the call operator, every word quoted.

    The exit code is that of a native program, or 1 when a cmdlet failed. Native programs
    get their arguments re-quoted by PowerShell's own rules (``"`` inside an argument is
    mangled before PowerShell 7.3): prefer cmdlets with ``run_ps`` parameters for such values.
    """
    if not argv:
        raise ValueError("empty command")
    call = "& " + " ".join(ps_quote(a) for a in argv)
    # $? must be read right after the call; $LASTEXITCODE is only set by native programs.
    return (
        f"{call}\n$taiOk = $?\n"
        "if ($LASTEXITCODE) { exit $LASTEXITCODE }\n"
        "if (-not $taiOk) { exit 1 }\n"
    )


def _check_value(value: str) -> None:
    if not isinstance(value, str):
        raise TypeError(f"command arguments must be str, not {type(value).__name__}")
    # Neither shell can carry NUL in an argument; refusing beats silently truncating it.
    if "\0" in value:
        raise ValueError("NUL character in a command argument")
