"""The ``linux-client`` / ``linux-server`` role: resolver, Kerberos realm and host name.

Addresses and the default route of ``eth1``, ``eth2``... come from the engine (systemd-networkd
files seeded from the node's NICs); this role writes what depends on the scenario's domain.
"""

from __future__ import annotations

import ipaddress
import time
from typing import ClassVar

from tai_labs.context import NodeContext
from tai_labs.roles.base import Role, RoleError, register_role, wait_until
from tai_labs.scenario.model import Node, NodeKind, Scenario


def domain_controller(scenario: Scenario) -> Node | None:
    """The first ``ad-dc`` node, which clients resolve the domain through."""
    return next((n for n in scenario.topology.nodes if n.kind is NodeKind.AD_DC), None)


def first_address(node: Node) -> ipaddress.IPv4Address | None:
    for itf in node.interfaces:
        if isinstance(itf.address, ipaddress.IPv4Interface):
            return itf.address.ip
    return None


def render_resolv_conf(node: Node, scenario: Scenario) -> str:
    lines = ["# written by tai-labs (client role)"]
    if scenario.directory is not None:
        lines.append(f"search {scenario.directory.realm}")
    lines += [f"nameserver {ip}" for ip in node.dns]
    return "\n".join(lines) + "\n"


def render_krb5_conf(scenario: Scenario) -> str:
    if scenario.directory is None:
        raise RoleError("krb5.conf needs the scenario's directory")
    realm = scenario.directory.realm
    lines = [
        "# written by tai-labs (client role)",
        "[libdefaults]",
        f"    default_realm = {realm.upper()}",
        # The KDCs are found in the domain's DNS (SRV records), as on a joined Windows PC.
        "    dns_lookup_kdc = true",
        "    dns_lookup_realm = false",
        "    rdns = false",
        "",
        "[domain_realm]",
        f"    .{realm} = {realm.upper()}",
        f"    {realm} = {realm.upper()}",
    ]
    return "\n".join(lines) + "\n"


def render_hosts(node: Node, scenario: Scenario) -> str:
    names = node.name
    if scenario.directory is not None:
        names = f"{node.name}.{scenario.directory.realm} {node.name}"
    # The lab address rather than 127.0.1.1: a domain join registers what the name resolves to.
    own = first_address(node) or "127.0.1.1"
    return f"127.0.0.1\tlocalhost\n{own}\t{names}\n::1\tlocalhost ip6-localhost ip6-loopback\n"


@register_role
class ClientRole(Role):
    """Linux workstation or server joined to nothing yet.

    When the scenario has a directory, readiness waits until the node resolves the first
    ``ad-dc`` node's FQDN to its lab address: the DC (the DNS server) must be ready first,
    hence its later readiness group (``tai_labs.kinds``).
    """

    name = "linux"
    ready_timeout: ClassVar[float] = 60.0

    def provision(self, ctx: NodeContext) -> None:
        node, scenario = ctx.node, ctx.scenario
        ctx.write_file("/etc/hosts", render_hosts(node, scenario))
        # A plain file: the image has no systemd-resolved; dhclient may rewrite it (dhcp NICs).
        ctx.run(["rm", "-f", "/etc/resolv.conf"])
        ctx.write_file("/etc/resolv.conf", render_resolv_conf(node, scenario))
        if scenario.directory is not None:
            ctx.write_file("/etc/krb5.conf", render_krb5_conf(scenario))

    def wait_started(self, ctx: NodeContext) -> None:
        # A workstation runs no service of its own: booted (which revert waits for) is all.
        return None

    def wait_ready(self, ctx: NodeContext) -> None:
        deadline = time.monotonic() + self.ready_timeout
        wait_until(
            lambda: _booted(ctx),
            node=ctx.node.name,
            what="systemd to finish booting",
            timeout=max(1.0, deadline - time.monotonic()),
        )
        scenario = ctx.scenario
        dc = domain_controller(scenario)
        if scenario.directory is None or dc is None:
            return
        fqdn = f"{dc.name}.{scenario.directory.realm}"
        expected = first_address(dc)

        def resolves() -> tuple[bool, str]:
            res = ctx.run(["getent", "hosts", fqdn], check=False, timeout=10)
            found = res.stdout.split()[:1]
            if not res.ok or not found:
                return False, f"{fqdn} does not resolve"
            ok = expected is None or found[0] == str(expected)
            return ok, f"{fqdn} -> {found[0]}, expected {expected}"

        wait_until(
            resolves,
            node=ctx.node.name,
            what=f"{fqdn} to resolve to the DC",
            timeout=max(1.0, deadline - time.monotonic()),
            every=1.0,
        )


def _booted(ctx: NodeContext) -> tuple[bool, str]:
    state = ctx.run(["systemctl", "is-system-running"], check=False, timeout=10).stdout.strip()
    return state in ("running", "degraded"), state


__all__ = [
    "ClientRole",
    "domain_controller",
    "render_hosts",
    "render_krb5_conf",
    "render_resolv_conf",
]
