"""Which shell a candidate's web terminal opens on a node, and through which host command.

The portal runs the command this returns on a PTY: ``lxc-attach`` into a container node,
SSH to a VM, as the account the scenario gives the candidate there (``console_user``,
root by default). The command is an argv built by the engine, never a host shell line.
"""

from __future__ import annotations

from tai_labs.errors import UsageError
from tai_labs.lab.runtime import Lab
from tai_labs.providers.base import NodeState


def console_user(lab: Lab, node: str) -> str:
    """The account the scenario gives the candidate on ``node`` (root unless it says)."""
    plan = lab.node_plan(node)  # an unknown node is a UsageError
    if plan.kind.spec.windows:
        raise UsageError(f"{node} is a Windows node: it has no text terminal, use its console")
    spec = next(n for n in lab.loaded.scenario.topology.nodes if n.name == node)
    return spec.console_user or "root"


def terminal_command(lab: Lab, node: str) -> list[str]:
    """The host argv that opens the candidate's login shell in ``node`` once run on a PTY."""
    user = console_user(lab, node)
    resource = lab.node_plan(node).resource
    state = lab.engine.state(resource)
    if state is not NodeState.RUNNING:
        raise UsageError(f"{node} is {state}: its terminal opens once the node runs")
    return lab.engine.terminal_argv(resource, user)
