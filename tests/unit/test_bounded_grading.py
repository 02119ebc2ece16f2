"""Bounded grading: output kept to a bound per stream, a time limit per check (no lab).

The 50 MiB producers are real processes (``head -c``) or fake channels fed in chunks; each
test asserts the size kept, the truncation mark, the time taken and, where Python holds the
bytes, the peak memory.
"""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

from tai_labs.bounded_output import MAX_OUTPUT_BYTES, CappedBuffer, run_capped
from tai_labs.grading.base import CHECKS, Check
from tai_labs.grading.model import Evidence, Judgement, Verdict
from tai_labs.grading.runner import grade
from tai_labs.plugins import PluginParams
from tai_labs.providers.vm_agent import _agent_stream
from tai_labs.scenario.loader import load_scenario
from tai_labs.sessions.base import CommandResult, SessionError
from tai_labs.sessions.deadline import DeadlineExceeded, budget, within
from tai_labs.sessions.device import _cli_result
from tai_labs.sessions.ssh import SshSession

GOLDEN = Path(__file__).resolve().parent.parent / "golden" / "errors"
MIB = 2**20

# -- the bounded reader ------------------------------------------------------------------------


def test_capped_buffer_keeps_the_head_and_counts_the_rest() -> None:
    buf = CappedBuffer(limit=10)
    for _ in range(5):
        buf.feed(b"abcd")
    assert buf.value == b"abcdabcdab"
    assert buf.total == 20
    assert buf.truncated
    exact = CappedBuffer(limit=8)
    exact.feed(b"abcdabcd")
    assert exact.value == b"abcdabcd" and not exact.truncated  # exactly the bound is whole


def test_run_capped_keeps_one_mib_of_50_per_stream_in_bounded_memory() -> None:
    script = "head -c 50M /dev/zero; head -c 50M /dev/zero >&2; exit 3"
    tracemalloc.start()
    started = time.monotonic()
    try:
        result = run_capped(["sh", "-c", script], timeout=60)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    elapsed = time.monotonic() - started
    assert result.rc == 3  # the command ran to its end: it was drained, not blocked
    assert len(result.stdout) == len(result.stderr) == MAX_OUTPUT_BYTES == MIB
    assert result.truncated == ("stdout", "stderr")
    # Two streams of 1 MiB kept, once in parts and once joined: 4 MiB; unbounded was 100.
    assert peak < 8 * MIB, f"peak {peak / MIB:.1f} MiB for 100 MiB of output"
    assert elapsed < 10, f"{elapsed:.1f} s to drain 100 MiB"


def test_run_capped_feeds_large_input_and_keeps_small_output_whole() -> None:
    data = os.urandom(MIB)  # larger than a pipe's buffer: written as the command reads
    result = run_capped(["cat"], input=data, timeout=30)
    assert result.stdout == data
    assert result.truncated == ()
    assert run_capped(["sh", "-c", "echo out; echo err >&2"]).stderr == b"err\n"


def test_run_capped_kills_a_command_past_its_timeout() -> None:
    started = time.monotonic()
    with pytest.raises(subprocess.TimeoutExpired):
        run_capped(["sleep", "30"], timeout=0.5)
    assert time.monotonic() - started < 5


