"""Fixtures for the judge tests; the helpers live in graderkit.py."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from graderkit import judge_with

from tai_labs.grading.model import Evidence, Judgement


@pytest.fixture
def judge() -> Callable[..., Judgement]:
    """judge("linux.service", evidence, service="cron") → Judgement."""

    def run(check: str, ev: Evidence, **params: Any) -> Judgement:
        return judge_with(check, ev, **params)

    return run
