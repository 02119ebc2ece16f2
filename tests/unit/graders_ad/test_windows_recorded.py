# Recorded answers are one-line JSON, as ConvertTo-Json -Compress prints them.
# ruff: noqa: E501
"""windows.* judges on recorded PowerShell answers (ConvertTo-Json -Compress).

No Windows can run here: these outputs are written in the shape the checks' scripts print
(enums cast to their names, ``{"found": false}`` for a missing object), from the documented
output of Get-Service, Get-NetFirewallProfile, Get-MpComputerStatus, Get-LocalGroupMember,
the Uninstall registry keys and Get-Volume. The scripts themselves are not run anywhere.
"""

from __future__ import annotations

from typing import Any

import pytest

from graders_ad.replay import ReplayPowerShell
from tai_labs.grading.base import CHECKS
from tai_labs.grading.model import Verdict

P, F, E = Verdict.PASS, Verdict.FAIL, Verdict.ERROR

CASES: list[tuple[str, dict[str, Any], str, Verdict]] = [
    ("windows.service", {"service": "Spooler"},
     '{"found":true,"Name":"Spooler","DisplayName":"Spouleur d\'impression","Status":"Running","StartType":"Automatic"}', P),
    ("windows.service", {"service": "Spooler", "start_mode": "Automatic"},
     '{"found":true,"Name":"Spooler","DisplayName":"Spouleur","Status":"Running","StartType":"Manual"}', F),
    ("windows.service", {"service": "Spooler"},
     '{"found":true,"Name":"Spooler","DisplayName":"Spouleur","Status":"Stopped","StartType":"Disabled"}', F),
    ("windows.service", {"service": "Nope"}, '{"found": false}', F),
    ("windows.firewall", {},
     '[{"Name":"Domain","Enabled":"True"},{"Name":"Private","Enabled":"True"},{"Name":"Public","Enabled":"True"}]', P),
    ("windows.firewall", {},
     '[{"Name":"Domain","Enabled":"True"},{"Name":"Private","Enabled":"False"},{"Name":"Public","Enabled":"True"}]', F),
    ("windows.firewall", {"profiles": ["Public"]}, '[{"Name":"Domain","Enabled":"True"}]', E),
    ("windows.defender", {"max_signature_age_days": 7},
     '{"AMServiceEnabled":true,"RealTimeProtectionEnabled":true,"AntivirusSignatureAge":1,"AntivirusSignatureLastUpdated":"\\/Date(1764403200000)\\/"}', P),
    ("windows.defender", {},
     '{"AMServiceEnabled":true,"RealTimeProtectionEnabled":false,"AntivirusSignatureAge":1}', F),
    ("windows.defender", {"max_signature_age_days": 7},
     '{"AMServiceEnabled":true,"RealTimeProtectionEnabled":true,"AntivirusSignatureAge":40}', F),
    ("windows.defender", {}, '{"AMServiceEnabled":false,"RealTimeProtectionEnabled":null}', E),
    ("windows.local_group", {"group": "Administrateurs", "member": "nadia.mercier"},
     '{"found":true,"members":[{"Name":"PC1\\\\Administrateur","ObjectClass":"Utilisateur","PrincipalSource":"Local"},'
     '{"Name":"DUPUIS\\\\nadia.mercier","ObjectClass":"Utilisateur","PrincipalSource":"ActiveDirectory"}]}', P),
    ("windows.local_group", {"group": "Administrateurs", "member": "DUPUIS\\nadia.mercier", "present": False},
     '{"found":true,"members":[{"Name":"DUPUIS\\\\nadia.mercier","ObjectClass":"Utilisateur","PrincipalSource":"ActiveDirectory"}]}', F),
    ("windows.local_group", {"group": "Inconnu", "member": "x"}, '{"found": false}', F),
    ("windows.program", {"program": "7-Zip"}, '[{"DisplayName":"7-Zip 23.01 (x64)","DisplayVersion":"23.01"}]', P),
    ("windows.program", {"program": "7-Zip"}, "[]", F),
    ("windows.program", {"program": "7-Zip", "installed": False}, "[]", P),
    ("windows.volume", {"letter": "D", "min_size_gib": 20},
     '{"found":true,"DriveLetter":"D","FileSystem":"NTFS","Size":21474836480,"SizeRemaining":21000000000,"FileSystemLabel":"Donnees"}', P),
    ("windows.volume", {"letter": "D"},
     '{"found":true,"DriveLetter":"D","FileSystem":"FAT32","Size":21474836480,"SizeRemaining":1,"FileSystemLabel":""}', F),
    ("windows.volume", {"letter": "D", "min_size_gib": 50},
     '{"found":true,"DriveLetter":"D","FileSystem":"NTFS","Size":21474836480,"SizeRemaining":1,"FileSystemLabel":""}', F),
    ("windows.volume", {"letter": "E"}, '{"found": false}', F),
    ("windows.service", {"service": "Spooler"}, "", E),
    ("windows.volume", {"letter": "D"}, "Get-Volume : accès refusé", E),
]  # fmt: skip


@pytest.mark.parametrize(("check", "params", "stdout", "verdict"), CASES)
def test_recorded_powershell_output(
    check: str, params: dict[str, Any], stdout: str, verdict: Verdict
) -> None:
    plugin = CHECKS.get(check)
    p = plugin.Params.model_validate(params)
    session = ReplayPowerShell(stdout)
    judgement = plugin().judge(plugin().collect(session, p), p)
    assert judgement.verdict is verdict, judgement
    assert judgement.why_fr and judgement.why_en
    # Values travel as parameters the script names ($service...), never spliced into it.
    script, bound = session.scripts[0]
    for name, value in (bound or {}).items():
        assert f"${name}" in script and value == params[name]


def test_recorded_failed_powershell_is_an_error() -> None:
    plugin = CHECKS.get("windows.firewall")
    p = plugin.Params()
    session = ReplayPowerShell("", rc=1, stderr="Get-NetFirewallProfile : Accès refusé.")
    assert plugin().judge(plugin().collect(session, p), p).verdict is Verdict.ERROR
