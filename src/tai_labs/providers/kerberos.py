"""A Kerberos ticket for a machine account, asked by the host's own kinit with a node's keytab.

The keytab is bytes the host read from the node's disk itself; the host writes it to a
private folder (0700, removed afterwards) with its own ``krb5.conf`` naming the KDC by
address (no DNS, no reverse lookup), and runs its own ``kinit -k`` (MIT krb5-user) under
``nsenter --net`` in the namespace it is given. No program, library or file of any node takes
part. ``KRB5_TRACE`` says which address answered; only the lines that say who was asked,
who answered and how it ended are kept (the trace never reaches the evidence whole).
"""

from __future__ import annotations

import ipaddress
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import asdict, dataclass, field
from typing import Any

from tai_labs.bounded_output import run_capped
from tai_labs.providers.base import NODE_ENV
from tai_labs.providers.errors import EngineError
from tai_labs.providers.netns import NetNamespace, host_tool

#: A realm and a principal as they may reach the configuration file and kinit's argv.
REALM = re.compile(r"[A-Za-z0-9][A-Za-z0-9.-]*")
PRINCIPAL = re.compile(r"[A-Za-z0-9._$/-]+@[A-Za-z0-9.-]+")
#: Trace lines kept for the evidence: the KDC asked, who answered, how it ended.
_TRACE_KEPT = re.compile(
    r"(Sending (TCP|UDP) request|Received answer|Received error from KDC|"
    r"Decrypted AS reply|Response was from|Getting initial credentials|"
    r"Retrieving .* from .*keytab|Preauth|Terminating)",
    re.IGNORECASE,
)
_ANSWERED = re.compile(r"Received answer \(\d+ bytes\) from (?:stream|dgram) ([0-9.]+):(\d+)")


@dataclass
class TicketAttempt:
    """What the host's kinit did: the principal, the KDC asked and who answered, the outcome."""

    principal: str
    kdc: str
    rc: int
    #: Addresses (``ip:port``) the trace says answered.
    answered_by: list[str] = field(default_factory=list)
    #: ``klist`` of the ticket obtained (principal and krbtgt only), empty on failure.
    ticket: str = ""
    error: str = ""
    trace: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def krb5_conf(realm: str, kdc: str) -> str:
    """A configuration naming only ``kdc`` (an IPv4 address) for ``realm``, over TCP."""
    if not REALM.fullmatch(realm):
        raise EngineError(f"not a Kerberos realm: {realm!r}")
    address = ipaddress.IPv4Address(kdc)
    realm = realm.upper()
    # TCP: one stream whose peer the trace names; no DNS of any kind.
    return (
        "[libdefaults]\n"
        f"  default_realm = {realm}\n"
        "  dns_lookup_kdc = false\n"
        "  dns_lookup_realm = false\n"
        "  dns_canonicalize_hostname = false\n"
        "  rdns = false\n"
        "  udp_preference_limit = 1\n"
        "[realms]\n"
        f"  {realm} = {{\n"
        f"    kdc = {address}:88\n"
        "  }\n"
    )


def machine_ticket(
    netns: NetNamespace,
    keytab: bytes,
    principal: str,
    realm: str,
    kdc: str,
    *,
    timeout: float = 30.0,
) -> TicketAttempt:
    """A TGT for ``principal`` from the KDC at ``kdc``, with ``keytab``'s keys, asked from
    ``netns`` by the host's kinit; the folder holding keytab, cache and config is removed."""
    return _ticket(netns, principal, realm, kdc, keytab=keytab, timeout=timeout)


def user_ticket(
    netns: NetNamespace,
    principal: str,
    password: str,
    realm: str,
    kdc: str,
    *,
    timeout: float = 30.0,
) -> TicketAttempt:
    """A TGT for ``principal`` with ``password`` (on kinit's stdin, never in argv), from the
    KDC at ``kdc``, asked from ``netns`` by the host's kinit."""
    return _ticket(netns, principal, realm, kdc, password=password, timeout=timeout)


def _ticket(
    netns: NetNamespace,
    principal: str,
    realm: str,
    kdc: str,
    *,
    keytab: bytes | None = None,
    password: str | None = None,
    timeout: float,
) -> TicketAttempt:
    if not PRINCIPAL.fullmatch(principal):
        raise EngineError(f"not a principal: {principal!r}")
    conf = krb5_conf(realm, kdc)
    folder = tempfile.mkdtemp(prefix="tai-labs-krb-")  # 0700, ours alone
    try:
        os.chmod(folder, 0o700)
        paths = {name: os.path.join(folder, name) for name in ("keytab", "krb5.conf", "cc")}
        for name, data in (("keytab", keytab or b"\x05\x02"), ("krb5.conf", conf.encode())):
            fd = os.open(paths[name], os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
        env = {
            "KRB5_CONFIG": paths["krb5.conf"],
            "KRB5CCNAME": f"FILE:{paths['cc']}",
            "KRB5_KTNAME": f"FILE:{paths['keytab']}",
            "KRB5_TRACE": "/dev/stderr",
        }
        if password is None:
            got = netns.run(["kinit", "-k", "-t", paths["keytab"], principal], timeout=timeout,
                            env=env)  # fmt: skip
        else:
            got = netns.run(
                ["kinit", principal], timeout=timeout, env=env, input=(password + "\n").encode()
            )
        trace = [ln.strip() for ln in got.stderr.splitlines() if _TRACE_KEPT.search(ln)]
        errors = [
            ln.strip()
            for ln in got.stderr.splitlines()
            if ln.startswith("kinit:") or "while getting initial credentials" in ln
        ]
        attempt = TicketAttempt(
            principal=principal,
            kdc=f"{kdc}:88",
            rc=got.rc,
            answered_by=sorted({f"{m[1]}:{m[2]}" for m in _ANSWERED.finditer(got.stderr)}),
            error="\n".join(errors),
            trace=trace[:40],
        )
        if got.rc == 0:
            attempt.ticket = _klist(paths["cc"], env)
        return attempt
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _klist(cache: str, env: dict[str, str]) -> str:
    """The cache's principal and tickets (no network: the host's klist, outside any netns)."""
    try:
        got = run_capped(
            [host_tool("klist"), "-c", f"FILE:{cache}"],
            timeout=10,
            env={**NODE_ENV, "KRB5_CONFIG": env["KRB5_CONFIG"]},
            cwd="/",
        )
    except subprocess.TimeoutExpired:
        return ""
    return got.stdout.decode(errors="replace")
