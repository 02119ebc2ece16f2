"""Fixtures shared by unit test modules."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator

import pytest


@pytest.fixture
def fresh_netns() -> Iterator[int]:
    """A process alone in a new network namespace (only a down loopback in it)."""
    proc = subprocess.Popen(["unshare", "--net", "sleep", "60"])
    try:
        for _ in range(100):
            if os.readlink(f"/proc/{proc.pid}/ns/net") != os.readlink("/proc/self/ns/net"):
                break
            subprocess.run(["sleep", "0.05"], check=True)
        yield proc.pid
    finally:
        proc.kill()
        proc.wait()
