"""The Windows role. No Windows can run here: these tests check the script sent over a fake
guest-agent channel and the login tried over a fake WinRM session, not Windows' behaviour.

The fake guest plays what the script would answer (one ``TAI-LABS-RESULT`` JSON line) from
a small state (password, listener, firewall rule), so provisioning twice shows what the role
reports when the node already is as it should be.
"""

from __future__ import annotations

import base64
import ipaddress
import json
from collections.abc import Sequence

import pytest

from tai_labs.images import windows as image_windows
from tai_labs.locations import locations
from tai_labs.providers.base import ExecResult
from tai_labs.providers.errors import EngineError
from tai_labs.roles.base import NodeContext, NotReadyError, RoleError
from tai_labs.roles.registry import role_for
from tai_labs.roles.windows import (
    ADMIN_USER,
    FIREWALL_RULE,
    PROBE_ARGV,
    PROVISION_ARGV,
    PROVISION_SCRIPT,
    RESULT_PREFIX,
    WindowsRole,
)
from tai_labs.scenario.catalog import find
from tai_labs.scenario.loader import load_scenario
from tai_labs.scenario.model import Node, NodeKind
from tai_labs.sessions import winrm as winrm_sessions
from tai_labs.sessions.base import CommandResult, SessionError
from tai_labs.sessions.winrm import WINRM_HTTPS_PORT

PASSWORD = "Lab3Secret9xYz"
IMAGE_PASSWORD = "Image7Build2Pw"
MGMT = ipaddress.IPv4Address("100.64.1.21")


class FakeGuest:
    """The guest agent of a Windows VM, answering as the provision script would."""

    def __init__(self, *, listener: bool = True, firewall: str = "enabled") -> None:
        self.password = IMAGE_PASSWORD
        self.listener = listener
        self.firewall = firewall  # "enabled", "disabled" or "missing"
        self.calls: list[tuple[tuple[str, ...], str | bytes | None, float | None]] = []
        self.fail: ExecResult | None = None

    def exec(
        self, argv: Sequence[str], input: str | bytes | None, timeout: float | None
    ) -> ExecResult:
        self.calls.append((tuple(argv), input, timeout))
        if tuple(argv) == PROBE_ARGV:
            return ExecResult(0, "tai-labs-ready\r\n", "")
        assert tuple(argv) == PROVISION_ARGV
        assert isinstance(input, str)
        if self.fail is not None:
            return self.fail
        password = input.rstrip("\n")
        report = {"account": "kept", "password": "kept", "service": "kept"}
        if password != self.password:
            self.password, report["password"] = password, "set"
        report["listener"] = "kept" if self.listener else "created"
        report["firewall"] = {"enabled": "kept", "disabled": "enabled"}.get(
            self.firewall, "created"
        )
        self.listener, self.firewall = True, "enabled"
        return ExecResult(0, f"{RESULT_PREFIX}{json.dumps(report)}\r\n", "")


def _ctx(guest: FakeGuest, secrets: dict[str, str] | None = None) -> NodeContext:
    loaded = load_scenario(find("compte-verrouille"), candidate="windows-unit")
    return NodeContext(
        lab_id="w1",
        node=Node(name="win1", kind=NodeKind.WINDOWS_CLIENT),
        scenario=loaded.scenario,
        variables=loaded.variables,
        exec=guest.exec,
        mgmt_address=MGMT,
        secrets={"admin_password": PASSWORD} if secrets is None else secrets,
    )


# -- the script ----------------------------------------------------------------------------


def test_provision_sends_a_constant_encoded_script_and_the_password_on_stdin() -> None:
    guest = FakeGuest()
    WindowsRole().provision(_ctx(guest))
    [(argv, stdin, _)] = guest.calls
    assert argv[:4] == ("powershell.exe", "-NoProfile", "-NonInteractive", "-EncodedCommand")
    assert base64.b64decode(argv[4]).decode("utf-16-le") == PROVISION_SCRIPT
    assert stdin == f"{PASSWORD}\n"


def test_script_reads_the_password_first_and_is_plain_ascii() -> None:
    lines = PROVISION_SCRIPT.splitlines()
    assert PROVISION_SCRIPT.isascii() and "\r" not in PROVISION_SCRIPT
    assert "\t" not in PROVISION_SCRIPT
    # A line continued with a backtick must end with it (no trailing space after it).
    assert all(not line.rstrip().endswith("`") or line.endswith("`") for line in lines)
    # The password is read from stdin before anything else can fail.
    assert lines[4] == '$plain = [Console]::In.ReadToEnd().TrimEnd("`r", "`n")'


