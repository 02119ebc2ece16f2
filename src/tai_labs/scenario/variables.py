"""Per-candidate variables: drawn from a seed so neighbours do not share answers.

Every variable gets its own random stream derived from (scenario id, candidate, seed,
variable name), so adding a variable to a scenario does not reshuffle the others, and the
same candidate and seed always get the same lab.
"""

from __future__ import annotations

import hashlib
import ipaddress
import random
import secrets as _secrets
import string
import unicodedata
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from tai_labs.scenario.limits import MAX_HOST_RANGE, MAX_PERSONS

# French first and last names for generated users (common ones, no real person intended).
FEMININE_NAMES = (
    "Camille",
    "Léa",
    "Manon",
    "Chloé",
    "Inès",
    "Sarah",
    "Julie",
    "Emma",
    "Clara",
    "Lucie",
    "Nadia",
    "Sophie",
    "Pauline",
    "Yasmine",
    "Amandine",
    "Aïcha",
)
MASCULINE_NAMES = (
    "Hugo",
    "Lucas",
    "Thomas",
    "Nathan",
    "Louis",
    "Théo",
    "Maxime",
    "Antoine",
    "Julien",
    "Karim",
    "Mathieu",
    "Nicolas",
    "Bastien",
    "Mehdi",
)
LAST_NAMES = (
    "Martin",
    "Bernard",
    "Dubois",
    "Thomas",
    "Robert",
    "Richard",
    "Petit",
    "Durand",
    "Leroy",
    "Moreau",
    "Simon",
    "Laurent",
    "Lefebvre",
    "Michel",
    "Garcia",
    "David",
    "Bertrand",
    "Roux",
    "Vincent",
    "Fournier",
    "Morel",
    "Girard",
    "André",
    "Mercier",
    "Dupont",
    "Lambert",
    "Bonnet",
    "Benali",
    "Nguyen",
    "Fontaine",
)

SECRET_ALPHABET = string.ascii_letters + string.digits


class HostSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    network: str
    range: tuple[int, int] = Field(description="host numbers, e.g. [20, 99] -> .20 to .99")

    @model_validator(mode="after")
    def _ordered(self) -> HostSpec:
        lo, hi = self.range
        if not 1 <= lo <= hi:
            raise ValueError("range must be [low, high] with 1 <= low <= high")
        return self


class SecretSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    length: int = Field(default=16, ge=8, le=64)


class Variable(BaseModel):
    """One entry under ``variables:``; exactly one of the generator keys is set."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    value: Any = None
    choice: list[Any] | None = Field(default=None, min_length=1)
    integer: tuple[int, int] | None = None
    person: bool | None = None
    host: HostSpec | None = None
    secret: SecretSpec | None = None
    template: str | None = None
    description: str = ""

    @model_validator(mode="before")
    @classmethod
    def _scalar_is_value(cls, data: Any) -> Any:
        # `name: 42` is shorthand for `name: {value: 42}`.
        return data if isinstance(data, dict) else {"value": data}

    @model_validator(mode="after")
    def _exactly_one(self) -> Variable:
        set_keys = [k for k in GENERATORS if getattr(self, k) is not None]
        if len(set_keys) != 1:
            raise ValueError(
                f"give exactly one of {', '.join(GENERATORS)} (got {', '.join(set_keys) or 'none'})"
            )
        if self.integer is not None and self.integer[0] > self.integer[1]:
            raise ValueError("integer must be [low, high] with low <= high")
        return self

    @property
    def generator(self) -> str:
        return next(k for k in GENERATORS if getattr(self, k) is not None)


GENERATORS = ("value", "choice", "integer", "person", "host", "secret", "template")

#: Renders a template string with a context; given by the loader (jinja2, strict).
Renderer = Callable[[str, Mapping[str, Any]], Any]
#: Returns the secret for a variable name (the lab's store, or a fixed one for validation).
SecretSource = Callable[[str, int], str]


def ascii_login(first: str, last: str) -> str:
    """``Chloé``, ``André`` -> ``chloe.andre``: what an AD login looks like."""

    def fold(text: str) -> str:
        decomposed = unicodedata.normalize("NFKD", text)
        return "".join(c for c in decomposed if c.isascii() and c.isalnum()).lower()

    return f"{fold(first)}.{fold(last)}"[:20]


def random_secret(length: int) -> str:
    """A fresh secret meeting AD's complexity rule (upper, lower, digit)."""
    while True:
        value = "".join(_secrets.choice(SECRET_ALPHABET) for _ in range(length))
        if (
            any(c.isupper() for c in value)
            and any(c.islower() for c in value)
            and any(c.isdigit() for c in value)
        ):
            return value


