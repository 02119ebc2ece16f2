"""The jury's DHCP frames: what the host sends, and how a server's answer is read."""

from __future__ import annotations

import struct

from tai_labs.providers import lanprobe as lp

MAC = "02:be:a5:a9:81:5a"
XID = 0x1234ABCD
#: A DHCPOFFER dnsmasq sent on a real lab (box, dhcp-bureau) to the jury's DISCOVER.
DNSMASQ_OFFER = bytes.fromhex(
    "ffffffffffff0213b890397b080045c00153c01300004011ed20c0a80afeffffffff00430044013fccf6020106001234abcd0000800000000000c0a80a85c0a80afe0000000002bea5a9815a00000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000638253633501023604c0a80afe330400000e103a04000007083b0400000c4e0104ffffff001c04c0a80aff0f116174656c696572736d6f72656c2e6c616e0604c0a80a0a0304c0a80afeff"
)


def test_a_real_dnsmasq_offer_is_read_with_who_sent_it() -> None:
    got = lp.parse_reply(DNSMASQ_OFFER, XID, MAC)
    assert got is not None
    assert (got["message"], got["mac"], got["source_ip"], got["server_id"]) == (
        "offer",
        "02:13:b8:90:39:7b",
        "192.168.10.254",
        "192.168.10.254",
    )
    assert (got["address"], got["routers"], got["dns"], got["mask"]) == (
        "192.168.10.133",
        ["192.168.10.254"],
        ["192.168.10.10"],
        "255.255.255.0",
    )
    assert got["domain"] == "ateliersmorel.lan" and got["lease_seconds"] == 3600


def test_answers_to_someone_else_or_broken_frames_are_not_ours() -> None:
    assert lp.parse_reply(DNSMASQ_OFFER, XID + 1, MAC) is None  # another transaction
    assert lp.parse_reply(DNSMASQ_OFFER, XID, "02:00:00:00:00:01") is None  # another client
    assert lp.parse_reply(DNSMASQ_OFFER[:200], XID, MAC) is None  # truncated
    assert lp.parse_reply(b"\x00" * 400, XID, MAC) is None


def test_our_discover_is_a_broadcast_bootrequest_from_the_jury_mac() -> None:
    frame = lp.build_frame(MAC, XID, lp.DISCOVER, {55: lp.PARAMETERS})
    assert frame[:6] == b"\xff" * 6 and frame[6:12] == bytes.fromhex(MAC.replace(":", ""))
    ip = frame[14:34]
    assert lp._checksum(ip) == 0  # a valid IPv4 header checksum
    assert ip[12:16] == b"\0" * 4 and ip[16:20] == b"\xff" * 4
    assert struct.unpack("!HH", frame[34:38]) == (68, 67)
    bootp = frame[42:]
    assert bootp[0] == 1 and struct.unpack("!IHH", bootp[4:12])[0] == XID
    assert struct.unpack("!H", bootp[10:12])[0] == 0x8000  # servers answer by broadcast
    assert bootp[240:243] == bytes([53, 1, lp.DISCOVER])
    # it is a request: never read back as a server's answer
    assert lp.parse_reply(frame, XID, MAC) is None


def test_the_jury_mac_is_stable_per_lab_and_locally_administered() -> None:
    a, b = lp.jury_mac("abc123"), lp.jury_mac("xyz789")
    assert a == lp.jury_mac("abc123") and a != b
    assert int(a.split(":")[0], 16) & 0b11 == 0b10  # local, unicast
