"""What the clock needs from the session's other parts, passed in rather than imported.

Two things the clock does not own: opening and closing a candidate's access (the session's
SSH gateway accounts, ``tai_labs.exam.access``), and knowing which lab is a candidate's for a
scenario (the labs ``session up`` links to the session). Both come in as values, so the clock
is tested with its real store and real labs and whatever gate the caller has.

``labs_by_draw`` finds a candidate's lab without any link: the lab of this host built for
their login, scenario and drawn seed, exactly what ``session show --commands`` builds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from tai_labs.errors import TaiLabsError
from tai_labs.exam.model import Candidate, Session
from tai_labs.lab.store import Store


@dataclass(frozen=True)
class AccessGate:
    """Opens and closes one candidate's access; both must be idempotent (a rerun after a
    crash calls them again). ``wired`` False: this build has no session accounts to open or
    close, and the commands say so rather than pretend."""

    open: Callable[[Session, str], None]
    close: Callable[[Session, str], None]
    wired: bool = True


def _nothing(_session: Session, _login: str) -> None:
    return None


#: No session gateway accounts in this build: access is the labs' own (`tai-labs access`).
NO_GATEWAY = AccessGate(open=_nothing, close=_nothing, wired=False)

#: scenario id -> lab id, for the labs of one candidate that exist.
LabFinder = Callable[[Session, Candidate], dict[str, str]]


class AmbiguousLabError(TaiLabsError):
    pass


def labs_by_draw(
    session: Session, candidate: Candidate, store: Store | None = None
) -> dict[str, str]:
    """The candidate's labs on this host: built for their login, the scenario and the seed
    they drew. Two such labs are refused: which one the jury grades must not be a guess."""
    labs = (store or Store()).labs()
    found: dict[str, str] = {}
    for sc in session.scenarios:
        seed = candidate.draw(sc.id).seed
        matches = [
            lab.id
            for lab in labs
            if lab.scenario == sc.id and lab.candidate == candidate.login and lab.seed == seed
        ]
        if len(matches) > 1:
            raise AmbiguousLabError(
                f"{candidate.login} has {len(matches)} labs of {sc.id} with seed {seed}: "
                f"{', '.join(matches)}",
                hint="remove the extra ones with `tai-labs down LAB`",
            )
        if matches:
            found[sc.id] = matches[0]
    return found
