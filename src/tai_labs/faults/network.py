"""Faults on network devices and network services."""

from __future__ import annotations

import ipaddress
from typing import Literal

from pydantic import Field

from tai_labs.faults.base import Fault, register_fault
from tai_labs.registry import PluginParams

SWITCH = frozenset({"switch"})
ROUTER = frozenset({"router"})


@register_fault
class PortShutdown(Fault):
    name = "net.port_shutdown"
    summary = "Shut a switch port down"
    symptom = "Le poste du bureau 12 n'a plus de réseau."
    node_kinds = SWITCH | ROUTER

    class Params(PluginParams):
        port: str


@register_fault
class WrongAccessVlan(Fault):
    name = "net.access_vlan"
    summary = "Put an access port in the wrong VLAN"
    symptom = "Mon poste a une adresse bizarre et je ne vois plus le serveur."
    node_kinds = SWITCH

    class Params(PluginParams):
        port: str
        vlan: int = Field(ge=1, le=4094)


@register_fault
class TrunkVlanRemoved(Fault):
    name = "net.trunk_vlan_removed"
    summary = "Remove a VLAN from a trunk's allowed list"
    symptom = "Tout un service n'a plus accès au réseau."
    node_kinds = SWITCH

    class Params(PluginParams):
        port: str
        vlan: int = Field(ge=1, le=4094)


@register_fault
class RouteMissing(Fault):
    name = "net.route_missing"
    summary = "Delete a static route from the router"
    symptom = "Le site distant est injoignable."
    node_kinds = ROUTER

    class Params(PluginParams):
        prefix: ipaddress.IPv4Network


@register_fault
class DhcpScopeDisabled(Fault):
    name = "net.dhcp_scope_disabled"
    summary = "Disable the DHCP scope of a network"
    symptom = "Les nouveaux postes n'obtiennent pas d'adresse."
    node_kinds = ROUTER

    class Params(PluginParams):
        network: str


@register_fault
class DhcpWrongOption(Fault):
    name = "net.dhcp_option"
    summary = "Serve a wrong DHCP option (router or DNS)"
    symptom = "Les postes ont une adresse mais pas Internet."
    node_kinds = ROUTER

    class Params(PluginParams):
        network: str
        option: Literal["router", "dns-server"]
        value: ipaddress.IPv4Address


@register_fault
class DhcpRelayMissing(Fault):
    name = "net.dhcp_relay_missing"
    summary = "Remove the DHCP relay (ip helper-address) of an interface"
    symptom = "Les postes de l'étage n'obtiennent plus d'adresse."
    node_kinds = ROUTER

    class Params(PluginParams):
        interface: str
