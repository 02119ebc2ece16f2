"""The action plugin contract and the registry of actions."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from tai_labs.registry import Plugin, Registry

if TYPE_CHECKING:
    from tai_labs.roles.base import RoleContext

_MODULES = ("system", "directory", "network")


class Action(Plugin):
    """One provisioning or solution step run on a node through its sessions.

    Subclasses that can run define ``run(self, ctx, params)``; the rest are declared (name
    and parameters, so scenarios validate) and `tai-labs list` says they cannot run yet.
    """

    run: Any  # (self, ctx: RoleContext, params: Params) -> None, where implemented

    @classmethod
    def missing_parts(cls) -> list[str]:
        return [] if callable(getattr(cls, "run", None)) else ["run"]


def run_step(ctx: RoleContext, action: str, params: dict[str, Any]) -> None:
    """Run one scenario step on the node of ``ctx``."""
    plugin = ACTIONS.get(action)
    if plugin.missing_parts():
        from tai_labs.errors import TaiLabsError

        raise TaiLabsError(f"action {action!r} cannot run yet (not implemented)")
    plugin().run(ctx, plugin.Params.model_validate(params))


def _load() -> None:
    for module in _MODULES:
        importlib.import_module(f"tai_labs.actions.{module}")


ACTIONS: Registry[type[Action]] = Registry("action", _load)
register_action = ACTIONS.register
