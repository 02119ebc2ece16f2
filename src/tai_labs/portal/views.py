"""What the portal's pages show, as typed rows read from the state store and the labs' folders.

No HTTP here: the app (``app.py``) authorises a request, then asks these functions. A
candidate's labs are the labs of this host built for their login with one of their session
draws (``tai-labs up SCENARIO --candidate LOGIN --seed SEED``, docs/exam-sessions.md): the
seed, drawn from the session's random key, is what ties a lab to a session.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from markdown_it import MarkdownIt

from tai_labs.exam.model import Candidate, Session, SessionState
from tai_labs.lab.store import LabRecord, Store
from tai_labs.locations import locations

BRIEF_FILE = "brief.md"
#: States in which a candidate of an exam session gets in: its clock is running.
EXAM_OPEN = frozenset({SessionState.STARTED})
#: A practice session has no clock: open once its labs are up, until it ends.
PRACTICE_OPEN = frozenset({SessionState.UP, SessionState.STARTED})
#: What the pages call a session's and a lab's states (French; an unknown one shows as is).
SESSION_STATES = {
    "created": "créée",
    "up": "labs prêts",
    "started": "en cours",
    "ended": "terminée",
}
LAB_STATES = {
    "creating": "en préparation",
    "ready": "prêt",
    "failed": "en échec",
    "interrupted": "interrompu",
}
# The brief is Markdown the lab layer wrote; raw HTML in it is shown as text, never run.
_MARKDOWN = MarkdownIt("commonmark", {"html": False}).enable("table")


@dataclass(frozen=True)
class NodeView:
    name: str
    kind: str
    ready: bool


@dataclass(frozen=True)
class LabView:
    id: str
    scenario: str
    title: str
    status: str
    nodes: tuple[NodeView, ...]


@dataclass(frozen=True)
class CandidateRow:
    login: str
    full_name: str
    labs: tuple[LabView, ...]
    seconds_left: int | None


def seconds_left(session: Session, now: datetime) -> int | None:
    """Seconds to the session's deadline (0 when past), None when it has none."""
    deadline = session.deadline
    if deadline is None:
        return None
    return max(0, int((deadline - now).total_seconds()))


def candidate_seconds_left(session: Session, candidate: Candidate, now: datetime) -> int | None:
    """A candidate's time left: the session's today; the place for their extra time."""
    del candidate
    return seconds_left(session, now)


def refusal(session: Session, now: datetime) -> str | None:
    """Why a candidate of ``session`` may not be in now (French), or None when they may."""
    if session.practice:
        return None if session.state in PRACTICE_OPEN else "Cette session n'est pas ouverte."
    if session.state is SessionState.ENDED:
        return "L'épreuve est terminée."
    if session.state not in EXAM_OPEN:
        return "L'épreuve n'a pas encore commencé."
    if seconds_left(session, now) == 0:
        return "Le temps de l'épreuve est écoulé."
    return None


def _titles(session: Session) -> dict[str, str]:
    return {s.id: s.title for s in session.scenarios}


def candidate_labs(store: Store, session: Session, candidate: Candidate) -> list[LabRecord]:
    seeds = {(d.scenario, d.seed) for d in candidate.draws}
    return [
        lab
        for lab in store.labs()
        if lab.candidate == candidate.login and (lab.scenario, lab.seed) in seeds
    ]


def lab_view(store: Store, session: Session, lab: LabRecord) -> LabView:
    nodes = tuple(NodeView(n.name, n.kind, n.ready) for n in store.nodes(lab.id))
    title = _titles(session).get(lab.scenario, lab.scenario)
    return LabView(lab.id, lab.scenario, title, lab.status, nodes)


def brief_html(lab_id: str, data: Path | None = None) -> str | None:
    """The candidate's brief as HTML (what `up` wrote for them), None until it is written."""
    path = locations(data).lab(lab_id) / BRIEF_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    return _MARKDOWN.render(text)


def session_rows(store: Store, session: Session, now: datetime) -> list[CandidateRow]:
    """Each candidate of ``session`` with their labs and time left, for the instructor."""
    return [
        CandidateRow(
            cand.login,
            cand.full_name,
            tuple(lab_view(store, session, lab) for lab in candidate_labs(store, session, cand)),
            candidate_seconds_left(session, cand, now),
        )
        for cand in session.candidates
    ]


def utcnow() -> datetime:
    return datetime.now(UTC)
