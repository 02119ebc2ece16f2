"""The management guard's rules, values and bookkeeping, with a fake ``run`` (no root needed).

The same guard on a real lab, attacked from a node: tests/integration/test_mgmt_spoofing.py.
"""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from tai_labs.providers import mgmt_guard, naming
from tai_labs.providers.errors import NetworkError
from tai_labs.providers.mgmt_guard import MgmtPort
from tai_labs.providers.seed import derived_mac
from tai_labs.providers.vm_domain import DomainConfig, DomainNic, domain_xml

LAB = "abc123"
IP = ipaddress.IPv4Address


def _ports() -> list[MgmtPort]:
    return [
        mgmt_guard.node_port(LAB, 1, f"{LAB}-dc1", IP("100.64.9.11")),
        mgmt_guard.node_port(LAB, 2, f"{LAB}-pc1", IP("100.64.9.12"), mac="02:AA:bb:cc:dd:ee"),
    ]


def test_a_nodes_port_is_its_management_veth_with_the_mac_engines_give_it() -> None:
    dc, pc = _ports()
    assert dc.port == naming.veth_name(LAB, 1, 0) == "tlabc123n010"
    assert dc.mac == derived_mac(f"{LAB}-dc1", 0)
    assert pc.mac == "02:aa:bb:cc:dd:ee"


@pytest.mark.parametrize(
    "port",
    [
        MgmtPort("tlabc123n011", "02:00:00:00:00:01", IP("100.64.9.11")),  # a lab NIC, not mgmt
        MgmtPort("tlzzz999n010", "02:00:00:00:00:01", IP("100.64.9.11")),  # another lab's
        MgmtPort('tlabc123n010" accept', "02:00:00:00:00:01", IP("100.64.9.11")),
        MgmtPort("tlabc123n010", "03:00:00:00:00:01", IP("100.64.9.11")),  # multicast
        MgmtPort("tlabc123n010", "02:00:00:00:00:01 accept", IP("100.64.9.11")),
        MgmtPort("tlabc123n010", "02:00:00:00:00:01\n", IP("100.64.9.11")),
        MgmtPort("tlabc123n010", "02:00:00:00:00:01", "1.2.3.4 accept"),  # type: ignore[arg-type]
    ],
)
def test_a_value_that_is_not_what_the_engine_names_never_reaches_a_rule(port: MgmtPort) -> None:
    with pytest.raises(NetworkError):
        mgmt_guard.check_port(LAB, port)
    with pytest.raises(NetworkError):
        mgmt_guard.ruleset(LAB, [port])


def test_the_ruleset_binds_each_port_to_its_mac_and_address_and_forwards_nothing() -> None:
    text = mgmt_guard.ruleset(LAB, _ports())
    dc, pc = _ports()
    assert f'"{dc.port}" . {dc.mac} . 100.64.9.11' in text
    assert f'"{pc.port}" . {pc.mac} . 100.64.9.12' in text
    # Replaced atomically: declare, delete, define in one transaction.
    assert text.startswith(f"table bridge tailabs_{LAB} {{}}\ndelete table bridge tailabs_{LAB}\n")
    prerouting = text.split("chain prerouting")[1].split("chain forward")[0]
    # Accepted: IPv4 and ARP that match the binding; the chain ends in a drop.
    assert "ether type ip iifname . ether saddr . ip saddr @mgmt_src accept" in prerouting
    assert "iifname . arp saddr ether . arp saddr ip @mgmt_src accept" in prerouting
    assert prerouting.strip().splitlines()[-2].strip() == "counter drop"
    assert "iifname @mgmt_ports counter drop" in text.split("chain forward")[1]


