"""Actions on Linux and Windows nodes: commands, files, services, packages, users."""

from __future__ import annotations

import ipaddress
from typing import Literal

from pydantic import Field

from tai_labs.actions.base import Action, register_action
from tai_labs.registry import PluginParams

LINUX = frozenset({"linux-client", "linux-server", "ad-dc", "router", "switch"})
WINDOWS = frozenset({"windows-client", "windows-server"})


@register_action
class Exec(Action):
    name = "linux.exec"
    summary = "Run a command given as an argument list (no shell: values are never re-parsed)"
    node_kinds = LINUX

    class Params(PluginParams):
        argv: list[str] = Field(min_length=1)
        input: str | None = None
        ok_codes: list[int] = [0]


@register_action
class WriteFile(Action):
    name = "linux.file"
    summary = "Write a file (content rendered with the lab's variables), with mode and owner"
    node_kinds = LINUX

    class Params(PluginParams):
        path: str = Field(pattern=r"^/")
        content: str | None = None
        template: str | None = Field(default=None, description="a jinja2 file beside scenario.yaml")
        mode: str = Field(default="0644", pattern=r"^[0-7]{3,4}$")
        owner: str = "root"
        group: str = "root"
        state: Literal["present", "absent", "directory"] = "present"


@register_action
class Service(Action):
    name = "linux.service"
    summary = "Start, stop or restart a systemd unit, and enable or disable it"
    node_kinds = LINUX

    class Params(PluginParams):
        service: str = Field(pattern=r"^[A-Za-z0-9@._-]+$")
        state: Literal["started", "stopped", "restarted"] | None = None
        enabled: bool | None = None


@register_action
class Package(Action):
    name = "linux.package"
    summary = "Install or remove Debian packages (from the lab's package cache)"
    node_kinds = LINUX

    class Params(PluginParams):
        packages: list[str] = Field(min_length=1)
        state: Literal["present", "absent"] = "present"


@register_action
class User(Action):
    name = "linux.user"
    summary = "Create or change a local user: groups, password, shell"
    node_kinds = LINUX

    class Params(PluginParams):
        user: str
        groups: list[str] = []
        password: str | None = None
        state: Literal["present", "absent"] = "present"


@register_action
class PowerShell(Action):
    name = "windows.powershell"
    summary = "Run a PowerShell script with named parameters (quoted by the WinRM session)"
    node_kinds = WINDOWS

    class Params(PluginParams):
        script: str
        parameters: dict[str, str] = {}


@register_action
class Network(Action):
    name = "linux.network"
    summary = "Set an interface's static address, gateway and DNS the way the image configures it"
    node_kinds = LINUX

    class Params(PluginParams):
        interface: str
        address: ipaddress.IPv4Interface
        gateway: ipaddress.IPv4Address | None = None
        dns: list[ipaddress.IPv4Address] = []
