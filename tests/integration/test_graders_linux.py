"""linux.*, probe.* and record.* checks against a real lab (compte-verrouille: dc1, box, pc1).

Each family is shown to pass on a correct state, fail on a state broken here, and answer
error when the evidence is unusable; every test puts back what it changed. One lab serves the
module. Needs root and LXC (and the role images, built on first use).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from typing import Any

import pytest

from tai_labs.grading.base import CHECKS
from tai_labs.grading.model import Judgement, Verdict
from tai_labs.sessions.exec import ExecSession

pytestmark = pytest.mark.integration

PASS, FAIL, ERROR = Verdict.PASS, Verdict.FAIL, Verdict.ERROR
DC_IP = "192.168.10.10"
SMB_USER, SMB_PASSWORD = "grdsmb", "Grd-Smb-2024!x"
OTHER_USER, OTHER_PASSWORD = "grdother", "Grd-Other-2024!x"


@pytest.fixture(scope="module")
def lab() -> Iterator[Any]:
    if os.geteuid() != 0:
        pytest.skip("needs root (LXC containers)")
    if shutil.which("lxc-attach") is None:
        pytest.skip("needs LXC (apt-get install -y lxc)")
    from tai_labs.lab import lifecycle
    from tai_labs.providers.naming import new_lab_id
    from tai_labs.scenario.catalog import find

    lab_id = new_lab_id()
    try:
        try:
            lab = lifecycle.up(
                find("compte-verrouille"), candidate="grd", seed=0, lab_id=lab_id, faults=False
            )
        except Exception:
            # samba-tool provision is sometimes killed when several labs start at once: retry once
            lifecycle.down(lab_id)
            lab_id = new_lab_id()
            lab = lifecycle.up(
                find("compte-verrouille"), candidate="grd", seed=0, lab_id=lab_id, faults=False
            )
        yield lab
    finally:
        lifecycle.down(lab_id)


@pytest.fixture(scope="module")
def realm(lab: Any) -> str:
    return str(lab.loaded.variables["realm"])


def sh(lab: Any, node: str, script: str, *args: str, input: str | None = None) -> str:
    """Set a state up on a node; fail the test if that does not work."""
    r = lab.exec(node, ["sh", "-c", script, "sh", *args], input=input, timeout=60)
    assert r.rc == 0, f"{node}: {script}: rc={r.rc} {r.stderr}"
    return str(r.stdout)


def check(lab: Any, node: str, name: str, **params: Any) -> Judgement:
    """Collect then judge, as the runner does, over an exec session."""
    plugin = CHECKS.get(name)
    session = ExecSession(
        node, lambda argv, input, timeout: lab.exec(node, argv, input=input, timeout=timeout)
    )
    p = plugin.Params.model_validate(params)
    evidence = plugin().collect(session, p)  # type: ignore[attr-defined]
    judgement: Judgement = plugin().judge(evidence, p)  # type: ignore[attr-defined]
    return judgement


def verdict(lab: Any, node: str, name: str, **params: Any) -> Verdict:
    j = check(lab, node, name, **params)
    print(f"{name} {params} -> {j.verdict.value}: {j.why_en} [{j.decisive}]")
    return j.verdict


# --- system state ----------------------------------------------------------------------------


def test_service(lab: Any) -> None:
    assert verdict(lab, "pc1", "linux.service", service="cron", enabled=True) is PASS
    try:
        sh(lab, "pc1", "systemctl stop cron && systemctl disable --quiet cron")
        assert verdict(lab, "pc1", "linux.service", service="cron") is FAIL
        assert (
            verdict(lab, "pc1", "linux.service", service="cron", active=False, enabled=False)
            is PASS
        )
    finally:
        sh(lab, "pc1", "systemctl enable --now --quiet cron")
    assert verdict(lab, "pc1", "linux.service", service="grd-nosuch", active=False) is ERROR


def test_package(lab: Any) -> None:
    assert verdict(lab, "pc1", "linux.package", package="smbclient") is PASS
    assert verdict(lab, "pc1", "linux.package", package="cups") is FAIL
    assert verdict(lab, "pc1", "linux.package", package="cups", installed=False) is PASS


def test_file(lab: Any) -> None:
    assert (
        verdict(lab, "pc1", "linux.file", path="/etc/hosts", lacks="192.168.10.66", mode="644")
        is PASS
    )
    try:
        sh(lab, "pc1", 'echo "192.168.10.66 dc1.$1" >> /etc/hosts && chmod 600 /etc/hosts', "x.lan")
        assert verdict(lab, "pc1", "linux.file", path="/etc/hosts", lacks="192.168.10.66") is FAIL
        assert verdict(lab, "pc1", "linux.file", path="/etc/hosts", mode="644") is FAIL
    finally:
        sh(lab, "pc1", "sed -i /192.168.10.66/d /etc/hosts && chmod 644 /etc/hosts")
    assert verdict(lab, "pc1", "linux.file", path="/etc/grd-nosuch", exists=False) is PASS
    # a file root cannot stat: /proc/1/root of an unprivileged view is not the case here, so
    # take a path stat refuses (a component that is not a directory)
    assert verdict(lab, "pc1", "linux.file", path="/etc/hosts/x", exists=False) is ERROR


def test_user(lab: Any) -> None:
    sh(lab, "pc1", "groupadd -f grdg && (id grdu >/dev/null 2>&1 || useradd -G grdg grdu)")
    try:
        assert verdict(lab, "pc1", "linux.user", user="grdu", groups=["grdg"]) is PASS
        sh(lab, "pc1", "gpasswd -d grdu grdg >/dev/null")
        assert verdict(lab, "pc1", "linux.user", user="grdu", groups=["grdg"]) is FAIL
        assert verdict(lab, "pc1", "linux.user", user="grd-nosuch") is FAIL
    finally:
        sh(lab, "pc1", "userdel grdu; groupdel grdg; true")


def test_mount(lab: Any) -> None:
    sh(lab, "pc1", "mkdir -p /srv/grd && mount -t tmpfs -o size=8m tmpfs /srv/grd")
    try:
        assert (
            verdict(lab, "pc1", "linux.mount", mountpoint="/srv/grd", fstype="tmpfs") is FAIL
        )  # no fstab
        sh(lab, "pc1", "echo 'tmpfs /srv/grd tmpfs size=8m 0 0' >> /etc/fstab")
        assert verdict(lab, "pc1", "linux.mount", mountpoint="/srv/grd", fstype="tmpfs") is PASS
        assert verdict(lab, "pc1", "linux.disk_free", path="/srv/grd", min_free_mib=4) is PASS
        sh(lab, "pc1", "head -c 7M /dev/zero > /srv/grd/junk")
        assert verdict(lab, "pc1", "linux.disk_free", path="/srv/grd", min_free_mib=4) is FAIL
    finally:
        sh(lab, "pc1", "umount /srv/grd; sed -i '\\#/srv/grd#d' /etc/fstab")
    assert verdict(lab, "pc1", "linux.mount", mountpoint="/srv/grd", persistent=False) is FAIL
    assert verdict(lab, "pc1", "linux.disk_free", path="/grd-nosuch", min_free_mib=1) is ERROR


def test_firewall_and_tcp_probe(lab: Any) -> None:
    assert verdict(lab, "pc1", "linux.firewall", port=445) is PASS
    assert verdict(lab, "pc1", "probe.reach", host=DC_IP, port=445) is PASS
    try:
        sh(
            lab,
            "pc1",
            "nft add table inet grd && nft add chain inet grd out "
            "'{ type filter hook output priority 0; policy accept; }' && "
            "nft add rule inet grd out tcp dport 445 drop",
        )
        assert verdict(lab, "pc1", "linux.firewall", port=445) is FAIL
        assert verdict(lab, "pc1", "linux.firewall", port=445, allowed=False) is PASS
        assert verdict(lab, "pc1", "probe.reach", host=DC_IP, port=445) is FAIL
        assert verdict(lab, "pc1", "linux.firewall", port=389) is PASS
    finally:
        sh(lab, "pc1", "nft delete table inet grd")
    try:
        sh(lab, "pc1", "mv /usr/sbin/nft /usr/sbin/nft.grd")
        assert verdict(lab, "pc1", "linux.firewall", port=445) is ERROR
    finally:
        sh(lab, "pc1", "mv /usr/sbin/nft.grd /usr/sbin/nft")


def test_network_settings(lab: Any) -> None:
    assert verdict(lab, "pc1", "linux.resolver", nameservers=[DC_IP]) is PASS
    assert verdict(lab, "pc1", "linux.route", via="192.168.10.254") is PASS
    assert verdict(lab, "pc1", "linux.route", via="192.168.10.1") is FAIL
    assert (
        verdict(lab, "pc1", "linux.address", interface="eth1", address="192.168.10.51/24") is PASS
    )
    assert (
        verdict(lab, "pc1", "linux.address", interface="eth1", address="192.168.10.52/24") is FAIL
    )
    assert (
        verdict(lab, "pc1", "linux.address", interface="eth9", address="192.168.10.51/24") is FAIL
    )
    saved = sh(lab, "pc1", "cat /etc/resolv.conf")
    try:
        sh(lab, "pc1", "echo 'nameserver 192.168.10.99' > /etc/resolv.conf")
        assert verdict(lab, "pc1", "linux.resolver", nameservers=[DC_IP]) is FAIL
        sh(lab, "pc1", "echo 'nameserver 127.0.0.53' > /etc/resolv.conf")
        assert verdict(lab, "pc1", "linux.resolver", nameservers=[DC_IP]) is ERROR
    finally:
        sh(lab, "pc1", "cat > /etc/resolv.conf", input=saved)


def test_hostname_timezone_locale(lab: Any) -> None:
    assert verdict(lab, "pc1", "linux.hostname", hostname="pc1") is PASS
    try:
        sh(lab, "pc1", "echo pc2 > /etc/hostname")
        assert verdict(lab, "pc1", "linux.hostname", hostname="pc2") is FAIL  # not applied
    finally:
        sh(lab, "pc1", "echo pc1 > /etc/hostname")
    try:
        sh(lab, "pc1", "timedatectl set-timezone Europe/Paris")
        assert (
            verdict(lab, "pc1", "linux.timezone", timezone="Europe/Paris", max_skew_seconds=30)
            is PASS
        )
        sh(lab, "pc1", "timedatectl set-timezone America/New_York")
        assert verdict(lab, "pc1", "linux.timezone", timezone="Europe/Paris") is FAIL
    finally:
        sh(lab, "pc1", "timedatectl set-timezone Etc/UTC")
    try:
        sh(
            lab,
            "pc1",
            "echo LANG=fr_FR.UTF-8 > /etc/default/locale && "
            "echo 'XKBLAYOUT=\"fr\"' > /etc/default/keyboard",
        )
        assert verdict(lab, "pc1", "linux.locale") is PASS
        sh(lab, "pc1", "echo LANG=C.UTF-8 > /etc/default/locale")
        assert verdict(lab, "pc1", "linux.locale") is FAIL
    finally:
        sh(lab, "pc1", "rm -f /etc/default/locale /etc/default/keyboard")
    assert verdict(lab, "pc1", "linux.locale") is FAIL  # factory state: no locale file


def test_cron(lab: Any) -> None:
    assert verdict(lab, "pc1", "linux.cron", command="/srv/sauvegarde") is FAIL
    try:
        sh(
            lab,
            "pc1",
            "printf '30 12 * * * root tar -czf /srv/sauvegarde/h.tar.gz /home\\n' "
            "> /etc/cron.d/sauvegarde-documents",
        )
        assert (
            verdict(lab, "pc1", "linux.cron", command="/srv/sauvegarde", schedule="30 12 * * *")
            is PASS
        )
        assert (
            verdict(lab, "pc1", "linux.cron", command="/srv/sauvegarde", schedule="0 13 * * *")
            is FAIL
        )
        sh(lab, "pc1", "mv /etc/cron.d/sauvegarde-documents /etc/cron.d/sauvegarde.documents")
        assert (
            verdict(lab, "pc1", "linux.cron", command="/srv/sauvegarde") is FAIL
        )  # ignored by cron
    finally:
        sh(lab, "pc1", "rm -f /etc/cron.d/sauvegarde-documents /etc/cron.d/sauvegarde.documents")


def test_sshd_printer_module(lab: Any) -> None:
    assert verdict(lab, "pc1", "linux.sshd", permit_root_login="prohibit-password") is PASS
    assert verdict(lab, "pc1", "linux.sshd", permit_root_login="no") is FAIL
    try:
        sh(lab, "pc1", "echo 'PermitRootLogin no' > /etc/ssh/sshd_config.d/00-grd.conf")
        assert verdict(lab, "pc1", "linux.sshd", permit_root_login="no") is PASS
        sh(lab, "pc1", "echo 'Bogus yes' > /etc/ssh/sshd_config.d/00-grd.conf")
        assert verdict(lab, "pc1", "linux.sshd", permit_root_login="no") is FAIL  # invalid config
    finally:
        sh(lab, "pc1", "rm -f /etc/ssh/sshd_config.d/00-grd.conf")
    # a queue that does not exist, then one that is ready and default, then paused
    assert verdict(lab, "pc1", "linux.printer", queue="Compta-Laser") is FAIL
    try:
        sh(lab, "pc1", "lpadmin -p Compta-Laser -v ipp://192.0.2.9/ipp/print -m raw -E")
        sh(lab, "pc1", "lpadmin -d Compta-Laser")
        assert verdict(lab, "pc1", "linux.printer", queue="Compta-Laser", default=True) is PASS
        sh(lab, "pc1", "cupsdisable Compta-Laser")
        assert verdict(lab, "pc1", "linux.printer", queue="Compta-Laser") is FAIL
    finally:
        sh(lab, "pc1", "lpadmin -x Compta-Laser || true")
    # a container shares the host's kernel: /sys/module shows the host's modules
    assert verdict(lab, "pc1", "linux.kernel_module", module="grd_nosuch") is FAIL


# --- probes ----------------------------------------------------------------------------------


def test_dns_probe(lab: Any, realm: str) -> None:
    dc = f"dc1.{realm}"
    assert verdict(lab, "pc1", "probe.dns", query=dc, expect=[DC_IP]) is PASS
    assert (
        verdict(lab, "pc1", "probe.dns", query=f"_ldap._tcp.{realm}", type="SRV", expect=[dc])
        is PASS
    )
    assert verdict(lab, "pc1", "probe.dns", query=f"nosuch.{realm}", resolves=False) is PASS
    try:
        sh(lab, "pc1", 'echo "192.168.10.66 $1" >> /etc/hosts', dc)
        assert verdict(lab, "pc1", "probe.dns", query=dc, expect=[DC_IP]) is FAIL
    finally:
        sh(lab, "pc1", "sed -i /192.168.10.66/d /etc/hosts")
    assert verdict(lab, "pc1", "probe.dns", query=dc, server="192.168.10.99") is FAIL
    assert (
        verdict(lab, "pc1", "probe.dns", query=dc, server="192.168.10.99", resolves=False) is ERROR
    )


def test_reach_probe(lab: Any) -> None:
    assert verdict(lab, "pc1", "probe.reach", host=DC_IP) is PASS
    assert verdict(lab, "pc1", "probe.reach", host="192.168.10.99") is FAIL
    assert verdict(lab, "pc1", "probe.reach", host="192.168.10.99", reachable=False) is PASS
    assert verdict(lab, "pc1", "probe.reach", host="nosuch.invalid", reachable=False) is ERROR


def test_dhcp_probe(lab: Any) -> None:
    before = sh(lab, "pc1", "ip -4 -o addr show dev eth1")
    assert verdict(lab, "pc1", "probe.dhcp", interface="eth1") is FAIL  # no DHCP server yet
    sh(
        lab,
        "box",
        "dnsmasq --port=0 --interface=eth1 --bind-interfaces "
        "--dhcp-range=192.168.10.100,192.168.10.150,255.255.255.0,1h "
        "--dhcp-option=3,192.168.10.254 --dhcp-option=6,192.168.10.10 "
        "--pid-file=/run/grd-dnsmasq.pid --dhcp-leasefile=/run/grd-dnsmasq.leases",
    )
    try:
        params = {
            "interface": "eth1",
            "range": ["192.168.10.100", "192.168.10.150"],
            "gateway": "192.168.10.254",
            "dns": [DC_IP],
        }
        assert verdict(lab, "pc1", "probe.dhcp", **params) is PASS
        assert verdict(lab, "pc1", "probe.dhcp", **{**params, "gateway": "192.168.10.1"}) is FAIL
    finally:
        sh(lab, "box", "kill $(cat /run/grd-dnsmasq.pid); rm -f /run/grd-dnsmasq.*")
    # the probe leaves the interface as it found it
    assert sh(lab, "pc1", "ip -4 -o addr show dev eth1") == before
    assert (
        verdict(lab, "pc1", "probe.dhcp", interface="grd0") is FAIL
    )  # no such interface: no lease


@pytest.fixture(scope="module")
def share(lab: Any, realm: str) -> str:
    sh(
        lab,
        "dc1",
        'samba-tool user create "$1" "$2" >/dev/null && '
        'samba-tool user create "$3" "$4" >/dev/null',
        SMB_USER,
        SMB_PASSWORD,
        OTHER_USER,
        OTHER_PASSWORD,
    )
    sh(
        lab,
        "dc1",
        "mkdir -p /srv/compta && chmod 1777 /srv/compta && "
        'printf "\\n[Compta]\\n\\tpath = /srv/compta\\n\\tread only = no\\n'
        '\\tvalid users = %s\\n" "$1" '
        ">> /etc/samba/smb.conf && smbcontrol all reload-config",
        SMB_USER,
    )
    return f"//dc1.{realm}/Compta"


def test_smb_probe(lab: Any, share: str) -> None:
    assert (
        verdict(
            lab,
            "pc1",
            "probe.smb",
            share=share,
            user=SMB_USER,
            password=SMB_PASSWORD,
            access="write",
        )
        is PASS
    )
    assert (
        verdict(
            lab,
            "pc1",
            "probe.smb",
            share=share,
            user=OTHER_USER,
            password=OTHER_PASSWORD,
            access="denied",
        )
        is PASS
    )
    assert (
        verdict(
            lab,
            "pc1",
            "probe.smb",
            share=share,
            user=OTHER_USER,
            password=OTHER_PASSWORD,
            access="read",
        )
        is FAIL
    )
    assert (
        verdict(
            lab, "pc1", "probe.smb", share=share, user=SMB_USER, password="wrong", access="write"
        )
        is FAIL
    )
    try:
        sh(
            lab,
            "dc1",
            "sed -i 's/read only = no/read only = yes/' /etc/samba/smb.conf && "
            "smbcontrol all reload-config",
        )
        assert (
            verdict(
                lab,
                "pc1",
                "probe.smb",
                share=share,
                user=SMB_USER,
                password=SMB_PASSWORD,
                access="write",
            )
            is FAIL
        )
        assert (
            verdict(
                lab,
                "pc1",
                "probe.smb",
                share=share,
                user=SMB_USER,
                password=SMB_PASSWORD,
                access="read",
            )
            is PASS
        )
    finally:
        sh(
            lab,
            "dc1",
            "sed -i 's/read only = yes/read only = no/' /etc/samba/smb.conf && "
            "smbcontrol all reload-config",
        )
    unreachable = "//192.168.10.99/Compta"
    assert (
        verdict(
            lab,
            "pc1",
            "probe.smb",
            share=unreachable,
            user=SMB_USER,
            password=SMB_PASSWORD,
            access="denied",
        )
        is ERROR
    )


def test_kerberos_probe(lab: Any, share: str) -> None:
    assert verdict(lab, "pc1", "probe.kerberos", principal=SMB_USER, password=SMB_PASSWORD) is PASS
    assert verdict(lab, "pc1", "probe.kerberos", principal=SMB_USER, password="wrong") is FAIL
    assert verdict(lab, "pc1", "probe.kerberos", principal="grd-nosuch", password="x") is FAIL
    try:
        sh(lab, "pc1", "mv /usr/bin/kinit /usr/bin/kinit.grd")
        assert (
            verdict(lab, "pc1", "probe.kerberos", principal=SMB_USER, password=SMB_PASSWORD)
            is ERROR
        )
    finally:
        sh(lab, "pc1", "mv /usr/bin/kinit.grd /usr/bin/kinit")


def test_http_probe(lab: Any) -> None:
    url = "http://192.168.10.254:8080/"
    assert verdict(lab, "pc1", "probe.http", url=url) is FAIL  # nothing listens
    # one-shot web server on the box: netcat answers one request with a canned page
    page = "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nIntranet tai-labs\n"
    sh(lab, "box", '(printf "%s" "$1" | nc -l -N -p 8080 >/dev/null 2>&1 &) ; sleep 0.3', page)
    assert verdict(lab, "pc1", "probe.http", url=url, contains="Intranet") is PASS
    sh(lab, "box", '(printf "%s" "$1" | nc -l -N -p 8080 >/dev/null 2>&1 &) ; sleep 0.3', page)
    try:
        sh(lab, "pc1", "echo 'http_proxy=http://10.255.255.1:3128' >> /etc/environment")
        assert verdict(lab, "pc1", "probe.http", url=url) is FAIL  # through the dead proxy
    finally:
        sh(lab, "pc1", "sed -i /10.255.255.1/d /etc/environment")
        lab.exec("box", ["sh", "-c", "pkill -x nc; true"])


# --- records ---------------------------------------------------------------------------------


def test_records(lab: Any) -> None:
    report = "/root/compte-rendu.md"
    inventory = "/root/inventaire.csv"
    assert verdict(lab, "pc1", "record.report", path=report, fields=["Diagnostic"]) is FAIL
    try:
        sh(
            lab,
            "pc1",
            'cat > "$1"',
            report,
            input="# Intervention\nDiagnostic : résolveur DNS erroné\nAction : correction\n"
            "Vérification :\n",
        )
        assert (
            verdict(
                lab,
                "pc1",
                "record.report",
                path=report,
                fields=["Diagnostic", "Action"],
                mentions=["DNS"],
            )
            is PASS
        )
        assert (
            verdict(lab, "pc1", "record.report", path=report, fields=["Diagnostic", "Vérification"])
            is FAIL
        )
        sh(
            lab,
            "pc1",
            'cat > "$1"',
            inventory,
            input="Poste;Emplacement;Utilisateur\npc1;Accueil;L. Simon\n",
        )
        assert verdict(lab, "pc1", "record.inventory", path=inventory, machines=["pc1"]) is PASS
        assert (
            verdict(lab, "pc1", "record.inventory", path=inventory, machines=["pc1", "dc1"]) is FAIL
        )
        sh(lab, "pc1", 'cat > "$1"', inventory, input="pc1 est à l'accueil\n")
        assert verdict(lab, "pc1", "record.inventory", path=inventory, machines=["pc1"]) is ERROR
    finally:
        sh(lab, "pc1", 'rm -f "$1" "$2"', report, inventory)
