"""Named plugin registries: checks (graders), faults and actions.

Scenarios refer to plugins by name (``grader: linux.service``). Each plugin is a class with
a pydantic ``Params`` model, so the loader validates a scenario's parameters against the
plugin before anything runs. An unknown name is an error that suggests close names: a typo
fails loudly instead of being skipped.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel, ConfigDict

from tai_labs.errors import TaiLabsError


class NoParams(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PluginParams(BaseModel):
    """Base of every plugin's parameters: unknown keys are errors, not silently ignored."""

    model_config = ConfigDict(extra="forbid")


class Plugin:
    """What every registered check, fault and action class has."""

    name: ClassVar[str]
    summary: ClassVar[str]
    Params: ClassVar[type[BaseModel]] = NoParams
    #: Node kinds this plugin can act on; empty means any.
    node_kinds: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    def missing_parts(cls) -> list[str]:
        """Methods the subclass still has to provide before it can run (empty: runnable)."""
        return []


P = TypeVar("P", bound=type[Plugin])


class UnknownPluginError(TaiLabsError, KeyError):
    def __init__(self, kind: str, name: str, known: list[str]) -> None:
        close = difflib.get_close_matches(name, known, n=3)
        hint = f"did you mean {' or '.join(repr(c) for c in close)}?" if close else None
        hint = hint or f"see `tai-labs catalog {kind}s` for the known names"
        super().__init__(f"unknown {kind} {name!r}", hint=hint)


class Registry(Generic[P]):
    def __init__(self, kind: str, loader: Callable[[], None] | None = None) -> None:
        self.kind = kind
        self._items: dict[str, P] = {}
        self._loader = loader
        self._loaded = False

    def register(self, cls: P) -> P:
        """Class decorator: register ``cls`` under ``cls.name``."""
        if cls.name in self._items and self._items[cls.name] is not cls:
            raise TaiLabsError(f"{self.kind} {cls.name!r} is registered twice")
        self._items[cls.name] = cls
        return cls

    def _ensure_loaded(self) -> None:
        # Modules register on import; import them the first time someone looks.
        if not self._loaded and self._loader is not None:
            self._loaded = True
            self._loader()

    def get(self, name: str) -> P:
        self._ensure_loaded()
        try:
            return self._items[name]
        except KeyError:
            raise UnknownPluginError(self.kind, name, sorted(self._items)) from None

    def __contains__(self, name: object) -> bool:
        self._ensure_loaded()
        return name in self._items

    def __iter__(self) -> Iterator[P]:
        self._ensure_loaded()
        return iter(sorted(self._items.values(), key=lambda c: c.name))

    def names(self) -> list[str]:
        self._ensure_loaded()
        return sorted(self._items)


def describe_params(model: type[BaseModel]) -> dict[str, Any]:
    """The JSON Schema of a plugin's parameters, for `catalog` and the scenario schema."""
    return model.model_json_schema()
