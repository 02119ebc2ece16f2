"""The action plugin contract and the registry of actions."""

from __future__ import annotations

import importlib

from tai_labs.registry import Plugin, Registry

_MODULES = ("system", "directory", "network")


class Action(Plugin):
    """One provisioning or solution step run on a node through its sessions."""

    @classmethod
    def missing_parts(cls) -> list[str]:
        return [] if callable(getattr(cls, "run", None)) else ["run"]


def _load() -> None:
    for module in _MODULES:
        importlib.import_module(f"tai_labs.actions.{module}")


ACTIONS: Registry[type[Action]] = Registry("action", _load)
register_action = ACTIONS.register
