"""The brief's ``access``: host commands in ``brief.md``, the portal's buttons in its own
brief, with a stand-in lab (no engine)."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from tai_labs.kinds import NodeKind
from tai_labs.lab.access import access_details


def _lab() -> Any:
    nodes = [
        SimpleNamespace(name="dc1", kind=NodeKind.AD_DC),
        SimpleNamespace(name="pc1", kind=NodeKind.LINUX_CLIENT),
        SimpleNamespace(name="win1", kind=NodeKind.WINDOWS_CLIENT),
    ]
    addresses = {"dc1": "10.200.1.11", "pc1": "10.200.1.12", "win1": "10.200.1.13"}
    return SimpleNamespace(
        id="abc123",
        plan=SimpleNamespace(nodes=nodes),
        folder=Path("/var/lib/tai-labs/labs/abc123"),
        mgmt_address=lambda name: ipaddress.IPv4Address(addresses[name]),
    )


def test_the_host_brief_gives_the_console_command_of_each_node() -> None:
    how = access_details(_lab())["how"]
    for node in ("dc1", "pc1", "win1"):
        assert f"- **{node}** : `tai-labs console abc123 {node}`" in how


def test_the_portal_brief_names_the_pages_buttons_and_no_host_command() -> None:
    details = access_details(_lab(), web=True)
    how = details["how"]
    assert "tai-labs" not in how and "ssh" not in how and "abc123" not in how
    assert "- **pc1** : bouton « Terminal »\n" in how
    assert "- **dc1** : bouton « Terminal »\n" in how
    # a Windows node has no text terminal: its desktop, in the browser
    assert how.endswith("- **win1** : bouton « Console graphique »")
    # the nodes' details a scenario's brief may use stay the same either way
    assert details["nodes"] == access_details(_lab())["nodes"]
