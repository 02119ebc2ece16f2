"""Checks on Active Directory accounts: users and computers.

How the directory is searched and what is kept as evidence: ``graders/_directory.py``.
"""

from __future__ import annotations

import unicodedata
from typing import Any

from pydantic import Field, SecretStr

from graders import _directory as d
from graders import _password as pw
from tai_labs.facts import directory as ad
from tai_labs.grading.base import register_check
from tai_labs.grading.model import Evidence, Judgement
from tai_labs.plugins import PluginParams
from tai_labs.sessions.base import DirectorySession, escape_filter

#: The names the brief gives, read only when a check asks for them.
NAME_ATTRS = ("givenName", "sn")


def same_name(found: str, wanted: str) -> bool:
    """As a jury reads a name: case, accents and surrounding spaces do not matter."""

    def plain(text: str) -> str:
        decomposed = unicodedata.normalize("NFKD", text.strip())
        return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()

    return plain(found) == plain(wanted)


@register_check
class User(d.TrackedCheck["User.Params"]):
    name = "ad.user"
    summary = (
        "A user account: OU, enabled, locked, expired, must change password, groups, "
        "the brief's password"
    )

    class Params(PluginParams):
        login: str = Field(min_length=1)
        exists: bool = True
        ou: str | None = Field(default=None, description="OU path such as Siege/Utilisateurs")
        enabled: bool | None = None
        locked: bool | None = None
        expired: bool | None = None
        must_change_password: bool | None = None
        member_of: list[str] = Field(default=[], description="direct membership, by group name")
        not_member_of: list[str] = []
        first: str | None = Field(default=None, description="given name the brief gives")
        last: str | None = Field(default=None, description="surname the brief gives")
        password: SecretStr | None = Field(
            default=None,
            description="the password the brief gives: tried by an LDAPS bind as the account "
            "(masked in evidence and reports; not tried when one more failure could lock it)",
        )

    def collect(self, session: DirectorySession, params: Params) -> Evidence:
        ev = Evidence()
        ev.facts["user"] = d.search(
            session,
            ev,
            session.base_dn,
            f"(&(objectCategory=person)(objectClass=user)(sAMAccountName={escape_filter(params.login)}))",
            d.USER_ATTRS,
        )
        if not ev.facts["user"] or not params.exists:
            return ev
        if params.expired is not None:
            # The DC's own clock decides whether accountExpires is past, not the host's.
            ev.facts["root_dse"] = d.search(
                session, ev, "", "(objectClass=*)", ["currentTime"], scope="base"
            )
        ev.facts["groups"] = {
            name: d.search(
                session,
                ev,
                session.base_dn,
                d.group_filter(name),
                ["distinguishedName", "objectGUID"],
            )
            for name in dict.fromkeys([*params.member_of, *params.not_member_of])
        }
        if (params.first is not None or params.last is not None) and len(ev.facts["user"]) == 1:
            ev.facts["names"] = d.search(
                session, ev, ev.facts["user"][0]["dn"], "(objectClass=*)", NAME_ATTRS, scope="base"
            )
        if params.password is not None and len(ev.facts["user"]) == 1:
            pw.collect(
                session, ev, ev.facts["user"][0], params.login, params.password.get_secret_value()
            )
        return ev

    def identify(self, session: DirectorySession, params: Params) -> dict[str, str]:
        # Identities only: no bind with the brief's password at exam start.
        return super().identify(session, params.model_copy(update={"password": None}))

    def tracked(self, facts: dict[str, Any], p: Params) -> dict[str, d.Tracked]:
        if not p.exists:
            return {}
        out = {
            "user": d.Tracked(
                d.guid_of(facts.get("user", [])),
                f"le compte {p.login} a été supprimé puis recréé",
                f"account {p.login} was deleted and recreated",
            )
        }
        for name, entries in facts.get("groups", {}).items():
            out[f"group:{name}"] = d.Tracked(
                d.guid_of(entries),
                f"le groupe {name} a été supprimé puis recréé",
                f"group {name} was deleted and recreated",
            )
        return out

    def decide(self, facts: dict[str, Any], p: Params) -> Judgement:
        what = f"le compte {p.login}"
        if "user" not in facts:
            return d.no_search("du compte", "user")
        if not p.exists:
            return d.absence(facts["user"], what, f"account {p.login}", f"sAMAccountName={p.login}")
        user = d.one(facts["user"], what, f"account {p.login}", f"sAMAccountName={p.login}")
        if isinstance(user, Judgement):
            return user
        dn = user["dn"]
        account = ad.User(d.as_entry(user))
        v = d.Verdicts()
        v.check(True, f"{what} existe", f"account {p.login} exists", f"dn: {dn}")
        if p.ou is not None:
            d.ou_check(v, dn, p.ou, what)
        if p.enabled is not None:
            raw = d.first(user, "userAccountControl")
            enabled = account.enabled
            v.check(
                enabled == p.enabled,
                f"{what} est {'activé' if enabled else 'désactivé'}",
                f"account is {'enabled' if enabled else 'disabled'}",
                f"userAccountControl: {raw}",
            )
        if p.locked is not None:
            lockout_raw = d.first(user, "lockoutTime") or "0"
            computed_raw = d.first(user, "msDS-User-Account-Control-Computed")
            locked = account.locked
            lockout = account.lockout_time
            decisive = f"lockoutTime: {lockout_raw}"
            if lockout > 0:
                decisive += f", msDS-User-Account-Control-Computed: {computed_raw}"
            if lockout > 0 and not locked:
                state_fr, state_en = (
                    "n'est plus verrouillé (verrouillage expiré)",
                    "not locked (lockout expired)",
                )
            else:
                state_fr = "est verrouillé" if locked else "n'est pas verrouillé"
                state_en = "locked" if locked else "not locked"
            v.check(locked == p.locked, f"{what} {state_fr}", f"account is {state_en}", decisive)
        if p.expired is not None:
            raw = d.first(user, "accountExpires")
            root = facts.get("root_dse") or []
            now_raw = d.first(root[0], "currentTime") if root else None
            if now_raw is None:
                raise ValueError("the DC's currentTime is missing")
            now = ad.parse_generalized_time(now_raw)
            expires = account.account_expires
            expired = account.expired(now)
            when = (
                "jamais"
                if expires in ad.NEVER_EXPIRES
                else ad.filetime_to_datetime(expires).strftime("%d/%m/%Y %H:%M UTC")
            )
            v.check(
                expired == p.expired,
                f"{what} {'a expiré' if expired else 'n’est pas expiré'} (expiration : {when})",
                f"account {'expired' if expired else 'not expired'} (expires: {when})",
                f"accountExpires: {raw} (currentTime: {now_raw})",
            )
        if p.must_change_password is not None:
            pls_raw = d.first(user, "pwdLastSet")
            uac_raw = d.first(user, "userAccountControl")
            must = account.must_change_password
            never = pls_raw == "0" and not must
            v.check(
                must == p.must_change_password,
                "le changement de mot de passe à la prochaine ouverture de session "
                + f"{'est' if must else 'n’est pas'} imposé"
                + (" (le mot de passe n'expire jamais)" if never else ""),
                f"password change at next logon {'is' if must else 'is not'} required"
                + (" (password never expires)" if never else ""),
                f"pwdLastSet: {pls_raw}" + (f", userAccountControl: {uac_raw}" if never else ""),
            )
        groups = facts.get("groups", {})
        for name, expected in [
            *((g, True) for g in p.member_of),
            *((g, False) for g in p.not_member_of),
        ]:
            found = groups.get(name)
            if found is None:
                raise ValueError(f"group {name} was not searched")
            if not found:
                if expected:
                    v.check(
                        False,
                        f"le groupe {name} est introuvable",
                        f"group {name} not found",
                        f"sAMAccountName={name}: 0 entrée",
                    )
                    continue
                return Judgement.error(
                    f"le groupe {name} est introuvable : impossible de juger l'appartenance",
                    f"group {name} not found: cannot judge membership",
                    f"sAMAccountName={name}: 0 entrée",
                )
            group_dn = found[0]["dn"]
            member = account.is_member_of(group_dn)
            v.check(
                member == expected,
                f"{what} {'est' if member else 'n’est pas'} membre de {name}",
                f"account {'is' if member else 'is not'} a member of {name}",
                f"memberOf: {group_dn}"
                if member
                else f"memberOf: {'; '.join(d.values(user, 'memberOf')) or '(vide)'}",
            )
        for attr, wanted, fr, en in (
            ("givenName", p.first, "prénom", "given name"),
            ("sn", p.last, "nom", "surname"),
        ):
            if wanted is None:
                continue
            names = facts.get("names") or []
            if len(names) != 1:
                raise ValueError("the account's names were not read")
            found = d.first(names[0], attr)
            ok = found is not None and same_name(found, wanted)
            v.check(
                ok,
                (f"le {fr} renseigné est « {found} »" if found else f"le {fr} n'est pas renseigné")
                + ("" if ok else f", et non « {wanted} »"),
                f"{en} is {found!r}" + ("" if ok else f", not {wanted!r}"),
                f"{attr}: {found or '(absent)'} (attendu : {wanted})",
            )
        if p.password is not None:
            unjudged = pw.judge(v, facts, what)
            if unjudged is not None:
                return unjudged
        return v.judgement()


