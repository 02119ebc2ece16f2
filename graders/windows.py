"""Checks on Windows nodes, collected with PowerShell over WinRM.

Each check runs one short script whose values come in as parameters (the session binds them
as quoted variables: ``$service``...), never spliced into the text. Scripts answer with
``ConvertTo-Json``; enums are turned into their names first (Windows PowerShell 5.1 would
print numbers), and a missing object is ``{"found": false}`` so that an empty answer always
means something went wrong (``error``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, ClassVar, Literal

from pydantic import Field

from graders._decoding import decoding
from tai_labs.grading.base import Check, register_check
from tai_labs.grading.model import Evidence, Judgement
from tai_labs.kinds import kinds_where
from tai_labs.plugins import ParamsT, PluginParams
from tai_labs.sessions.base import PowerShellSession

WINDOWS = kinds_where(windows=True)

SERVICE_PS = r"""
$s = Get-Service -Name $service -ErrorAction SilentlyContinue
if ($null -eq $s) { '{"found": false}'; return }
[pscustomobject]@{ found = $true; Name = $s.Name; DisplayName = $s.DisplayName;
  Status = "$($s.Status)"; StartType = "$($s.StartType)" } | ConvertTo-Json -Compress
"""
# ActiveStore: the profiles as enforced, after group policy, not only the local settings.
FIREWALL_PS = r"""
ConvertTo-Json -Compress -InputObject @(Get-NetFirewallProfile -PolicyStore ActiveStore |
  ForEach-Object { [pscustomobject]@{ Name = "$($_.Name)"; Enabled = "$($_.Enabled)" } })
"""
DEFENDER_PS = r"""
Get-MpComputerStatus | Select-Object AMServiceEnabled, RealTimeProtectionEnabled,
  AntivirusSignatureAge, AntivirusSignatureLastUpdated | ConvertTo-Json -Compress
"""
LOCAL_GROUP_PS = r"""
if ($null -eq (Get-LocalGroup -Name $group -ErrorAction SilentlyContinue)) {
  '{"found": false}'; return }
$m = @(Get-LocalGroupMember -Group $group | ForEach-Object {
  [pscustomobject]@{ Name = $_.Name; ObjectClass = "$($_.ObjectClass)";
    PrincipalSource = "$($_.PrincipalSource)" } })
ConvertTo-Json -Compress -Depth 3 -InputObject ([pscustomobject]@{ found = $true; members = $m })
"""
PROGRAM_PS = r"""
$keys = 'HKLM:\Software\Microsoft\Windows\CurrentVersion\Uninstall\*',
  'HKLM:\Software\WOW6432Node\Microsoft\Windows\CurrentVersion\Uninstall\*'
ConvertTo-Json -Compress -InputObject @(Get-ItemProperty -Path $keys -ErrorAction SilentlyContinue |
  Where-Object { $_.DisplayName -and
    $_.DisplayName.IndexOf($program, [StringComparison]::OrdinalIgnoreCase) -ge 0 } |
  ForEach-Object {
    [pscustomobject]@{ DisplayName = $_.DisplayName; DisplayVersion = $_.DisplayVersion } })
"""
VOLUME_PS = r"""
$v = Get-Volume -DriveLetter $letter -ErrorAction SilentlyContinue
if ($null -eq $v) { '{"found": false}'; return }
[pscustomobject]@{ found = $true; DriveLetter = "$($v.DriveLetter)";
  FileSystem = "$($v.FileSystem)"; Size = $v.Size; SizeRemaining = $v.SizeRemaining;
  FileSystemLabel = $v.FileSystemLabel } | ConvertTo-Json -Compress
"""


def _json(evidence: Evidence) -> Any:
    """The script's JSON answer; ValueError for no answer, a failure or something else."""
    if not evidence.commands:
        raise ValueError("no PowerShell output in evidence")
    res = evidence.commands[0]
    if not res.ok:
        raise ValueError(f"PowerShell failed (rc {res.rc}): {res.stderr.strip()[:160]}")
    if not res.stdout.strip():
        raise ValueError("empty PowerShell output")
    return json.loads(res.stdout)


def _decoding(judge: Callable[[], Judgement]) -> Judgement:
    return decoding(judge, "réponse de Windows", "PowerShell output")


