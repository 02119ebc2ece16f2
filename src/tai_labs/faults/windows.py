"""Faults on Windows nodes, injected with PowerShell over WinRM.

Kept thin: no Windows machine runs where this is developed, so each fault is two short
scripts and a parser, tested against recorded WinRM exchanges only. Values travel as
parameters that the session binds as quoted literals (``$service = '...'``), never inside
the script text. Each script answers with one ``ConvertTo-Json`` object read the way
``graders/windows.py`` reads the same thing, so a fault in place is one its check fails on:

- ``state``: read-only, what the check looks at (``in_place`` judges it);
- ``change``: make the change only where it is not made yet (a second injection changes
  nothing), then the ``state`` script, so ``inject`` knows at once whether it took.

The session is opened from the node's NodeContext the way the grading pool opens it (WinRM
to the management address, as the domain Administrator) and closed after each call.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, ClassVar, Literal

from pydantic import Field

from tai_labs.context import NodeContext, powershell
from tai_labs.faults.base import Fault, FaultError, register_fault
from tai_labs.kinds import kinds_where
from tai_labs.plugins import NoParams, ParamsT, PluginParams
from tai_labs.sessions.base import CommandResult

WINDOWS = kinds_where(windows=True)
#: Service names as sc.exe shows them; no wildcard (Get-Service -Name would expand it).
SERVICE_NAME = r"^[A-Za-z0-9_][A-Za-z0-9_.@$ -]{0,255}$"
#: Long enough for Stop-Service on a slow service; the session turns overruns into errors.
SCRIPT_TIMEOUT = 120.0


def json_answer(node: str, result: CommandResult) -> dict[str, Any]:
    """The script's one JSON object; FaultError for a failure, no answer or anything else."""
    if not result.ok:
        detail = (result.stderr or result.stdout).strip()[-300:] or "no message"
        raise FaultError(f"{node}: PowerShell failed (rc {result.rc}): {detail}")
    text = result.stdout.strip().lstrip("\ufeff")
    if not text:
        raise FaultError(f"{node}: PowerShell printed nothing")
    try:
        data = json.loads(text)
    except ValueError:
        raise FaultError(f"{node}: unexpected PowerShell answer: {text[:160]!r}") from None
    if not isinstance(data, dict):
        raise FaultError(f"{node}: unexpected PowerShell answer: {text[:160]!r}")
    return data


def one_of(node: str, data: Mapping[str, Any], key: str, allowed: tuple[Any, ...]) -> Any:
    """``data[key]``, which must be one of ``allowed``; FaultError otherwise."""
    value = data.get(key)
    if value not in allowed or type(value) not in {type(a) for a in allowed}:
        raise FaultError(f"{node}: unexpected {key} in PowerShell answer: {value!r}")
    return value


class WindowsFault(Fault[ParamsT]):
    node_kinds = WINDOWS
    #: Read-only; prints the state the matching check looks at, as one JSON object.
    state_script: ClassVar[str]
    #: Makes the change where needed (``$ErrorActionPreference = 'Stop'``: any error is rc 1).
    change_script: ClassVar[str]
    #: Why the change may not take (a policy forcing it back), for the FaultError.
    stuck_hint: ClassVar[str] = ""

    def bind(self, params: ParamsT) -> dict[str, str]:
        """The script's parameters, bound by the session as quoted ``$name`` variables."""
        return {}

    def broken(self, node: str, data: Mapping[str, Any], params: ParamsT) -> bool:
        """Whether the answer shows the fault in place; FaultError for an odd answer."""
        raise NotImplementedError

    def _ask(self, ctx: NodeContext, script: str, params: ParamsT) -> dict[str, Any]:
        with powershell(ctx) as session:
            result = session.run_ps(script, self.bind(params), timeout=SCRIPT_TIMEOUT)
        return json_answer(ctx.node.name, result)

    def inject(self, ctx: NodeContext, params: ParamsT) -> None:
        data = self._ask(ctx, self.change_script + self.state_script, params)
        if not self.broken(ctx.node.name, data, params):
            raise FaultError(
                f"{ctx.node.name}: {self.name} did not take: Windows still reports "
                f"{json.dumps(data, ensure_ascii=False)[:200]}",
                hint=self.stuck_hint or None,
            )

    def in_place(self, ctx: NodeContext, params: ParamsT) -> bool:
        return self.broken(ctx.node.name, self._ask(ctx, self.state_script, params), params)


# -- faults -------------------------------------------------------------------------------------

