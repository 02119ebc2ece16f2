"""Judges of the probe.* and record.* checks, on outputs captured from a real lab."""

from __future__ import annotations

import json

from graderkit import FakeSession, evidence, out

from tai_labs.grading.base import CHECKS
from tai_labs.grading.model import Verdict

PASS, FAIL, ERROR = Verdict.PASS, Verdict.FAIL, Verdict.ERROR
DC = "dc1.boulangerieleroy.lan"


# --- probe.dns -------------------------------------------------------------------------------


def test_dns_getent(judge) -> None:
    assert (
        judge(
            "probe.dns", evidence(getent="getent_ahostsv4_ok"), query=DC, expect=["192.168.10.10"]
        ).verdict
        is PASS
    )
    j = judge(
        "probe.dns", evidence(getent="getent_ahostsv4_poisoned"), query=DC, expect=["192.168.10.10"]
    )
    assert j.verdict is FAIL and "192.168.10.66" in j.decisive
    assert (
        judge("probe.dns", evidence(getent="getent_ahostsv4_missing"), query="nosuch.lan").verdict
        is FAIL
    )
    assert judge("probe.dns", evidence(getent=out(1, "", "weird")), query=DC).verdict is ERROR


def test_dns_dig(judge) -> None:
    srv = "_ldap._tcp.boulangerieleroy.lan"
    assert (
        judge(
            "probe.dns",
            evidence(dig="dig_a_ok"),
            query=DC,
            server="192.168.10.10",
            expect=["192.168.10.10"],
        ).verdict
        is PASS
    )
    assert (
        judge(
            "probe.dns", evidence(dig="dig_srv"), query=srv, type="SRV", expect=[DC + "."]
        ).verdict
        is PASS
    )
    assert (
        judge(
            "probe.dns",
            evidence(dig="dig_srv"),
            query=srv,
            type="SRV",
            expect=["dc2.boulangerieleroy.lan"],
        ).verdict
        is FAIL
    )
    ptr = evidence(dig="dig_ptr_none")  # NXDOMAIN: no reverse zone in the lab
    assert judge("probe.dns", ptr, query="192.168.10.10", type="PTR", expect=[DC]).verdict is FAIL
    assert (
        judge("probe.dns", ptr, query="192.168.10.10", type="PTR", resolves=False).verdict is PASS
    )
    gone = evidence(getent="getent_ahostsv4_missing", dig="dig_nxdomain")
    assert (
        judge("probe.dns", gone, query="nosuch.boulangerieleroy.lan", resolves=False).verdict
        is PASS
    )
    assert (
        judge(
            "probe.dns",
            evidence(getent="getent_ahostsv4_ok", dig="dig_a_ok"),
            query=DC,
            resolves=False,
        ).verdict
        is FAIL
    )


def test_dns_no_server_answers(judge) -> None:
    dead = evidence(dig="dig_unreachable")
    assert judge("probe.dns", dead, query=DC, server="192.168.10.99").verdict is FAIL
    # a timeout does not prove that a name is gone
    assert (
        judge("probe.dns", dead, query=DC, server="192.168.10.99", resolves=False).verdict is ERROR
    )
    # getent rc 2 alone is not NXDOMAIN either
    ev = evidence(getent="getent_ahostsv4_missing", dig="dig_unreachable")
    assert judge("probe.dns", ev, query="x.lan", resolves=False).verdict is ERROR
    assert judge("probe.dns", evidence(dig=out(0, "")), query=DC, type="SRV").verdict is ERROR


# --- probe.reach -----------------------------------------------------------------------------


def test_reach_ping(judge) -> None:
    assert judge("probe.reach", evidence(ping="ping_ok"), host="192.168.10.10").verdict is PASS
    assert (
        judge(
            "probe.reach", evidence(ping="ping_ok"), host="192.168.10.10", reachable=False
        ).verdict
        is FAIL
    )
    assert judge("probe.reach", evidence(ping="ping_lost"), host="192.168.10.99").verdict is FAIL
    assert (
        judge(
            "probe.reach", evidence(ping="ping_lost"), host="192.168.10.99", reachable=False
        ).verdict
        is PASS
    )
    assert (
        judge("probe.reach", evidence(ping="ping_unknown"), host="nosuch.invalid").verdict is FAIL
    )
    assert (
        judge(
            "probe.reach", evidence(ping="ping_unknown"), host="nosuch.invalid", reachable=False
        ).verdict
        is ERROR
    )
    fr = out(2, "", "ping: nosuch: Nom ou service inconnu\n")
    assert judge("probe.reach", evidence(ping=fr), host="nosuch", reachable=False).verdict is ERROR
    assert judge("probe.reach", evidence(ping=out(0, "")), host="h").verdict is ERROR


