"""The linux-client role: resolver, Kerberos and hosts files, and readiness through the DC's DNS.

The DC is played by a node of kind ad-dc booted from the router image, where the test runs
dnsmasq as the domain's DNS server: the real ad-dc role belongs to another module.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

import pytest
from roles_fixtures import RoleLab, build_lab, scenario_from, skip_unless_images

from tai_labs.kinds import NodeKind
from tai_labs.roles.base import NotReadyError
from tai_labs.roles.client import ClientRole, render_hosts, render_krb5_conf, render_resolv_conf

REALM = "dupuis.lan"
TOPOLOGY = {
    "networks": [{"name": "lan", "subnet": "10.3.0.0/24"}],
    "nodes": [
        {
            "name": "dc1",
            "kind": "ad-dc",
            "image": "router",
            "interfaces": [{"network": "lan", "address": "10.3.0.10/24"}],
        },
        {
            "name": "pc1",
            "kind": "linux-client",
            "interfaces": [{"network": "lan", "address": "10.3.0.51/24", "gateway": "10.3.0.254"}],
            "dns": ["10.3.0.10"],
        },
        {
            "name": "srv1",
            "kind": "linux-server",
            "interfaces": [{"network": "lan", "address": "10.3.0.20/24"}],
            "dns": ["10.3.0.10", "10.3.0.11"],
        },
    ],
}
DIRECTORY = {"realm": REALM, "netbios": "DUPUIS"}


class QuickClient(ClientRole):
    ready_timeout: ClassVar[float] = 4.0


@pytest.fixture(scope="module")
def lab() -> Iterator[RoleLab]:
    builder = skip_unless_images("client", "router")
    lab = build_lab(scenario_from(TOPOLOGY, DIRECTORY), builder)
    try:
        for name in ("pc1", "srv1"):
            ClientRole().provision(lab.ctx(name))
        yield lab
    finally:
        lab.destroy()


def test_rendering_without_directory() -> None:
    scn = scenario_from(TOPOLOGY)
    pc1 = scn.node("pc1")
    assert render_resolv_conf(pc1, scn).splitlines()[1:] == ["nameserver 10.3.0.10"]
    assert "10.3.0.51\tpc1\n" in render_hosts(pc1, scn)


def test_client_files_are_written(lab: RoleLab) -> None:
    resolv = lab.exec("pc1", ["cat", "/etc/resolv.conf"]).stdout.splitlines()
    assert resolv[1:] == [f"search {REALM}", "nameserver 10.3.0.10"]
    krb5 = lab.exec("pc1", ["cat", "/etc/krb5.conf"]).stdout
    assert "default_realm = DUPUIS.LAN" in krb5
    assert krb5 == render_krb5_conf(lab.scenario)
    hosts = lab.exec("pc1", ["cat", "/etc/hosts"]).stdout
    assert f"10.3.0.51\tpc1.{REALM} pc1\n" in hosts
    assert lab.exec("pc1", ["hostname"]).stdout.strip() == "pc1"
    resolv = lab.exec("srv1", ["cat", "/etc/resolv.conf"]).stdout
    assert "nameserver 10.3.0.10\nnameserver 10.3.0.11\n" in resolv


def test_ready_needs_the_dc_name_to_resolve(lab: RoleLab) -> None:
    assert NodeKind.AD_DC.spec.readiness < NodeKind.LINUX_CLIENT.spec.readiness
    with pytest.raises(NotReadyError) as info:
        QuickClient().wait_ready(lab.ctx("pc1"))
    assert f"dc1.{REALM}" in str(info.value)
    # The DC's DNS stands in here: dnsmasq answering for dc1 and nothing else.
    lab.exec(
        "dc1",
        [
            "dnsmasq",
            "--port=53",
            "--no-resolv",
            "--no-hosts",
            "--bind-interfaces",
            "--listen-address=10.3.0.10",
            f"--address=/dc1.{REALM}/10.3.0.10",
            "--pid-file=/run/test-dns.pid",
        ],
    )
    ClientRole().wait_ready(lab.ctx("pc1"))
    getent = lab.exec("pc1", ["getent", "hosts", "dc1"]).stdout  # through "search"
    assert getent.split()[:1] == ["10.3.0.10"]


def test_provision_is_idempotent(lab: RoleLab) -> None:
    before = lab.exec("pc1", ["cat", "/etc/resolv.conf", "/etc/krb5.conf", "/etc/hosts"]).stdout
    ClientRole().provision(lab.ctx("pc1"))
    after = lab.exec("pc1", ["cat", "/etc/resolv.conf", "/etc/krb5.conf", "/etc/hosts"]).stdout
    assert before == after
