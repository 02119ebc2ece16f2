"""Plugins: checks, faults, actions, roles and engines, found through Python entry points.

Scenarios refer to plugins by name (``grader: linux.service``). A plugin module registers its
classes on import (``@register_check`` ...); a distribution declares its plugin modules as
entry points, the way pytest plugins are modules::

    [project.entry-points."tai_labs.checks"]
    mychecks = "my_package.checks"

so an instructor's own package adds checks or faults without touching this repository. Each
group is imported the first time someone looks a name up in it. A check, fault or action has a
pydantic ``Params`` model: the scenario loader validates a scenario's parameters against it
before anything runs. An unknown name is an error that suggests close names.
"""

from __future__ import annotations

import difflib
import logging
import threading
from abc import ABC
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from typing import Any, ClassVar, Generic, Literal, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict

from tai_labs.errors import TaiLabsError

log = logging.getLogger(__name__)

#: The distribution of this project: a broken plugin module of its own is an error, a broken
#: third-party one is logged and skipped (as Molecule does).
OWN_DISTRIBUTION = "tai-labs"

CHECKS_GROUP = "tai_labs.checks"
FAULTS_GROUP = "tai_labs.faults"
ACTIONS_GROUP = "tai_labs.actions"
ROLES_GROUP = "tai_labs.roles"
ENGINES_GROUP = "tai_labs.engines"

#: Held while any group imports its plugin modules (see ``_Group.load``).
_LOADING = threading.RLock()


