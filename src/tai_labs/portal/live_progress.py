"""The instructor's live progress, graded off the event loop and kept a few seconds.

A glance at a session grades every live lab (``exam.progress.lab_progress``: read-only,
nothing kept in the lab's history). That takes seconds per lab, so it runs in worker
threads, at most ``workers`` labs at once (the host also runs the labs), and each lab's
answer is kept ``ttl`` seconds: a page refreshed, or two instructors on the same session,
do not grade everything again. One grading per lab at a time: a second asker waits for
the first one's answer instead of starting another.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from tai_labs.errors import TaiLabsError
from tai_labs.exam.progress import Progress, lab_progress

#: How long a lab's progress is kept before a glance grades it again.
TTL_SECONDS = 10.0
#: Labs graded at once (each grading runs commands in the lab's nodes).
WORKERS = 2


@dataclass(frozen=True)
class LabGlance:
    """One lab's progress at ``at`` (monotonic), or why it could not be read (French-free:
    the library's message, shown as is beside a question mark)."""

    lab: str
    progress: Progress | None
    error: str | None
    at: float


class LiveProgress:
    def __init__(
        self,
        grade: Callable[[str], Progress] = lab_progress,
        *,
        ttl: float = TTL_SECONDS,
        workers: int = WORKERS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._grade = grade
        self._ttl = ttl
        self._workers = max(1, workers)
        self._clock = clock
        self._kept: dict[str, LabGlance] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def _lock(self, lab: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(lab, threading.Lock())

    def _fresh(self, lab: str) -> LabGlance | None:
        kept = self._kept.get(lab)
        return kept if kept is not None and self._clock() - kept.at < self._ttl else None

    def glance(self, lab: str) -> LabGlance:
        """The lab's progress: the kept one if fresh, else graded now (blocking)."""
        kept = self._fresh(lab)
        if kept is not None:
            return kept
        with self._lock(lab):
            kept = self._fresh(lab)  # graded by whoever held the lock before us
            if kept is not None:
                return kept
            try:
                got = LabGlance(lab, self._grade(lab), None, self._clock())
            except TaiLabsError as exc:
                got = LabGlance(lab, None, exc.message, self._clock())
            except Exception as exc:  # a node's transport failing: one lab, not the page
                got = LabGlance(lab, None, f"{type(exc).__name__}: {exc}", self._clock())
            self._kept[lab] = got
            return got

    def glance_all(self, labs: Sequence[str]) -> dict[str, LabGlance]:
        """Each lab's progress (blocking; call it from a worker thread, not the event loop)."""
        unique = list(dict.fromkeys(labs))
        if not unique:
            return {}
        with ThreadPoolExecutor(max_workers=min(self._workers, len(unique))) as pool:
            return dict(zip(unique, pool.map(self.glance, unique), strict=True))
