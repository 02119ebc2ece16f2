"""Live network probes run by the host's own code inside a node's network namespace.

A thread of ours enters the namespace (``setns``, network only: no file, library or program
of the node takes part), opens its sockets there and leaves with the thread. What it sends
follows the node's routes and meets the node's firewall, which is what a reachability check
judges; what answers is read by our code, not by the node's ``ping``, ``nc`` or resolver.
"""

from __future__ import annotations

import ctypes
import ipaddress
import os
import select
import socket
import struct
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from tai_labs.providers.errors import EngineError

CLONE_NEWNET = 0x40000000
T = TypeVar("T")


def in_namespace(ns_fd: int, work: Callable[[], T], *, timeout: float = 30.0) -> T:
    """``work()`` in a fresh thread that first joined the network namespace ``ns_fd``."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            if libc.setns(ns_fd, CLONE_NEWNET) != 0:
                err = ctypes.get_errno()
                raise EngineError(f"cannot enter the node's network namespace: {os.strerror(err)}")
            box["value"] = work()
        except BaseException as exc:  # handed to the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=run, name="jury-netns", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise EngineError(f"network probe did not finish in {timeout:g}s")
    if "error" in box:
        raise box["error"]
    return box["value"]  # type: ignore[no-any-return]


def _icmp_checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


def ping(address: str, *, count: int = 2, wait: float = 2.0) -> dict[str, Any]:
    """ICMP echo to ``address`` from here (call it in the namespace): sent, received, and the
    address each reply came from."""
    ident = int.from_bytes(os.urandom(2), "big")
    replies: list[str] = []
    with socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP) as s:
        for seq in range(1, count + 1):
            body = struct.pack("!HH", ident, seq) + b"tai-labs jury"
            header = struct.pack("!BBH", 8, 0, 0)
            packet = header[:2] + struct.pack("!H", _icmp_checksum(header + body)) + body
            try:
                s.sendto(packet, (address, 0))
            except OSError as exc:  # no route, unreachable: the kernel refuses at once
                return {"sent": seq - 1, "received": len(replies), "from": replies,
                        "error": os.strerror(exc.errno or 0) or str(exc)}  # fmt: skip
            until = time.monotonic() + wait
            while (left := until - time.monotonic()) > 0:
                if not select.select([s], [], [], left)[0]:
                    break
                data, (source, _) = s.recvfrom(2048)
                ihl = (data[0] & 0x0F) * 4
                icmp = data[ihl : ihl + 8]
                if (
                    len(icmp) == 8
                    and icmp[0] == 0
                    and struct.unpack("!HH", icmp[4:8])
                    == (
                        ident,
                        seq,
                    )
                ):
                    replies.append(source)
                    break
    return {"sent": count, "received": len(replies), "from": replies}


def tcp_connect(address: str, port: int, *, wait: float = 3.0) -> dict[str, Any]:
    """A TCP connection to ``address:port`` from here: open, refused, or no answer."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(wait)
        try:
            s.connect((address, port))
        except ConnectionRefusedError:
            return {"state": "refused"}
        except TimeoutError:
            return {"state": "timeout"}
        except OSError as exc:
            return {"state": "unreachable", "error": os.strerror(exc.errno or 0) or str(exc)}
        return {"state": "open", "local": s.getsockname()[0]}


#: The record types the probes ask for, by their number on the wire.
QTYPES = {"A": 1, "CNAME": 5, "PTR": 12, "SRV": 33}
_TYPE_NAMES = {v: k for k, v in QTYPES.items()}
#: Compression pointers followed at most per name (a loop of pointers is no name).
_MAX_JUMPS = 32


def build_query(name: str, ident: int, rtype: str = "A") -> bytes:
    """A DNS query for the ``rtype`` records of ``name`` (recursion desired)."""
    labels = b"".join(
        bytes([len(part)]) + part.encode("ascii") for part in name.rstrip(".").split(".")
    )
    return (
        struct.pack("!HHHHHH", ident, 0x0100, 1, 0, 0, 0)
        + labels
        + b"\0"
        + struct.pack("!HH", QTYPES[rtype], 1)
    )


def reverse_name(address: str) -> str:
    """The in-addr.arpa name a PTR query for an IPv4 address asks (what ``dig -x`` asks)."""
    return ipaddress.IPv4Address(address).reverse_pointer


def _skip_name(data: bytes, at: int) -> int:
    while at < len(data):
        length = data[at]
        if length & 0xC0 == 0xC0:
            return at + 2
        if length == 0:
            return at + 1
        at += 1 + length
    raise ValueError("name runs past the message")


