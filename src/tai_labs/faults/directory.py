"""Faults in the Active Directory (Samba AD DC).

The DC's database is changed the way an administrator would, with samba-tool or ldbmodify
on the DC itself (no network, no password on a command line); only the lockout goes
through the network, since it must come from real failed binds. Everything lands in the
directory's database: restarting samba-ad-dc or the node keeps the fault.
"""

from __future__ import annotations

import re
import secrets
import time
from datetime import UTC, datetime
from typing import Literal

from pydantic import Field

from tai_labs.context import NodeContext
from tai_labs.facts.directory import (
    UF_DONT_EXPIRE_PASSWD,
    GpoLink,
    Group,
    User,
    datetime_to_filetime,
    dns_data,
    domain_dn,
    in_ou,
    ldb_modify,
    ldb_search,
    normalize_dn,
    ou_dn,
    parse_gplink,
    password_policy,
    render_gplink,
)
from tai_labs.faults.base import Fault, FaultError, register_fault
from tai_labs.kinds import kinds_offering
from tai_labs.plugins import ParamsT, PluginParams
from tai_labs.sessions.ldap import ldaps_bind

DC = kinds_offering("directory")
#: An sAMAccountName without anything an LDAP filter or a command line would read specially.
LOGIN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
#: A group or GPO name: letters, digits, spaces and a few signs, never a filter character.
NAME = r"^[\w][\w .'-]{0,63}$"


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


USER_ATTRS = [
    "userAccountControl",
    "msDS-User-Account-Control-Computed",
    "accountExpires",
    "pwdLastSet",
    "lockoutTime",
    "memberOf",
]


def find_user(ctx: NodeContext, login: str) -> User:
    found = ldb_search(
        ctx,
        f"(&(objectClass=user)(sAMAccountName={login}))",
        USER_ATTRS,
        base=domain_dn(realm(ctx)),
    )
    if not found:
        raise FaultError(f"the directory of {ctx.node.name} has no user {login!r}")
    return User(found[0])


def find_group(ctx: NodeContext, name: str) -> Group:
    found = ldb_search(
        ctx,
        f"(&(objectClass=group)(sAMAccountName={name}))",
        ["sAMAccountName", "groupType"],
        base=domain_dn(realm(ctx)),
    )
    if not found:
        raise FaultError(f"the directory of {ctx.node.name} has no group {name!r}")
    return Group(found[0])


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
        policy = password_policy(ctx)
        threshold = policy.lockout_threshold
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
        if params.keep_locked and policy.lockout_duration != 0:
            ctx.run(
                ["samba-tool", "domain", "passwordsettings", "set", "--account-lockout-duration=0"]
            )
        return threshold

    def inject(self, ctx: NodeContext, params: Params) -> None:
        self.samba_only(ctx)
        if self.in_place(ctx, params):
            return
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
        return find_user(ctx, params.login).locked


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
        return not find_user(ctx, params.login).enabled


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
        user = find_user(ctx, params.login)
        # At midnight, as the "account expires" date field of the admin tools sets it.
        day = (int(time.time()) // 86400 - params.days_ago + 1) * 86400
        expires = datetime_to_filetime(datetime.fromtimestamp(day, UTC))
        ldb_modify(ctx, user.dn, "accountExpires", [str(expires)])

    def in_place(self, ctx: NodeContext, params: Params) -> bool:
        return find_user(ctx, params.login).expired(datetime.now(UTC))


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
        user = find_user(ctx, params.login)
        uac = user.uac
        if uac & UF_DONT_EXPIRE_PASSWD:
            # "Password never expires" cancels pwdLastSet = 0; the admin tools untick it
            # before they can tick "must change password at next logon".
            ldb_modify(ctx, user.dn, "userAccountControl", [str(uac & ~UF_DONT_EXPIRE_PASSWD)])
        if user.pwd_last_set != 0:
            ldb_modify(ctx, user.dn, "pwdLastSet", ["0"])

    def in_place(self, ctx: NodeContext, params: _User) -> bool:
        return find_user(ctx, params.login).must_change_password


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
        target = ou_dn(params.ou, domain_dn(realm(ctx)))
        if not ldb_search(ctx, "(objectClass=organizationalUnit)", ["dn"], base=target):
            raise FaultError(f"the directory has no OU {params.ou!r} ({target})")
        ctx.run(["samba-tool", "user", "move", params.login, target])

    def in_place(self, ctx: NodeContext, params: Params) -> bool:
        return in_ou(find_user(ctx, params.login).dn, params.ou)


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
        group = find_group(ctx, params.group)
        return not find_user(ctx, params.login).is_member_of(group.dn)


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
            names = [v.lower() for v in [*entry.attributes.get("displayname", []),
                                         *entry.attributes.get("cn", [])]]  # fmt: skip
            if gpo.lower() in names:
                return entry.dn
        raise FaultError(f"the directory has no GPO {gpo!r}")

    def _links(self, ctx: NodeContext, params: Params) -> tuple[str, list[GpoLink], int]:
        """(container DN, its links, index of the GPO's link)."""
        container = ou_dn(params.ou, domain_dn(realm(ctx)))
        found = ldb_search(ctx, "(objectClass=*)", ["gPLink"], base=container)
        found = [e for e in found if normalize_dn(e.dn) == normalize_dn(container)]
        if not found:
            raise FaultError(f"the directory has no OU {params.ou!r}")
        links = parse_gplink("".join(found[0].attributes.get("gplink", [])))
        gpo = normalize_dn(self._gpo_dn(ctx, params.gpo))
        for i, link in enumerate(links):
            if normalize_dn(link.dn) == gpo:
                return container, links, i
        raise FaultError(f"GPO {params.gpo!r} is not linked to {container}")

    def inject(self, ctx: NodeContext, params: Params) -> None:
        self.samba_only(ctx)
        container, links, i = self._links(ctx, params)
        if not links[i].enabled:
            return
        links[i] = links[i].with_enabled(False)
        ldb_modify(ctx, container, "gPLink", [render_gplink(links)])

    def in_place(self, ctx: NodeContext, params: Params) -> bool:
        _, links, i = self._links(ctx, params)
        return not links[i].enabled


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
