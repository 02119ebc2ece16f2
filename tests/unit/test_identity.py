"""Exam-start identities (no lab): recorded by the checks that judge objects, given back to
``judge`` by the runner, and a replaced object fails while the same one is judged as before.

The real DC's answers for the same cases are in ``graders_ad/captured/*recreated*.json``
(replayed by test_captured) and their test in tests/integration/test_graders_ad.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from tai_labs.grading.base import CHECKS
from tai_labs.grading.identity import Identities, identifies, record_identities
from tai_labs.grading.model import Evidence, Verdict
from tai_labs.grading.runner import judge_on
from tai_labs.scenario.model import CheckUse
from tai_labs.sessions.base import DirectoryEntry, DirectorySession, SessionError

BASE = "DC=dupuis,DC=lan"
OLD, NEW = "0b3c2a9e-0000-4000-8000-000000000001", "0b3c2a9e-0000-4000-8000-000000000002"


class Directory(DirectorySession):
    """A directory of a few objects, searched by the sAMAccountName or displayName in the filter."""

    base_dn = BASE
    transport = "ldaps"

    def __init__(self, objects: dict[str, tuple[str, str]], reachable: bool = True) -> None:
        self.objects = objects  # name -> (dn, objectGUID)
        self.reachable = reachable

    def search(
        self,
        base: str,
        ldap_filter: str,
        attributes: Sequence[str],
        *,
        scope: str = "subtree",
        timeout: float = 15.0,
    ) -> list[DirectoryEntry]:
        if not self.reachable:
            raise SessionError("dc1: connection refused")
        found = []
        for name, (dn, guid) in self.objects.items():
            if f"sAMAccountName={name})" in ldap_filter or f"displayName={name})" in ldap_filter:
                found.append(
                    DirectoryEntry(
                        dn,
                        {
                            "distinguishedname": [dn],
                            "samaccountname": [name],
                            "useraccountcontrol": ["512"],
                            "objectguid": [guid],
                            "grouptype": ["-2147483646"],
                            "memberof": [self.objects["Comptabilite"][0]]
                            if "Comptabilite" in self.objects and name == "jdupont"
                            else [],
                        },
                    )
                )
        return found

    def bind_as(self, user: str, password: str, *, timeout: float = 10.0) -> tuple[bool, str]:
        raise NotImplementedError


def directory(user_guid: str = OLD, group_guid: str = OLD, reachable: bool = True) -> Directory:
    return Directory(
        {
            "jdupont": (f"CN=Jean Dupont,OU=Utilisateurs,OU=Siege,{BASE}", user_guid),
            "Comptabilite": (f"CN=Comptabilite,OU=Groupes,OU=Siege,{BASE}", group_guid),
            "Fond d'ecran": (f"CN={{31B2F340}},CN=Policies,CN=System,{BASE}", user_guid),
        },
        reachable,
    )


class Pool:
    def __init__(self, session: Any) -> None:
        self.session = session

    def get(self, node: str, kind: str) -> Any:
        return self.session


def use(check_id: str, grader: str, params: dict[str, Any]) -> CheckUse:
    return CheckUse.model_validate(
        {
            "id": check_id,
            "title": "Une vérification",
            "grader": grader,
            "target": "dc1",
            "params": params,
            "criterion": "C6.4",
            "points": 1,
            "messages": {"pass": "ok", "fail": "ko"},
        }
    )


USER = use("member", "ad.user", {"login": "jdupont", "member_of": ["Comptabilite"]})
GROUP = use("group", "ad.group", {"group": "Comptabilite"})
GPO = use("gpo", "ad.gpo", {"gpo": "Fond d'ecran"})
CHECKS_USED = [USER, GROUP, GPO]


def test_directory_checks_identify_and_state_checks_do_not() -> None:
    assert identifies("ad.user") and identifies("ad.group") and identifies("ad.gpo")
    # A rejoined workstation may get a new computer account: a valid fix, not tracked.
    assert not identifies("ad.computer")
    assert not identifies("linux.service")


def test_recorded_identities_name_each_object_of_each_check() -> None:
    record = record_identities(CHECKS_USED, Pool(directory()))
    assert record.of("member", "dc1") == {"user": OLD, "group:Comptabilite": OLD}
    assert record.of("group", "dc1") == {"group": OLD}
    assert record.of("gpo", "dc1") == {"gpo": OLD}
    assert record.of("member", "pc1") == {} and not record.unrecorded
    # The file the lab keeps reads back the same.
    assert Identities.model_validate_json(record.model_dump_json()) == record


def test_an_object_absent_at_exam_start_has_no_identity() -> None:
    empty = Directory({})
    assert record_identities([USER], Pool(empty)).checks == {}


def test_an_unreachable_dc_at_exam_start_is_said_not_hidden() -> None:
    said: list[tuple[str, str]] = []
    record = record_identities([USER], Pool(directory(reachable=False)), lambda *a: said.append(a))
    assert record.checks == {}
    assert record.unrecorded == {"member": "dc1: dc1: connection refused"}
    assert said == [("member", "dc1: dc1: connection refused")]


@pytest.mark.parametrize(
    ("check", "now", "phrase"),
    [
        (USER, directory(user_guid=NEW), "le compte jdupont a été supprimé puis recréé"),
        (USER, directory(group_guid=NEW), "le groupe Comptabilite a été supprimé puis recréé"),
        (GROUP, directory(group_guid=NEW), "le groupe Comptabilite a été supprimé puis recréé"),
        (GPO, directory(user_guid=NEW), "la GPO « Fond d'ecran » a été supprimée puis recréée"),
    ],
)
def test_a_replaced_object_fails_the_check(check: CheckUse, now: Directory, phrase: str) -> None:
    baseline = record_identities([check], Pool(directory())).of(check.id, "dc1")
    outcome = judge_on(check, "dc1", Pool(now), baseline)
    assert outcome.judgement.verdict is Verdict.FAIL
    assert outcome.judgement.why_fr == f"{phrase} : ce n'est plus le même objet"
    assert NEW in outcome.judgement.decisive and OLD in outcome.judgement.decisive
    # The same state with the same objects passes; without a record, the state alone counts.
    assert judge_on(check, "dc1", Pool(directory()), baseline).judgement.verdict is Verdict.PASS
    assert judge_on(check, "dc1", Pool(now), None).judgement.verdict is Verdict.PASS


def test_an_object_gone_since_is_judged_by_the_check_not_as_replaced() -> None:
    baseline = {"user": OLD}
    plugin = CHECKS.get("ad.user")
    params = plugin.Params(login="jdupont", exists=False)
    evidence = plugin().collect(Directory({}), params)
    evidence.baseline = baseline
    assert plugin().judge(evidence, params).verdict is Verdict.PASS  # deleted, as asked
    present = plugin.Params(login="jdupont")
    gone = Evidence(facts={"user": []}, baseline=baseline)
    judgement = plugin().judge(gone, present)
    assert judgement.verdict is Verdict.FAIL and "introuvable" in judgement.why_fr
