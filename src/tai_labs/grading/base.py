"""The check plugin contract and the registry of checks.

A check is split in two, as in netlab's validation plugins: ``collect`` asks the lab (through
sessions only) and ``judge`` is a pure function of what was collected. Grader modules live in
the project's ``graders/`` folder and register their checks on import.
"""

from __future__ import annotations

import importlib.util
import sys
from typing import ClassVar

from tai_labs.errors import TaiLabsError
from tai_labs.locations import locations
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
    folder = locations().graders
    for path in sorted(folder.glob("*.py")):
        if path.name.startswith("_"):
            continue
        module_name = f"tai_labs_graders.{path.stem}"
        if module_name in sys.modules:
            continue
        spec = importlib.util.spec_from_file_location(module_name, path)
        if spec is None or spec.loader is None:
            raise TaiLabsError(f"cannot import grader module {path}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        try:
            spec.loader.exec_module(module)
        except Exception as exc:
            del sys.modules[module_name]
            raise TaiLabsError(
                f"grader module {path} failed to import: {exc}",
                hint="fix the module or move it out of graders/",
            ) from exc


CHECKS: Registry[type[Check]] = Registry("check", _load_grader_modules)
register_check = CHECKS.register
