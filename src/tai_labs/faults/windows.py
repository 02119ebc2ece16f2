"""Faults on Windows nodes (PowerShell over WinRM).

Declared only: ``inject`` / ``in_place`` need a PowerShell session to the node, and a
RoleContext offers none yet (no Windows engine, no WinRM endpoint in the lab's context).
``missing_parts`` says so, and scenarios using them are listed as not runnable.
"""

from __future__ import annotations

from typing import Literal

from tai_labs.faults.base import Fault, register_fault
from tai_labs.registry import NoParams, PluginParams

WINDOWS = frozenset({"windows-client", "windows-server"})


@register_fault
class ServiceStopped(Fault):
    name = "windows.service_stopped"
    summary = "Stop a Windows service and set it to Disabled"
    symptom = "Le service ne démarre plus."
    node_kinds = WINDOWS

    class Params(PluginParams):
        service: str


@register_fault
class FirewallOff(Fault):
    name = "windows.firewall_off"
    summary = "Turn a firewall profile off"
    symptom = "L'antivirus affiche une alerte rouge sur le pare-feu."
    node_kinds = WINDOWS

    class Params(PluginParams):
        profile: Literal["Domain", "Private", "Public"] = "Domain"


@register_fault
class DefenderOff(Fault):
    name = "windows.defender_off"
    summary = "Turn Defender real-time protection off"
    symptom = "Windows dit que je ne suis plus protégé."
    node_kinds = WINDOWS
    Params = NoParams
