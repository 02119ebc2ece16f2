"""The fault plugin contract and the registry of faults."""

from __future__ import annotations

import importlib
from typing import ClassVar

from tai_labs.registry import Plugin, Registry

_MODULES = ("linux", "directory", "network", "windows")


class Fault(Plugin):
    """A fault: ``inject`` (idempotent), ``in_place`` (is it there?) and the user's symptom."""

    #: What a user would say, in French ("Je n'arrive plus à ouvrir le partage Compta").
    symptom: ClassVar[str]

    @classmethod
    def missing_parts(cls) -> list[str]:
        return [m for m in ("inject", "in_place") if not callable(getattr(cls, m, None))]


def _load() -> None:
    for module in _MODULES:
        importlib.import_module(f"tai_labs.faults.{module}")


FAULTS: Registry[type[Fault]] = Registry("fault", _load)
register_fault = FAULTS.register