class NoParams(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PluginParams(BaseModel):
    """Base of every plugin's parameters: unknown keys are errors, not silently ignored."""

    model_config = ConfigDict(extra="forbid")


ParamsT = TypeVar("ParamsT", bound=BaseModel)


class Plugin(ABC, Generic[ParamsT]):
    """What every check, fault and action class has: a name, a summary and its ``Params``.

    Subclasses are generic over their parameters model (``Check["Service.Params", ...]``), so
    mypy checks the parameters each method receives against the model the class declares.
    """

    name: ClassVar[str]
    summary: ClassVar[str]
    Params: ClassVar[type[BaseModel]] = NoParams
    #: Node kinds this plugin can act on; empty means any.
    node_kinds: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    def missing_parts(cls) -> list[str]:
        """Abstract methods the class leaves undefined: it is declared (scenarios using it
        validate) but cannot run yet, and `list`/`catalog` say so."""
        return sorted(getattr(cls, "__abstractmethods__", ()))


class Named(Protocol):
    name: ClassVar[str]


T = TypeVar("T", bound=Named)
C = TypeVar("C", bound=type[Any])


class UnknownPluginError(TaiLabsError, KeyError):
    def __init__(self, kind: str, name: str, known: list[str]) -> None:
        close = difflib.get_close_matches(name, known, n=3)
        hint = f"did you mean {' or '.join(repr(c) for c in close)}?" if close else None
        hint = hint or f"see `tai-labs catalog {kind}s` for the known names"
        super().__init__(f"unknown {kind} {name!r}", hint=hint)


class PluginLoadError(TaiLabsError):
    """A plugin module declared as an entry point failed to import."""


@dataclass
class _Group:
    """The classes of one entry-point group, shared by every typed view of the group."""

    kind: str
    group: str
    items: dict[str, type[Any]] = field(default_factory=dict)
    loaded: set[str] = field(default_factory=set)  # entry points already imported
    complete: bool = False

    def entry_points(self) -> list[EntryPoint]:
        # One entry point per name: a distribution installed twice (editable and not) lists
        # its entry points twice.
        unique = {ep.name: ep for ep in entry_points(group=self.group)}
        return [unique[name] for name in sorted(unique)]

    def load(self, only: str | None = None) -> None:
        """Import the group's plugin modules (``only``: the entry point of that name)."""
        if self.complete:
            return
        # One thread imports at a time: another one (a portal's worker opening a lab) would
        # else find the module marked loaded before its classes are registered, and call a
        # scenario's action unknown. Reentrant: a plugin module may look plugins up.
        with _LOADING:
            if self.complete:
                return
            for ep in self.entry_points():
                if ep.name in self.loaded or (only is not None and ep.name != only):
                    continue
                self.loaded.add(ep.name)
                _import(self.kind, ep)
            if only is None:
                self.complete = True


def _import(kind: str, ep: EntryPoint) -> None:
    dist = ep.dist.name if ep.dist is not None else "an unknown distribution"
    try:
        ep.load()
    except Exception as exc:
        message = (
            f"{kind} plugin module {ep.value!r} (entry point {ep.name!r} of {dist}, "
            f"group {ep.group}) failed to import: {type(exc).__name__}: {exc}"
        )
        if _normalise(dist) != OWN_DISTRIBUTION:
            # Someone else's broken plugin must not take the project's own ones down.
            log.warning("%s; its plugins are skipped", message)
            return
        raise PluginLoadError(message, hint="fix the module or its entry point") from exc


def _normalise(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


_GROUPS: dict[str, _Group] = {}


class Registry(Generic[T]):
    """The plugins of one entry-point group by name, typed as ``base``'s subclasses.

    Every registry of the same group shares one set of classes: a lower layer (the scenario
    loader) may look plugins up as ``Plugin`` while the grading layer sees them as checks.
    """

    # ``base`` is typed loosely: contracts are abstract classes, which mypy refuses as
    # ``type[T]``; the variable's annotation gives ``T``.
    def __init__(self, kind: str, group: str, base: type[Any]) -> None:
        self.kind = kind
        self.group = group
        self.base = base
        self._group = _GROUPS.setdefault(group, _Group(kind, group))

    def view(self, base: type[Any]) -> Registry[Any]:
        """The same plugins, typed as subclasses of ``base`` (a contract's own class)."""
        return Registry(self.kind, self.group, base)

    def register(self, cls: C) -> C:
        """Class decorator: register ``cls`` under ``cls.name``."""
        if not issubclass(cls, self.base):
            raise TaiLabsError(f"{cls.__qualname__} is not a {self.base.__name__}")
        items = self._group.items
        if cls.name in items and items[cls.name] is not cls:
            raise TaiLabsError(f"{self.kind} {cls.name!r} is registered twice")
        items[cls.name] = cls
        return cls

    def get(self, name: str) -> type[T]:
        items = self._group.items
        if name not in items:
            # Entry points named after the plugin (roles, engines) are imported alone.
            self._group.load(only=name)
        if name not in items:
            self._group.load()
        try:
            found = items[name]
        except KeyError:
            raise UnknownPluginError(self.kind, name, sorted(items)) from None
        if not issubclass(found, self.base):
            raise TaiLabsError(f"{self.kind} {name!r} is not a {self.base.__name__}")
        return found

    def __contains__(self, name: object) -> bool:
        self._group.load()
        return name in self._group.items

    def __iter__(self) -> Iterator[type[T]]:
        self._group.load()
        return iter(sorted(self._group.items.values(), key=lambda c: c.name))

    def names(self) -> list[str]:
        self._group.load()
        return sorted(self._group.items)

    def declared(self) -> list[str]:
        """Names of the group's entry points and registered classes, importing nothing."""
        return sorted({ep.name for ep in self._group.entry_points()} | set(self._group.items))


#: Checks, faults and actions as the layers below their contracts see them: by name, with
#: their ``Params`` and ``node_kinds`` (the scenario loader validates a scenario with them).
CHECK_PLUGINS: Registry[Plugin[Any]] = Registry("check", CHECKS_GROUP, Plugin)
FAULT_PLUGINS: Registry[Plugin[Any]] = Registry("fault", FAULTS_GROUP, Plugin)
ACTION_PLUGINS: Registry[Plugin[Any]] = Registry("action", ACTIONS_GROUP, Plugin)

#: What an engine's node boots, which the lab layer prepares before ``create``: ``rootfs``, an
#: image tree (``NodeSpec.image``); ``disk``, a bootable disk (``NodeSpec.boot``).
ImageForm = Literal["rootfs", "disk"]


class EngineTraits:
    """What the layers below the engines know of one: its name and the properties that
    decide how a node is planned and validated (the contract is ``providers.base.Engine``)."""

    #: The engine's name in scenarios (``engine: vm``) and its ``tai_labs.engines`` entry point.
    name: ClassVar[str]
    image_form: ClassVar[ImageForm] = "rootfs"
    #: Its nodes run a kernel of their own (their clock, partitions and modules are theirs,
    #: they boot slower and need more memory) rather than the host's.
    own_kernel: ClassVar[bool] = False


#: Engines as the scenario loader and the lab plan see them: by name, with their traits.
#: ``declared()`` names them without importing any (an entry point is named after its engine).
ENGINE_PLUGINS: Registry[EngineTraits] = Registry("engine", ENGINES_GROUP, EngineTraits)
