"""Command output kept to a bound, per command and per stream.

A candidate is root in their nodes: whatever a command prints there (``yes``, a 10 GB log
file, a looping ``/etc/profile``) must not grow the grader's memory. Every channel that reads
a node-side command (the exec channel, SSH, the guest agent, WinRM) keeps the first
``MAX_OUTPUT_BYTES`` of stdout and of stderr and counts the rest: it keeps reading and throws
it away, so the command is never blocked on a full pipe and ends as it would have. The result
says which stream was cut (``CommandResult.truncated``); grading turns evidence cut short
into an ``error`` verdict unless the check declares the cut harmless (docs/security.md).
"""

from __future__ import annotations

import contextlib
import os
import selectors
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

#: Bytes kept per command and per stream (stdout, stderr): 1 MiB. The largest file a check
#: reads is 1 MiB (``head -c``), and nothing a jury reads is longer.
MAX_OUTPUT_BYTES = 1 << 20
#: Bytes read at a time from a pipe or a channel.
CHUNK = 65536


class CappedBuffer:
    """The first ``limit`` bytes fed to it, and how many were fed in all."""

    def __init__(self, limit: int = MAX_OUTPUT_BYTES) -> None:
        self.limit = limit
        self.total = 0
        self._parts: list[bytes] = []
        self._kept = 0

    def feed(self, data: bytes) -> None:
        self.total += len(data)
        room = self.limit - self._kept
        if room > 0 and data:
            part = data[:room]
            self._parts.append(part)
            self._kept += len(part)

    @property
    def truncated(self) -> bool:
        return self.total > self.limit

    @property
    def value(self) -> bytes:
        return b"".join(self._parts)

    def text(self) -> str:
        # A cut may fall inside a UTF-8 sequence: "replace" turns its head into U+FFFD.
        return self.value.decode("utf-8", errors="replace")


def cap_bytes(data: bytes, limit: int = MAX_OUTPUT_BYTES) -> tuple[bytes, bool]:
    """data cut to limit, and whether it was cut (for channels that hand over all at once)."""
    return data[:limit], len(data) > limit


def truncated_streams(stdout: bool, stderr: bool) -> tuple[str, ...]:
    """The names of the streams that were cut, as results record them."""
    return tuple(name for name, cut in (("stdout", stdout), ("stderr", stderr)) if cut)


@dataclass(frozen=True)
class CappedRun:
    rc: int
    stdout: bytes
    stderr: bytes
    #: "stdout" and/or "stderr" when that stream went past the limit and was cut.
    truncated: tuple[str, ...] = ()


def run_capped(
    argv: Sequence[str],
    *,
    input: bytes | None = None,
    timeout: float | None = None,
    cwd: str | None = None,
    env: Mapping[str, str] | None = None,
    limit: int = MAX_OUTPUT_BYTES,
) -> CappedRun:
    """``subprocess.run(argv, capture_output=True)`` keeping at most ``limit`` bytes per stream.

    Both pipes are drained until EOF whatever their size; on ``timeout`` the process is killed
    and ``subprocess.TimeoutExpired`` raised, as ``subprocess.run`` does.
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    proc = subprocess.Popen(
        list(argv),
        stdin=subprocess.DEVNULL if input is None else subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=cwd,
        env=dict(env) if env is not None else None,
    )
    try:
        out, err = _pump(proc, input, deadline, limit)
        remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
        rc = proc.wait(timeout=remaining)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise subprocess.TimeoutExpired(list(argv), timeout or 0.0) from None
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    finally:
        for pipe in (proc.stdin, proc.stdout, proc.stderr):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()
    return CappedRun(rc, out.value, err.value, truncated_streams(out.truncated, err.truncated))


def _pump(
    proc: subprocess.Popen[bytes], input: bytes | None, deadline: float | None, limit: int
) -> tuple[CappedBuffer, CappedBuffer]:
    """Write input and read both pipes until EOF (raises TimeoutExpired past the deadline)."""
    assert proc.stdout is not None and proc.stderr is not None
    buffers = {proc.stdout.fileno(): CappedBuffer(limit), proc.stderr.fileno(): CappedBuffer(limit)}
    out, err = buffers[proc.stdout.fileno()], buffers[proc.stderr.fileno()]
    pending = memoryview(input or b"")
    with selectors.DefaultSelector() as sel:
        for fd in buffers:
            sel.register(fd, selectors.EVENT_READ)
        if proc.stdin is not None:
            if pending:
                os.set_blocking(proc.stdin.fileno(), False)
                sel.register(proc.stdin.fileno(), selectors.EVENT_WRITE)
            else:
                proc.stdin.close()
        while sel.get_map():
            wait = None if deadline is None else deadline - time.monotonic()
            if wait is not None and wait <= 0:
                raise subprocess.TimeoutExpired(proc.args, 0.0)
            for key, _ in sel.select(wait):
                fd = key.fd
                if fd in buffers:
                    data = os.read(fd, CHUNK)
                    if data:
                        buffers[fd].feed(data)
                    else:
                        sel.unregister(fd)
                    continue
                assert proc.stdin is not None
                try:
                    sent = os.write(fd, pending[:CHUNK])
                    pending = pending[sent:]
                except BlockingIOError:
                    continue
                except BrokenPipeError:
                    pending = pending[:0]  # the command stopped reading: as subprocess does
                if not pending:
                    sel.unregister(fd)
                    with contextlib.suppress(OSError):
                        proc.stdin.close()
    return out, err
