"""The brief's password (``ad.user`` ``password``), on what a live Samba DC answered.

The captures (``ad_user_password_*``) hold the binds a real DC answered (data 773, 52e, 533,
775) without the password; these tests replay them with one and check where it goes, and the
rule that the grader never makes the bad-password count reach the lockout threshold.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from graders import _password as pw

from graders_ad.replay import CAPTURED, ReplayDirectory
from tai_labs.grading.base import CHECKS
from tai_labs.grading.model import Verdict

SECRET = "Tempo-7kQz-Brief"  # stands for the lab's temp_password


def capture(name: str) -> dict[str, Any]:
    return json.loads((CAPTURED / f"ad_user_{name}.json").read_text(encoding="utf-8"))


def replay(cap: dict[str, Any], password: str = SECRET) -> tuple[Any, Any, ReplayDirectory]:
    plugin = CHECKS.get("ad.user")
    params = plugin.Params.model_validate({**cap["params"], "password": password})
    session = ReplayDirectory(cap["calls"], cap["base_dn"])
    evidence = plugin().collect(session, params)
    return plugin().judge(evidence, params), evidence, session


@pytest.mark.parametrize(
    ("name", "verdict", "code"),
    [
        ("password_must_change", Verdict.PASS, "data 773"),
        ("password_bound", Verdict.PASS, "succès"),
        ("password_disabled", Verdict.PASS, "data 533"),
        ("password_wrong", Verdict.FAIL, "data 52e"),
        ("password_locked", Verdict.FAIL, "data 775"),
        ("password_not_tried", Verdict.ERROR, "badPwdCount: 2"),
    ],
)
def test_verdict_and_decisive_answer(name: str, verdict: Verdict, code: str) -> None:
    judgement, _, _ = replay(capture(name))
    assert judgement.verdict is verdict, judgement
    assert code in judgement.decisive


def test_the_password_shows_nowhere() -> None:
    judgement, evidence, session = replay(capture("password_must_change"))
    assert session.passwords == [SECRET]  # it was tried...
    shown = [judgement.why_fr, judgement.why_en, judgement.decisive, repr(evidence.facts)]
    shown += [f"{c.command} {c.stdout} {c.stderr}" for c in evidence.commands]
    assert not [s for s in shown if SECRET in s]  # ...and is in no text a candidate may read
    bind = [c for c in evidence.commands if c.command.startswith("ldapwhoami")]
    assert len(bind) == 1 and pw.MASK in bind[0].command
    params = CHECKS.get("ad.user").Params.model_validate({"login": "x", "password": SECRET})
    assert SECRET not in repr(params) and SECRET not in params.model_dump_json()


def test_one_failure_short_of_the_threshold_is_not_tried() -> None:
    # Replayed without a recorded bind: trying one would raise (no recorded answer).
    judgement, evidence, session = replay(capture("password_not_tried"), "Pas-le-bon")
    assert session.passwords == []
    assert not [c for c in evidence.commands if c.command.startswith("ldapwhoami")]
    assert "verrouiller" in judgement.why_fr


def test_a_locked_account_is_not_tried() -> None:
    _, _, session = replay(capture("password_locked"))
    assert session.passwords == []


def test_old_failures_outside_the_observation_window_do_not_count() -> None:
    cap = capture("password_not_tried")
    facts = {
        "password_policy": cap["calls"][1]["entries"],
        "password_counts": cap["calls"][2]["entries"],
        "root_dse": cap["calls"][3]["entries"],
    }
    assert pw.attempts_left(facts) == (2, 3)
    facts["root_dse"] = [{"dn": "", "attributes": {"currenttime": ["20991231000000.0Z"]}}]
    assert pw.attempts_left(facts) == (0, 3)
    facts["password_policy"] = [{"dn": "", "attributes": {"lockoutthreshold": ["0"]}}]
    assert pw.attempts_left(facts) is None  # no lockout policy: nothing to fear


def test_bind_codes() -> None:
    assert pw.bind_code("80090308: LdapErr: ..., data 773, v1db1") == "773"
    assert pw.bind_code("invalidCredentials") is None


def test_exam_start_identities_do_not_bind() -> None:
    cap = capture("password_must_change")
    plugin = CHECKS.get("ad.user")
    params = plugin.Params.model_validate({**cap["params"], "password": SECRET})
    session = ReplayDirectory(cap["calls"], cap["base_dn"])
    assert set(plugin().identify(session, params)) == {"user"}
    assert session.passwords == []
