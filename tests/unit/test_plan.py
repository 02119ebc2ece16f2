from __future__ import annotations

import shutil
from pathlib import Path

from tai_labs.lab.plan import make_plan
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