def _read_name(data: bytes, at: int) -> str:
    """The domain name at ``at``, compression pointers followed, as dig prints it (``a.b.``)."""
    labels: list[str] = []
    for _ in range(_MAX_JUMPS):
        while True:
            if at >= len(data):
                raise ValueError("name runs past the message")
            length = data[at]
            if length & 0xC0 == 0xC0:
                if at + 1 >= len(data):
                    raise ValueError("pointer runs past the message")
                at = ((length & 0x3F) << 8) | data[at + 1]
                break
            if length == 0:
                return ".".join(labels) + "."
            label = data[at + 1 : at + 1 + length]
            if len(label) != length:
                raise ValueError("label runs past the message")
            labels.append(label.decode("ascii", errors="replace"))
            at += 1 + length
    raise ValueError("too many compression pointers")


def _rdata(data: bytes, rtype: int, at: int, length: int) -> str | None:
    """A record's data as dig prints it, for the types the probes know; None otherwise."""
    if rtype == 1 and length == 4:
        return str(ipaddress.IPv4Address(data[at : at + 4]))
    if rtype in (5, 12):
        return _read_name(data, at)
    if rtype == 33 and length >= 7:
        priority, weight, port = struct.unpack("!HHH", data[at : at + 6])
        return f"{priority} {weight} {port} {_read_name(data, at + 6)}"
    return None


def parse_answer(data: bytes, ident: int) -> dict[str, Any] | None:
    """The rcode, A records and every known record of a DNS answer to ``ident``, or None if
    it is not one."""
    if len(data) < 12:
        return None
    rid, flags, qd, an, _, _ = struct.unpack("!HHHHHH", data[:12])
    if rid != ident or not flags & 0x8000:
        return None
    try:
        at = 12
        for _ in range(qd):
            at = _skip_name(data, at) + 4
        addresses: list[str] = []
        records: list[dict[str, str]] = []
        for _ in range(an):
            owner = _read_name(data, at)
            at = _skip_name(data, at)
            rtype, _, _, length = struct.unpack("!HHIH", data[at : at + 10])
            at += 10
            if at + length > len(data):
                raise ValueError("record runs past the message")
            value = _rdata(data, rtype, at, length)
            if rtype == 1 and value is not None:
                addresses.append(value)
            if value is not None:
                records.append({"name": owner, "type": _TYPE_NAMES[rtype], "data": value})
            at += length
    except (ValueError, struct.error):
        return None
    rcode = {0: "NOERROR", 2: "SERVFAIL", 3: "NXDOMAIN", 5: "REFUSED"}.get(flags & 0xF)
    return {"rcode": rcode or f"RCODE{flags & 0xF}", "addresses": addresses, "records": records}


def dns_query(
    server: str, name: str, *, rtype: str = "A", wait: float = 2.0, tries: int = 2
) -> dict[str, Any]:
    """Ask ``server`` for the ``rtype`` records of ``name`` from here; who answered is
    recorded. An answer from another address is not taken (a resolver drops it too), but
    listed under ``unexpected``."""
    unexpected: list[str] = []
    for _ in range(tries):
        ident = int.from_bytes(os.urandom(2), "big")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            try:
                s.sendto(build_query(name, ident, rtype), (server, 53))
            except OSError as exc:
                return {"server": server, "error": os.strerror(exc.errno or 0) or str(exc)}
            until = time.monotonic() + wait
            while (left := until - time.monotonic()) > 0:
                if not select.select([s], [], [], left)[0]:
                    break
                data, (source, _) = s.recvfrom(4096)
                parsed = parse_answer(data, ident)
                if parsed is not None and source != server:
                    unexpected.append(source)
                elif parsed is not None:
                    return {"server": server, "answered_by": source, **parsed}
    return {"server": server, "error": "no answer"} | (
        {"unexpected": unexpected} if unexpected else {}
    )


def hosts_lookup(text: str, name: str) -> str | None:
    """The first IPv4 address ``/etc/hosts`` (its text) gives ``name``, as glibc reads it."""
    want = name.rstrip(".").lower()
    for line in text.splitlines():
        words = line.split("#", 1)[0].split()
        if len(words) < 2:
            continue
        try:
            address = ipaddress.IPv4Address(words[0])
        except ValueError:
            continue
        if want in (w.rstrip(".").lower() for w in words[1:]):
            return str(address)
    return None


def resolver_config(text: str) -> tuple[list[str], list[str]]:
    """The IPv4 nameservers (3 at most, as glibc) and search domains of a resolv.conf."""
    servers: list[str] = []
    search: list[str] = []
    for line in text.splitlines():
        words = line.split("#", 1)[0].split(";", 1)[0].split()
        if len(words) >= 2 and words[0] == "nameserver":
            try:
                servers.append(str(ipaddress.IPv4Address(words[1])))
            except ValueError:
                continue
        elif words and words[0] in ("search", "domain"):
            search = [w.rstrip(".") for w in words[1:]]
    return servers[:3], search
