"""Checks on Windows nodes, collected with PowerShell over WinRM."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from tai_labs.grading.base import Check, register_check
from tai_labs.registry import PluginParams

WINDOWS = frozenset({"windows-client", "windows-server"})


class WindowsCheck(Check):
    node_kinds = WINDOWS


@register_check
class Service(WindowsCheck):
    name = "windows.service"
    summary = "A Windows service is running (and its start mode)"

    class Params(PluginParams):
        service: str
        running: bool = True
        start_mode: Literal["Automatic", "Manual", "Disabled"] | None = None


@register_check
class Firewall(WindowsCheck):
    name = "windows.firewall"
    summary = "Windows Defender Firewall profiles are enabled"

    class Params(PluginParams):
        profiles: list[Literal["Domain", "Private", "Public"]] = ["Domain", "Private", "Public"]
        enabled: bool = True


@register_check
class Defender(WindowsCheck):
    name = "windows.defender"
    summary = "Microsoft Defender real-time protection is on and signatures are recent"

    class Params(PluginParams):
        realtime: bool = True
        max_signature_age_days: int | None = Field(default=None, gt=0)


@register_check
class LocalGroup(WindowsCheck):
    name = "windows.local_group"
    summary = "A local group has (or lacks) a member"

    class Params(PluginParams):
        group: str
        member: str
        present: bool = True


@register_check
class Program(WindowsCheck):
    name = "windows.program"
    summary = "A program is installed (from the uninstall registry keys)"

    class Params(PluginParams):
        program: str
        installed: bool = True


@register_check
class Volume(WindowsCheck):
    name = "windows.volume"
    summary = "A volume with a drive letter exists, with its file system and size"

    class Params(PluginParams):
        letter: str = Field(pattern=r"^[D-Z]$")
        filesystem: Literal["NTFS", "ReFS", "FAT32", "exFAT"] | None = "NTFS"
        min_size_gib: float | None = Field(default=None, gt=0)
