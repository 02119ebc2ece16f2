"""`tai-labs status --json` is pinned byte for byte, with a stand-in lab (no engine)."""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from tai_labs.cli.output import print_json
from tai_labs.lab.status import describe
from tai_labs.lab.store import StepRecord

GOLDEN = Path(__file__).resolve().parent.parent / "golden" / "status" / "status.json"
REGOLD = os.environ.get("TAI_LABS_REGOLD") == "1"


class _State:
    def __init__(self, value: str) -> None:
        self.value = value


class FakeEngine:
    def state(self, resource: str) -> _State:
        if resource == "tl-abc123-broken":
            raise RuntimeError("no such domain")
        return _State("running")


def _node(name: str, kind: str, engine: str, *addresses: str | None) -> Any:
    nics = [SimpleNamespace(address=ipaddress.IPv4Interface(a) if a else None) for a in addresses]
    return SimpleNamespace(
        name=name,
        kind=SimpleNamespace(value=kind),
        engine=engine,
        resource=f"tl-abc123-{name}",
        nics=nics,
    )


def fake_lab() -> Any:
    steps = [
        StepRecord("images", "done", 1714552200.5, 1714552210.25, None),
        StepRecord("faults", "done", 1714552211.0, 1714552212.0, "skipped: faults not wanted"),
        StepRecord("brief", "started", 1714552213.0, None, None),
    ]
    records = [
        SimpleNamespace(name="dc1", ready=True, mgmt_address="10.200.1.11"),
        SimpleNamespace(name="broken", ready=False, mgmt_address=None),
    ]
    store = SimpleNamespace(nodes=lambda lab_id: records, steps=lambda lab_id: steps)
    record = SimpleNamespace(
        id="abc123",
        scenario="compte-verrouille",
        candidate="Zoé",
        seed=4,
        status="ready",
        error=None,
        created=1714552200.123,
    )
    plan = SimpleNamespace(
        nodes=[
            _node("dc1", "ad-dc", "lxc", "192.168.10.10/24"),
            _node("broken", "client", "vm", None, "192.168.20.5/24"),
            _node("pc2", "client", "lxc", None),
        ]
    )
    return SimpleNamespace(
        id="abc123",
        record=record,
        store=store,
        plan=plan,
        engine=FakeEngine(),
        folder=Path("/var/lib/tai-labs/labs/abc123"),
    )


def test_status_json_is_unchanged(capsys: pytest.CaptureFixture[str]) -> None:
    print_json(describe(fake_lab()).to_dict())
    text = capsys.readouterr().out
    if REGOLD:
        GOLDEN.write_text(text, encoding="utf-8")
    assert text == GOLDEN.read_text(encoding="utf-8")