def test_reach_tcp(judge) -> None:
    assert (
        judge("probe.reach", evidence(nc="nc_ok"), host="192.168.10.10", port=445).verdict is PASS
    )
    assert (
        judge("probe.reach", evidence(nc="nc_refused"), host="192.168.10.10", port=446).verdict
        is FAIL
    )
    assert (
        judge("probe.reach", evidence(nc="nc_timeout"), host="192.168.10.99", port=445).verdict
        is FAIL
    )
    assert (
        judge(
            "probe.reach",
            evidence(nc="nc_timeout"),
            host="192.168.10.99",
            port=445,
            reachable=False,
        ).verdict
        is PASS
    )
    assert (
        judge("probe.reach", evidence(nc="nc_unknown"), host="nosuch.invalid", port=445).verdict
        is FAIL
    )
    assert (
        judge("probe.reach", evidence(nc=out(127, "", "nc: not found")), host="h", port=1).verdict
        is ERROR
    )


# --- probe.dhcp (real dhclient run against dnsmasq on the lab's box) --------------------------

LEASE_OUT = """== lease file ==
lease {
  interface "eth1";
  fixed-address 192.168.10.106;
  option subnet-mask 255.255.255.0;
  option routers 192.168.10.254;
  option domain-name-servers 192.168.10.10;
}
"""


def test_dhcp(judge) -> None:
    ok = evidence(dhclient=out(0, LEASE_OUT, "DHCPACK of 192.168.10.106 from 192.168.10.254\n"))
    params = {
        "interface": "eth1",
        "range": ["192.168.10.100", "192.168.10.150"],
        "gateway": "192.168.10.254",
        "dns": ["192.168.10.10"],
    }
    assert judge("probe.dhcp", ok, **params).verdict is PASS
    assert judge("probe.dhcp", ok, **{**params, "gateway": "192.168.10.1"}).verdict is FAIL
    assert (
        judge("probe.dhcp", ok, **{**params, "range": ["192.168.10.200", "192.168.10.250"]}).verdict
        is FAIL
    )
    assert judge("probe.dhcp", ok, **{**params, "dns": ["192.168.10.11"]}).verdict is FAIL
    none = evidence(
        dhclient=out(2, "== lease file ==\n", "No DHCPOFFERS received.\nUnable to obtain a lease\n")
    )
    j = judge("probe.dhcp", none, interface="eth1")
    assert j.verdict is FAIL and j.decisive == "No DHCPOFFERS received."
    assert (
        judge(
            "probe.dhcp", evidence(dhclient=out(127, "", "dhclient: not found")), interface="eth1"
        ).verdict
        is ERROR
    )
    assert judge("probe.dhcp", evidence(dhclient=out(0, "")), interface="eth1").verdict is ERROR


# --- probe.smb (outputs of smbclient 4.17 against the lab's Samba AD DC) ------------------------

LS = (
    "  .                                   D        0  Sun Nov 29 04:46:37 2026\n\n"
    "\t\t264212084 blocks of size 1024. 78262952 blocks available\n"
)


def test_smb(judge) -> None:
    base = {"share": "//dc1/Compta", "user": "alice", "password": "pw"}
    read_ok = evidence(smb=out(0, LS))
    assert judge("probe.smb", read_ok, **base, access="read").verdict is PASS
    assert judge("probe.smb", read_ok, **base, access="denied").verdict is FAIL
    write_ok = evidence(
        smb=out(0, LS + "== write ==\n", "putting file /tmp/x as \\tai-labs-probe-1.txt\n")
    )
    assert judge("probe.smb", write_ok, **base, access="write").verdict is PASS
    no_write = evidence(
        smb=out(1, LS + "== write ==\n", "NT_STATUS_ACCESS_DENIED opening remote file \\x\n")
    )
    assert judge("probe.smb", no_write, **base, access="write").verdict is FAIL
    denied = evidence(smb=out(1, "tree connect failed: NT_STATUS_ACCESS_DENIED\n"))
    assert judge("probe.smb", denied, **base, access="denied").verdict is PASS
    assert judge("probe.smb", denied, **base, access="read").verdict is FAIL
    logon = evidence(smb=out(1, "session setup failed: NT_STATUS_LOGON_FAILURE\n"))
    assert judge("probe.smb", logon, **base, access="denied").verdict is PASS
    noshare = evidence(smb=out(1, "tree connect failed: NT_STATUS_BAD_NETWORK_NAME\n"))
    assert judge("probe.smb", noshare, **base, access="write").verdict is FAIL
    assert judge("probe.smb", noshare, **base, access="denied").verdict is FAIL
    down = evidence(
        smb=out(1, "do_connect: Connection to dc1 failed (Error NT_STATUS_IO_TIMEOUT)\n")
    )
    assert judge("probe.smb", down, **base, access="write").verdict is FAIL
    assert judge("probe.smb", down, **base, access="denied").verdict is ERROR
    assert judge("probe.smb", evidence(smb=out(1, "")), **base, access="read").verdict is ERROR