def test_script_values_match_what_the_image_and_the_sessions_use() -> None:
    image_setup = (locations().windows_media / "setup-winrm.ps1.j2").read_text()
    assert f"-Name '{FIREWALL_RULE}'" in image_setup  # the rule the image build creates
    assert f"Get-NetFirewallRule -Name '{FIREWALL_RULE}'" in PROVISION_SCRIPT
    assert f"-LocalPort {WINRM_HTTPS_PORT} " in PROVISION_SCRIPT
    assert f"Port = '{WINRM_HTTPS_PORT}'" in PROVISION_SCRIPT
    assert ADMIN_USER == image_windows.ADMIN_USER == "Administrator"
    assert f"if ($admin.Name -ne '{ADMIN_USER}')" in PROVISION_SCRIPT
    assert "Set-LocalUser -SID $admin.SID -Password $secure" in PROVISION_SCRIPT
    assert "ValidateCredentials($admin.Name, $plain)" in PROVISION_SCRIPT
    # Joining a domain is left to a later issue (the scenario model says nothing of it).
    assert "Add-Computer" not in PROVISION_SCRIPT


def test_password_travels_only_on_stdin_after_the_script() -> None:
    guest = FakeGuest()
    WindowsRole().provision(_ctx(guest))
    [(argv, stdin, _)] = guest.calls
    assert not any(PASSWORD in arg for arg in argv)
    assert PASSWORD not in PROVISION_SCRIPT
    assert isinstance(stdin, str)
    assert stdin.count(PASSWORD) == 1


# -- idempotency and errors ------------------------------------------------------------------


def test_second_provision_changes_nothing() -> None:
    guest, role = FakeGuest(), WindowsRole()
    role.provision(_ctx(guest))
    assert role.changes == ["password"]
    role.provision(_ctx(guest))
    assert role.changes == []
    assert guest.calls[0] == guest.calls[1]  # the same single script each time


def test_provision_reports_what_it_restored() -> None:
    guest, role = FakeGuest(listener=False, firewall="missing"), WindowsRole()
    role.provision(_ctx(guest))
    assert role.changes == ["password", "listener", "firewall"]


def test_failure_is_an_error_that_never_shows_the_password() -> None:
    guest = FakeGuest()
    guest.fail = ExecResult(1, "", f"tai-labs: something echoed #{PASSWORD}")
    with pytest.raises(RoleError, match=r"rc=1") as caught:
        WindowsRole().provision(_ctx(guest))
    assert PASSWORD not in str(caught.value) and "***" in str(caught.value)


@pytest.mark.parametrize(
    "answer",
    [
        ExecResult(0, "", ""),  # nothing ran (a parse error is no failed exit code)
        ExecResult(0, f'{RESULT_PREFIX}{{"password": "maybe"}}\n', ""),
        ExecResult(0, f"{RESULT_PREFIX}not json\n", ""),
    ],
)
def test_a_missing_or_odd_report_is_an_error(answer: ExecResult) -> None:
    guest = FakeGuest()
    guest.fail = answer
    with pytest.raises(RoleError):
        WindowsRole().provision(_ctx(guest))


@pytest.mark.parametrize(
    ("secrets", "message"),
    [
        ({}, "no 'admin_password' secret"),
        ({"admin_password": "Sh0rt1"}, "Windows would refuse"),
        ({"admin_password": "Administrator12"}, "account name"),
        ({"admin_password": "Mot2passeÉté9"}, "printable ASCII"),
        ({"admin_password": "Line1\nBreak2x"}, "printable ASCII"),
    ],
)
def test_a_password_windows_or_stdin_cannot_take_is_refused_first(
    secrets: dict[str, str], message: str
) -> None:
    guest = FakeGuest()
    with pytest.raises(RoleError, match=message):
        WindowsRole().provision(_ctx(guest, secrets))
    assert guest.calls == []


# -- readiness -------------------------------------------------------------------------------


