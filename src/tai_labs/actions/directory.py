"""Actions on the Active Directory (LDAP or samba-tool on the DC)."""

from __future__ import annotations

import ipaddress
import re
from typing import Literal

from pydantic import Field, model_validator

from tai_labs.actions.base import Action, register_action
from tai_labs.context import NodeContext
from tai_labs.errors import TaiLabsError
from tai_labs.facts.directory import (
    SAMBA_TOOL_SCOPES,
    UF_DONT_EXPIRE_PASSWD,
    dns_data,
    domain_dn,
    ldb_modify,
    ldb_search,
    ou_dn,
    ou_rdns,
    parse_gplink,
    render_gplink,
    set_gpo_link,
)
from tai_labs.kinds import kinds_offering
from tai_labs.plugins import ParamsT, PluginParams


def _realm(ctx: NodeContext) -> str:
    if ctx.scenario.directory is None:
        raise TaiLabsError(f"{ctx.node.name}: the scenario has no directory")
    return ctx.scenario.directory.realm


def _positional(value: str, what: str) -> str:
    # samba-tool would read a leading '-' as an option.
    if value.startswith("-"):
        raise TaiLabsError(f"{what} {value!r} must not start with '-'")
    return value


def _user_dn(ctx: NodeContext, login: str) -> str | None:
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


DC = kinds_offering("directory")


class DirectoryAction(Action[ParamsT]):
    node_kinds = DC


@register_action
class Ou(DirectoryAction["Ou.Params"]):
    name = "ad.ou"
    summary = "Create an OU (path such as 'Siege/Compta')"

    class Params(PluginParams):
        ou: str

    def run(self, ctx: NodeContext, params: Params) -> None:
        parts = [p for p in params.ou.split("/") if p]
        for depth in range(1, len(parts) + 1):  # parents first; existing ones are kept
            path = "/".join(parts[:depth])
            base = ou_dn(path, domain_dn(_realm(ctx)))
            if not ldb_search(ctx, "(objectClass=*)", ["dn"], base, scope="base", check=False):
                ctx.run(["samba-tool", "ou", "add", ou_rdns(path)])


@register_action
class User(DirectoryAction["User.Params"]):
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

    def run(self, ctx: NodeContext, params: Params) -> None:
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
            if params.ou and not dn.lower().endswith(
                ou_dn(params.ou, domain_dn(_realm(ctx))).lower()
            ):
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
                # "Never expires" (userAccountControl 0x10000) would make Samba ignore it: clear
                # that bit alone. Not `samba-tool user setexpiry`: it also sets accountExpires
                # and clears a lockout, changes a solution step must not make behind its back.
                found = ldb_search(
                    ctx, "(objectClass=user)", ["userAccountControl"], dn, scope="base"
                )
                uac = int(found[0].first("userAccountControl") or 0) if found else 0
                if uac & UF_DONT_EXPIRE_PASSWD:
                    ldb_modify(ctx, dn, "userAccountControl", [str(uac & ~UF_DONT_EXPIRE_PASSWD)])
            ldb_modify(ctx, dn, "pwdLastSet", ["0" if params.must_change_password else "-1"])


