"""Practice mode in the portal over the ASGI test client: check my work, hints, reset, the
history; exam-mode refusals, other candidates' labs, CSRF, one grading at a time per lab, and
no lab secret nor grading evidence in anything the candidate receives.

No lab runs here: the practice library (``tai_labs.exam.practice``) is real, record included,
and only the three calls it makes into a running lab are replaced (``FakeLabLayer``: open,
grade, reset), the scenario being the real ``compte-verrouille`` rendered for the lab. The
browser test on a real lab is tests/e2e/test_portal_practice_lab.py.
"""

from __future__ import annotations

import html
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from starlette.testclient import TestClient
from test_portal_app import as_candidate, csrf_of

from portal_world import PortalWorld, make_portal_world
from tai_labs.errors import TaiLabsError
from tai_labs.exam import practice
from tai_labs.grading.model import Verdict
from tai_labs.grading.result import CheckResult, CompetenceResult, EvidenceItem, GradeReport
from tai_labs.lab.runtime import render_for_lab
from tai_labs.lab.secrets import LabSecrets
from tai_labs.lab.store import Store
from tai_labs.locations import locations
from tai_labs.portal import practice_pages
from tai_labs.portal.practice import CHECK_FAILED, NOTICES
from tai_labs.scenario.catalog import find

SCENARIO = find("compte-verrouille")
#: What the grader saw and why it decided: the candidate must never read either.
EVIDENCE = "lockoutTime: 133497 read over ldap from 10.250.0.2"
WHY = "lockoutTime non nul sur CN=durand"


@dataclass
class FakeLabLayer:
    """FAKE (no lab runs in unit tests): the lab calls of the practice library, on the real
    scenario; grading returns a report whose evidence holds the lab's admin password."""

    data: Path
    passed: bool = False
    fail_with: Exception | None = None
    gate: threading.Event = field(default_factory=threading.Event)
    graded: list[str] = field(default_factory=list)
    reset: list[str] = field(default_factory=list)
    threads: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.gate.set()

    def open_lab(self, lab_id: str) -> Any:
        record = Store(locations().store).lab(lab_id)
        secrets = LabSecrets(locations().lab(lab_id))
        loaded = render_for_lab(SCENARIO, lab_id, record.candidate, record.seed, secrets)
        return SimpleNamespace(loaded=loaded)

    def grade_lab(self, lab_id: str, **_: Any) -> GradeReport:
        self.threads.append(threading.current_thread().name)
        assert self.gate.wait(10)
        self.graded.append(lab_id)
        if self.fail_with is not None:
            raise self.fail_with
        secret = LabSecrets(locations().lab(lab_id)).get("admin_password")
        checks = [
            _check("unlocked", Verdict.PASS if self.passed else Verdict.FAIL, secret),
            _check("enabled", Verdict.PASS, secret),
        ]
        points = sum(c.points for c in checks)
        return GradeReport(
            lab=lab_id,
            scenario="compte-verrouille",
            scenario_title="Compte verrouillé",
            block="CCP2",
            candidate="alice",
            seed=11,
            started=datetime.now(UTC),
            finished=datetime.now(UTC),
            threshold=0.5,
            checks=checks,
            competences=[
                CompetenceResult(
                    id="C6",
                    title="C6",
                    block="CCP2",
                    points=points,
                    max_points=4,
                    acquired=points >= 2,
                    checks=[c.id for c in checks],
                )
            ],
            points=points,
            max_points=4,
        )

    def reset_lab(self, lab_id: str) -> None:
        self.threads.append(threading.current_thread().name)
        self.reset.append(lab_id)


