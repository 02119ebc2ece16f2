"""What the Active Directory checks share: the LDAP search kept as evidence, the verdicts.

Every search is kept in the evidence as an ``ldapsearch``-like command with its entries in
LDIF, so a jury reads what the DC answered; ``facts`` keep the same entries for ``decide``.
What the attributes mean (locked, enabled, member of, scopes, gPLink, OU paths) is defined
once in ``tai_labs.facts.directory``; what is here adds the grading rules and the wording.

The checks: ``graders/directory_accounts.py`` (users, computers),
``graders/directory_groups.py``, ``graders/directory_gpo.py``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from graders._decoding import decoding
from tai_labs.facts import directory as ad
from tai_labs.grading.base import Check
from tai_labs.grading.model import Evidence, Judgement
from tai_labs.kinds import kinds_offering
from tai_labs.plugins import ParamsT
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
    "objectGUID",
)
GROUP_ATTRS = ("distinguishedName", "sAMAccountName", "groupType", "objectGUID")
GPO_ATTRS = ("distinguishedName", "displayName", "cn", "flags", "objectGUID")

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


def guid_of(entries: Entries) -> str | None:
    """The objectGUID of the single entry; None when there is none or several."""
    return first(entries[0], "objectGUID") if len(entries) == 1 else None


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


def one(entries: Entries, what_fr: str, what_en: str, key: str) -> dict[str, Any] | Judgement:
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


def ou_check(v: Verdicts, dn: str, ou: str, what_fr: str) -> None:
    here = ad.container_path(dn) or "(racine du domaine)"
    v.check(
        ad.in_ou(dn, ou),
        f"{what_fr} est dans l'OU {ou}"
        if ad.in_ou(dn, ou)
        else f"{what_fr} est dans {here}, pas dans l'OU {ou}",
        f"object is in OU {ou}" if ad.in_ou(dn, ou) else f"object is in {here}, not in OU {ou}",
        f"dn: {dn}",
    )


def no_search(what_fr: str, what_en: str) -> Judgement:
    """``error``: the evidence holds no search for the object (``du compte``, ``user``)."""
    return Judgement.error(
        f"aucune recherche {what_fr} n'a été faite", f"no {what_en} search in evidence"
    )


def absence(entries: Entries, what_fr: str, what_en: str, key: str) -> Judgement:
    """The verdict on an object that must not exist: fail naming its DN, or pass."""
    if entries:
        return Judgement.failed(
            f"{what_fr} existe encore", f"{what_en} still exists", f"dn: {entries[0]['dn']}"
        )
    return Judgement.passed(
        f"{what_fr} n'existe pas", f"{what_en} does not exist", f"{key}: 0 entrée"
    )


# -- the base of the checks --------------------------------------------------------------------


@dataclass(frozen=True)
class Tracked:
    """An object a check is about, as found now: its objectGUID and how to say it was replaced
    ("le compte jdupont a été supprimé puis recréé")."""

    guid: str | None
    replaced_fr: str
    replaced_en: str


class DirectoryCheck(Check[ParamsT, DirectorySession]):
    """``decide`` reads the entries kept as facts; an answer that does not decode is ``error``.

    Objects named in ``tracked`` (``TrackedCheck``) keep their identity: what ``identify``
    found at exam start (``Evidence.baseline``) must be what is found now, or the check fails
    before ``decide`` (the same name on a new object is not the object the scenario is about).
    """

    session = "directory"
    node_kinds = DC

    def judge(self, evidence: Evidence, params: ParamsT) -> Judgement:
        return decoding(
            lambda: self.replaced(evidence, params) or self.decide(evidence.facts, params),
            "réponse de l'annuaire",
            "directory answer",
        )

    def decide(self, facts: dict[str, Any], params: ParamsT) -> Judgement:
        raise NotImplementedError

    def tracked(self, facts: dict[str, Any], params: ParamsT) -> dict[str, Tracked]:
        """The objects whose identity counts, found in ``collect``'s facts (none here:
        ``TrackedCheck`` is the base of the checks that have some)."""
        return {}

    def replaced(self, evidence: Evidence, params: ParamsT) -> Judgement | None:
        """``fail`` when an object found at exam start is now another one by the same name.

        An object gone since is not judged here: ``decide`` says it is missing.
        """
        now = self.tracked(evidence.facts, params)
        for key, was in evidence.baseline.items():
            found = now.get(key)
            if found is None or found.guid is None or found.guid == was:
                continue
            return Judgement.failed(
                f"{found.replaced_fr} : ce n'est plus le même objet",
                f"{found.replaced_en}: not the same object",
                f"objectGUID: {found.guid} (à l'ouverture de l'épreuve : {was})",
            )
        return None


class TrackedCheck(DirectoryCheck[ParamsT]):
    """A directory check about objects whose identity counts (accounts, groups, GPOs): at exam
    start ``identify`` records the objectGUID of each object ``tracked`` finds."""

    def tracked(self, facts: dict[str, Any], params: ParamsT) -> dict[str, Tracked]:
        raise NotImplementedError

    def identify(self, session: DirectorySession, params: ParamsT) -> dict[str, str]:
        found = self.tracked(self.collect(session, params).facts, params)
        return {key: t.guid for key, t in found.items() if t.guid}
