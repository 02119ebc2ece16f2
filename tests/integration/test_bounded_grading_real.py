"""Bounded grading on a real lab (compte-verrouille without faults: dc1, box, pc1).

A node prints 50 MiB (``yes | head -c 50M``) over the exec channel and over SSH: 1 MiB per
stream is kept and the result says it was cut. A check whose node command sleeps past a
small limit is ``error`` and grading goes on. Needs root and LXC (and the role images, built
on first use); the lab is brought up once for the module and always brought down.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest

from tai_labs.bounded_output import MAX_OUTPUT_BYTES
from tai_labs.grading.base import CHECKS, Check
from tai_labs.grading.model import Evidence, Judgement, Verdict
from tai_labs.grading.runner import grade
from tai_labs.lab.grading import lab_identities
from tai_labs.lab.sessions import SessionPool
from tai_labs.plugins import PluginParams
from tai_labs.scenario.model import CheckUse
from tai_labs.sessions.base import CommandSession, SessionError
from tai_labs.sessions.deadline import within

pytestmark = pytest.mark.integration

FIFTY_MIB = "yes | head -c 50M"


@pytest.fixture(scope="module")
def lab() -> Iterator[Any]:
    if os.geteuid() != 0:
        pytest.skip("needs root (LXC containers)")
    if shutil.which("lxc-attach") is None:
        pytest.skip("needs LXC (apt-get install -y lxc)")
    pytest.importorskip("paramiko")
    from tai_labs.lab import lifecycle
    from tai_labs.providers.naming import new_lab_id
    from tai_labs.scenario.catalog import find

    lab_id = new_lab_id()
    try:
        yield lifecycle.up(
            find("compte-verrouille"), candidate="bounded", seed=0, lab_id=lab_id, faults=False
        )
    finally:
        lifecycle.down(lab_id)


@pytest.fixture
def pool(lab: Any) -> Iterator[SessionPool]:
    with SessionPool(lab) as p:
        yield p


def channels(pool: SessionPool) -> list[CommandSession]:
    ssh = pool.get("pc1", "command")
    assert ssh.transport == "ssh"
    return [ssh, pool.exec_session("pc1")]


@pytest.mark.parametrize("stream", ["stdout", "stderr"])
def test_fifty_mib_are_cut_to_one_over_exec_and_ssh(pool: SessionPool, stream: str) -> None:
    script = FIFTY_MIB if stream == "stdout" else f"{FIFTY_MIB} >&2"
    for session in channels(pool):
        started = time.monotonic()
        result = session.run(["sh", "-c", script], timeout=60)
        elapsed = time.monotonic() - started
        kept = result.stdout if stream == "stdout" else result.stderr
        print(f"\n{session.transport} {stream}: 50 MiB in {elapsed:.2f} s, kept {len(kept)}")
        assert result.rc == 0  # the node's command ran to its end: never blocked
        assert len(kept.encode()) == MAX_OUTPUT_BYTES
        assert kept.startswith("y\ny\n")
        assert result.truncated == (stream,)
        assert elapsed < 30


def test_a_small_output_is_whole_and_not_marked(pool: SessionPool) -> None:
    for session in channels(pool):
        result = session.run(["sh", "-c", "head -c 1048576 /dev/zero | tr '\\0' a"], timeout=30)
        assert len(result.stdout) == MAX_OUTPUT_BYTES  # exactly the bound: not cut
        assert result.truncated == ()


def test_a_deadline_cuts_a_sleeping_command_on_both_channels(pool: SessionPool) -> None:
    for session in channels(pool):
        started = time.monotonic()
        with within(time.monotonic() + 2), pytest.raises(SessionError):
            session.run(["sleep", "30"], timeout=60)
        elapsed = time.monotonic() - started
        print(f"\n{session.transport}: sleep 30 stopped after {elapsed:.1f} s")
        assert elapsed < 8  # 2 s, plus timeout(1)'s 2 s grace on the exec channel
        assert session.run(["true"]).ok  # the session is usable again


class Sleeps(Check[PluginParams, CommandSession]):
    """A check whose node command outlives the check's (small) time limit."""

    name = "test.sleeps"
    summary = "sleeps past its limit"
    Params = PluginParams
    time_limit: ClassVar[float] = 3.0

    def collect(self, session: CommandSession, params: PluginParams) -> Evidence:
        ev = Evidence()
        ev.add(session.run(["sleep", "1000"], timeout=60))
        return ev

    def judge(self, evidence: Evidence, params: PluginParams) -> Judgement:
        return Judgement.passed("a dormi", "slept")


class Prints(Check[PluginParams, CommandSession]):
    """A check whose evidence is 50 MiB of output: cut, so it cannot pass."""

    name = "test.prints"
    summary = "prints 50 MiB"
    Params = PluginParams

    def collect(self, session: CommandSession, params: PluginParams) -> Evidence:
        ev = Evidence()
        ev.add(session.run(["sh", "-c", FIFTY_MIB], timeout=60))
        return ev

    def judge(self, evidence: Evidence, params: PluginParams) -> Judgement:
        return Judgement.passed("a écrit", "printed", evidence.commands[0].stdout[:10])


@pytest.fixture
def test_checks() -> Iterator[None]:
    for cls in (Sleeps, Prints):
        CHECKS.register(cls)
    yield
    for cls in (Sleeps, Prints):
        CHECKS._group.items.pop(cls.name, None)


def use(id: str, grader: str) -> CheckUse:
    return CheckUse.model_validate(
        {
            "id": id,
            "title": f"contrôle {id}",
            "grader": grader,
            "target": "pc1",
            "criterion": "C6.1",
            "points": 1,
            "messages": {"pass": "ok", "fail": "ko"},
        }
    )


def test_grading_a_real_lab_stops_a_stalled_check_and_goes_on(
    lab: Any, pool: SessionPool, test_checks: None
) -> None:
    scenario = lab.loaded.scenario
    own = list(scenario.checks)
    checks = [use("stalls", "test.sleeps"), use("prints", "test.prints"), *own]
    started = time.monotonic()
    report = grade(
        scenario.model_copy(update={"checks": checks}),
        pool,
        lab=lab.id,
        candidate="bounded",
        seed=0,
        identities=lab_identities(lab),  # what the invariants compare with, as `grade` does
    )
    elapsed = time.monotonic() - started
    by_id = {c.id: c for c in report.checks}
    print(f"\ngraded {len(checks)} checks in {elapsed:.1f} s")
    stalled = by_id["stalls"]
    assert stalled.verdict is Verdict.ERROR
    assert "dépassé son temps limite (3 s)" in stalled.why_fr
    assert stalled.seconds < 8
    printed = by_id["prints"]
    assert printed.verdict is Verdict.ERROR  # the judge alone said pass
    assert "tronquée" in printed.why_fr
    assert printed.evidence[0].truncated == ["stdout"]
    # The scenario's own checks were graded after them, none of them out of time.
    for check in own:
        assert by_id[check.id].verdict is not Verdict.ERROR, by_id[check.id].why_en
    assert elapsed < 60
