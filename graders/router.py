"""Checks on network devices: the FRR router (IOS-like vtysh) and the Open vSwitch switch.

How each is asked:

- Router CLI checks (``netdev.interface``, ``netdev.route``) send IOS-like commands to a
  ``DeviceSession`` (netmiko ``cisco_ios`` to vtysh); given a ``CommandSession`` instead they
  run the same command with ``vtysh -c`` inside the node.
- The switch has no CLI: Open vSwitch is asked with ``ovs-vsctl --format=json`` and the
  kernel with ``ip -j``, through a ``CommandSession`` (or a ``DeviceSession`` whose CLI is a
  shell). VLANs "exist" when declared as ``external_ids:vlan-<id>=<name>`` on bridge ``sw0``
  (how the switch role records them) or used by a port's ``tag``/``trunks``.
- ``netdev.dhcp_relay`` and ``netdev.config_saved`` need files of the node (dnsmasq does
  the relay, not FRR; FRR has no ``show startup-config``): they use a command session.
"""

from __future__ import annotations

import ipaddress
import json
import re
import shlex
from collections.abc import Callable, Sequence
from typing import Any

from pydantic import Field

from graders._decoding import decoding
from tai_labs.grading.base import Check, register_check
from tai_labs.grading.model import Evidence, Judgement
from tai_labs.kinds import NodeKind
from tai_labs.plugins import NoParams, ParamsT, PluginParams
from tai_labs.sessions.base import CommandResult, CommandSession, DeviceSession, SessionError
from tai_labs.sessions.device import BRIDGE, FRR_CONF, port_ifname, svi_ifname

SWITCH = frozenset({NodeKind.SWITCH})
ROUTER = frozenset({NodeKind.ROUTER})
DEVICES = SWITCH | ROUTER

#: Interface names go into CLI commands: letters, digits and / . - _ only.
IFNAME_PATTERN = r"^[A-Za-z][A-Za-z0-9/._-]{0,31}$"
DNSMASQ_FILES = ("/etc/dnsmasq.conf", "/etc/dnsmasq.d")
PORT_COLUMNS = "name,tag,trunks,vlan_mode,external_ids"


# -- collect helpers ---------------------------------------------------------------------------


def cli(session: Any, evidence: Evidence, command: str) -> CommandResult:
    """An IOS-like exec command on the router, over its CLI or with vtysh inside the node."""
    if isinstance(session, DeviceSession):
        return evidence.add(session.send(command))
    if isinstance(session, CommandSession):
        return evidence.add(session.run(["vtysh", "-c", command]))
    raise SessionError(f"no CLI through a {type(session).__name__}")


def shell(session: Any, evidence: Evidence, argv: Sequence[str]) -> CommandResult:
    """A command inside the node (the switch has no CLI of its own)."""
    if isinstance(session, CommandSession):
        return evidence.add(session.run(argv))
    if isinstance(session, DeviceSession):
        return evidence.add(session.send(shlex.join(argv)))
    raise SessionError(f"cannot run commands through a {type(session).__name__}")


def node_shell(session: Any) -> CommandSession:
    """The node's command session: the session itself, or the one an ``OvsSession`` wraps."""
    if isinstance(session, CommandSession):
        return session
    inner = getattr(session, "command", None)
    if isinstance(inner, CommandSession):
        return inner
    raise SessionError(f"no command session to the node through a {type(session).__name__}")


def switch_ifname(name: str) -> str:
    """The Linux name of a switch interface as a scenario writes it: Gi0/1, Vlan10, gi0-1."""
    svi = re.fullmatch(r"(?i)vlan(\d+)", name)
    if svi:
        return svi_ifname(int(svi.group(1)))
    try:
        return port_ifname(name)
    except ValueError:  # a name the switch keeps for itself (eth0, up-lan): use it as it is
        return name


# -- decoding helpers --------------------------------------------------------------------------


def _decoding(judge: Callable[[], Judgement]) -> Judgement:
    return decoding(judge, "réponse de l'équipement", "device output")


def _output(evidence: Evidence, index: int) -> CommandResult:
    if len(evidence.commands) <= index:
        raise ValueError("a command is missing from the evidence")
    return evidence.commands[index]