@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("nft") is None, reason="nft -c needs root and nftables"
)
def test_the_kernel_accepts_the_ruleset() -> None:
    for ports in (_ports(), []):
        proc = subprocess.run(
            ["nft", "-c", "-f", "-"],
            input=mgmt_guard.ruleset(LAB, ports).encode(),
            capture_output=True,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr.decode()


class FakeHost:
    """nft tables, permanent neighbours and port flags, as ``run`` would change them."""

    def __init__(self) -> None:
        self.table: str | None = None
        self.bridge_mac = ""
        self.neigh: dict[str, str] = {}
        self.isolated: dict[str, bool] = {p.port: False for p in _ports()}
        self.calls: list[list[str]] = []

    def __call__(
        self, argv: Sequence[str], *, check: bool = True, input: bytes | None = None, **_: Any
    ) -> subprocess.CompletedProcess[bytes]:
        argv = list(argv)
        self.calls.append(argv)
        rc, out = 0, b""
        if argv == ["nft", "-f", "-"]:
            self.table = (input or b"").decode()
        elif argv[:4] == ["nft", "-j", "list", "table"]:
            if self.table is None:
                rc = 1
            else:
                ports = [p.port for p in _ports() if f'"{p.port}"' in self.table]
                items = [
                    {"set": {"name": "mgmt_ports", "elem": ports}},
                    {"rule": {"chain": "prerouting"}},
                    {"rule": {"chain": "forward"}},
                ]
                out = json.dumps({"nftables": items}).encode()
        elif argv[:3] == ["nft", "delete", "table"]:
            rc, self.table = (0 if self.table else 1), None
        elif argv[:3] == ["ip", "neigh", "replace"]:
            self.neigh[argv[3]] = argv[5]
        elif argv[:3] == ["ip", "neigh", "del"]:
            self.neigh.pop(argv[3], None)
        elif argv[:3] == ["ip", "-j", "-4"]:
            out = json.dumps([{"dst": k, "lladdr": v} for k, v in self.neigh.items()]).encode()
        elif argv[:3] == ["ip", "-j", "link"] or argv[:4] == ["ip", "-j", "-d", "link"]:
            port = argv[-1]
            info = {"ifname": port, "master": f"tl{LAB}m"}
            info["linkinfo"] = {"info_slave_data": {"isolated": self.isolated[port]}}  # type: ignore[assignment]
            out = json.dumps([info]).encode()
        elif argv[:3] == ["ip", "link", "set"] and argv[5] == "address":
            self.bridge_mac = argv[6]
        elif argv[:3] == ["ip", "link", "set"]:
            self.isolated[argv[4]] = True
        else:
            raise AssertionError(f"unexpected command {argv}")
        return subprocess.CompletedProcess(argv, rc, out, b"")


@pytest.fixture
def host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeHost:
    monkeypatch.setenv("TAI_LABS_DATA", str(tmp_path))
    fake = FakeHost()
    monkeypatch.setattr(mgmt_guard, "run", fake)
    return fake


def test_install_pins_neighbours_isolates_ports_and_remove_undoes_it(host: FakeHost) -> None:
    mgmt_guard.install(LAB, _ports())
    assert host.table is not None and "mgmt_src" in host.table
    assert host.neigh == {str(p.ip): p.mac for p in _ports()}
    assert all(host.isolated.values())
    # Its own MAC, set before the pins: a MAC change would flush them.
    assert host.bridge_mac == mgmt_guard.bridge_mac(LAB) == derived_mac(f"tl{LAB}m", 0)
    set_mac = host.calls.index(["ip", "link", "set", "dev", f"tl{LAB}m", "address",
                                host.bridge_mac])  # fmt: skip
    assert all(c[:3] != ["ip", "neigh", "replace"] for c in host.calls[:set_mac])
    assert ["ip", "neigh", "replace", "100.64.9.11", "lladdr", _ports()[0].mac, "dev",
            f"tl{LAB}m", "nud", "permanent"] in host.calls  # fmt: skip
    assert mgmt_guard.ensure(LAB) == []  # all in place: nothing to put back

    assert mgmt_guard.remove(LAB) is True
    assert host.table is None and host.neigh == {}
    assert mgmt_guard.load(LAB) is None


def test_ensure_puts_back_what_vanished(host: FakeHost) -> None:
    mgmt_guard.install(LAB, _ports())
    host.table = None  # nft flush ruleset
    del host.neigh["100.64.9.12"]  # ip neigh flush
    host.isolated["tlabc123n010"] = False  # the node restarted: a new veth
    fixed = mgmt_guard.ensure(LAB)
    assert fixed == [
        f"nft table bridge tailabs_{LAB}",
        "isolation of tlabc123n010",
        "neighbour 100.64.9.12",
    ]
    assert host.table is not None and len(host.neigh) == 2 and all(host.isolated.values())


def test_a_lab_without_a_guard_has_nothing_to_ensure(host: FakeHost) -> None:
    assert mgmt_guard.ensure(LAB) == []
    assert host.calls == []


def test_an_edited_state_file_is_refused_before_any_rule(host: FakeHost, tmp_path: Path) -> None:
    mgmt_guard.install(LAB, _ports())
    state = tmp_path / "labs" / LAB / "mgmt_guard.json"
    data = json.loads(state.read_text())
    data[0]["mac"] = "02:00:00:00:00:01 } ; flush ruleset ; {"
    state.write_text(json.dumps(data))
    host.table = None
    with pytest.raises(NetworkError):
        mgmt_guard.ensure(LAB)
    assert host.table is None


def test_a_vms_management_nic_asks_libvirt_for_an_isolated_port() -> None:
    nics = (
        DomainNic(f"tl{LAB}m", "02:00:00:00:00:01", "tlabc123n010", isolated=True),
        DomainNic(f"tl{LAB}b0", "02:00:00:00:00:02", "tlabc123n011"),
    )
    cfg = DomainConfig("n", LAB, "n", 512, 1, "qemu", (), nics, Path("/tmp/c.log"))
    root = ET.fromstring(domain_xml(cfg))
    ports = [i.find("port") for i in root.iter("interface")]
    assert ports[0] is not None and ports[0].get("isolated") == "yes"
    assert ports[1] is None
