"""Shared fixtures and the skip rule for tests that need something absent."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from portal_world import PortalWorld

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def repo_root() -> Path:
    return ROOT


@pytest.fixture
def portal_world(tmp_path: Path) -> PortalWorld:
    from portal_world import make_portal_world

    return make_portal_world(tmp_path / "data")
