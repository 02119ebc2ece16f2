"""Labs built from a scenario topology for the role tests (router, switch, client).

``build_lab`` is a small stand-in for the lab planner: it follows the same wiring contract
(``eth0`` management; ``eth1``... the scenario's interfaces in order; a switch port that
``connects`` a node is a point-to-point bridge between the switch's ``port_ifname`` NIC and
that node's NIC; ``up-<network>`` NICs plug the network's bridge into the switch).
"""

from __future__ import annotations

import contextlib
import ipaddress
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

from conftest import host_problem
from tai_labs.context import NodeContext
from tai_labs.errors import TaiLabsError
from tai_labs.images.builder import ImageBuilder
from tai_labs.locations import locations
from tai_labs.providers import naming, network
from tai_labs.providers.base import ExecResult, NicSpec, NodeSpec
from tai_labs.providers.cleanup import cleanup_lab, known_labs
from tai_labs.providers.lxc import LxcEngine
from tai_labs.providers.naming import new_lab_id
from tai_labs.roles.base import Role
from tai_labs.roles.client import ClientRole
from tai_labs.roles.router import RouterRole
from tai_labs.roles.switch import SwitchRole, port_ifname, uplink_ifname
from tai_labs.scenario.model import Node, NodeKind, Scenario

ROLES: dict[NodeKind, Role] = {
    NodeKind.ROUTER: RouterRole(),
    NodeKind.SWITCH: SwitchRole(),
    NodeKind.LINUX_CLIENT: ClientRole(),
    NodeKind.LINUX_SERVER: ClientRole(),
}


def scenario_from(
    topology: Mapping[str, Any], directory: Mapping[str, Any] | None = None
) -> Scenario:
    """A valid Scenario around a topology, with the smallest possible rest."""
    doc: dict[str, Any] = {
        "scenario": {
            "id": "role-test",
            "title": "role test",
            "block": "CCP2",
            "competences": ["C6"],
            "duration": 10,
        },
        "topology": topology,
        "brief": {"text": "test"},
        "checks": [
            {
                "id": "noop",
                "title": "noop check",
                "grader": "noop",
                "target": "x",
                "criterion": "C6.1",
                "points": 1,
                "messages": {"pass": "ok", "fail": "ko"},
            }
        ],
        "solution": {"steps": [{"action": "noop"}]},
    }
    if directory is not None:
        doc["directory"] = directory
    return Scenario.model_validate(doc)


def skip_unless_images(*images: str) -> ImageBuilder:
    """The images, built now if the cache lacks them (a fresh CI machine has none).

    Skips only when this host cannot run nodes or build images at all.
    """
    problem = host_problem("lxc-start", "lxc-attach", "ip", "nft", "debootstrap")
    if problem:
        pytest.skip(problem)
    builder = ImageBuilder()
    for image in images:
        try:
            builder.get(image)
        except TaiLabsError:
            builder.build(image)
    return builder


@contextlib.contextmanager
def running_lab(
    topology: Mapping[str, Any],
    images: Sequence[str],
    provision: Sequence[str],
    *,
    secrets: Mapping[str, str] | None = None,
    lab_id: str | None = None,
) -> Iterator[RoleLab]:
    """A lab of ``topology`` with the nodes in ``provision`` provisioned in that order.

    Skips when an image is missing; the lab is destroyed on the way out, whatever happens.
    """
    builder = skip_unless_images(*images)
    lab = build_lab(scenario_from(topology), builder, lab_id=lab_id)
    try:
        lab.secrets.update(secrets or {})
        for name in provision:
            lab.provision(name)
        yield lab
    finally:
        lab.destroy()


@dataclass
class RoleLab:
    lab_id: str
    scenario: Scenario
    net: network.LabNetwork
    engine: LxcEngine
    resources: dict[str, str] = field(default_factory=dict)  # scenario name -> engine name
    mgmt: dict[str, ipaddress.IPv4Address] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)
    #: scenario name -> seconds: boot, provision, wait_ready.
    timings: dict[str, dict[str, float]] = field(default_factory=dict)

    def exec(
        self, name: str, argv: Sequence[str], *, input: str | None = None, timeout: float = 60
    ) -> ExecResult:
        return self.engine.exec(self.resources[name], argv, input=input, timeout=timeout)

    def ctx(self, name: str) -> NodeContext:
        resource = self.resources[name]

        def run(
            argv: Sequence[str], input: str | bytes | None, timeout: float | None
        ) -> ExecResult:
            return self.engine.exec(resource, argv, input=input, timeout=timeout)

        return NodeContext(
            self.lab_id,
            self.scenario.node(name),
            self.scenario,
            {},
            run,
            self.mgmt[name],
            self.secrets,
        )

    def ping(self, src: str, dst: str, *, tries: int = 3) -> bool:
        return any(self.exec(src, ["ping", "-c", "1", "-W", "1", dst]).ok for _ in range(tries))

    def provision(self, name: str) -> None:
        role = ROLES[self.scenario.node(name).kind]
        ctx = self.ctx(name)
        started = time.monotonic()
        role.provision(ctx)
        provisioned = time.monotonic()
        role.wait_ready(ctx)
        times = self.timings.setdefault(name, {})
        times["provision"] = round(provisioned - started, 2)
        times["wait_ready"] = round(time.monotonic() - provisioned, 2)

    def destroy(self) -> None:
        """Remove everything of the lab and check that nothing is left on the host."""
        for resource in self.resources.values():
            self.engine.destroy(resource)
        cleanup_lab(self.lab_id)
        prefix = naming.if_prefix(self.lab_id)
        assert not [link for link in network.list_links() if str(link["ifname"]).startswith(prefix)]
        assert self.lab_id not in network.lab_nft_tables()
        assert not locations().lab(self.lab_id).exists()
        assert self.lab_id not in known_labs()