def ovs_value(value: Any) -> Any:
    """OVSDB JSON -> Python: ["set", [...]] -> list, ["map", [[k, v]]] -> dict, else as is."""
    if isinstance(value, list) and len(value) == 2 and value[0] in ("set", "map", "uuid"):
        kind, inner = value
        if kind == "set":
            return [ovs_value(v) for v in inner]
        if kind == "map":
            return {str(k): ovs_value(v) for k, v in inner}
        return inner
    return value


def ovs_rows(text: str) -> list[dict[str, Any]]:
    """Rows of ``ovs-vsctl --format=json list``; ValueError if it is not that."""
    data = json.loads(text)
    headings, rows = data["headings"], data["data"]
    return [dict(zip(headings, (ovs_value(v) for v in row), strict=True)) for row in rows]


def int_set(value: Any) -> set[int]:
    """A set column of integers: OVSDB prints a one-element set as the bare value."""
    if value in ([], None, ""):
        return set()
    return {int(v) for v in value} if isinstance(value, list) else {int(value)}


def optional_int(value: Any) -> int | None:
    """tag-like columns: an empty set is "none"."""
    if value in ([], None, ""):
        return None
    return int(value)


def find_port(rows: list[dict[str, Any]], name: str) -> dict[str, Any] | None:
    wanted = {name.casefold(), switch_ifname(name).casefold()}
    for row in rows:
        label = str((row.get("external_ids") or {}).get("tai-labs-name", ""))
        if str(row["name"]).casefold() in wanted or (label and label.casefold() in wanted):
            return row
    return None


def describe_port(row: dict[str, Any]) -> str:
    parts = [f"port {row['name']}"]
    for col in ("tag", "trunks", "vlan_mode"):
        value = row.get(col)
        if value not in ([], None, ""):
            parts.append(f"{col}={value}")
    return " ".join(parts)


def port_mode(row: dict[str, Any]) -> tuple[str, int | None, set[int] | None]:
    """("access", vlan, None) or ("trunk", native vlan, allowed VLANs; None = all)."""
    tag = optional_int(row.get("tag"))
    trunks = int_set(row.get("trunks"))
    mode = row.get("vlan_mode") or None
    if mode == "access" or (mode is None and tag is not None):
        return "access", tag if tag is not None else 0, None
    if mode in ("dot1q-tunnel",):
        raise ValueError(f"vlan_mode {mode} is not a lab switch mode")
    allowed = set(trunks) if trunks else None
    if allowed is not None and tag is not None and mode in ("native-untagged", "native-tagged"):
        allowed.add(tag)
    return "trunk", tag, allowed


def ip_link(result: CommandResult) -> dict[str, Any] | None:
    """The link of ``ip -j addr show dev X``; None when the device does not exist."""
    if not result.ok:
        if "does not exist" in (result.stderr + result.stdout):
            return None
        raise ValueError(f"ip failed (rc {result.rc}): {result.stderr.strip()[:120]}")
    links = json.loads(result.stdout)
    if len(links) != 1:
        raise ValueError(f"ip returned {len(links)} links")
    return dict(links[0])


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


# A device check is given a DeviceSession or, for a device whose CLI is a shell, a
# CommandSession (see ``cli``/``shell``): the session type is left to each check.
class DeviceCheck(Check[ParamsT, Any]):
    session = "device"
    node_kinds = DEVICES