class FakeWinRm:
    """Stands in for WinRmSession: records who logs in where; answers from a script."""

    opened: list[FakeWinRm] = []
    answers: list[CommandResult | SessionError] = []

    def __init__(
        self,
        node: str,
        host: str,
        *,
        username: str,
        password: str,
        connect_timeout: float,
        pin: str | None = None,
    ) -> None:
        self.node, self.host, self.username, self.password = node, host, username, password
        self.pin = pin  # the readiness probe runs before the certificate is pinned
        self.scripts: list[str] = []
        self.closed = False
        FakeWinRm.opened.append(self)

    def run_ps(
        self, script: str, parameters: object = None, *, timeout: float = 60.0
    ) -> CommandResult:
        self.scripts.append(script)
        answer = FakeWinRm.answers.pop(0) if len(FakeWinRm.answers) > 1 else FakeWinRm.answers[0]
        if isinstance(answer, SessionError):
            raise answer
        return answer

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def winrm(monkeypatch: pytest.MonkeyPatch) -> type[FakeWinRm]:
    FakeWinRm.opened, FakeWinRm.answers = [], []
    # Under the one opener (sessions.winrm.admin_session), which the role goes through.
    monkeypatch.setattr(winrm_sessions, "WinRmSession", FakeWinRm)
    monkeypatch.setattr(WindowsRole, "ready_timeout", 0.3)
    monkeypatch.setattr(WindowsRole, "poll_every", 0.01)
    return FakeWinRm


def test_wait_ready_logs_in_over_winrm_with_the_lab_password(winrm: type[FakeWinRm]) -> None:
    refused = SessionError("win1: WinRM to 100.64.1.21:5986 failed: InvalidCredentialsError")
    winrm.answers = [refused, CommandResult(0, "TAI-WIN11\r\n", "", "$env:COMPUTERNAME")]
    WindowsRole().wait_ready(_ctx(FakeGuest()))
    assert len(winrm.opened) == 2  # polled: a fresh session per attempt, each closed
    last = winrm.opened[-1]
    assert (last.node, last.host, last.username, last.password) == (
        "win1",
        str(MGMT),
        "Administrator",
        PASSWORD,
    )
    assert last.scripts == ["$env:COMPUTERNAME"]
    assert all(s.closed for s in winrm.opened)


def test_wait_ready_times_out_naming_what_it_waited_for(winrm: type[FakeWinRm]) -> None:
    winrm.answers = [SessionError("win1: WinRM to 100.64.1.21:5986 failed: ConnectTimeout")]
    with pytest.raises(NotReadyError) as caught:
        WindowsRole().wait_ready(_ctx(FakeGuest()))
    text = str(caught.value)
    assert "a WinRM session as Administrator to 100.64.1.21:5986" in text
    assert "ConnectTimeout" in text and PASSWORD not in text
    assert caught.value.node == "win1"


def test_wait_ready_does_not_accept_a_failing_command(winrm: type[FakeWinRm]) -> None:
    winrm.answers = [CommandResult(1, "", "Access is denied", "$env:COMPUTERNAME")]
    with pytest.raises(NotReadyError, match="Access is denied"):
        WindowsRole().wait_ready(_ctx(FakeGuest()))


def test_wait_started_polls_the_guest_agent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(WindowsRole, "poll_every", 0.01)
    guest = FakeGuest()
    answers = [EngineError("guest agent of w1-win1: not connected")]

    def agent(argv: Sequence[str], input: str | bytes | None, timeout: float | None) -> ExecResult:
        if answers:
            raise answers.pop()
        return guest.exec(argv, input, timeout)

    ctx = _ctx(guest)
    ctx.exec = agent
    WindowsRole().wait_started(ctx)
    assert guest.calls == [(PROBE_ARGV, None, 60.0)]


def test_wait_started_times_out_naming_the_guest_agent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(WindowsRole, "ready_timeout", 0.1)
    monkeypatch.setattr(WindowsRole, "poll_every", 0.01)

    def agent(argv: Sequence[str], input: str | bytes | None, timeout: float | None) -> ExecResult:
        raise EngineError("guest agent of w1-win1: not connected")

    ctx = _ctx(FakeGuest())
    ctx.exec = agent
    with pytest.raises(NotReadyError, match=r"the QEMU guest agent .* not connected"):
        WindowsRole().wait_started(ctx)


# -- wiring ----------------------------------------------------------------------------------


def test_windows_kinds_have_the_role_and_default_images() -> None:
    assert isinstance(role_for("windows-client"), WindowsRole)
    assert isinstance(role_for("windows-server"), WindowsRole)
    assert NodeKind.WINDOWS_CLIENT.spec.image == "windows-win11"
    assert NodeKind.WINDOWS_SERVER.spec.image == "windows-server2022"
