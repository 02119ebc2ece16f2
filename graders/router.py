"""Checks on the FRR router: interfaces (the switch's too), routes, DHCP relay, saved config.

Router CLI checks (``netdev.interface``, ``netdev.route``) send IOS-like commands to a
``DeviceSession`` (netmiko ``cisco_ios`` to vtysh); given a ``CommandSession`` instead they run
the same command with ``vtysh -c`` inside the node. ``netdev.interface`` also serves the
switch, whose interfaces the kernel reports (``ip -j``). ``netdev.dhcp_relay`` and
``netdev.config_saved`` need files of the node (dnsmasq does the relay, not FRR; FRR has no
``show startup-config``): they use a command session.
"""

from __future__ import annotations

import ipaddress
import json
from typing import Any

from pydantic import Field

from graders._netdev import (
    IFNAME_PATTERN,
    ROUTER,
    DeviceCheck,
    cli,
    ip_link,
    node_shell,
    output,
    switch_ifname,
)
from tai_labs.grading.base import register_check
from tai_labs.grading.model import Evidence, Judgement
from tai_labs.plugins import PluginParams
from tai_labs.sessions.base import CommandSession, DeviceSession
from tai_labs.sessions.device import FRR_CONF

DNSMASQ_FILES = ("/etc/dnsmasq.conf", "/etc/dnsmasq.d")


# -- the running configuration -----------------------------------------------------------------


def config_lines(text: str) -> list[str]:
    """Lines of an FRR configuration, as (context) + line, without what is not config.

    Dropped: comments and ``!``, vtysh's header, ``end``/``exit``, ``frr version`` (the
    build, not the config), and what vtysh never shows when it holds (``ip forwarding`` in
    ``traditional`` defaults, an empty ``line vty``). Indented lines are prefixed with the
    block they belong to (``interface eth1 | ip address ...``).
    """
    out: list[str] = []
    block = ""
    for raw in text.splitlines():
        line = raw.rstrip()
        stripped = line.strip()
        if stripped in ("exit", "end"):
            block = ""
            continue
        if stripped == "line vty":
            block = stripped  # its lines count, the empty block does not
            continue
        if (
            not stripped
            or stripped.startswith(("!", "#", "frr version "))
            or stripped in ("exit-vrf", "Building configuration...", "Current configuration:")
            or stripped == "ip forwarding"
        ):
            continue
        if line.startswith(" "):
            out.append(f"{block} | {stripped}" if block else stripped)
        else:
            block = stripped
            out.append(stripped)
    return out


def looks_like_running_config(text: str) -> bool:
    return any(
        line.startswith(("hostname ", "frr defaults", "frr version")) for line in text.splitlines()
    )


def static_routes(config: str) -> list[tuple[ipaddress.IPv4Network, str, str]]:
    """``ip route`` lines of a running configuration: (prefix, next hop, the line)."""
    routes = []
    for line in config.splitlines():
        words = line.split()
        if len(words) < 4 or words[:2] != ["ip", "route"]:
            continue
        try:
            if "/" in words[2]:
                prefix, hop = ipaddress.IPv4Network(words[2]), words[3]
            else:  # "ip route 10.0.0.0 255.0.0.0 1.2.3.4"
                prefix = ipaddress.IPv4Network(f"{words[2]}/{words[3]}")
                hop = words[4] if len(words) > 4 else ""
        except ValueError:
            continue
        routes.append((prefix, hop, line.strip()))
    return routes


# -- checks ------------------------------------------------------------------------------------


