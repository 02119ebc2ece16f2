"""Faults on a Linux node's network: resolver, gateway, address, link, hosts, firewall, proxy."""

from __future__ import annotations

import ipaddress
import json
import re
from typing import Any, Literal

from pydantic import Field

from tai_labs.context import NodeContext
from tai_labs.faults.base import FaultError, register_fault
from tai_labs.faults.linux import (
    HOSTNAME,
    IFNAME,
    NETWORKD_DIR,
    NFT_CONF,
    LinuxFault,
    edit_networkd,
    frr_interface_block,
    frr_running,
    ini_values,
    is_router,
    link_addresses,
    link_is_up,
    read_file,
    settle,
    vtysh_config,
    write_if_changed,
)
from tai_labs.grading.parsers import nft_port_verdict
from tai_labs.plugins import PluginParams


def resolv_nameservers(text: str) -> list[str]:
    return [
        parts[1]
        for parts in (line.split() for line in text.splitlines())
        if len(parts) >= 2 and parts[0] == "nameserver"
    ]


def with_nameserver(text: str, nameserver: str) -> str:
    """resolv.conf with its nameserver lines replaced by one, where the first one was."""
    out: list[str] = []
    placed = False
    for line in text.splitlines():
        if line.split()[:1] == ["nameserver"]:
            if not placed:
                out.append(f"nameserver {nameserver}")
                placed = True
            continue
        out.append(line)
    if not placed:
        out.append(f"nameserver {nameserver}")
    return "\n".join(out) + "\n"


@register_fault
class WrongResolver(LinuxFault["WrongResolver.Params"]):
    name = "linux.dns_resolver"
    summary = "Point the node's DNS resolver at a wrong address"
    symptom = "Je n'arrive plus à accéder aux sites ni aux serveurs par leur nom."

    class Params(PluginParams):
        nameserver: ipaddress.IPv4Address

    def inject(self, ctx: NodeContext, params: Params) -> None:
        # A plain file in these images (no resolved, no resolvconf): editing it persists.
        current = read_file(ctx, "/etc/resolv.conf") or ""
        write_if_changed(ctx, "/etc/resolv.conf", with_nameserver(current, str(params.nameserver)))

    def in_place(self, ctx: NodeContext, params: Params) -> bool:
        return str(params.nameserver) in resolv_nameservers(
            read_file(ctx, "/etc/resolv.conf") or ""
        )


def default_gateways(ctx: NodeContext) -> list[str]:
    res = ctx.run(["ip", "-j", "-4", "route", "show", "default"], check=False)
    return [str(r["gateway"]) for r in json.loads(res.stdout or "[]") if "gateway" in r]


@register_fault
class WrongGateway(LinuxFault["WrongGateway.Params"]):
    name = "linux.gateway"
    summary = "Replace the default gateway with a wrong one (persistently)"
    symptom = "Je n'ai plus accès à Internet, mais l'imprimante du bureau marche."

    class Params(PluginParams):
        gateway: ipaddress.IPv4Address

    def inject(self, ctx: NodeContext, params: Params) -> None:
        new = str(params.gateway)
        if is_router(ctx):
            # The router's default route is a static route of FRR (frr.conf).
            old = [
                line.split()[3]
                for line in frr_running(ctx).splitlines()
                if line.startswith("ip route 0.0.0.0/0 ") and len(line.split()) >= 4
            ]
            if old == [new]:
                return
            lines = [f"no ip route 0.0.0.0/0 {gw}" for gw in old if gw != new]
            vtysh_config(ctx, [*lines, f"ip route 0.0.0.0/0 {new}"])
            return
        ifname = self._uplink(ctx)
        edit_networkd(ctx, ifname, "Network", "Gateway", [new])
        if not settle(lambda: self.in_place(ctx, params)):
            raise FaultError(f"{ctx.node.name}: networkd did not apply the gateway {new}")

    def _uplink(self, ctx: NodeContext) -> str:
        """The lab interface whose networkd file holds the default gateway."""
        for index in range(1, len(ctx.node.interfaces) + 1):
            ifname = f"eth{index}"
            text = read_file(ctx, f"{NETWORKD_DIR}/10-tai-labs-{ifname}.network") or ""
            if ini_values(text, "Network", "Gateway"):
                return ifname
        raise FaultError(f"{ctx.node.name} has no default gateway to replace")

    def in_place(self, ctx: NodeContext, params: Params) -> bool:
        return str(params.gateway) in default_gateways(ctx)


