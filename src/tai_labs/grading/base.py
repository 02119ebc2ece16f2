"""The check plugin contract and the registry of checks.

A check is split in two, as in netlab's validation plugins: ``collect`` asks the lab (through
sessions only) and ``judge`` is a pure function of what was collected. Grader modules live in
the project's ``graders/`` folder and register their checks on import.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import ClassVar

from tai_labs.errors import TaiLabsError
from tai_labs.registry import Plugin, Registry


class Check(Plugin):
    """A named, parameterised check. Subclasses define ``Params``, ``collect`` and ``judge``:

    - ``collect(self, session, params) -> Evidence`` asks the target through ``session`` only
      (a ``CommandSession``, ``PowerShellSession``, ``DirectorySession`` or ``DeviceSession``,
      as ``session_kind`` says) and records every command with its output. It raises
      ``SessionError`` when the node cannot be asked; the verdict is then ``error``.
    - ``judge(self, evidence, params) -> Judgement`` is a pure function of the evidence: it
      says pass or fail and why, in French and English, and answers ``error`` (never pass) for
      empty or unexpected output.
    """

    #: The protocol family the check needs: "command", "powershell", "directory", "device".
    session: ClassVar[str] = "command"

    @classmethod
    def missing_parts(cls) -> list[str]:
        return [m for m in ("collect", "judge") if not callable(getattr(cls, m, None))]


def _load_grader_modules() -> None:
    import graders

    for info in pkgutil.iter_modules(graders.__path__):
        if info.name.startswith("_"):
            continue
        try:
            importlib.import_module(f"graders.{info.name}")
        except Exception as exc:
            raise TaiLabsError(
                f"grader module graders.{info.name} failed to import: {exc}",
                hint="fix the module or move it out of graders/",
            ) from exc


CHECKS: Registry[type[Check]] = Registry("check", _load_grader_modules)
register_check = CHECKS.register
