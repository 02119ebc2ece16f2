"""The fault catalogue on real LXC nodes: every fault's inject, idempotence, in_place, and
that the node is really broken (then repaired, so the next test starts from a sane node).

Labs: the scenario ``compte-verrouille`` (dc1, box, pc1) for Linux, AD and router faults;
a pc1 with ``disk_mib`` for disk_full; a router serving DHCP and a pair of switches
(roles_fixtures) for DHCP and switch faults.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from roles_fixtures import RoleLab, running_lab, skip_unless_images
from topologies import (
    DEVICE_PASSWORD,
    N1,
    N2,
    RELAY_N2,
    V10,
    V20,
    access,
    client,
    n1_scope,
    networks,
    router,
    svi_switch,
    switch,
    trunk,
)

from conftest import host_problem
from tai_labs.context import NodeContext
from tai_labs.faults.base import FAULTS, FaultError
from tai_labs.faults.linux import networkd_setup_state, settle
from tai_labs.sessions.ldap import ldaps_bind

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"


def skip_unless_lab_host() -> None:
    problem = host_problem("lxc-start", "lxc-attach", "ip", "nft")
    if problem:
        pytest.skip(problem)


def sh(ctx: NodeContext, script: str, *args: str, check: bool = False) -> str:
    """A fixed test script in the node (values only as positional arguments)."""
    res = ctx.run(["sh", "-c", script, "sh", *args], check=check, timeout=60)
    return res.stdout + res.stderr


def prove(
    ctx: NodeContext,
    name: str,
    params: dict[str, Any],
    fingerprint: Callable[[], str],
    broken: Callable[[], bool] | None = None,
) -> Any:
    """in_place False -> inject -> True; a second inject changes nothing; the node is broken."""
    cls = FAULTS.get(name)
    assert not cls.missing_parts(), cls.missing_parts()
    fault, p = cls(), cls.Params.model_validate(params)
    assert not fault.in_place(ctx, p), f"{name} already in place before injection"
    fault.inject(ctx, p)
    assert fault.in_place(ctx, p), f"{name} not in place after injection"
    first = fingerprint()
    fault.inject(ctx, p)
    assert fingerprint() == first, f"{name}: a second injection changed something"
    assert fault.in_place(ctx, p)
    if broken is not None:
        assert broken(), f"{name} is in place but the node is not broken"
    return fault, p


# -- the scenario lab -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lab() -> Iterator[Any]:
    skip_unless_lab_host()
    skip_unless_images("ad-dc", "router", "client")
    from tai_labs.lab import lifecycle
    from tai_labs.scenario.catalog import find

    up = None
    try:
        up = lifecycle.up(find("compte-verrouille"), candidate="flt", seed=0, faults=False)
        yield up
    finally:
        from tai_labs.lab.store import Store

        for record in Store().labs():
            if record.candidate == "flt" and record.scenario == "compte-verrouille":
                lifecycle.down(record.id)
        if up is not None:
            lifecycle.down(up.id)


@pytest.fixture(scope="module")
def pc1(lab: Any) -> NodeContext:
    return lab.context("pc1")


@pytest.fixture(scope="module")
def dc1(lab: Any) -> NodeContext:
    return lab.context("dc1")


@pytest.fixture(scope="module")
def box(lab: Any) -> NodeContext:
    return lab.context("box")


def pc1_files(pc1: NodeContext, *paths: str) -> Callable[[], str]:
    return lambda: sh(
        pc1, 'for f in "$@"; do echo "== $f"; stat -c %Y "$f"; cat "$f"; done', *paths
    )


def pings(ctx: NodeContext, host: str) -> bool:
    return ctx.run(["ping", "-c", "1", "-W", "2", host], check=False).ok


def can_reach(ctx: NodeContext, host: str, port: int) -> bool:
    return ctx.run(["nc", "-z", "-w", "3", host, str(port)], check=False, timeout=15).ok


# -- Linux -------------------------------------------------------------------------------------


def test_dns_resolver(pc1: NodeContext) -> None:
    realm = pc1.scenario.directory.realm  # type: ignore[union-attr]
    saved = sh(pc1, "cat /etc/resolv.conf")
    try:
        prove(
            pc1,
            "linux.dns_resolver",
            {"nameserver": "192.168.10.99"},
            pc1_files(pc1, "/etc/resolv.conf"),
            lambda: not pc1.run(["getent", "hosts", f"dc1.{realm}"], check=False, timeout=60).ok,
        )
    finally:
        pc1.write_file("/etc/resolv.conf", saved)


def test_hosts_poisoned(pc1: NodeContext) -> None:
    realm = pc1.scenario.directory.realm  # type: ignore[union-attr]
    saved = sh(pc1, "cat /etc/hosts")
    try:
        prove(
            pc1,
            "linux.hosts_poisoned",
            {"hostname": f"dc1.{realm}", "address": "192.168.10.66"},
            pc1_files(pc1, "/etc/hosts"),
            lambda: not can_reach(pc1, f"dc1.{realm}", 445),
        )
    finally:
        pc1.write_file("/etc/hosts", saved)
    assert can_reach(pc1, f"dc1.{realm}", 445)


def test_firewall_block(pc1: NodeContext) -> None:
    assert can_reach(pc1, "192.168.10.10", 445)
    saved = sh(pc1, "cat /etc/nftables.conf")
    try:
        prove(
            pc1,
            "linux.firewall_block",
            {"port": 445},
            lambda: sh(
                pc1, "nft list ruleset; md5sum /etc/nftables.conf; systemctl is-enabled nftables"
            ),
            lambda: not can_reach(pc1, "192.168.10.10", 445),
        )
        # Persistent: what the next boot loads blocks it again.
        pc1.run(["nft", "flush", "ruleset"])
        pc1.run(["systemctl", "restart", "nftables.service"])
        assert not can_reach(pc1, "192.168.10.10", 445)
    finally:
        pc1.run(["nft", "flush", "ruleset"])
        pc1.write_file("/etc/nftables.conf", saved, mode="0755")
        pc1.run(["systemctl", "disable", "--quiet", "nftables.service"], check=False)
    assert can_reach(pc1, "192.168.10.10", 445)


NETWORKD_ETH1 = "/etc/systemd/network/10-tai-labs-eth1.network"


@pytest.fixture
def eth1_restored(pc1: NodeContext) -> Iterator[None]:
    saved = sh(pc1, "cat " + NETWORKD_ETH1)
    yield
    pc1.write_file(NETWORKD_ETH1, saved)
    pc1.run(["networkctl", "reload"])
    pc1.run(["ip", "link", "set", "dev", "eth1", "up"])
    pc1.run(["networkctl", "reconfigure", "eth1"])
    settle(lambda: networkd_setup_state(pc1, "eth1") == "configured")
    for _ in range(20):
        if pc1.run(["ping", "-c", "1", "-W", "1", "192.168.10.254"], check=False).ok:
            break
    assert "192.168.10.51/24" in sh(pc1, "ip -4 -br addr show dev eth1")


def net_state(pc1: NodeContext) -> Callable[[], str]:
    return lambda: sh(pc1, "cat " + NETWORKD_ETH1 + "; ip -4 -br addr; ip -4 route; ip -br link")


def test_gateway(pc1: NodeContext, eth1_restored: None) -> None:
    assert pings(pc1, "203.0.113.2")
    prove(
        pc1,
        "linux.gateway",
        {"gateway": "192.168.10.253"},
        net_state(pc1),
        lambda: not pings(pc1, "203.0.113.2"),
    )
    # Persistent: networkd applying its files again keeps the wrong gateway.
    pc1.run(["networkctl", "reconfigure", "eth1"])
    assert "via 192.168.10.253" in sh(pc1, "sleep 2; ip -4 route show default")


def test_address(pc1: NodeContext, eth1_restored: None) -> None:
    prove(
        pc1,
        "linux.address",
        {"interface": "eth1", "address": "192.168.20.51/24"},
        net_state(pc1),
        lambda: not pings(pc1, "192.168.10.10"),
    )
    pc1.run(["networkctl", "reconfigure", "eth1"])
    assert "192.168.20.51/24" in sh(pc1, "sleep 2; ip -4 -br addr show dev eth1")


def test_interface_down(pc1: NodeContext, eth1_restored: None) -> None:
    prove(
        pc1,
        "linux.interface_down",
        {"interface": "eth1"},
        net_state(pc1),
        lambda: not pings(pc1, "192.168.10.10"),
    )
    pc1.run(["systemctl", "restart", "systemd-networkd.service"])
    assert "DOWN" in sh(pc1, "sleep 2; ip -br link show dev eth1")


def test_permissions(pc1: NodeContext) -> None:
    pc1.run(["install", "-d", "-m", "0775", "/srv/compta"])
    pc1.run(["useradd", "-M", "lea"], check=False)
    prove(
        pc1,
        "linux.permissions",
        {"path": "/srv/compta", "mode": "0700", "owner": "root"},
        lambda: sh(pc1, "stat -c '%a %U %G %Z' /srv/compta"),
        lambda: not pc1.run(["su", "lea", "-s", "/bin/sh", "-c", "ls /srv/compta"], check=False).ok,
    )


def test_group_removed(pc1: NodeContext) -> None:
    pc1.run(["useradd", "-M", "-G", "plugdev", "marc"], check=False)
    prove(
        pc1,
        "linux.group_removed",
        {"user": "marc", "group": "plugdev"},
        lambda: sh(pc1, "getent group plugdev; stat -c %Y /etc/group"),
        lambda: "plugdev" not in sh(pc1, "id -nG marc"),
    )


def test_package_removed(pc1: NodeContext) -> None:
    prove(
        pc1,
        "linux.package_removed",
        {"package": "nano"},
        lambda: sh(pc1, "dpkg -l nano | tail -1; ls -l /etc/nanorc"),
        lambda: not pc1.run(["sh", "-c", "command -v nano"], check=False).ok,
    )
    assert pc1.run(["test", "-f", "/etc/nanorc"], check=False).ok  # configuration kept
    with pytest.raises(FaultError):
        cls = FAULTS.get("linux.package_removed")
        cls().inject(pc1, cls.Params(package="no-such-package-here"))


def test_timezone(pc1: NodeContext) -> None:
    try:
        prove(
            pc1,
            "linux.timezone",
            {"timezone": "America/New_York"},
            lambda: sh(pc1, "ls -l /etc/localtime; cat /etc/timezone"),
            lambda: sh(pc1, "date +%Z").strip() in ("EST", "EDT"),
        )
    finally:
        pc1.run(["ln", "-sfn", "/usr/share/zoneinfo/Etc/UTC", "/etc/localtime"])
        pc1.write_file("/etc/timezone", "Etc/UTC\n")


def test_proxy(pc1: NodeContext) -> None:
    try:
        prove(
            pc1,
            "linux.proxy",
            {},
            pc1_files(pc1, "/etc/environment", "/etc/apt/apt.conf.d/95proxy"),
            # A login shell (pam_env) gets the proxy; curl through it fails.
            lambda: (
                "10.255.255.1:3128" in sh(pc1, "su - root -c 'echo $http_proxy'")
                and not pc1.run(
                    ["su", "-", "root", "-c", "curl -s -m 5 -o /dev/null http://192.168.10.10/"],
                    check=False,
                    timeout=30,
                ).ok
            ),
        )
    finally:
        pc1.write_file("/etc/environment", "")
        pc1.run(["rm", "-f", "/etc/apt/apt.conf.d/95proxy"])


def test_service_stopped(pc1: NodeContext) -> None:
    try:
        prove(
            pc1,
            "linux.service_stopped",
            {"service": "cron.service"},
            lambda: sh(pc1, "systemctl is-active cron; systemctl is-enabled cron"),
            lambda: not pc1.run(["pgrep", "-x", "cron"], check=False).ok,
        )
    finally:
        pc1.run(["systemctl", "enable", "--now", "cron.service"])


@pytest.mark.parametrize("how", ["uuid", "option", "fstype"])
def test_fstab_broken(pc1: NodeContext, how: str) -> None:
    saved = sh(pc1, "cat /etc/fstab")
    pc1.run(["mkdir", "-p", "/srv/partage"])
    pc1.write_file("/etc/fstab", saved + "tmpfs\t/srv/partage\ttmpfs\tdefaults,size=8m\t0\t0\n")
    pc1.run(["systemctl", "daemon-reload"])
    pc1.run(["mount", "/srv/partage"])
    try:
        prove(
            pc1,
            "linux.fstab_broken",
            {"mountpoint": "/srv/partage", "how": how},
            pc1_files(pc1, "/etc/fstab"),
            # What the next boot does: mounting from fstab fails.
            lambda: not pc1.run(["mount", "/srv/partage"], check=False).ok,
        )
    finally:
        pc1.run(["umount", "/srv/partage"], check=False)
        pc1.write_file("/etc/fstab", saved)
        pc1.run(["systemctl", "daemon-reload"])


def test_disk_full_refuses_a_node_without_disk_mib(pc1: NodeContext) -> None:
    cls = FAULTS.get("linux.disk_full")
    with pytest.raises(FaultError, match="disk_mib"):
        cls().inject(pc1, cls.Params())
    assert pc1.run(["test", "-e", "/var/tmp/.cache-update.bin"], check=False).rc != 0


def test_clock_skew_refuses_a_container(pc1: NodeContext) -> None:
    cls = FAULTS.get("linux.clock_skew")
    assert cls.engines == frozenset({"vm"})
    with pytest.raises(FaultError, match="container"):
        cls().inject(pc1, cls.Params())


# -- router (FRR) ------------------------------------------------------------------------------


def test_route_missing(box: NodeContext) -> None:
    try:
        prove(
            box,
            "net.route_missing",
            {"prefix": "0.0.0.0/0"},
            lambda: sh(box, "cat /etc/frr/frr.conf; vtysh -c 'show running-config'"),
            lambda: not sh(box, "ip -4 route show default").strip(),
        )
        assert "ip route 0.0.0.0/0" not in sh(box, "cat /etc/frr/frr.conf")  # saved
    finally:
        box.run(
            [
                "vtysh",
                "-c",
                "conf t",
                "-c",
                "ip route 0.0.0.0/0 203.0.113.1",
                "-c",
                "end",
                "-c",
                "write memory",
            ]
        )


def test_router_port_shutdown(box: NodeContext, pc1: NodeContext) -> None:
    try:
        prove(
            box,
            "net.port_shutdown",
            {"port": "eth1"},
            lambda: sh(box, "cat /etc/frr/frr.conf; ip -br link show eth1"),
            lambda: not pings(pc1, "192.168.10.254"),
        )
        assert " shutdown" in sh(box, "cat /etc/frr/frr.conf")
    finally:
        box.run(
            [
                "vtysh",
                "-c",
                "conf t",
                "-c",
                "interface eth1",
                "-c",
                "no shutdown",
                "-c",
                "end",
                "-c",
                "write memory",
            ]
        )


# -- Active Directory --------------------------------------------------------------------------


def user(dc1: NodeContext) -> tuple[str, str, str]:
    directory = dc1.scenario.directory
    assert directory is not None
    u = directory.users[0]
    return u.login, str(u.password), directory.realm


def bind_detail(dc1: NodeContext) -> tuple[bool, str]:
    login, password, realm = user(dc1)
    return ldaps_bind(dc1.mgmt_address, f"{login}@{realm}", password)


def ad_state(dc1: NodeContext) -> Callable[[], str]:
    login, _, _ = user(dc1)
    # Everything but what a failed bind or the clock moves by itself.
    return lambda: "\n".join(
        line
        for line in sh(
            dc1,
            'ldbsearch -H /var/lib/samba/private/sam.ldb "(sAMAccountName=$1)" '
            "userAccountControl lockoutTime accountExpires pwdLastSet memberOf "
            "msDS-User-Account-Control-Computed whenChanged",
            login,
        ).splitlines()
        if line.startswith(("dn:", "user", "lockout", "account", "pwd", "member", "msDS", "when"))
    )


def test_account_locked(dc1: NodeContext) -> None:
    login, _, _ = user(dc1)
    assert bind_detail(dc1)[0]
    try:
        prove(
            dc1,
            "ad.account_locked",
            {"login": login},
            ad_state(dc1),
            lambda: "data 775" in bind_detail(dc1)[1],  # 775: account locked out
        )
        assert "threshold (attempts): 5" in sh(dc1, "samba-tool domain passwordsettings show")
        dc1.run(["systemctl", "restart", "samba-ad-dc"])
        fault_cls = FAULTS.get("ad.account_locked")
        assert fault_cls().in_place(dc1, fault_cls.Params(login=login))
    finally:
        dc1.run(["samba-tool", "user", "unlock", login])
    assert bind_detail(dc1)[0] or "data 775" not in bind_detail(dc1)[1]


def test_account_disabled(dc1: NodeContext) -> None:
    login, _, _ = user(dc1)
    try:
        prove(
            dc1,
            "ad.account_disabled",
            {"login": login},
            ad_state(dc1),
            lambda: "data 533" in bind_detail(dc1)[1],
        )
    finally:
        dc1.run(["samba-tool", "user", "enable", login])


def test_account_expired(dc1: NodeContext) -> None:
    login, _, _ = user(dc1)
    try:
        prove(
            dc1,
            "ad.account_expired",
            {"login": login},
            ad_state(dc1),
            lambda: "data 701" in bind_detail(dc1)[1],
        )
    finally:
        from tai_labs.facts.directory import ldb_modify
        from tai_labs.faults.directory import find_user

        # Not `setexpiry --noexpiry`: it also ticks "password never expires".
        ldb_modify(dc1, find_user(dc1, login).dn, "accountExpires", [str(2**63 - 1)])
    assert bind_detail(dc1)[0]


def test_password_must_change(dc1: NodeContext) -> None:
    login, _, _ = user(dc1)
    try:
        prove(
            dc1,
            "ad.password_must_change",
            {"login": login},
            ad_state(dc1),
            lambda: "data 773" in bind_detail(dc1)[1],
        )
    finally:
        from tai_labs.facts.directory import ldb_modify
        from tai_labs.faults.directory import find_user

        ldb_modify(dc1, find_user(dc1, login).dn, "pwdLastSet", ["-1"])
    assert bind_detail(dc1)[0]


def test_user_wrong_ou(dc1: NodeContext) -> None:
    login, _, realm = user(dc1)
    try:
        prove(
            dc1,
            "ad.user_wrong_ou",
            {"login": login, "ou": "Departs"},
            ad_state(dc1),
            lambda: "OU=Departs," in sh(dc1, 'samba-tool user show "$1" --attributes=dn', login),
        )
    finally:
        from tai_labs.facts.directory import domain_dn, ou_dn

        dc1.run(
            ["samba-tool", "user", "move", login, ou_dn("Siege/Utilisateurs", domain_dn(realm))]
        )


def test_membership_removed(dc1: NodeContext) -> None:
    login, _, _ = user(dc1)
    try:
        prove(
            dc1,
            "ad.membership_removed",
            {"login": login, "group": "Comptabilite"},
            ad_state(dc1),
            lambda: login not in sh(dc1, "samba-tool group listmembers Comptabilite"),
        )
    finally:
        dc1.run(["samba-tool", "group", "addmembers", "Comptabilite", login])


@pytest.mark.parametrize("rtype", ["A", "CNAME"])
def test_dns_record_missing(dc1: NodeContext, pc1: NodeContext, rtype: str) -> None:
    _, _, realm = user(dc1)
    dc1.run(
        ["samba-tool", "dns", "add", "127.0.0.1", realm, "srv-print", "A", "192.168.10.20", "-P"],
        check=False,
    )
    dc1.run(
        [
            "samba-tool",
            "dns",
            "add",
            "127.0.0.1",
            realm,
            "imprimante",
            "CNAME",
            f"srv-print.{realm}",
            "-P",
        ],
        check=False,
    )
    name = "srv-print" if rtype == "A" else "imprimante"
    assert pc1.run(["host", f"{name}.{realm}"], check=False, timeout=30).ok
    prove(
        dc1,
        "ad.dns_record_missing",
        {"record": name, "type": rtype},
        lambda: sh(dc1, 'samba-tool dns query 127.0.0.1 "$1" "$2" ALL -P', realm, name),
        lambda: not pc1.run(["host", "-t", rtype, f"{name}.{realm}"], check=False, timeout=30).ok,
    )
    with pytest.raises(FaultError, match="samba_dnsupdate"):
        cls = FAULTS.get("ad.dns_record_missing")
        cls().inject(dc1, cls.Params(record="dc1"))


def test_gpo_link_disabled(dc1: NodeContext) -> None:
    from tai_labs.facts.directory import domain_dn, ldb_modify, ou_dn

    _, _, realm = user(dc1)
    ou = ou_dn("Siege", domain_dn(realm))
    gpo = f"cn={{31B2F340-016D-11D2-945F-00C04FB984F9}},cn=policies,cn=system,{domain_dn(realm)}"
    # The role cannot create GPOs yet: link the Default Domain Policy to an OU, as in a GPMC.
    ldb_modify(dc1, ou, "gPLink", [f"[LDAP://{gpo};0]"])
    prove(
        dc1,
        "ad.gpo_link_disabled",
        {"gpo": "Default Domain Policy", "ou": "Siege"},
        lambda: sh(dc1, 'ldbsearch -H /var/lib/samba/private/sam.ldb -b "$1" -s base gPLink', ou),
        lambda: (
            ";1]" in sh(dc1, 'samba-tool gpo getlink "$1" -H /var/lib/samba/private/sam.ldb', ou)
            or ";1]"
            in sh(dc1, 'ldbsearch -H /var/lib/samba/private/sam.ldb -b "$1" -s base gPLink', ou)
        ),
    )


# -- disk_full on a node with a capped disk --------------------------------------------------


@pytest.fixture(scope="module")
def disk_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    skip_unless_lab_host()
    skip_unless_images("ad-dc", "router", "client")
    from tai_labs.lab import lifecycle

    folder = tmp_path_factory.mktemp("disk-scenario")
    shutil.copytree(SCENARIOS / "_topologies", folder / "_topologies")
    doc = yaml.safe_load((SCENARIOS / "ccp2/compte-verrouille/scenario.yaml").read_text())
    doc["scenario"]["id"] = "disque-plein-test"
    doc["topology"] = {"nodes": [{"name": "pc1", "disk_mib": 128}]}
    src = SCENARIOS / "ccp2/compte-verrouille"
    target = folder / "ccp2" / "disque-plein-test"
    shutil.copytree(src, target)
    (target / "scenario.yaml").write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False))
    up = None
    try:
        up = lifecycle.up(target / "scenario.yaml", candidate="flt-disk", seed=0, faults=False)
        yield up
    finally:
        if up is not None:
            lifecycle.down(up.id)


def test_disk_full(disk_lab: Any) -> None:
    ctx = disk_lab.context("pc1")
    assert ctx.node.disk_mib == 128
    prove(
        ctx,
        "linux.disk_full",
        {},
        lambda: sh(ctx, "stat -c '%s %Y' /var/tmp/.cache-update.bin"),
        lambda: "No space left" in sh(ctx, "head -c 8M /dev/zero > /home/out.bin"),
    )
    ctx.run(["rm", "-f", "/home/out.bin"])


# -- DHCP (dnsmasq) on a router, and switches ---------------------------------------------------


def dhcp_topology() -> dict[str, Any]:
    return {
        "networks": networks(N1, N2),
        "nodes": [router(dhcp=[n1_scope()], **RELAY_N2), client("d", "n1")],
    }


@pytest.fixture(scope="module")
def dhcp_lab() -> Iterator[RoleLab]:
    with running_lab(
        dhcp_topology(),
        ("router", "client"),
        ("r", "d"),
        secrets={"device_password": DEVICE_PASSWORD},
    ) as lab:
        yield lab


def lease(lab: RoleLab) -> str:
    """A fresh lease of d's eth1 ("" when no server answers)."""
    lab.exec("d", ["rm", "-f", "/run/t.leases"])
    res = lab.exec(
        "d",
        # dhclient -1 waits a minute for an offer; 20 s is plenty on a lab link.
        ["timeout", "20", "dhclient", "-1", "-lf", "/run/t.leases", "-pf", "/run/t.pid", "eth1"],
        timeout=40,
    )
    text = lab.exec("d", ["cat", "/run/t.leases"]).stdout if res.ok else ""
    lab.exec("d", ["dhclient", "-x", "-pf", "/run/t.pid"])
    lab.exec("d", ["ip", "-4", "addr", "flush", "dev", "eth1"])
    return text