def stream(scenario_id: str, candidate: str, seed: int, name: str) -> random.Random:
    digest = hashlib.sha256(f"{scenario_id}\0{candidate}\0{seed}\0{name}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


class VariableError(ValueError):
    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.name = name


def resolve(
    specs: Mapping[str, Variable],
    *,
    scenario_id: str,
    candidate: str,
    seed: int,
    networks: Mapping[str, ipaddress.IPv4Network],
    taken: set[ipaddress.IPv4Address],
    render: Renderer,
    secret: SecretSource,
    pick: Mapping[str, int] | None = None,
) -> dict[str, Any]:
    """Compute every variable, in declaration order (templates may use earlier ones).

    ``pick`` forces the index drawn by ``choice`` variables; validation uses it to render
    every variant of a scenario at least once.
    """
    values: dict[str, Any] = {"candidate": candidate, "seed": seed}
    people: set[tuple[str, str]] = set()
    for name, spec in specs.items():
        rng = stream(scenario_id, candidate, seed, name)
        kind = spec.generator
        if kind == "value":
            value: Any = spec.value
        elif kind == "choice":
            assert spec.choice is not None
            index = pick[name] % len(spec.choice) if pick and name in pick else None
            value = spec.choice[index] if index is not None else rng.choice(spec.choice)
        elif kind == "integer":
            assert spec.integer is not None
            value = rng.randint(*spec.integer)
        elif kind == "person":
            try:
                value = _person(rng, people)
            except ValueError as exc:
                raise VariableError(name, str(exc)) from None
        elif kind == "host":
            assert spec.host is not None
            value = str(_pick_host(name, spec.host, networks, taken, rng))
        elif kind == "secret":
            assert spec.secret is not None
            value = secret(name, spec.secret.length)
        else:
            assert spec.template is not None
            try:
                value = render(spec.template, values)
            except Exception as exc:  # the renderer's errors (jinja2) name no variable
                raise VariableError(name, f"template error: {exc}") from exc
        values[name] = value
    return values


def _person(rng: random.Random, taken: set[tuple[str, str]]) -> dict[str, Any]:
    """A French user: names, login, and what a brief needs to address them ("Mme Martin")."""
    if len(taken) >= MAX_PERSONS:
        raise ValueError(f"more than {MAX_PERSONS} person variables")
    while True:
        feminine = rng.random() < 0.5
        first = rng.choice(FEMININE_NAMES if feminine else MASCULINE_NAMES)
        last = rng.choice(LAST_NAMES)
        if (first, last) not in taken:
            break
    taken.add((first, last))
    return {
        "first": first,
        "last": last,
        "login": ascii_login(first, last),
        "feminine": feminine,
        "civilite": "Mme" if feminine else "M.",
        "e": "e" if feminine else "",  # for agreement: "connecté{{ user.e }}"
    }


def _pick_host(
    name: str,
    spec: HostSpec,
    networks: Mapping[str, ipaddress.IPv4Network],
    taken: set[ipaddress.IPv4Address],
    rng: random.Random,
) -> ipaddress.IPv4Address:
    if spec.network not in networks:
        raise VariableError(name, f"unknown network {spec.network!r}")
    subnet = networks[spec.network]
    lo, hi = spec.range
    if hi >= subnet.num_addresses - 1:
        raise VariableError(name, f"range {lo}-{hi} does not fit in {subnet}")
    if hi - lo + 1 > MAX_HOST_RANGE:
        raise VariableError(name, f"range {lo}-{hi} is wider than {MAX_HOST_RANGE} addresses")
    first, last = subnet.network_address + lo, subnet.network_address + hi
    if hi - lo + 1 <= 4096:
        free = [subnet.network_address + n for n in range(lo, hi + 1)]
        free = [a for a in free if a not in taken]
        if not free:
            raise VariableError(name, f"no free address left in {lo}-{hi} of {subnet}")
        chosen = rng.choice(free)
    else:  # a wide range: draw until free (the taken addresses are few)
        if len([a for a in taken if first <= a <= last]) > hi - lo:
            raise VariableError(name, f"no free address left in {lo}-{hi} of {subnet}")
        chosen = subnet.network_address + rng.randint(lo, hi)
        while chosen in taken:
            chosen = subnet.network_address + rng.randint(lo, hi)
    taken.add(chosen)
    return chosen
