"""The ``router`` role: FRR (zebra + staticd), dnsmasq DHCP, DHCP relay, NAT, an IOS-like login.

Design choices (see docs/roles.md, "router"):

- Lab interfaces (``eth1``, ``eth2``... in the scenario's order) get their addresses from FRR
  (``interface ethN / ip address``), not from systemd-networkd: the candidate then sees and
  changes the whole configuration in one place (``show running-config``), and ``write memory``
  persists it. networkd is told to leave those links alone (``Unmanaged=yes``) and not to
  remove routes it did not make (zebra's). An interface in ``dhcp`` stays with networkd.
- The default route (the scenario interface with a ``gateway``) and ``router.routes`` are
  static routes in frr.conf.
- DHCP service and relay are both done by dnsmasq (``port=0``: no DNS): one daemon owns UDP
  port 67, where dnsmasq plus isc-dhcp-relay would fight for it on a router doing both.
- ``eth0`` (management) is never forwarded to or from: an nftables guard drops it, because
  zebra's ``ip forwarding`` turns forwarding on for every interface at once.
- User ``admin`` logs in straight into vtysh (login shell), so SSH clients and netmiko's
  ``cisco_ios`` driver land in an IOS-like CLI.
"""

from __future__ import annotations

import ipaddress
import json
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from tai_labs.context import NodeContext
from tai_labs.errors import MissingDependencyError, require_module
from tai_labs.roles.base import NotReadyError, Role, RoleError, register_role, wait_until
from tai_labs.scenario.model import DhcpScope, Interface, Node, Scenario
from tai_labs.sessions.device import FRR_CONF

ADMIN_USER = "admin"
#: Used when the lab has no "device_password" secret. Documented in docs/roles.md: labs are
#: isolated and the password is given to the candidate in the brief anyway.
DEFAULT_DEVICE_PASSWORD = "tai-labs-router"
VTYSH = "/usr/bin/vtysh"
MGMT_IF = "eth0"

FRR_DAEMONS = "/etc/frr/daemons"
DNSMASQ_CONF = "/etc/dnsmasq.d/tai-labs.conf"
NFT_CONF = "/etc/nftables.conf"
SYSCTL_CONF = "/etc/sysctl.d/60-tai-labs-router.conf"
NETWORKD_CONF = "/etc/systemd/networkd.conf.d/60-tai-labs-router.conf"

# Values spliced into configuration files must not be able to add lines or options.
_NAME_RE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")
_DOMAIN_RE = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$")


def lab_ifname(index: int) -> str:
    """Name inside the node of the scenario interface at ``index`` (0-based): eth1, eth2..."""
    return f"eth{index + 1}"


@dataclass(frozen=True)
class RouterPlan:
    """What the role derives from the scenario, before writing any file."""

    #: ifname -> scenario interface, in scenario order.
    interfaces: dict[str, Interface]
    #: ifname -> network name.
    networks: dict[str, str]
    #: interface carrying the default route (the one with a gateway), if any.
    uplink: str | None
    default_gateway: ipaddress.IPv4Address | None

    def ifname_of_network(self, network: str) -> str | None:
        for ifname, net in self.networks.items():
            if net == network:
                return ifname
        return None

    @property
    def static_ifnames(self) -> list[str]:
        """Interfaces FRR owns (static address or unconfigured, not dhcp)."""
        return [i for i, itf in self.interfaces.items() if itf.address != "dhcp"]


def plan(node: Node) -> RouterPlan:
    interfaces = {lab_ifname(i): itf for i, itf in enumerate(node.interfaces)}
    networks = {ifname: itf.network for ifname, itf in interfaces.items()}
    uplink = next((i for i, itf in interfaces.items() if itf.gateway is not None), None)
    gateway = interfaces[uplink].gateway if uplink else None
    return RouterPlan(interfaces, networks, uplink, gateway)


# -- rendering (pure) -------------------------------------------------------------------------


def render_daemons() -> str:
    # FRR 8.4 always starts zebra and staticd; saying so keeps the file honest for readers.
    daemons = [
        "zebra",
        "bgpd",
        "ospfd",
        "ospf6d",
        "ripd",
        "ripngd",
        "isisd",
        "pimd",
        "ldpd",
        "nhrpd",
        "eigrpd",
        "babeld",
        "sharpd",
        "pbrd",
        "staticd",
        "bfdd",
        "fabricd",
        "vrrpd",
        "pathd",
    ]
    lines = ["# written by tai-labs (router role)"]
    lines += [f"{d}={'yes' if d in ('zebra', 'staticd') else 'no'}" for d in daemons]
    lines += [
        "vtysh_enable=yes",
        # Only loopback: the daemons' telnet ports must not be reachable from the lab.
        'zebra_options="  -A 127.0.0.1 -s 90000000"',
        'staticd_options="-A 127.0.0.1"',
        # Debian's default: daemons drop root and run as frr (they refuse root without frrvty).
        'frr_profile="traditional"',
    ]
    return "\n".join(lines) + "\n"


