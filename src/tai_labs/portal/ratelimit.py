"""Login attempts limited per client address and per login name, in this process's memory.

A sliding window of failures: past ``limit`` failed attempts within ``window`` seconds, the
key is refused until the oldest ages out, before any password is checked (the scrypt work is
not spent on a guesser). Success does not reset an address (a class behind one NAT shares
it: its limit is the higher one), it resets the login's count.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Window:
    limit: int
    window: float
    clock: Callable[[], float]
    _failures: dict[str, deque[float]] = field(default_factory=dict)

    def _recent(self, key: str) -> deque[float]:
        times = self._failures.setdefault(key, deque())
        horizon = self.clock() - self.window
        while times and times[0] <= horizon:
            times.popleft()
        return times

    def blocked(self, key: str) -> float:
        """Seconds until ``key`` may try again (0: it may now)."""
        times = self._recent(key)
        if len(times) < self.limit:
            if not times:
                self._failures.pop(key, None)  # bounded memory: only keys with failures
            return 0.0
        return max(0.0, times[0] + self.window - self.clock())

    def failed(self, key: str) -> None:
        self._recent(key).append(self.clock())

    def reset(self, key: str) -> None:
        self._failures.pop(key, None)


@dataclass
class LoginLimiter:
    per_address: Window
    per_login: Window

    @classmethod
    def default(cls, clock: Callable[[], float]) -> LoginLimiter:
        # A class of 20 behind one address may mistype a few times each; a single login gets
        # 5 tries in 5 minutes, far below what guessing a 59-bit password needs.
        return cls(Window(60, 300.0, clock), Window(5, 300.0, clock))

    def wait(self, address: str, login: str) -> float:
        return max(self.per_address.blocked(address), self.per_login.blocked(login))

    def failed(self, address: str, login: str) -> None:
        self.per_address.failed(address)
        self.per_login.failed(login)

    def succeeded(self, login: str) -> None:
        self.per_login.reset(login)
