"""Fault catalogue parts that need no lab: file editing, parsing, parameter checks, refusals."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from pydantic import ValidationError

from tai_labs.context import NodeContext
from tai_labs.faults.base import FAULTS, FaultError
from tai_labs.faults.linux import ini_values, set_ini_key
from tai_labs.faults.linux_network import blocked_hooks, poison_hosts, with_nameserver, with_proxy
from tai_labs.faults.linux_system import corrupt_fstab_line
from tai_labs.faults.network import disable_scope, ovs_vlans, set_dhcp_option, static_routes
from tai_labs.providers.base import ExecResult
from tai_labs.scenario.model import Node

NETWORKD = (
    "[Match]\nName=eth1\n\n[Link]\nRequiredForOnline=no\n\n"
    "[Network]\nAddress=192.168.10.51/24\nGateway=192.168.10.254\n"
)


def test_every_linux_ad_and_network_fault_is_runnable() -> None:
    for cls in FAULTS:
        if cls.name.startswith("windows."):
            continue  # no WinRM channel from a NodeContext yet (see windows.py)
        assert cls.missing_parts() == [], cls.name


def test_set_ini_key_replaces_in_place_and_is_idempotent() -> None:
    out = set_ini_key(NETWORKD, "Network", "Address", ["192.168.20.51/24"])
    assert "Address=192.168.20.51/24\nGateway=192.168.10.254\n" in out
    assert "192.168.10.51" not in out
    assert set_ini_key(out, "Network", "Address", ["192.168.20.51/24"]) == out
    down = set_ini_key(NETWORKD, "Link", "ActivationPolicy", ["always-down"])
    assert "RequiredForOnline=no\nActivationPolicy=always-down\n\n[Network]" in down
    assert ini_values(down, "Link", "ActivationPolicy") == ["always-down"]
    assert set_ini_key("[Match]\nName=x\n", "Link", "K", ["v"]).endswith("\n\n[Link]\nK=v\n")


def test_resolver_keeps_search_and_replaces_every_nameserver() -> None:
    text = "# x\nsearch dupuis.lan\nnameserver 192.168.10.10\nnameserver 1.1.1.1\n"
    out = with_nameserver(text, "192.168.10.99")
    assert out == "# x\nsearch dupuis.lan\nnameserver 192.168.10.99\n"
    assert with_nameserver(out, "192.168.10.99") == out


def test_hosts_entry_goes_before_any_other_line_for_the_name() -> None:
    hosts = "127.0.0.1\tlocalhost\n192.168.10.51\tpc1.dupuis.lan pc1\n::1\tlocalhost\n"
    out = poison_hosts(hosts, "dc1.dupuis.lan", "192.168.10.66")
    assert out.splitlines()[2] == "192.168.10.66\tdc1.dupuis.lan"
    assert poison_hosts(out, "dc1.dupuis.lan", "192.168.10.66") == out
    # Already named further down: the wrong line must come first (glibc takes the first).
    named = "127.0.0.1\tlocalhost\n192.168.10.10\tdc1.dupuis.lan dc1\n"
    assert poison_hosts(named, "dc1.dupuis.lan", "1.2.3.4").splitlines()[1].startswith("1.2.3.4")


@pytest.mark.parametrize("how", ["uuid", "option", "fstype"])
def test_fstab_corruption_is_a_fixed_point(how: str) -> None:
    for fields in (
        ["UUID=0b5a1c1e-7f3c-4b8e-9d21-3c4f5e6a7b8c", "/srv", "ext4", "defaults", "0", "2"],
        ["tmpfs", "/srv/partage", "tmpfs", "defaults,size=8m", "0", "0"],
    ):
        once = corrupt_fstab_line(fields, how)
        assert once != fields
        if how != "fstype":  # fstype is told by the mount state instead
            assert corrupt_fstab_line(once, how) == once
    uuid = corrupt_fstab_line(["UUID=0b5a1c1e-7f3c-4b8e-9d21-3c4f5e6a7b8c", "/srv", "ext4"], "uuid")
    assert len(uuid[0]) == len("UUID=0b5a1c1e-7f3c-4b8e-9d21-3c4f5e6a7b8c")


def _ruleset(chain_hook: str, rule_exprs: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "nftables": [
            {"table": {"family": "inet", "name": "filter"}},
            {
                "chain": {
                    "family": "inet",
                    "table": "filter",
                    "name": chain_hook,
                    "hook": chain_hook,
                    "type": "filter",
                }
            },
            {
                "rule": {
                    "family": "inet",
                    "table": "filter",
                    "chain": chain_hook,
                    "expr": rule_exprs,
                }
            },
        ]
    }


def test_blocked_hooks_reads_nft_json() -> None:
    dport = {
        "match": {
            "op": "==",
            "left": {"payload": {"protocol": "tcp", "field": "dport"}},
            "right": 445,
        }
    }
    assert blocked_hooks(_ruleset("input", [dport, {"drop": None}]), "tcp", 445) == {"input"}
    assert blocked_hooks(_ruleset("output", [dport, {"accept": None}]), "tcp", 445) == set()
    assert blocked_hooks(_ruleset("input", [dport, {"drop": None}]), "udp", 445) == set()
    in_set = {
        "match": {
            "op": "==",
            "left": {"payload": {"protocol": "tcp", "field": "dport"}},
            "right": {"set": [139, 445]},
        }
    }
    assert blocked_hooks(_ruleset("output", [in_set, {"reject": None}]), "tcp", 445) == {"output"}


def test_proxy_lines_replace_older_ones() -> None:
    out = with_proxy('LANG=fr_FR.UTF-8\nhttp_proxy="http://old:8080"\n', "http://10.255.255.1:3128")
    assert out.count("http_proxy=") == 1 and "LANG=fr_FR.UTF-8" in out
    assert with_proxy(out, "http://10.255.255.1:3128") == out


def test_params_reject_values_that_could_add_lines_or_options() -> None:
    hosts = FAULTS.get("linux.hosts_poisoned").Params
    with pytest.raises(ValidationError):
        hosts.model_validate({"hostname": "dc1\n1.2.3.4 evil", "address": "1.2.3.4"})
    with pytest.raises(ValidationError):
        FAULTS.get("linux.proxy").Params.model_validate({"proxy": "http://x:1\nfoo=bar"})
    with pytest.raises(ValidationError):
        FAULTS.get("linux.permissions").Params.model_validate({"path": "/srv"})
    with pytest.raises(ValidationError):
        FAULTS.get("ad.membership_removed").Params.model_validate({"login": "a)(x=*", "group": "G"})
    with pytest.raises(ValidationError):
        FAULTS.get("net.dhcp_scope_disabled").Params.model_validate({"network": "n1\nport=53"})


def test_dnsmasq_edits() -> None:
    conf = (
        "port=0\ndhcp-range=set:n1,10.1.0.100,10.1.0.150,255.255.255.0,60m\n"
        "dhcp-option=tag:n1,option:dns-server,10.1.0.53\ndhcp-range=set:n10,10.10.0.1,10.10.0.9,255.255.255.0,60m\n"
    )
    off = disable_scope(conf, "n1")
    assert "#dhcp-range=set:n1," in off and "\ndhcp-range=set:n10," in off
    assert disable_scope(off, "n1") == off
    opt = set_dhcp_option(conf, "n1", "router", "10.1.0.1")
    assert (
        "dhcp-range=set:n1,10.1.0.100,10.1.0.150,255.255.255.0,60m\ndhcp-option=tag:n1,option:router,10.1.0.1\n"
        in opt
    )
    assert set_dhcp_option(opt, "n1", "router", "10.1.0.1") == opt
    assert set_dhcp_option(conf, "n1", "dns-server", "9.9.9.9").count("option:dns-server") == 1


def test_router_and_switch_parsing() -> None:
    running = "ip route 0.0.0.0/0 203.0.113.1\nip route 10.99.0.0/24 10.2.0.1\n!\n"
    assert static_routes(running, "10.99.0.0/24") == ["ip route 10.99.0.0/24 10.2.0.1"]
    assert ovs_vlans("[10, 20]") == [10, 20] and ovs_vlans("[]") == [] and ovs_vlans("10") == [10]


# -- refusals, with a fake node ----------------------------------------------------------------


class FakeNode:
    """Answers commands from a table; records what was run."""

    def __init__(self, answers: dict[str, ExecResult]) -> None:
        self.answers = answers
        self.ran: list[list[str]] = []

    def __call__(self, argv: Sequence[str], input: object, timeout: object) -> ExecResult:
        self.ran.append(list(argv))
        return self.answers.get(argv[0], ExecResult(0, "", ""))


def fake_ctx(node: dict[str, Any], exec_: FakeNode) -> NodeContext:
    from tai_labs.roles.base import NodeContext as Ctx

    scenario: Any = None
    import ipaddress

    return Ctx(
        "lab", Node.model_validate(node), scenario, {}, exec_, ipaddress.IPv4Address("100.64.0.2")
    )


def test_disk_full_refuses_an_uncapped_node_before_writing() -> None:
    node = FakeNode({})
    ctx = fake_ctx({"name": "pc1", "kind": "linux-client"}, node)
    cls = FAULTS.get("linux.disk_full")
    with pytest.raises(FaultError, match="disk_mib"):
        cls().inject(ctx, cls.Params())
    assert node.ran == []


def test_disk_full_refuses_a_file_system_bigger_than_the_cap() -> None:
    df = ExecResult(0, "Avail Size Mounted\n70000000000 250000000000 /\n", "")
    node = FakeNode({"df": df})
    ctx = fake_ctx({"name": "pc1", "kind": "linux-client", "disk_mib": 128}, node)
    cls = FAULTS.get("linux.disk_full")
    with pytest.raises(FaultError, match="capped"):
        cls().inject(ctx, cls.Params())
    assert not any(argv[0] in ("fallocate", "dd") for argv in node.ran)


def test_clock_skew_needs_a_vm() -> None:
    cls = FAULTS.get("linux.clock_skew")
    assert cls.engines == frozenset({"vm"})
    ctx = fake_ctx({"name": "pc1", "kind": "linux-client"}, FakeNode({}))
    with pytest.raises(FaultError, match="container"):
        cls().inject(ctx, cls.Params())
