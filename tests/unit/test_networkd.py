"""systemd-networkd units: one renderer, and the files each former writer produced, pinned
byte for byte (the engine's seed and config disk, the linux.network action, the switch role)."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any

from tai_labs.actions.base import ACTIONS
from tai_labs.context import NodeContext, stdin_to_file_argv
from tai_labs.providers.base import ExecResult, NicSpec
from tai_labs.providers.seed import networkd_file
from tai_labs.roles.switch import render_port_network, render_svi_network
from tai_labs.scenario.model import Interface, Node

HEAD = "[Match]\nName={}\n\n[Link]\nRequiredForOnline=no\n"
NETWORK = "\n[Network]\nLinkLocalAddressing=no\nIPv6AcceptRA=no\nConfigureWithoutCarrier=yes\n"


def test_seed_units() -> None:
    static = NicSpec(
        bridge="tl-x-n1",
        name="eth1",
        address=ipaddress.IPv4Interface("192.168.10.51/24"),
        gateway=ipaddress.IPv4Address("192.168.10.254"),
    )
    assert networkd_file(static) == (
        HEAD.format("eth1") + NETWORK + "Address=192.168.10.51/24\nGateway=192.168.10.254\n"
    )
    dhcp = NicSpec(bridge="tl-x-n1", name="eth0", dhcp=True)
    assert networkd_file(dhcp) == HEAD.format("eth0") + NETWORK + "DHCP=ipv4\n"
    bare = NicSpec(bridge="tl-x-n1", name="eth2")
    assert networkd_file(bare) == HEAD.format("eth2") + NETWORK


def test_switch_units() -> None:
    svi = Interface(network="lan", address=ipaddress.IPv4Interface("192.168.10.2/24"))
    assert render_svi_network("vlan10", svi) == (
        HEAD.format("vlan10") + NETWORK + "Address=192.168.10.2/24\n"
    )
    dhcp = Interface(network="lan", address="dhcp", gateway=ipaddress.IPv4Address("192.168.10.254"))
    assert render_svi_network("vlan1", dhcp) == (
        HEAD.format("vlan1") + NETWORK + "DHCP=ipv4\nGateway=192.168.10.254\n"
    )
    assert render_port_network("p-pc1", False) == (
        HEAD.format("p-pc1") + "ActivationPolicy=up\n" + NETWORK
    )
    assert render_port_network("p-pc2", True) == (
        HEAD.format("p-pc2") + "ActivationPolicy=always-down\n" + NETWORK
    )


def test_linux_network_action_unit() -> None:
    written: dict[str, Any] = {}

    def run(argv: Sequence[str], input: object, timeout: object) -> ExecResult:
        if list(argv[:-2]) == stdin_to_file_argv("", "")[:-2]:
            written[argv[-2]] = input
        return ExecResult(0, "", "")

    ctx = NodeContext(
        "lab",
        Node.model_validate({"name": "pc1", "kind": "linux-client"}),
        SimpleNamespace(),  # type: ignore[arg-type]
        {},
        run,
        ipaddress.IPv4Address("100.64.0.2"),
    )
    cls = ACTIONS.get("linux.network")
    params = cls.Params.model_validate(
        {"interface": "eth1", "address": "192.168.10.51/24", "gateway": "192.168.10.254",
         "dns": ["192.168.10.10", "1.1.1.1"]}
    )  # fmt: skip
    cls().run(ctx, params)
    assert written == {
        "/etc/systemd/network/10-tai-labs-eth1.network": HEAD.format("eth1")
        + NETWORK
        + "Address=192.168.10.51/24\nGateway=192.168.10.254\nDNS=192.168.10.10\nDNS=1.1.1.1\n"
    }