def dnsmasq_state(lab: RoleLab) -> Callable[[], str]:
    return lambda: (
        lab.exec(
            "r", ["sh", "-c", "cat /etc/dnsmasq.d/tai-labs.conf; systemctl show -P MainPID dnsmasq"]
        ).stdout
    )


def restore_dnsmasq(lab: RoleLab, saved: str) -> None:
    lab.ctx("r").write_file("/etc/dnsmasq.d/tai-labs.conf", saved)
    lab.exec("r", ["systemctl", "restart", "dnsmasq"])


def test_dhcp_option(dhcp_lab: RoleLab) -> None:
    saved = dhcp_lab.exec("r", ["cat", "/etc/dnsmasq.d/tai-labs.conf"]).stdout
    try:
        prove(
            dhcp_lab.ctx("r"),
            "net.dhcp_option",
            {"network": "n1", "option": "router", "value": "10.1.0.1"},
            dnsmasq_state(dhcp_lab),
            lambda: "option routers 10.1.0.1;" in lease(dhcp_lab),
        )
    finally:
        restore_dnsmasq(dhcp_lab, saved)


def test_dhcp_scope_disabled(dhcp_lab: RoleLab) -> None:
    saved = dhcp_lab.exec("r", ["cat", "/etc/dnsmasq.d/tai-labs.conf"]).stdout
    assert "fixed-address" in lease(dhcp_lab)
    try:
        prove(
            dhcp_lab.ctx("r"),
            "net.dhcp_scope_disabled",
            {"network": "n1"},
            dnsmasq_state(dhcp_lab),
            lambda: "fixed-address" not in lease(dhcp_lab),
        )
        assert dhcp_lab.exec("r", ["systemctl", "is-active", "dnsmasq"]).ok
    finally:
        restore_dnsmasq(dhcp_lab, saved)


