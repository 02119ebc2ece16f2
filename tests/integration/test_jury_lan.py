"""The jury's DHCP probe on a real Linux bridge: answers are attributed to the port they
came in on, whatever MAC or server identifier the answering machine claims.

No lab: a bridge and two network namespaces made here, each running a small DHCP responder
(Python, the same one the dhcp-bureau wrong solution starts on pc1). Needs root and ip.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator

import pytest

from tai_labs.providers.lanprobe import LanPort, LanSegment, dhcp_exchange, jury_mac
from tai_labs.providers.netprobe import in_namespace, ping, tcp_connect

pytestmark = pytest.mark.integration

RESPONDER = r"""
import socket, sys
iface, me_text, lease_text = sys.argv[1:4]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, iface.encode())
s.bind(("", 67))
me, lease = socket.inet_aton(me_text), socket.inet_aton(lease_text)
print("ready", flush=True)
while True:
    d, _ = s.recvfrom(2048)
    if len(d) < 240 or d[0] != 1:
        continue
    opts, kind, i = d[240:], 0, 0
    while i + 1 < len(opts) and opts[i] != 255:
        if opts[i] == 0:
            i += 1
            continue
        if opts[i] == 53:
            kind = opts[i + 2]
        i += 2 + opts[i + 1]
    if kind not in (1, 3):
        continue
    r = bytes([2, 1, 6, 0]) + d[4:8] + bytes([0, 0, 128, 0]) + bytes(4) + lease + me
    r += bytes(4) + d[28:44] + bytes(192) + bytes([99, 130, 83, 99])
    r += bytes([53, 1, 2 if kind == 1 else 5, 54, 4]) + me + bytes([51, 4, 0, 0, 14, 16])
    r += bytes([3, 4]) + me + bytes([255])
    s.sendto(r, ("255.255.255.255", 68))
"""


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


@pytest.fixture
def segment() -> Iterator[tuple[LanSegment, dict[str, str]]]:
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("needs root and ip (a bridge and network namespaces)")
    tag = uuid.uuid4().hex[:5]
    bridge, namespaces = f"tjq{tag}b", {}
    try:
        ip("link", "add", bridge, "type", "bridge")
        ip("link", "set", bridge, "up")
        ports = []
        for n, node in enumerate(("box", "pc1"), start=1):
            ns, host_end = f"tjq{tag}{node}", f"tjq{tag}n{n}"
            ip("netns", "add", ns)
            namespaces[node] = ns
            ip("link", "add", host_end, "type", "veth", "peer", "name", "eth1", "netns", ns)
            ip("link", "set", host_end, "master", bridge, "up")
            ip("-n", ns, "addr", "add", f"10.99.0.{n}/24", "dev", "eth1")
            ip("-n", ns, "link", "set", "eth1", "up")
            ports.append(LanPort(host_end, node, "eth1"))
        yield LanSegment(bridge, tuple(ports)), namespaces
    finally:
        for ns in namespaces.values():
            pids = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True)
            for pid in pids.stdout.split():
                subprocess.run(["kill", pid], capture_output=True)
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        subprocess.run(["ip", "link", "del", bridge], capture_output=True)


def serve(ns: str, me: str, lease: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        ["ip", "netns", "exec", ns, sys.executable, "-c", RESPONDER, "eth1", me, lease],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    return proc


def test_each_answer_is_named_by_its_port_even_with_a_stolen_identity(
    segment: tuple[LanSegment, dict[str, str]],
) -> None:
    seg, ns = segment
    mac = jury_mac("tjqtest")
    assert dhcp_exchange(seg, mac, prefer="box") == []  # nobody serves yet
    box = serve(ns["box"], "10.99.0.1", "10.99.0.100")
    try:
        got = dhcp_exchange(seg, mac, prefer="box")
        assert [(r.message, r.node, r.server_id, r.address) for r in got] == [
            ("offer", "box", "10.99.0.1", "10.99.0.100"),
            ("ack", "box", "10.99.0.1", "10.99.0.100"),
        ]
        box_mac = got[0].mac
        # pc1's root takes the box's MAC and announces the box's address as its identifier
        ip("-n", ns["pc1"], "link", "set", "eth1", "address", box_mac)
        rogue = serve(ns["pc1"], "10.99.0.1", "10.99.0.150")
        try:
            time.sleep(0.2)
            got = dhcp_exchange(seg, mac, prefer="box")
        finally:
            rogue.kill()
        offers = {(r.node, r.mac, r.server_id, r.address) for r in got if r.message == "offer"}
        assert offers == {
            ("box", box_mac, "10.99.0.1", "10.99.0.100"),
            ("pc1", box_mac, "10.99.0.1", "10.99.0.150"),  # same claims, its own port
        }
    finally:
        box.kill()


def test_reachability_is_sent_and_read_by_our_code_in_the_nodes_namespace(
    segment: tuple[LanSegment, dict[str, str]],
) -> None:
    _, ns = segment
    fd = os.open(f"/run/netns/{ns['pc1']}", os.O_RDONLY | os.O_CLOEXEC)
    try:
        got = in_namespace(fd, lambda: ping("10.99.0.1"))
        assert (got["sent"], got["received"], got["from"]) == (2, 2, ["10.99.0.1", "10.99.0.1"])
        assert in_namespace(fd, lambda: tcp_connect("10.99.0.1", 9))["state"] == "refused"
        assert in_namespace(fd, lambda: ping("10.99.0.77", wait=0.5))["received"] == 0
        # the node's own firewall is what the probe meets: its root drops the replies
        subprocess.run(
            ["ip", "netns", "exec", ns["pc1"], "nft", "-f", "-"],
            input="table inet f {\n chain i {\n type filter hook input priority 0;\n"
            " icmp type echo-reply drop\n }\n}\n",
            text=True,
            check=True,
        )
        assert in_namespace(fd, lambda: ping("10.99.0.1", wait=0.5))["received"] == 0
        # and the host's own namespace was never left by this thread of ours
        assert in_namespace(fd, lambda: os.readlink("/proc/thread-self/ns/net")) != os.readlink(
            "/proc/self/ns/net"
        )
    finally:
        os.close(fd)
