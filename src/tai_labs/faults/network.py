"""Faults on network devices and network services.

Routers are changed through FRR's CLI and saved (``write memory``: frr.conf), or through
dnsmasq's configuration file for DHCP; switches through Open vSwitch's database, which
keeps its settings across restarts. The wording of each change is what an administrator
would type, so ``show running-config`` / ``ovs-vsctl show`` tell the candidate the story.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Literal

from pydantic import Field

from tai_labs.context import NodeContext
from tai_labs.faults.base import Fault, FaultError, register_fault
from tai_labs.faults.linux import (
    IFNAME,
    frr_interface_block,
    frr_running,
    link_addresses,
    link_is_up,
    read_file,
    set_ini_key,
    vtysh_config,
)
from tai_labs.plugins import PluginParams
from tai_labs.scenario.model import NodeKind
from tai_labs.sessions.device import BRIDGE, port_ifname

SWITCH = frozenset({NodeKind.SWITCH})
ROUTER = frozenset({NodeKind.ROUTER})
DNSMASQ_CONF = "/etc/dnsmasq.d/tai-labs.conf"
#: A scenario network name (tags in dnsmasq's configuration are network names).
NETWORK = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$"
#: A switch port as the scenario names it ("Gi0/1") or a router interface ("eth1").
PORT = r"^[A-Za-z0-9][A-Za-z0-9/._-]{0,31}$"


# -- switch helpers ------------------------------------------------------------------------------


def switch_ifname(ctx: NodeContext, port: str) -> str:
    """The OVS port of a scenario port name ("Gi0/1" -> "gi0-1"); FaultError if absent."""
    try:
        ifname = port_ifname(port)
    except ValueError as exc:
        raise FaultError(str(exc)) from None
    ports = ctx.run(["ovs-vsctl", "list-ports", BRIDGE]).stdout.split()
    if ifname not in ports:
        raise FaultError(f"switch {ctx.node.name} has no port {port!r} ({ifname}) in {BRIDGE}")
    return ifname


def ovs_get(ctx: NodeContext, ifname: str, column: str) -> str:
    return ctx.run(["ovs-vsctl", "get", "port", ifname, column]).stdout.strip()


def ovs_vlans(value: str) -> list[int]:
    """An OVS integer set ("[10, 20]", "[]", "10") as a list."""
    return [int(v) for v in re.findall(r"\d+", value)]


# -- faults -----------------------------------------------------------------------------------


@register_fault
class PortShutdown(Fault["PortShutdown.Params"]):
    name = "net.port_shutdown"
    summary = "Shut a switch port (or a router interface) down, persistently"
    symptom = "Le poste du bureau 12 n'a plus de réseau."
    node_kinds = SWITCH | ROUTER

    class Params(PluginParams):
        port: str = Field(pattern=PORT)

    def _ifname(self, ctx: NodeContext, port: str) -> str:
        if ctx.node.kind is NodeKind.SWITCH:
            return switch_ifname(ctx, port)
        if not re.fullmatch(IFNAME, port) or port == "eth0":
            raise FaultError(f"router {ctx.node.name}: {port!r} is not a lab interface")
        return port

    def inject(self, ctx: NodeContext, params: Params) -> None:
        ifname = self._ifname(ctx, params.port)
        if ctx.node.kind is NodeKind.ROUTER:
            if "shutdown" not in frr_interface_block(frr_running(ctx), ifname):
                vtysh_config(ctx, [f"interface {ifname}", "shutdown", "exit"])
            return
        # As the switch role writes a port declared "shutdown": networkd keeps it down at
        # every start, and OVS's record says so.
        path = f"/etc/systemd/network/05-tai-labs-switch-{ifname}.network"
        current = read_file(ctx, path)
        if current is None:
            raise FaultError(f"switch {ctx.node.name}: no networkd file for {ifname}")
        wanted = set_ini_key(current, "Link", "ActivationPolicy", ["always-down"])
        if wanted != current:
            ctx.write_file(path, wanted)
            ctx.run(["networkctl", "reload"])
        if ovs_get(ctx, ifname, "external_ids:shutdown") != '"true"':
            ctx.run(["ovs-vsctl", "set", "port", ifname, 'external_ids:shutdown="true"'])
        if link_is_up(ctx, ifname):
            ctx.run(["ip", "link", "set", "dev", ifname, "down"])

    def in_place(self, ctx: NodeContext, params: Params) -> bool:
        return not link_is_up(ctx, self._ifname(ctx, params.port))


@register_fault
class WrongAccessVlan(Fault["WrongAccessVlan.Params"]):
    name = "net.access_vlan"
    summary = "Put an access port in the wrong VLAN"
    symptom = "Mon poste a une adresse bizarre et je ne vois plus le serveur."
    node_kinds = SWITCH

    class Params(PluginParams):
        port: str = Field(pattern=PORT)
        vlan: int = Field(ge=1, le=4094)

    def inject(self, ctx: NodeContext, params: Params) -> None:
        ifname = switch_ifname(ctx, params.port)
        trunks = ovs_vlans(ovs_get(ctx, ifname, "trunks"))
        mode = ovs_get(ctx, ifname, "vlan_mode").strip('"')
        if trunks or mode in ("trunk", "native-untagged", "native-tagged"):
            raise FaultError(f"{params.port} is a trunk, not an access port")
        if ovs_vlans(ovs_get(ctx, ifname, "tag")) != [params.vlan]:
            ctx.run(["ovs-vsctl", "set", "port", ifname, f"tag={params.vlan}"])

    def in_place(self, ctx: NodeContext, params: Params) -> bool:
        ifname = switch_ifname(ctx, params.port)
        return ovs_vlans(ovs_get(ctx, ifname, "tag")) == [params.vlan]


@register_fault
class TrunkVlanRemoved(Fault["TrunkVlanRemoved.Params"]):
    name = "net.trunk_vlan_removed"
    summary = "Remove a VLAN from a trunk's allowed list"
    symptom = "Tout un service n'a plus accès au réseau."
    node_kinds = SWITCH

    class Params(PluginParams):
        port: str = Field(pattern=PORT)
        vlan: int = Field(ge=1, le=4094)

    def _allowed(self, ctx: NodeContext, params: Params) -> tuple[str, list[int]]:
        ifname = switch_ifname(ctx, params.port)
        mode = ovs_get(ctx, ifname, "vlan_mode").strip('"')
        trunks = ovs_vlans(ovs_get(ctx, ifname, "trunks"))
        if not trunks and mode not in ("trunk", "native-untagged", "native-tagged"):
            raise FaultError(f"{params.port} is not a trunk")
        if not trunks:
            # An empty list means every VLAN: spell out the switch's VLANs instead.
            vlans = ctx.node.switch.vlans if ctx.node.switch else []
            declared = {v.id for v in vlans} | {
                n.vlan for n in ctx.scenario.topology.networks if n.vlan is not None
            }
            trunks = sorted(declared)
        return ifname, trunks

    def inject(self, ctx: NodeContext, params: Params) -> None:
        ifname, trunks = self._allowed(ctx, params)
        current = ovs_vlans(ovs_get(ctx, ifname, "trunks"))
        if current and params.vlan not in current:
            return
        kept = [v for v in trunks if v != params.vlan]
        if not kept:
            raise FaultError(
                f"{params.port} would allow no VLAN, which Open vSwitch reads as every VLAN"
            )
        ctx.run(["ovs-vsctl", "set", "port", ifname, "trunks=" + ",".join(map(str, kept))])

    def in_place(self, ctx: NodeContext, params: Params) -> bool:
        current = ovs_vlans(ovs_get(ctx, switch_ifname(ctx, params.port), "trunks"))
        return bool(current) and params.vlan not in current


def static_routes(running: str, prefix: str) -> list[str]:
    """The ``ip route <prefix> ...`` lines of FRR's running configuration."""
    return [
        line.strip() for line in running.splitlines() if line.split()[:3] == ["ip", "route", prefix]
    ]


