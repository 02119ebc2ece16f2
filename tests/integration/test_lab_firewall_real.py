"""A lab's nft table removed behind its back is back after the next lab command opens it.

Only a lab network is made (bridges and the table, no node, no image), for a lab row written
straight into a temporary store; only that lab's own table is deleted, never the host's
ruleset (other labs may be running). Needs root and nftables.
"""

from __future__ import annotations

import logging
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import skip_unless_host
from tai_labs.lab.runtime import open_lab
from tai_labs.lab.store import Store
from tai_labs.locations import locations
from tai_labs.providers import network
from tai_labs.providers.naming import new_lab_id, nft_table

pytestmark = pytest.mark.integration


def _table_exists(table: str) -> bool:
    return (
        subprocess.run(["nft", "list", "table", "inet", table], capture_output=True).returncode == 0
    )


@pytest.fixture
def lab_id(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    skip_unless_host("nft", "ip")
    monkeypatch.setenv("TAI_LABS_DATA", str(tmp_path / "data"))
    lab = new_lab_id()
    scenario = locations().scenarios / "ccp2" / "compte-verrouille" / "scenario.yaml"
    Store().add_lab(lab, "compte-verrouille", scenario, "alice", 0)
    try:
        network.create_lab_network(lab, ["lan"])
        yield lab
    finally:
        network.delete_lab_network(lab)
        assert not _table_exists(nft_table(lab))


def test_opening_the_lab_puts_its_vanished_table_back(
    lab_id: str, caplog: pytest.LogCaptureFixture
) -> None:
    table = nft_table(lab_id)
    assert _table_exists(table)
    open_lab(lab_id)  # intact: nothing to say
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]

    subprocess.run(["nft", "delete", "table", "inet", table], check=True)  # what a flush does
    assert not _table_exists(table)
    with caplog.at_level(logging.WARNING, logger="tai_labs"):
        open_lab(lab_id)
    assert _table_exists(table) and network.nft_table_intact(lab_id)
    assert any(table in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)

    subprocess.run(["nft", "flush", "table", "inet", table], check=True)  # emptied, not gone
    assert not network.nft_table_intact(lab_id)
    open_lab(lab_id)
    assert network.nft_table_intact(lab_id)
