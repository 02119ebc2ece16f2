"""Actions on the Active Directory (LDAP or samba-tool on the DC)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from tai_labs.actions.base import Action, register_action
from tai_labs.errors import TaiLabsError
from tai_labs.registry import PluginParams
from tai_labs.roles.ad_plan import GROUP_SCOPES, ou_dn, ou_rdns
from tai_labs.roles.base import RoleContext

SAM = "/var/lib/samba/private/sam.ldb"


def _realm(ctx: RoleContext) -> str:
    if ctx.scenario.directory is None:
        raise TaiLabsError(f"{ctx.node.name}: the scenario has no directory")
    return ctx.scenario.directory.realm


def _positional(value: str, what: str) -> str:
    # samba-tool would read a leading '-' as an option.
    if value.startswith("-"):
        raise TaiLabsError(f"{what} {value!r} must not start with '-'")
    return value


def _user_dn(ctx: RoleContext, login: str) -> str | None:
    out = ctx.run(
        [
            "samba-tool",
            "user",
            "show",
            _positional(login, "login"),
            "--attributes=distinguishedName",
        ],
        check=False,
    )
    for line in out.stdout.splitlines():
        if line.startswith("distinguishedName: "):
            return line.split(": ", 1)[1].strip()
    return None


def _ldbmodify(ctx: RoleContext, dn: str, attribute: str, value: str) -> None:
    ldif = f"dn: {dn}\nchangetype: modify\nreplace: {attribute}\n{attribute}: {value}\n"
    ctx.run(["ldbmodify", "-H", SAM], input=ldif)


DC = frozenset({"ad-dc", "windows-server"})


class DirectoryAction(Action):
    node_kinds = DC


@register_action
class Ou(DirectoryAction):
    name = "ad.ou"
    summary = "Create an OU (path such as 'Siege/Compta')"

    class Params(PluginParams):
        ou: str

    def run(self, ctx: RoleContext, params: Params) -> None:
        parts = [p for p in params.ou.split("/") if p]
        for depth in range(1, len(parts) + 1):  # parents first; existing ones are kept
            path = "/".join(parts[:depth])
            found = ctx.run(
                ["ldbsearch", "-H", SAM, "-b", ou_dn(path, _realm(ctx)), "-s", "base", "dn"],
                check=False,
            )
            if "dn: " not in found.stdout:
                ctx.run(["samba-tool", "ou", "add", ou_rdns(path)])


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

    def run(self, ctx: RoleContext, params: Params) -> None:
        login = _positional(params.login, "login")
        dn = _user_dn(ctx, login)
        if params.state == "absent":
            if dn is not None:
                ctx.run(["samba-tool", "user", "delete", login])
            return
        if dn is None:
            if params.password is None:
                raise TaiLabsError(f"ad.user {login}: a new user needs a password")
            argv = ["samba-tool", "user", "create", login]
            if params.first:
                argv.append(f"--given-name={params.first}")
            if params.last:
                argv.append(f"--surname={params.last}")
            if params.ou:
                argv.append(f"--userou={ou_rdns(params.ou)}")
            # samba-tool prompts twice; without a terminal it reads stdin: no password in ps.
            ctx.run(argv, input=f"{params.password}\n{params.password}\n")
        else:
            if params.ou and not dn.lower().endswith(ou_dn(params.ou, _realm(ctx)).lower()):
                ctx.run(["samba-tool", "user", "move", login, ou_rdns(params.ou)])
            if params.password is not None:
                ctx.run(
                    ["samba-tool", "user", "setpassword", login],
                    input=f"{params.password}\n{params.password}\n",
                )
        if params.unlock:
            ctx.run(["samba-tool", "user", "unlock", login])
        if params.enabled is not None:
            ctx.run(["samba-tool", "user", "enable" if params.enabled else "disable", login])
        if params.expires == "never":
            # --noexpiry also sets "password never expires", which cancels a forced change.
            ctx.run(["samba-tool", "user", "setexpiry", login, "--noexpiry"])
        if params.must_change_password is not None:
            dn = _user_dn(ctx, login)
            if dn is None:
                raise TaiLabsError(f"ad.user {login}: not found after creation")
            if params.must_change_password:
                # "never expires" (userAccountControl 0x10000) would make Samba ignore it.
                ctx.run(["samba-tool", "user", "setexpiry", login, "--days=3650"], check=False)
            _ldbmodify(ctx, dn, "pwdLastSet", "0" if params.must_change_password else "-1")


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

    def run(self, ctx: RoleContext, params: Params) -> None:
        group = _positional(params.group, "group")
        exists = ctx.run(["samba-tool", "group", "show", group], check=False).ok
        if not exists:
            argv = [
                "samba-tool",
                "group",
                "add",
                group,
                f"--group-scope={GROUP_SCOPES[params.scope]}",
                "--group-type=Security",
            ]
            if params.ou:
                argv.append(f"--groupou={ou_rdns(params.ou)}")
            ctx.run(argv)
        if params.add:
            members = ",".join(_positional(m, "member") for m in params.add)
            out = ctx.run(["samba-tool", "group", "addmembers", group, members], check=False)
            if not out.ok and "already" not in (out.stdout + out.stderr).lower():
                raise TaiLabsError(f"ad.group {group}: {(out.stderr or out.stdout).strip()}")
        if params.remove:
            members = ",".join(_positional(m, "member") for m in params.remove)
            ctx.run(["samba-tool", "group", "removemembers", group, members], check=False)


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
        share: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
        path: str = Field(pattern=r"^/[A-Za-z0-9_./-]+$")
        writers: list[str] = []
        readers: list[str] = []

    def run(self, ctx: RoleContext, params: Params) -> None:
        netbios = ctx.scenario.directory.netbios if ctx.scenario.directory else ""
        groups = [*params.writers, *params.readers]
        # Who may read or write is the share's business (valid users / write list, resolved
        # by Samba itself); the folder is open so the ids Samba maps users to can write.
        ctx.run(["install", "-d", "-m", "0777", params.path])
        section = [f"[{params.share}]", f"\tpath = {params.path}", "\tread only = yes"]
        if groups:
            section.append("\tvalid users = " + " ".join(f'@"{netbios}\\{g}"' for g in groups))
        if params.writers:
            writers = " ".join(f'@"{netbios}\\{g}"' for g in params.writers)
            section.append(f"\twrite list = {writers}")
        conf = ctx.run(["cat", "/etc/samba/smb.conf"]).stdout
        ctx.write_file("/etc/samba/smb.conf", _replace_section(conf, params.share, section))
        ctx.run(["smbcontrol", "all", "reload-config"], check=False)


def _replace_section(conf: str, name: str, section: list[str]) -> str:
    """smb.conf with section ``name`` replaced (or appended): running the step twice is a no-op."""
    out: list[str] = []
    skipping = False
    for line in conf.splitlines():
        stripped = line.strip()
        if stripped.startswith("[") and stripped.endswith("]"):
            skipping = stripped[1:-1].strip().lower() == name.lower()
        if not skipping:
            out.append(line)
    while out and not out[-1].strip():
        out.pop()
    return "\n".join([*out, "", *section]) + "\n"
