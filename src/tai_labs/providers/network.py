"""Lab networks on the host: one Linux bridge per lab network plus a management bridge.

Isolation model:
- lab bridges carry no host address (IPv4 or IPv6), so the host neither talks nor routes there;
- the management bridge has one host address, so the host (tests, graders, SSH) reaches the
  nodes there and only there;
- a per-lab nftables table drops anything routed into or out of the lab's interfaces and
  any connection a node opens to the host; per-interface ``forwarding=0`` is a second guard;
- optional NAT (off by default) lets the management network reach the host's uplinks.
"""

from __future__ import annotations

import fcntl
import ipaddress
import json
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from tai_labs.locations import locations
from tai_labs.providers import mgmt_guard, naming
from tai_labs.providers.errors import CommandError, NetworkError
from tai_labs.providers.hostcmd import require_root, require_tools, run, run_text

# Shared address space (RFC 6598): unlikely to clash with the private ranges scenarios use.
MGMT_POOL = ipaddress.IPv4Network("100.64.0.0/16")
MGMT_PREFIX = 24
MGMT_FIRST_NODE_HOST = 10  # node n gets .10+n; .1 is the host


@dataclass(frozen=True)
class LabNetwork:
    lab_id: str
    mgmt_bridge: str
    mgmt_subnet: str  # CIDR
    host_address: str  # CIDR on the management bridge
    bridges: dict[str, str]  # lab network name -> bridge name
    nat: bool = False

    def node_mgmt_address(self, node_no: int) -> ipaddress.IPv4Interface:
        """Management address of the node numbered node_no (1-based)."""
        net = ipaddress.IPv4Network(self.mgmt_subnet)
        return ipaddress.IPv4Interface(f"{net[MGMT_FIRST_NODE_HOST + node_no]}/{net.prefixlen}")

    @property
    def host_ip(self) -> ipaddress.IPv4Address:
        return ipaddress.IPv4Interface(self.host_address).ip


# -- link helpers ------------------------------------------------------------------------


def list_links() -> list[dict[str, object]]:
    return json.loads(run_text(["ip", "-j", "-d", "link", "show"]) or "[]")


def link_exists(name: str) -> bool:
    return run(["ip", "link", "show", "dev", name], check=False).returncode == 0


def _sysctl_if(family: str, ifname: str, key: str, value: str) -> None:
    path = Path(f"/proc/sys/net/{family}/conf/{ifname}/{key}")
    if path.exists():
        path.write_text(value)


def _sysctl_neigh(ifname: str, key: str, value: str) -> None:
    path = Path(f"/proc/sys/net/ipv4/neigh/{ifname}/{key}")
    if path.exists():
        path.write_text(value)


def create_bridge(name: str, alias: str) -> None:
    """A bridge with no host address and no routing; idempotent."""
    if not link_exists(name):
        run(["ip", "link", "add", "name", name, "type", "bridge", "stp_state", "0"])
    # Before link-up, so the host never gets an IPv6 link-local address on it.
    _sysctl_if("ipv6", name, "disable_ipv6", "1")
    _sysctl_if("ipv4", name, "forwarding", "0")
    run(["ip", "link", "set", "dev", name, "alias", alias])
    run(["ip", "link", "set", "dev", name, "up"])


def delete_link(name: str) -> bool:
    return run(["ip", "link", "del", "dev", name], check=False).returncode == 0


def lab_links(lab_id: str) -> list[str]:
    prefix = naming.if_prefix(lab_id)
    return [str(link["ifname"]) for link in list_links() if str(link["ifname"]).startswith(prefix)]


# -- management subnet allocation ----------------------------------------------------------


def _used_subnets() -> set[ipaddress.IPv4Network]:
    used = set()
    for entry in json.loads(run_text(["ip", "-j", "-4", "addr", "show"]) or "[]"):
        for info in entry.get("addr_info", []):
            net = ipaddress.IPv4Interface(f"{info['local']}/{info['prefixlen']}").network
            used.add(net)
    return used


