"""The ``switch`` role: Open vSwitch in the node, one bridge ``sw0``, its ports and SVIs.

Wiring contract with the lab planner (which imports ``port_ifname`` and ``uplink_ifname``):

- each port of ``switch.ports`` that ``connects`` a node is a NIC of the switch named
  ``port_ifname(port.name)``, on a point-to-point bridge with that node's NIC;
- each scenario network with nodes behind the switch is also plugged in as an access port
  NIC named ``uplink_ifname(network)`` (``up-<network>``) in that network's VLAN;
- the switch's own ``interfaces`` are SVIs: OVS internal ports ``vlan<id>`` in the network's
  VLAN (``network.vlan`` or 1) that carry the address, set by systemd-networkd.

The host kernel has no openvswitch module, so the bridge uses the userspace datapath
(``datapath_type=netdev``), which needs ``/dev/net/tun`` in the node for its internal ports.
Userspace TSO support is turned on: with it OVS reads the veths' virtio-net headers, so
TCP/UDP checksums left to offload by the sending node are completed (measured: without it
only ICMP crosses the switch).
"""

from __future__ import annotations

import ipaddress
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from tai_labs.context import NodeContext
from tai_labs.providers.networkd import network_unit
from tai_labs.roles.base import Role, RoleError, register_role, wait_until
from tai_labs.scenario.model import Interface, Node, Scenario, SwitchPort
from tai_labs.sessions import device
from tai_labs.sessions.device import BRIDGE, UPLINK_PREFIX, svi_ifname

MGMT_IF = "eth0"
DEFAULT_VLAN = 1
TUN_TMPFILES = "/etc/tmpfiles.d/tai-labs-tun.conf"
OVS_DEFAULTS = "/etc/default/openvswitch-switch"


def port_ifname(name: str) -> str:
    """``sessions.device.port_ifname`` ("Gi0/1" -> "gi0-1"), raising RoleError for a bad name."""
    try:
        return device.port_ifname(name)
    except ValueError as exc:
        raise RoleError(str(exc)) from None


def uplink_ifname(network: str) -> str:
    """NIC through which the network's own bridge is plugged into the switch (access port)."""
    return f"{UPLINK_PREFIX}{network}"


def port_ifnames(ports: Sequence[SwitchPort]) -> dict[str, SwitchPort]:
    """ifname -> port for every declared port; raises if two ports map to one name."""
    out: dict[str, SwitchPort] = {}
    for port in ports:
        ifname = port_ifname(port.name)
        if ifname in out:
            raise RoleError(
                f"switch ports {out[ifname].name!r} and {port.name!r} both map to {ifname!r}"
            )
        out[ifname] = port
    return out


def network_vlan(scenario: Scenario, network: str) -> int:
    try:
        vlan = scenario.network(network).vlan
    except KeyError:
        raise RoleError(f"unknown network {network!r}") from None
    return vlan if vlan is not None else DEFAULT_VLAN


@dataclass(frozen=True)
class PortConfig:
    """One OVS port of sw0 and what it should look like."""

    ifname: str
    kind: str  # "port", "uplink" or "svi"
    tag: int | None
    trunks: tuple[int, ...] = ()
    vlan_mode: str | None = None
    shutdown: bool = False
    label: str = ""  # the scenario's name for it: "Gi0/1", "lan", "Vlan10"

    def set_args(self) -> list[str]:
        """ovs-vsctl arguments (one transaction step each) giving the port this config."""
        args = ["--", "clear", "port", self.ifname, "tag", "trunks", "vlan_mode"]
        settings = []
        if self.tag is not None:
            settings.append(f"tag={self.tag}")
        if self.trunks:
            settings.append("trunks=" + ",".join(str(v) for v in self.trunks))
        if self.vlan_mode:
            settings.append(f"vlan_mode={self.vlan_mode}")
        settings.append(f"external_ids:tai-labs-name={json.dumps(self.label)}")
        settings.append(f"external_ids:shutdown={str(self.shutdown).lower()}")
        args += ["--", "set", "port", self.ifname, *settings]
        return args


def switch_port_config(ifname: str, port: SwitchPort) -> PortConfig:
    if port.mode == "access":
        return PortConfig(
            ifname, "port", port.vlan or DEFAULT_VLAN, shutdown=port.shutdown, label=port.name
        )
    allowed = tuple(sorted(set(port.allowed)))
    # Like an IOS trunk: VLAN 1 is the untagged native VLAN when it is allowed; no list
    # means every VLAN (an empty OVS trunks column).
    if not allowed or DEFAULT_VLAN in allowed:
        return PortConfig(
            ifname, "port", DEFAULT_VLAN, allowed, "native-untagged", port.shutdown, port.name
        )
    return PortConfig(ifname, "port", None, allowed, "trunk", port.shutdown, port.name)


