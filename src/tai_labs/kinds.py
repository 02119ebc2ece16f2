"""Node kinds as data: one row per kind says all the code needs to know about it.

A new node kind is one ``NodeKind`` member and one ``KINDS`` row here, plus the role that
provisions it. Every other module asks this table (``NodeKind.spec``, ``kinds_where``,
``kinds_offering``) rather than listing kinds of its own.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal


class NodeKind(enum.StrEnum):
    LINUX_CLIENT = "linux-client"
    LINUX_SERVER = "linux-server"
    AD_DC = "ad-dc"
    ROUTER = "router"
    SWITCH = "switch"
    WINDOWS_CLIENT = "windows-client"
    WINDOWS_SERVER = "windows-server"

    @property
    def spec(self) -> KindSpec:
        return KINDS[self]


#: What a grader may ask the session pool for.
SessionKind = Literal["command", "powershell", "directory", "device"]
#: How a node serves a session kind; the session pool has one opener per transport.
#: ``ssh`` falls back to the engine's exec channel when SSH cannot connect.
Transport = Literal["ssh", "winrm", "ldap", "netmiko", "ovs"]

#: Readiness groups: infrastructure others wait for (clients resolve names through the DC),
#: then the nodes that use it.
INFRASTRUCTURE = 0
USERS = 1


@dataclass(frozen=True)
class KindSpec:
    kind: NodeKind
    #: Key of the role that provisions it (its ``tai_labs.roles`` entry-point name).
    role: str
    #: Image recipe when the scenario does not name one.
    image: str
    #: Memory (MiB) when the scenario does not say.
    memory_mib: int
    #: Readiness group: lower groups are ready before higher ones are provisioned.
    readiness: int
    #: Session kinds it offers, and how each is served.
    sessions: Mapping[SessionKind, Transport]
    #: A Linux node: Linux checks, faults and actions apply to it.
    linux: bool
    windows: bool
    #: Engine when the scenario does not say (a ``tai_labs.engines`` name).
    engine: str = "container"
    #: Needs /dev/net/tun (Open vSwitch's userspace datapath makes its ports with it); no
    #: other kind gets the device.
    tun: bool = False


def _table(*rows: KindSpec) -> Mapping[NodeKind, KindSpec]:
    return MappingProxyType({row.kind: row for row in rows})


KINDS: Mapping[NodeKind, KindSpec] = _table(
    KindSpec(
        NodeKind.LINUX_CLIENT,
        role="linux",
        image="client",
        memory_mib=256,
        readiness=USERS,
        sessions={"command": "ssh"},
        linux=True,
        windows=False,
    ),
    KindSpec(
        NodeKind.LINUX_SERVER,
        role="linux",
        image="client",
        memory_mib=256,
        readiness=USERS,
        sessions={"command": "ssh"},
        linux=True,
        windows=False,
    ),
    KindSpec(
        NodeKind.AD_DC,
        role="ad-dc",
        image="ad-dc",
        memory_mib=768,
        readiness=INFRASTRUCTURE,
        sessions={"command": "ssh", "directory": "ldap"},
        linux=True,
        windows=False,
    ),
    KindSpec(
        NodeKind.ROUTER,
        role="router",
        image="router",
        memory_mib=192,
        readiness=INFRASTRUCTURE,
        sessions={"command": "ssh", "device": "netmiko"},
        linux=True,
        windows=False,
    ),
    KindSpec(
        NodeKind.SWITCH,
        role="switch",
        image="switch",
        memory_mib=256,
        readiness=INFRASTRUCTURE,
        sessions={"command": "ssh", "device": "ovs"},
        linux=True,
        windows=False,
        tun=True,
    ),
    # Windows images are built by `tai-labs image build-windows` from the instructor's ISO.
    KindSpec(
        NodeKind.WINDOWS_CLIENT,
        role="windows",
        image="windows-win11",
        memory_mib=4096,
        readiness=USERS,
        sessions={"command": "winrm", "powershell": "winrm"},
        linux=False,
        windows=True,
        engine="vm",
    ),
    KindSpec(
        NodeKind.WINDOWS_SERVER,
        role="windows",
        image="windows-server2022",
        memory_mib=4096,
        readiness=USERS,
        sessions={"command": "winrm", "powershell": "winrm", "directory": "ldap"},
        linux=False,
        windows=True,
        engine="vm",
    ),
)


def kinds_where(
    *,
    role: str | None = None,
    linux: bool | None = None,
    windows: bool | None = None,
    readiness: int | None = None,
) -> frozenset[NodeKind]:
    """The kinds whose row matches every criterion given."""
    wanted = {"role": role, "linux": linux, "windows": windows, "readiness": readiness}
    criteria = {k: v for k, v in wanted.items() if v is not None}
    return frozenset(
        spec.kind
        for spec in KINDS.values()
        if all(getattr(spec, k) == v for k, v in criteria.items())
    )


def kinds_offering(session: SessionKind) -> frozenset[NodeKind]:
    """The kinds that offer a ``session`` (e.g. ``directory``: the domain controllers)."""
    return frozenset(spec.kind for spec in KINDS.values() if session in spec.sessions)