@register_check
class Interface(DeviceCheck["Interface.Params"]):
    name = "netdev.interface"
    summary = (
        "An interface is administratively and operationally up (or shut down), with its address"
    )

    class Params(PluginParams):
        interface: str = Field(pattern=IFNAME_PATTERN)
        up: bool = True
        address: ipaddress.IPv4Interface | None = None

    def collect(self, session: Any, params: Params) -> Evidence:
        ev = Evidence()
        if isinstance(session, DeviceSession) and session.device_type != "ovs":
            ev.facts["source"] = "frr"
            cli(session, ev, f"show interface {params.interface} json")
            return ev
        # A switch: the kernel's view of the port or SVI (admin flag, carrier, addresses).
        ev.facts["source"] = "ip"
        node = node_shell(session)
        ev.add(node.run(["ip", "-j", "addr", "show", "dev", switch_ifname(params.interface)]))
        return ev

    def decide(self, evidence: Evidence, p: Params) -> Judgement:
        res = output(evidence, 0)
        if evidence.facts.get("source") == "frr":
            if not res.ok or not res.stdout.strip():
                return Judgement.error(
                    "le routeur n'a pas répondu", f"vtysh failed: {res.stderr.strip()[:200]}"
                )
            data = json.loads(res.stdout)
            if not data:
                return Judgement.failed(
                    f"l'interface {p.interface} n'existe pas",
                    f"interface {p.interface} not found",
                    f"{res.command}: {{}}",
                )
            itf = data[p.interface] if p.interface in data else next(iter(data.values()))
            admin = itf["administrativeStatus"] == "up"
            # FRR leaves operationalStatus out of a shut interface; up without it is odd.
            oper_raw = itf.get("operationalStatus", None if admin else "down")
            if oper_raw is None:
                raise ValueError("operationalStatus is missing")
            oper = oper_raw == "up"
            addresses = [str(a["address"]) for a in itf.get("ipAddresses", [])]
            decisive = (
                f"administrativeStatus: {itf['administrativeStatus']}, "
                f"operationalStatus: {itf.get('operationalStatus', '(absent)')}"
            )
        else:
            link = ip_link(res)
            if link is None:
                return Judgement.failed(
                    f"l'interface {p.interface} n'existe pas",
                    f"interface {p.interface} not found",
                    res.stderr.strip()[:200],
                )
            flags = set(link.get("flags", []))
            state = str(link.get("operstate", ""))
            admin = "UP" in flags
            # OVS internal ports (SVIs) report UNKNOWN; carrier is what matters.
            oper = state == "UP" or (state == "UNKNOWN" and "LOWER_UP" in flags)
            addresses = [
                f"{a['local']}/{a['prefixlen']}"
                for a in link.get("addr_info", [])
                if a.get("family") == "inet"
            ]
            decisive = f"flags: <{','.join(link.get('flags', []))}>, operstate: {state}"
        where = f"l'interface {p.interface}"
        if p.up and not admin:
            return Judgement.failed(
                f"{where} est désactivée (shutdown)",
                f"{p.interface} is administratively down",
                decisive,
            )
        if p.up and not oper:
            return Judgement.failed(
                f"{where} est activée mais le lien est tombé",
                f"{p.interface} is up but its link is down",
                decisive,
            )
        if not p.up and admin:
            return Judgement.failed(
                f"{where} n'est pas désactivée", f"{p.interface} is not shut down", decisive
            )
        if p.address is not None:
            decisive += f", adresses : {', '.join(addresses) or 'aucune'}"
            if str(p.address) not in addresses:
                return Judgement.failed(
                    f"{where} n'a pas l'adresse {p.address}",
                    f"{p.interface} lacks address {p.address}",
                    decisive,
                )
        state_fr = "active" if p.up else "désactivée"
        return Judgement.passed(
            f"{where} est {state_fr}" + (f" avec l'adresse {p.address}" if p.address else ""),
            f"{p.interface} is {'up' if p.up else 'down'}"
            + (f" with {p.address}" if p.address else ""),
            decisive,
        )


