from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tai_labs.scenario.catalog import iter_scenario_files
from tai_labs.scenario.diagnostics import ScenarioError
from tai_labs.scenario.loader import load_scenario, validate

GOLDEN = Path(__file__).resolve().parent.parent / "golden" / "errors"
SHIPPED = list(iter_scenario_files())


def test_the_catalogue_has_a_scenario_per_block() -> None:
    blocks = {load_scenario(p).scenario.scenario.block for p in SHIPPED}
    assert blocks == {"CCP1", "CCP2", "CCP3"}


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.parent.name)
def test_shipped_scenarios_are_valid_in_every_variant(path: Path) -> None:
    assert [d.format() for d in validate(path)] == []


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.parent.name)
def test_shipped_scenarios_render_for_many_candidates(path: Path) -> None:
    for i in range(10):
        loaded = load_scenario(path, candidate=f"cand{i}", seed=i)
        brief = loaded.render_brief()
        assert "{{" not in brief and len(brief) > 200
        assert loaded.scenario.total_points > 0


def test_diagnosis_scenario_draws_one_cause_per_candidate() -> None:
    path = next(p for p in SHIPPED if p.parent.name == "partage-compta-inaccessible")
    causes = set()
    for i in range(30):
        s = load_scenario(path, candidate=f"c{i}").scenario
        assert s.faults, "every candidate gets a fault"
        root_causes = {c.id for c in s.checks if c.id.startswith("root-cause-")}
        broken = {b for f in s.faults for b in f.breaks}
        assert root_causes and root_causes <= broken
        causes.add(s.faults[0].id)
    assert len(causes) == 4


def test_expected_verdicts_at_exam_start() -> None:
    path = next(p for p in SHIPPED if p.parent.name == "compte-verrouille")
    s = load_scenario(path).scenario
    expected = {c.id: s.expected_at_start(c) for c in s.checks}
    assert expected == {
        "unlocked": "fail",
        "enabled": "pass",
        "must-change": "fail",
        "member": "fail",
        "same-ou": "pass",
        "temp-password": "fail",
        # Default invariants: the groups and fixed addresses the scenario does not touch, and
        # each container node's services.
        "keep-group-direction": "pass",
        "keep-group-commercial": "pass",
        "keep-domain-policy": "pass",
        "keep-address-dc1-eth1": "pass",
        "keep-address-box-eth1": "pass",
        "keep-address-box-eth2": "pass",
        "keep-address-pc1-eth1": "pass",
        "keep-services-dc1": "pass",
        "keep-services-box": "pass",
        "keep-services-pc1": "pass",
    }


def test_lines_stay_right_after_when_drops_items(tmp_path: Path) -> None:
    # The second check is dropped by `when`; an error in the third must still name its line.
    case = tmp_path / "case"
    shutil.copytree(GOLDEN / "valid", case)
    shutil.copytree(GOLDEN / "_topologies", tmp_path / "_topologies")
    text = (case / "scenario.yaml").read_text()
    text = text.replace(
        "faults:",
        "  - id: skipped\n"
        "    when: 'false'\n"
        "    title: Jamais\n"
        "    grader: ad.user\n"
        "    target: dc1\n"
        "    params: {login: x}\n"
        "    criterion: C6.4\n"
        "    points: 1\n"
        "    messages: {pass: ok, fail: ko}\n"
        "  - id: third\n"
        "    title: Troisième\n"
        "    grader: ad.user\n"
        "    target: nowhere\n"
        "    params: {login: x}\n"
        "    criterion: C6.4\n"
        "    points: 1\n"
        "    initially: fail\n"
        "    messages: {pass: ok, fail: ko}\n"
        "faults:",
    )
    (case / "scenario.yaml").write_text(text)
    problems = validate(case)
    lines = text.splitlines()
    assert len(problems) == 1
    assert problems[0].keypath == ("checks", 1, "target")
    assert lines[problems[0].location.line - 1].strip() == "target: nowhere"


def test_native_types_from_single_expressions(tmp_path: Path) -> None:
    case = tmp_path / "case"
    shutil.copytree(GOLDEN / "valid", case)
    shutil.copytree(GOLDEN / "_topologies", tmp_path / "_topologies")
    text = (case / "scenario.yaml").read_text()
    text = text.replace("  login: {value: jdupont}", "  login: {value: jdupont}\n  weight: 7")
    text = text.replace("    points: 2", '    points: "{{ weight }}"')
    (case / "scenario.yaml").write_text(text)
    assert load_scenario(case).scenario.checks[0].points == 7


def test_load_raises_with_all_problems() -> None:
    with pytest.raises(ScenarioError) as info:
        load_scenario(GOLDEN / "unknown-key")
    assert len(info.value.diagnostics) == 2
    assert "unknown-key/scenario.yaml:21" in str(info.value)


def test_when_on_steps_of_alternatives_is_applied() -> None:
    """A step of an alternative or wrong solution with ``when`` is kept only in its variant
    (the list path goes through solution.alternatives[i]: it was never filtered)."""
    seen = set()
    for candidate in ("a", "c"):
        folder = GOLDEN.parent.parent.parent / "scenarios/ccp3/incident-centre-services"
        loaded = load_scenario(folder, candidate=candidate)
        incident = loaded.variables["incident"]
        seen.add(incident)
        (alt,) = loaded.scenario.solution.alternatives
        assert all(step.when is None for step in alt.steps)
        actions = [step.action for step in alt.steps]
        assert ("linux.service" in actions) == (incident == "directory")
        assert ("linux.exec" in actions) == (incident == "print")
    assert seen == {"print", "directory"}
