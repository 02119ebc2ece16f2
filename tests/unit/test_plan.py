from __future__ import annotations

import ipaddress
import shutil
from pathlib import Path

from tai_labs.kinds import INFRASTRUCTURE, USERS
from tai_labs.lab.plan import BOOT_TIMEOUT, make_plan
from tai_labs.providers.base import NicSpec, NodeSpec
from tai_labs.providers.network import LabNetwork
from tai_labs.scenario.catalog import find
from tai_labs.scenario.loader import load_scenario

GOLDEN = Path(__file__).resolve().parent.parent / "golden" / "errors"


def test_pme_plan_wires_every_interface_in_order() -> None:
    plan = make_plan(load_scenario(find("compte-verrouille")).scenario, "abc123")
    assert plan.links == ("lan", "wan")
    assert [(n.name, n.number, n.resource) for n in plan.nodes] == [
        ("dc1", 1, "abc123-dc1"),
        ("box", 2, "abc123-box"),
        ("pc1", 3, "abc123-pc1"),
    ]
    box = plan.node("box")
    assert [(n.name, n.link, str(n.address)) for n in box.nics] == [
        ("eth1", "lan", "192.168.10.254/24"),
        ("eth2", "wan", "203.0.113.2/29"),
    ]
    assert [n.name for n in plan.groups[0]] == ["dc1", "box"]
    assert [n.name for n in plan.groups[1]] == ["pc1"]
    assert plan.domain and plan.domain.endswith(".lan")
    assert {n.image for n in plan.nodes} == {"ad-dc", "router", "client"}


def test_a_switch_sits_in_the_data_path(tmp_path: Path) -> None:
    shutil.copytree(GOLDEN / "valid", tmp_path / "case")
    shutil.copytree(GOLDEN / "_topologies", tmp_path / "_topologies")
    file = tmp_path / "case" / "scenario.yaml"
    file.write_text(
        file.read_text() + "topology:\n  nodes:\n    - name: sw1\n      kind: switch\n"
        "      interfaces: [{network: lan, address: 10.1.0.253/24}]\n"
        "      switch:\n        vlans: [{id: 1, name: default}]\n"
        "        ports:\n          - {name: Gi0/3, vlan: 1, connects: pc1}\n"
    )
    plan = make_plan(load_scenario(file).scenario, "abc123")
    pc1 = plan.node("pc1")
    assert pc1.nics[0].name == "eth1" and pc1.nics[0].link == "sw1.gi0-3"
    sw1 = plan.node("sw1")
    assert [(n.name, n.link) for n in sw1.nics] == [("gi0-3", "sw1.gi0-3"), ("up-lan", "lan")]
    assert plan.links == ("lan", "sw1.gi0-3")
    # The DC is not behind the switch: it stays on the network's own bridge.
    assert plan.node("dc1").nics[0].link == "lan"


def test_every_node_is_resolved_from_its_kind_row() -> None:
    plan = make_plan(load_scenario(find("compte-verrouille")).scenario, "abc123")
    resolved = [
        (n.name, n.role, n.readiness, n.engine, n.image, n.memory_mib, n.boot_timeout)
        for n in plan.nodes
    ]
    assert resolved == [
        ("dc1", "ad-dc", INFRASTRUCTURE, "container", "ad-dc", 768, BOOT_TIMEOUT),
        ("box", "router", INFRASTRUCTURE, "container", "router", 128, BOOT_TIMEOUT),
        ("pc1", "linux", USERS, "container", "client", 256, BOOT_TIMEOUT),
    ]
    assert {n.domain for n in plan.nodes} == {plan.domain}


def test_node_spec_joins_the_plan_with_what_the_host_allocated() -> None:
    plan = make_plan(load_scenario(find("compte-verrouille")).scenario, "abc123")
    net = LabNetwork(
        lab_id="abc123",
        mgmt_bridge="tlabc123m",
        mgmt_subnet="100.64.7.0/24",
        host_address="100.64.7.1/24",
        bridges={"lan": "tlabc123b0", "wan": "tlabc123b1"},
    )
    box = plan.node("box")
    spec = box.node_spec(net, Path("/images/router/rootfs"), ("ssh-ed25519 AAAA lab",))
    assert spec == NodeSpec(
        name="abc123-box",
        hostname="box",
        domain=plan.domain,
        image=Path("/images/router/rootfs"),
        engine="container",
        number=2,
        memory_mib=128,  # the scenario sets it
        management=NicSpec(
            bridge="tlabc123m", name="eth0", address=ipaddress.IPv4Interface("100.64.7.12/24")
        ),
        nics=tuple(
            NicSpec(bridge=net.bridges[n.link], name=n.name, address=n.address, gateway=n.gateway)
            for n in box.nics
        ),
        dns_servers=box.dns,
        authorized_keys=("ssh-ed25519 AAAA lab",),
    )
    assert [n.bridge for n in spec.nics] == ["tlabc123b0", "tlabc123b1"]
