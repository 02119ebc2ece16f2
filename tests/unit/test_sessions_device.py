"""Device sessions without a device: CLI error detection, the OVS wrapper, pool routing."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from tai_labs.lab import sessions as pool_module
from tai_labs.providers.base import ExecResult
from tai_labs.scenario.model import NodeKind
from tai_labs.sessions.base import CommandResult, CommandSession, SessionError
from tai_labs.sessions.device import OvsSession, cli_rc
from tai_labs.sessions.ssh import UNREACHABLE, SshConnectError, SshSession


def test_cli_rc_on_recorded_vtysh_output() -> None:
    assert cli_rc("% Unknown command: show bogus") == 1
    recorded = (
        " configure terminal\nbox(config)#  ip rout 10.77.0.0/24\n"
        "% Command incomplete: ip rout 10.77.0.0/24\nbox(config)#  end\nbox# "
    )
    assert cli_rc(recorded) == 1
    assert cli_rc("Building Configuration...\nIntegrated configuration saved\n[OK]") == 0
    assert cli_rc("Codes: K - kernel route, C - connected\nC>* 10.0.0.0/24 is 100% up") == 0


class Recorder(CommandSession):
    shell = "posix"
    transport = "ssh"

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def run(
        self, argv: Sequence[str], *, timeout: float = 30.0, input: str | None = None
    ) -> CommandResult:
        self.calls.append(list(argv))
        return CommandResult(0, "ok", "", " ".join(argv))


def test_ovs_send_runs_only_ovs_tools_as_argv() -> None:
    rec = Recorder()
    ovs = OvsSession("sw1", rec)
    assert ovs.send("ovs-vsctl list-ports sw0").ok
    assert rec.calls[-1] == ["ovs-vsctl", "--timeout=30", "list-ports", "sw0"]
    assert ovs.send("ovs-ofctl dump-flows 'sw0'", timeout=5).ok
    assert rec.calls[-1] == ["ovs-ofctl", "dump-flows", "sw0"]
    bad = ovs.send("rm -rf / ; ovs-vsctl show")
    assert bad.rc == 1 and bad.stderr.startswith("% Unknown command") and len(rec.calls) == 2
    assert ovs.send("ovs-vsctl show 'unterminated").rc == 1
    assert ovs.transport == "ovs over ssh"


def test_ovs_configure_is_one_transaction_and_save_is_noop() -> None:
    rec = Recorder()
    ovs = OvsSession("sw1", rec)
    ovs.configure(["set port gi0-1 tag=10", "ovs-vsctl set port gi0-2 trunks=10,20", ""], timeout=9)
    assert rec.calls[-1] == [
        "ovs-vsctl", "--timeout=9", "--", "set", "port", "gi0-1", "tag=10",
        "--", "set", "port", "gi0-2", "trunks=10,20",
    ]  # fmt: skip
    assert ovs.save().ok and len(rec.calls) == 1


def test_ssh_connect_refused_is_unreachable(tmp_path: Path) -> None:
    known = tmp_path / "known_hosts"
    known.write_text("")
    ssh = SshSession("n1", "127.0.0.1", port=1, key_file=tmp_path / "k", known_hosts=known,
                     connect_timeout=2)  # fmt: skip
    with pytest.raises(SshConnectError) as err:
        ssh.run(["true"])
    assert err.value.reason == UNREACHABLE and "n1" in err.value.message


class FakeLab:
    id = "lab1"

    def __init__(self, kinds: dict[str, NodeKind], folder: Path) -> None:
        self.kinds = kinds
        self.folder = folder
        self.loaded = SimpleNamespace(scenario=SimpleNamespace(directory=None))
        self.secrets = SimpleNamespace(all=lambda: {})
        self.exec_calls: list[list[str]] = []

    def node_plan(self, node: str) -> Any:
        return SimpleNamespace(kind=self.kinds[node])

    def mgmt_address(self, node: str) -> ipaddress.IPv4Address:
        return ipaddress.IPv4Address("127.0.0.1")

    def host_view(self, node: str) -> None:
        return None  # not a container: every command goes to the node

    def exec(self, node: str, argv: list[str], input: Any = None, timeout: Any = 60) -> ExecResult:
        self.exec_calls.append(argv)
        return ExecResult(0, "from exec\n", "")


def test_pool_falls_back_to_exec_and_routes_kinds(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def refuse(self: SshSession) -> None:
        raise SshConnectError(f"{self.node}: cannot connect: no route to host", UNREACHABLE)

    monkeypatch.setattr(SshSession, "open", refuse)
    lab = FakeLab({"pc1": NodeKind.LINUX_CLIENT, "sw1": NodeKind.SWITCH}, tmp_path)
    with pool_module.SessionPool(lab) as pool:  # type: ignore[arg-type]
        session = pool.get("pc1", "command")
        assert session.transport == "exec" and pool.get("pc1", "command") is session
        assert "no route to host" in pool.fallbacks["pc1"]
        assert session.run(["echo", "a b"]).stdout == "from exec\n"
        assert lab.exec_calls == [["echo", "a b"]]
        device = pool.get("sw1", "device")
        assert isinstance(device, OvsSession) and device.transport == "ovs over exec"
        with pytest.raises(SessionError, match="no Windows node support"):
            pool.get("pc1", "powershell")
        with pytest.raises(SessionError, match="not a domain controller"):
            pool.get("pc1", "directory")
        with pytest.raises(SessionError, match="no device CLI"):
            pool.get("pc1", "device")
        with pytest.raises(ValueError):
            pool.get("pc1", "telnet")


def test_pool_wraps_container_command_sessions_with_the_hosts_view(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from tai_labs.providers.base import HostView
    from tai_labs.providers.errors import EngineError
    from tai_labs.providers.rootfs import OverlayTree
    from tai_labs.sessions.hostside import HostSideSession

    def refuse(self: SshSession) -> None:
        raise SshConnectError(f"{self.node}: cannot connect: no route to host", UNREACHABLE)

    monkeypatch.setattr(SshSession, "open", refuse)
    root = tmp_path / "rootfs"
    (root / "etc").mkdir(parents=True)
    (root / "etc/hostname").write_text("pc1\n")
    lab = FakeLab({"pc1": NodeKind.LINUX_CLIENT, "pc2": NodeKind.LINUX_CLIENT}, tmp_path)

    def host_view(node: str) -> HostView:
        if node == "pc2":
            raise EngineError("the node's config has no lxc.rootfs.path")
        return HostView(OverlayTree([root]), init_pid=1)

    monkeypatch.setattr(lab, "host_view", host_view)
    with pool_module.SessionPool(lab) as pool:  # type: ignore[arg-type]
        session = pool.get("pc1", "command")
        assert isinstance(session, HostSideSession) and session.transport == "exec"
        assert session.fallback.startswith("fallback:")  # recorded for node-side items
        read = session.run(["cat", "--", "/etc/hostname"])
        assert (read.stdout, read.source) == ("pc1\n", "host") and lab.exec_calls == []
        other = pool.get("pc2", "command")  # no view: every answer node-side, and why
        assert not isinstance(other, HostSideSession)
        assert "lxc.rootfs.path" in pool.no_host_view["pc2"]
        assert other.run(["cat", "--", "/etc/hostname"]).source == "node"
