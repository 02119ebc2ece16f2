"""Network state read by the host's own iproute2 inside a namespace (nsenter --net only)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from test_sessions_hostside import ForgingNode

from tai_labs.providers.base import NODE_ENV, HostView
from tai_labs.providers.netns import NetNamespace
from tai_labs.providers.rootfs import OverlayTree
from tai_labs.sessions.hostside import HostSideSession, network_read

can_enter = pytest.mark.skipif(
    os.geteuid() != 0 or not all(shutil.which(t) for t in ("nsenter", "unshare", "ip")),
    reason="needs root, nsenter, unshare and ip",
)


@pytest.mark.parametrize(
    "argv",
    [
        ["ip", "-j", "-4", "route", "show", "table", "main"],
        ["ip", "-j", "addr", "show", "dev", "eth1"],
        ["ip", "-j", "-4", "addr", "show", "dev", "eth0"],
        ["ip", "-j", "neigh", "show"],
        ["ip", "link"],
        ["ss", "-tlnH"],
        ["ss", "-t", "-a", "-n"],
        ["nft", "-j", "list", "ruleset"],
        ["nft", "list", "ruleset"],
    ],
)
def test_reading_network_commands_go_to_the_host(argv: list[str]) -> None:
    assert network_read(argv)


@pytest.mark.parametrize(
    "argv",
    [
        ["ip", "route", "add", "10.0.0.0/8", "via", "1.2.3.4"],
        ["ip", "addr", "flush", "dev", "eth0"],
        ["ip", "-batch", "/tmp/x"],
        ["ip", "-n", "other", "addr", "show"],
        ["ip", "netns", "exec", "x", "sh"],
        ["ip", "-force", "route", "show"],
        ["ss", "-K", "dst", "1.2.3.4"],
        ["ss", "-tp"],
        ["ss", "--kill"],
        ["ss", "-F", "/etc/x"],
        ["ip"],
        ["nft", "flush", "ruleset"],
        ["nft", "-f", "/etc/nftables.conf"],
        ["nft", "-j", "list", "ruleset", "-f", "/tmp/x"],
        [],
    ],
)
def test_anything_else_is_not_run_by_the_host(argv: list[str]) -> None:
    assert not network_read(argv)


@can_enter
def test_the_host_ip_sees_the_namespace_not_the_host(fresh_netns: int, tmp_path: Path) -> None:
    netns = NetNamespace(fresh_netns)
    try:
        links = json.loads(netns.run(["ip", "-j", "link", "show"]).stdout)
        assert [link["ifname"] for link in links] == ["lo"]
        assert netns.run(["ss", "-tlnH"]).stdout == ""
    finally:
        netns.close()
    session = HostSideSession(ForgingNode(), HostView(OverlayTree([tmp_path]), fresh_netns))
    result = session.run(["ip", "-j", "addr", "show", "dev", "lo"])
    assert (result.source, result.via) == ("host", "netns")
    assert json.loads(result.stdout)[0]["ifname"] == "lo"
    assert session.run(["ip", "route", "add", "10.9.0.0/24", "dev", "lo"]).stdout == "forged\n"
    session.close()


@can_enter
def test_a_reused_pid_cannot_redirect_an_open_namespace(fresh_netns: int) -> None:
    netns = NetNamespace(fresh_netns)
    try:
        first = netns.run(["ip", "-j", "link", "show"]).stdout
        os.kill(fresh_netns, 9)  # the namespace is held by our descriptor, not by the pid
        assert netns.run(["ip", "-j", "link", "show"]).stdout == first
    finally:
        netns.close()


@can_enter
@pytest.mark.skipif(not shutil.which("nft", path=NODE_ENV["PATH"]), reason="needs nft")
def test_the_hosts_nft_reads_the_namespaces_ruleset(fresh_netns: int, tmp_path: Path) -> None:
    netns = NetNamespace(fresh_netns)
    try:
        rule = "add table inet jury_test"
        assert netns.run(["nft", *rule.split()]).rc == 0  # in the namespace only
    finally:
        netns.close()
    session = HostSideSession(ForgingNode(), HostView(OverlayTree([tmp_path]), fresh_netns))
    result = session.run(["nft", "-j", "list", "ruleset"])
    tables = [x["table"]["name"] for x in json.loads(result.stdout)["nftables"] if "table" in x]
    assert (result.source, result.via, tables) == ("host", "netns", ["jury_test"])
    session.close()
