"""The netdev.* checks on a real FRR router and a real Open vSwitch switch, pass and fail.

One lab (module-scoped, always destroyed) built with the role test fixtures: router ``r``
(FRR, dnsmasq relaying n2's DHCP to 10.1.0.10), switch ``sw`` (Gi0/1 access VLAN 10 to
``a``, Gi0/2 trunk 10,20 to ``b``). The router is asked over netmiko (the sessions' own
``NetmikoSession``) and, for files, through the exec channel; the switch through the
``OvsSession`` the session pool gives switches. With ``TAI_LABS_RECORD=1`` the answers are
written to ``tests/unit/graders_ad/captured/`` for the unit tests.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from roles_fixtures import RoleLab, running_lab
from topologies import N1, N2, RELAY_N2, V10, V20, access, client, networks, router, switch, trunk

from tai_labs.grading.base import CHECKS
from tai_labs.grading.model import Verdict
from tai_labs.roles.router import ADMIN_USER, DEFAULT_DEVICE_PASSWORD
from tai_labs.sessions.base import CommandSession, DeviceSession
from tai_labs.sessions.exec import ExecSession

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))
from graders_ad.replay import RecordingCommand, RecordingDevice, save_capture

RECORD = os.environ.get("TAI_LABS_RECORD") == "1"
PASS, FAIL = Verdict.PASS, Verdict.FAIL


def topology() -> dict[str, Any]:
    return {
        "networks": networks(N1, N2, V10, V20),
        "nodes": [
            router(**RELAY_N2),
            switch(access("Gi0/1", 10, "a"), trunk("Gi0/2", "b")),
            client("a", "v10", "10.10.0.1/24"),
            client("b", "v20", "10.20.0.1/24"),
        ],
    }


@pytest.fixture(scope="module")
def lab() -> Iterator[RoleLab]:
    pytest.importorskip("netmiko", reason="netmiko is needed for the router CLI session")
    with running_lab(topology(), ("router", "switch", "client"), ("r", "sw", "a", "b")) as lab:
        yield lab


def exec_session(lab: RoleLab, node: str) -> ExecSession:
    return ExecSession(
        node, lambda argv, input, timeout: lab.exec(node, argv, input=input, timeout=timeout)
    )


@pytest.fixture(scope="module")
def cli(lab: RoleLab) -> Iterator[DeviceSession]:
    from tai_labs.sessions.device import NetmikoSession

    session = NetmikoSession(
        "r", str(lab.mgmt["r"]), username=ADMIN_USER, password=DEFAULT_DEVICE_PASSWORD
    )
    yield session
    session.close()


@pytest.fixture(scope="module")
def ovs(lab: RoleLab) -> DeviceSession:
    from tai_labs.sessions.device import OvsSession

    return OvsSession("sw", exec_session(lab, "sw"))


def grade(session: Any, grader: str, params: dict[str, Any], state: str, expect: Verdict) -> None:
    plugin = CHECKS.get(grader)
    p = plugin.Params.model_validate(params)
    if isinstance(session, CommandSession):
        recorder: Any = RecordingCommand(session)
    elif getattr(session, "device_type", "") == "ovs":
        # The OVS session's own command session is recorded too (netdev.interface uses it).
        from tai_labs.sessions.device import OvsSession

        inner = RecordingCommand(session.command)
        recorder = OvsSession("sw", inner)
        recorder.calls = inner.calls  # type: ignore[attr-defined]
    else:
        recorder = RecordingDevice(session)
    evidence = plugin().collect(recorder, p)
    judgement = plugin().judge(evidence, p)
    print(f"\n[{grader} {state}] {judgement.verdict}: {judgement.why_fr} | {judgement.decisive}")
    assert judgement.verdict is expect, (judgement, evidence.commands)
    assert judgement.why_fr and judgement.why_en and judgement.decisive
    if RECORD:
        kind = (
            "ovs"
            if getattr(session, "device_type", "") == "ovs"
            else ("command" if isinstance(session, CommandSession) else "device")
        )
        save_capture(
            f"netdev_{grader.split('.')[1]}_{state}",
            {
                "check": grader,
                "params": params,
                "state": state,
                "verdict": expect.value,
                "session": kind,
                "calls": recorder.calls,
            },
        )


# -- router ------------------------------------------------------------------------------------


def test_router_static_route(lab: RoleLab, cli: DeviceSession) -> None:
    route = {"prefix": "10.99.0.0/24", "next_hop": "10.2.0.1"}
    grade(cli, "netdev.route", route, "present", PASS)
    grade(cli, "netdev.route", {**route, "next_hop": "10.2.0.2"}, "other_hop", FAIL)
    cli.configure(["no ip route 10.99.0.0/24 10.2.0.1"])
    try:
        grade(cli, "netdev.route", route, "removed", FAIL)
        grade(cli, "netdev.route", {**route, "present": False}, "removed_expected", PASS)
    finally:
        cli.configure(["ip route 10.99.0.0/24 10.2.0.1"])


def test_router_interface_shutdown(cli: DeviceSession) -> None:
    params = {"interface": "eth1", "address": "10.1.0.254/24"}
    grade(cli, "netdev.interface", params, "up", PASS)
    grade(cli, "netdev.interface", {**params, "address": "10.1.0.1/24"}, "wrong_address", FAIL)
    grade(cli, "netdev.interface", {"interface": "eth9"}, "absent", FAIL)
    cli.configure(["interface eth1", "shutdown"])
    try:
        grade(cli, "netdev.interface", params, "shutdown", FAIL)
        grade(
            cli, "netdev.interface", {"interface": "eth1", "up": False}, "shutdown_expected", PASS
        )
    finally:
        cli.configure(["interface eth1", "no shutdown"])
    grade(cli, "netdev.interface", params, "no_shutdown", PASS)


def test_router_config_saved(lab: RoleLab, cli: DeviceSession) -> None:
    node = exec_session(lab, "r")
    grade(node, "netdev.config_saved", {}, "provisioned", PASS)
    # Saved, but without the fix: a saved configuration alone earns nothing.
    fix = {"lines": ["ip route 10.98.0.0/24 10.2.0.1"]}
    grade(node, "netdev.config_saved", fix, "provisioned_without_fix", FAIL)
    cli.configure(["ip route 10.98.0.0/24 10.2.0.1"])
    try:
        grade(node, "netdev.config_saved", {}, "unsaved", FAIL)
        grade(node, "netdev.config_saved", fix, "unsaved_fix", FAIL)
        saved = cli.save()
        assert saved.ok, saved.stdout
        grade(node, "netdev.config_saved", {}, "written", PASS)
        grade(node, "netdev.config_saved", fix, "written_fix", PASS)
    finally:
        cli.configure(["no ip route 10.98.0.0/24 10.2.0.1"])
        cli.save()


def test_router_dhcp_relay(lab: RoleLab) -> None:
    node = exec_session(lab, "r")
    params = {"interface": "eth2", "server": "10.1.0.10"}
    grade(node, "netdev.dhcp_relay", params, "configured", PASS)
    grade(node, "netdev.dhcp_relay", {**params, "interface": "eth1"}, "other_interface", FAIL)
    conf = "/etc/dnsmasq.d/tai-labs.conf"
    original = lab.exec("r", ["cat", conf]).stdout
    try:
        lab.exec(
            "r", ["sh", "-c", f"sed -i 's/^dhcp-relay=.*/dhcp-relay=10.2.0.254,10.1.0.99/' {conf}"]
        )
        lab.exec("r", ["touch", conf])
        grade(node, "netdev.dhcp_relay", params, "wrong_server", FAIL)
        lab.exec("r", ["sh", "-c", f"cat > {conf}"], input=original)
        grade(node, "netdev.dhcp_relay", params, "not_restarted", FAIL)
        assert lab.exec("r", ["systemctl", "restart", "dnsmasq"]).ok
        grade(node, "netdev.dhcp_relay", params, "restarted", PASS)
        assert lab.exec("r", ["systemctl", "stop", "dnsmasq"]).ok
        grade(node, "netdev.dhcp_relay", params, "stopped", FAIL)
    finally:
        lab.exec("r", ["sh", "-c", f"cat > {conf}"], input=original)
        lab.exec("r", ["systemctl", "restart", "dnsmasq"])


# -- switch ------------------------------------------------------------------------------------


def test_switch_vlans(lab: RoleLab, ovs: DeviceSession) -> None:
    grade(ovs, "netdev.vlan", {"vlan": 10, "vlan_name": "users"}, "declared", PASS)
    grade(ovs, "netdev.vlan", {"vlan": 10, "vlan_name": "compta"}, "wrong_name", FAIL)
    grade(ovs, "netdev.vlan", {"vlan": 30}, "absent", FAIL)
    grade(ovs, "netdev.vlan", {"vlan": 30, "exists": False}, "absent_expected", PASS)
    lab.exec("sw", ["ovs-vsctl", "set", "bridge", "sw0", "external_ids:vlan-30=compta"])
    try:
        grade(ovs, "netdev.vlan", {"vlan": 30, "vlan_name": "Compta"}, "added", PASS)
    finally:
        lab.exec("sw", ["ovs-vsctl", "remove", "bridge", "sw0", "external_ids", "vlan-30"])


def test_switch_access_port(lab: RoleLab, ovs: DeviceSession) -> None:
    grade(ovs, "netdev.access_port", {"port": "Gi0/1", "vlan": 10}, "right_vlan", PASS)
    grade(ovs, "netdev.access_port", {"port": "Gi0/2", "vlan": 10}, "is_trunk", FAIL)
    grade(ovs, "netdev.access_port", {"port": "Gi0/9", "vlan": 10}, "absent", FAIL)
    lab.exec("sw", ["ovs-vsctl", "set", "port", "gi0-1", "tag=20"])
    try:
        grade(ovs, "netdev.access_port", {"port": "Gi0/1", "vlan": 10}, "wrong_vlan", FAIL)
    finally:
        lab.exec("sw", ["ovs-vsctl", "set", "port", "gi0-1", "tag=10"])


def test_switch_trunk(lab: RoleLab, ovs: DeviceSession) -> None:
    grade(ovs, "netdev.trunk", {"port": "Gi0/2", "allowed": [10, 20], "exact": True}, "exact", PASS)
    grade(ovs, "netdev.trunk", {"port": "Gi0/1", "allowed": [10]}, "is_access", FAIL)
    lab.exec("sw", ["ovs-vsctl", "set", "port", "gi0-2", "trunks=10"])
    try:
        grade(ovs, "netdev.trunk", {"port": "Gi0/2", "allowed": [10, 20]}, "vlan_missing", FAIL)
        grade(ovs, "netdev.trunk", {"port": "Gi0/2", "allowed": [10]}, "at_least", PASS)
    finally:
        lab.exec("sw", ["ovs-vsctl", "set", "port", "gi0-2", "trunks=10,20"])


def test_switch_port_shutdown(lab: RoleLab, ovs: DeviceSession) -> None:
    grade(ovs, "netdev.interface", {"interface": "Gi0/1"}, "switch_up", PASS)
    lab.exec("sw", ["ip", "link", "set", "dev", "gi0-1", "down"])
    try:
        grade(ovs, "netdev.interface", {"interface": "Gi0/1"}, "switch_shutdown", FAIL)
        grade(
            ovs,
            "netdev.interface",
            {"interface": "Gi0/1", "up": False},
            "switch_shutdown_expected",
            PASS,
        )
    finally:
        lab.exec("sw", ["ip", "link", "set", "dev", "gi0-1", "up"])
