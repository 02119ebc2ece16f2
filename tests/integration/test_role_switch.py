"""The switch role on LXC nodes: access ports, VLAN separation, shutdown, a trunk to SVIs.

Topology: a and b on sw's access ports (VLAN 10), c on an access port in VLAN 20; sw's
Gi0/3 is a trunk (10, 20) to sw2, whose SVIs Vlan10 and Vlan20 carry 10.10.0.254 and
10.20.0.254. The trunk test needs no 8021q module: OVS tags and untags in userspace.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from roles_fixtures import RoleLab, running_lab, scenario_from
from topologies import V10, V20, access, client, networks, svi_switch, switch
from topologies import trunk as trunk_port

from tai_labs.roles.base import RoleError
from tai_labs.roles.switch import (
    BRIDGE,
    port_ifname,
    port_ifnames,
    switch_port_config,
    uplink_ifname,
)
from tai_labs.scenario.model import SwitchPort


def topology(
    *, b_vlan: int = 10, trunk: tuple[int, ...] = (10, 20), a_shut: bool = False
) -> dict[str, Any]:
    return {
        "networks": networks(V10, V20),
        "nodes": [
            switch(
                access("Gi0/1", 10, "a", shutdown=a_shut),
                access("Gi0/2", b_vlan, "b"),
                trunk_port("Gi0/3", "sw2", trunk),
                access("Gi0/4", 20, "c"),
                access("Gi0/5", 10),  # nothing plugged in
            ),
            svi_switch(),
            client("a", "v10", "10.10.0.1/24"),
            client("b", "v10", "10.10.0.2/24"),
            client("c", "v20", "10.20.0.1/24"),
        ],
    }


@pytest.fixture(scope="module")
def lab() -> Iterator[RoleLab]:
    with running_lab(topology(), ("switch", "client"), ("sw", "sw2", "a", "b", "c")) as lab:
        print("\nswitch lab timings (s):", lab.timings)
        yield lab


def reprovision_sw(lab: RoleLab, **changes: Any) -> None:
    lab.scenario = scenario_from(topology(**changes))
    lab.provision("sw")


# -- pure (no lab) -----------------------------------------------------------------------------


def test_port_ifname() -> None:
    assert port_ifname("Gi0/1") == "gi0-1"
    assert port_ifname("Fa0/24") == "fa0-24"
    assert port_ifname("1/0/1") == "p1-0-1"
    assert port_ifname("GigabitEth1/0/1") == "gigabiteth1-0-1"
    assert uplink_ifname("lan") == "up-lan"
    for bad in ("eth0", "Vlan10", "up-lan", "sw0", "port 1"):
        with pytest.raises(RoleError):
            port_ifname(bad)
    with pytest.raises(RoleError):
        port_ifnames([SwitchPort(name="Gi0/1"), SwitchPort(name="gi0-1")])


def test_trunk_native_vlan_follows_ios() -> None:
    native = switch_port_config("t", SwitchPort(name="t", mode="trunk", allowed=[1, 10]))
    assert (native.tag, native.trunks, native.vlan_mode) == (1, (1, 10), "native-untagged")
    tagged = switch_port_config("t", SwitchPort(name="t", mode="trunk", allowed=[20, 10]))
    assert (tagged.tag, tagged.trunks, tagged.vlan_mode) == (None, (10, 20), "trunk")
    access = switch_port_config("a", SwitchPort(name="a"))
    assert (access.tag, access.trunks) == (1, ())


# -- on LXC nodes -------------------------------------------------------------------------------


def test_every_port_is_in_the_bridge(lab: RoleLab) -> None:
    ports = set(lab.exec("sw", ["ovs-vsctl", "list-ports", BRIDGE]).stdout.split())
    assert ports == {"gi0-1", "gi0-2", "gi0-3", "gi0-4", "up-v10", "up-v20"}
    assert (
        lab.exec("sw", ["ovs-vsctl", "get", "port", "gi0-3", "trunks"]).stdout.strip() == "[10, 20]"
    )
    assert (
        lab.exec("sw2", ["ovs-vsctl", "get", "interface", "vlan10", "type"]).stdout.strip()
        == "internal"
    )
    dp = lab.exec("sw", ["ovs-vsctl", "get", "bridge", BRIDGE, "datapath_type"]).stdout.strip()
    assert dp == "netdev"


def test_same_vlan_access_ports_switch_icmp_and_tcp(lab: RoleLab) -> None:
    assert lab.ping("a", "10.10.0.2")
    # TCP: a whole stream with correct checksums through the userspace datapath.
    lab.exec("b", ["sh", "-c", "timeout 10 nc -l 5000 > /tmp/got 2>/dev/null < /dev/null &"])
    lab.exec("a", ["sh", "-c", "head -c 300000 /dev/urandom > /tmp/sent"])
    lab.exec("a", ["sleep", "0.5"])
    sent = lab.exec("a", ["sh", "-c", "nc -q 1 -w 5 10.10.0.2 5000 < /tmp/sent"], timeout=15)
    assert sent.ok, sent.stderr
    lab.exec("b", ["sleep", "1"])
    digest_a = lab.exec("a", ["md5sum", "/tmp/sent"]).stdout.split()[0]
    digest_b = lab.exec("b", ["md5sum", "/tmp/got"]).stdout.split()[0]
    assert digest_a == digest_b


def test_moving_a_port_to_another_vlan_isolates_it(lab: RoleLab) -> None:
    try:
        reprovision_sw(lab, b_vlan=20)
        assert lab.exec("sw", ["ovs-vsctl", "get", "port", "gi0-2", "tag"]).stdout.strip() == "20"
        assert not lab.ping("a", "10.10.0.2", tries=2)
    finally:
        reprovision_sw(lab)
    assert lab.ping("a", "10.10.0.2")


def test_shutdown_port_is_down(lab: RoleLab) -> None:
    try:
        reprovision_sw(lab, a_shut=True)
        assert "DOWN" in lab.exec("sw", ["ip", "-br", "link", "show", "gi0-1"]).stdout
        assert not lab.ping("a", "10.10.0.2", tries=2)
    finally:
        reprovision_sw(lab)
    assert lab.ping("a", "10.10.0.2")


def test_trunk_carries_two_vlans_to_the_other_switch(lab: RoleLab) -> None:
    assert lab.ping("a", "10.10.0.254")  # VLAN 10 over the trunk to sw2's SVI
    assert lab.ping("c", "10.20.0.254")  # VLAN 20 likewise
    try:
        reprovision_sw(lab, trunk=(10,))
        assert lab.ping("a", "10.10.0.254")
        assert not lab.ping("c", "10.20.0.254", tries=2)
    finally:
        reprovision_sw(lab)
    assert lab.ping("c", "10.20.0.254")


def test_svi_answers_tcp(lab: RoleLab) -> None:
    # sshd of the switch on its SVI, reached from a node behind the other switch.
    res = lab.exec("a", ["nc", "-z", "-w", "3", "10.10.0.254", "22"], timeout=10)
    assert res.ok, res.stderr
