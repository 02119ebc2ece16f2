"""The lab's sessions in node contexts: one pool per Lab, opened lazily, closed by the operation
that opened it (here `revert_to`, as `reset` runs it), with fakes for SSH and the engine."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from tai_labs.context import NodeContext
from tai_labs.lab import lifecycle
from tai_labs.lab.runtime import Lab
from tai_labs.lab.store import LabRecord
from tai_labs.scenario.loader import load_scenario
from tai_labs.sessions.ssh import SshSession

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = ROOT / "scenarios" / "ccp1" / "ajout-disque-donnees" / "scenario.yaml"


class FakeSsh:
    """Replaces SshSession.open/close: counts what a leak would leave open."""

    def __init__(self) -> None:
        self.opened: list[str] = []
        self.closed: list[str] = []

    def open(self, session: SshSession) -> None:
        self.opened.append(session.node)

    def close(self, session: SshSession) -> None:
        self.closed.append(session.node)


@pytest.fixture
def ssh(monkeypatch: pytest.MonkeyPatch) -> FakeSsh:
    fake = FakeSsh()
    monkeypatch.setattr(SshSession, "open", lambda self: fake.open(self))
    monkeypatch.setattr(SshSession, "close", lambda self: fake.close(self))
    return fake


@pytest.fixture
def lab(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Lab:
    monkeypatch.setenv("TAI_LABS_DATA", str(tmp_path))
    monkeypatch.setattr(Lab, "mgmt_address", lambda self, node: ipaddress.IPv4Address("10.0.0.2"))
    record = LabRecord("abc123", "s", str(SCENARIO), "demo", 0, "ready", 0.0, 0.0, None)
    loaded = load_scenario(SCENARIO, candidate="demo", seed=0, lab_id="abc123")
    lab = Lab(record, store=None, loaded=loaded)  # type: ignore[arg-type]
    lab._engine = SimpleNamespace(  # type: ignore[assignment]
        revert=lambda resource, name: None, host_view=lambda resource: None
    )
    return lab


def test_context_hands_out_the_lab_pool_and_opens_nothing(lab: Lab, ssh: FakeSsh) -> None:
    ctx = lab.context("srv1")
    assert isinstance(ctx, NodeContext)
    assert ctx.sessions is lab.sessions is lab.context("srv1").sessions  # one pool per Lab
    assert ssh.opened == [] and lab.sessions.opened == 0  # lazy: nothing asked, nothing open
    with lab.sessions:
        session = ctx.sessions.get("srv1", "command")
        assert ctx.sessions.get("srv1", "command") is session  # cached per (node, kind)
        assert ssh.opened == ["srv1"]
    assert ssh.closed == ["srv1"] and lab.sessions.opened == 0


def test_nested_blocks_leave_the_pool_to_the_outermost(lab: Lab, ssh: FakeSsh) -> None:
    with lab.sessions:
        with lab.sessions:
            lab.sessions.get("srv1", "command")
        assert ssh.closed == []  # an inner operation (a reset inside a selftest) keeps it
    assert ssh.closed == ["srv1"]
    lab.sessions.get("srv1", "command")  # closed is not dead: the next get reopens
    assert ssh.opened == ["srv1", "srv1"]
    lab.sessions.close()


def test_revert_closes_what_the_roles_opened(
    lab: Lab, ssh: FakeSsh, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[Any] = []

    class Role:
        def wait_started(self, ctx: NodeContext) -> None:
            seen.append(ctx.sessions.get(ctx.node.name, "command"))

    monkeypatch.setattr(lifecycle, "role_named", lambda name: Role())
    lab.sessions.get("srv1", "command")  # opened before the revert: stale after it
    lifecycle.revert_to(lab, lifecycle.EXAM_START)
    assert seen and len(ssh.opened) == 1 + len(seen)  # srv1 reopened after the revert
    assert ssh.closed[0] == "srv1"  # the stale one, closed by the revert
    assert sorted(ssh.closed) == sorted(ssh.opened)  # the roles' ones when it ends: no leak
    assert lab.sessions.opened == 0


@pytest.mark.parametrize(
    ("reason", "recorded"),
    [
        ("host-key", "fallback: host key mismatch"),
        ("unreachable", "fallback: ssh unreachable"),
        ("auth", "fallback: ssh authentication refused"),
    ],
)
def test_a_refused_ssh_falls_back_to_exec_and_says_why(
    lab: Lab, monkeypatch: pytest.MonkeyPatch, reason: str, recorded: str
) -> None:
    from tai_labs.sessions.exec import ExecSession
    from tai_labs.sessions.ssh import SshConnectError

    def refuse(self: SshSession) -> None:
        raise SshConnectError(f"{self.node}: host key differs from the one pinned", reason)

    monkeypatch.setattr(SshSession, "open", refuse)
    with lab.sessions:
        session = lab.sessions.get("pc1", "command")
        assert isinstance(session, ExecSession) and session.transport == "exec"
        assert session.fallback == recorded
        assert "host key differs" in lab.sessions.fallbacks["pc1"]


def test_an_exec_session_asked_for_itself_is_no_fallback(lab: Lab) -> None:
    assert lab.sessions.exec_session("pc1").fallback == ""