@register_fault
class WrongAddress(LinuxFault["WrongAddress.Params"]):
    name = "linux.address"
    summary = "Give an interface a wrong static address (persistently)"
    symptom = "Plus rien ne marche sur le réseau depuis ce matin."

    class Params(PluginParams):
        interface: str = Field(pattern=IFNAME)
        address: ipaddress.IPv4Interface

    def inject(self, ctx: NodeContext, params: Params) -> None:
        new = params.address.with_prefixlen
        if is_router(ctx):
            block = frr_interface_block(frr_running(ctx), params.interface)
            old = [line.split()[2] for line in block if line.startswith("ip address ")]
            if old == [new]:
                return
            lines = [f"interface {params.interface}"]
            lines += [f"no ip address {a}" for a in old if a != new]
            vtysh_config(ctx, [*lines, f"ip address {new}", "exit"])
            return
        # The old gateway stays in the file: off-link now, as after a hasty renumbering.
        edit_networkd(ctx, params.interface, "Network", "Address", [new])
        if not settle(lambda: self.in_place(ctx, params)):
            raise FaultError(f"{ctx.node.name}: networkd did not apply {new} on {params.interface}")

    def in_place(self, ctx: NodeContext, params: Params) -> bool:
        return params.address in link_addresses(ctx, params.interface)


@register_fault
class InterfaceDown(LinuxFault["InterfaceDown.Params"]):
    name = "linux.interface_down"
    summary = "Bring an interface down and keep it down across restarts"
    symptom = "Mon ordinateur dit qu'il n'y a pas de réseau."

    class Params(PluginParams):
        interface: str = Field(pattern=IFNAME)

    def inject(self, ctx: NodeContext, params: Params) -> None:
        if params.interface == "eth0":
            raise FaultError("eth0 is the management interface: the lab would lose its node")
        link_is_up(ctx, params.interface)  # raises if there is no such interface
        if is_router(ctx):
            block = frr_interface_block(frr_running(ctx), params.interface)
            if "shutdown" not in block:
                vtysh_config(ctx, [f"interface {params.interface}", "shutdown", "exit"])
            return
        # always-down: networkd keeps the link down at every start, as `ip link set down`
        # alone would not.
        edit_networkd(ctx, params.interface, "Link", "ActivationPolicy", ["always-down"])
        if link_is_up(ctx, params.interface):
            ctx.run(["ip", "link", "set", "dev", params.interface, "down"])

    def in_place(self, ctx: NodeContext, params: Params) -> bool:
        return not link_is_up(ctx, params.interface)


def hosts_line_maps(line: str, hostname: str, address: str | None = None) -> bool:
    fields = line.split("#", 1)[0].split()
    if len(fields) < 2 or hostname.lower() not in (f.lower() for f in fields[1:]):
        return False
    return address is None or fields[0] == address


def poison_hosts(text: str, hostname: str, address: str) -> str:
    """hosts with ``address hostname`` before any other line naming hostname (glibc takes
    the first match), after the localhost lines; unchanged if already there."""
    lines = text.splitlines()
    for line in lines:
        if hosts_line_maps(line, hostname, address):
            return text
    entry = f"{address}\t{hostname}"
    at = next((i for i, line in enumerate(lines) if hosts_line_maps(line, hostname)), None)
    if at is None:
        # After the IPv4 lines, where a colleague would add it.
        ipv4 = [i for i, line in enumerate(lines) if re.match(r"^\s*\d+\.\d+\.\d+\.\d+\s", line)]
        at = ipv4[-1] + 1 if ipv4 else len(lines)
    lines.insert(at, entry)
    return "\n".join(lines) + "\n"


@register_fault
class HostsPoisoned(LinuxFault["HostsPoisoned.Params"]):
    name = "linux.hosts_poisoned"
    summary = "Add a wrong entry for a name in /etc/hosts"
    symptom = "Le serveur marche pour mes collègues mais pas pour moi."

    class Params(PluginParams):
        hostname: str = Field(pattern=HOSTNAME, max_length=253)
        address: ipaddress.IPv4Address

    def inject(self, ctx: NodeContext, params: Params) -> None:
        current = read_file(ctx, "/etc/hosts") or ""
        write_if_changed(
            ctx, "/etc/hosts", poison_hosts(current, params.hostname, str(params.address))
        )

    def in_place(self, ctx: NodeContext, params: Params) -> bool:
        res = ctx.run(["getent", "ahostsv4", params.hostname], check=False, timeout=30)
        first = res.stdout.split()[:1]
        return first == [str(params.address)]


def blocked_hooks(ruleset: dict[str, Any], protocol: str, port: int) -> set[str]:
    """Hooks ("input", "output") whose base chains block new ``protocol``/``port`` traffic
    for every machine: the same walk as the graders' (``parsers.nft_port_verdict``)."""
    return {
        hook
        for hook in ("input", "output")
        if nft_port_verdict(ruleset, port, protocol, (hook,), prove="blocked").blocked
    }


