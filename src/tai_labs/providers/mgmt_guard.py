"""The management network's guard: nodes reach the host there, never each other, and never
under another node's (or the host's) name.

Three layers, all undone by ``remove`` (``down``):

- **isolated bridge ports**: each node's host-side management interface (LXC veth, libvirt
  tap) is an isolated port of the management bridge, so the bridge forwards nothing between
  two nodes; only the bridge itself (the host) talks to them. The flag belongs to the port,
  which a node's restart re-creates: engines set it after each start, ``ensure`` re-checks it;
- **a bridge-family nft table** (named like the lab's inet table) that holds regardless of
  port flags: a frame from a node's port is accepted only as IPv4 or ARP whose source MAC,
  ARP sender MAC and sender/source IPv4 are that node's; nothing is forwarded between
  management ports. The kernel here has no ``meta ibrname``, so ports are named in a set;
- **permanent neighbour entries** on the host for each node's address: no ARP reply,
  gratuitous or not, changes where the host sends a node's traffic.

What a node may send *to* the host at layer 3 stays the inet table's business
(``providers.network``: only replies to connections the host opened).
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tai_labs.locations import locations
from tai_labs.private_files import write_private
from tai_labs.providers import naming
from tai_labs.providers.errors import CommandError, NetworkError
from tai_labs.providers.hostcmd import run
from tai_labs.providers.seed import derived_mac

_MAC_RE = re.compile(r"[0-9a-f]{2}(:[0-9a-f]{2}){5}")
#: Index of the management NIC among a node's NICs (``NodeSpec.all_nics`` puts it first).
MGMT_NIC_INDEX = 0


@dataclass(frozen=True)
class MgmtPort:
    """One node on the management bridge: its host-side port, MAC and address."""

    port: str
    mac: str
    ip: ipaddress.IPv4Address


def node_port(
    lab_id: str, number: int, resource: str, ip: ipaddress.IPv4Address, mac: str | None = None
) -> MgmtPort:
    """The management port of node ``number``; ``mac`` None: the MAC engines derive for it."""
    return check_port(
        lab_id,
        MgmtPort(
            port=naming.veth_name(lab_id, number, MGMT_NIC_INDEX),
            mac=(mac or derived_mac(resource, MGMT_NIC_INDEX)).lower(),
            ip=ipaddress.IPv4Address(ip),
        ),
    )


def check_port(lab_id: str, port: MgmtPort) -> MgmtPort:
    """Every value that reaches an nft rule or an ``ip`` argument, checked against what the
    engine names and assigns (a state file edited by hand must not inject a rule)."""
    number = port.port[len(naming.if_prefix(lab_id)) + 1 : -1]
    try:
        expected = naming.veth_name(lab_id, int(number, 16), MGMT_NIC_INDEX)
    except ValueError:
        expected = ""
    if port.port != expected:
        raise NetworkError(f"{port.port!r} is not a management port of lab {lab_id}")
    if not _MAC_RE.fullmatch(port.mac) or int(port.mac[:2], 16) & 1:
        raise NetworkError(f"{port.mac!r} is not a unicast MAC address")
    if not isinstance(port.ip, ipaddress.IPv4Address):
        raise NetworkError(f"{port.ip!r} is not an IPv4 address")
    return port


def table_name(lab_id: str) -> str:
    return naming.nft_table(lab_id)


def ruleset(lab_id: str, ports: Sequence[MgmtPort]) -> str:
    """The lab's bridge table, replacing any older one in the same transaction."""
    table = table_name(lab_id)
    for p in ports:
        check_port(lab_id, p)
    names = ", ".join(f'"{p.port}"' for p in ports)
    bindings = ", ".join(f'"{p.port}" . {p.mac} . {p.ip}' for p in ports)
    port_set = f"    elements = {{ {names} }}\n" if ports else ""
    binding_set = f"    elements = {{ {bindings} }}\n" if ports else ""
    return (
        # Declaring the table first makes the delete valid when it does not exist yet.
        f"table bridge {table} {{}}\n"
        f"delete table bridge {table}\n"
        f"table bridge {table} {{\n"
        "  set mgmt_ports {\n    type ifname\n" + port_set + "  }\n"
        "  set mgmt_src {\n    type ifname . ether_addr . ipv4_addr\n" + binding_set + "  }\n"
        "  chain prerouting {\n"
        "    type filter hook prerouting priority filter; policy accept;\n"
        "    iifname != @mgmt_ports accept\n"
        # IPv4 only from the node's own MAC and address.
        "    ether type ip iifname . ether saddr . ip saddr @mgmt_src accept\n"
        # ARP for IPv4 over Ethernet only, sender MAC (both headers) and IP the node's own.
        "    ether type arp arp htype 1 arp ptype ip arp hlen 6 arp plen 4"
        " iifname . ether saddr . arp saddr ip @mgmt_src"
        " iifname . arp saddr ether . arp saddr ip @mgmt_src accept\n"
        # Anything else from a node (forged sources, IPv6, VLAN tags, other protocols).
        "    counter drop\n"
        "  }\n"
        "  chain forward {\n"
        "    type filter hook forward priority filter; policy accept;\n"
        # A frame forwarded from a management port goes to another: node to node.
        "    iifname @mgmt_ports counter drop\n"
        "  }\n"
        "}\n"
    )


