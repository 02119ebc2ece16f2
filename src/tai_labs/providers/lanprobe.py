"""The jury's own probe point on a lab network: DHCP asked by the host, answers attributed.

The host sends the request itself, as raw frames on the lab's bridge (which carries no host
address: nothing is routed), from a client MAC of the jury's (``jury_mac``), and listens on
the host side of every node's port of that bridge. An answer is attributed to the port it
came in on, which only the host wires (``naming.veth_name``): a node whose root changes its
MAC address or the DHCP server identifier it announces still answers through its own port.
No program of any node takes part; the frames are built and parsed here.
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import select
import socket
import struct
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from tai_labs.providers.errors import EngineError

ETH_P_IP = 0x0800
#: Bound to every protocol: on a bridge port only the taps for all protocols see a frame
#: before the bridge takes it (a socket for ETH_P_IP alone would hear nothing).
ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4
BROADCAST_MAC = b"\xff" * 6
MAGIC = b"\x63\x82\x53\x63"
#: DHCP message types (option 53).
DISCOVER, OFFER, REQUEST, ACK, NAK = 1, 2, 3, 5, 6
MESSAGE_NAMES = {OFFER: "offer", ACK: "ack", NAK: "nak"}
#: How long offers are awaited: every server on the segment must have its say, a rogue one
#: being the point of the probe, and dnsmasq pings an address for up to 3 s before it
#: offers it the first time.
OFFER_WINDOW = 4.0
ACK_WINDOW = 3.0
#: Options asked for (55): mask, router, DNS, domain, lease time, server identifier.
PARAMETERS = bytes([1, 3, 6, 15, 51, 54])


@dataclass(frozen=True)
class LanPort:
    """The host side of one node's NIC on a lab bridge."""

    ifname: str
    node: str
    interface: str


@dataclass(frozen=True)
class LanSegment:
    """A lab bridge and the node ports on it."""

    bridge: str
    ports: tuple[LanPort, ...]


@dataclass(frozen=True)
class JuryLan:
    """The jury's probe point for one node: the segment each of its NICs is on."""

    mac: str
    segments: dict[str, LanSegment]


@dataclass
class DhcpReply:
    """One DHCP answer as the jury saw it: who sent it (port, MAC, addresses) and what."""

    message: str
    node: str
    port: str
    mac: str
    source_ip: str
    server_id: str | None
    address: str
    mask: str | None = None
    routers: list[str] = field(default_factory=list)
    dns: list[str] = field(default_factory=list)
    domain: str | None = None
    lease_seconds: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def jury_mac(lab_id: str) -> str:
    """The jury client's MAC on a lab: locally administered, stable per lab, never a node's
    (``seed.derived_mac`` hashes ``node/nic``; this hashes another string)."""
    digest = hashlib.sha256(f"tai-labs jury probe/{lab_id}".encode()).digest()
    return "02:" + ":".join(f"{b:02x}" for b in digest[:5])


def _mac_bytes(mac: str) -> bytes:
    return bytes(int(x, 16) for x in mac.split(":"))


def _mac_text(raw: bytes) -> str:
    return ":".join(f"{b:02x}" for b in raw)


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def build_frame(mac: str, xid: int, message: int, options: dict[int, bytes]) -> bytes:
    """An Ethernet broadcast frame carrying a client's DHCP ``message`` (0.0.0.0:68 ->
    255.255.255.255:67), broadcast flag set so that servers answer by broadcast."""
    chaddr = _mac_bytes(mac)
    bootp = struct.pack("!BBBBIHH4s4s4s4s16s", 1, 1, 6, 0, xid, 0, 0x8000, b"\0" * 4,
                        b"\0" * 4, b"\0" * 4, b"\0" * 4, chaddr.ljust(16, b"\0"))  # fmt: skip
    bootp += b"\0" * 192 + MAGIC
    opts = bytes([53, 1, message])
    for code, value in options.items():
        opts += bytes([code, len(value)]) + value
    bootp += opts + b"\xff"
    udp_len = 8 + len(bootp)
    udp = struct.pack("!HHHH", 68, 67, udp_len, 0) + bootp
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0,
                     b"\0" * 4, b"\xff" * 4)  # fmt: skip
    ip = ip[:10] + struct.pack("!H", _checksum(ip)) + ip[12:]
    return BROADCAST_MAC + chaddr + struct.pack("!H", ETH_P_IP) + ip + udp


def _ipv4_one(value: bytes) -> str | None:
    return str(ipaddress.IPv4Address(value)) if len(value) == 4 else None


def _ipv4_list(value: bytes) -> list[str]:
    return [str(ipaddress.IPv4Address(value[i : i + 4])) for i in range(0, len(value) - 3, 4)]


