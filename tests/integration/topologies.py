"""Topology pieces shared by the router, switch, grader and fault tests.

Each test module used to spell its lab out in full; the same router ``r`` between ``n1`` and
``n2``, the same switches ``sw``/``sw2`` and the same one-NIC clients came back in four files.
They are built here, once, as the plain dicts a scenario's ``topology:`` holds, and each
module assembles its lab from them (``roles_fixtures.scenario_from`` turns one into a
Scenario).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

Dict = dict[str, Any]

N1: Dict = {"name": "n1", "subnet": "10.1.0.0/24"}
N2: Dict = {"name": "n2", "subnet": "10.2.0.0/24"}
V10: Dict = {"name": "v10", "subnet": "10.10.0.0/24", "vlan": 10}
V20: Dict = {"name": "v20", "subnet": "10.20.0.0/24", "vlan": 20}
SWITCH_VLANS: list[Dict] = [{"id": 10, "name": "users"}, {"id": 20, "name": "servers"}]
#: n2's DHCP requests relayed to a server on n1.
RELAY_N2: Dict = {"relay": ["n2"], "relay_to": "10.1.0.10"}
#: The device password the tests give routers (the role's default must not be used).
DEVICE_PASSWORD = "Rout3r-test-pw"


def networks(*nets: Dict) -> list[Dict]:
    """Copies, so a test that edits its topology cannot change another's."""
    return [dict(net) for net in nets]


def client(name: str, network: str, address: str | None = None, gateway: str | None = None) -> Dict:
    """A linux-client with one NIC (address: CIDR, "dhcp", or None for unconfigured)."""
    interface: Dict = {"network": network}
    if address is not None:
        interface["address"] = address
    if gateway is not None:
        interface["gateway"] = gateway
    return {"name": name, "kind": "linux-client", "interfaces": [interface]}


def router(**settings: Any) -> Dict:
    """Router ``r``: 10.1.0.254 on n1, 10.2.0.254 on n2, a static route to 10.99.0.0/24.

    ``settings`` add to its ``router:`` section (dhcp, relay, relay_to...).
    """
    return {
        "name": "r",
        "kind": "router",
        "memory": 192,
        "interfaces": [
            {"network": "n1", "address": "10.1.0.254/24"},
            {"network": "n2", "address": "10.2.0.254/24"},
        ],
        "router": {"routes": [{"to": "10.99.0.0/24", "via": "10.2.0.1"}], **settings},
    }


def n1_scope(**options: Any) -> Dict:
    """A DHCP scope on n1 handing out .100-.150 with DNS 10.1.0.53, plus ``options``."""
    return {"network": "n1", "range": ["10.1.0.100", "10.1.0.150"], "dns": ["10.1.0.53"], **options}


def access(port: str, vlan: int, connects: str | None = None, **extra: Any) -> Dict:
    """An access port (``connects`` the node plugged into it, if any)."""
    spec: Dict = {"name": port, "vlan": vlan}
    if connects is not None:
        spec["connects"] = connects
    spec.update(extra)
    return spec


def trunk(port: str, connects: str, allowed: Sequence[int] = (10, 20)) -> Dict:
    return {"name": port, "mode": "trunk", "allowed": list(allowed), "connects": connects}


def switch(*ports: Dict) -> Dict:
    """Switch ``sw`` with VLANs 10 (users) and 20 (servers) and the given ports."""
    return {
        "name": "sw",
        "kind": "switch",
        "memory": 192,
        "switch": {"vlans": [dict(v) for v in SWITCH_VLANS], "ports": list(ports)},
    }


def svi_switch() -> Dict:
    """Switch ``sw2``: SVIs 10.10.0.254 (VLAN 10) and 10.20.0.254 (VLAN 20), trunk to sw."""
    return {
        "name": "sw2",
        "kind": "switch",
        "memory": 192,
        "interfaces": [
            {"network": "v10", "address": "10.10.0.254/24"},
            {"network": "v20", "address": "10.20.0.254/24"},
        ],
        "switch": {"ports": [trunk("Gi0/1", "sw")]},
    }
