"""Checks on Active Directory groups: scope, OU, members.

How the directory is searched and what is kept as evidence: ``graders/_directory.py``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from graders import _directory as d
from tai_labs.facts import directory as ad
from tai_labs.grading.base import register_check
from tai_labs.grading.model import Evidence, Judgement
from tai_labs.plugins import PluginParams
from tai_labs.sessions.base import DirectorySession, escape_filter


@register_check
class Group(d.TrackedCheck["Group.Params"]):
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
        found = ev.facts["group"] = d.search(
            session, ev, session.base_dn, d.group_filter(params.group), d.GROUP_ATTRS
        )
        if len(found) == 1 and params.members:
            # Members by login: the member attribute only holds DNs ("CN=Nadia Mercier,...").
            ev.facts["members"] = d.search(
                session,
                ev,
                session.base_dn,
                f"(memberOf={escape_filter(found[0]['dn'])})",
                ["sAMAccountName"],
            )
        return ev

    def tracked(self, facts: dict[str, Any], p: Params) -> dict[str, d.Tracked]:
        if not p.exists:
            return {}
        return {
            "group": d.Tracked(
                d.guid_of(facts.get("group", [])),
                f"le groupe {p.group} a été supprimé puis recréé",
                f"group {p.group} was deleted and recreated",
            )
        }

    def decide(self, facts: dict[str, Any], p: Params) -> Judgement:
        what = f"le groupe {p.group}"
        if "group" not in facts:
            return d.no_search("du groupe", "group")
        if not p.exists:
            return d.absence(facts["group"], what, f"group {p.group}", f"sAMAccountName={p.group}")
        group = d.one(facts["group"], what, f"group {p.group}", f"sAMAccountName={p.group}")
        if isinstance(group, Judgement):
            return group
        v = d.Verdicts()
        v.check(True, f"{what} existe", f"group {p.group} exists", f"dn: {group['dn']}")
        if p.scope is not None:
            raw = d.first(group, "groupType")
            scope = ad.Group(d.as_entry(group)).scope
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
            d.ou_check(v, group["dn"], p.ou, what)
        if p.members:
            if "members" not in facts:
                raise ValueError("members were not searched")
            have = {(d.first(e, "sAMAccountName") or "").casefold() for e in facts["members"]}
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