class WindowsCheck(Check[ParamsT, PowerShellSession]):
    session = "powershell"
    node_kinds = WINDOWS
    script: ClassVar[str] = ""
    #: The parameters the script receives, bound as PowerShell variables of the same name.
    script_params: ClassVar[tuple[str, ...]] = ()

    def collect(self, session: PowerShellSession, params: ParamsT) -> Evidence:
        ev = Evidence()
        values = {name: str(getattr(params, name)) for name in self.script_params}
        ev.add(session.run_ps(self.script, values))
        return ev

    #: For a script that answers ``{"found": false}``: the failure (French, English, the
    #: cmdlet that found nothing), formatted with the parameters.
    absent: ClassVar[tuple[str, str, str] | None] = None

    def judge(self, evidence: Evidence, params: ParamsT) -> Judgement:
        return _decoding(lambda: self._judge(_json(evidence), params))

    def _judge(self, data: Any, params: ParamsT) -> Judgement:
        if self.absent is not None and not data.get("found"):
            fr, en, cmdlet = (text.format_map(dict(params)) for text in self.absent)
            return Judgement.failed(fr, en, f"{cmdlet} : introuvable")
        return self.decide(data, params)

    def decide(self, data: Any, params: ParamsT) -> Judgement:
        raise NotImplementedError


@register_check
class Service(WindowsCheck["Service.Params"]):
    name = "windows.service"
    summary = "A Windows service is running (and its start mode)"
    script = SERVICE_PS
    script_params = ("service",)
    absent = ("le service {service} n'existe pas", "no service {service}", "Get-Service")

    class Params(PluginParams):
        service: str = Field(min_length=1)
        running: bool = True
        start_mode: Literal["Automatic", "Manual", "Disabled"] | None = None

    def decide(self, data: Any, p: Params) -> Judgement:
        status, start = str(data["Status"]), str(data["StartType"])
        decisive = f"Status: {status}, StartType: {start}"
        running = status == "Running"
        if running != p.running:
            return Judgement.failed(
                f"le service {p.service} est {'démarré' if running else 'arrêté'} ({status})",
                f"service {p.service} is {status}",
                decisive,
            )
        if p.start_mode is not None and start != p.start_mode:
            return Judgement.failed(
                f"le démarrage du service {p.service} est {start}, attendu {p.start_mode}",
                f"start type {start}, expected {p.start_mode}",
                decisive,
            )
        return Judgement.passed(
            f"le service {p.service} est {status}", f"service {p.service} is {status}", decisive
        )


@register_check
class Firewall(WindowsCheck["Firewall.Params"]):
    name = "windows.firewall"
    summary = "Windows Defender Firewall profiles are enabled (as enforced, GPO included)"
    script = FIREWALL_PS

    class Params(PluginParams):
        profiles: list[Literal["Domain", "Private", "Public"]] = ["Domain", "Private", "Public"]
        enabled: bool = True

    def decide(self, data: Any, p: Params) -> Judgement:
        state = {str(d["Name"]): str(d["Enabled"]) for d in data}
        decisive = ", ".join(f"{n}: {e}" for n, e in sorted(state.items()))
        missing = [n for n in p.profiles if n not in state]
        if missing:
            raise ValueError(f"profiles missing from the answer: {', '.join(missing)}")
        wrong = [n for n in p.profiles if (state[n] == "True") != p.enabled]
        word = "activé" if p.enabled else "désactivé"
        if wrong:
            return Judgement.failed(
                f"le pare-feu n'est pas {word} pour le(s) profil(s) {', '.join(wrong)}",
                f"firewall not {'enabled' if p.enabled else 'disabled'} for {', '.join(wrong)}",
                decisive,
            )
        return Judgement.passed(
            f"le pare-feu est {word} ({', '.join(p.profiles)})",
            "firewall profiles as expected",
            decisive,
        )


@register_check
class Defender(WindowsCheck["Defender.Params"]):
    name = "windows.defender"
    summary = "Microsoft Defender real-time protection is on and signatures are recent"
    script = DEFENDER_PS

    class Params(PluginParams):
        realtime: bool = True
        max_signature_age_days: int | None = Field(default=None, gt=0)

    def decide(self, data: Any, p: Params) -> Judgement:
        rtp = data["RealTimeProtectionEnabled"]
        if not isinstance(rtp, bool):
            raise ValueError(f"RealTimeProtectionEnabled is {rtp!r}")
        decisive = f"RealTimeProtectionEnabled: {rtp}"
        if rtp != p.realtime:
            return Judgement.failed(
                f"la protection en temps réel est {'activée' if rtp else 'désactivée'}",
                f"real-time protection is {'on' if rtp else 'off'}",
                decisive,
            )
        if p.max_signature_age_days is not None:
            age = int(data["AntivirusSignatureAge"])
            decisive += f", AntivirusSignatureAge: {age}"
            if age > p.max_signature_age_days:
                return Judgement.failed(
                    f"les signatures ont {age} jours (maximum {p.max_signature_age_days})",
                    f"signatures are {age} days old",
                    decisive,
                )
        return Judgement.passed(
            f"la protection en temps réel est {'activée' if rtp else 'désactivée'}",
            "Defender as expected",
            decisive,
        )


