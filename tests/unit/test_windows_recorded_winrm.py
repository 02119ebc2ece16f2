"""Windows faults and the windows.powershell action over recorded WinRM: no Windows runs here.

The transport is test_sessions_winrm's replay of pywinrm's recorded WS-Management exchanges
(open shell, command, receive, signal, delete); only the stdout payloads are ours, written in
the shape the scripts print (``ConvertTo-Json -Compress``, enums as their names). So these
tests pin what would be sent to Windows (the exact script, the parameters bound as quoted
literals in front of it) and how answers are read (true, false, anything else an error).
They do not prove that the scripts behave on a live Windows, nor that a second injection
there changes nothing: that needs a Windows node, which this project cannot run yet.
"""

from __future__ import annotations

import ipaddress
import re
from types import SimpleNamespace
from typing import Any

import pytest
from pydantic import ValidationError

from tai_labs import context
from tai_labs.actions.base import ACTIONS, run_step
from tai_labs.context import NodeContext
from tai_labs.errors import TaiLabsError
from tai_labs.faults.base import FAULTS, FaultError
from tai_labs.scenario.model import Node, Step
from tai_labs.sessions.base import SessionError
from tai_labs.sessions.winrm import WinRmSession

pytest.importorskip("winrm")
from test_sessions_winrm import (  # pywinrm first: that module needs it
    COMMAND,
    DELETE,
    OPEN_SHELL,
    SIGNAL,
    WRITE_ERROR_STDERR,
    ReplayTransport,
    receive,
    sent_script,
    session_with,
)

PREAMBLE = "$ProgressPreference = 'SilentlyContinue'\n"


def win_ctx(secrets: dict[str, str] | None = None) -> NodeContext:
    def no_exec(argv: Any, input: Any, timeout: Any) -> Any:
        raise AssertionError(f"a Windows fault ran {argv} through the Linux exec channel")

    scenario: Any = SimpleNamespace(directory=SimpleNamespace(realm="dupuis.lan"))
    return NodeContext(
        "lab",
        Node.model_validate({"name": "win1", "kind": "windows-client"}),
        scenario,
        {},
        no_exec,
        ipaddress.IPv4Address("100.64.0.21"),
        {"admin_password": "S3cret-admin"} if secrets is None else secrets,
    )


