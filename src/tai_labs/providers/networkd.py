"""systemd-networkd ``.network`` units, rendered in one place (pure text, no I/O).

The engines seed them into a node, the linux.network action rewrites them, the switch role
writes its ports and SVIs: every lab interface gets the same [Link] and [Network] settings.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from typing import Literal

#: Where the units live in a node.
NETWORKD_DIR = "/etc/systemd/network"


def network_unit(
    name: str,
    *,
    dhcp: bool = False,
    address: ipaddress.IPv4Interface | None = None,
    gateway: ipaddress.IPv4Address | None = None,
    dns: Sequence[ipaddress.IPv4Address] = (),
    activation: Literal["up", "always-down"] | None = None,
) -> str:
    """The ``.network`` unit of interface ``name``."""
    lines = [
        "[Match]",
        f"Name={name}",
        "",
        "[Link]",
        # A lab link may be down on purpose (a fault to find); the node must not wait for it.
        "RequiredForOnline=no",
    ]
    if activation is not None:
        lines.append(f"ActivationPolicy={activation}")
    lines += [
        "",
        "[Network]",
        "LinkLocalAddressing=no",
        "IPv6AcceptRA=no",
        "ConfigureWithoutCarrier=yes",
    ]
    if dhcp:
        lines.append("DHCP=ipv4")
    if address is not None:
        lines.append(f"Address={address.with_prefixlen}")
    if gateway is not None:
        lines.append(f"Gateway={gateway}")
    lines += [f"DNS={d}" for d in dns]
    return "\n".join(lines) + "\n"