def _check(check_id: str, verdict: Verdict, secret: str) -> CheckResult:
    return CheckResult(
        id=check_id,
        title=f"Contrôle {check_id}",
        grader="ad.user",
        targets=["dc1"],
        competence="C6",
        criterion="C6.4",
        criterion_text="x",
        verdict=verdict,
        points=2 if verdict is Verdict.PASS else 0,
        max_points=2,
        message=f"grader message {secret}",
        why_fr=WHY,
        why_en=WHY,
        decisive="lockoutTime",
        evidence=[EvidenceItem(node="dc1", transport="ldap", command="show", output=EVIDENCE)],
        seconds=0.1,
    )


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> PortalWorld:
    """A practice session whose labs' records name the real scenario file."""
    found = make_portal_world(tmp_path / "data", practice=True)
    monkeypatch.setenv("TAI_LABS_DATA", str(found.data))
    with sqlite3.connect(found.data / "state.db") as db:
        db.execute("UPDATE labs SET scenario_file = ?", (str(SCENARIO),))
    return found


@pytest.fixture
def lab_layer(world: PortalWorld, monkeypatch: pytest.MonkeyPatch) -> FakeLabLayer:
    fake = FakeLabLayer(world.data)
    monkeypatch.setattr(practice, "open_lab", fake.open_lab)
    monkeypatch.setattr(practice, "grade_lab", fake.grade_lab)
    monkeypatch.setattr(practice, "reset_lab", fake.reset_lab)
    return fake


def _idle(c: TestClient, lab: str) -> None:
    for _ in range(200):
        if c.get(f"/lab/{lab}/practice/state").json()["running"] is None:
            return
        time.sleep(0.02)
    raise AssertionError("the practice job never ended")


def _secrets(world: PortalWorld) -> list[str]:
    found = world.lab_secrets("alice") + world.lab_secrets("bruno")
    return [
        *found,
        world.passwords["alice"],
        "HOSTKEY",
        "node-secret",
        EVIDENCE,
        WHY,
        "grader message",
    ]


# -- check my work --------------------------------------------------------------------------------


def test_check_shows_each_verdict_and_message_and_records_the_attempt(
    world: PortalWorld, lab_layer: FakeLabLayer
) -> None:
    c = as_candidate(world)
    lab = world.labs["alice"]
    page = c.get(f"/lab/{lab}")
    assert "Vérifier mon travail" in page.text and "Aucune vérification enregistrée" in page.text
    answer = c.post(f"/lab/{lab}/check", data={"csrf": csrf_of(page.text)})
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/lab/{lab}#verification"
    assert lab_layer.graded == [lab]
    assert lab_layer.threads[0].startswith("practice")  # a worker thread, not the event loop
    page = c.get(f"/lab/{lab}")
    # the scenario's messages, the verdicts in French, the points
    assert "Le compte est toujours verrouillé." in page.text
    assert "échoué" in page.text and "réussi" in page.text
    assert "2 / 4 points" in page.text
    assert 'class="verdict-fail"' in page.text and 'class="verdict-pass"' in page.text
    record = practice.read_record(world.session, "alice")
    assert [(a.points, a.passed, a.total) for a in record.attempts] == [(2, 1, 2)]
    assert "<td>1 / 2</td>" in page.text  # the history row

    lab_layer.passed = True
    c.post(f"/lab/{lab}/check", data={"csrf": csrf_of(page.text)})
    page = c.get(f"/lab/{lab}")
    assert "Le compte n&#39;est plus verrouillé." in page.text and "4 / 4 points" in page.text
    assert page.text.index("<td>2 / 2</td>") < page.text.index("<td>1 / 2</td>")  # newest first


def test_a_failed_grading_says_so_without_its_reason(
    world: PortalWorld, lab_layer: FakeLabLayer
) -> None:
    c = as_candidate(world)
    lab = world.labs["alice"]
    lab_layer.fail_with = TaiLabsError(f"ssh to dc1 (10.250.0.2) failed: {EVIDENCE}")
    c.post(f"/lab/{lab}/check", data={"csrf": csrf_of(c.get(f"/lab/{lab}").text)})
    page = html.unescape(c.get(f"/lab/{lab}").text)
    assert CHECK_FAILED in page
    assert "10.250.0.2" not in page and EVIDENCE not in page
    lab_layer.fail_with = RuntimeError("boom in the grader")
    c.post(f"/lab/{lab}/check", data={"csrf": csrf_of(page)})
    assert "boom" not in c.get(f"/lab/{lab}").text


