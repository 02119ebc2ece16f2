"""The domain's password and lockout policy, as it was at exam start.

A jury counts a domain-wide policy weakened to make one account work (lockout turned off,
complexity dropped) as collateral damage. There is no right value to compare with, only the
exam-start one: ``identify`` records the policy at exam start (the ``identities`` step, after
the faults), and ``judge`` fails on any attribute that differs now. Read over LDAPS from the
host, like every directory check.
"""

from __future__ import annotations

from typing import Any

from graders import _directory as d
from tai_labs.grading.base import register_check
from tai_labs.grading.model import Evidence, Judgement
from tai_labs.plugins import PluginParams
from tai_labs.sessions.base import DirectorySession

#: The domain object's policy attributes, with how a jury names them.
POLICY = {
    "minPwdLength": ("longueur minimale du mot de passe", "minimum password length"),
    "pwdProperties": ("complexité du mot de passe (pwdProperties)", "password properties"),
    "pwdHistoryLength": ("historique des mots de passe", "password history"),
    "maxPwdAge": ("durée de vie maximale du mot de passe", "maximum password age"),
    "minPwdAge": ("durée de vie minimale du mot de passe", "minimum password age"),
    "lockoutThreshold": ("seuil de verrouillage", "lockout threshold"),
    "lockoutDuration": ("durée de verrouillage", "lockout duration"),
    "lockOutObservationWindow": (
        "fenêtre d'observation du verrouillage",
        "lockout observation window",
    ),
}
#: Key prefix of the policy's values in the exam-start record.
KEY = "policy:"


@register_check
class DomainPolicy(d.DirectoryCheck["DomainPolicy.Params"]):
    name = "ad.domain_policy"
    summary = "The domain's password and lockout policy is as it was at exam start"

    class Params(PluginParams):
        pass

    def collect(self, session: DirectorySession, params: Params) -> Evidence:
        ev = Evidence()
        ev.facts["domain"] = d.search(
            session, ev, session.base_dn, "(objectClass=*)", list(POLICY), scope="base"
        )
        return ev

    def identify(self, session: DirectorySession, params: Params) -> dict[str, str]:
        return {KEY + name: value for name, value in _values(self.collect(session, params).facts)}

    def decide(self, facts: dict[str, Any], params: Params) -> Judgement:
        raise NotImplementedError  # judged against the exam-start record: see judge

    def judge(self, evidence: Evidence, params: Params) -> Judgement:
        was = {k[len(KEY) :]: v for k, v in evidence.baseline.items() if k.startswith(KEY)}
        if not was:
            return Judgement.error(
                "la politique de mots de passe n'a pas été relevée au début de l'épreuve : "
                "impossible de dire si elle a changé",
                "the policy was not recorded at exam start",
            )
        try:
            now = dict(_values(evidence.facts))
        except ValueError as exc:
            return Judgement.error(
                "réponse de l'annuaire illisible", f"directory answer: {exc}", str(exc)
            )
        changed = [(n, was.get(n), now.get(n)) for n in POLICY if was.get(n) != now.get(n)]
        shown = ", ".join(f"{n}: {now.get(n)}" for n in POLICY)
        if changed:
            return Judgement.failed(
                "la politique du domaine a été modifiée : "
                + " ; ".join(
                    f"{POLICY[n][0]} {a or 'absente'} → {b or 'absente'}" for n, a, b in changed
                ),
                "domain policy changed: "
                + "; ".join(f"{POLICY[n][1]} {a} -> {b}" for n, a, b in changed),
                "; ".join(f"{n}: {b} (début : {a})" for n, a, b in changed),
            )
        return Judgement.passed(
            "la politique de mots de passe et de verrouillage est celle du début de l'épreuve",
            "password and lockout policy unchanged since exam start",
            shown,
        )


def _values(facts: dict[str, Any]) -> list[tuple[str, str]]:
    entries = facts.get("domain")
    if not isinstance(entries, list) or len(entries) != 1:
        raise ValueError("the domain object was not found")
    return [(name, value) for name in POLICY if (value := d.first(entries[0], name)) is not None]