def plan_ports(scenario: Scenario, node: Node, present: Sequence[str]) -> list[PortConfig]:
    """Ports of sw0 for this node, given the NIC names present in it."""
    if node.switch is None:
        raise RoleError(f"switch node {node.name} has no 'switch' section")
    configs = []
    for ifname, port in port_ifnames(node.switch.ports).items():
        if ifname not in present:
            if port.connects:
                raise RoleError(
                    f"switch {node.name}: port {port.name} connects {port.connects} "
                    f"but the node has no NIC {ifname!r}"
                )
            continue  # an empty port: nothing is plugged in, there is no NIC to add
        configs.append(switch_port_config(ifname, port))
    for ifname in sorted(present):
        if ifname.startswith(UPLINK_PREFIX):
            network = ifname[len(UPLINK_PREFIX) :]
            configs.append(
                PortConfig(ifname, "uplink", network_vlan(scenario, network), label=network)
            )
    seen: set[int] = set()
    for itf in node.interfaces:
        vlan = network_vlan(scenario, itf.network)
        if vlan in seen:
            raise RoleError(f"switch {node.name} has two interfaces in VLAN {vlan}")
        seen.add(vlan)
        configs.append(PortConfig(svi_ifname(vlan), "svi", vlan, label=f"Vlan{vlan}"))
    return configs


def render_svi_network(ifname: str, itf: Interface) -> str:
    address = itf.address if isinstance(itf.address, ipaddress.IPv4Interface) else None
    return network_unit(ifname, dhcp=itf.address == "dhcp", address=address, gateway=itf.gateway)


def render_port_network(ifname: str, shutdown: bool) -> str:
    # A shut port stays down across networkd restarts and reboots, like "shutdown" in IOS.
    return network_unit(ifname, activation="always-down" if shutdown else "up")


