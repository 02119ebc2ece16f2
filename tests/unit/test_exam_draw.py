"""Each candidate's variant: reproducible from the recorded key, neighbours share no answer,
and the seed recorded builds exactly the variant recorded (checked through the real loader)."""

from __future__ import annotations

import itertools

import pytest

from tai_labs.exam.draw import DrawError, draw_scenario, first_seed, variant_count
from tai_labs.scenario import catalog
from tai_labs.scenario.loader import load_scenario, variable_specs
from tai_labs.scenario.variables import Variable

KEY = "0123456789abcdef0123456789abcdef"
CLASS = [f"candidat{i:02d}-nom" for i in range(15)]


def test_same_key_and_roster_give_the_same_draw_another_key_another() -> None:
    specs = variable_specs(catalog.find("vlan-comptabilite"))
    first = draw_scenario(KEY, "vlan-comptabilite", specs, CLASS)
    again = draw_scenario(KEY, "vlan-comptabilite", specs, CLASS)
    other = draw_scenario("f" * 32, "vlan-comptabilite", specs, CLASS)
    assert first == again
    assert [d.seed for d in first] != [d.seed for d in other]


def _with_variants() -> list[str]:
    found = []
    for file in catalog.iter_scenario_files():
        if variant_count(variable_specs(file)) > 1:
            found.append(file.parent.name)
    return found


@pytest.mark.parametrize("scenario", _with_variants())
def test_neighbours_share_no_choice_value(scenario: str) -> None:
    specs = variable_specs(catalog.find(scenario))
    assert variant_count(specs) > 1
    draws = draw_scenario(KEY, scenario, specs, CLASS)
    compared = [
        n for n, s in specs.items() if s.choice is not None and len(set(map(repr, s.choice))) > 1
    ]
    assert compared
    for before, after in itertools.pairwise(draws):
        for name in compared:
            assert before.variant[name] != after.variant[name], (name, before, after)
    # the class gets several variants, not an alternation of two (unless there are two)
    assert len({tuple(map(repr, d.variant.values())) for d in draws}) >= min(
        3, variant_count(specs)
    )


def test_recorded_seed_builds_the_recorded_variant() -> None:
    file = catalog.find("vlan-comptabilite")
    specs = variable_specs(file)
    for login, draw in zip(
        CLASS[:4], draw_scenario(KEY, "vlan-comptabilite", specs, CLASS[:4]), strict=True
    ):
        loaded = load_scenario(file, candidate=login, seed=draw.seed)
        for name, value in draw.variant.items():
            assert loaded.variables[name] == value


def test_scenario_without_choice_keeps_the_first_seed() -> None:
    specs = {"n": Variable(integer=(1, 9))}
    draws = draw_scenario(KEY, "x", specs, ["abc", "cde"])
    assert variant_count(specs) == 1
    assert [d.seed for d in draws] == [first_seed(KEY, "x", "abc"), first_seed(KEY, "x", "cde")]
    assert all(d.variant == {} for d in draws)


def test_an_impossible_neighbour_constraint_is_reported() -> None:
    # 40 two-valued choices: differing on all of them at once is a 2**-40 chance per try
    specs = {f"v{i}": Variable(choice=[0, 1]) for i in range(40)}
    with pytest.raises(DrawError, match="differs from their neighbour"):
        draw_scenario(KEY, "x", specs, ["abc", "cde"])