def _switch_networks(switch: Node, scenario: Scenario) -> set[str]:
    return {itf.network for itf in switch.interfaces}


def _attached_interface(node: Node, networks: set[str]) -> int:
    """Index of the node's interface that goes into a switch port."""
    for i, itf in enumerate(node.interfaces):
        if itf.network in networks:
            return i
    if not node.interfaces:
        raise ValueError(f"{node.name} is plugged into a switch but has no interface")
    return 0


def build_lab(
    scenario: Scenario, builder: ImageBuilder, *, memory: int = 256, lab_id: str | None = None
) -> RoleLab:
    """Create and start every node of the scenario (roles not yet provisioned).

    lab_id may be chosen beforehand (``new_lab_id()``) to know the nodes' MACs
    (``derived_mac(f"{lab_id}-{node}", nic_index)``) when writing the scenario.
    """
    nodes = {n.name: n for n in scenario.topology.nodes}
    bridge_names = [net.name for net in scenario.topology.networks]
    # (switch, port ifname) -> p2p bridge name; (node, interface index) -> p2p bridge name.
    port_bridge: dict[tuple[str, str], str] = {}
    nic_bridge: dict[tuple[str, int], str] = {}
    uplinks: dict[str, set[str]] = {}
    for sw in (n for n in scenario.topology.nodes if n.switch is not None):
        assert sw.switch is not None
        for port in sw.switch.ports:
            if not port.connects or (sw.name, port_ifname(port.name)) in port_bridge:
                continue
            p2p = f"p2p{len(bridge_names)}"
            bridge_names.append(p2p)
            port_bridge[(sw.name, port_ifname(port.name))] = p2p
            peer = nodes[port.connects]
            if peer.switch is not None:
                back = next(q for q in peer.switch.ports if q.connects == sw.name)
                port_bridge[(peer.name, port_ifname(back.name))] = p2p
                continue
            index = _attached_interface(peer, _switch_networks(sw, scenario))
            nic_bridge[(peer.name, index)] = p2p
            uplinks.setdefault(sw.name, set()).add(peer.interfaces[index].network)
    lab_id = lab_id or new_lab_id()
    net = network.create_lab_network(lab_id, bridge_names)
    lab = RoleLab(lab_id, scenario, net, LxcEngine(lab_id))
    try:
        for node in scenario.topology.nodes:
            _create_node(lab, node, builder, nic_bridge, port_bridge, uplinks, memory)
    except BaseException:
        lab.destroy()
        raise
    return lab


def _create_node(
    lab: RoleLab,
    node: Node,
    builder: ImageBuilder,
    nic_bridge: dict[tuple[str, int], str],
    port_bridge: dict[tuple[str, str], str],
    uplinks: dict[str, set[str]],
    memory: int,
) -> None:
    bridges = lab.net.bridges
    nics: list[NicSpec] = []
    if node.switch is not None:
        for (sw, ifname), p2p in sorted(port_bridge.items()):
            if sw == node.name:
                nics.append(NicSpec(bridge=bridges[p2p], name=ifname))
        for netname in sorted(uplinks.get(node.name, ())):
            nics.append(NicSpec(bridge=bridges[netname], name=uplink_ifname(netname)))
    else:
        for i, itf in enumerate(node.interfaces):
            bridge = bridges[nic_bridge.get((node.name, i), itf.network)]
            address = itf.address if isinstance(itf.address, ipaddress.IPv4Interface) else None
            nics.append(
                NicSpec(
                    bridge=bridge,
                    name=f"eth{i + 1}",
                    address=address,
                    gateway=itf.gateway if address else None,
                    dhcp=itf.address == "dhcp",
                )
            )
    number = len(lab.engine.nodes()) + 1
    resource = f"{lab.lab_id}-{node.name}"
    image = node.image or node.kind.spec.image
    spec = NodeSpec(
        name=resource,
        hostname=node.name,
        image=builder.get(image).rootfs,
        memory_mib=node.memory or memory,
        management=NicSpec(
            bridge=lab.net.mgmt_bridge, name="eth0", address=lab.net.node_mgmt_address(number)
        ),
        nics=tuple(nics),
        dns_servers=tuple(node.dns),
        domain=lab.scenario.directory.realm if lab.scenario.directory else None,
        tun=node.kind.spec.tun,
    )
    started = time.monotonic()
    created = lab.engine.create(spec)
    lab.resources[node.name] = resource
    assert created.management_address is not None
    lab.mgmt[node.name] = created.management_address.ip
    lab.engine.start(resource)
    lab.timings[node.name] = {"boot": round(time.monotonic() - started, 2)}