def _same_account(have: str, wanted: str) -> bool:
    """ "DUPUIS\\nadia" matches "nadia" (no domain given) and "dupuis\\NADIA"."""
    have, wanted = have.casefold(), wanted.casefold()
    return have == wanted or ("\\" not in wanted and have.rpartition("\\")[2] == wanted)


@register_check
class LocalGroup(WindowsCheck["LocalGroup.Params"]):
    name = "windows.local_group"
    summary = "A local group has (or lacks) a member"
    script = LOCAL_GROUP_PS
    script_params = ("group",)
    absent = ("le groupe local {group} n'existe pas", "no local group {group}", "Get-LocalGroup")

    class Params(PluginParams):
        group: str = Field(min_length=1)
        member: str = Field(min_length=1)
        present: bool = True

    def decide(self, data: Any, p: Params) -> Judgement:
        names = [str(m["Name"]) for m in data.get("members") or []]
        decisive = f"membres : {', '.join(names) or 'aucun'}"
        here = any(_same_account(n, p.member) for n in names)
        if here != p.present:
            return Judgement.failed(
                f"{p.member} {'est' if here else 'n’est pas'} membre du groupe local {p.group}",
                f"{p.member} {'is' if here else 'is not'} in {p.group}",
                decisive,
            )
        return Judgement.passed(
            f"{p.member} {'est' if here else 'n’est pas'} membre du groupe local {p.group}",
            "membership as expected",
            decisive,
        )


@register_check
class Program(WindowsCheck["Program.Params"]):
    name = "windows.program"
    summary = "A program is installed (from the uninstall registry keys)"
    script = PROGRAM_PS
    script_params = ("program",)

    class Params(PluginParams):
        program: str = Field(min_length=2, description="part of the DisplayName, any case")
        installed: bool = True

    def decide(self, data: Any, p: Params) -> Judgement:
        found = [f"{d['DisplayName']} {d.get('DisplayVersion') or ''}".strip() for d in data]
        found = [f for f in found if p.program.casefold() in f.casefold()]
        decisive = "; ".join(found) or f"aucun DisplayName contenant « {p.program} »"
        if bool(found) != p.installed:
            return Judgement.failed(
                f"{p.program} {'est' if found else 'n’est pas'} installé",
                f"{p.program} {'is' if found else 'is not'} installed",
                decisive,
            )
        return Judgement.passed(
            f"{p.program} {'est' if found else 'n’est pas'} installé",
            "program state as expected",
            decisive,
        )


@register_check
class Volume(WindowsCheck["Volume.Params"]):
    name = "windows.volume"
    summary = "A volume with a drive letter exists, with its file system and size"
    script = VOLUME_PS
    script_params = ("letter",)
    absent = ("aucun volume {letter}:", "no volume {letter}:", "Get-Volume")

    class Params(PluginParams):
        letter: str = Field(pattern=r"^[D-Z]$")
        filesystem: Literal["NTFS", "ReFS", "FAT32", "exFAT"] | None = "NTFS"
        min_size_gib: float | None = Field(default=None, gt=0)

    def decide(self, data: Any, p: Params) -> Judgement:
        fs, size = str(data["FileSystem"]), int(data["Size"])
        gib = size / 2**30
        decisive = f"FileSystem: {fs}, Size: {size} ({gib:.1f} Gio)"
        if p.filesystem is not None and fs.casefold() != p.filesystem.casefold():
            return Judgement.failed(
                f"le volume {p.letter}: est en {fs or 'non formaté'}, attendu {p.filesystem}",
                f"volume {p.letter}: is {fs}, expected {p.filesystem}",
                decisive,
            )
        # A little slack: "20 Gio" in a brief is what Windows shows, rounded.
        if p.min_size_gib is not None and gib < p.min_size_gib * 0.98:
            return Judgement.failed(
                f"le volume {p.letter}: fait {gib:.1f} Gio, attendu au moins {p.min_size_gib} Gio",
                f"volume {p.letter}: is {gib:.1f} GiB",
                decisive,
            )
        return Judgement.passed(
            f"le volume {p.letter}: existe ({fs}, {gib:.1f} Gio)", "volume as expected", decisive
        )
