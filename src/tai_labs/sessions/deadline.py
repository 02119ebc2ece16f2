"""A deadline over every session call a caller makes: grading's time limit per check.

Grading sets the check's deadline (``within``) around its ``collect``; every session call
made meanwhile, in that thread, gets ``timeout = min(its own, time left)`` (``budget``), so a
stalled node (a ``sleep`` in a fault, a hung sshd) costs the check its limit, never the grade.
Outside ``within`` (actions, faults, readiness) timeouts are the callers' own.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from tai_labs.sessions.base import SessionError

# A context variable, not a global: nodes are graded in parallel threads, each its own check.
_DEADLINE: ContextVar[float | None] = ContextVar("tai_labs_session_deadline", default=None)


class DeadlineExceeded(SessionError):
    """No time was left for a session call under the caller's deadline."""


@contextmanager
def within(deadline: float) -> Iterator[None]:
    """Session calls made inside get at most ``deadline - time.monotonic()`` seconds."""
    token = _DEADLINE.set(deadline)
    try:
        yield
    finally:
        _DEADLINE.reset(token)


def budget(timeout: float, what: str) -> float:
    """``timeout`` cut to the time left before the deadline; DeadlineExceeded if none is."""
    deadline = _DEADLINE.get()
    if deadline is None:
        return timeout
    left = deadline - time.monotonic()
    if left <= 0:
        raise DeadlineExceeded(f"{what}: no time left before the check's time limit")
    return min(timeout, left)
