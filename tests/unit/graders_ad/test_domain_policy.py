"""ad.domain_policy: the domain's password and lockout policy judged against the exam-start
record (the default invariant of docs/grading.md): any change fails, no record is an error."""

from __future__ import annotations

from typing import Any

from graders.directory_policy import KEY, DomainPolicy

from tai_labs.grading.identity import identifies
from tai_labs.grading.model import Evidence, Verdict

AT_START = {
    "minPwdLength": "7",
    "pwdProperties": "1",
    "pwdHistoryLength": "24",
    "maxPwdAge": "-37108517437440",
    "minPwdAge": "-864000000000",
    "lockoutThreshold": "3",
    "lockoutDuration": "0",
    "lockOutObservationWindow": "-18000000000",
}


def _evidence(now: dict[str, str], baseline: dict[str, str] | None) -> Evidence:
    ev = Evidence()
    entry: dict[str, Any] = {
        "dn": "DC=test,DC=lan",
        "attributes": {k.lower(): [v] for k, v in now.items()},
    }
    ev.facts["domain"] = [entry]
    ev.baseline = {KEY + k: v for k, v in (baseline or {}).items()}
    return ev


def judge(now: dict[str, str], baseline: dict[str, str] | None) -> Any:
    return DomainPolicy().judge(_evidence(now, baseline), DomainPolicy.Params())


def test_the_policy_as_it_was_holds() -> None:
    assert judge(AT_START, AT_START).verdict is Verdict.PASS


def test_lockout_turned_off_breaks_it_and_says_what_changed() -> None:
    got = judge({**AT_START, "lockoutThreshold": "0"}, AT_START)
    assert got.verdict is Verdict.FAIL
    assert "seuil de verrouillage 3 → 0" in got.why_fr
    assert "lockoutThreshold: 0" in got.decisive


def test_complexity_dropped_or_an_attribute_gone_breaks_it() -> None:
    assert judge({**AT_START, "pwdProperties": "0"}, AT_START).verdict is Verdict.FAIL
    gone = {k: v for k, v in AT_START.items() if k != "minPwdLength"}
    assert judge(gone, AT_START).verdict is Verdict.FAIL


def test_without_an_exam_start_record_it_is_not_judged() -> None:
    assert judge(AT_START, None).verdict is Verdict.ERROR


def test_no_domain_object_is_an_error() -> None:
    ev = _evidence(AT_START, AT_START)
    ev.facts["domain"] = []
    assert DomainPolicy().judge(ev, DomainPolicy.Params()).verdict is Verdict.ERROR


def test_it_is_recorded_at_exam_start() -> None:
    assert identifies("ad.domain_policy")
