"""The web terminal's session manager, on real PTYs running local harmless commands."""

from __future__ import annotations

import asyncio
import functools
import os
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TypeVar

import pytest

from tai_labs.portal.pty_sessions import (
    MAX_QUEUED_CHUNKS,
    Attachment,
    PtyChild,
    TerminalError,
    TerminalSessions,
    spawn_on_pty,
)

T = TypeVar("T")
# Local programs need the PTY's own line discipline (echo, canonical input); a node's
# terminal has its own, hence raw by default.
cooked = functools.partial(spawn_on_pty, raw=False)
KEY = ("alice", "lab1", "pc1")
# On a raw PTY (the default: a node's terminal does the line discipline), what goes in
# comes out byte for byte.
RAW_CAT = ["/bin/sh", "-c", "printf READY; exec cat"]


def run(test: Callable[[], Awaitable[T]]) -> T:
    return asyncio.run(asyncio.wait_for(test(), 20))


async def read_until(view: Attachment, needle: bytes, seen: bytes = b"") -> bytes:
    """What the view receives until ``needle`` appears (the replay counts as received)."""
    while needle not in seen:
        data = await view.next()
        if data is None:
            raise AssertionError(f"ended ({view.ended_because}) before {needle!r}: {seen!r}")
        seen += data
    return seen


def test_input_reaches_the_process_and_its_output_comes_back() -> None:
    async def test() -> None:
        pool = TerminalSessions(spawn=cooked)
        view = pool.open(KEY, ["/bin/cat"])
        view.session.write(b"bonjour\n")
        out = await read_until(view, b"bonjour\r\nbonjour\r\n")  # the PTY's echo, then cat's
        assert out.count(b"bonjour") == 2
        pool.close_all()
        assert await view.next() is None and len(pool) == 0

    run(test)


def test_every_byte_value_goes_through_unchanged() -> None:
    async def test() -> None:
        pool = TerminalSessions()
        view = pool.open(KEY, RAW_CAT)
        await read_until(view, b"READY")
        payload = bytes(range(256)) * 4
        view.session.write(payload)
        got = b""
        while len(got) < len(payload):
            chunk = await view.next()
            assert chunk is not None
            got += chunk
        assert got == payload
        pool.close_all()

    run(test)


def test_a_reattached_view_gets_the_same_shell_and_only_what_it_missed() -> None:
    async def test() -> None:
        pool = TerminalSessions(spawn=cooked, grace=30)
        view = pool.open(KEY, ["/bin/sh"])
        view.session.write(b"export MARK=tai42; echo first-$MARK\n")
        seen = await read_until(view, b"first-tai42")
        offset = view.offset + len(seen)
        view.session.detach(view, pool.grace)  # the WebSocket dropped
        assert pool.get(KEY) is view.session  # the shell lives on
        again = pool.open(KEY, ["/bin/false"], since=offset)
        assert again.session is view.session  # not respawned: argv unused
        assert again.offset == offset and b"first-tai42" not in again.replay
        again.session.write(b"echo second-$MARK\n")
        await read_until(again, b"second-tai42", again.replay)
        # A client that knows nothing (a new page) gets the recent output from its start.
        fresh = pool.open(KEY, ["/bin/false"])
        assert fresh.offset == 0 and b"first-tai42" in fresh.replay
        assert await again.next() is None and again.ended_because == "taken over"
        pool.close_all()

    run(test)


def test_a_detached_session_ends_after_its_grace_period() -> None:
    async def test() -> None:
        pool = TerminalSessions(spawn=cooked, grace=0.3)
        view = pool.open(KEY, ["/bin/cat"])
        proc = view.session.child.proc
        view.session.detach(view, pool.grace)
        await asyncio.sleep(0.1)
        assert pool.get(KEY) is not None
        await asyncio.sleep(0.5)
        assert pool.get(KEY) is None
        for _ in range(50):
            if proc.poll() is not None:
                break
            await asyncio.sleep(0.1)
        assert proc.poll() is not None  # the terminal hung up: cat is gone

    run(test)


def test_the_shell_exiting_ends_the_view_and_the_session() -> None:
    async def test() -> None:
        pool = TerminalSessions(spawn=cooked)
        view = pool.open(KEY, ["/bin/sh", "-c", "echo bye"])
        await read_until(view, b"bye")
        assert await view.next() is None and view.ended_because == "exit"
        assert len(pool) == 0

    run(test)