@register_action
class Group(DirectoryAction["Group.Params"]):
    name = "ad.group"
    summary = "Create a group or change its members"

    class Params(PluginParams):
        group: str
        scope: Literal["global", "domainlocal", "universal"] = "global"
        ou: str | None = None
        add: list[str] = []
        remove: list[str] = []

    def run(self, ctx: NodeContext, params: Params) -> None:
        group = _positional(params.group, "group")
        exists = ctx.run(["samba-tool", "group", "show", group], check=False).ok
        if not exists:
            argv = [
                "samba-tool",
                "group",
                "add",
                group,
                f"--group-scope={SAMBA_TOOL_SCOPES[params.scope]}",
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


#: A GPO's display name: a leading letter or digit (never an option), no line break.
GPO_NAME = r"^[\w][^\n\r]{0,127}$"
OU_PATH = r"^[\w .'-]+(/[\w .'-]+)*$"
#: A DNS name (relative or not); a leading letter, digit or underscore (never an option).
DNS_NAME = r"^[A-Za-z0-9_]([A-Za-z0-9_.-]*[A-Za-z0-9_.])?$"


@register_action
class GpoLink(DirectoryAction["GpoLink.Params"]):
    name = "ad.gpo_link"
    summary = "Create a GPO if needed and link it to an OU (enabled or not)"

    class Params(PluginParams):
        gpo: str = Field(pattern=GPO_NAME, description="the GPO's display name")
        ou: str = Field(pattern=OU_PATH, description="OU path such as Siege/Utilisateurs")
        enabled: bool = True

    def run(self, ctx: NodeContext, params: Params) -> None:
        realm = _realm(ctx)
        container = ou_dn(params.ou, domain_dn(realm))
        # The OU first: a missing one must not leave a new, unlinked GPO behind.
        current = _gplink(ctx, container)
        if current is None:
            raise TaiLabsError(
                f"ad.gpo_link: the directory has no OU {params.ou!r} ({container})",
                hint="create it first with an ad.ou step",
            )
        gpo = _gpo_dn(ctx, params.gpo, realm) or _create_gpo(ctx, params.gpo, realm)
        wanted = render_gplink(set_gpo_link(parse_gplink(current), gpo, params.enabled))
        if wanted != current:
            ldb_modify(ctx, container, "gPLink", [wanted])


def _gplink(ctx: NodeContext, container: str) -> str | None:
    """The container's gPLink ("" when it has no link), or None when it does not exist."""
    entries = ldb_search(ctx, "(objectClass=*)", ["gPLink"], container, scope="base", check=False)
    if not entries:
        return None
    return "".join(entries[0].attributes.get("gplink", []))


def _gpo_dn(ctx: NodeContext, name: str, realm: str) -> str | None:
    """The DN of the GPO whose display name is ``name`` (any case, as LDAP compares it)."""
    found = ldb_search(
        ctx,
        "(objectClass=groupPolicyContainer)",
        ["displayName"],
        base=f"CN=Policies,CN=System,{domain_dn(realm)}",
    )
    dns = [
        e.dn
        for e in found
        if any(v.casefold() == name.casefold() for v in e.attributes.get("displayname", []))
    ]
    if len(dns) > 1:
        raise TaiLabsError(f"ad.gpo_link: {len(dns)} GPOs are named {name!r}: {', '.join(dns)}")
    return dns[0] if dns else None


def _create_gpo(ctx: NodeContext, name: str, realm: str) -> str:
    """Create an empty GPO as the domain Administrator would; return its DN.

    `samba-tool gpo create` writes the GPO's folder in sysvol over SMB, which the DC's
    machine account may not do: it authenticates as Administrator, whose password it reads
    from stdin (PASSWD_FD=0; twice, as samba-tool asks for it twice), never from argv.
    """
    password = ctx.secrets.get("admin_password")
    if not password:
        raise TaiLabsError(f"{ctx.node.name}: the lab has no admin_password secret")
    out = ctx.run(
        ["env", "PASSWD_FD=0", "samba-tool", "gpo", "create", _positional(name, "GPO"),
         "-U", "Administrator"],
        input=f"{password}\n{password}\n",
        timeout=180,
    )  # fmt: skip
    guid = re.search(r"created as (\{[0-9A-Fa-f-]{36}\})", out.stdout)
    if guid is None:
        raise TaiLabsError(f"ad.gpo_link: samba-tool gpo create said: {out.stdout.strip()[-200:]}")
    return f"CN={guid.group(1)},CN=Policies,CN=System,{domain_dn(realm)}"


@register_action
class DnsRecord(DirectoryAction["DnsRecord.Params"]):
    name = "ad.dns_record"
    summary = "Add or delete a DNS record in the domain's zone"

    class Params(PluginParams):
        record: str = Field(
            pattern=DNS_NAME, description="name in the zone (srv-print); for PTR, the IPv4 address"
        )
        type: Literal["A", "PTR", "CNAME"] = "A"
        value: str = Field(
            pattern=DNS_NAME,
            description="A: the IPv4 address; CNAME, PTR: the target (no dot: in the domain)",
        )
        state: Literal["present", "absent"] = Field(
            default="present",
            description="present: the name's only record of this type (others are replaced)",
        )

        @model_validator(mode="after")
        def _fits_type(self) -> DnsRecord.Params:
            if self.type == "A":
                ipaddress.IPv4Address(self.value)  # ValueError names the value
            if self.type == "PTR":
                ipaddress.IPv4Address(self.record)
            return self

    def run(self, ctx: NodeContext, params: Params) -> None:
        realm = _realm(ctx)
        where = _dns_where(ctx, params, realm, create=params.state == "present")
        if where is None:
            return  # absent PTR with no reverse zone: nothing to delete
        zone, name = where
        want = _dns_value(params.type, params.value, realm)
        have = _dns_query(ctx, zone, name, params.type)
        same = [d for d in have if _dns_fold(d) == _dns_fold(want)]
        if params.state == "absent":
            for data in same:
                _samba_dns(ctx, "delete", zone, name, params.type, data)
            return
        for data in have:
            if data not in same:  # a wrong address left there would still be answered
                _samba_dns(ctx, "delete", zone, name, params.type, data)
        if not same:
            _samba_dns(ctx, "add", zone, name, params.type, want)


def _samba_dns(ctx: NodeContext, verb: str, *args: str) -> None:
    # -P: the DC's machine account, which may write its zones (no password shown).
    ctx.run(["samba-tool", "dns", verb, "127.0.0.1", *args, "-P"])


def _dns_value(rtype: str, value: str, realm: str) -> str:
    """The record's data as samba-tool takes it: a target without a dot is in the domain."""
    if rtype == "A" or "." in value.rstrip("."):
        return value
    return f"{value.rstrip('.')}.{realm}"


def _dns_fold(data: str) -> str:
    return data.rstrip(".").lower()


def _dns_where(
    ctx: NodeContext, params: DnsRecord.Params, realm: str, *, create: bool
) -> tuple[str, str] | None:
    """(zone, name in the zone); a missing /24 reverse zone is created when ``create``."""
    if params.type != "PTR":
        return realm, params.record.lower().rstrip(".").removesuffix("." + realm.lower())
    octets = params.record.split(".")
    zones = ctx.run(["samba-tool", "dns", "zonelist", "127.0.0.1", "-P"]).stdout
    names = {z.lower() for z in re.findall(r"pszZoneName\s*:\s*(\S+)", zones)}
    for n in (3, 2, 1):
        zone = ".".join(reversed(octets[:n])) + ".in-addr.arpa"
        if zone in names:
            return zone, ".".join(reversed(octets[n:]))
    if not create:
        return None
    zone = ".".join(reversed(octets[:3])) + ".in-addr.arpa"
    ctx.run(["samba-tool", "dns", "zonecreate", "127.0.0.1", zone, "-P"])
    return zone, octets[3]


def _dns_query(ctx: NodeContext, zone: str, name: str, rtype: str) -> list[str]:
    """The data of the name's ``rtype`` records ([] when the name has none)."""
    res = ctx.run(["samba-tool", "dns", "query", "127.0.0.1", zone, name, rtype, "-P"], check=False)
    if res.ok:
        return dns_data(res.stdout, rtype)
    if "does not exist" in res.stdout + res.stderr:
        return []
    raise TaiLabsError(
        f"{ctx.node.name}: samba-tool dns query {zone} {name} failed: "
        f"{(res.stderr or res.stdout).strip()[-200:]}"
    )


@register_action
class Share(DirectoryAction["Share.Params"]):
    name = "smb.share"
    summary = "Create an SMB share on the DC: a folder, its share section, who may write"

    class Params(PluginParams):
        share: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
        path: str = Field(pattern=r"^/[A-Za-z0-9_./-]+$")
        writers: list[str] = []
        readers: list[str] = []

    def run(self, ctx: NodeContext, params: Params) -> None:
        netbios = ctx.scenario.directory.netbios if ctx.scenario.directory else ""
        groups = [*params.writers, *params.readers]
        # Who may read or write is the share's business (valid users / write list, resolved
        # by Samba itself); the folder is open so the ids Samba maps users to can write.
        ctx.run(["install", "-d", "-m", "0777", params.path])
        # The folder belongs to the share's (first) group, as on a real file server: a
        # scenario that narrows its mode (770) keeps the department in and the others out.
        # A folder left to root:root would shut everyone out, members included.
        if groups:
            ctx.run(["chgrp", "--", _group_gid(ctx, groups[0]), params.path])
        section = [f"[{params.share}]", f"\tpath = {params.path}", "\tread only = yes"]
        if groups:
            section.append("\tvalid users = " + " ".join(f'@"{netbios}\\{g}"' for g in groups))
        if params.writers:
            writers = " ".join(f'@"{netbios}\\{g}"' for g in params.writers)
            section.append(f"\twrite list = {writers}")
        conf = ctx.run(["cat", "/etc/samba/smb.conf"]).stdout
        ctx.write_file("/etc/samba/smb.conf", _replace_section(conf, params.share, section))
        ctx.run(["smbcontrol", "all", "reload-config"], check=False)


def _group_gid(ctx: NodeContext, group: str) -> str:
    """The Unix gid a domain group maps to on the DC (the id smbd puts in members' tokens).

    Through the group's SID and winbind's idmap (idmap.ldb), not through its name: this
    needs neither NSS nor winbind's name lookups on the DC.
    """
    out = ctx.run(
        ["samba-tool", "group", "show", _positional(group, "group"), "--attributes=objectSid"],
        check=False,
    )
    sids = [ln.split(":", 1)[1].strip() for ln in out.stdout.splitlines() if "objectSid:" in ln]
    if not out.ok or not sids:
        why = (out.stderr or out.stdout).strip()
        raise TaiLabsError(f"smb.share: no domain group {group!r} ({why})")
    sid = sids[0]
    gid = ctx.run(["wbinfo", "--sid-to-gid", sid], check=False)
    if not gid.ok or not gid.stdout.strip().isdigit():
        raise TaiLabsError(
            f"smb.share: winbind maps no gid to group {group!r} ({sid}): "
            f"{(gid.stderr or gid.stdout).strip()}"
        )
    return gid.stdout.strip()


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
