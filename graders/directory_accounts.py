"""Checks on the Active Directory, collected over an LDAP directory session.

Every search is kept in the evidence as an ``ldapsearch``-like command with its entries in
LDIF, so a jury reads what the DC answered; ``facts`` keep the same entries for ``judge``.
What the attributes mean (locked, enabled, member of, scopes, gPLink, OU paths) is defined
once in ``tai_labs.facts.directory``; what is here adds the grading rules and the wording.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal

from pydantic import Field

from graders._decoding import decoding
from tai_labs.facts import directory as ad
from tai_labs.grading.base import Check, register_check
from tai_labs.grading.model import Evidence, Judgement
from tai_labs.kinds import kinds_offering
from tai_labs.plugins import ParamsT, PluginParams
from tai_labs.sessions.base import CommandResult, DirectoryEntry, DirectorySession, escape_filter

DC = kinds_offering("directory")

USER_ATTRS = (
    "distinguishedName",
    "sAMAccountName",
    "userAccountControl",
    "lockoutTime",
    # Constructed: asked for by name. Bit 0x10 says whether the lockout still holds.
    "msDS-User-Account-Control-Computed",
    "accountExpires",
    "pwdLastSet",
    "memberOf",
)
GROUP_ATTRS = ("distinguishedName", "sAMAccountName", "groupType")
GPO_ATTRS = ("distinguishedName", "displayName", "cn", "flags")

Entries = list[dict[str, Any]]


# -- collect helpers ---------------------------------------------------------------------------


def to_ldif(entries: Sequence[DirectoryEntry]) -> str:
    if not entries:
        return "# 0 entrée / no entry\n"
    blocks = []
    for entry in entries:
        lines = [f"dn: {entry.dn}"]
        for name, values in sorted(entry.attributes.items()):
            lines += [f"{name}: {v}" for v in values]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"


def search(
    session: DirectorySession,
    evidence: Evidence,
    base: str,
    ldap_filter: str,
    attributes: Sequence[str],
    *,
    scope: str = "subtree",
) -> Entries:
    """Search, record the search and its answer as evidence, return the entries as facts."""
    entries = session.search(base, ldap_filter, attributes, scope=scope)
    command = (
        f'ldapsearch base="{base}" scope={scope} filter="{ldap_filter}" '
        f"attrs={','.join(attributes)}"
    )
    evidence.add(CommandResult(0, to_ldif(entries), "", command))
    return [
        {"dn": e.dn, "attributes": {k.lower(): list(v) for k, v in e.attributes.items()}}
        for e in entries
    ]


def first(entry: dict[str, Any], name: str) -> str | None:
    values = entry["attributes"].get(name.lower()) or []
    return values[0] if values else None


def values(entry: dict[str, Any], name: str) -> list[str]:
    return list(entry["attributes"].get(name.lower()) or [])


def as_entry(entry: dict[str, Any]) -> DirectoryEntry:
    """A fact entry (as ``search`` keeps it in the evidence) back as a directory entry."""
    return DirectoryEntry(entry["dn"], entry["attributes"])


def group_filter(name: str) -> str:
    return f"(&(objectClass=group)(sAMAccountName={escape_filter(name)}))"


# -- judge helpers -----------------------------------------------------------------------------


class Verdicts:
    """Gathers the outcome of each asked property; the first failure decides."""

    def __init__(self) -> None:
        self.fails: list[tuple[str, str, str]] = []
        self.passes: list[tuple[str, str, str]] = []

    def check(self, ok: bool, fr: str, en: str, decisive: str) -> None:
        (self.passes if ok else self.fails).append((fr, en, decisive))

    def judgement(self) -> Judgement:
        if self.fails:
            return Judgement.failed(
                " ; ".join(f for f, _, _ in self.fails),
                "; ".join(e for _, e, _ in self.fails),
                self.fails[0][2],
            )
        return Judgement.passed(
            " ; ".join(f for f, _, _ in self.passes),
            "; ".join(e for _, e, _ in self.passes),
            " | ".join(dict.fromkeys(d for _, _, d in self.passes if d)),
        )


def _one(entries: Entries, what_fr: str, what_en: str, key: str) -> dict[str, Any] | Judgement:
    """The single entry, or a fail (none) / error (several)."""
    if not entries:
        return Judgement.failed(
            f"{what_fr} est introuvable dans l'annuaire",
            f"{what_en} not found",
            f"{key} : 0 entrée",
        )
    if len(entries) > 1:
        dns = "; ".join(e["dn"] for e in entries)
        return Judgement.error(
            f"plusieurs objets correspondent à {what_fr}", f"several entries match {what_en}", dns
        )
    return entries[0]


def _decoding(judge: Callable[[], Judgement]) -> Judgement:
    return decoding(judge, "réponse de l'annuaire", "directory answer")


def _ou_check(v: Verdicts, dn: str, ou: str, what_fr: str) -> None:
    here = ad.container_path(dn) or "(racine du domaine)"
    v.check(
        ad.in_ou(dn, ou),
        f"{what_fr} est dans l'OU {ou}"
        if ad.in_ou(dn, ou)
        else f"{what_fr} est dans {here}, pas dans l'OU {ou}",
        f"object is in OU {ou}" if ad.in_ou(dn, ou) else f"object is in {here}, not in OU {ou}",
        f"dn: {dn}",
    )


# -- checks ------------------------------------------------------------------------------------


class DirectoryCheck(Check[ParamsT, DirectorySession]):
    session = "directory"
    node_kinds = DC


@register_check
class User(DirectoryCheck["User.Params"]):
    name = "ad.user"
    summary = "A user account: OU, enabled, locked, expired, must change password, groups"

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

    def collect(self, session: DirectorySession, params: Params) -> Evidence:
        ev = Evidence()
        ev.facts["user"] = search(
            session,
            ev,
            session.base_dn,
            f"(&(objectCategory=person)(objectClass=user)(sAMAccountName={escape_filter(params.login)}))",
            USER_ATTRS,
        )
        if not ev.facts["user"] or not params.exists:
            return ev
        if params.expired is not None:
            # The DC's own clock decides whether accountExpires is past, not the host's.
            ev.facts["root_dse"] = search(
                session, ev, "", "(objectClass=*)", ["currentTime"], scope="base"
            )
        ev.facts["groups"] = {
            name: search(session, ev, session.base_dn, group_filter(name), ["distinguishedName"])
            for name in dict.fromkeys([*params.member_of, *params.not_member_of])
        }
        return ev

    def judge(self, evidence: Evidence, params: Params) -> Judgement:
        return _decoding(lambda: self._judge(evidence.facts, params))

    def _judge(self, facts: dict[str, Any], p: Params) -> Judgement:
        what = f"le compte {p.login}"
        if "user" not in facts:
            return Judgement.error(
                "aucune recherche du compte n'a été faite", "no user search in evidence"
            )
        if not p.exists:
            if facts["user"]:
                dn = facts["user"][0]["dn"]
                return Judgement.failed(
                    f"{what} existe encore", f"account {p.login} still exists", f"dn: {dn}"
                )
            return Judgement.passed(
                f"{what} n'existe pas",
                f"account {p.login} does not exist",
                f"sAMAccountName={p.login}: 0 entrée",
            )
        user = _one(facts["user"], what, f"account {p.login}", f"sAMAccountName={p.login}")
        if isinstance(user, Judgement):
            return user
        dn = user["dn"]
        account = ad.User(as_entry(user))
        v = Verdicts()
        v.check(True, f"{what} existe", f"account {p.login} exists", f"dn: {dn}")
        if p.ou is not None:
            _ou_check(v, dn, p.ou, what)
        if p.enabled is not None:
            raw = first(user, "userAccountControl")
            enabled = account.enabled
            v.check(
                enabled == p.enabled,
                f"{what} est {'activé' if enabled else 'désactivé'}",
                f"account is {'enabled' if enabled else 'disabled'}",
                f"userAccountControl: {raw}",
            )
        if p.locked is not None:
            lockout_raw = first(user, "lockoutTime") or "0"
            computed_raw = first(user, "msDS-User-Account-Control-Computed")
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
            raw = first(user, "accountExpires")
            root = facts.get("root_dse") or []
            now_raw = first(root[0], "currentTime") if root else None
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
            pls_raw = first(user, "pwdLastSet")
            uac_raw = first(user, "userAccountControl")
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
                else f"memberOf: {'; '.join(values(user, 'memberOf')) or '(vide)'}",
            )
        return v.judgement()


@register_check
class Group(DirectoryCheck["Group.Params"]):
    name = "ad.group"
    summary = "A group exists with its scope, OU and (at least these) members"

    class Params(PluginParams):
        group: str = Field(min_length=1)
        exists: bool = True
        scope: Literal["global", "domainlocal", "universal"] | None = None
        ou: str | None = None
        members: list[str] = Field(default=[], description="logins that must be direct members")

    def collect(self, session: DirectorySession, params: Params) -> Evidence:
        ev = Evidence()
        found = ev.facts["group"] = search(
            session, ev, session.base_dn, group_filter(params.group), GROUP_ATTRS
        )
        if len(found) == 1 and params.members:
            # Members by login: the member attribute only holds DNs ("CN=Nadia Mercier,...").
            ev.facts["members"] = search(
                session,
                ev,
                session.base_dn,
                f"(memberOf={escape_filter(found[0]['dn'])})",
                ["sAMAccountName"],
            )
        return ev

    def judge(self, evidence: Evidence, params: Params) -> Judgement:
        return _decoding(lambda: self._judge(evidence.facts, params))

    def _judge(self, facts: dict[str, Any], p: Params) -> Judgement:
        what = f"le groupe {p.group}"
        if "group" not in facts:
            return Judgement.error(
                "aucune recherche du groupe n'a été faite", "no group search in evidence"
            )
        if not p.exists:
            if facts["group"]:
                return Judgement.failed(
                    f"{what} existe encore",
                    f"group {p.group} still exists",
                    f"dn: {facts['group'][0]['dn']}",
                )
            return Judgement.passed(
                f"{what} n'existe pas",
                f"group {p.group} does not exist",
                f"sAMAccountName={p.group}: 0 entrée",
            )
        group = _one(facts["group"], what, f"group {p.group}", f"sAMAccountName={p.group}")
        if isinstance(group, Judgement):
            return group
        v = Verdicts()
        v.check(True, f"{what} existe", f"group {p.group} exists", f"dn: {group['dn']}")
        if p.scope is not None:
            raw = first(group, "groupType")
            scope = ad.Group(as_entry(group)).scope
            labels = {
                "global": "globale",
                "domainlocal": "domaine local",
                "universal": "universelle",
            }
            if scope not in labels:  # builtin or no scope bit: nothing a scenario asks for
                raise ValueError(f"groupType {raw} has no scope bit")
            v.check(
                scope == p.scope,
                f"{what} a l'étendue {labels[scope]}",
                f"group scope is {scope}",
                f"groupType: {raw}",
            )
        if p.ou is not None:
            _ou_check(v, group["dn"], p.ou, what)
        if p.members:
            if "members" not in facts:
                raise ValueError("members were not searched")
            have = {(first(e, "sAMAccountName") or "").casefold() for e in facts["members"]}
            missing = [m for m in p.members if m.casefold() not in have]
            listed = ", ".join(sorted(filter(None, have))) or "aucun"
            v.check(
                not missing,
                f"il manque {', '.join(missing)} dans {what}"
                if missing
                else f"{', '.join(p.members)} sont membres de {what}",
                f"missing members: {', '.join(missing)}"
                if missing
                else "all expected members present",
                f"membres : {listed}",
            )
        return v.judgement()


@register_check
class GpoLink(DirectoryCheck["GpoLink.Params"]):
    name = "ad.gpo"
    summary = (
        "A GPO exists and is linked to an OU with the link enabled (or disabled, or not linked)"
    )

    class Params(PluginParams):
        gpo: str = Field(min_length=1, description="the GPO's display name")
        linked_to: str | None = Field(
            default=None, description="OU path such as Siege/Utilisateurs"
        )
        #: False: the GPO must not be linked to ``linked_to`` at all.
        linked: bool = True
        #: With ``linked``: the link must be enabled (True) or present but disabled (False).
        link_enabled: bool = True

    def collect(self, session: DirectorySession, params: Params) -> Evidence:
        ev = Evidence()
        ev.facts["gpo"] = search(
            session,
            ev,
            f"CN=Policies,CN=System,{session.base_dn}",
            f"(&(objectClass=groupPolicyContainer)(displayName={escape_filter(params.gpo)}))",
            GPO_ATTRS,
        )
        if params.linked_to:
            # Searched from the domain, not as a base: a missing OU is then "0 entries"
            # (a fail), not a noSuchObject error.
            leaf = [p for p in params.linked_to.split("/") if p][-1]
            ev.facts["ou_dn"] = ad.ou_dn(params.linked_to, session.base_dn)
            ev.facts["ou"] = search(
                session,
                ev,
                session.base_dn,
                f"(&(objectClass=organizationalUnit)(ou={escape_filter(leaf)}))",
                ["distinguishedName", "gPLink", "gPOptions"],
            )
        return ev

    def judge(self, evidence: Evidence, params: Params) -> Judgement:
        return _decoding(lambda: self._judge(evidence.facts, params))

    def _judge(self, facts: dict[str, Any], p: Params) -> Judgement:
        what = f"la GPO « {p.gpo} »"
        if "gpo" not in facts:
            return Judgement.error(
                "aucune recherche de GPO n'a été faite", "no GPO search in evidence"
            )
        gpo = _one(facts["gpo"], what, f"GPO {p.gpo!r}", f"displayName={p.gpo}")
        if isinstance(gpo, Judgement):
            return gpo
        gpo_dn = gpo["dn"]
        if not p.linked_to:
            return Judgement.passed(f"{what} existe", f"GPO {p.gpo!r} exists", f"dn: {gpo_dn}")
        if "ou" not in facts:
            raise ValueError("the OU was not searched")
        wanted = ad.normalize_dn(facts["ou_dn"])
        ous = [e for e in facts["ou"] if ad.normalize_dn(e["dn"]) == wanted]
        if not ous:
            return Judgement.failed(
                f"l'OU {p.linked_to} est introuvable",
                f"OU {p.linked_to} not found",
                f"dn: {facts['ou_dn']}: 0 entrée",
            )
        gplink = first(ous[0], "gPLink") or ""
        links = [
            lk
            for lk in ad.parse_gplink(gplink)
            if ad.normalize_dn(lk.dn) == ad.normalize_dn(gpo_dn)
        ]
        decisive = f"gPLink: {gplink or '(vide)'}"
        where = f"l'OU {p.linked_to}"
        if not p.linked:
            if links:
                return Judgement.failed(
                    f"{what} est encore liée à {where}",
                    f"GPO still linked to {p.linked_to}",
                    decisive,
                )
            return Judgement.passed(
                f"{what} n'est pas liée à {where}", f"GPO not linked to {p.linked_to}", decisive
            )
        if not links:
            return Judgement.failed(
                f"{what} n'est pas liée à {where}", f"GPO not linked to {p.linked_to}", decisive
            )
        link = links[0]
        state_fr = "activé" if link.enabled else "désactivé"
        if link.enabled != p.link_enabled:
            return Judgement.failed(
                f"{what} est liée à {where} mais le lien est {state_fr}",
                f"GPO linked to {p.linked_to} but the link is {link.state}",
                f"{decisive} ({link.state})",
            )
        return Judgement.passed(
            f"{what} est liée à {where}, lien {state_fr}",
            f"GPO linked to {p.linked_to}, link {'enabled' if link.enabled else 'disabled'}",
            f"{decisive} ({link.state})",
        )


@register_check
class Computer(DirectoryCheck["Computer.Params"]):
    name = "ad.computer"
    summary = "A computer object exists (or not) in the given OU"

    class Params(PluginParams):
        computer: str = Field(min_length=1, description="the computer's name (PC1 or PC1$)")
        exists: bool = True
        ou: str | None = None

    def collect(self, session: DirectorySession, params: Params) -> Evidence:
        ev = Evidence()
        account = params.computer if params.computer.endswith("$") else params.computer + "$"
        ev.facts["computer"] = search(
            session,
            ev,
            session.base_dn,
            f"(&(objectClass=computer)(sAMAccountName={escape_filter(account)}))",
            ["distinguishedName", "sAMAccountName", "dNSHostName"],
        )
        return ev

    def judge(self, evidence: Evidence, params: Params) -> Judgement:
        return _decoding(lambda: self._judge(evidence.facts, params))

    def _judge(self, facts: dict[str, Any], p: Params) -> Judgement:
        what = f"l'ordinateur {p.computer.rstrip('$')}"
        if "computer" not in facts:
            return Judgement.error(
                "aucune recherche de l'ordinateur n'a été faite", "no computer search in evidence"
            )
        if not p.exists:
            if facts["computer"]:
                return Judgement.failed(
                    f"{what} existe encore",
                    "computer still exists",
                    f"dn: {facts['computer'][0]['dn']}",
                )
            return Judgement.passed(
                f"{what} n'existe pas",
                "computer does not exist",
                f"sAMAccountName={p.computer}: 0 entrée",
            )
        computer = _one(
            facts["computer"], what, f"computer {p.computer}", f"sAMAccountName={p.computer}"
        )
        if isinstance(computer, Judgement):
            return computer
        v = Verdicts()
        v.check(True, f"{what} existe", "computer exists", f"dn: {computer['dn']}")
        if p.ou is not None:
            _ou_check(v, computer["dn"], p.ou, what)
        return v.judgement()