def test_smb_and_kerberos_keep_passwords_out_of_argv() -> None:
    for check, params in (
        (
            "probe.smb",
            {"share": "//dc1/Compta", "user": "a", "password": "S3cret!", "access": "write"},
        ),
        ("probe.kerberos", {"principal": "a", "password": "S3cret!"}),
    ):
        plugin = CHECKS.get(check)
        session = FakeSession()
        ev = plugin().collect(session, plugin.Params(**params))
        ((argv, stdin),) = session.calls
        assert "S3cret!" not in " ".join(argv) and stdin == "S3cret!\n"
        assert all("S3cret!" not in c.command for c in ev.commands)


# --- probe.kerberos (real kinit outputs, private ccache) -------------------------------------

KLIST = (
    "Ticket cache: FILE:/tmp/tmp.ICgHpDwlAv/cc\nDefault principal: grdtest@BOULANGERIELEROY.LAN\n\n"
    "Valid starting     Expires            Service principal\n"
    "11/29/26 04:47:00  11/29/26 14:47:00  krbtgt/BOULANGERIELEROY.LAN@BOULANGERIELEROY.LAN\n"
)


def test_kerberos(judge) -> None:
    ok = evidence(kinit=out(0, "Password for grdtest@BOULANGERIELEROY.LAN: \n" + KLIST))
    assert judge("probe.kerberos", ok, principal="grdtest", password="x").verdict is PASS
    for err in (
        "kinit: Password incorrect while getting initial credentials",
        "kinit: Client's credentials have been revoked while getting initial credentials",
        "kinit: Clock skew too great while getting initial credentials",
        "kinit: Client 'x@R' not found in Kerberos database while getting initial credentials",
        'kinit: Cannot find KDC for realm "NOSUCH.LAN" while getting initial credentials',
    ):
        j = judge(
            "probe.kerberos", evidence(kinit=out(1, "", err + "\n")), principal="x", password="y"
        )
        assert j.verdict is FAIL and j.decisive == err
    odd = out(1, "", "kinit: Cannot read password while getting initial credentials\n")
    assert (
        judge("probe.kerberos", evidence(kinit=odd), principal="x", password="y").verdict is ERROR
    )
    assert (
        judge("probe.kerberos", evidence(kinit=out(0, "")), principal="x", password="y").verdict
        is ERROR
    )


def jury_ticket(rc: int, answered: list[str], error: str = "", ticket: str = "") -> object:
    """What HostSideSession.user_ticket returns (the host's kinit, as in test_host_kinit)."""
    attempt = {"principal": "grdtest@R", "kdc": "192.168.10.10:88", "rc": rc,
               "answered_by": answered, "ticket": ticket, "error": error, "trace": []}  # fmt: skip
    return evidence(jury=out(0, json.dumps(attempt)))


def test_kerberos_asked_by_the_jury(judge) -> None:
    kw = {"principal": "grdtest@R", "password": "x", "kdc": "192.168.10.10"}
    dc = ["192.168.10.10:88"]
    assert judge("probe.kerberos", jury_ticket(0, dc, ticket=KLIST), **kw).verdict is PASS
    # A ticket from another address is not the intended KDC's.
    other = jury_ticket(0, ["192.168.10.51:88"], ticket=KLIST)
    assert judge("probe.kerberos", other, **kw).verdict is ERROR
    for err in (
        "kinit: Password incorrect while getting initial credentials",
        "kinit: Cannot contact any KDC for realm 'R' while getting initial credentials",
    ):
        j = judge("probe.kerberos", jury_ticket(1, [], error=err), **kw)
        assert j.verdict is FAIL and j.decisive == err
    odd = jury_ticket(1, dc, error="kinit: Cannot read password while getting initial credentials")
    assert judge("probe.kerberos", odd, **kw).verdict is ERROR


# --- probe.http ------------------------------------------------------------------------------


