"""Per-node settings of a Windows VM, applied through the QEMU guest agent at start.

A Windows guest has no reader for the Linux config disk, and WinRM needs the network this
sets up; so the engine sends one PowerShell script through the agent with the node's
settings as JSON on its standard input. The script is a constant (passed encoded on the
command line); no value is pasted into it or put on a command line. It is idempotent and
prints ``reboot`` when the computer was renamed.
"""

from __future__ import annotations

import base64
import json

from tai_labs.providers.base import NodeSpec
from tai_labs.providers.seed import derived_mac


def powershell_argv(script: str) -> list[str]:
    """argv running a constant script; its data comes on stdin ([Console]::In)."""
    encoded = base64.b64encode(script.encode("utf-16-le")).decode()
    return ["powershell.exe", "-NoProfile", "-NonInteractive", "-EncodedCommand", encoded]


CONFIGURE = r"""
$ErrorActionPreference = 'Stop'
$cfg = [Console]::In.ReadToEnd() | ConvertFrom-Json
foreach ($n in $cfg.nics) {
  $a = Get-NetAdapter | Where-Object { $_.MacAddress -eq $n.mac }
  if (-not $a) { throw "no network adapter with MAC $($n.mac)" }
  if ($a.Name -ne $n.name) { Rename-NetAdapter -Name $a.Name -NewName $n.name }
  if ($n.ip) {
    $cur = @(Get-NetIPAddress -InterfaceAlias $n.name -AddressFamily IPv4 `
             -ErrorAction SilentlyContinue)
    $ok = $cur | Where-Object { $_.IPAddress -eq $n.ip -and $_.PrefixLength -eq $n.prefix }
    if (-not $ok) {
      Set-NetIPInterface -InterfaceAlias $n.name -Dhcp Disabled
      $cur | Remove-NetIPAddress -Confirm:$false -ErrorAction SilentlyContinue
      $p = @{ InterfaceAlias = $n.name; IPAddress = $n.ip; PrefixLength = $n.prefix }
      if ($n.gateway) { $p.DefaultGateway = $n.gateway }
      New-NetIPAddress @p | Out-Null
    }
  } elseif ($n.dhcp) {
    Set-NetIPInterface -InterfaceAlias $n.name -Dhcp Enabled
  }
  if ($n.dns) { Set-DnsClientServerAddress -InterfaceAlias $n.name -ServerAddresses $n.dns }
}
if ($env:COMPUTERNAME -ne $cfg.hostname.ToUpper()) {
  Rename-Computer -NewName $cfg.hostname -Force
  'reboot'
}
"""


def settings(spec: NodeSpec) -> dict[str, object]:
    """The node's settings as the script reads them (MACs in Windows' AA-BB-... form)."""
    nics = []
    for i, nic in enumerate(spec.all_nics):
        mac = (nic.mac or derived_mac(spec.name, i)).upper().replace(":", "-")
        entry: dict[str, object] = {"name": nic.name, "mac": mac, "dhcp": nic.dhcp}
        if nic.address is not None:
            entry |= {"ip": str(nic.address.ip), "prefix": nic.address.network.prefixlen}
        if nic.gateway is not None:
            entry["gateway"] = str(nic.gateway)
        if nic is not spec.management and spec.dns_servers:
            entry["dns"] = [str(ip) for ip in spec.dns_servers]
        nics.append(entry)
    return {"hostname": spec.hostname, "nics": nics}


def configure_command(spec: NodeSpec) -> tuple[list[str], str]:
    """(argv, stdin) that apply spec's settings in the guest."""
    return powershell_argv(CONFIGURE), json.dumps(settings(spec))