@register_check
class Computer(d.DirectoryCheck["Computer.Params"]):
    """Not ``tracked``: joining a workstation to the domain again, which may recreate its
    account, is a fix a jury accepts for a broken secure channel."""

    name = "ad.computer"
    summary = "A computer object exists (or not) in the given OU"

    class Params(PluginParams):
        computer: str = Field(min_length=1, description="the computer's name (PC1 or PC1$)")
        exists: bool = True
        ou: str | None = None

    def collect(self, session: DirectorySession, params: Params) -> Evidence:
        ev = Evidence()
        account = params.computer if params.computer.endswith("$") else params.computer + "$"
        ev.facts["computer"] = d.search(
            session,
            ev,
            session.base_dn,
            f"(&(objectClass=computer)(sAMAccountName={escape_filter(account)}))",
            ["distinguishedName", "sAMAccountName", "dNSHostName"],
        )
        return ev

    def decide(self, facts: dict[str, Any], p: Params) -> Judgement:
        what = f"l'ordinateur {p.computer.rstrip('$')}"
        if "computer" not in facts:
            return d.no_search("de l'ordinateur", "computer")
        if not p.exists:
            return d.absence(facts["computer"], what, "computer", f"sAMAccountName={p.computer}")
        computer = d.one(
            facts["computer"], what, f"computer {p.computer}", f"sAMAccountName={p.computer}"
        )
        if isinstance(computer, Judgement):
            return computer
        v = d.Verdicts()
        v.check(True, f"{what} existe", "computer exists", f"dn: {computer['dn']}")
        if p.ou is not None:
            d.ou_check(v, computer["dn"], p.ou, what)
        return v.judgement()
