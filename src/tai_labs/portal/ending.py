"""Ends of the épreuve run by the server, not by the instructor's request.

Ending a class freezes every lab (a snapshot, the nodes stopped: seconds per lab, minutes
for a class), longer than a browser or a reverse proxy waits for an answer. So the page's
end runs in a worker of the server: the request waits ``wait`` seconds (the access closes
first, within them), then answers; the freeze carries on, and the page shows each
candidate's end as it completes. One end per session at a time; how the last one failed,
if it did, is kept for the next view of the page.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_for

#: Ends running at once (each freezes ``DeskConfig.parallel`` labs at a time).
WORKERS = 2


class EndBusyError(Exception):
    """An end of this session is running already."""


class Ends:
    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="tai-labs-end")
        self._running: dict[str, Future[None]] = {}
        self._lock = threading.Lock()

    def start(self, session: str, work: Callable[[], None]) -> Future[None]:
        """Run ``work`` for ``session``; ``EndBusyError`` if one runs already."""
        with self._lock:
            current = self._running.get(session)
            if current is not None and not current.done():
                raise EndBusyError(session)
            future = self._pool.submit(work)
            self._running[session] = future
            return future

    @staticmethod
    def wait(future: Future[None], seconds: float) -> bool:
        """Block up to ``seconds`` for it (from a worker thread); True when it finished."""
        wait_for([future], timeout=seconds)
        return future.done()

    def running(self, session: str) -> bool:
        with self._lock:
            future = self._running.get(session)
            return future is not None and not future.done()

    def outcome(self, session: str) -> BaseException | None:
        """The failure of the session's last end, once (None: none, running or fine)."""
        with self._lock:
            future = self._running.get(session)
            if future is None or not future.done():
                return None
            del self._running[session]
        return future.exception()