# As graders/windows.py asks: Get-Service -Name, enums as their names.
SERVICE_STATE_PS = r"""
$s = Get-Service -Name $service -ErrorAction SilentlyContinue
if (@($s).Count -ne 1) { '{"found": false}'; return }
[pscustomobject]@{ found = $true; Name = $s.Name; Status = "$($s.Status)";
  StartType = "$($s.StartType)" } | ConvertTo-Json -Compress
"""
SERVICE_CHANGE_PS = r"""
$ErrorActionPreference = 'Stop'
$s = Get-Service -Name $service -ErrorAction SilentlyContinue
if (@($s).Count -eq 1) {
  # Disabled first: a recovery action or a trigger cannot start it again meanwhile.
  if ("$($s.StartType)" -ne 'Disabled') { $s | Set-Service -StartupType Disabled }
  if ("$($s.Status)" -ne 'Stopped') { $s | Stop-Service -Force }
}
"""


@register_fault
class ServiceStopped(WindowsFault["ServiceStopped.Params"]):
    name = "windows.service_stopped"
    summary = "Stop a Windows service and set it to Disabled"
    symptom = "Le service ne démarre plus."
    state_script = SERVICE_STATE_PS
    change_script = SERVICE_CHANGE_PS

    class Params(PluginParams):
        service: str = Field(pattern=SERVICE_NAME, description="the service's name (Spooler)")

    def bind(self, params: Params) -> dict[str, str]:
        return {"service": params.service}

    def broken(self, node: str, data: Mapping[str, Any], params: Params) -> bool:
        if one_of(node, data, "found", (True, False)) is False:
            raise FaultError(f"{node} has no Windows service {params.service!r}")
        status = str(data.get("Status", ""))
        start = str(data.get("StartType", ""))
        if not status or not start:
            raise FaultError(f"{node}: unexpected Get-Service answer: {dict(data)!r}")
        return status in ("Stopped", "StopPending") and start == "Disabled"


# ActiveStore, as the check reads it: the profile as enforced, group policy included.
FIREWALL_STATE_PS = r"""
$p = Get-NetFirewallProfile -PolicyStore ActiveStore -Name $fwProfile
[pscustomobject]@{ Name = "$($p.Name)"; Enabled = "$($p.Enabled)" } | ConvertTo-Json -Compress
"""
# The local store (PersistentStore, Get/Set's default): what the firewall's settings change.
FIREWALL_CHANGE_PS = r"""
$ErrorActionPreference = 'Stop'
if ("$((Get-NetFirewallProfile -Name $fwProfile).Enabled)" -ne 'False') {
  Set-NetFirewallProfile -Name $fwProfile -Enabled False }
"""


@register_fault
class FirewallOff(WindowsFault["FirewallOff.Params"]):
    name = "windows.firewall_off"
    summary = "Turn a firewall profile off"
    symptom = "L'antivirus affiche une alerte rouge sur le pare-feu."
    state_script = FIREWALL_STATE_PS
    change_script = FIREWALL_CHANGE_PS
    stuck_hint = "a group policy keeps the profile on: inject on a node outside that GPO"

    class Params(PluginParams):
        profile: Literal["Domain", "Private", "Public"] = "Domain"

    def bind(self, params: Params) -> dict[str, str]:
        # Not $profile: PowerShell's automatic variable of that name is the profile script.
        return {"fwProfile": params.profile}

    def broken(self, node: str, data: Mapping[str, Any], params: Params) -> bool:
        if data.get("Name") != params.profile:
            raise FaultError(f"{node}: unexpected Get-NetFirewallProfile answer: {dict(data)!r}")
        return one_of(node, data, "Enabled", ("True", "False")) == "False"


DEFENDER_STATE_PS = r"""
Get-MpComputerStatus | Select-Object AMServiceEnabled, RealTimeProtectionEnabled |
  ConvertTo-Json -Compress
"""
# Get-MpComputerStatus follows the preference within a few seconds: wait for it (10 s).
DEFENDER_CHANGE_PS = r"""
$ErrorActionPreference = 'Stop'
if (-not (Get-MpPreference).DisableRealtimeMonitoring) {
  Set-MpPreference -DisableRealtimeMonitoring $true }
for ($i = 0; $i -lt 20 -and (Get-MpComputerStatus).RealTimeProtectionEnabled; $i++) {
  Start-Sleep -Milliseconds 500 }
"""


@register_fault
class DefenderOff(WindowsFault[NoParams]):
    name = "windows.defender_off"
    summary = "Turn Defender real-time protection off"
    symptom = "Windows dit que je ne suis plus protégé."
    Params = NoParams
    state_script = DEFENDER_STATE_PS
    change_script = DEFENDER_CHANGE_PS
    stuck_hint = (
        "Tamper Protection ignores Set-MpPreference: turn it off in the node's image "
        "(Windows Security > Virus & threat protection settings)"
    )

    def broken(self, node: str, data: Mapping[str, Any], params: NoParams) -> bool:
        return one_of(node, data, "RealTimeProtectionEnabled", (True, False)) is False