def test_http(judge) -> None:
    ok = evidence(
        curl=out(0, "<html>Intranet Dupuis</html>\n== status 200", "proxy: none / none\n")
    )
    assert judge("probe.http", ok, url="http://intranet/").verdict is PASS
    assert judge("probe.http", ok, url="http://intranet/", contains="Dupuis").verdict is PASS
    assert judge("probe.http", ok, url="http://intranet/", contains="Morel").verdict is FAIL
    assert judge("probe.http", ok, url="http://intranet/", status=204).verdict is FAIL
    refused = evidence(
        curl=out(
            7,
            "\n== status 000",
            "proxy: http://10.255.255.1:3128 / none\n"
            "curl: (7) Failed to connect to 10.255.255.1 port 3128\n",
        )
    )
    j = judge("probe.http", refused, url="http://intranet/")
    assert j.verdict is FAIL and "3128" in j.decisive
    assert (
        judge(
            "probe.http", evidence(curl=out(127, "", "sh: curl: not found")), url="http://x/"
        ).verdict
        is ERROR
    )
    assert judge("probe.http", evidence(curl=out(0, "")), url="http://x/").verdict is ERROR


# --- record.report / record.inventory --------------------------------------------------------

STAT = out(0, "regular file|644|alice|alice|1000|1000|300\n")


def test_report(judge) -> None:
    text = (
        "# Compte rendu d'intervention\nDate : 12/03\nDiagnostic : le résolveur DNS pointait vers "
        "192.168.10.99\n**Action corrective** : correction de /etc/resolv.conf\n\n## Vérification\n"
        "Accès au partage Compta rétabli.\n"
    )
    ev = evidence(stat=STAT, content=out(0, text))
    fields = ["Diagnostic", "Action corrective", "Vérification"]
    assert (
        judge(
            "record.report", ev, path="/r.md", fields=fields, mentions=["DNS", "resolv.conf"]
        ).verdict
        is PASS
    )
    assert (
        judge("record.report", ev, path="/r.md", fields=["diagnostic", "verification"]).verdict
        is PASS
    )
    assert judge("record.report", ev, path="/r.md", fields=["Cause"]).verdict is FAIL
    assert (
        judge(
            "record.report", ev, path="/r.md", fields=["Diagnostic"], mentions=["pare-feu"]
        ).verdict
        is FAIL
    )
    todo = evidence(stat=STAT, content=out(0, "Diagnostic : ...\nAction : à compléter\n"))
    j = judge("record.report", todo, path="/r.md", fields=["Diagnostic"])
    assert j.verdict is FAIL and "Diagnostic" in j.decisive
    missing = evidence(stat="stat_missing", content=out(1, "", "No such file or directory"))
    assert judge("record.report", missing, path="/r.md", fields=["Diagnostic"]).verdict is FAIL
    empty = evidence(stat=out(0, "regular empty file|644|a|a|1000|1000|0\n"), content=out(0, ""))
    assert judge("record.report", empty, path="/r.md", fields=["Diagnostic"]).verdict is FAIL
    prose = evidence(stat=STAT, content=out(0, "J'ai tout réparé, c'était le DNS.\n"))
    assert judge("record.report", prose, path="/r.md", fields=["Diagnostic"]).verdict is ERROR
    unread = evidence(stat=STAT, content=out(0, ""))
    assert judge("record.report", unread, path="/r.md", fields=["Diagnostic"]).verdict is ERROR


def test_inventory(judge) -> None:
    md = (
        "| Poste | Emplacement | Utilisateur | OS |\n|---|---|---|---|\n"
        "| PC1 | Bureau 2 | L. Simon | Debian |\n"
        "| dc1 | Baie | - | Debian |\n"
    )
    ev = evidence(stat=STAT, content=out(0, md))
    assert judge("record.inventory", ev, path="/i.md", machines=["pc1"]).verdict is PASS
    j = judge("record.inventory", ev, path="/i.md", machines=["pc1", "dc1"])
    assert j.verdict is FAIL and "dc1" in j.decisive
    assert judge("record.inventory", ev, path="/i.md", machines=["box"]).verdict is FAIL
    csv = "machine;location;user\npc1;Accueil;Lucas Simon\nbox;Baie;réseau\n"
    ev = evidence(stat=STAT, content=out(0, csv))
    assert judge("record.inventory", ev, path="/i.csv", machines=["pc1", "box"]).verdict is PASS
    no_user = evidence(stat=STAT, content=out(0, "Nom,Lieu\npc1,Accueil\n"))
    assert judge("record.inventory", no_user, path="/i.csv", machines=["pc1"]).verdict is FAIL
    prose = evidence(stat=STAT, content=out(0, "pc1 est à l'accueil, utilisé par Lucas.\n"))
    assert judge("record.inventory", prose, path="/i.txt", machines=["pc1"]).verdict is ERROR
