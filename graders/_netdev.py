"""What the router and switch checks share: the device kinds, how a device is asked, ``ip -j``.

How each device is asked:

- Router CLI checks (``netdev.interface``, ``netdev.route``) send IOS-like commands to a
  ``DeviceSession`` (netmiko ``cisco_ios`` to vtysh); given a ``CommandSession`` instead they
  run the same command with ``vtysh -c`` inside the node.
- The switch has no CLI: Open vSwitch is asked with ``ovs-vsctl --format=json`` and the
  kernel with ``ip -j``, through a ``CommandSession`` (or a ``DeviceSession`` whose CLI is a
  shell).
- ``netdev.dhcp_relay`` and ``netdev.config_saved`` need files of the node (dnsmasq does
  the relay, not FRR; FRR has no ``show startup-config``): they use a command session.

The checks are in ``graders/router.py`` (and ``netdev.interface``, for both devices) and
``graders/switch.py``.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Sequence
from typing import Any

from graders._decoding import decoding
from tai_labs.grading.base import Check
from tai_labs.grading.model import Evidence, Judgement
from tai_labs.kinds import NodeKind
from tai_labs.plugins import ParamsT
from tai_labs.sessions.base import CommandResult, CommandSession, DeviceSession, SessionError
from tai_labs.sessions.device import port_ifname, svi_ifname

SWITCH = frozenset({NodeKind.SWITCH})
ROUTER = frozenset({NodeKind.ROUTER})
DEVICES = SWITCH | ROUTER

#: Interface names go into CLI commands: letters, digits and / . - _ only.
IFNAME_PATTERN = r"^[A-Za-z][A-Za-z0-9/._-]{0,31}$"


# -- collect helpers ---------------------------------------------------------------------------


def cli(session: Any, evidence: Evidence, command: str) -> CommandResult:
    """An IOS-like exec command on the router, over its CLI or with vtysh inside the node."""
    if isinstance(session, DeviceSession):
        return evidence.add(session.send(command))
    if isinstance(session, CommandSession):
        return evidence.add(session.run(["vtysh", "-c", command]))
    raise SessionError(f"no CLI through a {type(session).__name__}")


def shell(session: Any, evidence: Evidence, argv: Sequence[str]) -> CommandResult:
    """A command inside the node (the switch has no CLI of its own)."""
    if isinstance(session, CommandSession):
        return evidence.add(session.run(argv))
    if isinstance(session, DeviceSession):
        return evidence.add(session.send(shlex.join(argv)))
    raise SessionError(f"cannot run commands through a {type(session).__name__}")


def node_shell(session: Any) -> CommandSession:
    """The node's command session: the session itself, or the one an ``OvsSession`` wraps."""
    if isinstance(session, CommandSession):
        return session
    inner = getattr(session, "command", None)
    if isinstance(inner, CommandSession):
        return inner
    raise SessionError(f"no command session to the node through a {type(session).__name__}")


def switch_ifname(name: str) -> str:
    """The Linux name of a switch interface as a scenario writes it: Gi0/1, Vlan10, gi0-1."""
    svi = re.fullmatch(r"(?i)vlan(\d+)", name)
    if svi:
        return svi_ifname(int(svi.group(1)))
    try:
        return port_ifname(name)
    except ValueError:  # a name the switch keeps for itself (eth0, up-lan): use it as it is
        return name


# -- judge helpers -----------------------------------------------------------------------------


def output(evidence: Evidence, index: int) -> CommandResult:
    """The ``index``-th command of the evidence; ValueError when it is missing."""
    if len(evidence.commands) <= index:
        raise ValueError("a command is missing from the evidence")
    return evidence.commands[index]


def ip_link(result: CommandResult) -> dict[str, Any] | None:
    """The link of ``ip -j addr show dev X``; None when the device does not exist."""
    if not result.ok:
        if "does not exist" in (result.stderr + result.stdout):
            return None
        raise ValueError(f"ip failed (rc {result.rc}): {result.stderr.strip()[:120]}")
    links = json.loads(result.stdout)
    if len(links) != 1:
        raise ValueError(f"ip returned {len(links)} links")
    return dict(links[0])


# A device check is given a DeviceSession or, for a device whose CLI is a shell, a
# CommandSession (see ``cli``/``shell``): the session type is left to each check.
class DeviceCheck(Check[ParamsT, Any]):
    """``decide`` reads the evidence; output that does not decode is ``error``."""

    session = "device"
    node_kinds = DEVICES

    def judge(self, evidence: Evidence, params: ParamsT) -> Judgement:
        return decoding(
            lambda: self.decide(evidence, params), "réponse de l'équipement", "device output"
        )

    def decide(self, evidence: Evidence, params: ParamsT) -> Judgement:
        raise NotImplementedError
