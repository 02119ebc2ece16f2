"""End-to-end lab tests: whole labs brought up with `tai-labs up` on this host.

They need root, LXC, debootstrap and nftables, and the role images (built on first use,
which takes minutes); they skip naming what is missing.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from labtools import host_problem, tai


@pytest.fixture(autouse=True)
def _needs_host() -> None:
    problem = host_problem()
    if problem:
        pytest.skip(problem)


@pytest.fixture
def labs() -> Iterator[list[str]]:
    """Lab ids a test brings up; all are brought down afterwards, whatever happened."""
    ids: list[str] = []
    yield ids
    for lab_id in ids:
        tai("down", lab_id, check=False)
