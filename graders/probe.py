"""Live probes run from inside the lab, on a chosen node, over its command session."""

from __future__ import annotations

import ipaddress
from typing import Literal

from pydantic import Field

from tai_labs.grading.base import Check, register_check
from tai_labs.registry import PluginParams

PROBE_NODES = frozenset({"linux-client", "linux-server", "ad-dc", "router"})


class Probe(Check):
    node_kinds = PROBE_NODES


@register_check
class Dns(Probe):
    name = "probe.dns"
    summary = "A name resolves (A or PTR) to the expected answer, or fails to"

    class Params(PluginParams):
        query: str
        type: Literal["A", "PTR", "SRV", "CNAME"] = "A"
        expect: list[str] = []
        server: ipaddress.IPv4Address | None = None
        resolves: bool = True


@register_check
class Reach(Probe):
    name = "probe.reach"
    summary = "A host answers ping, or a TCP port accepts connections"

    class Params(PluginParams):
        host: str
        port: int | None = Field(default=None, ge=1, le=65535)
        reachable: bool = True


@register_check
class DhcpLease(Probe):
    name = "probe.dhcp"
    summary = "A DHCP client on an interface really obtains a lease with the expected options"

    class Params(PluginParams):
        interface: str
        range: tuple[ipaddress.IPv4Address, ipaddress.IPv4Address] | None = None
        gateway: ipaddress.IPv4Address | None = None
        dns: list[ipaddress.IPv4Address] = []


@register_check
class Smb(Probe):
    name = "probe.smb"
    summary = "An SMB share is readable, writable, or denied for a given user"

    class Params(PluginParams):
        share: str = Field(pattern=r"^//[^/]+/[^/]+$", description="//server/share")
        user: str
        password: str
        access: Literal["read", "write", "denied"]


@register_check
class Kerberos(Probe):
    name = "probe.kerberos"
    summary = "A user obtains a Kerberos ticket (password valid, clock in sync)"

    class Params(PluginParams):
        principal: str
        password: str


@register_check
class Http(Probe):
    name = "probe.http"
    summary = "A URL answers with the expected status (through the node's proxy settings)"

    class Params(PluginParams):
        url: str = Field(pattern=r"^https?://")
        status: int = 200
        contains: str | None = None
