"""Faults in the Active Directory (Samba AD DC).

The DC's database is changed the way an administrator would, with samba-tool or ldbmodify
on the DC itself (no network, no password on a command line); only the lockout goes
through the network, since it must come from real failed binds. Everything lands in the
directory's database: restarting samba-ad-dc or the node keeps the fault.
"""

from __future__ import annotations

import base64
import re
import secrets
import time
from typing import Literal

from pydantic import Field

from tai_labs.context import NodeContext
from tai_labs.faults.base import Fault, FaultError, register_fault
from tai_labs.plugins import ParamsT, PluginParams
from tai_labs.roles.ad_plan import domain_dn, normalize_dn, ou_dn

DC = frozenset({"ad-dc", "windows-server"})
SAM_LDB = "/var/lib/samba/private/sam.ldb"
#: An sAMAccountName without anything an LDAP filter or a command line would read specially.
LOGIN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
#: A group or GPO name: letters, digits, spaces and a few signs, never a filter character.
NAME = r"^[\w][\w .'-]{0,63}$"
UF_ACCOUNTDISABLE = 0x2
UF_LOCKOUT = 0x10
UF_DONT_EXPIRE_PASSWD = 0x10000
NEVER_EXPIRES = {0, 0x7FFFFFFFFFFFFFFF}
#: Seconds between 1601-01-01 (Windows FILETIME) and 1970-01-01.
FILETIME_EPOCH = 11644473600


class DirectoryFault(Fault[ParamsT]):
    node_kinds = DC

    @staticmethod
    def samba_only(ctx: NodeContext) -> None:
        if ctx.node.kind.value != "ad-dc":
            raise FaultError(
                f"{ctx.node.name} is a {ctx.node.kind.value}: only Samba DCs (ad-dc) are "
                "supported yet"
            )


class _User(PluginParams):
    login: str = Field(pattern=LOGIN)


# -- helpers ------------------------------------------------------------------------------------


def realm(ctx: NodeContext) -> str:
    if ctx.scenario.directory is None:
        raise FaultError(f"{ctx.node.name}: the scenario has no directory")
    return ctx.scenario.directory.realm


def parse_ldif(text: str) -> list[dict[str, list[str]]]:
    """Entries of an ldbsearch output (folded lines joined, base64 values decoded)."""
    unfolded: list[str] = []
    for line in text.splitlines():
        if line.startswith(" ") and unfolded:
            unfolded[-1] += line[1:]
        else:
            unfolded.append(line)
    entries: list[dict[str, list[str]]] = []
    current: dict[str, list[str]] | None = None
    for line in unfolded:
        if not line.strip() or line.startswith("#"):
            current = None
            continue
        if line.startswith("ref:"):
            continue
        key, sep, value = line.partition(":")
        if not sep:
            continue
        if value.startswith(":"):
            value = base64.b64decode(value[1:].strip()).decode("utf-8", "replace")
        else:
            value = value.strip()
        if key == "dn":
            current = {"dn": [value]}
            entries.append(current)
        elif current is not None:
            current.setdefault(key, []).append(value)
    return entries


def ldb_search(
    ctx: NodeContext, ldap_filter: str, attrs: list[str], base: str | None = None
) -> list[dict[str, list[str]]]:
    argv = ["ldbsearch", "-H", SAM_LDB]
    if base is not None:
        argv += ["-b", base]
    res = ctx.run([*argv, ldap_filter, *attrs])
    return parse_ldif(res.stdout)


def ldb_modify(ctx: NodeContext, dn: str, attr: str, values: list[str]) -> None:
    """Replace ``attr`` of ``dn`` (LDIF through stdin; the DN base64, whatever it holds)."""
    lines = [
        f"dn:: {base64.b64encode(dn.encode()).decode()}",
        "changetype: modify",
        f"replace: {attr}",
        *(f"{attr}:: {base64.b64encode(v.encode()).decode()}" for v in values),
        "-",
    ]
    ctx.run(["ldbmodify", "-H", SAM_LDB], input="\n".join(lines) + "\n")