@register_check
class Vlan(DeviceCheck["Vlan.Params"]):
    name = "netdev.vlan"
    summary = "A VLAN exists (declared on sw0 or used by a port), with the given name"
    node_kinds = SWITCH

    class Params(PluginParams):
        vlan: int = Field(ge=1, le=4094)
        vlan_name: str | None = None
        exists: bool = True

    def collect(self, session: Any, params: Params) -> Evidence:
        ev = Evidence()
        shell(
            session,
            ev,
            ["ovs-vsctl", "--format=json", "--columns=name,external_ids", "list", "bridge", BRIDGE],
        )
        shell(
            session, ev, ["ovs-vsctl", "--format=json", f"--columns={PORT_COLUMNS}", "list", "port"]
        )
        return ev

    def judge(self, evidence: Evidence, params: Params) -> Judgement:
        return _decoding(lambda: self._judge(evidence, params))

    def _judge(self, evidence: Evidence, p: Params) -> Judgement:
        bridge, ports = _output(evidence, 0), _output(evidence, 1)
        if not bridge.ok or not ports.ok:
            bad = bridge if not bridge.ok else ports
            return Judgement.error(
                f"Open vSwitch n'a pas répondu : {bad.stderr.strip()[:200]}",
                f"ovs-vsctl failed: {bad.stderr.strip()[:200]}",
            )
        bridges = ovs_rows(bridge.stdout)
        if not bridges:
            return Judgement.error(f"le pont {BRIDGE} n'existe pas", f"bridge {BRIDGE} missing")
        declared = (bridges[0].get("external_ids") or {}).get(f"vlan-{p.vlan}")
        users = []
        for row in ovs_rows(ports.stdout):
            if optional_int(row.get("tag")) == p.vlan or p.vlan in int_set(row.get("trunks")):
                users.append(str(row["name"]))
        exists = declared is not None or bool(users)
        decisive = (
            f"external_ids:vlan-{p.vlan}={declared!r}" if declared is not None else "non déclaré"
        )
        decisive += f" ; ports : {', '.join(users) or 'aucun'}"
        if not p.exists:
            if exists:
                return Judgement.failed(
                    f"le VLAN {p.vlan} existe encore", f"VLAN {p.vlan} still exists", decisive
                )
            return Judgement.passed(
                f"le VLAN {p.vlan} n'existe pas", f"VLAN {p.vlan} does not exist", decisive
            )
        if not exists:
            return Judgement.failed(
                f"le VLAN {p.vlan} n'existe pas", f"VLAN {p.vlan} does not exist", decisive
            )
        if p.vlan_name is not None and (declared or "").casefold() != p.vlan_name.casefold():
            return Judgement.failed(
                f"le VLAN {p.vlan} existe mais ne s'appelle pas {p.vlan_name} "
                f"(nom : {declared or 'aucun'})",
                f"VLAN {p.vlan} exists but is not named {p.vlan_name} ({declared!r})",
                decisive,
            )
        return Judgement.passed(f"le VLAN {p.vlan} existe", f"VLAN {p.vlan} exists", decisive)


def _ports_judge(evidence: Evidence, name: str) -> dict[str, Any] | Judgement:
    res = _output(evidence, 0)
    if not res.ok:
        return Judgement.error(
            f"Open vSwitch n'a pas répondu : {res.stderr.strip()[:200]}",
            f"ovs-vsctl failed: {res.stderr.strip()[:200]}",
        )
    row = find_port(ovs_rows(res.stdout), name)
    if row is None:
        return Judgement.failed(
            f"le port {name} n'existe pas sur le commutateur",
            f"port {name} not on the switch",
            f"aucun port {switch_ifname(name)} dans {BRIDGE}",
        )
    return row


class PortCheck(DeviceCheck[ParamsT]):
    """A switch port's mode and VLANs, read from Open vSwitch's port table."""

    def collect(self, session: Any, params: Any) -> Evidence:
        ev = Evidence()
        shell(
            session, ev, ["ovs-vsctl", "--format=json", f"--columns={PORT_COLUMNS}", "list", "port"]
        )
        return ev

    def judge(self, evidence: Evidence, params: Any) -> Judgement:
        return _decoding(lambda: self._judge(evidence, params))

    def _judge(self, evidence: Evidence, p: Any) -> Judgement:
        raise NotImplementedError


@register_check
class AccessPort(PortCheck["AccessPort.Params"]):
    name = "netdev.access_port"
    summary = "A switch port is an access port in the given VLAN"
    node_kinds = SWITCH

    class Params(PluginParams):
        port: str = Field(pattern=IFNAME_PATTERN)
        vlan: int = Field(ge=1, le=4094)

    def _judge(self, evidence: Evidence, p: Params) -> Judgement:
        row = _ports_judge(evidence, p.port)
        if isinstance(row, Judgement):
            return row
        mode, vlan, allowed = port_mode(row)
        decisive = describe_port(row)
        if mode == "trunk":
            carried = "tous" if allowed is None else ",".join(map(str, sorted(allowed)))
            return Judgement.failed(
                f"le port {p.port} est un trunk (VLAN {carried}), pas un port d'accès",
                f"port {p.port} is a trunk, not an access port",
                decisive,
            )
        if vlan != p.vlan:
            return Judgement.failed(
                f"le port {p.port} est dans le VLAN {vlan}, pas dans le VLAN {p.vlan}",
                f"port {p.port} is in VLAN {vlan}, not {p.vlan}",
                decisive,
            )
        return Judgement.passed(
            f"le port {p.port} est un port d'accès du VLAN {p.vlan}",
            f"port {p.port} is an access port in VLAN {p.vlan}",
            decisive,
        )