def test_two_clicks_grade_once_and_the_page_says_it_runs(
    world: PortalWorld, lab_layer: FakeLabLayer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(practice_pages, "CHECK_WAIT", 0.1)
    c = as_candidate(world)
    lab = world.labs["alice"]
    token = csrf_of(c.get(f"/lab/{lab}").text)
    lab_layer.gate.clear()  # the grading hangs until the gate opens
    try:
        assert c.post(f"/lab/{lab}/check", data={"csrf": token}).status_code == 303
        page = c.get(f"/lab/{lab}").text
        assert "Vérification de votre travail en cours" in page
        assert "data-practice-running" in page and 'http-equiv="refresh"' in page
        assert c.get(f"/lab/{lab}/practice/state").json() == {"running": "check"}
        # a second click joins the running grading; a reset is refused while it runs
        assert c.post(f"/lab/{lab}/check", data={"csrf": token}).status_code == 303
        busy = c.post(f"/lab/{lab}/reset", data={"csrf": token, "confirm": "oui"})
        assert busy.headers["location"] == f"/lab/{lab}?m=busy#pratique"
        assert NOTICES["busy"] in html.unescape(c.get(busy.headers["location"]).text)
    finally:
        lab_layer.gate.set()
    _idle(c, lab)
    assert lab_layer.graded == [lab] and lab_layer.reset == []
    assert len(practice.read_record(world.session, "alice").attempts) == 1
    page = c.get(f"/lab/{lab}").text
    assert "data-practice-running" not in page and "2 / 4 points" in page


# -- hints ----------------------------------------------------------------------------------------


def test_hints_are_revealed_one_by_one_with_their_cost(
    world: PortalWorld, lab_layer: FakeLabLayer
) -> None:
    c = as_candidate(world)
    lab = world.labs["alice"]
    page = c.get(f"/lab/{lab}").text
    assert "Révéler l'indice 1 (coût : 1 point(s))" in page
    assert "onglet « Compte »" not in page  # not before it is asked for
    answer = c.post(f"/lab/{lab}/hint", data={"csrf": csrf_of(page)})
    assert answer.headers["location"] == f"/lab/{lab}#indices"
    page = c.get(f"/lab/{lab}").text
    assert "onglet « Compte »" in page and "samba-tool user show" not in page
    assert "Révéler l'indice 2" in page and "coût total : 1 point(s)" in page
    c.post(f"/lab/{lab}/hint", data={"csrf": csrf_of(page)})
    page = c.get(f"/lab/{lab}").text
    assert "samba-tool user show" in page and "coût total : 2 point(s)" in page
    assert "Révéler l'indice" not in page and "tous les indices" in page
    # a page left open asks once more: told, nothing recorded
    over = c.post(f"/lab/{lab}/hint", data={"csrf": csrf_of(page)})
    assert over.headers["location"] == f"/lab/{lab}?m=hint-none#indices"
    assert NOTICES["hint-none"] in html.unescape(c.get(over.headers["location"]).text)
    record = practice.read_record(world.session, "alice")
    assert [(h.number, h.cost) for h in record.hints] == [(1, 1), (2, 1)]
    # the history says how many hints each attempt had used
    c.post(f"/lab/{lab}/check", data={"csrf": csrf_of(page)})
    assert "2 (coût : 2 point(s))" in c.get(f"/lab/{lab}").text


def test_the_page_shows_only_known_notices(world: PortalWorld, lab_layer: FakeLabLayer) -> None:
    c = as_candidate(world)
    page = c.get(f"/lab/{world.labs['alice']}?m=<b>Votre+note+:+20</b>").text
    assert "Votre note" not in page and "<b>" not in page


# -- reset ----------------------------------------------------------------------------------------


def test_reset_asks_for_a_confirmation_then_resets_once(
    world: PortalWorld, lab_layer: FakeLabLayer
) -> None:
    c = as_candidate(world)
    lab = world.labs["alice"]
    token = csrf_of(c.get(f"/lab/{lab}").text)
    confirm = c.post(f"/lab/{lab}/reset", data={"csrf": token})
    assert confirm.status_code == 200 and "Remettre le lab à zéro ?" in confirm.text
    assert (
        'name="confirm" value="oui"' in confirm.text
        and f'href="/lab/{lab}#pratique"' in confirm.text
    )
    assert lab_layer.reset == []  # nothing happened yet
    for wrong in ("non", "OUI", ""):
        c.post(f"/lab/{lab}/reset", data={"csrf": token, "confirm": wrong})
    assert lab_layer.reset == []
    done = c.post(f"/lab/{lab}/reset", data={"csrf": csrf_of(confirm.text), "confirm": "oui"})
    assert done.status_code == 303 and done.headers["location"] == f"/lab/{lab}#pratique"
    _idle(c, lab)
    assert lab_layer.reset == [lab] and lab_layer.threads[-1].startswith("practice")
    page = c.get(f"/lab/{lab}").text
    assert "Lab remis à zéro le" in page and "Remises à zéro : 1" in page
    assert len(practice.read_record(world.session, "alice").resets) == 1


# -- refusals -------------------------------------------------------------------------------------


def test_exam_mode_has_no_buttons_and_refuses_every_call(
    portal_world: PortalWorld, lab_layer_exam: FakeLabLayer
) -> None:
    c = as_candidate(portal_world)
    lab = portal_world.labs["alice"]
    page = c.get(f"/lab/{lab}").text
    for absent in (
        "Vérifier mon travail",
        "Révéler",
        "Remettre le lab",
        "/practice/state",
        "pratique",
    ):
        assert absent not in page, absent
    token = csrf_of(page)
    for action, data in (
        ("check", {}),
        ("hint", {}),
        ("reset", {}),
        ("reset", {"confirm": "oui"}),
    ):
        answer = c.post(f"/lab/{lab}/{action}", data={"csrf": token, **data})
        assert answer.status_code == 403 and "examen" in answer.text, action
    state = c.get(f"/lab/{lab}/practice/state")
    assert state.status_code == 403 and "examen" in state.json()["error"]
    assert lab_layer_exam.graded == lab_layer_exam.reset == []


def test_another_candidates_lab_is_404_for_every_practice_call(
    world: PortalWorld, lab_layer: FakeLabLayer
) -> None:
    c = as_candidate(world, "alice")
    token = csrf_of(c.get(f"/lab/{world.labs['alice']}").text)
    bruno = world.labs["bruno"]
    for action in ("check", "hint", "reset"):
        for extra in ({}, {"confirm": "oui"}):
            answer = c.post(f"/lab/{bruno}/{action}", data={"csrf": token, **extra})
            assert answer.status_code == 404, action
            assert "Bruno" not in answer.text and "bruno" not in answer.text
    assert c.get(f"/lab/{bruno}/practice/state").status_code == 404
    assert c.get("/lab/zzzzzz/practice/state").status_code == 404
    assert lab_layer.graded == lab_layer.reset == []
    assert practice.read_record(world.session, "bruno").hints == ()


def test_every_practice_call_needs_the_login_csrf_token(
    world: PortalWorld, lab_layer: FakeLabLayer
) -> None:
    c = as_candidate(world)
    lab = world.labs["alice"]
    other = as_candidate(world, "bruno")
    foreign = csrf_of(other.get(f"/lab/{world.labs['bruno']}").text)
    for action in ("check", "hint", "reset"):
        for data in ({}, {"csrf": "x" * 43}, {"csrf": foreign}, {"confirm": "oui"}):
            assert c.post(f"/lab/{lab}/{action}", data=data).status_code == 403, (action, data)
    anonymous = TestClient(c.app, follow_redirects=False)
    assert anonymous.post(f"/lab/{lab}/check", data={"csrf": foreign}).status_code == 403
    assert anonymous.get(f"/lab/{lab}/practice/state").status_code == 303
    assert lab_layer.graded == lab_layer.reset == []
    assert practice.read_record(world.session, "alice").hints == ()


# -- secrets --------------------------------------------------------------------------------------


def test_no_secret_nor_evidence_in_any_practice_response(
    world: PortalWorld, lab_layer: FakeLabLayer
) -> None:
    c = as_candidate(world)
    lab, bruno = world.labs["alice"], world.labs["bruno"]
    answers = []

    def keep(answer: Any) -> Any:
        answers.append(answer)
        return answer

    token = csrf_of(keep(c.get(f"/lab/{lab}")).text)
    for action, data in (
        ("check", {}),
        ("hint", {}),
        ("hint", {}),
        ("hint", {}),
        ("reset", {}),
        ("reset", {"confirm": "oui"}),
    ):
        answer = keep(c.post(f"/lab/{lab}/{action}", data={"csrf": token, **data}))
        if answer.status_code == 303:
            keep(c.get(answer.headers["location"]))
        keep(c.get(f"/lab/{lab}/practice/state"))
        keep(c.post(f"/lab/{bruno}/{action}", data={"csrf": token, **data}))
    _idle(c, lab)
    keep(c.post(f"/lab/{lab}/check", data={"csrf": token}))
    final = keep(c.get(f"/lab/{lab}"))
    keep(c.get("/static/practice.js"))
    assert "Le compte est toujours verrouillé." in final.text  # the scan read real pages
    assert "samba-tool user show" in final.text
    assert len(answers) > 25
    secrets = _secrets(world)
    assert any(len(s) > 8 for s in secrets)
    for answer in answers:
        blob = answer.text + str(answer.headers)
        for secret in secrets:
            assert secret not in blob, (answer.url, secret[:6])


@pytest.fixture
def lab_layer_exam(portal_world: PortalWorld, monkeypatch: pytest.MonkeyPatch) -> FakeLabLayer:
    monkeypatch.setenv("TAI_LABS_DATA", str(portal_world.data))
    fake = FakeLabLayer(portal_world.data)
    monkeypatch.setattr(practice, "open_lab", fake.open_lab)
    monkeypatch.setattr(practice, "grade_lab", fake.grade_lab)
    monkeypatch.setattr(practice, "reset_lab", fake.reset_lab)
    return fake


# -- self-service practice accounts ---------------------------------------------------------------


def test_a_self_service_lab_has_the_practice_panel_and_only_its_owner_uses_it(
    portal_world: PortalWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    from test_selfservice_portal import Portal, start

    monkeypatch.setenv("TAI_LABS_DATA", str(portal_world.data))
    fake = FakeLabLayer(portal_world.data)
    monkeypatch.setattr(practice, "open_lab", fake.open_lab)
    monkeypatch.setattr(practice, "grade_lab", fake.grade_lab)
    monkeypatch.setattr(practice, "reset_lab", fake.reset_lab)
    portal = Portal(portal_world)
    lea = portal.client("lea-martin")
    lab = start(lea, "compte-verrouille").rsplit("/", 1)[1]
    portal.ops.finish(0)
    page = lea.get(f"/lab/{lab}")
    assert page.status_code == 200 and "Révéler l'indice 1" in page.text
    token = csrf_of(page.text)
    assert lea.post(f"/lab/{lab}/check", data={"csrf": token}).status_code == 303
    assert lea.post(f"/lab/{lab}/hint", data={"csrf": token}).status_code == 303
    page = lea.get(f"/lab/{lab}").text
    assert "Le compte est toujours verrouillé." in page and "onglet « Compte »" in page
    assert fake.graded == [lab]
    paul = portal.client("paul-dubois")
    paul_token = csrf_of(paul.get("/practice").text)
    for action in ("check", "hint", "reset"):
        answer = paul.post(f"/lab/{lab}/{action}", data={"csrf": paul_token, "confirm": "oui"})
        assert answer.status_code == 404, action
    assert fake.graded == [lab] and fake.reset == []