@register_fault
class RouteMissing(Fault["RouteMissing.Params"]):
    name = "net.route_missing"
    summary = "Delete a static route from the router"
    symptom = "Le site distant est injoignable."
    node_kinds = ROUTER

    class Params(PluginParams):
        prefix: ipaddress.IPv4Network

    def inject(self, ctx: NodeContext, params: Params) -> None:
        routes = static_routes(frr_running(ctx), params.prefix.with_prefixlen)
        if routes:
            vtysh_config(ctx, [f"no {line}" for line in routes])

    def in_place(self, ctx: NodeContext, params: Params) -> bool:
        return not static_routes(frr_running(ctx), params.prefix.with_prefixlen)


# -- dnsmasq (DHCP) -----------------------------------------------------------------------------


def _dnsmasq(ctx: NodeContext) -> str:
    text = read_file(ctx, DNSMASQ_CONF)
    if text is None:
        raise FaultError(f"router {ctx.node.name} serves no DHCP ({DNSMASQ_CONF} is absent)")
    return text


def _apply_dnsmasq(ctx: NodeContext, current: str, wanted: str) -> None:
    if wanted == current:
        return
    ctx.write_file(DNSMASQ_CONF, wanted)
    ctx.run(["dnsmasq", "--test", f"--conf-file={DNSMASQ_CONF}"])
    ctx.run(["systemctl", "restart", "dnsmasq.service"])


