"""Actions on the Active Directory (LDAP or samba-tool on the DC)."""

from __future__ import annotations

from typing import Literal

from tai_labs.actions.base import Action, register_action
from tai_labs.registry import PluginParams

DC = frozenset({"ad-dc", "windows-server"})


class DirectoryAction(Action):
    node_kinds = DC


@register_action
class Ou(DirectoryAction):
    name = "ad.ou"
    summary = "Create an OU (path such as 'Siege/Compta')"

    class Params(PluginParams):
        ou: str


@register_action
class User(DirectoryAction):
    name = "ad.user"
    summary = "Create or change a user: OU, password, enabled, unlock, must change password"

    class Params(PluginParams):
        login: str
        first: str | None = None
        last: str | None = None
        ou: str | None = None
        password: str | None = None
        enabled: bool | None = None
        unlock: bool = False
        must_change_password: bool | None = None
        expires: Literal["never"] | None = None
        state: Literal["present", "absent"] = "present"


@register_action
class Group(DirectoryAction):
    name = "ad.group"
    summary = "Create a group or change its members"

    class Params(PluginParams):
        group: str
        scope: Literal["global", "domainlocal", "universal"] = "global"
        ou: str | None = None
        add: list[str] = []
        remove: list[str] = []


@register_action
class GpoLink(DirectoryAction):
    name = "ad.gpo_link"
    summary = "Create a GPO if needed and link it to an OU (enabled or not)"

    class Params(PluginParams):
        gpo: str
        ou: str
        enabled: bool = True


@register_action
class DnsRecord(DirectoryAction):
    name = "ad.dns_record"
    summary = "Add or delete a DNS record in the domain's zone"

    class Params(PluginParams):
        record: str
        type: Literal["A", "PTR", "CNAME"] = "A"
        value: str
        state: Literal["present", "absent"] = "present"


@register_action
class Share(DirectoryAction):
    name = "smb.share"
    summary = "Create an SMB share on the DC: a folder, its share section, who may write"

    class Params(PluginParams):
        share: str
        path: str
        writers: list[str] = []
        readers: list[str] = []
