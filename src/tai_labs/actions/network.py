"""Actions on network devices (configuration lines through the device CLI)."""

from __future__ import annotations

from pydantic import Field

from tai_labs.actions.base import Action, register_action
from tai_labs.context import NodeContext
from tai_labs.errors import TaiLabsError
from tai_labs.kinds import NodeKind
from tai_labs.plugins import PluginParams


@register_action
class DeviceConfig(Action["DeviceConfig.Params"]):
    name = "netdev.config"
    summary = "Send configuration lines in configuration mode, then optionally save"
    node_kinds = frozenset({NodeKind.ROUTER})

    class Params(PluginParams):
        lines: list[str] = Field(min_length=1)
        save: bool = True

    def run(self, ctx: NodeContext, params: Params) -> None:
        # vtysh takes each line as its own argument: nothing is re-parsed by a shell.
        argv = ["vtysh", "-c", "configure terminal"]
        for line in params.lines:
            argv += ["-c", line]
        argv += ["-c", "end"]
        if params.save:
            argv += ["-c", "write memory"]
        result = ctx.run(argv, check=False)
        errors = [ln for ln in (result.stdout + result.stderr).splitlines() if ln.startswith("%")]
        if not result.ok or errors:
            raise TaiLabsError(f"{ctx.node.name}: vtysh refused: {'; '.join(errors) or result.rc}")
