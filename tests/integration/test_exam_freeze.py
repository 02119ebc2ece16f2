"""A candidate's end on a real lab: work done before the deadline counts, work done after it
does not, and grading the frozen state twice gives the same verdicts.

One session of one candidate on ``securiser-poste`` (2 nodes, the smallest runnable
scenario), its lab brought up by the real lifecycle for the candidate's login and drawn seed
(as ``session show --commands`` builds it), always removed with the session's rows. The
gateway accounts are i14-fleet's: the gate here records what it is asked (no such accounts
exist in this build), the freeze and the grading are real.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from roles_fixtures import skip_unless_images

from conftest import host_problem
from tai_labs.grading.model import Verdict

pytestmark = pytest.mark.integration

NAME = "i14-clock-freeze"
LOGIN = "i14-clock"
SAVED = """#!/usr/sbin/nft -f
flush ruleset
table inet f {
  chain in {
    type filter hook input priority filter; policy drop;
    iif "lo" accept
    ct state established,related accept
    tcp dport 22 accept
  }
}
"""


def _session(scenario_file: Path) -> Any:
    from tai_labs.exam.model import Candidate, Draw, Session, SessionScenario

    return Session(
        name=NAME,
        block="CCP1",
        scenarios=(
            SessionScenario(
                id="securiser-poste",
                title="Sécuriser",
                block="CCP1",
                file=str(scenario_file),
                variants=1,
            ),
        ),
        duration=60,
        created=datetime.now(UTC),
        draw_key="0" * 32,
        candidates=(
            Candidate(
                login=LOGIN,
                nom="Clock",
                prenom="Test",
                roster_line=2,
                login_derived=False,
                draws=(Draw(scenario="securiser-poste", seed=0, variant={}),),
            ),
        ),
    )


def _drop_session(exams: Any) -> None:
    with exams.store.writing() as db:
        for table in ("exam_timing", "exam_clock", "exam_candidates"):
            db.execute(f"DELETE FROM {table} WHERE session = ?", (NAME,))
        db.execute("DELETE FROM exam_sessions WHERE name = ?", (NAME,))


@pytest.fixture(scope="module")
def lab() -> Iterator[Any]:
    problem = host_problem("lxc-start", "lxc-attach", "ip", "nft")
    if problem:
        pytest.skip(problem)
    from tai_labs.errors import TaiLabsError
    from tai_labs.exam.clock_store import ClockStore
    from tai_labs.lab import lifecycle
    from tai_labs.providers import naming
    from tai_labs.scenario.catalog import find

    skip_unless_images("router", "client")
    clocks = ClockStore()
    _drop_session(clocks.exams)  # a run killed before its cleanup
    reuse = os.environ.get("TAI_LABS_FREEZE_LAB")  # a securiser-poste lab of i14-clock, seed 0
    lab_id = reuse or naming.new_lab_id()
    try:
        if not reuse:
            try:
                lifecycle.up(find("securiser-poste"), candidate=LOGIN, seed=0, lab_id=lab_id)
            except TaiLabsError as exc:
                if "cannot be brought up yet" in exc.message:
                    pytest.skip(exc.message)
                raise
        clocks.exams.create(_session(find("securiser-poste")))
        yield clocks, lab_id
    finally:
        _drop_session(clocks.exams)
        if not reuse:
            lifecycle.down(lab_id)


def _sh(lab_id: str, script: str) -> Any:
    from tai_labs.lab.runtime import open_lab

    lab = open_lab(lab_id)
    return lab.engine.exec(lab.node_plan("pc1").resource, ["sh", "-c", script], timeout=30)


def _verdicts(report: Any) -> dict[str, Verdict]:
    return {c.id: c.verdict for c in report.checks}


def test_work_after_the_end_does_not_change_the_frozen_grade(lab: Any) -> None:
    from tai_labs.exam.day import start_session
    from tai_labs.exam.freeze import EXAM_END, end_candidates, finish_if_all_ended, grade_frozen
    from tai_labs.exam.model import SessionState
    from tai_labs.exam.progress import lab_progress
    from tai_labs.exam.seams import AccessGate, labs_by_draw
    from tai_labs.lab.runtime import open_lab
    from tai_labs.providers.base import NodeState
    from tai_labs.providers.errors import NodeStateError

    clocks, lab_id = lab
    calls: list[tuple[str, str]] = []
    gate = AccessGate(
        open=lambda _s, login: calls.append(("open", login)),
        close=lambda _s, login: calls.append(("close", login)),
    )
    assert labs_by_draw(clocks.exams.get(NAME), clocks.exams.get(NAME).candidates[0]) == {
        "securiser-poste": lab_id
    }
    clocks.exams.set_state(NAME, SessionState.UP)
    start_session(clocks, NAME, gate=gate)

    history = open_lab(lab_id).folder / "grades"
    kept = sorted(history.glob("*.json")) if history.exists() else []
    before = lab_progress(lab_id)  # the instructor's glance: read-only, not in the history
    assert (before.passing, before.checks) == (0, 7)

    # Before the deadline: the candidate saves and enables a blocking firewall.
    done = _sh(
        lab_id, f"cat > /etc/nftables.conf <<'EOF'\n{SAVED}EOF\nsystemctl enable --now nftables"
    )
    assert done.ok, done.stderr

    now = lab_progress(lab_id)
    assert now.passing == 3 and now.points > before.points  # blocks, lets SSH in, persistent
    assert (sorted(history.glob("*.json")) if history.exists() else []) == kept
    # ...and stops the printing service on the way, leaving it enabled (it lived in memory).
    assert _sh(lab_id, "systemctl stop cups.socket cups.path cups").ok

    [ended] = end_candidates(clocks, NAME, [LOGIN], gate=gate, find_labs=labs_by_draw)
    assert ended.frozen == {"securiser-poste": lab_id} and not ended.already
    assert calls == [("open", LOGIN), ("close", LOGIN)]
    assert finish_if_all_ended(clocks, NAME)
    assert clocks.exams.get(NAME).state is SessionState.ENDED
    [freeze] = clocks.clock(NAME).of(LOGIN).frozen
    assert (freeze.lab, freeze.snapshot, freeze.nodes) == (lab_id, EXAM_END, ("box", "pc1"))
    the_lab = open_lab(lab_id)
    resources = [n.resource for n in the_lab.plan.nodes]
    assert all(the_lab.engine.state(r) is NodeState.STOPPED for r in resources)
    assert EXAM_END in the_lab.engine.list_snapshots(the_lab.node_plan("pc1").resource)

    # After the end: the node is stopped, so an exec finds nothing to act on...
    with pytest.raises(NodeStateError, match="not running"):
        _sh(lab_id, "true")
    # ...and someone who starts it by hand and fixes the rest changes the node, not the grade.
    the_lab.engine.start(the_lab.node_plan("pc1").resource)
    user = the_lab.loaded.variables["user"]["login"]
    fixed = _sh(lab_id, f"gpasswd -d {user} sudo >/dev/null && id -nG {user}")
    assert fixed.ok and "sudo" not in fixed.stdout.split(), fixed.stderr

    first = grade_frozen(NAME, LOGIN, clocks=clocks)["securiser-poste"]
    verdicts = _verdicts(first)
    assert verdicts["firewall-blocks"] is Verdict.PASS  # done before the end: counted
    assert verdicts["firewall-persistent"] is Verdict.PASS
    assert verdicts["user-not-admin"] is Verdict.FAIL  # done after the end: not counted
    assert verdicts["ssh-root"] is Verdict.FAIL
    # Graded from the exam-end snapshot, booted: cups, stopped by hand but enabled, runs
    # again as after a reboot, so the services invariant holds (docs/grading.md).
    services = {k: v for k, v in verdicts.items() if k.startswith("keep-services-")}
    assert services == {"keep-services-box": Verdict.PASS, "keep-services-pc1": Verdict.PASS}
    assert all(the_lab.engine.state(r) is NodeState.STOPPED for r in resources)

    second = grade_frozen(NAME, LOGIN, clocks=clocks)["securiser-poste"]
    assert _verdicts(second) == verdicts
    assert (second.points, second.max_points) == (first.points, first.max_points)

    # Ending again changes nothing: same end, same freeze record, access closed again only.
    [again] = end_candidates(clocks, NAME, [LOGIN], gate=gate, find_labs=labs_by_draw)
    assert again.already and again.frozen == {} and again.ended_at == ended.ended_at
    assert clocks.clock(NAME).of(LOGIN).frozen == (freeze,)