@register_role
class SwitchRole(Role):
    name = "switch"
    ready_timeout: ClassVar[float] = 60.0

    def provision(self, ctx: NodeContext) -> None:
        self._tun(ctx)
        present = _links(ctx)
        configs = plan_ports(ctx.scenario, ctx.node, present)
        # Memory-limited node: mlockall would pin all of ovs-vswitchd's pages in the cgroup.
        ctx.write_file(
            OVS_DEFAULTS, '# written by tai-labs (switch role)\nOVS_CTL_OPTS="--no-mlockall"\n'
        )
        ctx.run(["systemctl", "enable", "--quiet", "openvswitch-switch.service"])
        ctx.run(["systemctl", "start", "openvswitch-switch.service"])
        tso = ctx.run(
            [
                "ovs-vsctl",
                "--if-exists",
                "get",
                "Open_vSwitch",
                ".",
                "other_config:userspace-tso-enable",
            ],
            check=False,
        ).stdout.strip()
        if tso != '"true"':
            ctx.run(
                ["ovs-vsctl", "set", "Open_vSwitch", ".", "other_config:userspace-tso-enable=true"]
            )
            # vswitchd reads this setting only when it starts.
            ctx.run(["systemctl", "restart", "ovs-vswitchd.service"])
        self._bridge(ctx, configs)
        self._links(ctx, configs)

    def _tun(self, ctx: NodeContext) -> None:
        # /dev is a fresh tmpfs at each boot of a container: systemd-tmpfiles recreates it.
        ctx.write_file(
            TUN_TMPFILES, "d /dev/net 0755 root root -\nc /dev/net/tun 0666 root root - 10:200\n"
        )
        ctx.run(["systemd-tmpfiles", "--create", TUN_TMPFILES], check=False)
        # test -c first: opening a missing node with O_CREAT would make a plain file.
        probe = ctx.run(["sh", "-c", "test -c /dev/net/tun && exec 3<>/dev/net/tun"], check=False)
        if not probe.ok:
            raise RoleError(
                f"switch {ctx.node.name}: /dev/net/tun is not usable in the node "
                f"({probe.stderr.strip()}); Open vSwitch's userspace datapath needs it",
                hint="the node's kind needs `tun=True` in kinds.KINDS (its LXC config then "
                "allows c 10:200, and binds a device node into an unprivileged node)",
            )

    def _bridge(self, ctx: NodeContext, configs: list[PortConfig]) -> None:
        wanted = {c.ifname for c in configs}
        args = [
            "ovs-vsctl",
            "--may-exist",
            "add-br",
            BRIDGE,
            "--",
            "set",
            "bridge",
            BRIDGE,
            "datapath_type=netdev",
        ]
        vlans = ctx.node.switch.vlans if ctx.node.switch else []
        args += (
            [
                "--",
                "set",
                "bridge",
                BRIDGE,
                *(f"external_ids:vlan-{v.id}={json.dumps(v.name)}" for v in vlans),
            ]
            if vlans
            else []
        )
        existing: list[str] = []
        if ctx.run(["ovs-vsctl", "br-exists", BRIDGE], check=False).ok:
            existing = ctx.run(["ovs-vsctl", "list-ports", BRIDGE]).stdout.split()
        for stale in sorted(set(existing) - wanted):
            args += ["--", "--if-exists", "del-port", BRIDGE, stale]
        for cfg in configs:
            args += ["--", "--may-exist", "add-port", BRIDGE, cfg.ifname]
            if cfg.kind == "svi":
                args += ["--", "set", "interface", cfg.ifname, "type=internal"]
            args += cfg.set_args()
        ctx.run(args)

    def _links(self, ctx: NodeContext, configs: list[PortConfig]) -> None:
        svis = {svi_ifname(network_vlan(ctx.scenario, i.network)): i for i in ctx.node.interfaces}
        for cfg in configs:
            path = f"/etc/systemd/network/05-tai-labs-switch-{cfg.ifname}.network"
            if cfg.kind == "svi":
                ctx.write_file(path, render_svi_network(cfg.ifname, svis[cfg.ifname]))
            else:
                ctx.write_file(path, render_port_network(cfg.ifname, cfg.shutdown))
        ctx.run(["networkctl", "reload"])
        for cfg in configs:
            if cfg.kind == "svi":
                ctx.run(["networkctl", "reconfigure", cfg.ifname], check=False)
                continue
            ctx.run(["ip", "link", "set", "dev", cfg.ifname, "down" if cfg.shutdown else "up"])
            # Checksums of what the switch itself sends are computed in software.
            ctx.run(["ethtool", "-K", cfg.ifname, "tx", "off"], check=False)

    # -- readiness ------------------------------------------------------------------------

    def wait_ready(self, ctx: NodeContext) -> None:
        deadline = time.monotonic() + self.ready_timeout
        configs = plan_ports(ctx.scenario, ctx.node, _links(ctx))
        wanted = {c.ifname for c in configs}

        def probe() -> tuple[bool, str]:
            show = ctx.run(["ovs-vsctl", "--timeout=5", "show"], check=False, timeout=15)
            if not show.ok:
                return False, show.stderr.strip()[-200:]
            res = ctx.run(
                [
                    "ovs-vsctl",
                    "--timeout=5",
                    "--format=json",
                    "--columns=name,ofport",
                    "list",
                    "interface",
                ],
                check=False,
                timeout=15,
            )
            if not res.ok:
                return False, res.stderr.strip()[-200:]
            ofports = _ofports(res.stdout)
            # ofport -1: OVS knows the port but could not open its device.
            bad = sorted(i for i in wanted if ofports.get(i, -1) <= 0)
            ports = set(ctx.run(["ovs-vsctl", "list-ports", BRIDGE], check=False).stdout.split())
            missing = sorted(wanted - ports)
            if missing or bad:
                return False, f"not in {BRIDGE}: {missing}; not working: {bad}"
            return True, ""

        wait_until(
            probe,
            node=ctx.node.name,
            what=f"Open vSwitch bridge {BRIDGE} with every port",
            timeout=max(1.0, deadline - time.monotonic()),
        )


def _links(ctx: NodeContext) -> list[str]:
    data = json.loads(ctx.run(["ip", "-j", "link", "show"]).stdout or "[]")
    return [str(link["ifname"]) for link in data if link.get("ifname") not in (MGMT_IF, "lo")]


def _ofports(list_json: str) -> dict[str, int]:
    data = json.loads(list_json)
    out = {}
    for name, ofport in data.get("data", []):
        out[str(name)] = int(ofport) if isinstance(ofport, int) else -1
    return out


__all__ = [
    "BRIDGE",
    "PortConfig",
    "SwitchRole",
    "network_vlan",
    "plan_ports",
    "port_ifname",
    "port_ifnames",
    "svi_ifname",
    "uplink_ifname",
]
