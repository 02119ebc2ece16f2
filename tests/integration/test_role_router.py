"""The router role on LXC nodes: routing, DHCP, the management guard and the IOS-like CLI.

Topology: c1 (n1) -- r -- c2 (n2); d1 (n1, networkd DHCP, reserved address) and d2 (n1,
unconfigured NIC on which the test runs dhclient).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator

import pytest
from roles_fixtures import RoleLab, running_lab, scenario_from
from topologies import DEVICE_PASSWORD, N1, N2, client, n1_scope, networks, router

from tai_labs.providers.naming import new_lab_id
from tai_labs.providers.seed import derived_mac
from tai_labs.roles.base import RoleError
from tai_labs.roles.router import (
    ADMIN_USER,
    DEFAULT_DEVICE_PASSWORD,
    netmiko_command,
    plan,
    render_dnsmasq,
    render_frr_conf,
    render_nftables,
)

MGMT = ipaddress.IPv4Address("100.64.9.11")


def topology(lab_id: str) -> dict[str, object]:
    reserved_mac = derived_mac(f"{lab_id}-d1", 1)  # d1's eth1 (NIC index 1 after eth0)
    scope = n1_scope(
        gateway="10.1.0.254",
        domain="lab.test",
        lease_minutes=30,
        reservations=[{"mac": reserved_mac, "address": "10.1.0.77", "name": "d1"}],
    )
    return {
        "networks": networks(N1, N2),
        "nodes": [
            router(dhcp=[scope]),
            client("c1", "n1", "10.1.0.1/24", "10.1.0.254"),
            client("c2", "n2", "10.2.0.1/24", "10.2.0.254"),
            client("d1", "n1", "dhcp"),
            client("d2", "n1"),
        ],
    }


@pytest.fixture(scope="module")
def lab() -> Iterator[RoleLab]:
    lab_id = new_lab_id()
    with running_lab(
        topology(lab_id),
        ("router", "client"),
        ("r", "c1", "c2", "d1", "d2"),
        secrets={"device_password": DEVICE_PASSWORD},
        lab_id=lab_id,
    ) as lab:
        print("\nrouter lab timings (s):", lab.timings)
        yield lab


# -- pure rendering (no lab) --------------------------------------------------------------------


def test_frr_conf_has_addresses_routes_and_default_route() -> None:
    scn = scenario_from(
        {
            "networks": [
                {"name": "lan", "subnet": "192.168.10.0/24"},
                {"name": "wan", "subnet": "203.0.113.0/29"},
            ],
            "nodes": [
                {
                    "name": "box",
                    "kind": "router",
                    "interfaces": [
                        {"network": "lan", "address": "192.168.10.254/24"},
                        {"network": "wan", "address": "203.0.113.2/29", "gateway": "203.0.113.1"},
                    ],
                    "router": {
                        "routes": [{"to": "10.0.0.0/8", "via": "192.168.10.1"}],
                        "nat": True,
                    },
                }
            ],
        }
    )
    box = scn.node("box")
    p = plan(box)
    conf = render_frr_conf(box, p)
    assert "interface eth1\n description lan\n ip address 192.168.10.254/24\n" in conf
    assert "ip route 0.0.0.0/0 203.0.113.1\n" in conf
    assert "ip route 10.0.0.0/8 192.168.10.1\n" in conf
    assert "eth0" not in conf
    nft = render_nftables(box, p, MGMT)
    assert 'oifname "eth2" masquerade' in nft
    assert 'iifname "eth0" drop' in nft and f"ip daddr {MGMT} drop" in nft
    assert render_dnsmasq(scn, box, p) is None


def test_dnsmasq_relay_and_scope_rendering() -> None:
    scn = scenario_from(
        {
            "networks": [
                {"name": "lan", "subnet": "192.168.10.0/24"},
                {"name": "srv", "subnet": "192.168.20.0/24"},
            ],
            "nodes": [
                {
                    "name": "box",
                    "kind": "router",
                    "interfaces": [
                        {"network": "lan", "address": "192.168.10.254/24"},
                        {"network": "srv", "address": "192.168.20.254/24"},
                    ],
                    "router": {
                        "relay": ["lan"],
                        "relay_to": "192.168.20.10",
                        "dhcp": [{"network": "srv", "range": ["192.168.20.100", "192.168.20.110"]}],
                    },
                }
            ],
        }
    )
    box = scn.node("box")
    conf = render_dnsmasq(scn, box, plan(box))
    assert conf is not None
    assert "port=0\n" in conf
    assert "dhcp-relay=192.168.10.254,192.168.20.10\n" in conf
    assert "dhcp-range=set:srv,192.168.20.100,192.168.20.110,255.255.255.0,60m\n" in conf
    assert "interface=eth1\ninterface=eth2\n" in conf and "except-interface=eth0" in conf


def test_bad_reservation_name_is_refused() -> None:
    scn = scenario_from(
        {
            "networks": [{"name": "lan", "subnet": "10.0.0.0/24"}],
            "nodes": [
                {
                    "name": "box",
                    "kind": "router",
                    "interfaces": [{"network": "lan", "address": "10.0.0.1/24"}],
                    "router": {
                        "dhcp": [
                            {
                                "network": "lan",
                                "range": ["10.0.0.10", "10.0.0.20"],
                                "reservations": [
                                    {
                                        "mac": "02:00:00:00:00:01",
                                        "address": "10.0.0.5",
                                        "name": "x\ndhcp-script=/bin/sh",
                                    }
                                ],
                            }
                        ]
                    },
                }
            ],
        }
    )
    with pytest.raises(RoleError):
        render_dnsmasq(scn, scn.node("box"), plan(scn.node("box")))


# -- on LXC nodes -------------------------------------------------------------------------------


def test_frr_runs_as_frr_with_addresses(lab: RoleLab) -> None:
    users = lab.exec("r", ["ps", "-o", "user=", "-C", "zebra,staticd"]).stdout.split()
    assert users == ["frr", "frr"]
    brief = lab.exec("r", ["vtysh", "-c", "show interface brief"]).stdout
    assert re.search(r"eth1\s+up\s+default\s+10\.1\.0\.254/24", brief), brief


def test_ping_across_the_router(lab: RoleLab) -> None:
    assert lab.ping("c1", "10.2.0.1")
    assert lab.ping("c2", "10.1.0.1")


def test_management_is_not_a_path_through_the_router(lab: RoleLab) -> None:
    # Host routes only: c1's own management route must stay as it is.
    targets = [f"{lab.mgmt['c2']}/32", f"{lab.mgmt['r']}/32"]
    for target in targets:
        lab.exec("c1", ["ip", "route", "add", target, "via", "10.1.0.254", "src", "10.1.0.1"])
    try:
        assert not lab.ping("c1", str(lab.mgmt["c2"]), tries=1)
        assert not lab.ping("c1", str(lab.mgmt["r"]), tries=1)
    finally:
        for target in targets:
            lab.exec("c1", ["ip", "route", "del", target])


def test_dhclient_gets_a_lease_with_the_scope_options(lab: RoleLab) -> None:
    res = lab.exec(
        "d2",
        ["dhclient", "-1", "-v", "-lf", "/run/test.leases", "-pf", "/run/test-dh.pid", "eth1"],
        timeout=40,
    )
    assert res.ok, res.stderr
    lease = lab.exec("d2", ["cat", "/run/test.leases"]).stdout
    lab.exec("d2", ["dhclient", "-x", "-pf", "/run/test-dh.pid"])
    fixed = re.search(r"fixed-address ([0-9.]+);", lease)
    assert fixed and 100 <= int(fixed.group(1).split(".")[-1]) <= 150, lease
    assert "option routers 10.1.0.254;" in lease
    assert "option domain-name-servers 10.1.0.53;" in lease
    assert 'option domain-name "lab.test";' in lease
    assert "option dhcp-lease-time 1800;" in lease


def test_reservation_by_mac(lab: RoleLab) -> None:
    # networkd's first DISCOVERs may predate dnsmasq: ask again now that the router is ready.
    lab.exec("d1", ["networkctl", "renew", "eth1"])
    for _ in range(30):
        addr = lab.exec("d1", ["ip", "-4", "-br", "addr", "show", "eth1"]).stdout
        if "10.1.0.77/24" in addr:
            break
        lab.exec("d1", ["sleep", "1"])
    assert "10.1.0.77/24" in addr


def test_netmiko_cisco_ios_session_and_write_memory(lab: RoleLab) -> None:
    ctx = lab.ctx("r")
    route, running = netmiko_command(ctx, ["show ip route", "show running-config"])
    assert re.search(r"S>\* 10\.99\.0\.0/24 \[1/0\] via 10\.2\.0\.1, eth2", route), route
    assert "ip address 10.1.0.254/24" in running
    # Configure and save like an IOS user; the file must hold it afterwards.
    from netmiko import ConnectHandler

    conn = ConnectHandler(
        device_type="cisco_ios",
        host=str(lab.mgmt["r"]),
        username=ADMIN_USER,
        password=lab.secrets["device_password"],
        allow_agent=False,
        use_keys=False,
        ssh_config_file=None,
    )
    try:
        conn.send_config_set(["ip route 10.98.0.0/24 10.2.0.1"])
        conn.save_config()
    finally:
        conn.disconnect()
    saved = lab.exec("r", ["cat", "/etc/frr/frr.conf"]).stdout
    assert "ip route 10.98.0.0/24 10.2.0.1" in saved


def test_admin_shell_is_vtysh_and_default_password_is_not_used(lab: RoleLab) -> None:
    entry = lab.exec("r", ["getent", "passwd", ADMIN_USER]).stdout.strip()
    assert entry.endswith(":/usr/bin/vtysh")
    groups = lab.exec("r", ["id", "-nG", ADMIN_USER]).stdout.split()
    assert "frrvty" in groups
    assert lab.secrets["device_password"] != DEFAULT_DEVICE_PASSWORD


def test_provision_is_idempotent(lab: RoleLab) -> None:
    lab.provision("r")
    assert lab.ping("c1", "10.2.0.1")
    assert (
        lab.exec("r", ["ip", "-4", "-br", "addr", "show", "eth1"]).stdout.count("10.1.0.254") == 1
    )