def allocate_mgmt_subnet() -> ipaddress.IPv4Network:
    """The first /24 of the pool that no host interface uses (call under ``_net_lock``)."""
    used = _used_subnets()
    for candidate in list(MGMT_POOL.subnets(new_prefix=MGMT_PREFIX))[1:]:
        if not any(candidate.overlaps(u) for u in used):
            return candidate
    raise NetworkError(f"no free management subnet left in {MGMT_POOL}")


@contextmanager
def _net_lock() -> Iterator[None]:
    # Two processes creating labs at once must not pick the same subnet.
    lock = locations().network_lock
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


# -- nftables --------------------------------------------------------------------------------


def _nft_ruleset(net: LabNetwork) -> str:
    prefix = naming.if_prefix(net.lab_id)
    table = naming.nft_table(net.lab_id)
    nat_forward = ""
    nat_table = ""
    if net.nat:
        # Only the management bridge may leave, and only towards non-lab interfaces.
        nat_forward = (
            f'    iifname "{net.mgmt_bridge}" oifname != "{naming.IF_PREFIX}*" accept\n'
            f'    oifname "{net.mgmt_bridge}" ct state established,related accept\n'
        )
        nat_table = (
            "  chain postrouting {\n"
            "    type nat hook postrouting priority srcnat; policy accept;\n"
            f'    ip saddr {net.mgmt_subnet} oifname != "{naming.IF_PREFIX}*" masquerade\n'
            "  }\n"
        )
    # br_netfilter (if loaded) shows bridged frames to the forward hook with the bridge as
    # both in and out interface: those stay inside one lab network and are accepted first.
    same_bridge = "".join(
        f'    iifname "{b}" oifname "{b}" accept\n'
        for b in [net.mgmt_bridge, *net.bridges.values()]
    )
    return (
        f"table inet {table} {{\n"
        "  chain forward {\n"
        "    type filter hook forward priority filter - 10; policy accept;\n"
        f"{same_bridge}"
        f"{nat_forward}"
        f'    iifname "{prefix}*" drop\n'
        f'    oifname "{prefix}*" drop\n'
        "  }\n"
        "  chain input {\n"
        "    type filter hook input priority filter - 10; policy accept;\n"
        f'    iifname "{prefix}*" ct state established,related accept\n'
        f'    iifname "{prefix}*" drop\n'
        "  }\n"
        f"{nat_table}"
        "}\n"
    )


def _apply_nft(net: LabNetwork) -> None:
    table = naming.nft_table(net.lab_id)
    run(["nft", "delete", "table", "inet", table], check=False)
    try:
        run(["nft", "-f", "-"], input=_nft_ruleset(net).encode())
    except CommandError as exc:
        raise NetworkError(f"could not install the firewall of lab {net.lab_id}: {exc}") from exc


def delete_nft(lab_id: str) -> bool:
    return (
        run(["nft", "delete", "table", "inet", naming.nft_table(lab_id)], check=False).returncode
        == 0
    )


def nft_table_intact(lab_id: str) -> bool:
    """Is the lab's table there with rules in its forward and input chains?

    ``nft flush ruleset`` (or a firewall service reloading its own rules) removes the table;
    ``nft flush table`` empties it: either way the lab's networks are no longer isolated.
    """
    table = naming.nft_table(lab_id)
    proc = run(["nft", "-j", "list", "table", "inet", table], check=False)
    if proc.returncode != 0:
        return False
    try:
        items = json.loads(proc.stdout or b"{}").get("nftables", [])
    except ValueError:
        return False
    with_rules = {i["rule"].get("chain") for i in items if isinstance(i, dict) and "rule" in i}
    return {"forward", "input"} <= with_rules


def ensure_lab_firewall(lab_id: str) -> bool | None:
    """Re-install the lab's nft table if it is missing or emptied.

    True: it was, and is back; False: it was intact; None: nothing to check (not root, so
    the table can be neither read nor installed, or the lab has no network yet).
    """
    if os.geteuid() != 0 or not _state_file(naming.check_lab_id(lab_id)).is_file():
        return None
    net = load_lab_network(lab_id)
    with _net_lock():  # two commands on one lab must not both delete and re-add it
        # The management guard (bridge table, pinned neighbours, isolated ports) too.
        guard_fixed = bool(mgmt_guard.ensure(lab_id))
        if nft_table_intact(lab_id):
            return guard_fixed
        _apply_nft(net)
    return True