def render_frr_conf(node: Node, p: RouterPlan) -> str:
    router = node.router
    lines = [
        "frr defaults traditional",
        f"hostname {node.name}",
        "log syslog informational",
        "service integrated-vtysh-config",
        "ip forwarding",
        "no ipv6 forwarding",
        "!",
    ]
    for ifname, itf in p.interfaces.items():
        lines.append(f"interface {ifname}")
        lines.append(f" description {itf.network}")
        if isinstance(itf.address, ipaddress.IPv4Interface):
            lines.append(f" ip address {itf.address.with_prefixlen}")
        lines += ["exit", "!"]
    if p.default_gateway is not None:
        lines.append(f"ip route 0.0.0.0/0 {p.default_gateway}")
    for route in router.routes if router else []:
        lines.append(f"ip route {route.to.with_prefixlen} {route.via}")
    lines += ["!", "line vty", "!", "end"]
    return "\n".join(lines) + "\n"


def _check_name(value: str, what: str) -> str:
    if not _NAME_RE.fullmatch(value):
        raise RoleError(f"{what} {value!r} is not a host name label")
    return value


def _check_domain(value: str) -> str:
    if not _DOMAIN_RE.fullmatch(value):
        raise RoleError(f"DHCP domain {value!r} is not a DNS domain name")
    return value


def render_dnsmasq(scenario: Scenario, node: Node, p: RouterPlan) -> str | None:
    """dnsmasq's configuration, or None when the router neither serves nor relays DHCP."""
    router = node.router
    if router is None or (not router.dhcp and not router.relay):
        return None
    lines = [
        "# written by tai-labs (router role)",
        # DHCP only: DNS belongs to the lab's DNS server (often the DC).
        "port=0",
        "dhcp-authoritative",
        "dhcp-leasefile=/var/lib/misc/dnsmasq.leases",
        "log-dhcp",
    ]
    # Every lab interface with an address; never the management NIC. dnsmasq answers on an
    # interface only if a range matches its subnet (or the request was relayed there).
    listen = [
        i for i, itf in p.interfaces.items() if isinstance(itf.address, ipaddress.IPv4Interface)
    ]
    lines += [f"interface={i}" for i in listen]
    lines.append(f"except-interface={MGMT_IF}")
    for scope in router.dhcp:
        lines += _scope_lines(scenario, scope, p)
    if router.relay:
        if router.relay_to is None:
            raise RoleError(f"router {node.name}: 'relay' needs 'relay_to'")
        for network in router.relay:
            ifname = p.ifname_of_network(network)
            itf = p.interfaces.get(ifname) if ifname else None
            if itf is None or not isinstance(itf.address, ipaddress.IPv4Interface):
                raise RoleError(
                    f"router {node.name}: relay network {network!r} is not on a static interface"
                )
            # ip helper-address: requests heard on this address go to relay_to.
            lines.append(f"dhcp-relay={itf.address.ip},{router.relay_to}")
    return "\n".join(lines) + "\n"


def _scope_lines(scenario: Scenario, scope: DhcpScope, p: RouterPlan) -> list[str]:
    try:
        subnet = scenario.network(scope.network).subnet
    except KeyError:
        raise RoleError(f"DHCP scope for unknown network {scope.network!r}") from None
    tag = scope.network
    for ip in scope.range:
        if ip not in subnet:
            raise RoleError(f"DHCP range {scope.range[0]}-{scope.range[1]} is outside {subnet}")
    lines = [
        f"dhcp-range=set:{tag},{scope.range[0]},{scope.range[1]},{subnet.netmask},{scope.lease_minutes}m"
    ]
    # No gateway in the scope: dnsmasq announces the router's own address on that network.
    if scope.gateway is not None:
        lines.append(f"dhcp-option=tag:{tag},option:router,{scope.gateway}")
    if scope.dns:
        lines.append(
            f"dhcp-option=tag:{tag},option:dns-server,{','.join(str(d) for d in scope.dns)}"
        )
    if scope.domain:
        domain = _check_domain(scope.domain)
        lines.append(f"dhcp-option=tag:{tag},option:domain-name,{domain}")
    for res in scope.reservations:
        entry = f"dhcp-host={res.mac},{res.address}"
        if res.name:
            entry += f",{_check_name(res.name, 'reservation name')}"
        lines.append(entry)
    return lines