class Recorded:
    """Hands out recorded WinRM sessions in place of real ones; keeps their transports."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.replays: list[ReplayTransport] = []
        self._answers: list[list[str]] = []
        monkeypatch.setattr(context, "open_powershell", self._open)

    def answer(self, stdout: str = "", *, rc: int = 0, stderr: list[str] | None = None) -> None:
        """The next session runs one script, answers this, and is closed."""
        self._answers.append([OPEN_SHELL, COMMAND, receive(stdout, stderr, rc), SIGNAL, DELETE])

    def _open(self, ctx: NodeContext) -> WinRmSession:
        session, replay = session_with(self._answers.pop(0))
        self.replays.append(replay)
        return session

    def script(self, i: int = 0) -> str:
        return sent_script(self.replays[i].requests[1])

    def closed(self, i: int = 0) -> bool:
        last = self.replays[i].requests[-1]
        return bool(re.search(r"<a:Action[^>]*>[^<]*/Delete<", last))


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> Recorded:
    return Recorded(monkeypatch)


def fault(name: str, params: dict[str, Any]) -> tuple[Any, Any]:
    cls = FAULTS.get(name)
    return cls(), cls.Params.model_validate(params)


def test_windows_faults_and_action_are_runnable() -> None:
    for cls in FAULTS:
        if cls.name.startswith("windows."):
            assert cls.missing_parts() == [], cls.name
    assert ACTIONS.get("windows.powershell").missing_parts() == []


# -- what is sent -------------------------------------------------------------------------------

SERVICE_STATE = (
    "\n$s = Get-Service -Name $service -ErrorAction SilentlyContinue\n"
    """if (@($s).Count -ne 1) { '{"found": false}'; return }\n"""
    '[pscustomobject]@{ found = $true; Name = $s.Name; Status = "$($s.Status)";\n'
    '  StartType = "$($s.StartType)" } | ConvertTo-Json -Compress\n'
)
SERVICE_CHANGE = (
    "\n$ErrorActionPreference = 'Stop'\n"
    "$s = Get-Service -Name $service -ErrorAction SilentlyContinue\n"
    "if (@($s).Count -eq 1) {\n"
    "  # Disabled first: a recovery action or a trigger cannot start it again meanwhile.\n"
    """  if ("$($s.StartType)" -ne 'Disabled') { $s | Set-Service -StartupType Disabled }\n"""
    """  if ("$($s.Status)" -ne 'Stopped') { $s | Stop-Service -Force }\n"""
    "}\n"
)
FIREWALL_STATE = (
    "\n$p = Get-NetFirewallProfile -PolicyStore ActiveStore -Name $fwProfile\n"
    '[pscustomobject]@{ Name = "$($p.Name)"; Enabled = "$($p.Enabled)" } '
    "| ConvertTo-Json -Compress\n"
)
FIREWALL_CHANGE = (
    "\n$ErrorActionPreference = 'Stop'\n"
    """if ("$((Get-NetFirewallProfile -Name $fwProfile).Enabled)" -ne 'False') {\n"""
    "  Set-NetFirewallProfile -Name $fwProfile -Enabled False }\n"
)
DEFENDER_STATE = (
    "\nGet-MpComputerStatus | Select-Object AMServiceEnabled, RealTimeProtectionEnabled |\n"
    "  ConvertTo-Json -Compress\n"
)
DEFENDER_CHANGE = (
    "\n$ErrorActionPreference = 'Stop'\n"
    "if (-not (Get-MpPreference).DisableRealtimeMonitoring) {\n"
    "  Set-MpPreference -DisableRealtimeMonitoring $true }\n"
    "for ($i = 0; $i -lt 20 -and (Get-MpComputerStatus).RealTimeProtectionEnabled; $i++) {\n"
    "  Start-Sleep -Milliseconds 500 }\n"
)

SENT = [
    # (fault, params, bound prelude, change script, state script, answer once in place)
    ("windows.service_stopped", {"service": "MSSQL$TAI 2"}, "$service = 'MSSQL$TAI 2'\n",
     SERVICE_CHANGE, SERVICE_STATE,
     '{"found":true,"Name":"MSSQL$TAI 2","Status":"Stopped","StartType":"Disabled"}'),
    ("windows.firewall_off", {"profile": "Public"}, "$fwProfile = 'Public'\n",
     FIREWALL_CHANGE, FIREWALL_STATE, '{"Name":"Public","Enabled":"False"}'),
    ("windows.defender_off", {}, "", DEFENDER_CHANGE, DEFENDER_STATE,
     '{"AMServiceEnabled":true,"RealTimeProtectionEnabled":false}'),
]  # fmt: skip


@pytest.mark.parametrize(("name", "params", "prelude", "change", "state", "done"), SENT)
def test_inject_sends_change_then_state_recorded_winrm(
    recorded: Recorded,
    name: str,
    params: dict[str, Any],
    prelude: str,
    change: str,
    state: str,
    done: str,
) -> None:
    plugin, p = fault(name, params)
    recorded.answer(done)
    plugin.inject(win_ctx(), p)
    # Values only in the prelude, as single-quoted literals ($ not expanded); the script
    # names them as variables.
    assert recorded.script() == PREAMBLE + prelude + change + state
    assert recorded.closed()


@pytest.mark.parametrize(("name", "params", "prelude", "change", "state", "done"), SENT)
def test_in_place_sends_state_only_recorded_winrm(
    recorded: Recorded,
    name: str,
    params: dict[str, Any],
    prelude: str,
    change: str,
    state: str,
    done: str,
) -> None:
    plugin, p = fault(name, params)
    recorded.answer(done)
    assert plugin.in_place(win_ctx(), p) is True
    assert recorded.script() == PREAMBLE + prelude + state
    assert "Set-" not in recorded.script() and "Stop-" not in recorded.script()


# -- how answers are read ---------------------------------------------------------------------

IN_PLACE = [
    ("windows.service_stopped", {"service": "Spooler"},
     '{"found":true,"Name":"Spooler","Status":"Stopped","StartType":"Disabled"}', True),
    ("windows.service_stopped", {"service": "Spooler"},
     '{"found":true,"Name":"Spooler","Status":"Running","StartType":"Automatic"}', False),
    ("windows.service_stopped", {"service": "Spooler"},  # stopped, but starts at boot
     '{"found":true,"Name":"Spooler","Status":"Stopped","StartType":"Manual"}', False),
    ("windows.service_stopped", {"service": "Spooler"},  # disabled, still running
     '{"found":true,"Name":"Spooler","Status":"Running","StartType":"Disabled"}', False),
    ("windows.firewall_off", {}, '{"Name":"Domain","Enabled":"False"}', True),
    ("windows.firewall_off", {}, '{"Name":"Domain","Enabled":"True"}', False),
    ("windows.firewall_off", {"profile": "Private"}, '{"Name":"Private","Enabled":"True"}', False),
    ("windows.defender_off", {},
     '{"AMServiceEnabled":true,"RealTimeProtectionEnabled":false}', True),
    ("windows.defender_off", {},
     '{"AMServiceEnabled":true,"RealTimeProtectionEnabled":true}', False),
    ("windows.defender_off", {}, '\ufeff{"RealTimeProtectionEnabled":false}\r\n', True),
]  # fmt: skip


@pytest.mark.parametrize(("name", "params", "stdout", "expected"), IN_PLACE)
def test_in_place_reads_recorded_winrm(
    recorded: Recorded, name: str, params: dict[str, Any], stdout: str, expected: bool
) -> None:
    plugin, p = fault(name, params)
    recorded.answer(stdout)
    assert plugin.in_place(win_ctx(), p) is expected


GARBAGE = [
    ("windows.service_stopped", {"service": "Nope"}, '{"found": false}', "no Windows service"),
    ("windows.service_stopped", {"service": "Spooler"}, '{"found":true,"Name":"Spooler"}',
     "unexpected Get-Service"),
    ("windows.service_stopped", {"service": "Spooler"}, "", "printed nothing"),
    ("windows.service_stopped", {"service": "Spooler"}, "Get-Service : Accès refusé",
     "unexpected PowerShell answer"),
    ("windows.firewall_off", {}, '{"Name":"Public","Enabled":"False"}', "Get-NetFirewallProfile"),
    ("windows.firewall_off", {}, '{"Name":"Domain","Enabled":"NotConfigured"}', "Enabled"),
    ("windows.firewall_off", {}, '[{"Name":"Domain","Enabled":"False"}]', "unexpected"),
    ("windows.defender_off", {}, '{"AMServiceEnabled":false,"RealTimeProtectionEnabled":null}',
     "RealTimeProtectionEnabled"),
    ("windows.defender_off", {}, '{"RealTimeProtectionEnabled":0}', "RealTimeProtectionEnabled"),
    ("windows.defender_off", {}, '{"RealTimeProtectionEnabled":"False"}',
     "RealTimeProtectionEnabled"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "params", "stdout", "why"), GARBAGE)
def test_in_place_odd_answer_is_an_error_recorded_winrm(
    recorded: Recorded, name: str, params: dict[str, Any], stdout: str, why: str
) -> None:
    plugin, p = fault(name, params)
    recorded.answer(stdout)
    with pytest.raises(FaultError, match=why):
        plugin.in_place(win_ctx(), p)


def test_failed_script_is_an_error_with_its_message_recorded_winrm(recorded: Recorded) -> None:
    plugin, p = fault("windows.defender_off", {})
    recorded.answer(stderr=WRITE_ERROR_STDERR, rc=1)
    with pytest.raises(FaultError, match=r"PowerShell failed \(rc 1\): Write-Error"):
        plugin.in_place(win_ctx(), p)


@pytest.mark.parametrize(
    ("name", "params", "still", "hint"),
    [
        ("windows.firewall_off", {}, '{"Name":"Domain","Enabled":"True"}', "group policy"),
        ("windows.defender_off", {}, '{"RealTimeProtectionEnabled":true}', "Tamper Protection"),
        ("windows.service_stopped", {"service": "Spooler"},
         '{"found":true,"Name":"Spooler","Status":"Running","StartType":"Disabled"}', ""),
    ],
)  # fmt: skip
def test_inject_that_did_not_take_is_an_error_recorded_winrm(
    recorded: Recorded, name: str, params: dict[str, Any], still: str, hint: str
) -> None:
    """Windows answered the change script, but the state it printed is not the fault's."""
    plugin, p = fault(name, params)
    recorded.answer(still)
    with pytest.raises(FaultError, match="did not take") as caught:
        plugin.inject(win_ctx(), p)
    assert hint in (caught.value.hint or "")


def test_service_names_with_wildcards_or_lines_are_refused() -> None:
    params = FAULTS.get("windows.service_stopped").Params
    for bad in ("Spool*", "a?", "[ab]", "x\ny", "-Force", ""):
        with pytest.raises(ValidationError):
            params.model_validate({"service": bad})


# -- the session ------------------------------------------------------------------------------


def test_session_is_opened_as_the_grading_pool_does() -> None:
    session = context.open_powershell(win_ctx())
    assert isinstance(session, WinRmSession)
    assert (session.node, session.host, session.port) == ("win1", "100.64.0.21", 5986)
    assert session.username == "Administrator"  # local: Windows nodes join no domain yet
    protocol = session._make_protocol()
    assert protocol.transport.endpoint == "https://100.64.0.21:5986/wsman"
    with pytest.raises(SessionError, match="admin_password"):
        context.open_powershell(win_ctx(secrets={}))


# -- windows.powershell -------------------------------------------------------------------------


def test_powershell_action_binds_parameters_recorded_winrm(recorded: Recorded) -> None:
    recorded.answer("ok\r\n")
    script = "New-LocalUser -Name $login -NoPassword | Out-Null"
    params = {"script": script, "parameters": {"login": "o'brien$(Stop-Computer)", "ou": "Siège"}}
    run_step(win_ctx(), Step(action="windows.powershell", params=params))
    assert recorded.script() == (
        PREAMBLE + "$login = 'o''brien$(Stop-Computer)'\n$ou = 'Siège'\n" + script
    )
    assert recorded.closed()


def test_powershell_action_failure_names_the_error_recorded_winrm(recorded: Recorded) -> None:
    recorded.answer(stderr=WRITE_ERROR_STDERR, rc=1)
    with pytest.raises(TaiLabsError, match=r"win1: the PowerShell step failed \(rc 1\)"):
        run_step(
            win_ctx(), Step(action="windows.powershell", params={"script": 'Write-Error "Error"'})
        )
    assert recorded.closed()


@pytest.mark.parametrize("name", ["1x", "a-b", "a b", "x;y", "input", "Args", "PROFILE", "_"])
def test_powershell_action_refuses_odd_parameter_names(name: str) -> None:
    params = ACTIONS.get("windows.powershell").Params
    with pytest.raises(ValidationError):
        params.model_validate({"script": "x", "parameters": {name: "v"}})
    assert params.model_validate({"script": "x", "parameters": {"login_2": "v"}})
