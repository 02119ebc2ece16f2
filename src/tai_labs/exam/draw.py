"""Each candidate's variant of a scenario: a seed drawn from the session and their login.

A lab is built from (scenario, candidate, seed): ``tai-labs up --candidate LOGIN --seed S``.
A scenario's ``choice`` variables make its variants (the VLAN number, the site, the share);
every other variable (people, addresses, secrets) follows the same seed.

The draw is reproducible and recorded: a candidate's first seed is a hash of the session's
``draw_key`` (random, kept with the session), the scenario and the login. Neighbours, that
is consecutive rows of the roster (how a room is seated), must not share answers: when a
candidate's variant has a ``choice`` value in common with the previous candidate's, the seed
moves on (+1) until every such value differs. A variable with one value only cannot differ
and is not compared; a scenario without ``choice`` has one variant, and nothing to compare.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

from tai_labs.errors import TaiLabsError
from tai_labs.exam.model import Draw
from tai_labs.scenario.variables import Variable, stream

SEED_RANGE = 2**31
#: Each try differs with probability at least (1/2)^k for k compared variables: 200 tries
#: fail only for a scenario with many two-valued choices, which is then reported.
MAX_TRIES = 200


class DrawError(TaiLabsError):
    pass


def variant_of(
    specs: Mapping[str, Variable], scenario_id: str, candidate: str, seed: int
) -> dict[str, Any]:
    """The ``choice`` values the loader draws for this candidate and seed.

    The loader gives each variable its own stream (``variables.stream``) and a ``choice``
    takes ``rng.choice`` of it first; a test loads the scenario to prove they agree.
    """
    return {
        name: stream(scenario_id, candidate, seed, name).choice(spec.choice)
        for name, spec in specs.items()
        if spec.choice is not None
    }


def variant_count(specs: Mapping[str, Variable]) -> int:
    count = 1
    for spec in specs.values():
        if spec.choice is not None:
            count *= len({repr(v) for v in spec.choice})
    return count


def first_seed(draw_key: str, scenario_id: str, login: str) -> int:
    digest = hashlib.sha256(f"{draw_key}\0{scenario_id}\0{login}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % SEED_RANGE


def _compared(specs: Mapping[str, Variable]) -> list[str]:
    return [
        name
        for name, spec in specs.items()
        if spec.choice is not None and len({repr(v) for v in spec.choice}) > 1
    ]


def draw_scenario(
    draw_key: str, scenario_id: str, specs: Mapping[str, Variable], logins: Sequence[str]
) -> list[Draw]:
    """One ``Draw`` per login, in roster order, no two neighbours sharing a ``choice`` value."""
    compared = _compared(specs)
    draws: list[Draw] = []
    previous: dict[str, Any] | None = None
    for login in logins:
        seed = first_seed(draw_key, scenario_id, login)
        for _ in range(MAX_TRIES):
            variant = variant_of(specs, scenario_id, login, seed)
            if previous is None or all(variant[n] != previous[n] for n in compared):
                break
            seed = (seed + 1) % SEED_RANGE
        else:
            raise DrawError(
                f"no variant of {scenario_id} for {login} differs from their neighbour's "
                f"after {MAX_TRIES} tries",
                hint="give the scenario's choice variables more values",
            )
        draws.append(Draw(scenario=scenario_id, seed=seed, variant=variant))
        previous = variant
    return draws