def test_dhcp_relay_missing(dhcp_lab: RoleLab) -> None:
    saved = dhcp_lab.exec("r", ["cat", "/etc/dnsmasq.d/tai-labs.conf"]).stdout
    assert "dhcp-relay=10.2.0.254,10.1.0.10" in saved
    try:
        prove(
            dhcp_lab.ctx("r"),
            "net.dhcp_relay_missing",
            {"interface": "eth2"},
            dnsmasq_state(dhcp_lab),
            lambda: (
                "dhcp-relay"
                not in dhcp_lab.exec("r", ["cat", "/etc/dnsmasq.d/tai-labs.conf"]).stdout
                and dhcp_lab.exec("r", ["systemctl", "is-active", "dnsmasq"]).ok
            ),
        )
    finally:
        restore_dnsmasq(dhcp_lab, saved)


def test_static_route_missing(dhcp_lab: RoleLab) -> None:
    r = dhcp_lab.ctx("r")
    prove(
        r,
        "net.route_missing",
        {"prefix": "10.99.0.0/24"},
        lambda: dhcp_lab.exec("r", ["cat", "/etc/frr/frr.conf"]).stdout,
        lambda: not dhcp_lab.exec("r", ["ip", "route", "show", "10.99.0.0/24"]).stdout.strip(),
    )


