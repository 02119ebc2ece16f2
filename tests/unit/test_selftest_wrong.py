"""A wrong solution's checks must be judged ``fail``: an ``error`` is a grader that could not
judge, not the jury's fail (lab/selftest.py, ``not_failing``)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from tai_labs.grading.model import Verdict
from tai_labs.lab.selftest import not_failing

FAIL, PASS, ERROR, SKIPPED = Verdict.FAIL, Verdict.PASS, Verdict.ERROR, Verdict.SKIPPED

SCENARIO: Any = SimpleNamespace(
    checks=[
        SimpleNamespace(id="lease", depends_on=[]),
        SimpleNamespace(id="lease-options", depends_on=["lease"]),
        SimpleNamespace(id="untouched", depends_on=[]),
    ]
)


def test_a_wrong_solution_must_be_failed_not_left_unjudged() -> None:
    verdicts = {"lease": FAIL, "lease-options": SKIPPED, "untouched": PASS}
    assert not_failing(SCENARIO, verdicts, ["lease"], ["untouched"]) == []
    # error: the grader could not judge; pass: the wrong solution is credited
    for verdict in (ERROR, PASS):
        assert not_failing(SCENARIO, {**verdicts, "lease": verdict}, ["lease"]) == ["lease"]
    # must_pass still has to pass
    assert not_failing(SCENARIO, {**verdicts, "untouched": FAIL}, [], ["untouched"]) == [
        "untouched"
    ]


def test_skipped_counts_only_behind_a_failed_prerequisite() -> None:
    behind_fail = {"lease": FAIL, "lease-options": SKIPPED, "untouched": PASS}
    assert not_failing(SCENARIO, behind_fail, ["lease", "lease-options"]) == []
    behind_error = {**behind_fail, "lease": ERROR}
    assert not_failing(SCENARIO, behind_error, ["lease-options"]) == ["lease-options"]
    # a check with no prerequisite is never skipped for a reason the jury would call a fail
    assert not_failing(SCENARIO, {**behind_fail, "untouched": SKIPPED}, ["untouched"]) == [
        "untouched"
    ]
