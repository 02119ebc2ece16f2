"""The lab plan: what a rendered scenario becomes on this host, before anything is created.

It decides the wiring (which lab link each NIC plugs into), NIC names, images, memory,
engines, roles and readiness order, so the lifecycle only has to carry it out: every node
is fully resolved here, and ``NodePlan.node_spec`` joins it with what the host allocated
(bridge names, the management subnet, the built image). Conventions that roles, graders
and candidates rely on:

- ``eth0`` is the management NIC (tooling only); scenario interfaces are ``eth1``, ``eth2``...
  in declaration order;
- every scenario network is one bridge; a switch node is put *in* the data path: each of its
  ports that ``connects`` a node gets a point-to-point link to that node's NIC, and the
  network's own bridge is plugged into the switch as an access port ``up-<network>``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tai_labs.errors import TaiLabsError
from tai_labs.plugins import ImageForm
from tai_labs.providers.base import ENGINES, DiskSpec, NicSpec, NodeSpec, VmBoot
from tai_labs.scenario.model import Node, NodeKind, Scenario

if TYPE_CHECKING:
    from tai_labs.providers.network import LabNetwork

MGMT_NIC = "eth0"

#: A node with its own kernel (a VM) also holds the kernel and its page cache: below this,
#: Debian guests swap-starve.
VM_MIN_MEMORY = 512
#: Boot timeout per node; a debootstrapped systemd container boots in about 1-2 s here.
BOOT_TIMEOUT = 90.0
#: A node booting its own kernel (a VM under software emulation) boots in 20-60 s here,
#: longer with several at once.
VM_BOOT_TIMEOUT = 400.0


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
    role: str  # key of the role that provisions it
    readiness: int  # its group in the readiness order (lower groups are ready first)
    engine: str  # the name of its engine (a ``tai_labs.engines`` plugin)
    image: str  # image recipe or imported disk image
    memory_mib: int
    #: Size cap of the writable layer over a rootfs image; None for a disk (it is its own).
    disk_limit_mib: int | None
    number: int  # 1-based, fixes the management address
    nics: tuple[NicPlan, ...]
    dns: tuple[ipaddress.IPv4Address, ...]
    boot_timeout: float
    domain: str | None = None  # the lab's DNS domain
    cpus: int = 1
    disks: tuple[DiskSpec, ...] = ()  # extra blank disks
    #: What its engine boots, which the lifecycle prepares: an image tree or a disk.
    image_form: ImageForm = "rootfs"

    def node_spec(
        self,
        net: LabNetwork,
        image: Path,
        authorized_keys: Sequence[str],
        boot: VmBoot | None = None,
    ) -> NodeSpec:
        """What the engine creates, once the host has the lab's network and the built image."""
        return NodeSpec(
            name=self.resource,
            hostname=self.name,
            domain=self.domain,
            image=image,
            engine=self.engine,
            boot=boot,
            number=self.number,
            vcpus=self.cpus,
            disks=self.disks,
            memory_mib=self.memory_mib,
            disk_limit_mib=self.disk_limit_mib,
            management=NicSpec(
                bridge=net.mgmt_bridge, name=MGMT_NIC, address=net.node_mgmt_address(self.number)
            ),
            nics=tuple(
                NicSpec(
                    bridge=net.bridges[nic.link],
                    name=nic.name,
                    address=nic.address,
                    gateway=nic.gateway,
                    dhcp=nic.dhcp,
                )
                for nic in self.nics
            ),
            dns_servers=self.dns,
            authorized_keys=tuple(authorized_keys),
            tun=self.kind.spec.tun,
        )


@dataclass(frozen=True)
class LabPlan:
    lab_id: str
    links: tuple[str, ...]  # networks first, then switch port links
    nodes: tuple[NodePlan, ...]
    domain: str | None = None

    def node(self, name: str) -> NodePlan:
        for node in self.nodes:
            if node.name == name:
                return node
        raise KeyError(name)

    @property
    def groups(self) -> list[list[NodePlan]]:
        """Readiness order: infrastructure first, then the nodes that use it."""
        levels = sorted({n.readiness for n in self.nodes})
        return [[n for n in self.nodes if n.readiness == level] for level in levels]


def _default_memory(node: Node, own_kernel: bool) -> int:
    memory = node.kind.spec.memory_mib
    if own_kernel:
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
            behind_switch[(peer.name, index)] = link
            nics.append(NicPlan(ifname, link))
            uplinks.add(peer.interfaces[index].network)
        for network in sorted(uplinks):
            nics.append(NicPlan(f"up-{network}"[:15], network))
        switch_nics[switch.name] = nics

    domain = scenario.directory.realm if scenario.directory else None
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
        engine = ENGINES.get(node.effective_engine)  # its traits: the class, not built
        nodes.append(
            NodePlan(
                name=node.name,
                resource=f"{lab_id}-{node.name}",
                kind=node.kind,
                role=node.kind.spec.role,
                readiness=node.kind.spec.readiness,
                engine=node.effective_engine,
                image=node.image or node.kind.spec.image,
                memory_mib=node.memory or _default_memory(node, engine.own_kernel),
                disk_limit_mib=node.disk_mib if engine.image_form == "rootfs" else None,
                number=number,
                nics=node_nics,
                dns=tuple(node.dns),
                boot_timeout=VM_BOOT_TIMEOUT if engine.own_kernel else BOOT_TIMEOUT,
                domain=domain,
                cpus=node.cpus,
                disks=tuple(DiskSpec(name=d.name, size_mib=d.size_mib) for d in node.disks),
                image_form=engine.image_form,
            )
        )
    return LabPlan(lab_id, tuple(links), tuple(nodes), domain)
