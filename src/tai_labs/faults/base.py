"""The fault plugin contract and the registry of faults.

Fault modules register their faults on import and are declared under the ``tai_labs.faults``
entry-point group (the project's own in pyproject.toml).
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Any, ClassVar

from tai_labs.context import NodeContext
from tai_labs.errors import TaiLabsError
from tai_labs.plugins import FAULT_PLUGINS, ParamsT, Plugin, Registry


class FaultError(TaiLabsError):
    """A fault cannot be injected here (wrong node, missing prerequisite); says why."""


class Fault(Plugin[ParamsT]):
    """A fault: ``inject`` (idempotent), ``in_place`` (is it there?) and the user's symptom."""

    #: What a user would say, in French ("Je n'arrive plus à ouvrir le partage Compta").
    symptom: ClassVar[str]
    #: Engines the fault can be injected on ("container", "vm"); empty: both. A clock skew,
    #: for instance, needs a VM: containers share the host's clock.
    engines: ClassVar[frozenset[str]] = frozenset()

    @abstractmethod
    def inject(self, ctx: NodeContext, params: ParamsT) -> None:
        """Break the node the way a real incident would (persistently: a restart must not
        repair it), through the context only. Injecting twice changes nothing more than once."""

    @abstractmethod
    def in_place(self, ctx: NodeContext, params: ParamsT) -> bool:
        """Whether the node is broken that way right now (selftest checks it after injection,
        and after the reference fix)."""


FAULTS: Registry[Fault[Any]] = FAULT_PLUGINS.view(Fault)
register_fault = FAULTS.register
