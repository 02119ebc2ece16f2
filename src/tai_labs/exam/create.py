"""``session create``: every input checked first, then one atomic write, or nothing.

The order is the instructor's: the session's name, its duration and start, its scenarios
(known, in the block unless ``mixed``, not drafts for an exam), the roster (every bad line at
once), then the draw. Only when all of these pass is the session written, in one
transaction (``ExamStore.create``).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from tai_labs.errors import UsageError
from tai_labs.exam import draw
from tai_labs.exam.model import (
    BLOCKS,
    MAX_SCENARIOS,
    Block,
    Candidate,
    Session,
    SessionScenario,
    parse_duration,
    parse_start,
    session_name,
)
from tai_labs.exam.roster import Roster, read_roster
from tai_labs.exam.store import ExamStore, SessionExistsError
from tai_labs.scenario import catalog
from tai_labs.scenario.loader import load_scenario, variable_specs
from tai_labs.scenario.variables import Variable


@dataclass(frozen=True)
class SessionRequest:
    name: str
    scenarios: Sequence[str]
    roster: Path
    duration: str | None
    start: str | None = None
    block: str | None = None
    mixed: bool = False
    practice: bool = False


@dataclass(frozen=True)
class Created:
    session: Session
    ignored_columns: tuple[str, ...]


@dataclass(frozen=True)
class _Resolved:
    info: SessionScenario
    specs: dict[str, Variable]
    draft: str | None


def _resolve(name: str) -> _Resolved:
    file = catalog.find(name)
    loaded = load_scenario(file)  # validates it: a broken scenario is refused here
    specs = variable_specs(file)
    meta = loaded.scenario.scenario
    info = SessionScenario(
        id=meta.id,
        title=meta.title,
        block=meta.block,
        file=str(file.resolve()),
        variants=draw.variant_count(specs),
    )
    return _Resolved(info, specs, meta.draft)


def _block(request: SessionRequest, resolved: list[_Resolved]) -> Block:
    blocks = sorted({r.info.block for r in resolved})
    if request.block is not None:
        wanted = request.block.upper()
        if wanted not in BLOCKS:
            raise UsageError(f"unknown block {request.block!r}", hint="CCP1, CCP2 or CCP3")
        block: Block = wanted  # type: ignore[assignment]  # checked against BLOCKS just above
    elif len(blocks) == 1:
        block = resolved[0].info.block
    else:
        raise UsageError(
            f"the scenarios are of {' and '.join(blocks)}: which block does the session assess?",
            hint="say it with --block CCPn, and add --mixed to take scenarios of other blocks",
        )
    outside = [r.info.id for r in resolved if r.info.block != block]
    if outside and not request.mixed:
        raise UsageError(
            f"{', '.join(outside)} not in {block} (the session's block)",
            hint="take scenarios of the block, or add --mixed to assess across blocks",
        )
    return block


def check_request(
    request: SessionRequest, exams: ExamStore, now: datetime
) -> tuple[Session, Roster]:
    """The session the request describes, with its draws; raises on the first bad input
    (the roster's problems all together). Writes nothing."""
    name = session_name(request.name)
    if exams.find(name) is not None:
        raise SessionExistsError(name)
    if request.duration is None and not request.practice:
        raise UsageError(
            "an exam session needs --duration",
            hint="e.g. --duration 2h (only a --practice session may have none)",
        )
    duration = parse_duration(request.duration) if request.duration is not None else None
    start = parse_start(request.start, now=now) if request.start is not None else None
    if not request.scenarios:
        raise UsageError("no scenario", hint="give one or more: --scenario compte-verrouille")
    if len(set(request.scenarios)) != len(request.scenarios):
        raise UsageError("a scenario is named twice", hint="give each scenario once")
    if len(request.scenarios) > MAX_SCENARIOS:
        raise UsageError(f"more than {MAX_SCENARIOS} scenarios in one épreuve")
    resolved = [_resolve(s) for s in request.scenarios]
    ids = [r.info.id for r in resolved]
    if len(set(ids)) != len(ids):
        raise UsageError("a scenario is named twice (by id and by path)")
    drafts = [f"{r.info.id} ({r.draft})" for r in resolved if r.draft]
    if drafts and not request.practice:
        raise UsageError(
            f"draft scenario not ready for exams: {'; '.join(drafts)}",
            hint="take another scenario, or make it a --practice session",
        )
    block = _block(request, resolved)
    roster = read_roster(request.roster, display=str(request.roster))
    logins = [e.identifiant for e in roster.entries]
    draw_key = secrets.token_hex(16)
    per_scenario = {
        r.info.id: draw.draw_scenario(draw_key, r.info.id, r.specs, logins) for r in resolved
    }
    candidates = tuple(
        Candidate(
            login=entry.identifiant,
            nom=entry.nom,
            prenom=entry.prenom,
            email=entry.email,
            roster_line=entry.line,
            login_derived=entry.derived,
            draws=tuple(per_scenario[sid][i] for sid in ids),
        )
        for i, entry in enumerate(roster.entries)
    )
    session = Session(
        name=name,
        block=block,
        mixed=request.mixed,
        practice=request.practice,
        scenarios=tuple(r.info for r in resolved),
        duration=duration,
        start=start,
        created=now,
        draw_key=draw_key,
        candidates=candidates,
    )
    return session, roster


def create_session(
    request: SessionRequest,
    *,
    exams: ExamStore | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Created:
    exams = exams or ExamStore()
    session, roster = check_request(request, exams, clock())
    exams.create(session)
    return Created(session, roster.ignored_columns)
