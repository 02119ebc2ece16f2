"""What the host's own probes read: DNS answers, /etc/hosts, resolv.conf (no network)."""

from __future__ import annotations

import struct

from tai_labs.providers import netprobe as n


def _answer(ident: int, rcode: int, addresses: list[bytes]) -> bytes:
    question = n.build_query("dc1.dupuis.lan", ident)[12:]
    head = struct.pack("!HHHHHH", ident, 0x8180 | rcode, 1, len(addresses), 0, 0)
    records = b"".join(b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 60, 4) + a for a in addresses)
    return head + question + records


def test_a_dns_answer_is_read_for_its_query_only() -> None:
    query = n.build_query("dc1.dupuis.lan", 0x4242)
    assert query[12:] == b"\x03dc1\x06dupuis\x03lan\x00\x00\x01\x00\x01"
    got = n.parse_answer(_answer(0x4242, 0, [bytes([192, 168, 10, 10])]), 0x4242)
    assert got is not None and got["rcode"] == "NOERROR"
    assert got["addresses"] == ["192.168.10.10"]
    assert got["records"] == [{"name": "dc1.dupuis.lan.", "type": "A", "data": "192.168.10.10"}]
    assert n.parse_answer(_answer(0x4242, 3, []), 0x4242) == {
        "rcode": "NXDOMAIN",
        "addresses": [],
        "records": [],
    }
    assert n.parse_answer(_answer(0x4242, 0, [b"\1\2\3\4"]), 0x4243) is None  # not ours
    assert n.parse_answer(query, 0x4242) is None  # a question, not an answer
    assert n.parse_answer(_answer(0x4242, 0, [b"\1\2\3\4"])[:-6], 0x4242) is None  # cut


def test_hosts_and_resolver_are_read_as_glibc_does() -> None:
    hosts = "127.0.0.1 localhost\n# 10.0.0.1 dc1.dupuis.lan\n192.168.10.66 DC1.dupuis.lan dc1\n"
    assert n.hosts_lookup(hosts, "dc1.dupuis.lan.") == "192.168.10.66"
    assert n.hosts_lookup(hosts, "dc1") == "192.168.10.66"
    assert n.hosts_lookup(hosts, "srv") is None
    conf = "search dupuis.lan\nnameserver 192.168.10.10 # dc\nnameserver ::1\nnameserver 1.1.1.1\n"
    assert n.resolver_config(conf) == (["192.168.10.10", "1.1.1.1"], ["dupuis.lan"])


def _records_answer(ident: int, rtype: int, rdata: bytes) -> bytes:
    question = n.build_query("_ldap._tcp.dupuis.lan", ident, "SRV")[12:]
    head = struct.pack("!HHHHHH", ident, 0x8180, 1, 1, 0, 0)
    return head + question + b"\xc0\x0c" + struct.pack("!HHIH", rtype, 1, 60, len(rdata)) + rdata


def test_srv_ptr_and_cname_records_are_read_with_compressed_names() -> None:
    query = n.build_query("_ldap._tcp.dupuis.lan", 7, "SRV")
    assert query[-4:] == b"\x00\x21\x00\x01"
    # SRV 0 100 389, target dc1 + pointer to "dupuis.lan" inside the question (offset 23)
    srv = struct.pack("!HHH", 0, 100, 389) + b"\x03dc1\xc0\x17"
    got = n.parse_answer(_records_answer(7, 33, srv), 7)
    assert got is not None and got["records"] == [
        {"name": "_ldap._tcp.dupuis.lan.", "type": "SRV", "data": "0 100 389 dc1.dupuis.lan."}
    ]
    got = n.parse_answer(_records_answer(7, 12, b"\x03dc1\xc0\x17"), 7)
    assert got is not None and got["records"][0]["data"] == "dc1.dupuis.lan."
    assert n.reverse_name("192.168.10.10") == "10.10.168.192.in-addr.arpa"
    # a pointer loop or a name past the end is no answer, not a hang
    assert n.parse_answer(_records_answer(7, 12, b"\xc0\x33"), 7) is None  # points at itself
    assert n.parse_answer(_records_answer(7, 12, b"\x05dc"), 7) is None