USER_ATTRS = [
    "userAccountControl",
    "msDS-User-Account-Control-Computed",
    "accountExpires",
    "pwdLastSet",
    "lockoutTime",
]


def find_user(ctx: NodeContext, login: str) -> dict[str, list[str]]:
    found = ldb_search(
        ctx,
        f"(&(objectClass=user)(sAMAccountName={login}))",
        USER_ATTRS,
        base=domain_dn(realm(ctx)),
    )
    if not found:
        raise FaultError(f"the directory of {ctx.node.name} has no user {login!r}")
    return found[0]


def int_attr(entry: dict[str, list[str]], attr: str, default: int = 0) -> int:
    values = entry.get(attr) or [str(default)]
    return int(values[0])


def filetime(unix: float) -> int:
    return int((unix + FILETIME_EPOCH) * 10**7)


def parent_dn(dn: str) -> str:
    """The parent of a DN (its first RDN removed, escaped commas respected)."""
    i = 0
    while i < len(dn):
        if dn[i] == "\\":
            i += 2
            continue
        if dn[i] == ",":
            return dn[i + 1 :]
        i += 1
    return ""


def password_settings(ctx: NodeContext) -> dict[str, str]:
    res = ctx.run(["samba-tool", "domain", "passwordsettings", "show"])
    out = {}
    for line in res.stdout.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            out[key.strip()] = value.strip()
    return out


# -- faults -------------------------------------------------------------------------------------


@register_fault
class AccountLocked(DirectoryFault["AccountLocked.Params"]):
    name = "ad.account_locked"
    summary = "Lock an account out with real failed LDAPS binds (lockout policy on if it is off)"
    symptom = "Mon compte est bloqué, je ne peux plus ouvrir ma session."

    class Params(_User):
        attempts: int = Field(default=10, ge=1, le=100)
        #: The domain's lockout threshold when it has none (Samba provisions 0: never locks).
        threshold: int = Field(default=5, ge=1, le=50)
        #: Lockout lasts until an administrator unlocks it (duration 0), as many companies
        #: set it; otherwise Samba's 30 minutes would unlock the account during the exam.
        keep_locked: bool = True

    def _policy(self, ctx: NodeContext, params: Params) -> int:
        """Make sure failed binds can lock the account; return the threshold in force."""
        settings = password_settings(ctx)
        threshold = int(settings.get("Account lockout threshold (attempts)", "0") or 0)
        if threshold == 0:
            # Noted in the fault's summary: the domain policy is changed to allow lockouts.
            ctx.run(
                [
                    "samba-tool",
                    "domain",
                    "passwordsettings",
                    "set",
                    f"--account-lockout-threshold={params.threshold}",
                ]
            )
            threshold = params.threshold
        duration = settings.get("Account lockout duration (mins)", "0")
        if params.keep_locked and duration not in ("0", ""):
            ctx.run(
                ["samba-tool", "domain", "passwordsettings", "set", "--account-lockout-duration=0"]
            )
        return threshold

    def inject(self, ctx: NodeContext, params: Params) -> None:
        self.samba_only(ctx)
        if self.in_place(ctx, params):
            return
        from tai_labs.roles.ad_dc import ldaps_bind

        threshold = self._policy(ctx, params)
        user = f"{params.login}@{realm(ctx)}"
        # A wrong password that is none of the account's previous ones (Samba does not
        # count a bad password matching the history).
        wrong = "Wr0ng-" + secrets.token_urlsafe(12)
        for _ in range(max(params.attempts, threshold)):
            ok, detail = ldaps_bind(ctx.mgmt_address, user, wrong)
            if ok:
                raise FaultError(f"a bind as {user} with a random password succeeded?")
            if "invalidCredentials" not in detail:
                raise FaultError(f"LDAPS bind to {ctx.mgmt_address} failed oddly: {detail}")
            if self.in_place(ctx, params):
                return
        raise FaultError(
            f"{params.login} is not locked after {max(params.attempts, threshold)} failed binds"
        )

    def in_place(self, ctx: NodeContext, params: Params) -> bool:
        entry = find_user(ctx, params.login)
        return bool(int_attr(entry, "msDS-User-Account-Control-Computed") & UF_LOCKOUT)