def test_sessions_are_bounded_per_server() -> None:
    async def test() -> None:
        pool = TerminalSessions(spawn=cooked, max_sessions=1)
        pool.open(KEY, ["/bin/cat"])
        with pytest.raises(TerminalError, match="too many"):
            pool.open(("bob", "lab2", "pc1"), ["/bin/cat"])
        pool.open(KEY, ["/bin/cat"])  # the same owner reattaching is not a new session
        pool.close_all()

    run(test)


def test_input_the_process_does_not_read_is_bounded() -> None:
    async def test() -> None:
        pool = TerminalSessions(spawn=cooked)
        view = pool.open(KEY, ["/bin/sleep", "30"])
        with pytest.raises(TerminalError, match="not reading"):
            for _ in range(10):
                view.session.write(b"x" * 100_000)
        pool.close_all()

    run(test)


def test_output_to_a_slow_client_is_bounded_and_the_process_waits() -> None:
    async def test() -> None:
        pool = TerminalSessions(spawn=cooked, replay_bytes=4096)
        view = pool.open(KEY, ["/usr/bin/yes", "tai-labs"])
        proc = view.session.child.proc
        await asyncio.sleep(1.0)  # nobody reads the view meanwhile
        assert view.queue.qsize() <= MAX_QUEUED_CHUNKS
        assert proc.poll() is None  # blocked on a full terminal, not killed
        cpu = _cpu_seconds(proc.pid)
        await asyncio.sleep(0.5)
        assert _cpu_seconds(proc.pid) - cpu < 0.1  # it waits rather than spins
        # Reading again resumes it; the replay stays within its bound.
        for _ in range(MAX_QUEUED_CHUNKS + 10):
            assert await view.next()
        assert len(pool.open(KEY, []).replay) <= 4096
        pool.close_all()

    run(test)


def test_a_resize_reaches_the_process_as_its_terminal_size() -> None:
    async def test() -> None:
        pool = TerminalSessions(spawn=cooked)
        view = pool.open(KEY, ["/bin/sh", "-c", "read x; stty size"], cols=80, rows=24)
        view.session.resize(132, 43)
        view.session.write(b"\n")
        await read_until(view, b"43 132")
        pool.close_all()

    run(test)


def test_a_watcher_sees_the_output_and_a_slow_one_is_dropped_not_waited_for() -> None:
    async def test() -> None:
        pool = TerminalSessions(spawn=cooked)
        assert pool.watch(KEY) is None  # nothing to watch: no shell is started for it
        view = pool.open(KEY, ["/bin/cat"])
        watcher = pool.watch(KEY)
        assert watcher is not None and watcher.read_only
        view.session.write(b"visible\n")
        await read_until(watcher, b"visible")
        slow = pool.watch(KEY)
        assert slow is not None
        for i in range(MAX_QUEUED_CHUNKS + 5):
            view.session.write(b"line %d\n" % i)
            await read_until(view, b"line %d\r\n" % i)  # the candidate is never slowed
        assert slow.ended_because == "behind"
        pool.close_all()

    run(test)


def test_the_spawner_is_given_the_targets_argv_and_size() -> None:
    calls: list[tuple[list[str], int, int]] = []

    def spawner(argv: Sequence[str], cols: int, rows: int) -> PtyChild:
        calls.append((list(argv), cols, rows))
        return cooked(["/bin/cat"], cols, rows)

    async def test() -> None:
        pool = TerminalSessions(spawn=spawner)
        pool.open(KEY, ["lxc-attach", "-n", "x", "--", "/bin/bash", "-l"], cols=100, rows=30)
        pool.open(KEY, ["ignored"])
        pool.close_all()

    run(test)
    assert calls == [(["lxc-attach", "-n", "x", "--", "/bin/bash", "-l"], 100, 30)]


def test_spawn_runs_argv_without_a_shell_and_refuses_an_empty_one() -> None:
    with pytest.raises(TerminalError):
        spawn_on_pty([])

    async def test() -> bytes:
        pool = TerminalSessions(spawn=cooked)
        view = pool.open(KEY, ["/bin/echo", "$HOME;", "`id`"])
        out = await read_until(view, b"\n")
        pool.close_all()
        return out

    assert run(test).strip() == b"$HOME; `id`"


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
