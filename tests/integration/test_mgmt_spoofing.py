"""From root in a node, the management network gives nothing but the host's own connections.

One lab of the ``compte-verrouille`` scenario (dc1, box, pc1; faults off), brought up by the
real lifecycle and always removed. pc1 plays the attacker, as root (the exec channel), with
what its image has: ``ping``, ``ip`` and Python's raw ``AF_PACKET`` sockets (no arping, no
scapy). Each test states the host's view before and after. ``TAI_LABS_AD_LAB=<lab id>`` runs
on a lab already up (kept afterwards).
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import secrets
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from roles_fixtures import skip_unless_images

from conftest import host_problem
from tai_labs.providers import mgmt_guard, naming
from tai_labs.providers.seed import derived_mac

pytestmark = pytest.mark.integration

#: Runs in the attacking node: sends raw frames on eth0 (the management NIC).
#: argv: arp <src mac> <dst mac> <sender ip> <target ip>
#:       udp <src mac> <dst mac> <src ip> <dst ip> <port> <marker>
FORGE = r"""
import socket, struct, sys
kind, smac, dmac, sip, dip = sys.argv[1:6]
mac = lambda m: bytes.fromhex(m.replace(":", ""))
ip = socket.inet_aton
if kind == "arp":  # an ARP reply: "sip is at smac"
    body = struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 2, mac(smac), ip(sip), mac(dmac), ip(dip))
    frame = mac(dmac) + mac(smac) + b"\x08\x06" + body
else:
    data = sys.argv[7].encode()
    udp = struct.pack("!HHHH", 40000, int(sys.argv[6]), 8 + len(data), 0) + data
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, 0, 64, 17, 0, ip(sip), ip(dip))
    words = struct.unpack("!10H", hdr)
    total = sum(words)
    total = (total & 0xFFFF) + (total >> 16)
    total = (total & 0xFFFF) + (total >> 16)
    hdr = hdr[:10] + struct.pack("!H", ~total & 0xFFFF) + hdr[12:]
    frame = mac(dmac) + mac(smac) + b"\x08\x00" + hdr + udp
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(("eth0", 0))
for _ in range(3):
    s.send(frame)
"""


@pytest.fixture(scope="module")
def lab() -> Iterator[Any]:
    problem = host_problem("lxc-start", "lxc-attach", "ip", "nft")
    if problem:
        pytest.skip(problem)
    from tai_labs.errors import TaiLabsError
    from tai_labs.lab import lifecycle
    from tai_labs.lab.runtime import open_lab
    from tai_labs.scenario.catalog import find

    skip_unless_images("ad-dc", "router", "client")
    reuse = os.environ.get("TAI_LABS_AD_LAB")
    if reuse:
        yield open_lab(reuse)
        return
    lab_id = naming.new_lab_id()
    warnings = _Warnings()
    logging.getLogger("tai_labs").addHandler(warnings)
    try:
        try:
            lab = lifecycle.up(
                find("compte-verrouille"), candidate="mgmt", seed=0, lab_id=lab_id, faults=False
            )
        except TaiLabsError as exc:
            if "cannot be brought up yet" in exc.message:
                pytest.skip(exc.message)
            raise
        finally:
            logging.getLogger("tai_labs").removeHandler(warnings)
        # The guard `up` installs stays whole while nodes boot: the last open_lab of `up`
        # found nothing to put back.
        assert not warnings.messages, warnings.messages
        yield lab
    finally:
        lifecycle.down(lab_id)
        _assert_nothing_left(lab_id)


class _Warnings(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def _assert_nothing_left(lab_id: str) -> None:
    """`down` removed the bridge table and the pinned neighbours with the bridge."""
    table = naming.nft_table(lab_id)
    listed = subprocess.run(["nft", "list", "table", "bridge", table], capture_output=True)
    assert listed.returncode != 0, f"bridge table {table} left behind"
    neigh = subprocess.run(["ip", "-j", "neigh", "show", "nud", "permanent"], capture_output=True)
    bridge = naming.mgmt_bridge_name(lab_id)
    assert not [e for e in json.loads(neigh.stdout or b"[]") if e.get("dev") == bridge]


def _node_mac(lab: Any, node: str) -> str:
    return derived_mac(lab.node_plan(node).resource, 0)


def _host_neighbour(lab: Any, node: str) -> dict[str, Any]:
    bridge = lab.network().mgmt_bridge
    out = subprocess.run(
        ["ip", "-j", "neigh", "show", str(lab.mgmt_address(node)), "dev", bridge],
        capture_output=True,
        check=True,
    ).stdout
    entries = json.loads(out or b"[]")
    assert len(entries) == 1, entries
    return {"mac": entries[0].get("lladdr"), "state": entries[0].get("state")}


def _dropped(lab: Any) -> int:
    """Frames the bridge table's prerouting chain dropped so far."""
    out = subprocess.run(
        ["nft", "-j", "list", "chain", "bridge", naming.nft_table(lab.id), "prerouting"],
        capture_output=True,
        check=True,
    ).stdout
    for item in json.loads(out)["nftables"]:
        for expr in item.get("rule", {}).get("expr", []):
            if "counter" in expr:
                return int(expr["counter"]["packets"])
    raise AssertionError("no counter in the prerouting chain")


