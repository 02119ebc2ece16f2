"""The template budget shared by one load: many evaluations, each under its own bound, cannot
add up past the load's (``limits.MAX_LOAD_TEMPLATE_STEPS``); outside a load each evaluation
keeps its own bound only."""

from __future__ import annotations

from pathlib import Path

import pytest

from tai_labs.scenario import limits
from tai_labs.scenario.loader import validate
from tai_labs.scenario.render import (
    TemplateLimitError,
    budget_spent,
    load_budget,
    make_environment,
    render_value,
)

GOLDEN = Path(__file__).resolve().parent.parent / "golden" / "errors"
#: About 60 % of one evaluation's step bound (two lines of template code per inner turn).
SLOW = "{% for i in range(300) %}{% for j in range(1000) %}{% endfor %}{% endfor %}x"


@pytest.fixture(autouse=True)
def generous_time(monkeypatch: pytest.MonkeyPatch) -> None:
    # Steps, not seconds, must be what trips here, however loaded the machine is.
    monkeypatch.setattr(limits, "MAX_TEMPLATE_SECONDS", 60.0)
    monkeypatch.setattr(limits, "MAX_LOAD_TEMPLATE_SECONDS", 60.0)


def test_each_evaluation_alone_fits_its_own_bound() -> None:
    env = make_environment()
    for _ in range(5):  # five in a row, no shared budget: none trips
        assert render_value(env, SLOW, {}) == "x"


def test_evaluations_of_one_load_share_its_budget() -> None:
    env = make_environment()
    done = 0
    with load_budget(), pytest.raises(TemplateLimitError, match="for all the templates"):
        while True:
            render_value(env, SLOW, {})
            done += 1
    # The shared 2,000,000 steps hold a few such evaluations, not unlimited ones.
    assert 1 <= done < limits.MAX_LOAD_TEMPLATE_STEPS // 500_000


def test_nested_loads_share_the_outer_budget_and_spent_is_seen() -> None:
    env = make_environment()
    with load_budget():
        assert not budget_spent()
        with pytest.raises(TemplateLimitError):
            for _ in range(20):
                with load_budget():  # an inner load (a base, a brief) does not reset it
                    render_value(env, SLOW, {})
        assert budget_spent()
    assert not budget_spent()  # outside any load, nothing is spent


def test_many_slow_templates_over_every_variant_are_one_error() -> None:
    problems = validate(GOLDEN / "template-many-slow" / "scenario.yaml")
    assert len(problems) == 1
    assert "for all the templates of the scenario" in problems[0].message
