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

from tai_labs.exam import clock as exam_clock
from tai_labs.exam.clock import SessionClock
from tai_labs.exam.model import Candidate, Session, SessionState
from tai_labs.lab.access import WEB_BRIEF_FILE
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


def candidate_seconds_left(
    session: Session, clock: SessionClock, login: str, now: datetime
) -> int | None:
    """This candidate's time left (0 once ended or past their deadline), from the exam clock:
    the real start, the duration and their own extra time (``exam.clock``), never the
    planned start. None without a duration (practice)."""
    left = exam_clock.time_left(session, clock, login, now)
    return None if left is None else int(left.total_seconds())


def refusal(session: Session, clock: SessionClock, login: str, now: datetime) -> str | None:
    """Why candidate ``login`` of ``session`` may not be in now (French), or None when they
    may: the épreuve not started or over, their own time up or their end already made."""
    if session.practice:
        return None if session.state in PRACTICE_OPEN else "Cette session n'est pas ouverte."
    if session.state is SessionState.ENDED:
        return "L'épreuve est terminée."
    if session.state not in EXAM_OPEN or clock.started_at is None:
        return "L'épreuve n'a pas encore commencé."
    if clock.of(login).ended_at is not None:
        return "Votre épreuve est terminée : vos labs ont été figés pour le jury."
    if candidate_seconds_left(session, clock, login, now) == 0:
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
    """The candidate's brief as HTML (what `up` wrote for them), None until it is written:
    the portal's own (its access names the page's buttons), else, for a lab brought up
    before there was one, the host's."""
    folder = locations(data).lab(lab_id)
    for name in (WEB_BRIEF_FILE, BRIEF_FILE):
        try:
            return _MARKDOWN.render((folder / name).read_text(encoding="utf-8"))
        except FileNotFoundError:
            continue
    return None


def utcnow() -> datetime:
    return datetime.now(UTC)
