"""The lab's nft table is checked whenever a lab is opened, and put back if it vanished.

A fake ``nft`` stands in for the host's (no root, no nftables needed); the same path on the
real host is tests/integration/test_lab_firewall.py.
"""

from __future__ import annotations

import json
import logging
import re
import subprocess
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from typer.testing import CliRunner

from tai_labs.lab import runtime
from tai_labs.providers import network

LAB = "abc123"
TABLE = f"tailabs_{LAB}"


class FakeNft:
    """Tables by name, each with the chains that hold rules; records every call."""

    def __init__(self) -> None:
        self.tables: dict[str, set[str]] = {}
        self.calls: list[list[str]] = []

    def __call__(
        self, argv: Sequence[str], *, check: bool = True, input: bytes | None = None, **_: Any
    ) -> subprocess.CompletedProcess[bytes]:
        argv = list(argv)
        self.calls.append(argv)
        rc, out = 0, b""
        if argv[:4] == ["nft", "-j", "list", "table"]:
            chains = self.tables.get(argv[5])
            if chains is None:
                rc = 1
            else:
                items = [{"rule": {"chain": c}} for c in sorted(chains)]
                out = json.dumps({"nftables": [{"table": {"name": argv[5]}}, *items]}).encode()
        elif argv[:3] == ["nft", "delete", "table"]:
            rc = 0 if self.tables.pop(argv[4], None) is not None else 1
        elif argv == ["nft", "-f", "-"]:
            text = (input or b"").decode()
            name = re.search(r"table inet (\S+) \{", text)
            assert name is not None
            self.tables[name[1]] = set(re.findall(r"chain (\w+) \{\n[^}]*?\n    \S", text))
        else:
            raise AssertionError(f"unexpected command {argv}")
        return subprocess.CompletedProcess(argv, rc, out, b"")

    def installs(self) -> int:
        return sum(1 for c in self.calls if c == ["nft", "-f", "-"])


@pytest.fixture
def nft(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeNft:
    monkeypatch.setenv("TAI_LABS_DATA", str(tmp_path))
    monkeypatch.setattr(network.os, "geteuid", lambda: 0)
    fake = FakeNft()
    monkeypatch.setattr(network, "run", fake)
    net = network.LabNetwork(LAB, f"tl{LAB}m", "100.64.9.0/24", "100.64.9.1/24", {"lan": "x"})
    state = tmp_path / "labs" / LAB / "network.json"
    state.parent.mkdir(parents=True)
    state.write_text(json.dumps(net.__dict__))
    network._apply_nft(net)  # as `up` installed it
    fake.calls.clear()
    return fake


def test_an_intact_table_is_left_alone(nft: FakeNft, caplog: pytest.LogCaptureFixture) -> None:
    assert nft.tables[TABLE] == {"forward", "input"}
    assert runtime.check_firewall(LAB) is False
    assert nft.installs() == 0 and caplog.records == []


@pytest.mark.parametrize("how", ["flushed ruleset", "emptied table"])
def test_a_vanished_table_is_reinstalled_with_a_warning(
    nft: FakeNft, caplog: pytest.LogCaptureFixture, how: str
) -> None:
    if how == "flushed ruleset":
        nft.tables.clear()  # nft flush ruleset
    else:
        nft.tables[TABLE] = set()  # nft flush table inet tailabs_abc123: chains, no rules
    with caplog.at_level(logging.WARNING, logger="tai_labs"):
        assert runtime.check_firewall(LAB) is True
    assert nft.tables[TABLE] == {"forward", "input"} and nft.installs() == 1
    (record,) = caplog.records
    assert record.levelno == logging.WARNING and TABLE in record.getMessage()
    assert runtime.check_firewall(LAB) is False  # back for good: the next open is quiet


def test_nothing_is_checked_without_root_or_before_the_network(
    nft: FakeNft, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    nft.tables.clear()
    assert network.ensure_lab_firewall("zzz999") is None  # no network.json: not up yet
    monkeypatch.setattr(network.os, "geteuid", lambda: 1000)
    assert network.ensure_lab_firewall(LAB) is None
    assert nft.calls == []


def test_opening_a_lab_checks_its_firewall(monkeypatch: pytest.MonkeyPatch) -> None:
    checked: list[str] = []
    record = SimpleNamespace(id=LAB, scenario_file="/x", candidate="a", seed=0)
    store: Any = SimpleNamespace(lab=lambda lab_id: record)
    monkeypatch.setattr(runtime, "render_for_lab", lambda *a: SimpleNamespace())
    monkeypatch.setattr(runtime, "check_firewall", checked.append)
    runtime.open_lab(LAB, store)
    assert checked == [LAB]


def test_the_cli_shows_the_warning(nft: FakeNft, monkeypatch: pytest.MonkeyPatch) -> None:
    from tai_labs.cli import app as cli_app
    from tai_labs.cli import labs as lab_cmds
    from tai_labs.lab.status import LabStatus

    def status(lab_id: str) -> LabStatus:
        runtime.check_firewall(lab_id)  # what open_lab does first
        return LabStatus(LAB, "s", "c", 0, "ready", None, 0.0, Path("/"), Path("/b"), [], [])

    nft.tables.clear()
    monkeypatch.setattr(lab_cmds, "lab_status", status)
    result = CliRunner().invoke(cli_app.app, ["status", LAB])
    assert result.exit_code == 0, result.output
    assert f"warning: lab {LAB}: its firewall (nft table {TABLE}) was missing" in result.output
