"""An exam session as typed data: what was planned, for whom, with which variant each.

A session is one *épreuve* of a block (CCP): one or several scenarios that every candidate
of a roster takes, each in their own variant, for a duration, from an optional start. Its
state moves ``created`` -> ``up`` (every lab built) -> ``started`` (access open, clock
running) -> ``ended`` (access closed, labs frozen and graded).

The model never holds a password, nor its hash: those stay in the store
(``tai_labs.exam.store``), so nothing that shows or exports a session can leak them.
"""

from __future__ import annotations

import enum
import re
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from tai_labs.errors import UsageError

Block = Literal["CCP1", "CCP2", "CCP3"]
BLOCKS: tuple[Block, ...] = ("CCP1", "CCP2", "CCP3")
SESSION_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,39}")
#: A candidate's login: also a host account name (the SSH gateway's: 3 to 32 of a-z, 0-9 and
#: -) and part of paths, so a closed alphabet; no dot, which `chown user.group` would split.
LOGIN = re.compile(r"[a-z][a-z0-9-]{1,30}[a-z0-9]")
#: An exam day: a duration above this is a typo (``20h`` for ``2h``).
MAX_DURATION_MINUTES = 12 * 60
MAX_SCENARIOS = 6
_DURATION = re.compile(r"(?:(\d{1,2})\s*h)?\s*(?:(\d{1,4})\s*(?:m|min|mn)?)?")


class SessionState(enum.StrEnum):
    CREATED = "created"
    UP = "up"
    STARTED = "started"
    ENDED = "ended"

    def can_become(self, new: SessionState) -> bool:
        return new in _NEXT[self]


#: The only moves a session makes: forward, one step at a time (``down`` removes it).
_NEXT: dict[SessionState, frozenset[SessionState]] = {
    SessionState.CREATED: frozenset({SessionState.UP}),
    SessionState.UP: frozenset({SessionState.STARTED}),
    SessionState.STARTED: frozenset({SessionState.ENDED}),
    SessionState.ENDED: frozenset(),
}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SessionScenario(_Model):
    """A scenario of the épreuve, as it was when the session was created."""

    id: str
    title: str
    block: Block
    file: str
    #: How many distinct variants its ``choice`` variables give (1: everyone gets the same).
    variants: int = Field(ge=1)


class Draw(_Model):
    """A candidate's variant of one scenario: the ``up`` seed and what it gives.

    ``tai-labs up SCENARIO --candidate LOGIN --seed SEED`` builds that very lab; ``variant``
    holds the values of the scenario's ``choice`` variables it draws, for the instructor.
    """

    scenario: str
    seed: int = Field(ge=0)
    variant: dict[str, Any]


class Candidate(_Model):
    login: str = Field(pattern=f"^{LOGIN.pattern}$")
    nom: str
    prenom: str
    email: str | None = None
    roster_line: int = Field(ge=1)
    login_derived: bool
    draws: tuple[Draw, ...]

    @property
    def full_name(self) -> str:
        return f"{self.prenom} {self.nom}"

    def draw(self, scenario: str) -> Draw:
        for draw in self.draws:
            if draw.scenario == scenario:
                return draw
        raise KeyError(scenario)


class Session(_Model):
    name: str = Field(pattern=f"^{SESSION_NAME.pattern}$")
    block: Block
    mixed: bool = False
    practice: bool = False
    scenarios: tuple[SessionScenario, ...] = Field(min_length=1, max_length=MAX_SCENARIOS)
    #: Minutes; None only for a practice session (no deadline).
    duration: int | None = Field(default=None, gt=0, le=MAX_DURATION_MINUTES)
    start: datetime | None = None
    state: SessionState = SessionState.CREATED
    created: datetime
    #: Random, made at creation: with a candidate's login it gives their seeds (``draw.py``).
    draw_key: str = Field(pattern=r"^[0-9a-f]{32}$")
    candidates: tuple[Candidate, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> Session:
        if self.duration is None and not self.practice:
            raise ValueError("an exam session needs a duration")
        if self.start is not None and self.start.tzinfo is None:
            raise ValueError("start must carry its time zone")
        logins = [c.login for c in self.candidates]
        if len(set(logins)) != len(logins):
            raise ValueError("two candidates share a login")
        ids = {s.id for s in self.scenarios}
        for cand in self.candidates:
            if {d.scenario for d in cand.draws} != ids:
                raise ValueError(f"candidate {cand.login} lacks a draw of some scenario")
        return self

    @property
    def deadline(self) -> datetime | None:
        if self.start is None or self.duration is None:
            return None
        return self.start + timedelta(minutes=self.duration)

    def candidate(self, login: str) -> Candidate:
        for cand in self.candidates:
            if cand.login == login:
                return cand
        raise UsageError(
            f"no candidate {login!r} in session {self.name}",
            hint=f"`tai-labs session show {self.name}` lists the logins",
        )


def session_name(value: str) -> str:
    if not SESSION_NAME.fullmatch(value):
        raise UsageError(
            f"invalid session name {value!r}",
            hint="lowercase letters, digits and dashes, 40 at most: e.g. ccp2-2027-01-12",
        )
    return value


def parse_duration(text: str) -> int:
    """``2h``, ``1h30``, ``90m``, ``45min``, ``120`` (minutes) -> minutes; refuse 0 and typos."""
    cleaned = text.strip().lower()
    match = _DURATION.fullmatch(cleaned) if cleaned else None
    if match is None or not any(match.groups()):
        raise UsageError(f"invalid duration {text!r}", hint="write it like 2h, 1h30, 90m or 45min")
    hours, minutes = (int(g) if g else 0 for g in match.groups())
    total = hours * 60 + minutes
    if total <= 0:
        raise UsageError(f"a duration of {text!r} is zero", hint="give the épreuve's length: 2h")
    if total > MAX_DURATION_MINUTES:
        raise UsageError(
            f"a duration of {text!r} is more than {MAX_DURATION_MINUTES // 60} hours",
            hint="an épreuve fits in one day: check the figure (2h, not 20h)",
        )
    return total


def parse_start(text: str, *, now: datetime) -> datetime:
    """``2027-01-12 09:00`` (this host's local time) or ISO 8601 with an offset -> aware time.

    ``now`` is aware; a start before it is refused.
    """
    try:
        value = datetime.fromisoformat(text.strip().replace(" ", "T", 1))
    except ValueError:
        raise UsageError(
            f"invalid start {text!r}",
            hint='write it as "YYYY-MM-DD HH:MM", e.g. "2027-01-12 09:00"',
        ) from None
    if value.tzinfo is None:
        value = value.astimezone()  # read as this host's local time, as an instructor means it
    if value <= now:
        raise UsageError(
            f"the start {value:%Y-%m-%d %H:%M} is in the past",
            hint="give a later start, or none and open the session with `tai-labs session start`",
        )
    return value


def format_duration(minutes: int | None) -> str:
    if minutes is None:
        return "sans limite"
    hours, rest = divmod(minutes, 60)
    if not hours:
        return f"{rest} min"
    return f"{hours} h {rest:02d}" if rest else f"{hours} h"
