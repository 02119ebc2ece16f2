"""Invariants: what must not change earns nothing when it holds and costs its points when
broken; no check gives points for doing nothing (loader and selftest)."""

from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_grading_runner import FakeSession, FakeSessions, FileSays

from tai_labs.grading.base import CHECKS
from tai_labs.grading.model import Verdict
from tai_labs.grading.runner import grade
from tai_labs.lab.selftest import start_problems
from tai_labs.reports import grading as render
from tai_labs.scenario import invariants as default_invariants
from tai_labs.scenario.loader import load_scenario, validate

GOLDEN = Path(__file__).resolve().parent.parent / "golden" / "errors"

INVARIANTS = """
  - id: colleague
    title: Le compte d'un collègue est intact
    grader: ad.user
    target: dc1
    params: {login: colleague}
    criterion: C6.2
    points: 3
    invariant: true
    messages: {pass: intact, fail: abîmé}
  - id: boss
    title: Le compte de la direction est intact
    grader: ad.user
    target: dc1
    params: {login: boss}
    criterion: C6.2
    points: 2
    invariant: "{{ login == 'jdupont' }}"
    messages: {pass: intact, fail: abîmé}
faults:"""


@pytest.fixture
def fake_check() -> Iterator[None]:
    real = CHECKS.get("ad.user")
    CHECKS._group.items["ad.user"] = FileSays
    yield
    CHECKS._group.items["ad.user"] = real


def _case(tmp_path: Path, text: str) -> Path:
    shutil.copytree(GOLDEN / "valid", tmp_path / "case")
    shutil.copytree(GOLDEN / "_topologies", tmp_path / "_topologies")
    file = tmp_path / "case" / "scenario.yaml"
    file.write_text(file.read_text().replace("faults:", text, 1))
    return file


@pytest.fixture
def scenario(tmp_path: Path) -> Any:
    return load_scenario(_case(tmp_path, INVARIANTS)).scenario


def run(scenario: Any, **state: str) -> Any:
    files = {f"/state/{login}": value for login, value in state.items()}
    sessions = FakeSessions({"dc1": FakeSession(files, True)})
    return grade(scenario, sessions, lab="abc123", candidate="alice", seed=1)


def test_an_invariant_is_a_template_and_adds_nothing_to_the_maximum(scenario: Any) -> None:
    assert [c.invariant for c in scenario.checks] == [False, True, True]
    assert scenario.total_points == 2  # unlocked only
    assert [scenario.expected_at_start(c) for c in scenario.checks] == ["fail", "pass", "pass"]


def test_invariants_that_hold_earn_nothing(fake_check: None, scenario: Any) -> None:
    report = run(scenario, jdupont="ok", colleague="ok", boss="ok")
    held = report.checks[1]
    assert held.invariant and held.verdict is Verdict.PASS
    assert (held.points, held.max_points, held.penalty) == (0, 0, 3)
    assert (report.points, report.max_points, report.penalties) == (2, 2, 0)
    assert report.competences[0].acquired and report.competences[0].penalties == 0
    assert report.exit_code == 0


def test_doing_nothing_earns_nothing(fake_check: None, scenario: Any) -> None:
    report = run(scenario, jdupont="locked", colleague="ok", boss="ok")
    assert (report.points, report.max_points) == (0, 2)
    assert not report.competences[0].acquired


def test_a_broken_invariant_costs_its_points_in_its_competence(
    fake_check: None, scenario: Any
) -> None:
    # The fix is done (2 points) and the colleague's account damaged (-3): floored at 0.
    report = run(scenario, jdupont="ok", colleague="deleted", boss="ok")
    broken = report.checks[1]
    assert broken.verdict is Verdict.FAIL and broken.points == -3 and broken.max_points == 0
    comp = report.competences[0]
    assert (comp.points, comp.max_points, comp.penalties) == (0, 2, 3)
    assert not comp.acquired
    assert (report.points, report.max_points, report.penalties) == (0, 2, 3)
    assert report.exit_code == 1


def test_a_penalty_takes_from_what_was_earned(fake_check: None, tmp_path: Path) -> None:
    text = INVARIANTS.replace("points: 3", "points: 0.5")
    scenario = load_scenario(_case(tmp_path, text)).scenario
    report = run(scenario, jdupont="ok", colleague="deleted", boss="ok")
    comp = report.competences[0]
    assert (comp.points, comp.penalties) == (1.5, 0.5)
    assert comp.acquired  # 1.5 / 2 is past the default threshold
    assert report.points == 1.5


def test_an_invariant_that_cannot_be_judged_costs_nothing(fake_check: None, scenario: Any) -> None:
    report = run(scenario, jdupont="ok", colleague="", boss="ok")  # empty: error
    assert report.checks[1].verdict is Verdict.ERROR and report.checks[1].points == 0
    assert report.penalties == 0 and report.exit_code == 3


