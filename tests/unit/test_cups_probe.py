"""A node's print queues asked by the host's own lpstat from the node's network namespace."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from test_sessions_hostside import ForgingNode

from tai_labs.providers.base import NODE_ENV, HostView
from tai_labs.providers.cupsprobe import lpoptions_default, lpstat_query
from tai_labs.providers.rootfs import OverlayTree
from tai_labs.sessions.hostside import HostSideSession

can_enter = pytest.mark.skipif(
    os.geteuid() != 0 or not all(shutil.which(t) for t in ("nsenter", "unshare")),
    reason="needs root, nsenter and unshare",
)
has_lpstat = pytest.mark.skipif(
    not shutil.which("lpstat", path=NODE_ENV["PATH"]),
    reason="needs the host's lpstat (cups-client)",
)


@pytest.mark.parametrize(
    "words",
    [["lpstat", "-r"], ["lpstat", "-d"], ["lpstat", "-p", "Atelier-MFP"], ["lpstat", "-a", "q1"]],
)
def test_the_read_only_queries_are_the_hosts(words: list[str]) -> None:
    assert lpstat_query(words)


@pytest.mark.parametrize(
    "words",
    [
        ["lpstat"],
        ["lpstat", "-t"],
        ["lpstat", "-h", "10.0.0.1:631", "-r"],
        ["lpstat", "-p", "-h"],
        ["lpstat", "-p", "a/b"],
        ["lpstat", "-p", "q", "-E"],
        ["lpadmin", "-d", "q"],
        [],
    ],
)
def test_anything_else_is_not(words: list[str]) -> None:
    assert not lpstat_query(words)


def test_the_default_line_of_an_lpoptions_file() -> None:
    assert lpoptions_default("Default Atelier-MFP sides=one-sided\n") == "Atelier-MFP"
    assert lpoptions_default("Dest other\ndefault q1/draft\n") == "q1"
    assert lpoptions_default("Dest q2 media=a4\n") is None
    assert lpoptions_default("") is None


@can_enter
@has_lpstat
def test_the_scheduler_is_asked_in_the_namespace_never_the_nodes_lpstat(
    fresh_netns: int, tmp_path: Path
) -> None:
    # No cupsd in the fresh namespace (loopback down): whatever runs on the host, the host's
    # lpstat finds no scheduler there, and the node's (forging) lpstat is never asked.
    node = ForgingNode()
    session = HostSideSession(node, HostView(OverlayTree([tmp_path]), fresh_netns))
    result = session.run(["env", "LC_ALL=C", "LANG=C", "lpstat", "-r"])
    assert (result.source, result.via) == ("host", "netns")
    assert "scheduler is not running" in result.stdout
    assert node.asked == []
    session.close()


@can_enter
def test_the_nodes_system_wide_default_is_read_from_its_disk(
    fresh_netns: int, tmp_path: Path
) -> None:
    (tmp_path / "etc/cups").mkdir(parents=True)
    (tmp_path / "etc/cups/lpoptions").write_text("Default Atelier-MFP\n")
    node = ForgingNode()
    session = HostSideSession(node, HostView(OverlayTree([tmp_path]), fresh_netns))
    result = session.run(["env", "LC_ALL=C", "LANG=C", "lpstat", "-d"])
    assert result.stdout == "system default destination: Atelier-MFP\n"
    assert (result.source, node.asked) == ("host", [])
    session.close()