def switch_topology() -> dict[str, Any]:
    return {
        "networks": networks(V10, V20),
        "nodes": [
            switch(access("Gi0/1", 10, "a"), access("Gi0/2", 10, "b"), trunk("Gi0/3", "sw2")),
            svi_switch(),
            client("a", "v10", "10.10.0.1/24"),
            client("b", "v10", "10.10.0.2/24"),
        ],
    }


@pytest.fixture(scope="module")
def switch_lab() -> Iterator[RoleLab]:
    with running_lab(switch_topology(), ("switch", "client"), ("sw", "sw2", "a", "b")) as lab:
        yield lab


def ovs_state(lab: RoleLab) -> Callable[[], str]:
    return lambda: (
        lab.exec(
            "sw",
            [
                "sh",
                "-c",
                "ovs-vsctl --columns=name,tag,trunks,vlan_mode,external_ids list port; "
                "cat /etc/systemd/network/05-tai-labs-switch-gi0-1.network; ip -br link",
            ],
        ).stdout
    )


def reprovision(lab: RoleLab) -> None:
    lab.provision("sw")
    assert lab.ping("a", "10.10.0.2")


def test_switch_port_shutdown(switch_lab: RoleLab) -> None:
    assert switch_lab.ping("a", "10.10.0.2")
    try:
        prove(
            switch_lab.ctx("sw"),
            "net.port_shutdown",
            {"port": "Gi0/1"},
            ovs_state(switch_lab),
            lambda: not switch_lab.ping("a", "10.10.0.2", tries=2),
        )
        switch_lab.exec("sw", ["systemctl", "restart", "systemd-networkd"])
        assert (
            "DOWN" in switch_lab.exec("sw", ["sh", "-c", "sleep 2; ip -br link show gi0-1"]).stdout
        )
    finally:
        reprovision(switch_lab)