def nft_ruleset(ctx: NodeContext) -> dict[str, Any]:
    res = ctx.run(["nft", "-j", "list", "ruleset"])
    return json.loads(res.stdout or "{}")


@register_fault
class FirewallBlock(LinuxFault["FirewallBlock.Params"]):
    name = "linux.firewall_block"
    summary = "Add nftables rules (table inet filter) that drop a port, persisted in nftables.conf"
    symptom = "Personne n'arrive plus à se connecter à ce service."

    class Params(PluginParams):
        port: int = Field(ge=1, le=65535)
        protocol: Literal["tcp", "udp"] = "tcp"
        #: input: the node's own service is unreachable; output: the node cannot reach that
        #: port elsewhere (a client's share); both, as a colleague "blocking SMB" would.
        direction: Literal["both", "input", "output"] = "both"

    def _hooks(self, params: Params) -> list[str]:
        return ["input", "output"] if params.direction == "both" else [params.direction]

    def inject(self, ctx: NodeContext, params: Params) -> None:
        # The table Debian's stock nftables.conf declares: the rule sits where an admin
        # would put it, in nothing named after the lab.
        ruleset = nft_ruleset(ctx)
        chains = {
            (i["chain"]["table"], i["chain"]["name"])
            for i in ruleset.get("nftables", [])
            if "chain" in i and i["chain"]["family"] == "inet"
        }
        ctx.run(["nft", "add", "table", "inet", "filter"])
        blocked = blocked_hooks(ruleset, params.protocol, params.port)
        for hook in self._hooks(params):
            if ("filter", hook) not in chains:
                spec = f"{{ type filter hook {hook} priority filter ; policy accept ; }}"
                ctx.run(["nft", "add", "chain", "inet", "filter", hook, spec])
            if hook not in blocked:
                # insert: ahead of any accept rule already in the chain.
                ctx.run(
                    [
                        "nft",
                        "insert",
                        "rule",
                        "inet",
                        "filter",
                        hook,
                        params.protocol,
                        "dport",
                        str(params.port),
                        "drop",
                    ]
                )
        # Saved as an admin does (`nft list ruleset > /etc/nftables.conf`): the next boot
        # loads it again.
        dump = ctx.run(["nft", "list", "ruleset"]).stdout
        write_if_changed(ctx, NFT_CONF, "#!/usr/sbin/nft -f\n\nflush ruleset\n\n" + dump, "0755")
        if (
            ctx.run(["systemctl", "is-enabled", "nftables.service"], check=False).stdout.strip()
            != "enabled"
        ):
            ctx.run(["systemctl", "enable", "--quiet", "nftables.service"])

    def in_place(self, ctx: NodeContext, params: Params) -> bool:
        blocked = blocked_hooks(nft_ruleset(ctx), params.protocol, params.port)
        return bool(blocked & set(self._hooks(params)))


PROXY_VARS = ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY")


def with_proxy(environment: str, proxy: str) -> str:
    """/etc/environment with the proxy variables set to ``proxy`` (others kept)."""
    lines = [
        line
        for line in environment.splitlines()
        if line.split("=", 1)[0].strip().removeprefix("export ").strip() not in PROXY_VARS
    ]
    lines += [f'{var}="{proxy}"' for var in PROXY_VARS]
    return "\n".join(lines) + "\n"


def environment_value(environment: str, var: str) -> str | None:
    for line in environment.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip().removeprefix("export ").strip() == var:
            return value.strip().strip('"').strip("'")
    return None


@register_fault
class WrongProxy(LinuxFault["WrongProxy.Params"]):
    name = "linux.proxy"
    summary = "Set a system-wide HTTP proxy that does not exist (/etc/environment and apt)"
    symptom = "Internet ne marche plus dans le navigateur."

    class Params(PluginParams):
        proxy: str = Field(
            default="http://10.255.255.1:3128", pattern=r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?/?$"
        )

    APT_CONF = "/etc/apt/apt.conf.d/95proxy"

    def inject(self, ctx: NodeContext, params: Params) -> None:
        # /etc/environment: read by pam_env at every login (shells, desktop, browsers).
        current = read_file(ctx, "/etc/environment") or ""
        if environment_value(current, "http_proxy") != params.proxy or any(
            environment_value(current, v) != params.proxy for v in PROXY_VARS
        ):
            ctx.write_file("/etc/environment", with_proxy(current, params.proxy))
        write_if_changed(
            ctx,
            self.APT_CONF,
            f'Acquire::http::Proxy "{params.proxy}";\nAcquire::https::Proxy "{params.proxy}";\n',
        )

    def in_place(self, ctx: NodeContext, params: Params) -> bool:
        current = read_file(ctx, "/etc/environment") or ""
        return params.proxy in (environment_value(current, v) for v in PROXY_VARS)