class FiftyMibChannel:
    """A paramiko channel as SshSession._exchange uses it, printing 50 MiB on each stream."""

    def __init__(self) -> None:
        self.left = {"out": 50 * MIB, "err": 50 * MIB}
        self._r, self._w = os.pipe()  # always readable: what select() waits on
        os.write(self._w, b"x")
        self.status_event = type("Event", (), {"wait": staticmethod(lambda _t: True)})()

    def fileno(self) -> int:
        return self._r

    def settimeout(self, _t: float) -> None: ...
    def exec_command(self, _c: str) -> None: ...
    def sendall(self, _d: bytes) -> None: ...
    def shutdown_write(self) -> None: ...

    def _take(self, name: str, n: int) -> bytes:
        n = min(n, self.left[name])
        self.left[name] -= n
        return b"y\n" * (n // 2) + b"y" * (n % 2)

    def recv_ready(self) -> bool:
        return self.left["out"] > 0

    def recv_stderr_ready(self) -> bool:
        return self.left["err"] > 0

    def recv(self, n: int) -> bytes:
        return self._take("out", n)

    def recv_stderr(self, n: int) -> bytes:
        return self._take("err", n)

    @property
    def eof_received(self) -> bool:
        return not any(self.left.values())

    def recv_exit_status(self) -> int:
        return 0

    def close(self) -> None:
        os.close(self._r)
        os.close(self._w)


def test_ssh_channel_output_is_cut_at_one_mib_per_stream() -> None:
    session = SshSession("pc1", "192.0.2.1", key_file=Path("k"), known_hosts=Path("kh"))
    channel = FiftyMibChannel()
    tracemalloc.start()
    started = time.monotonic()
    try:
        result = session._exchange(channel, "yes", None, time.monotonic() + 60, 60)  # type: ignore[arg-type]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        channel.close()
    assert channel.eof_received  # all 100 MiB were read: the remote side never blocks
    assert len(result.stdout.encode()) == len(result.stderr.encode()) == MIB
    assert result.truncated == ("stdout", "stderr")
    assert peak < 8 * MIB, f"peak {peak / MIB:.1f} MiB"
    assert time.monotonic() - started < 20


def test_guest_agent_streams_are_cut_and_its_own_cut_is_kept() -> None:
    big = base64.b64encode(b"z" * (3 * MIB)).decode()
    text, cut = _agent_stream({"out-data": big}, "out")
    assert len(text) == MIB and cut
    text, cut = _agent_stream({"err-data": base64.b64encode(b"e").decode()}, "err")
    assert (text, cut) == ("e", False)
    _, cut = _agent_stream({"out-data": "", "out-truncated": True}, "out")
    assert cut  # qemu-ga cut it at its own 16 MiB bound


def test_device_cli_answers_are_cut() -> None:
    result = _cli_result("interface x\n" * (MIB // 4), "show running-config")
    assert len(result.stdout) == MIB
    assert result.truncated == ("stdout",)
    assert _cli_result("% Unknown command", "x").truncated == ()


# -- the session deadline ----------------------------------------------------------------------


def test_budget_cuts_timeouts_only_inside_a_deadline() -> None:
    assert budget(30, "x") == 30
    with within(time.monotonic() + 2):
        assert 1 < budget(30, "x") <= 2
        assert budget(0.5, "x") == 0.5
    with within(time.monotonic() - 1), pytest.raises(DeadlineExceeded, match="no time left"):
        budget(30, "x")
    assert budget(30, "x") == 30  # the deadline does not outlive its block


# -- the runner: truncated evidence and the time limit ------------------------------------------


class FileSays(Check["FileSays.Params", Any]):
    """Stand-in check: passes when the fake node's file says 'ok'."""

    name = "ad.user"  # replaces the real one for these tests only (see fixture)
    summary = "test"
    session = "command"
    time_limit: ClassVar[float] = 0.5

    class Params(PluginParams):
        login: str
        locked: bool | None = None
        enabled: bool | None = None

    def collect(self, session: Any, params: Any) -> Evidence:
        ev = Evidence()
        ev.add(session.run(["cat", f"/state/{params.login}"], timeout=30))
        return ev

    def judge(self, evidence: Evidence, params: Any) -> Judgement:
        out = evidence.commands[0].stdout.strip()
        if out.startswith("ok"):
            return Judgement.passed("bon état", "good state", out[:10])
        return Judgement.failed("mauvais état", "bad state", out[:10])


class Harmless(FileSays):
    truncation_harmless = True


class SlowJudge(FileSays):
    def judge(self, evidence: Evidence, params: Any) -> Judgement:
        time.sleep(0.7)
        return super().judge(evidence, params)


class FakeNode:
    """A node's command session: stalls (as a hung node does, up to the timeout it is given)
    for the first ``stalls`` commands, then answers ``answer``."""

    transport = "fake"

    def __init__(self, answer: str, *, stalls: int = 0, truncated: tuple[str, ...] = ()) -> None:
        self.answer = answer
        self.stalls = stalls
        self.truncated = truncated
        self.timeouts: list[float] = []

    def run(self, argv: list[str], *, timeout: float = 30.0, **_: Any) -> CommandResult:
        timeout = budget(timeout, "fake")  # what every real session does
        self.timeouts.append(timeout)
        if self.stalls:
            self.stalls -= 1
            time.sleep(timeout)
            raise SessionError(f"`{argv[0]}` did not finish within {timeout:g} s")
        return CommandResult(0, self.answer, "", " ".join(argv), self.truncated)


class FakeSessions:
    def __init__(self, node: FakeNode) -> None:
        self.node = node

    def get(self, node: str, kind: str) -> FakeNode:
        return self.node


@pytest.fixture
def swap_check() -> Iterator[Any]:
    real = CHECKS.get("ad.user")

    def swap(cls: type[Check[Any, Any]]) -> None:
        CHECKS._group.items["ad.user"] = cls

    yield swap
    CHECKS._group.items["ad.user"] = real


@pytest.fixture
def scenario(tmp_path: Path) -> Path:
    shutil.copytree(GOLDEN / "dependency-cycle", tmp_path / "case")
    shutil.copytree(GOLDEN / "_topologies", tmp_path / "_topologies")
    file = tmp_path / "case" / "scenario.yaml"
    # Two independent checks on dc1, graded one after the other on the same session.
    text = file.read_text()
    for line in ("    depends_on: [enabled]\n", "    depends_on: [unlocked]\n"):
        text = text.replace(line, "")
    file.write_text(text)
    return file


def run(scenario: Path, node: FakeNode) -> Any:
    # Loaded after the swap: the loader binds the parameters to the check it finds.
    loaded = load_scenario(scenario).scenario
    return grade(loaded, FakeSessions(node), lab="abc123", candidate="alice", seed=1)


def test_a_stalled_node_costs_one_check_its_limit_and_grading_goes_on(
    swap_check: Any, scenario: Path
) -> None:
    swap_check(FileSays)
    node = FakeNode("ok", stalls=1)
    started = time.monotonic()
    report = run(scenario, node)
    elapsed = time.monotonic() - started
    first, second = report.checks
    assert first.verdict is Verdict.ERROR
    assert "dépassé son temps limite (0.5 s)" in first.why_fr
    assert "exceeded its time limit" in first.why_en
    assert second.verdict is Verdict.PASS  # the next check ran, on the same node
    assert node.timeouts[0] <= 0.5  # the command's own 30 s was cut to the check's budget
    assert elapsed < 3, f"{elapsed:.1f} s: the stall was not cut at the limit"
    assert report.exit_code == 3


def test_a_judge_past_the_limit_is_error(swap_check: Any, scenario: Path) -> None:
    swap_check(SlowJudge)
    report = run(scenario, FakeNode("ok"))
    assert [c.verdict for c in report.checks] == [Verdict.ERROR, Verdict.ERROR]
    assert all("temps limite" in c.why_fr for c in report.checks)


def test_truncated_evidence_is_error_never_a_silent_pass(swap_check: Any, scenario: Path) -> None:
    swap_check(FileSays)
    report = run(scenario, FakeNode("ok" + "y" * 100, truncated=("stdout",)))
    check = report.checks[0]
    assert check.verdict is Verdict.ERROR  # the judge alone would have said pass
    assert "tronquée" in check.why_fr and "1 Mio" in check.why_fr
    assert check.evidence[0].truncated == ["stdout"]
    assert "[sortie tronquée : stdout au-delà de 1 Mio]" in check.evidence[0].output


def test_a_check_may_declare_truncation_harmless(swap_check: Any, scenario: Path) -> None:
    swap_check(Harmless)
    report = run(scenario, FakeNode("ok" + "y" * 100, truncated=("stdout",)))
    assert [c.verdict for c in report.checks] == [Verdict.PASS, Verdict.PASS]
    assert report.checks[0].evidence[0].truncated == ["stdout"]  # still shown to the jury


def test_the_default_limit_is_documented() -> None:
    from tai_labs.grading.base import CHECK_TIME_LIMIT

    assert Check.time_limit == CHECK_TIME_LIMIT == 120.0
    assert "120 s" in (Path(__file__).parents[2] / "docs" / "security.md").read_text()