def render_nftables(node: Node, p: RouterPlan, mgmt_ip: ipaddress.IPv4Address) -> str:
    lines = [
        "#!/usr/sbin/nft -f",
        "# written by tai-labs (router role)",
        "flush ruleset",
        "",
        "# The management NIC is the host's way in, never a path for lab traffic.",
        "table inet tai_labs_guard {",
        "  chain forward {",
        "    type filter hook forward priority filter - 10; policy accept;",
        f'    iifname "{MGMT_IF}" drop',
        f'    oifname "{MGMT_IF}" drop',
        "  }",
        "  chain input {",
        "    type filter hook input priority filter - 10; policy accept;",
        f'    iifname != {{ "{MGMT_IF}", "lo" }} ip daddr {mgmt_ip} drop',
        "  }",
        "}",
    ]
    if node.router is not None and node.router.nat:
        if p.uplink is None:
            raise RoleError(f"router {node.name}: 'nat' needs an interface with a gateway")
        lines += [
            "",
            "table ip tai_labs_nat {",
            "  chain postrouting {",
            "    type nat hook postrouting priority srcnat; policy accept;",
            f'    oifname "{p.uplink}" masquerade',
            "  }",
            "}",
        ]
    return "\n".join(lines) + "\n"


def render_unmanaged(ifname: str) -> str:
    # Sorted before the engine's 10-tai-labs-ethN.network, so networkd picks this one.
    return f"[Match]\nName={ifname}\n\n[Link]\nUnmanaged=yes\n"


# -- the role -----------------------------------------------------------------------------------


@register_role
class RouterRole(Role):
    name = "router"
    ready_timeout: ClassVar[float] = 60.0

    def provision(self, ctx: NodeContext) -> None:
        node = ctx.node
        p = plan(node)
        self._networkd(ctx, p)
        ctx.write_file(
            SYSCTL_CONF, "# written by tai-labs (router role)\nnet.ipv4.ip_forward = 1\n"
        )
        ctx.run(["sysctl", "-q", "-p", SYSCTL_CONF])
        ctx.write_file(NFT_CONF, render_nftables(node, p, ctx.mgmt_address), mode="0755")
        ctx.run(["nft", "-f", NFT_CONF])
        ctx.run(["systemctl", "enable", "--quiet", "nftables.service"])
        self._frr(ctx, node, p)
        self._dnsmasq(ctx, node, p)
        self._admin(ctx)

    def _networkd(self, ctx: NodeContext, p: RouterPlan) -> None:
        ctx.write_file(
            NETWORKD_CONF,
            "# zebra's routes must survive a networkd restart.\n[Network]\n"
            "ManageForeignRoutes=no\nManageForeignRoutingPolicyRules=no\n",
        )
        for ifname in p.static_ifnames:
            ctx.write_file(
                f"/etc/systemd/network/05-tai-labs-router-{ifname}.network",
                render_unmanaged(ifname),
            )
        ctx.run(["networkctl", "reload"])
        for ifname in p.static_ifnames:
            # What networkd set before it let go; zebra re-adds what frr.conf says.
            ctx.run(["ip", "-4", "addr", "flush", "dev", ifname])
            ctx.run(["ip", "link", "set", "dev", ifname, "up"])

    def _frr(self, ctx: NodeContext, node: Node, p: RouterPlan) -> None:
        ctx.write_file(FRR_DAEMONS, render_daemons(), mode="0640")
        ctx.write_file(FRR_CONF, render_frr_conf(node, p), mode="0640")
        ctx.run(["chown", "frr:frr", FRR_DAEMONS, FRR_CONF])
        ctx.run(["systemctl", "enable", "--quiet", "frr.service"])
        ctx.run(["systemctl", "restart", "frr.service"])

    def _dnsmasq(self, ctx: NodeContext, node: Node, p: RouterPlan) -> None:
        conf = render_dnsmasq(ctx.scenario, node, p)
        if conf is None:
            ctx.run(["rm", "-f", DNSMASQ_CONF])
            ctx.run(["systemctl", "disable", "--now", "--quiet", "dnsmasq.service"], check=False)
            return
        ctx.write_file(DNSMASQ_CONF, conf)
        ctx.run(["dnsmasq", "--test", f"--conf-file={DNSMASQ_CONF}"])
        ctx.run(["systemctl", "enable", "--quiet", "dnsmasq.service"])
        ctx.run(["systemctl", "restart", "dnsmasq.service"])

    def _admin(self, ctx: NodeContext) -> None:
        shells = ctx.run(["cat", "/etc/shells"]).stdout.split()
        if VTYSH not in shells:
            ctx.run(["sh", "-c", "cat >> /etc/shells"], input=VTYSH + "\n")
        # frrvty: talk to the daemons; frr: read vtysh.conf (else every login warns).
        groups = "frrvty,frr"
        if ctx.run(["id", "-u", ADMIN_USER], check=False).ok:
            ctx.run(["usermod", "-s", VTYSH, "-G", groups, ADMIN_USER])
        else:
            ctx.run(["useradd", "-m", "-s", VTYSH, "-G", groups, ADMIN_USER])
        ctx.run(["chpasswd"], input=f"{ADMIN_USER}:{device_password(ctx)}\n")

    # -- readiness ------------------------------------------------------------------------

    def wait_ready(self, ctx: NodeContext) -> None:
        deadline = time.monotonic() + self.ready_timeout
        p = plan(ctx.node)
        expected = {
            ifname: itf.address.with_prefixlen
            for ifname, itf in p.interfaces.items()
            if isinstance(itf.address, ipaddress.IPv4Interface)
        }

        def zebra_ready() -> tuple[bool, str]:
            res = ctx.run([VTYSH, "-c", "show running-config"], check=False, timeout=15)
            if not res.ok:
                return False, (res.stderr or res.stdout).strip()[-200:]
            res = ctx.run([VTYSH, "-c", "show interface json"], check=False, timeout=15)
            if not res.ok:
                return False, res.stderr.strip()[-200:]
            missing = _missing_addresses(res.stdout, expected)
            return (not missing), f"zebra lacks {', '.join(missing)}" if missing else ""

        wait_until(
            zebra_ready,
            node=ctx.node.name,
            what="FRR (vtysh, interface addresses)",
            timeout=max(1.0, deadline - time.monotonic()),
        )
        wait_until(
            lambda: _netmiko_probe(ctx),
            node=ctx.node.name,
            what="an SSH cisco_ios session as admin",
            every=1.0,
            timeout=max(1.0, deadline - time.monotonic()),
        )