def _is_range(line: str, network: str) -> bool:
    return line.startswith(f"dhcp-range=set:{network},")


def disable_scope(text: str, network: str) -> str:
    """dnsmasq's configuration with the network's dhcp-range commented out."""
    return (
        "\n".join(f"#{line}" if _is_range(line, network) else line for line in text.splitlines())
        + "\n"
    )


def set_dhcp_option(text: str, network: str, option: str, value: str) -> str:
    """Configuration serving ``option`` = ``value`` on ``network`` (replacing its line, or
    adding one after the network's range)."""
    prefix = f"dhcp-option=tag:{network},option:{option},"
    line = prefix + value
    lines = text.splitlines()
    if any(existing.startswith(prefix) for existing in lines):
        lines = [line if existing.startswith(prefix) else existing for existing in lines]
    else:
        at = next(
            (i + 1 for i, x in enumerate(lines) if _is_range(x.lstrip("#"), network)), len(lines)
        )
        lines.insert(at, line)
    return "\n".join(lines) + "\n"


@register_fault
class DhcpScopeDisabled(Fault["DhcpScopeDisabled.Params"]):
    name = "net.dhcp_scope_disabled"
    summary = "Disable the DHCP scope of a network (its dhcp-range commented out)"
    symptom = "Les nouveaux postes n'obtiennent pas d'adresse."
    node_kinds = ROUTER

    class Params(PluginParams):
        network: str = Field(pattern=NETWORK)

    def inject(self, ctx: NodeContext, params: Params) -> None:
        current = _dnsmasq(ctx)
        if not any(_is_range(x.lstrip("#"), params.network) for x in current.splitlines()):
            raise FaultError(f"router {ctx.node.name} has no DHCP scope for {params.network!r}")
        _apply_dnsmasq(ctx, current, disable_scope(current, params.network))

    def in_place(self, ctx: NodeContext, params: Params) -> bool:
        return not any(_is_range(x, params.network) for x in _dnsmasq(ctx).splitlines())


@register_fault
class DhcpWrongOption(Fault["DhcpWrongOption.Params"]):
    name = "net.dhcp_option"
    summary = "Serve a wrong DHCP option (router or DNS)"
    symptom = "Les postes ont une adresse mais pas Internet."
    node_kinds = ROUTER

    class Params(PluginParams):
        network: str = Field(pattern=NETWORK)
        option: Literal["router", "dns-server"]
        value: ipaddress.IPv4Address

    def inject(self, ctx: NodeContext, params: Params) -> None:
        current = _dnsmasq(ctx)
        if not any(_is_range(x.lstrip("#"), params.network) for x in current.splitlines()):
            raise FaultError(f"router {ctx.node.name} has no DHCP scope for {params.network!r}")
        wanted = set_dhcp_option(current, params.network, params.option, str(params.value))
        _apply_dnsmasq(ctx, current, wanted)

    def in_place(self, ctx: NodeContext, params: Params) -> bool:
        line = f"dhcp-option=tag:{params.network},option:{params.option},{params.value}"
        return line in _dnsmasq(ctx).splitlines()


@register_fault
class DhcpRelayMissing(Fault["DhcpRelayMissing.Params"]):
    name = "net.dhcp_relay_missing"
    summary = "Remove the DHCP relay (ip helper-address) of an interface"
    symptom = "Les postes de l'étage n'obtiennent plus d'adresse."
    node_kinds = ROUTER

    class Params(PluginParams):
        interface: str = Field(pattern=IFNAME)

    def _relay_lines(self, ctx: NodeContext, params: Params, text: str) -> list[str]:
        addresses = {str(a.ip) for a in link_addresses(ctx, params.interface)}
        if not addresses:
            raise FaultError(f"router {ctx.node.name}: {params.interface} has no address")
        return [
            line
            for line in text.splitlines()
            if line.startswith("dhcp-relay=") and line[11:].split(",")[0] in addresses
        ]

    def inject(self, ctx: NodeContext, params: Params) -> None:
        current = _dnsmasq(ctx)
        relays = set(self._relay_lines(ctx, params, current))
        if relays:
            kept = [line for line in current.splitlines() if line not in relays]
            _apply_dnsmasq(ctx, current, "\n".join(kept) + "\n")

    def in_place(self, ctx: NodeContext, params: Params) -> bool:
        return not self._relay_lines(ctx, params, _dnsmasq(ctx))


__all__ = ["disable_scope", "ovs_vlans", "set_dhcp_option", "static_routes"]