def test_every_report_shows_the_broken_invariant(fake_check: None, scenario: Any) -> None:
    report = run(scenario, jdupont="ok", colleague="deleted", boss="ok")
    data = json.loads(render.to_json(report))
    assert data["checks"][1]["invariant"] is True and data["checks"][1]["points"] == -3
    assert data["competences"][0]["penalties"] == 3 and data["penalties"] == 3
    suite = ET.fromstring(render.to_junit(report))
    failure = suite.find("testcase[@name='colleague']/failure")
    assert failure is not None and failure.get("type") == "invariant"
    assert "-3 points" in (failure.get("message") or "")
    props = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert props["penalties"] == "3" and props["points"] == "0/2"
    page = render.to_html(report)
    assert "À préserver : Le compte d&#39;un collègue est intact" in page
    assert "rompu · −3 (dommage collatéral)" in page
    assert "préservé · 0 (−2 si rompu)" in page
    assert "Invariants préservés<b>1 / 2</b>" in page
    assert "dont −3 pour dommage(s) collatéral(aux)" in page
    assert render.verdict_fr(report.checks[0]) == "réussi"
    assert render.points_fr(report.checks[0]) == "2/2"


def test_junit_without_invariants_is_unchanged(fake_check: None, scenario: Any) -> None:
    report = run(scenario, jdupont="ok", colleague="ok", boss="ok")
    names = [p.get("name") for p in ET.fromstring(render.to_junit(report)).iter("property")]
    assert "penalties" not in names


def test_selftest_refuses_points_for_doing_nothing(fake_check: None, scenario: Any) -> None:
    clean = run(scenario, jdupont="locked", colleague="ok", boss="ok")
    assert start_problems(scenario, clean) == []
    free = run(scenario, jdupont="ok", colleague="ok", boss="ok")
    (problem,) = start_problems(scenario, free)
    assert problem.startswith("unlocked: gives points for doing nothing")
    broken = run(scenario, jdupont="locked", colleague="deleted", boss="ok")
    (problem,) = start_problems(scenario, broken)
    assert problem.startswith("colleague: invariant broken at exam start (fail")


def test_the_loader_refuses_a_check_no_fault_breaks(tmp_path: Path) -> None:
    text = INVARIANTS.replace("    invariant: true\n", "", 1)
    problems = validate(_case(tmp_path, text))
    (problem,) = problems
    assert problem.keypath == ("checks", 1, "id")
    assert "give points for doing nothing" in problem.message
    assert problem.hint is not None and "invariant: true" in problem.hint
    assert problem.location is not None and problem.location.line > 0


def test_a_competence_assessed_only_by_invariants_is_refused(tmp_path: Path) -> None:
    text = INVARIANTS.replace("criterion: C6.2", "criterion: C6.4")
    file = _case(tmp_path, text)
    file.write_text(
        file.read_text().replace(
            "    criterion: C6.4\n    points: 2\n", "    criterion: C5.2\n    points: 2\n", 1
        )
    )
    messages = [p.message for p in validate(file)]
    assert any("no check assesses C6" in m for m in messages)


def test_the_catalogue_declares_what_must_not_change() -> None:
    """Every check that held at exam start before invariants existed is now either an
    invariant (in the variants where it holds) or broken by a fault (config-saved)."""
    from tai_labs.lab.selftest import CANDIDATE, variants
    from tai_labs.scenario.catalog import iter_scenario_files

    found = set()
    for file in iter_scenario_files():
        for seed, variant in variants(file):
            s = load_scenario(file, candidate=CANDIDATE, seed=seed).scenario
            cause = variant.get("cause", "")
            # The scenario's own invariants; the defaults are test_default_invariants.py's.
            found |= {
                (s.id, cause, c.id)
                for c in s.checks
                if c.invariant and not c.id.startswith(default_invariants.PREFIX)
            }
    assert found == {
        ("compte-verrouille", "", "enabled"),
        ("compte-verrouille", "", "same-ou"),
        ("route-site-distant", "", "default-route"),
        ("vlan-comptabilite", "", "other-port-untouched"),
        ("vlan-comptabilite", "", "lan-still-works"),
        *{("dhcp-bureau", c, "pc1-untouched") for c in ("scope", "dns", "gateway")},
        ("dhcp-bureau", "dns", "lease"),
        ("dhcp-bureau", "gateway", "lease"),
        *{
            ("lecteur-reseau-utilisateur", c, i)
            for c in ("membership", "permissions")
            for i in ("logon", "least-privilege")
        },
        ("partage-compta-inaccessible", "firewall", "name-resolution"),
        *{
            ("poste-client-boutique", c, i)
            for c in ("disk", "proxy")
            for i in ("data-documents", "data-photos")
        },
        ("poste-sans-reseau", "gateway", "reach-server"),
        ("poste-sans-reseau", "gateway", "name-resolution"),
        ("poste-sans-reseau", "hosts", "reach-internet"),
    }