def _forge(lab: Any, *args: str) -> None:
    res = lab.exec("pc1", ["python3", "-c", FORGE, *args], timeout=20)
    assert res.ok, res.stderr


def _host_mac(lab: Any) -> str:
    return Path(f"/sys/class/net/{lab.network().mgmt_bridge}/address").read_text().strip()


def test_every_node_port_is_isolated_and_every_neighbour_pinned(lab: Any) -> None:
    # As `up` left it, nodes booted: nothing for the next lab command to put back (the
    # bridge's own MAC is fixed, else the first port to join flushes the pins).
    assert mgmt_guard.ensure(lab.id) == []
    for node in ("dc1", "box", "pc1"):
        port = naming.veth_name(lab.id, lab.node_plan(node).number, 0)
        assert mgmt_guard.port_isolated(port) is True, port
        assert _host_neighbour(lab, node) == {"mac": _node_mac(lab, node), "state": ["PERMANENT"]}


def test_a_node_reaches_another_node_over_the_lan_but_not_over_management(lab: Any) -> None:
    dc_lan = "192.168.10.10"
    assert lab.exec("pc1", ["ping", "-c1", "-W2", dc_lan]).ok  # the lab's own network works
    dc = str(lab.mgmt_address("dc1"))
    lab.exec("pc1", ["ip", "neigh", "flush", "dev", "eth0"])
    ping = lab.exec("pc1", ["ping", "-c2", "-W1", dc])
    assert not ping.ok, ping.stdout
    # Not even ARP: pc1 never learnt dc1's MAC on its management NIC.
    neigh = lab.exec("pc1", ["ip", "-j", "neigh", "show", dc, "dev", "eth0"]).stdout
    assert all("lladdr" not in e for e in json.loads(neigh or "[]")), neigh
    # ... while the host answers it (ARP for the host's address), and the host reaches pc1.
    host = str(lab.network().host_ip)
    lab.exec("pc1", ["ping", "-c1", "-W1", host])  # the host drops the echo, not the ARP
    neigh = json.loads(lab.exec("pc1", ["ip", "-j", "neigh", "show", host]).stdout or "[]")
    assert neigh and neigh[0].get("lladdr") == _host_mac(lab)


def test_an_arp_spoof_of_the_dc_leaves_the_host_talking_to_the_real_dc(lab: Any) -> None:
    from tai_labs.sessions.ldap import LdapSession
    from tai_labs.sessions.ssh import SshSession

    dc = str(lab.mgmt_address("dc1"))
    host = str(lab.network().host_ip)
    before = _host_neighbour(lab, "dc1")
    assert before["mac"] == _node_mac(lab, "dc1")
    dropped = _dropped(lab)
    pc_mac = _node_mac(lab, "pc1")
    # "dc1 is at pc1's MAC", to the host and to everyone; then with dc1's MAC as source too.
    _forge(lab, "arp", pc_mac, _host_mac(lab), dc, host)
    _forge(lab, "arp", pc_mac, "ff:ff:ff:ff:ff:ff", dc, dc)
    _forge(lab, "arp", _node_mac(lab, "dc1"), _host_mac(lab), dc, host)
    # And the address itself on pc1's management NIC, announced the kernel's way.
    lab.exec("pc1", ["ip", "addr", "add", f"{dc}/32", "dev", "eth0"])
    try:
        lab.exec("pc1", ["ping", "-c2", "-W1", "-I", dc, host])
        time.sleep(0.5)
        assert _dropped(lab) >= dropped + 9  # the forged frames died on the bridge
        assert _host_neighbour(lab, "dc1") == before
        # The host's SSH (host key pinned) and LDAPS still reach the real dc1.
        ssh = SshSession("dc1", dc, key_file=lab.folder / "id_ed25519",
                         known_hosts=lab.folder / "known_hosts")  # fmt: skip
        try:
            assert ssh.run(["hostname"]).stdout.strip() == "dc1"
        finally:
            ssh.close()
        ldap = LdapSession("dc1", dc, realm=lab.loaded.scenario.directory.realm,
                           password=lab.secrets.all()["admin_password"])  # fmt: skip
        ldap.open()
        try:
            assert ldap.search(ldap.base_dn, "(objectClass=domain)", ["dc"], scope="base")
        finally:
            ldap.close()
    finally:
        lab.exec("pc1", ["ip", "addr", "del", f"{dc}/32", "dev", "eth0"])


