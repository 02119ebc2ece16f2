"""Checks on the Active Directory, collected over an LDAP directory session."""

from __future__ import annotations

from typing import Literal

from tai_labs.grading.base import Check, register_check
from tai_labs.registry import PluginParams

DC = frozenset({"ad-dc", "windows-server"})


class DirectoryCheck(Check):
    session = "directory"
    node_kinds = DC


@register_check
class User(DirectoryCheck):
    name = "ad.user"
    summary = "A user account: OU, enabled, locked, expired, must change password, groups"

    class Params(PluginParams):
        login: str
        exists: bool = True
        ou: str | None = None
        enabled: bool | None = None
        locked: bool | None = None
        expired: bool | None = None
        must_change_password: bool | None = None
        member_of: list[str] = []
        not_member_of: list[str] = []


@register_check
class Group(DirectoryCheck):
    name = "ad.group"
    summary = "A group exists with its scope, OU and members"

    class Params(PluginParams):
        group: str
        exists: bool = True
        scope: Literal["global", "domainlocal", "universal"] | None = None
        ou: str | None = None
        members: list[str] = []


@register_check
class GpoLink(DirectoryCheck):
    name = "ad.gpo"
    summary = "A GPO exists and is linked to an OU with the link enabled"

    class Params(PluginParams):
        gpo: str
        linked_to: str | None = None
        link_enabled: bool = True


@register_check
class Computer(DirectoryCheck):
    name = "ad.computer"
    summary = "A computer object exists in the given OU"

    class Params(PluginParams):
        computer: str
        ou: str | None = None
