"""Persistent checks: the model field, and how verdicts judged after a restart merge into a
report (the pure half of the restart phase; the lab half is proven by the selftest)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_grading_runner import FakeSession, FakeSessions, FileSays

from tai_labs.grading.base import CHECKS
from tai_labs.grading.model import Verdict
from tai_labs.grading.persistence import merge_restart, not_restarted, to_restart
from tai_labs.grading.result import RestartPhase
from tai_labs.grading.runner import grade
from tai_labs.reports import grading as render
from tai_labs.scenario.loader import load_scenario
from tai_labs.scenario.model import CheckUse

GOLDEN = Path(__file__).resolve().parent.parent / "golden" / "errors"


@pytest.fixture
def fake_check() -> Iterator[None]:
    real = CHECKS.get("ad.user")
    CHECKS._group.items["ad.user"] = FileSays
    yield
    CHECKS._group.items["ad.user"] = real


@pytest.fixture
def scenario(tmp_path: Path) -> Any:
    """Two checks on dc1, no dependency between them; ``unlocked`` is persistent."""
    shutil.copytree(GOLDEN / "dependency-cycle", tmp_path / "case")
    shutil.copytree(GOLDEN / "_topologies", tmp_path / "_topologies")
    file = tmp_path / "case" / "scenario.yaml"
    text = file.read_text().replace("    depends_on: [enabled]\n", "    persistent: true\n", 1)
    text = text.replace("    depends_on: [unlocked]\n", "", 1)
    file.write_text(text)
    return load_scenario(file).scenario


def _grade(scenario: Any, state: str, **kw: Any) -> Any:
    sessions = FakeSessions({"dc1": FakeSession({"/state/jdupont": state}, True)})
    return grade(scenario, sessions, lab="abc123", candidate="alice", seed=1, **kw)


def test_persistent_defaults_to_false_and_reaches_the_result(
    fake_check: None, scenario: Any
) -> None:
    assert [c.persistent for c in scenario.checks] == [True, False]
    use = CheckUse.model_validate(
        {
            "id": "x",
            "title": "abc",
            "grader": "ad.user",
            "target": "dc1",
            "criterion": "C6.4",
            "points": 1,
            "messages": {"pass": "a", "fail": "b"},
        }
    )
    assert use.persistent is False
    report = _grade(scenario, "ok")
    assert [c.persistent for c in report.checks] == [True, False]
    assert report.restart is None


def test_only_persistent_checks_that_pass_are_judged_again(fake_check: None, scenario: Any) -> None:
    assert to_restart(_grade(scenario, "ok"), ["unlocked"]) == ["unlocked"]
    # Failing already: a restart cannot make it worse, so no node restarts for it.
    assert to_restart(_grade(scenario, "locked"), ["unlocked"]) == []


def _phase() -> RestartPhase:
    return RestartPhase(ran=True, nodes=["dc1"], checks=["unlocked"], seconds=4.2, restored=True)


def test_a_fix_lost_at_restart_fails_with_the_french_message(
    fake_check: None, scenario: Any
) -> None:
    before = _grade(scenario, "ok")
    after = _grade(scenario, "locked", only=["unlocked"])
    merged = merge_restart(before, after, _phase())
    check = merged.checks[0]
    assert (check.verdict, check.after_restart, check.points) == (Verdict.FAIL, Verdict.FAIL, 0)
    assert check.message.startswith("La correction ne survit pas à un redémarrage")
    assert "Après redémarrage de dc1 : ko" in check.message
    assert check.decisive == "locked"
    # Evidence of both moments, the second marked.
    assert [e.after_restart for e in check.evidence] == [False, True]
    # The non-persistent check is untouched; the totals follow.
    assert merged.checks[1] == before.checks[1]
    assert merged.points == before.points - 2
    assert merged.competences != before.competences
    assert merged.exit_code == 1
    data = json.loads(render.to_json(merged))
    assert data["restart"]["nodes"] == ["dc1"] and data["checks"][0]["after_restart"] == "fail"


def test_a_fix_that_holds_keeps_its_points_and_says_so(fake_check: None, scenario: Any) -> None:
    before = _grade(scenario, "ok")
    merged = merge_restart(before, _grade(scenario, "ok", only=["unlocked"]), _phase())
    check = merged.checks[0]
    assert (check.verdict, check.after_restart, check.points) == (Verdict.PASS, Verdict.PASS, 2)
    assert "vérifié après redémarrage de dc1 : la correction tient" in check.message
    assert merged.points == before.points and merged.exit_code == 0


def test_a_node_unreachable_after_restart_is_error_not_pass(
    fake_check: None, scenario: Any
) -> None:
    before = _grade(scenario, "ok")
    sessions = FakeSessions({"dc1": FakeSession({}, False)})
    after = grade(scenario, sessions, lab="l", candidate="alice", seed=1, only=["unlocked"])
    check = merge_restart(before, after, _phase()).checks[0]
    assert (check.verdict, check.points) == (Verdict.ERROR, 0)
    assert check.message.startswith("Après redémarrage de dc1, le contrôle n'a pas pu")


def test_without_restart_a_passing_persistent_check_says_it_was_not_verified(
    fake_check: None, scenario: Any
) -> None:
    report = not_restarted(_grade(scenario, "ok"), ["unlocked"], "sans redémarrage")
    assert report.checks[0].verdict is Verdict.PASS
    assert report.checks[0].message.endswith("(persistance non vérifiée : sans redémarrage)")
    assert report.checks[1].message == "ok"
    assert report.restart == RestartPhase(ran=False, note="sans redémarrage")


def test_a_check_skipped_after_restart_stays_skipped_without_points(
    fake_check: None, scenario: Any
) -> None:
    before = _grade(scenario, "ok")
    after = before.model_copy(
        update={
            "checks": [
                before.checks[0].model_copy(
                    update={
                        "verdict": Verdict.SKIPPED,
                        "why_fr": "non évalué : le prérequis « x » n'est pas réussi",
                        "why_en": "skipped",
                        "evidence": [],
                    }
                )
            ]
        }
    )
    check = merge_restart(before, after, _phase()).checks[0]
    assert (check.verdict, check.after_restart, check.points) == (
        Verdict.SKIPPED,
        Verdict.SKIPPED,
        0,
    )
    assert (
        check.message
        == "Après redémarrage de dc1, non évalué : le prérequis « x » n'est pas réussi"
    )


class _Engine:
    def __init__(self, calls: list[tuple[str, str]]) -> None:
        self.calls = calls

    def snapshot(self, node: str, name: str) -> None:
        self.calls.append(("snapshot", f"{node}:{name}"))

    def stop(self, node: str) -> None:
        self.calls.append(("stop", node))

    def start(self, node: str, *, wait: bool, timeout: float) -> None:
        self.calls.append(("start", node))


class _Pool:
    def __init__(self, calls: list[tuple[str, str]]) -> None:
        self.calls = calls

    def close(self) -> None:
        self.calls.append(("close", ""))

    def __enter__(self) -> _Pool:
        return self

    def __exit__(self, *_: object) -> None:
        pass


def _lab(scenario: Any, calls: list[tuple[str, str]]) -> Any:
    from types import SimpleNamespace

    def node_plan(name: str) -> Any:
        return SimpleNamespace(name=name, resource=f"lab-{name}", role="linux", boot_timeout=9)

    return SimpleNamespace(
        id="abc123",
        loaded=SimpleNamespace(scenario=scenario),
        engine=_Engine(calls),
        sessions=_Pool(calls),
        node_plan=node_plan,
        context=lambda name: name,
    )


@pytest.fixture
def flow(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[list[tuple[str, str]], dict[str, str]]]:
    """The lab half of the restart phase over a stand-in lab: what it does to the nodes, in
    order, and the state its second grading reads (``state``: dc1's file after restart)."""
    import contextlib

    from tai_labs.lab import restart

    calls: list[tuple[str, str]] = []
    state = {"after": "ok"}

    def regrade(scenario: Any, sessions: Any, **kw: Any) -> Any:
        calls.append(("grade", ",".join(kw["only"])))
        fake = FakeSessions({"dc1": FakeSession({"/state/jdupont": state["after"]}, True)})
        return grade(scenario, fake, **kw)

    monkeypatch.setattr(restart, "grade", regrade)
    monkeypatch.setattr(restart, "lab_lock", lambda _lab: contextlib.nullcontext())
    monkeypatch.setattr(
        restart.lifecycle,
        "revert_to",
        lambda lab, name, nodes: calls.append(("revert", f"{','.join(nodes)}:{name}")),
    )
    monkeypatch.setattr(
        restart,
        "role_named",
        lambda _role: type("R", (), {"wait_started": lambda self, ctx: None})(),
    )
    yield calls, state


def test_the_restart_phase_freezes_restarts_once_judges_again_and_restores(
    fake_check: None, scenario: Any, flow: Any
) -> None:
    from tai_labs.lab.restart import restart_phase

    calls, state = flow
    state["after"] = "locked"  # the fix lived in memory only
    report = restart_phase(_lab(scenario, calls), _grade(scenario, "ok"), None)
    assert [c for c in calls if c[0] != "close"] == [
        ("snapshot", "lab-dc1:before-restart"),
        ("stop", "lab-dc1"),
        ("start", "lab-dc1"),
        ("grade", "unlocked"),
        ("revert", "dc1:before-restart"),
    ]
    assert report.checks[0].verdict is Verdict.FAIL
    assert report.restart is not None
    assert (report.restart.nodes, report.restart.restored) == (["dc1"], True)


def test_no_restart_when_no_persistent_check_passes(
    fake_check: None, scenario: Any, flow: Any
) -> None:
    from tai_labs.lab.restart import NOTHING_TO_RESTART, restart_phase

    calls, _ = flow
    report = restart_phase(_lab(scenario, calls), _grade(scenario, "locked"), None)
    assert calls == []
    assert report.restart == RestartPhase(ran=False, note=NOTHING_TO_RESTART)


def test_selftest_does_not_put_the_nodes_back(fake_check: None, scenario: Any, flow: Any) -> None:
    from tai_labs.lab.restart import restart_phase

    calls, _ = flow
    report = restart_phase(_lab(scenario, calls), _grade(scenario, "ok"), None, restore=False)
    assert not [c for c in calls if c[0] == "revert"]
    assert report.checks[0].verdict is Verdict.PASS and report.restart is not None
    assert not report.restart.restored


def test_a_restart_that_fails_makes_the_checks_error_and_puts_the_nodes_back(
    fake_check: None, scenario: Any, flow: Any
) -> None:
    from tai_labs.lab.restart import restart_phase

    calls, _ = flow
    lab = _lab(scenario, calls)

    def broken_start(node: str, *, wait: bool, timeout: float) -> None:
        raise RuntimeError("lxc-start failed")

    lab.engine.start = broken_start
    report = restart_phase(lab, _grade(scenario, "ok"), None, restore=False)
    check = report.checks[0]
    assert (check.verdict, check.points) == (Verdict.ERROR, 0)
    assert "Persistance non vérifiée : le redémarrage de dc1 a échoué" in check.message
    assert ("revert", "dc1:before-restart") in calls  # even in selftest: never left down
    assert report.restart is not None and not report.restart.ran and report.restart.restored
    assert report.exit_code == 3


def test_the_jury_report_says_what_the_restart_showed(fake_check: None, scenario: Any) -> None:
    import html

    before = _grade(scenario, "ok")
    merged = merge_restart(before, _grade(scenario, "locked", only=["unlocked"]), _phase())
    page = html.unescape(render.to_html(merged))
    assert "dc1 redémarré(s) pour juger unlocked après redémarrage (4.2 s)" in page
    assert "La correction ne survit pas à un redémarrage. Après redémarrage de dc1 : ko" in page
    quick = html.unescape(render.to_html(not_restarted(before, ["unlocked"], "sans")))
    assert "Persistance</td><td>non vérifiée par un redémarrage — sans" in quick
    assert "Persistance</td>" not in html.unescape(render.to_html(before))