def _sniff(bridge: str, marker: bytes, seconds: float = 2.0) -> bool:
    """Did a frame holding marker reach the host's side of the bridge within seconds?"""
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
    sock.bind((bridge, 0))
    sock.settimeout(0.2)
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            try:
                if marker in sock.recv(65535):
                    return True
            except TimeoutError:
                continue
    finally:
        sock.close()
    return False


def test_a_forged_source_address_is_dropped_on_the_bridge(lab: Any) -> None:
    from concurrent.futures import ThreadPoolExecutor

    bridge = lab.network().mgmt_bridge
    host = str(lab.network().host_ip)
    pc_ip = str(lab.mgmt_address("pc1"))
    pc_mac = _node_mac(lab, "pc1")
    subnet = ipaddress.IPv4Network(lab.network().mgmt_subnet)
    cases = {  # source address -> does the host see it
        pc_ip: True,  # the control: pc1 as itself reaches the host's side
        str(lab.mgmt_address("dc1")): False,
        str(subnet[200]): False,  # nobody's address
        "10.1.2.3": False,  # outside the subnet
    }
    for source, seen in cases.items():
        marker = secrets.token_hex(8)
        dropped = _dropped(lab)
        with ThreadPoolExecutor(1) as pool:
            sniffing = pool.submit(_sniff, bridge, marker.encode())
            time.sleep(0.3)
            _forge(lab, "udp", pc_mac, _host_mac(lab), source, host, "9", marker)
            assert sniffing.result() is seen, source
        assert (_dropped(lab) > dropped) is not seen, source


def test_a_restarted_node_comes_back_isolated(lab: Any) -> None:
    """Stopping a container deletes its veth; the new one is a fresh, unflagged port."""
    resource = lab.node_plan("pc1").resource
    port = naming.veth_name(lab.id, lab.node_plan("pc1").number, 0)
    lab.engine.stop(resource)
    assert mgmt_guard.port_isolated(port) is None  # gone with the node
    lab.engine.start(resource)
    assert mgmt_guard.port_isolated(port) is True
    assert not lab.exec("pc1", ["ping", "-c2", "-W1", str(lab.mgmt_address("dc1"))]).ok


def test_a_host_key_other_than_the_pinned_one_falls_back_and_says_so(lab: Any) -> None:
    """What an impostor with its own SSH key (or replaced node keys) looks like to the pool:
    the real SSH handshake fails on the pin, the exec channel answers, marked as a fallback."""
    from tai_labs.providers.keys import generate_ed25519, known_hosts_line

    known = lab.folder / "known_hosts"
    saved = known.read_text()
    address = str(lab.mgmt_address("pc1"))
    other = known_hosts_line([address, "pc1"], generate_ed25519("impostor").public_line)
    lines = [other if ln.startswith(f"{address},") else ln for ln in saved.splitlines()]
    assert other in lines
    known.write_text("\n".join(lines) + "\n")
    try:
        with lab.sessions:
            session = lab.sessions.get("pc1", "command")
            assert session.transport == "exec"
            assert session.fallback == "fallback: host key mismatch"
            assert "host key differs" in lab.sessions.fallbacks["pc1"]
            assert session.run(["hostname"]).stdout.strip() == "pc1"
        with lab.sessions:  # the pin restored: SSH again, no fallback
            known.write_text(saved)
            assert lab.sessions.get("pc1", "command").transport == "ssh"
    finally:
        known.write_text(saved)