def lab_nft_tables() -> set[str]:
    """Lab ids that have an nftables table."""
    out = run_text(["nft", "list", "tables"], check=False)
    labs = set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] == "table":
            lab = naming.lab_of_nft_table(parts[2])
            if lab:
                labs.add(lab)
    return labs


# -- lab networks ----------------------------------------------------------------------------


def _state_file(lab_id: str) -> Path:
    return locations().lab(lab_id) / "network.json"


def create_lab_network(
    lab_id: str,
    networks: Sequence[str],
    *,
    nat: bool = False,
    mgmt_subnet: str | None = None,
) -> LabNetwork:
    """Create the lab's bridges (one per network name), management bridge and firewall."""
    require_root("creating lab networks")
    require_tools("ip", "nft")
    naming.check_lab_id(lab_id)
    if len(set(networks)) != len(networks):
        raise NetworkError("lab network names must be unique")
    with _net_lock():
        subnet = ipaddress.IPv4Network(mgmt_subnet) if mgmt_subnet else allocate_mgmt_subnet()
        net = LabNetwork(
            lab_id=lab_id,
            mgmt_bridge=naming.mgmt_bridge_name(lab_id),
            mgmt_subnet=str(subnet),
            host_address=f"{subnet[1]}/{subnet.prefixlen}",
            bridges={name: naming.bridge_name(lab_id, i) for i, name in enumerate(networks)},
            nat=nat,
        )
        try:
            # Firewall first: no window in which a new bridge is unfiltered.
            _apply_nft(net)
            create_bridge(net.mgmt_bridge, f"tai-labs lab={lab_id} net=management")
            run(["ip", "addr", "replace", net.host_address, "dev", net.mgmt_bridge])
            # The host probes nodes while they boot; with the default 1 s ARP retransmit a
            # probe sent a moment too early delays reachability by a whole second.
            _sysctl_neigh(net.mgmt_bridge, "retrans_time_ms", "100")
            for name, bridge in net.bridges.items():
                create_bridge(bridge, f"tai-labs lab={lab_id} net={name}")
            if nat:
                Path("/proc/sys/net/ipv4/ip_forward").write_text("1")
                # That write reset every interface's forwarding flag to 1: put ours back.
                _reassert_forwarding(extra_nat={net.mgmt_bridge})
        except BaseException:
            delete_lab_network(lab_id)
            raise
        state = _state_file(lab_id)
        state.parent.mkdir(parents=True, exist_ok=True)
        state.write_text(json.dumps(asdict(net), indent=2))
    return net


def _reassert_forwarding(extra_nat: set[str]) -> None:
    """forwarding=0 on every lab interface except management bridges of NAT labs."""
    nat_bridges = set(extra_nat)
    for state in locations().labs.glob("*/network.json"):
        data = json.loads(state.read_text())
        if data.get("nat"):
            nat_bridges.add(data["mgmt_bridge"])
    for link in list_links():
        name = str(link["ifname"])
        if naming.lab_of_ifname(name):
            _sysctl_if("ipv4", name, "forwarding", "1" if name in nat_bridges else "0")


def load_lab_network(lab_id: str) -> LabNetwork:
    state = _state_file(naming.check_lab_id(lab_id))
    if not state.is_file():
        raise NetworkError(f"lab {lab_id} has no network (no {state})")
    return LabNetwork(**json.loads(state.read_text()))


def delete_lab_network(lab_id: str) -> list[str]:
    """Delete every interface named after the lab and its firewall table."""
    removed = []
    if mgmt_guard.remove(lab_id):
        removed.append(f"nft:bridge {naming.nft_table(lab_id)}")
    # veths first: deleting a bridge leaves its ports, which would then be orphans.
    kind_at = len(naming.if_prefix(lab_id))
    for name in sorted(lab_links(lab_id), key=lambda n: n[kind_at] != "n"):
        if delete_link(name):
            removed.append(name)
    if delete_nft(lab_id):
        removed.append(f"nft:{naming.nft_table(lab_id)}")
    _state_file(lab_id).unlink(missing_ok=True)
    return removed
