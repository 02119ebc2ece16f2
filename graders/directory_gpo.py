"""Checks on Group Policy: a GPO and its link to an OU.

How the directory is searched and what is kept as evidence: ``graders/_directory.py``.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from graders import _directory as d
from tai_labs.facts import directory as ad
from tai_labs.grading.base import register_check
from tai_labs.grading.model import Evidence, Judgement
from tai_labs.plugins import PluginParams
from tai_labs.sessions.base import DirectorySession, escape_filter


@register_check
class GpoLink(d.TrackedCheck["GpoLink.Params"]):
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
        ev.facts["gpo"] = d.search(
            session,
            ev,
            f"CN=Policies,CN=System,{session.base_dn}",
            f"(&(objectClass=groupPolicyContainer)(displayName={escape_filter(params.gpo)}))",
            d.GPO_ATTRS,
        )
        if params.linked_to:
            # Searched from the domain, not as a base: a missing OU is then "0 entries"
            # (a fail), not a noSuchObject error.
            leaf = [p for p in params.linked_to.split("/") if p][-1]
            ev.facts["ou_dn"] = ad.ou_dn(params.linked_to, session.base_dn)
            ev.facts["ou"] = d.search(
                session,
                ev,
                session.base_dn,
                f"(&(objectClass=organizationalUnit)(ou={escape_filter(leaf)}))",
                ["distinguishedName", "gPLink", "gPOptions"],
            )
        return ev

    def tracked(self, facts: dict[str, Any], p: Params) -> dict[str, d.Tracked]:
        # Its settings live with it (GPT in the SYSVOL, named by its GUID): a new GPO by the
        # same name has lost them, and every other link to the old one dangles.
        return {
            "gpo": d.Tracked(
                d.guid_of(facts.get("gpo", [])),
                f"la GPO « {p.gpo} » a été supprimée puis recréée",
                f"GPO {p.gpo!r} was deleted and recreated",
            )
        }

    def decide(self, facts: dict[str, Any], p: Params) -> Judgement:
        what = f"la GPO « {p.gpo} »"
        if "gpo" not in facts:
            return d.no_search("de GPO", "GPO")
        gpo = d.one(facts["gpo"], what, f"GPO {p.gpo!r}", f"displayName={p.gpo}")
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
        gplink = d.first(ous[0], "gPLink") or ""
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
