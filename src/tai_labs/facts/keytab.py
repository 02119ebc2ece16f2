"""A Kerberos keytab (MIT format 0x0502/0x0501), read for its principals, never its keys.

A workstation joined to an AD domain (realm join, adcli, net ads join) keeps its machine
account's keys in ``/etc/krb5.keytab``, under ``HOST$@REALM`` and the host's service names.
Only names, key version numbers and encryption types are decoded: the key bytes are skipped,
so nothing that could authenticate as the machine reaches evidence or reports.
Format: https://web.mit.edu/kerberos/krb5-devel/doc/formats/keytab_file_format.html
"""

from __future__ import annotations

import struct
from dataclasses import dataclass


@dataclass(frozen=True)
class KeytabEntry:
    principal: str  # "PC-CPT-123$@DUPUIS.LAN"
    kvno: int
    enctype: int

    @property
    def realm(self) -> str:
        return self.principal.rpartition("@")[2]


#: Names of the usual encryption types (RFC 3961, RFC 8009), for the evidence.
ENCTYPES = {
    17: "aes128-cts-hmac-sha1-96",
    18: "aes256-cts-hmac-sha1-96",
    19: "aes128-cts-hmac-sha256-128",
    20: "aes256-cts-hmac-sha384-192",
    23: "arcfour-hmac",
}


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise ValueError(f"keytab cut short at byte {self.pos}")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def unpack(self, fmt: str) -> int:
        (value,) = struct.unpack(fmt, self.take(struct.calcsize(fmt)))
        return int(value)

    def octets(self) -> bytes:
        return self.take(self.unpack(">H"))


def parse_keytab(data: bytes) -> list[KeytabEntry]:
    """The entries of a keytab file; ValueError if it is not one."""
    if len(data) < 2 or data[0] != 5 or data[1] not in (1, 2):
        raise ValueError("not a keytab (no 0x0501/0x0502 header)")
    version = data[1]
    fmt16, fmt32 = (">H", ">I") if version == 2 else ("=H", "=I")
    entries = []
    top = _Reader(data)
    top.take(2)
    while top.pos < len(data):
        if len(data) - top.pos < 4:
            break  # trailing padding
        size = top.unpack(">i")
        if size == 0:
            break
        record = top.take(abs(size))
        if size < 0:
            continue  # a hole left by a deleted entry
        r = _Reader(record)
        count = r.unpack(fmt16) - (1 if version == 1 else 0)
        realm = r.take(r.unpack(fmt16)).decode("utf-8", "replace")
        names = [r.take(r.unpack(fmt16)).decode("utf-8", "replace") for _ in range(count)]
        if version == 2:
            r.unpack(fmt32)  # name type
        r.unpack(fmt32)  # timestamp
        kvno = r.unpack("B")
        enctype = r.unpack(fmt16)
        r.take(r.unpack(fmt16))  # the key: skipped, never kept
        if len(record) - r.pos >= 4:
            wide = r.unpack(fmt32)
            if wide:
                kvno = wide  # the 32-bit kvno, when present and set, wins
        entries.append(KeytabEntry(f"{'/'.join(names)}@{realm}", kvno, enctype))
    return entries


def listing(entries: list[KeytabEntry]) -> str:
    """What ``klist -ke`` prints of the entries (no keys), for the evidence."""
    lines = ["KVNO Principal"]
    for e in entries:
        lines.append(f"{e.kvno:4d} {e.principal} ({ENCTYPES.get(e.enctype, e.enctype)})")
    return "\n".join(lines) + "\n"