def test_switch_access_vlan(switch_lab: RoleLab) -> None:
    try:
        prove(
            switch_lab.ctx("sw"),
            "net.access_vlan",
            {"port": "Gi0/2", "vlan": 20},
            ovs_state(switch_lab),
            lambda: not switch_lab.ping("a", "10.10.0.2", tries=2),
        )
        with pytest.raises(FaultError, match="trunk"):
            cls = FAULTS.get("net.access_vlan")
            cls().inject(switch_lab.ctx("sw"), cls.Params(port="Gi0/3", vlan=20))
    finally:
        reprovision(switch_lab)


def test_switch_trunk_vlan_removed(switch_lab: RoleLab) -> None:
    assert switch_lab.ping("a", "10.10.0.254")
    try:
        prove(
            switch_lab.ctx("sw"),
            "net.trunk_vlan_removed",
            {"port": "Gi0/3", "vlan": 10},
            ovs_state(switch_lab),
            lambda: not switch_lab.ping("a", "10.10.0.254", tries=2),
        )
        assert (
            switch_lab.exec("sw", ["ovs-vsctl", "get", "port", "gi0-3", "trunks"]).stdout.strip()
            == "[20]"
        )
    finally:
        reprovision(switch_lab)
    assert switch_lab.ping("a", "10.10.0.254")


def test_scenario_faults_validate() -> None:
    """The scenarios' fault parameters still fit the refined Params."""
    import subprocess
    import sys

    res = subprocess.run(
        [sys.executable, "-m", "tai_labs", "validate", str(SCENARIOS)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert res.returncode == 0, res.stdout + res.stderr