@register_check
class StaticRoute(DeviceCheck["StaticRoute.Params"]):
    name = "netdev.route"
    summary = "A static route (or the default route) through the given next hop, as configured"
    node_kinds = ROUTER

    class Params(PluginParams):
        prefix: ipaddress.IPv4Network
        next_hop: ipaddress.IPv4Address | None = None
        present: bool = True

    def collect(self, session: Any, params: Params) -> Evidence:
        ev = Evidence()
        cli(session, ev, "show running-config")
        return ev

    def decide(self, evidence: Evidence, p: Params) -> Judgement:
        res = output(evidence, 0)
        if not res.ok or not looks_like_running_config(res.stdout):
            return Judgement.error(
                "la configuration du routeur n'a pas pu être lue",
                f"unexpected running-config: {res.stdout[:120]!r}",
            )
        routes = [r for r in static_routes(res.stdout) if r[0] == p.prefix]
        matching = [r for r in routes if p.next_hop is None or r[1] == str(p.next_hop)]
        route_fr = f"la route vers {p.prefix}" + (f" via {p.next_hop}" if p.next_hop else "")
        decisive = " | ".join(r[2] for r in routes) or f"aucune ligne « ip route {p.prefix} »"
        if p.present and not matching:
            other = f" (configurée : {decisive})" if routes else ""
            return Judgement.failed(
                f"{route_fr} n'est pas configurée{other}", f"route to {p.prefix} missing", decisive
            )
        if not p.present and matching:
            return Judgement.failed(
                f"{route_fr} est encore configurée",
                f"route to {p.prefix} still configured",
                decisive,
            )
        return Judgement.passed(
            f"{route_fr} {'est' if p.present else 'n’est pas'} configurée",
            f"route to {p.prefix} {'present' if p.present else 'absent'}",
            decisive,
        )


@register_check
class DhcpRelay(DeviceCheck["DhcpRelay.Params"]):
    name = "netdev.dhcp_relay"
    summary = "DHCP requests on an interface are relayed to a server (dnsmasq dhcp-relay, loaded)"
    node_kinds = ROUTER
    # dnsmasq, not FRR, relays on the lab router: its files and service are read in the node.
    session = "command"

    class Params(PluginParams):
        interface: str = Field(pattern=IFNAME_PATTERN)
        server: ipaddress.IPv4Address

    def collect(self, session: CommandSession, params: Params) -> Evidence:
        ev = Evidence()
        ev.add(session.run(["ip", "-j", "-4", "addr", "show", "dev", params.interface]))
        ev.add(
            session.run(
                [
                    "systemctl",
                    "show",
                    "--timestamp=unix",
                    "--property=ActiveState,ActiveEnterTimestamp",
                    "dnsmasq.service",
                ]
            )
        )
        ev.add(
            session.run(["grep", "-rHs", "^[[:space:]]*dhcp-relay[[:space:]]*=", *DNSMASQ_FILES])
        )
        ev.add(
            session.run(
                ["find", *DNSMASQ_FILES, "-maxdepth", "1", "-type", "f", "-printf", "%T@ %p\\n"]
            )
        )
        return ev

    def decide(self, evidence: Evidence, p: Params) -> Judgement:
        addr, unit, grep, mtimes = (output(evidence, i) for i in range(4))
        link = ip_link(addr)
        if link is None:
            return Judgement.failed(
                f"l'interface {p.interface} n'existe pas",
                f"no interface {p.interface}",
                addr.stderr.strip(),
            )
        local = {a["local"] for a in link.get("addr_info", []) if a.get("family") == "inet"}
        props = dict(line.split("=", 1) for line in unit.stdout.splitlines() if "=" in line)
        if "ActiveState" not in props:
            return Judgement.error(
                "état de dnsmasq illisible", f"unexpected systemctl output: {unit.stdout[:120]!r}"
            )
        if grep.rc not in (0, 1, 2):
            return Judgement.error(
                "lecture de la configuration de dnsmasq impossible", f"grep rc {grep.rc}"
            )
        relays = []
        for line in grep.stdout.splitlines():
            path, _, setting = line.partition(":")
            fields = [f.strip() for f in setting.split("=", 1)[1].split("#")[0].split(",")]
            relays.append((path, fields, setting.strip()))
        here = [r for r in relays if r[1][0] in local or r[1][0] == p.interface]
        good = [r for r in here if len(r[1]) > 1 and r[1][1] == str(p.server)]
        decisive = " | ".join(f"{path}: {s}" for path, _, s in relays) or "aucune ligne dhcp-relay"
        if not good:
            if here:
                return Judgement.failed(
                    f"le relais DHCP de {p.interface} n'envoie pas vers {p.server}",
                    f"relay on {p.interface} does not point to {p.server}",
                    decisive,
                )
            return Judgement.failed(
                f"aucun relais DHCP sur {p.interface} "
                f"({', '.join(sorted(local)) or 'sans adresse'})",
                f"no DHCP relay on {p.interface}",
                decisive,
            )
        state = props["ActiveState"]
        if state != "active":
            return Judgement.failed(
                f"le relais est configuré mais dnsmasq n'est pas démarré ({state})",
                f"relay configured but dnsmasq is {state}",
                f"ActiveState={state} ; {decisive}",
            )
        started = float(props.get("ActiveEnterTimestamp", "").lstrip("@") or 0)
        changed = {
            path: float(stamp)
            for stamp, _, path in (row.partition(" ") for row in mtimes.stdout.splitlines())
            if stamp
        }
        # ActiveEnterTimestamp has whole seconds: a file written in the second of the
        # restart is not "newer".
        if changed.get(good[0][0], 0.0) >= started + 1:
            return Judgement.failed(
                "le relais est configuré mais dnsmasq n'a pas été redémarré depuis",
                "relay configured but dnsmasq was not restarted since",
                f"{good[0][0]} modifié après le démarrage de dnsmasq "
                f"({props.get('ActiveEnterTimestamp')})",
            )
        return Judgement.passed(
            f"les requêtes DHCP reçues sur {p.interface} sont relayées vers {p.server}",
            f"DHCP on {p.interface} relayed to {p.server}",
            f"{good[0][0]}: {good[0][2]}",
        )


