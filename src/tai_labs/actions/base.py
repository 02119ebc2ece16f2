"""The action plugin contract and the registry of actions.

Action modules register their actions on import and are declared under the
``tai_labs.actions`` entry-point group (the project's own in pyproject.toml).
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Any

from tai_labs.context import NodeContext
from tai_labs.errors import TaiLabsError
from tai_labs.plugins import ACTION_PLUGINS, ParamsT, Plugin, Registry
from tai_labs.scenario.model import Step


class Action(Plugin[ParamsT]):
    """One provisioning or solution step run on a node through its context."""

    @abstractmethod
    def run(self, ctx: NodeContext, params: ParamsT) -> None:
        """Do the step; safe to run again on a node where it is done."""


def run_step(ctx: NodeContext, step: Step) -> None:
    """Run one scenario step on the node of ``ctx``, with its parameters bound by the loader."""
    plugin = ACTIONS.get(step.action)
    if plugin.missing_parts():
        raise TaiLabsError(f"action {step.action!r} cannot run yet (not implemented)")
    plugin().run(ctx, step.bound_params(plugin.Params))


ACTIONS: Registry[Action[Any]] = ACTION_PLUGINS.view(Action)
register_action = ACTIONS.register
