from __future__ import annotations

import ipaddress
from typing import Any

import pytest

from tai_labs.scenario.variables import Variable, VariableError, ascii_login, resolve

NETS = {"lan": ipaddress.IPv4Network("10.0.0.0/24")}


def render(text: str, ctx: Any) -> str:
    from tai_labs.scenario.render import make_environment, render_value

    return render_value(make_environment(), text, ctx)


def run(specs: dict[str, Any], candidate: str = "alice", seed: int = 0, **kw: Any) -> dict:
    parsed = {k: Variable.model_validate(v) for k, v in specs.items()}
    return resolve(
        parsed,
        scenario_id="s",
        candidate=candidate,
        seed=seed,
        networks=NETS,
        taken=kw.pop("taken", set()),
        render=render,
        secret=kw.pop("secret", lambda name, n: "S" * n),
        **kw,
    )


SPECS = {
    "who": {"person": True},
    "cause": {"choice": ["dns", "hosts", "address", "firewall"]},
    "ip": {"host": {"network": "lan", "range": [20, 99]}},
    "n": {"integer": [1, 1000]},
}


def test_same_candidate_and_seed_give_the_same_lab() -> None:
    assert run(SPECS) == run(SPECS)


def test_neighbours_get_different_labs() -> None:
    draws = {tuple(sorted(map(str, run(SPECS, candidate=f"c{i}").values()))) for i in range(20)}
    assert len(draws) == 20


def test_adding_a_variable_does_not_reshuffle_the_others() -> None:
    before = run(SPECS)
    after = run({"extra": {"choice": [1, 2, 3]}, **SPECS})
    assert all(after[k] == before[k] for k in SPECS)


def test_host_addresses_avoid_taken_ones() -> None:
    taken = {ipaddress.IPv4Address(f"10.0.0.{i}") for i in range(20, 99)}
    assert run({"ip": SPECS["ip"]}, taken=taken)["ip"] == "10.0.0.99"
    taken.add(ipaddress.IPv4Address("10.0.0.99"))
    with pytest.raises(VariableError, match="no free address"):
        run({"ip": SPECS["ip"]}, taken=taken)


def test_templates_see_earlier_variables_and_keep_native_types() -> None:
    values = run({"a": 3, "b": {"template": "{{ a * 2 }}"}, "c": {"template": "x{{ a }}"}})
    assert values["b"] == 6 and values["c"] == "x3"


def test_pick_forces_every_choice_variant() -> None:
    got = {run({"cause": SPECS["cause"]}, pick={"cause": i})["cause"] for i in range(4)}
    assert got == {"dns", "hosts", "address", "firewall"}


def test_secrets_come_from_the_given_source() -> None:
    assert run({"pw": {"secret": {"length": 10}}})["pw"] == "S" * 10


def test_person_has_ascii_login_and_french_address_forms() -> None:
    person = run({"p": {"person": True}})["p"]
    assert person["login"].isascii() and "." in person["login"]
    assert person["civilite"] in ("Mme", "M.")
    assert ascii_login("Chloé", "André") == "chloe.andre"


def test_exactly_one_generator() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        Variable.model_validate({"choice": [1], "integer": [1, 2]})
