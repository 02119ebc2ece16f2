"""The lab plan: what a rendered scenario becomes on this host, before anything is created.

It decides the wiring (which host bridge each NIC plugs into), NIC names, images, memory
and management addresses, so the lifecycle only has to carry it out. Conventions that
roles, graders and candidates rely on:

- ``eth0`` is the management NIC (tooling only); scenario interfaces are ``eth1``, ``eth2``...
  in declaration order;
- every scenario network is one bridge; a switch node is put *in* the data path: each of its
  ports that ``connects`` a node gets a point-to-point link to that node's NIC, and the
  network's own bridge is plugged into the switch as an access port ``up-<network>``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass, field

from tai_labs.errors import TaiLabsError
from tai_labs.scenario.model import Engine, Node, NodeKind, Scenario

MGMT_NIC = "eth0"

#: Image recipe and memory (MiB) per node kind, when the scenario does not say.
KIND_IMAGES: dict[NodeKind, str] = {
    NodeKind.AD_DC: "ad-dc",
    NodeKind.ROUTER: "router",
    NodeKind.SWITCH: "switch",
    NodeKind.LINUX_CLIENT: "client",
    NodeKind.LINUX_SERVER: "client",
    # Built by `tai-labs image build-windows` from the instructor's ISO (images/windows.py).
    NodeKind.WINDOWS_CLIENT: "windows-win11",
    NodeKind.WINDOWS_SERVER: "windows-server2022",
}
KIND_MEMORY: dict[NodeKind, int] = {
    NodeKind.AD_DC: 768,
    NodeKind.ROUTER: 192,
    NodeKind.SWITCH: 256,
    NodeKind.LINUX_CLIENT: 256,
    NodeKind.LINUX_SERVER: 256,
    NodeKind.WINDOWS_CLIENT: 4096,
    NodeKind.WINDOWS_SERVER: 4096,
}
#: A VM also holds its own kernel and page cache: below this, Debian guests swap-starve.
VM_MIN_MEMORY = 512
#: Kinds whose readiness others wait for (clients resolve names through the DC).
FIRST_KINDS = frozenset({NodeKind.AD_DC, NodeKind.ROUTER, NodeKind.SWITCH})


class PlanError(TaiLabsError):
    pass


def scenario_nic(index: int) -> str:
    """Name inside the node of the scenario's ``index``-th interface (0-based)."""
    return f"eth{index + 1}"


def default_port_ifname(port: str) -> str:
    """``Gi0/1`` -> ``gi0-1``: a switch port as a Linux interface name."""
    name = port.lower().replace("/", "-").replace(".", "-")
    return name[:15]


@dataclass(frozen=True)
class NicPlan:
    name: str
    link: str  # key of LabPlan.links: the host bridge this NIC plugs into
    address: ipaddress.IPv4Interface | None = None
    gateway: ipaddress.IPv4Address | None = None
    dhcp: bool = False


@dataclass(frozen=True)
class NodePlan:
    name: str  # as in the scenario
    resource: str  # unique on the host: <lab id>-<name>
    kind: NodeKind
    engine: Engine
    image: str
    memory_mib: int
    disk_mib: int | None
    number: int  # 1-based, fixes the management address
    nics: tuple[NicPlan, ...]
    dns: tuple[ipaddress.IPv4Address, ...]
    cpus: int = 1
    disks: tuple[tuple[str, int], ...] = ()  # extra blank disks: (name, size MiB)


@dataclass(frozen=True)
class LabPlan:
    lab_id: str
    links: tuple[str, ...]  # networks first, then switch port links
    nodes: tuple[NodePlan, ...]
    domain: str | None = None
    link_roles: dict[str, str] = field(default_factory=dict)  # link -> what it is, for humans

    def node(self, name: str) -> NodePlan:
        for node in self.nodes:
            if node.name == name:
                return node
        raise KeyError(name)

    @property
    def groups(self) -> list[list[NodePlan]]:
        """Readiness order: infrastructure first, then the nodes that use it."""
        first = [n for n in self.nodes if n.kind in FIRST_KINDS]
        rest = [n for n in self.nodes if n.kind not in FIRST_KINDS]
        return [g for g in (first, rest) if g]


