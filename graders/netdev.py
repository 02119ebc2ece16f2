"""Checks on network devices, collected over a device CLI session (netmiko)."""

from __future__ import annotations

import ipaddress

from pydantic import Field

from tai_labs.grading.base import Check, register_check
from tai_labs.registry import PluginParams

SWITCH = frozenset({"switch"})
ROUTER = frozenset({"router"})
DEVICES = SWITCH | ROUTER


class DeviceCheck(Check):
    session = "device"
    node_kinds = DEVICES


@register_check
class Vlan(DeviceCheck):
    name = "netdev.vlan"
    summary = "A VLAN exists with the given name"
    node_kinds = SWITCH

    class Params(PluginParams):
        vlan: int = Field(ge=1, le=4094)
        vlan_name: str | None = None
        exists: bool = True


@register_check
class AccessPort(DeviceCheck):
    name = "netdev.access_port"
    summary = "A switch port is an access port in the given VLAN"
    node_kinds = SWITCH

    class Params(PluginParams):
        port: str
        vlan: int = Field(ge=1, le=4094)


@register_check
class Trunk(DeviceCheck):
    name = "netdev.trunk"
    summary = "A switch port is a trunk that allows exactly (or at least) the listed VLANs"
    node_kinds = SWITCH

    class Params(PluginParams):
        port: str
        allowed: list[int] = Field(min_length=1)
        exact: bool = False


@register_check
class Interface(DeviceCheck):
    name = "netdev.interface"
    summary = "An interface is administratively and operationally up, with its address"

    class Params(PluginParams):
        interface: str
        up: bool = True
        address: ipaddress.IPv4Interface | None = None


@register_check
class StaticRoute(DeviceCheck):
    name = "netdev.route"
    summary = "A static route (or the default route) through the given next hop"
    node_kinds = ROUTER

    class Params(PluginParams):
        prefix: ipaddress.IPv4Network
        next_hop: ipaddress.IPv4Address | None = None
        present: bool = True


@register_check
class DhcpRelay(DeviceCheck):
    name = "netdev.dhcp_relay"
    summary = "DHCP requests on an interface are relayed to a server (ip helper-address)"
    node_kinds = ROUTER

    class Params(PluginParams):
        interface: str
        server: ipaddress.IPv4Address


@register_check
class ConfigSaved(DeviceCheck):
    name = "netdev.config_saved"
    summary = "The running configuration is saved (startup equals running)"