def parse_reply(frame: bytes, xid: int, mac: str) -> dict[str, Any] | None:
    """A server's DHCP answer to our ``xid`` and ``mac`` in an Ethernet frame, or None.

    Pure: what the frame says (sender MAC and IP, message, server identifier, offered
    address and options); anything else on the wire (not IPv4/UDP 67->68, not a BOOTREPLY,
    another transaction, truncated) is None.
    """
    if len(frame) < 14 + 20 + 8 + 240 or frame[12:14] != b"\x08\x00":
        return None
    ip = frame[14:]
    ihl = (ip[0] & 0x0F) * 4
    if ip[0] >> 4 != 4 or ihl < 20 or ip[9] != 17 or len(ip) < ihl + 8 + 240:
        return None
    sport, dport = struct.unpack("!HH", ip[ihl : ihl + 4])
    if (sport, dport) != (67, 68):
        return None
    bootp = ip[ihl + 8 :]
    if bootp[0] != 2 or struct.unpack("!I", bootp[4:8])[0] != xid:
        return None
    if bootp[28:34] != _mac_bytes(mac) or bootp[236:240] != MAGIC:
        return None
    options: dict[int, bytes] = {}
    i, opts = 0, bootp[240:]
    while i < len(opts):
        code = opts[i]
        if code == 255:
            break
        if code == 0:
            i += 1
            continue
        if i + 1 >= len(opts) or i + 2 + opts[i + 1] > len(opts):
            return None
        options.setdefault(code, opts[i + 2 : i + 2 + opts[i + 1]])
        i += 2 + opts[i + 1]
    kind = options.get(53, b"")
    if len(kind) != 1 or kind[0] not in MESSAGE_NAMES:
        return None
    lease = options.get(51, b"")
    domain = options.get(15)
    return {
        "message": MESSAGE_NAMES[kind[0]],
        "mac": _mac_text(frame[6:12]),
        "source_ip": str(ipaddress.IPv4Address(ip[12:16])),
        "server_id": _ipv4_one(options.get(54, b"")),
        "address": str(ipaddress.IPv4Address(bootp[16:20])),
        "mask": _ipv4_one(options.get(1, b"")),
        "routers": _ipv4_list(options.get(3, b"")),
        "dns": _ipv4_list(options.get(6, b"")),
        "domain": domain.decode("ascii", "replace").rstrip("\0") if domain else None,
        "lease_seconds": struct.unpack("!I", lease)[0] if len(lease) == 4 else None,
    }


class _Listener:
    """Raw sockets on the host side of every node port of a segment: what nodes send."""

    def __init__(self, segment: LanSegment) -> None:
        self.by_fd: dict[int, tuple[socket.socket, LanPort]] = {}
        try:
            for port in segment.ports:
                s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
                self.by_fd[s.fileno()] = (s, port)
                s.bind((port.ifname, ETH_P_ALL))
        except OSError as exc:
            self.close()
            raise EngineError(f"cannot listen on the lab's ports: {exc}") from exc

    def replies(
        self, xid: int, mac: str, until: float, done: Callable[[DhcpReply], bool] | None = None
    ) -> list[DhcpReply]:
        """Answers heard until ``until``, or until one answer is ``done``."""
        found: list[DhcpReply] = []
        while (left := until - time.monotonic()) > 0 and not (done and any(map(done, found))):
            ready, _, _ = select.select(list(self.by_fd), [], [], left)
            for fd in ready:
                sock, port = self.by_fd[fd]
                frame, addr = sock.recvfrom(4096)
                if addr[2] == PACKET_OUTGOING:  # sent to this node, not by it
                    continue
                parsed = parse_reply(frame, xid, mac)
                if parsed is not None:
                    found.append(DhcpReply(node=port.node, port=port.ifname, **parsed))
        return found

    def close(self) -> None:
        for sock, _ in self.by_fd.values():
            sock.close()
        self.by_fd.clear()


def dhcp_exchange(segment: LanSegment, mac: str, *, prefer: str | None = None) -> list[DhcpReply]:
    """DISCOVER on ``segment``; every OFFER heard in ``OFFER_WINDOW``; then REQUEST the
    offer of node ``prefer`` (else the first) and the ACK or NAK heard in ``ACK_WINDOW``.

    Side effect, deliberately small: the chosen server records a lease for the jury's MAC
    (never a node's, so no node's own lease is touched)."""
    xid = int.from_bytes(os.urandom(4), "big")
    listener = _Listener(segment)
    try:
        with socket.socket(socket.AF_PACKET, socket.SOCK_RAW) as out:
            out.bind((segment.bridge, 0))
            out.send(build_frame(mac, xid, DISCOVER, {55: PARAMETERS}))
            offers = listener.replies(xid, mac, time.monotonic() + OFFER_WINDOW)
            offers = [r for r in offers if r.message == "offer"]
            chosen = next((r for r in offers if r.node == prefer), offers[0] if offers else None)
            if chosen is None or chosen.server_id is None:
                return offers
            request = {
                50: ipaddress.IPv4Address(chosen.address).packed,
                54: ipaddress.IPv4Address(chosen.server_id).packed,
                55: PARAMETERS,
            }
            out.send(build_frame(mac, xid, REQUEST, request))
            server = chosen.node
            answers = listener.replies(
                xid,
                mac,
                time.monotonic() + ACK_WINDOW,
                lambda r: r.node == server and r.message in ("ack", "nak"),
            )
    except OSError as exc:
        raise EngineError(f"DHCP probe on {segment.bridge} failed: {exc}") from exc
    finally:
        listener.close()
    return offers + [r for r in answers if r.message in ("ack", "nak")]