@register_fault
class AccountDisabled(DirectoryFault[_User]):
    name = "ad.account_disabled"
    summary = "Disable an account"
    symptom = "On me dit que mon compte est désactivé."
    Params = _User

    def inject(self, ctx: NodeContext, params: _User) -> None:
        self.samba_only(ctx)
        if not self.in_place(ctx, params):
            ctx.run(["samba-tool", "user", "disable", params.login])

    def in_place(self, ctx: NodeContext, params: _User) -> bool:
        entry = find_user(ctx, params.login)
        return bool(int_attr(entry, "userAccountControl") & UF_ACCOUNTDISABLE)


@register_fault
class AccountExpired(DirectoryFault["AccountExpired.Params"]):
    name = "ad.account_expired"
    summary = "Set an account's expiry date in the past"
    symptom = "Depuis mon retour de congés, mon compte ne marche plus."

    class Params(_User):
        #: How long ago the account expired ("since I came back from holidays").
        days_ago: int = Field(default=3, ge=1, le=3650)

    def inject(self, ctx: NodeContext, params: Params) -> None:
        self.samba_only(ctx)
        if self.in_place(ctx, params):
            return
        entry = find_user(ctx, params.login)
        # At midnight, as the "account expires" date field of the admin tools sets it.
        day = (int(time.time()) // 86400 - params.days_ago + 1) * 86400
        ldb_modify(ctx, entry["dn"][0], "accountExpires", [str(filetime(day))])

    def in_place(self, ctx: NodeContext, params: Params) -> bool:
        value = int_attr(find_user(ctx, params.login), "accountExpires")
        return value not in NEVER_EXPIRES and value < filetime(time.time())


@register_fault
class PasswordMustChange(DirectoryFault[_User]):
    name = "ad.password_must_change"
    summary = "Force a password change at next logon (pwdLastSet = 0)"
    symptom = "On me demande de changer mon mot de passe et ça échoue."
    Params = _User

    def inject(self, ctx: NodeContext, params: _User) -> None:
        self.samba_only(ctx)
        if self.in_place(ctx, params):
            return
        entry = find_user(ctx, params.login)
        uac = int_attr(entry, "userAccountControl")
        if uac & UF_DONT_EXPIRE_PASSWD:
            # "Password never expires" cancels pwdLastSet = 0; the admin tools untick it
            # before they can tick "must change password at next logon".
            ldb_modify(
                ctx, entry["dn"][0], "userAccountControl", [str(uac & ~UF_DONT_EXPIRE_PASSWD)]
            )
        if int_attr(entry, "pwdLastSet", default=-1) != 0:
            ldb_modify(ctx, entry["dn"][0], "pwdLastSet", ["0"])

    def in_place(self, ctx: NodeContext, params: _User) -> bool:
        entry = find_user(ctx, params.login)
        return int_attr(entry, "pwdLastSet", default=-1) == 0 and not (
            int_attr(entry, "userAccountControl") & UF_DONT_EXPIRE_PASSWD
        )


@register_fault
class UserWrongOu(DirectoryFault["UserWrongOu.Params"]):
    name = "ad.user_wrong_ou"
    summary = "Move a user into another OU"
    symptom = "Je n'ai plus mes lecteurs réseau ni mon fond d'écran habituel."

    class Params(_User):
        #: OU path as in the scenario's directory: "Departs", "Siege/Utilisateurs".
        ou: str = Field(pattern=r"^[\w .'-]+(/[\w .'-]+)*$")

    def inject(self, ctx: NodeContext, params: Params) -> None:
        self.samba_only(ctx)
        if self.in_place(ctx, params):
            return
        target = ou_dn(params.ou, realm(ctx))
        if not ldb_search(ctx, "(objectClass=organizationalUnit)", ["dn"], base=target):
            raise FaultError(f"the directory has no OU {params.ou!r} ({target})")
        ctx.run(["samba-tool", "user", "move", params.login, target])

    def in_place(self, ctx: NodeContext, params: Params) -> bool:
        dn = find_user(ctx, params.login)["dn"][0]
        return normalize_dn(parent_dn(dn)) == normalize_dn(ou_dn(params.ou, realm(ctx)))


def group_members(ctx: NodeContext, group: str) -> list[str]:
    res = ctx.run(["samba-tool", "group", "listmembers", group], check=False)
    if not res.ok:
        raise FaultError(f"the directory of {ctx.node.name} has no group {group!r}")
    return [m.strip().lower() for m in res.stdout.splitlines() if m.strip()]


@register_fault
class MembershipRemoved(DirectoryFault["MembershipRemoved.Params"]):
    name = "ad.membership_removed"
    summary = "Remove a user from a group"
    symptom = "Je n'ai plus accès au partage de mon service."

    class Params(_User):
        group: str = Field(pattern=NAME)

    def inject(self, ctx: NodeContext, params: Params) -> None:
        self.samba_only(ctx)
        find_user(ctx, params.login)
        if not self.in_place(ctx, params):
            ctx.run(["samba-tool", "group", "removemembers", params.group, params.login])

    def in_place(self, ctx: NodeContext, params: Params) -> bool:
        return params.login.lower() not in group_members(ctx, params.group)


_GPLINK_RE = re.compile(r"\[([^;\]]+);(\d+)\]")


def parse_gplink(value: str) -> list[tuple[str, int]]:
    """gPLink "[LDAP://cn={GUID},...;0][...;1]" -> [(dn, flags)], in order."""
    out = []
    for dn, flags in _GPLINK_RE.findall(value):
        out.append((dn.removeprefix("LDAP://").removeprefix("ldap://"), int(flags)))
    return out


def render_gplink(links: list[tuple[str, int]]) -> str:
    return "".join(f"[LDAP://{dn};{flags}]" for dn, flags in links)


#: gPLink flag bits: 1 = link disabled, 2 = enforced.
GPLINK_DISABLED = 1


@register_fault
class GpoLinkDisabled(DirectoryFault["GpoLinkDisabled.Params"]):
    name = "ad.gpo_link_disabled"
    summary = "Disable a GPO's link on an OU"
    symptom = "La stratégie ne s'applique plus aux postes du service."

    class Params(PluginParams):
        #: Display name ("Default Domain Policy") or GUID ("{31B2F340-...}").
        gpo: str = Field(pattern=r"^(\{[0-9A-Fa-f-]{36}\}|[\w][\w .'()-]{0,127})$")
        #: OU path ("Siege/Utilisateurs"); "" for the domain itself.
        ou: str = Field(pattern=r"^([\w .'-]+(/[\w .'-]+)*)?$")

    def _gpo_dn(self, ctx: NodeContext, gpo: str) -> str:
        base = f"CN=Policies,CN=System,{domain_dn(realm(ctx))}"
        found = ldb_search(
            ctx, "(objectClass=groupPolicyContainer)", ["displayName", "cn"], base=base
        )
        for entry in found:
            names = [v.lower() for v in entry.get("displayName", []) + entry.get("cn", [])]
            if gpo.lower() in names:
                return entry["dn"][0]
        raise FaultError(f"the directory has no GPO {gpo!r}")

    def _links(self, ctx: NodeContext, params: Params) -> tuple[str, list[tuple[str, int]], int]:
        """(container DN, its links, index of the GPO's link)."""
        container = ou_dn(params.ou, realm(ctx)) if params.ou else domain_dn(realm(ctx))
        found = ldb_search(ctx, "(objectClass=*)", ["gPLink"], base=container)
        found = [e for e in found if normalize_dn(e["dn"][0]) == normalize_dn(container)]
        if not found:
            raise FaultError(f"the directory has no OU {params.ou!r}")
        links = parse_gplink("".join(found[0].get("gPLink", [])))
        gpo = normalize_dn(self._gpo_dn(ctx, params.gpo))
        for i, (dn, _) in enumerate(links):
            if normalize_dn(dn) == gpo:
                return container, links, i
        raise FaultError(f"GPO {params.gpo!r} is not linked to {container}")

    def inject(self, ctx: NodeContext, params: Params) -> None:
        self.samba_only(ctx)
        container, links, i = self._links(ctx, params)
        dn, flags = links[i]
        if flags & GPLINK_DISABLED:
            return
        links[i] = (dn, flags | GPLINK_DISABLED)
        ldb_modify(ctx, container, "gPLink", [render_gplink(links)])

    def in_place(self, ctx: NodeContext, params: Params) -> bool:
        _, links, i = self._links(ctx, params)
        return bool(links[i][1] & GPLINK_DISABLED)


def dns_data(query_output: str, rtype: str) -> list[str]:
    """Data of the ``rtype`` records in a `samba-tool dns query` output."""
    out = []
    for line in query_output.splitlines():
        m = re.match(rf"^\s*{rtype}:\s+(\S+)\s+\(", line)
        if m:
            out.append(m.group(1))
    return out


@register_fault
class DnsRecordMissing(DirectoryFault["DnsRecordMissing.Params"]):
    name = "ad.dns_record_missing"
    summary = "Delete a DNS record from the domain's zone"
    symptom = "Le serveur d'impression est introuvable par son nom."

    class Params(PluginParams):
        #: Name relative to the zone ("srv-print"); for PTR, the IPv4 address.
        record: str = Field(pattern=r"^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$")
        type: Literal["A", "PTR", "CNAME"] = "A"

    def _where(self, ctx: NodeContext, params: Params) -> tuple[str, str]:
        """(zone, name in the zone) of the record."""
        if params.type != "PTR":
            name = params.record.lower().removesuffix("." + realm(ctx).lower())
            # samba_dnsupdate re-registers the DC's own names every few minutes: deleting
            # one would not last.
            if name in (ctx.node.name.lower(), realm(ctx).lower(), "gc._msdcs"):
                raise FaultError(
                    f"{params.record} is one of the DC's own records: samba_dnsupdate "
                    "restores it within minutes"
                )
            return realm(ctx), name
        octets = params.record.split(".")
        if len(octets) != 4 or not all(o.isdigit() for o in octets):
            raise FaultError(f"a PTR record is named by its IPv4 address, not {params.record!r}")
        zones = ctx.run(["samba-tool", "dns", "zonelist", "127.0.0.1", "-P"]).stdout
        names = re.findall(r"pszZoneName\s*:\s*(\S+)", zones)
        for n in (3, 2, 1):
            zone = ".".join(reversed(octets[:n])) + ".in-addr.arpa"
            if zone in names:
                return zone, ".".join(reversed(octets[n:]))
        raise FaultError(f"the DC has no reverse zone for {params.record}")

    def _data(self, ctx: NodeContext, params: Params) -> list[str]:
        zone, name = self._where(ctx, params)
        res = ctx.run(
            ["samba-tool", "dns", "query", "127.0.0.1", zone, name, params.type, "-P"], check=False
        )
        return dns_data(res.stdout, params.type) if res.ok else []

    def inject(self, ctx: NodeContext, params: Params) -> None:
        self.samba_only(ctx)
        zone, name = self._where(ctx, params)
        for data in self._data(ctx, params):
            # -P: the DC's machine account, which may write its zones (no password shown).
            ctx.run(
                ["samba-tool", "dns", "delete", "127.0.0.1", zone, name, params.type, data, "-P"]
            )

    def in_place(self, ctx: NodeContext, params: Params) -> bool:
        return not self._data(ctx, params)
