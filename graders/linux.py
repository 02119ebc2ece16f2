"""Checks on a Linux node's state, collected over a command session (SSH or exec)."""

from __future__ import annotations

import ipaddress
from typing import Literal

from pydantic import Field

from tai_labs.grading.base import Check, register_check
from tai_labs.registry import PluginParams

LINUX = frozenset({"linux-client", "linux-server", "ad-dc", "router", "switch"})


class LinuxCheck(Check):
    node_kinds = LINUX


@register_check
class Service(LinuxCheck):
    name = "linux.service"
    summary = "A systemd unit is active (a 'failed' unit counts as down) and optionally enabled"

    class Params(PluginParams):
        service: str = Field(pattern=r"^[A-Za-z0-9@._-]+$")
        active: bool = True
        enabled: bool | None = None


@register_check
class Package(LinuxCheck):
    name = "linux.package"
    summary = "A Debian package is installed (or absent)"

    class Params(PluginParams):
        package: str = Field(pattern=r"^[a-z0-9][a-z0-9+.-]+$")
        installed: bool = True


@register_check
class File(LinuxCheck):
    name = "linux.file"
    summary = "A file exists (or not) with the given content, hash, mode and owner"

    class Params(PluginParams):
        path: str = Field(pattern=r"^/")
        exists: bool = True
        contains: str | None = None
        lacks: str | None = None
        matches: str | None = Field(default=None, description="a Python regular expression")
        sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
        mode: str | None = Field(default=None, pattern=r"^[0-7]{3,4}$")
        owner: str | None = None
        group: str | None = None


@register_check
class User(LinuxCheck):
    name = "linux.user"
    summary = "A local user exists (or not) and is (or is not) in the given groups"

    class Params(PluginParams):
        user: str
        exists: bool = True
        groups: list[str] = []
        not_groups: list[str] = []


@register_check
class Mount(LinuxCheck):
    name = "linux.mount"
    summary = "A file system is mounted at a path and, if asked, declared in /etc/fstab"

    class Params(PluginParams):
        mountpoint: str = Field(pattern=r"^/")
        fstype: str | None = None
        source: str | None = Field(default=None, description="device, LABEL= or UUID=")
        persistent: bool = True


@register_check
class DiskFree(LinuxCheck):
    name = "linux.disk_free"
    summary = "The file system holding a path has at least this much free space"

    class Params(PluginParams):
        path: str = Field(default="/", pattern=r"^/")
        min_free_mib: int | None = Field(default=None, gt=0)
        min_free_percent: int | None = Field(default=None, gt=0, lt=100)


@register_check
class Firewall(LinuxCheck):
    name = "linux.firewall"
    summary = "The nftables ruleset lets a port through (or blocks it)"

    class Params(PluginParams):
        port: int = Field(ge=1, le=65535)
        protocol: Literal["tcp", "udp"] = "tcp"
        allowed: bool = True


@register_check
class Resolver(LinuxCheck):
    name = "linux.resolver"
    summary = "The DNS resolvers (and search domains) the node uses"

    class Params(PluginParams):
        nameservers: list[ipaddress.IPv4Address] = Field(min_length=1)
        search: list[str] = []


@register_check
class Route(LinuxCheck):
    name = "linux.route"
    summary = "A route (or the default route) goes through the given gateway"

    class Params(PluginParams):
        destination: Literal["default"] | ipaddress.IPv4Network = "default"
        via: ipaddress.IPv4Address


@register_check
class Address(LinuxCheck):
    name = "linux.address"
    summary = "An interface is up with the given address"

    class Params(PluginParams):
        interface: str
        address: ipaddress.IPv4Interface
        up: bool = True


@register_check
class Hostname(LinuxCheck):
    name = "linux.hostname"
    summary = "The node's static host name"

    class Params(PluginParams):
        hostname: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9-]{0,62}$")


@register_check
class Timezone(LinuxCheck):
    name = "linux.timezone"
    summary = "The time zone, and the clock within a tolerance of the host's"

    class Params(PluginParams):
        timezone: str = "Europe/Paris"
        max_skew_seconds: int | None = Field(default=None, gt=0)


@register_check
class Locale(LinuxCheck):
    name = "linux.locale"
    summary = "The system locale and keyboard layout"

    class Params(PluginParams):
        lang: str = "fr_FR.UTF-8"
        keymap: str | None = "fr"


@register_check
class Cron(LinuxCheck):
    name = "linux.cron"
    summary = "A cron job (or systemd timer) runs the given command"

    class Params(PluginParams):
        user: str = "root"
        command: str = Field(description="text the job's command line contains")
        schedule: str | None = Field(default=None, description="five cron fields, if imposed")


@register_check
class Printer(LinuxCheck):
    name = "linux.printer"
    summary = "A CUPS queue exists, is enabled, accepts jobs and is (or is not) the default"

    class Params(PluginParams):
        queue: str
        enabled: bool = True
        accepting: bool = True
        default: bool | None = None


@register_check
class Sshd(LinuxCheck):
    name = "linux.sshd"
    summary = "The effective sshd settings (root login, password authentication)"

    class Params(PluginParams):
        permit_root_login: Literal["yes", "no", "prohibit-password"] | None = None
        password_authentication: bool | None = None


@register_check
class KernelModule(LinuxCheck):
    name = "linux.kernel_module"
    summary = "A kernel module is loaded (or not) and not blacklisted"

    class Params(PluginParams):
        module: str
        loaded: bool = True
