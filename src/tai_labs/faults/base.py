"""The fault plugin contract and the registry of faults."""

from __future__ import annotations

import importlib
from typing import ClassVar

from tai_labs.errors import TaiLabsError
from tai_labs.registry import Plugin, Registry

_MODULES = ("linux_system", "linux_network", "directory", "network", "windows")


class FaultError(TaiLabsError):
    """A fault cannot be injected here (wrong node, missing prerequisite); says why."""


class Fault(Plugin):
    """A fault: ``inject`` (idempotent), ``in_place`` (is it there?) and the user's symptom.

    Subclasses define:

    - ``inject(self, ctx: RoleContext, params) -> None``: break the node the way a real
      incident would (persistently: a restart must not repair it), through ``ctx.run`` /
      ``ctx.write_file`` only. Injecting twice changes nothing more than injecting once.
    - ``in_place(self, ctx: RoleContext, params) -> bool``: whether the node is broken that
      way right now (selftest checks it after injection, and after the reference fix).
    """

    #: What a user would say, in French ("Je n'arrive plus à ouvrir le partage Compta").
    symptom: ClassVar[str]
    #: Engines the fault can be injected on ("container", "vm"); empty: both. A clock skew,
    #: for instance, needs a VM: containers share the host's clock.
    engines: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    def missing_parts(cls) -> list[str]:
        return [m for m in ("inject", "in_place") if not callable(getattr(cls, m, None))]


def _load() -> None:
    for module in _MODULES:
        importlib.import_module(f"tai_labs.faults.{module}")


FAULTS: Registry[type[Fault]] = Registry("fault", _load)
register_fault = FAULTS.register