def device_password(ctx: NodeContext) -> str:
    return ctx.secrets.get("device_password") or DEFAULT_DEVICE_PASSWORD


def _missing_addresses(show_interface_json: str, expected: dict[str, str]) -> list[str]:
    try:
        data = json.loads(show_interface_json)
    except json.JSONDecodeError:
        return [f"{i} {a}" for i, a in expected.items()]
    missing = []
    for ifname, address in expected.items():
        have = {a.get("address") for a in data.get(ifname, {}).get("ipAddresses", [])}
        if address not in have:
            missing.append(f"{ifname} {address}")
    return missing


def _netmiko_probe(ctx: NodeContext) -> tuple[bool, str]:
    try:
        output = netmiko_command(ctx, ["show ip route"])[0]
    except MissingDependencyError:
        raise
    except Exception as exc:
        return False, f"{type(exc).__name__}: {exc}"[:300]
    return ("Codes:" in output or "directly connected" in output), output[-200:]


def netmiko_command(
    ctx: NodeContext, commands: Sequence[str], *, timeout: float = 20.0
) -> list[str]:
    """Run show commands over SSH as admin with netmiko's cisco_ios driver, from the host."""
    netmiko = require_module("netmiko", package="netmiko", purpose="a router CLI session")
    conn = netmiko.ConnectHandler(
        device_type="cisco_ios",
        host=str(ctx.mgmt_address),
        username=ADMIN_USER,
        password=device_password(ctx),
        # The host's own SSH setup (agent, keys, config) has no say in a lab login.
        allow_agent=False,
        use_keys=False,
        ssh_config_file=None,
        conn_timeout=timeout,
        auth_timeout=timeout,
        banner_timeout=timeout,
    )
    try:
        return [str(conn.send_command(c, read_timeout=timeout)) for c in commands]
    finally:
        conn.disconnect()


__all__ = [
    "ADMIN_USER",
    "DEFAULT_DEVICE_PASSWORD",
    "NotReadyError",
    "RouterPlan",
    "RouterRole",
    "device_password",
    "lab_ifname",
    "netmiko_command",
    "plan",
    "render_dnsmasq",
    "render_frr_conf",
    "render_nftables",
]