@register_check
class ConfigSaved(DeviceCheck["ConfigSaved.Params"]):
    name = "netdev.config_saved"
    summary = (
        "The running configuration is saved (running equals /etc/frr/frr.conf) and the saved "
        "one holds the given lines"
    )
    node_kinds = ROUTER
    # FRR's vtysh has no "show startup-config": the saved file is read inside the node.
    session = "command"

    class Params(PluginParams):
        lines: list[str] = Field(
            default=[],
            description="lines the saved configuration must hold (the fix itself, saved): "
            "without them, a configuration saved at exam start would pass before any work",
        )

    def collect(self, session: CommandSession, params: Params) -> Evidence:
        ev = Evidence()
        ev.add(session.run(["vtysh", "-c", "show running-config"]))
        ev.add(session.run(["cat", FRR_CONF]))
        return ev

    def decide(self, evidence: Evidence, params: Params) -> Judgement:
        running, saved = output(evidence, 0), output(evidence, 1)
        if not running.ok or not looks_like_running_config(running.stdout):
            return Judgement.error(
                "la configuration courante n'a pas pu être lue", "unreadable running-config"
            )
        if not saved.ok:
            if "No such file" in saved.stderr:
                return Judgement.failed(
                    "aucune configuration n'est enregistrée",
                    f"{FRR_CONF} does not exist",
                    saved.stderr.strip(),
                )
            return Judgement.error(
                f"{FRR_CONF} illisible", f"cannot read {FRR_CONF}: {saved.stderr.strip()[:120]}"
            )
        run_lines, saved_lines = set(config_lines(running.stdout)), set(config_lines(saved.stdout))
        unsaved = sorted(run_lines - saved_lines)
        stale = sorted(saved_lines - run_lines)
        if unsaved or stale:
            diff = [f"+ {x}" for x in unsaved] + [f"- {x}" for x in stale]
            return Judgement.failed(
                "la configuration courante n'est pas enregistrée (write memory)",
                "running configuration differs from the saved one",
                "différences (+ courante seulement, - enregistrée seulement) : "
                + " ; ".join(diff[:6]),
            )
        absent = [x for x in config_lines("\n".join(params.lines)) if x not in saved_lines]
        if absent:
            return Judgement.failed(
                "la configuration enregistrée ne contient pas la correction attendue",
                "the saved configuration lacks the expected lines",
                f"absent de {FRR_CONF} : " + " ; ".join(absent),
            )
        return Judgement.passed(
            "la configuration courante est enregistrée",
            "running configuration equals the saved one",
            f"{len(run_lines)} lignes identiques dans show running-config et {FRR_CONF}",
        )