@register_check
class Trunk(PortCheck["Trunk.Params"]):
    name = "netdev.trunk"
    summary = "A switch port is a trunk that allows exactly (or at least) the listed VLANs"
    node_kinds = SWITCH

    class Params(PluginParams):
        port: str = Field(pattern=IFNAME_PATTERN)
        allowed: list[int] = Field(min_length=1)
        exact: bool = False

    def _judge(self, evidence: Evidence, p: Params) -> Judgement:
        row = _ports_judge(evidence, p.port)
        if isinstance(row, Judgement):
            return row
        mode, vlan, allowed = port_mode(row)
        decisive = describe_port(row)
        if mode == "access":
            return Judgement.failed(
                f"le port {p.port} est un port d'accès (VLAN {vlan}), pas un trunk",
                f"port {p.port} is an access port, not a trunk",
                decisive,
            )
        wanted = set(p.allowed)
        shown = (
            "tous les VLAN" if allowed is None else "VLAN " + ",".join(map(str, sorted(allowed)))
        )
        ok = not p.exact if allowed is None else allowed == wanted if p.exact else wanted <= allowed
        want = ",".join(map(str, sorted(wanted)))
        if not ok:
            missing = sorted(wanted - allowed) if allowed is not None else []
            extra_fr = f" (manquent : {','.join(map(str, missing))})" if missing else ""
            return Judgement.failed(
                f"le trunk {p.port} laisse passer {shown}, attendu "
                f"{'exactement' if p.exact else 'au moins'} {want}{extra_fr}",
                f"trunk {p.port} carries {shown}, expected "
                f"{'exactly' if p.exact else 'at least'} {want}",
                decisive,
            )
        return Judgement.passed(
            f"le port {p.port} est un trunk qui laisse passer {shown}",
            f"port {p.port} is a trunk carrying {shown}",
            decisive,
        )


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

    def judge(self, evidence: Evidence, params: Params) -> Judgement:
        return _decoding(lambda: self._judge(evidence, params))

    def _judge(self, evidence: Evidence, p: Params) -> Judgement:
        res = _output(evidence, 0)
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

    def judge(self, evidence: Evidence, params: Params) -> Judgement:
        return _decoding(lambda: self._judge(evidence, params))

    def _judge(self, evidence: Evidence, p: Params) -> Judgement:
        res = _output(evidence, 0)
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

    def judge(self, evidence: Evidence, params: Params) -> Judgement:
        return _decoding(lambda: self._judge(evidence, params))

    def _judge(self, evidence: Evidence, p: Params) -> Judgement:
        addr, unit, grep, mtimes = (_output(evidence, i) for i in range(4))
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
class ConfigSaved(DeviceCheck[NoParams]):
    name = "netdev.config_saved"
    summary = "The running configuration is saved (running equals /etc/frr/frr.conf)"
    node_kinds = ROUTER
    # FRR's vtysh has no "show startup-config": the saved file is read inside the node.
    session = "command"

    def collect(self, session: CommandSession, params: NoParams) -> Evidence:
        ev = Evidence()
        ev.add(session.run(["vtysh", "-c", "show running-config"]))
        ev.add(session.run(["cat", FRR_CONF]))
        return ev

    def judge(self, evidence: Evidence, params: NoParams) -> Judgement:
        return _decoding(lambda: self._judge(evidence))

    def _judge(self, evidence: Evidence) -> Judgement:
        running, saved = _output(evidence, 0), _output(evidence, 1)
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
        return Judgement.passed(
            "la configuration courante est enregistrée",
            "running configuration equals the saved one",
            f"{len(run_lines)} lignes identiques dans show running-config et {FRR_CONF}",
        )