# -- state --------------------------------------------------------------------------------


def _state_file(lab_id: str) -> Path:
    return locations().lab(naming.check_lab_id(lab_id)) / "mgmt_guard.json"


def _save(lab_id: str, ports: Sequence[MgmtPort]) -> None:
    data = [{"port": p.port, "mac": p.mac, "ip": str(p.ip)} for p in ports]
    path = _state_file(lab_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_private(path, json.dumps(data, indent=2))


def load(lab_id: str) -> list[MgmtPort] | None:
    """The ports ``install`` recorded; None when the lab has no guard yet."""
    path = _state_file(lab_id)
    if not path.is_file():
        return None
    try:
        items = json.loads(path.read_text())
        return [
            check_port(lab_id, MgmtPort(i["port"], i["mac"], ipaddress.IPv4Address(i["ip"])))
            for i in items
        ]
    except (ValueError, KeyError, TypeError) as exc:
        raise NetworkError(f"lab {lab_id}: unreadable management guard state {path}") from exc


# -- host state ---------------------------------------------------------------------------


def _apply_table(lab_id: str, ports: Sequence[MgmtPort]) -> None:
    try:
        run(["nft", "-f", "-"], input=ruleset(lab_id, ports).encode())
    except CommandError as exc:
        raise NetworkError(
            f"could not install the management guard of lab {lab_id}: {exc}"
        ) from exc


def _pin_neighbour(bridge: str, port: MgmtPort) -> None:
    run(["ip", "neigh", "replace", str(port.ip), "lladdr", port.mac, "dev", bridge,
         "nud", "permanent"])  # fmt: skip


def pinned_neighbours(bridge: str) -> dict[str, str]:
    """The host's permanent neighbour entries on ``bridge``: address -> MAC."""
    proc = run(["ip", "-j", "-4", "neigh", "show", "dev", bridge, "nud", "permanent"], check=False)
    if proc.returncode != 0:
        return {}
    entries = json.loads(proc.stdout or b"[]")
    return {str(e["dst"]): str(e.get("lladdr", "")).lower() for e in entries if "dst" in e}


def port_isolated(port: str) -> bool | None:
    """Whether the bridge port is isolated; None when no such port exists."""
    proc = run(["ip", "-j", "-d", "link", "show", "dev", port], check=False)
    if proc.returncode != 0:
        return None
    links = json.loads(proc.stdout or b"[]")
    slave = (links[0].get("linkinfo") or {}).get("info_slave_data") or {} if links else {}
    return bool(slave.get("isolated"))


def isolate_port(lab_id: str, number: int) -> bool:
    """Make node ``number``'s management port isolated, if it is on the management bridge.

    Engines call it after each start: the port is re-created with the node. True if set.
    """
    return _isolate(lab_id, naming.veth_name(lab_id, number, MGMT_NIC_INDEX))


def _isolate(lab_id: str, port: str) -> bool:
    proc = run(["ip", "-j", "link", "show", "dev", port], check=False)
    if proc.returncode != 0:
        return False
    links = json.loads(proc.stdout or b"[]")
    if not links or links[0].get("master") != naming.mgmt_bridge_name(lab_id):
        return False
    run(["ip", "link", "set", "dev", port, "type", "bridge_slave", "isolated", "on"])
    return True


def table_intact(lab_id: str, ports: Sequence[MgmtPort]) -> bool:
    """Is the bridge table there, with its rules and every recorded port in its sets?"""
    proc = run(["nft", "-j", "list", "table", "bridge", table_name(lab_id)], check=False)
    if proc.returncode != 0:
        return False
    try:
        items = json.loads(proc.stdout or b"{}").get("nftables", [])
    except ValueError:
        return False
    chains = {i["rule"].get("chain") for i in items if isinstance(i, dict) and "rule" in i}
    in_set: set[str] = set()
    for item in items:
        if isinstance(item, dict) and item.get("set", {}).get("name") == "mgmt_ports":
            in_set = {str(e) for e in item["set"].get("elem", [])}
    return {"prerouting", "forward"} <= chains and {p.port for p in ports} <= in_set


def bridge_mac(lab_id: str) -> str:
    """The management bridge's own, fixed MAC address."""
    return derived_mac(naming.mgmt_bridge_name(lab_id), 0)


def install(lab_id: str, ports: Sequence[MgmtPort]) -> None:
    """Guard the lab's management bridge for ``ports`` (every node of the lab); idempotent."""
    bridge = naming.mgmt_bridge_name(lab_id)
    ports = [check_port(lab_id, p) for p in ports]
    _save(lab_id, ports)
    _apply_table(lab_id, ports)
    # A bridge takes the lowest MAC of its ports unless given one, and a change of the
    # bridge's MAC flushes its neighbours, permanent ones too: the first node to start
    # would undo the pins. A MAC of its own never changes.
    run(["ip", "link", "set", "dev", bridge, "address", bridge_mac(lab_id)])
    for port in ports:
        _pin_neighbour(bridge, port)
        _isolate(lab_id, port.port)


def ensure(lab_id: str) -> list[str]:
    """Put back whatever of the recorded guard is missing; what was put back (empty: intact)."""
    ports = load(lab_id)
    if ports is None:
        return []
    bridge = naming.mgmt_bridge_name(lab_id)
    fixed = []
    if not table_intact(lab_id, ports):
        _apply_table(lab_id, ports)
        fixed.append(f"nft table bridge {table_name(lab_id)}")
    pinned = pinned_neighbours(bridge)
    for port in ports:
        if pinned.get(str(port.ip)) != port.mac:
            _pin_neighbour(bridge, port)
            fixed.append(f"neighbour {port.ip}")
        if port_isolated(port.port) is False:
            _isolate(lab_id, port.port)
            fixed.append(f"isolation of {port.port}")
    return fixed


def remove(lab_id: str) -> bool:
    """Remove the bridge table and the pinned neighbours; True if the table was there."""
    bridge = naming.mgmt_bridge_name(lab_id)
    ports: list[MgmtPort] = []
    # Unreadable state: the bridge's own entries go with the bridge (deleted after this).
    with contextlib.suppress(NetworkError):
        ports = load(lab_id) or []
    for port in ports:
        run(["ip", "neigh", "del", str(port.ip), "dev", bridge], check=False)
    removed = (
        run(["nft", "delete", "table", "bridge", table_name(lab_id)], check=False).returncode == 0
    )
    _state_file(lab_id).unlink(missing_ok=True)
    return removed
