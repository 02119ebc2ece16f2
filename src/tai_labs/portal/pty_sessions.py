"""Terminal sessions: a process on a pseudo-terminal that outlives the WebSocket showing it.

A web terminal must survive a network blip: the shell keeps running when its WebSocket
closes, for a grace period, and a new WebSocket of the same owner reattaches to it and gets
the output it missed (up to ``replay_bytes`` of it). Sessions are keyed by (owner, lab,
node). Every buffer is bounded: the recent output kept for replay, the output queued to a
slow client (past it the PTY is no longer read, so the node's program waits, as on a slow
terminal), the input not yet written to the PTY. One asyncio loop owns all of it.

The process is spawned by an injectable ``Spawner`` (tests use a local ``/bin/cat``); the
default puts the argv on a new PTY as the controlling terminal of its own session, so a
resize reaches it as SIGWINCH. The argv is executed directly, never through a shell.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import signal
import struct
import subprocess
import termios
import tty
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

#: The recent output kept per session and replayed on reattach.
REPLAY_BYTES = 64 * 1024
#: How long a session outlives its last WebSocket.
GRACE_SECONDS = 60.0
#: Sessions alive at once on this server (each is a process on the host).
MAX_SESSIONS = 64
#: Output chunks queued to a client before the PTY stops being read.
MAX_QUEUED_CHUNKS = 64
#: Input accepted but not yet written to the PTY (a large paste).
MAX_PENDING_INPUT = 256 * 1024
READ_CHUNK = 16 * 1024
#: Bounds of a resize (xterm.js sends the grid it fits in the page).
MAX_COLS, MAX_ROWS = 1000, 500
#: Environment of the host-side command (``lxc-attach``, ``ssh``): nothing of the server's.
SPAWN_ENV = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "TERM": "xterm-256color",
    "LANG": "C.UTF-8",
}

SessionKey = tuple[str, str, str]  # (owner, lab, node)


class TerminalError(Exception):
    """A terminal request that cannot be served (too many sessions, input overflow)."""


@dataclass
class PtyChild:
    """A process whose controlling terminal is the slave side of ``master_fd``."""

    master_fd: int
    proc: subprocess.Popen[bytes]
    #: Put the PTY back to raw once the program has set it up (see ``PtySession``).
    raw: bool = False


Spawner = Callable[[Sequence[str], int, int], PtyChild]


def set_winsize(fd: int, cols: int, rows: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def spawn_on_pty(
    argv: Sequence[str], cols: int = 80, rows: int = 24, *, raw: bool = True
) -> PtyChild:
    """Run argv on a new PTY, in a new session of which it is the controlling terminal.

    ``setsid --ctty`` (util-linux) does the session and terminal in the child, so no Python
    code runs between fork and exec in this threaded server. ``raw``: this PTY only carries
    bytes to a terminal of the node's own (``lxc-attach``, ``ssh -tt`` make one there, with
    the node's line discipline), so it translates nothing; a local program that needs a
    line discipline (echo, ^C) is spawned with ``raw=False``.
    """
    if not argv:
        raise TerminalError("empty command")
    master, slave = os.openpty()
    try:
        if raw:
            tty.setraw(slave)
        set_winsize(master, cols, rows)
        proc = subprocess.Popen(
            ["setsid", "--ctty", "--", *argv],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            close_fds=True,
            cwd="/",
            env=SPAWN_ENV,
        )
    except BaseException:
        os.close(master)
        raise
    finally:
        os.close(slave)
    os.set_blocking(master, False)
    return PtyChild(master, proc, raw)


@dataclass(eq=False)
class Attachment:
    """One WebSocket's view of a session: what it is sent, in order.

    Items are output bytes, a new terminal size (``(cols, rows)``: the owner resized, sent
    to read-only views so they draw at the owner's size), or ``None`` once the attachment
    ends (the shell exited, another WebSocket took the session over, or a read-only view
    fell too far behind).
    """

    session: PtySession
    read_only: bool
    replay: bytes
    #: Output offset of the first replayed byte (the session's byte count since it began).
    offset: int
    queue: asyncio.Queue[bytes | tuple[int, int] | None] = field(default_factory=asyncio.Queue)
    ended_because: str = ""

    async def next(self) -> bytes | tuple[int, int] | None:
        item = await self.queue.get()
        self.session.drained(self)
        return item

    def end(self, why: str) -> None:
        if not self.ended_because:
            self.ended_because = why
            self.queue.put_nowait(None)


class PtySession:
    """One shell on a PTY, its recent output, and the WebSockets attached to it."""

    def __init__(
        self,
        key: SessionKey,
        child: PtyChild,
        *,
        replay_bytes: int,
        on_closed: Callable[[PtySession], None],
        size: tuple[int, int] = (80, 24),
    ) -> None:
        self.key = key
        self.child = child
        #: The terminal's (cols, rows): the owner's; a read-only view is drawn at it.
        self.size = size
        self._loop = asyncio.get_running_loop()
        self._replay_bytes = replay_bytes
        self._history = bytearray()
        self._total = 0  # bytes of output since the session began
        self._pending = bytearray()  # input waiting for room in the PTY
        self._writer_on = False
        self._reading = True
        self._on_closed = on_closed
        self.owner_view: Attachment | None = None
        self.observers: set[Attachment] = set()
        self.expiry: asyncio.TimerHandle | None = None
        self.deadline: asyncio.TimerHandle | None = None
        self.closed = False
        self.exit_code: int | None = None
        self._loop.add_reader(child.master_fd, self._on_output)

    # -- output ----------------------------------------------------------------------------

    def _on_output(self) -> None:
        try:
            data = os.read(self.child.master_fd, READ_CHUNK)
        except BlockingIOError:
            return
        except OSError:  # EIO: every process on the slave side is gone
            data = b""
        if not data:
            self.close("exit")
            return
        if self.child.raw and self._total == 0:
            # lxc-attach sets its terminal to OPOST|ONLCR: every LF of the node would gain a
            # CR, breaking full-screen programs (ncurses moves down with a bare LF). By its
            # first output it is set up, so raw again now: the node's pts translates.
            with contextlib.suppress(termios.error):
                tty.setraw(self.child.master_fd)
        self._total += len(data)
        self._history += data
        del self._history[: -self._replay_bytes]
        if self.owner_view is not None:
            self.owner_view.queue.put_nowait(data)
            if self.owner_view.queue.qsize() >= MAX_QUEUED_CHUNKS:
                self._pause()  # backpressure: the node waits for the slow client
        for view in list(self.observers):
            if view.queue.qsize() >= MAX_QUEUED_CHUNKS:
                self.observers.discard(view)  # a slow watcher never slows the candidate
                view.end("behind")
            else:
                view.queue.put_nowait(data)

    def _pause(self) -> None:
        if self._reading:
            self._loop.remove_reader(self.child.master_fd)
            self._reading = False

    def drained(self, view: Attachment) -> None:
        if (
            not self._reading
            and not self.closed
            and view is self.owner_view
            and view.queue.qsize() <= MAX_QUEUED_CHUNKS // 2
        ):
            self._loop.add_reader(self.child.master_fd, self._on_output)
            self._reading = True

    # -- input -----------------------------------------------------------------------------

    def write(self, data: bytes) -> None:
        if self.closed or not data:
            return
        if len(self._pending) + len(data) > MAX_PENDING_INPUT:
            raise TerminalError("the terminal is not reading its input fast enough")
        self._pending += data
        self._flush()

    def _flush(self) -> None:
        while self._pending:
            try:
                n = os.write(self.child.master_fd, self._pending)
            except BlockingIOError:
                break
            except OSError:
                self._pending.clear()
                break
            del self._pending[:n]
        want_writer = bool(self._pending) and not self.closed
        if want_writer and not self._writer_on:
            self._loop.add_writer(self.child.master_fd, self._flush)
        elif not want_writer and self._writer_on:
            self._loop.remove_writer(self.child.master_fd)
        self._writer_on = want_writer

    def resize(self, cols: int, rows: int) -> None:
        if self.closed:
            return
        size = (max(1, min(cols, MAX_COLS)), max(1, min(rows, MAX_ROWS)))
        if size == self.size:
            return
        self.size = size
        set_winsize(self.child.master_fd, *size)
        for view in list(self.observers):  # watchers redraw at the owner's new size
            view.queue.put_nowait(size)

    # -- views -----------------------------------------------------------------------------

    def attach(self, *, read_only: bool, since: int | None) -> Attachment:
        """A new view; the owner's replaces the previous owner's (a reconnect)."""
        start = self._total - len(self._history)
        if since is not None and start <= since <= self._total:
            replay, offset = bytes(self._history[since - start :]), since
        else:
            replay, offset = bytes(self._history), start
        view = Attachment(self, read_only, replay, offset)
        if read_only:
            self.observers.add(view)
            return view
        if self.owner_view is not None:
            self.owner_view.end("taken over")
        self.owner_view = view
        if self.expiry is not None:
            self.expiry.cancel()
            self.expiry = None
        self.drained(view)
        return view

    def detach(self, view: Attachment, grace: float) -> None:
        self.observers.discard(view)
        if view is not self.owner_view:
            return
        self.owner_view = None
        self._pause()  # nobody to show it to: the shell waits rather than scroll away
        if not self.closed:
            self.expiry = self._loop.call_later(grace, self.close, "expired")

    # -- end -------------------------------------------------------------------------------

    def close_at(
        self, seconds: float, why: str, again: Callable[[], float | None] | None = None
    ) -> None:
        """Close in ``seconds`` (the owner's time left), replacing an earlier such deadline.

        ``again`` asks for the owner's time left when that moment comes: extra time given
        meanwhile moves the close later instead of cutting the shell at the old deadline.
        """
        if self.deadline is not None:
            self.deadline.cancel()
        self.deadline = self._loop.call_later(max(0.0, seconds), self._time_up, why, again)

    def _time_up(self, why: str, again: Callable[[], float | None] | None) -> None:
        left = None
        if again is not None:
            try:
                left = again()
            except Exception:  # the store unreadable: the last deadline known stands
                left = None
        if left is not None and left > 0:
            self.close_at(left, why, again)
        else:
            self.close(why)

    def close(self, why: str) -> None:
        if self.closed:
            return
        self.closed = True
        if self.expiry is not None:
            self.expiry.cancel()
        if self.deadline is not None:
            self.deadline.cancel()
        fd = self.child.master_fd
        self._pause()
        if self._writer_on:
            self._loop.remove_writer(fd)
            self._writer_on = False
        os.close(fd)  # the session's terminal hangs up: SIGHUP to its foreground group
        proc = self.child.proc
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGHUP)
        self.exit_code = proc.poll()
        for view in [self.owner_view, *self.observers]:
            if view is not None:
                view.end(why)
        self._on_closed(self)
        self._loop.run_in_executor(None, _reap, proc)


def _reap(proc: subprocess.Popen[bytes]) -> None:
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class TerminalSessions:
    """Every terminal session of one server, by (owner, lab, node)."""

    def __init__(
        self,
        *,
        spawn: Spawner = spawn_on_pty,
        grace: float = GRACE_SECONDS,
        replay_bytes: int = REPLAY_BYTES,
        max_sessions: int = MAX_SESSIONS,
    ) -> None:
        self._spawn = spawn
        self.grace = grace
        self._replay_bytes = replay_bytes
        self._max = max_sessions
        self._sessions: dict[SessionKey, PtySession] = {}

    def get(self, key: SessionKey) -> PtySession | None:
        return self._sessions.get(key)

    def __len__(self) -> int:
        return len(self._sessions)

    def open(
        self,
        key: SessionKey,
        argv: Sequence[str],
        *,
        cols: int = 80,
        rows: int = 24,
        since: int | None = None,
    ) -> Attachment:
        """Attach the owner to their session, spawning argv on a PTY if none is alive."""
        session = self._sessions.get(key)
        if session is None:
            if len(self._sessions) >= self._max:
                raise TerminalError("too many terminals open on this server")
            child = self._spawn(argv, cols, rows)
            session = PtySession(
                key,
                child,
                replay_bytes=self._replay_bytes,
                on_closed=self._forget,
                size=(cols, rows),
            )
            self._sessions[key] = session
        return session.attach(read_only=False, since=since)

    def watch(self, key: SessionKey) -> Attachment | None:
        """A read-only view of a live session (an instructor's), None if there is none."""
        session = self._sessions.get(key)
        return None if session is None else session.attach(read_only=True, since=None)

    def _forget(self, session: PtySession) -> None:
        if self._sessions.get(session.key) is session:
            del self._sessions[session.key]

    def close_all(self) -> None:
        for session in list(self._sessions.values()):
            session.close("server stopping")
