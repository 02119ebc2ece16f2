"""Actions on network devices (configuration lines through the device CLI)."""

from __future__ import annotations

from pydantic import Field

from tai_labs.actions.base import Action, register_action
from tai_labs.registry import PluginParams


@register_action
class DeviceConfig(Action):
    name = "netdev.config"
    summary = "Send configuration lines in configuration mode, then optionally save"
    node_kinds = frozenset({"router", "switch"})

    class Params(PluginParams):
        lines: list[str] = Field(min_length=1)
        save: bool = True