def _default_memory(node: Node) -> int:
    memory = KIND_MEMORY[node.kind]
    if node.effective_engine is Engine.VM:
        memory = max(memory, VM_MIN_MEMORY)
    return memory


def _switch_networks(switch: Node, scenario: Scenario) -> set[str]:
    """Networks a switch serves: those of its SVIs, or every network if it has none."""
    served = {i.network for i in switch.interfaces}
    return served or {n.name for n in scenario.topology.networks}


def make_plan(
    scenario: Scenario,
    lab_id: str,
    *,
    port_ifname: Callable[[str], str] = default_port_ifname,
) -> LabPlan:
    """Plan the lab of ``scenario`` under ``lab_id``; raise PlanError if it cannot be wired."""
    links: list[str] = [n.name for n in scenario.topology.networks]
    roles = {n.name: f"network {n.name} ({n.subnet})" for n in scenario.topology.networks}
    # (node, interface index) -> link it plugs into, when a switch port sits in between.
    behind_switch: dict[tuple[str, int], str] = {}
    switch_nics: dict[str, list[NicPlan]] = {}
    for switch in scenario.topology.nodes:
        if switch.switch is None:
            continue
        served = _switch_networks(switch, scenario)
        nics: list[NicPlan] = []
        uplinks: set[str] = set()
        for port in switch.switch.ports:
            if port.connects is None:
                continue
            peer = scenario.node(port.connects)
            index = next((k for k, i in enumerate(peer.interfaces) if i.network in served), None)
            if index is None:
                raise PlanError(
                    f"switch {switch.name} port {port.name} connects {peer.name}, which has no "
                    f"interface on {', '.join(sorted(served))}",
                    hint=f"give {peer.name} an interface on one of these networks",
                )
            ifname = port_ifname(port.name)
            link = f"{switch.name}.{ifname}"
            links.append(link)
            roles[link] = f"{switch.name} {port.name} <-> {peer.name}"
            behind_switch[(peer.name, index)] = link
            nics.append(NicPlan(ifname, link))
            uplinks.add(peer.interfaces[index].network)
        for network in sorted(uplinks):
            nics.append(NicPlan(f"up-{network}"[:15], network))
        switch_nics[switch.name] = nics

    nodes: list[NodePlan] = []
    for number, node in enumerate(scenario.topology.nodes, start=1):
        node_nics: tuple[NicPlan, ...]
        if node.switch is not None:
            node_nics = tuple(switch_nics[node.name])
        else:
            node_nics = tuple(
                NicPlan(
                    scenario_nic(k),
                    behind_switch.get((node.name, k), iface.network),
                    None if iface.address in (None, "dhcp") else iface.address,  # type: ignore[arg-type]
                    iface.gateway,
                    iface.address == "dhcp",
                )
                for k, iface in enumerate(node.interfaces)
            )
        image = node.image or KIND_IMAGES.get(node.kind)
        if image is None:
            raise PlanError(
                f"node {node.name}: no default image for kind {node.kind}",
                hint="set 'image:' on the node",
            )
        nodes.append(
            NodePlan(
                name=node.name,
                resource=f"{lab_id}-{node.name}",
                kind=node.kind,
                engine=node.effective_engine,
                image=image,
                memory_mib=node.memory or _default_memory(node),
                disk_mib=node.disk_mib,
                number=number,
                nics=node_nics,
                dns=tuple(node.dns),
                cpus=node.cpus,
                disks=tuple((d.name, d.size_mib) for d in node.disks),
            )
        )
    domain = scenario.directory.realm if scenario.directory else None
    return LabPlan(lab_id, tuple(links), tuple(nodes), domain, roles)
