"""The self-service pages: a practice account's catalogue, its labs, their progress and TTL.

A practice account (``tai-labs serve user add NAME --practice``) logs in without a session,
picks a scenario of the catalogue (filtered by block and competence) and gets its own lab
(``exam.selfservice``): queued, built in the background, then its lab page is the
candidates' one (``/lab/{lab}``, with the practice buttons), found by ``own_lab``. Another
account's lab id, like an unknown one, answers 404.

Activity that keeps a lab alive (``Activity``): a page or form of the lab answered without
error, and keystrokes in its terminals. The state route the pages poll is not activity: an
open tab nobody looks at lets the lab expire, after the warning.

The app's own helpers (login, forms, pages) are handed in (``Seams``): this module is below
``app`` in the import graph.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import HTTPConnection, Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tai_labs.errors import TaiLabsError
from tai_labs.exam.model import Session
from tai_labs.exam.selfservice import CapacityError, LabStatus, QuotaError, SelfService
from tai_labs.exam.store import ExamStore
from tai_labs.lab.store import LabRecord
from tai_labs.portal.logins import Login
from tai_labs.reports.catalogue import ScenarioSummary, scenario_summaries
from tai_labs.scenario import catalog

PHASES = {
    "queued": "en file d'attente",
    "building": "en préparation",
    "ready": "prêt",
    "failed": "en échec",
}
STEPS = {
    "images": "images",
    "network": "réseau",
    "nodes": "machines",
    "boot": "démarrage",
    "roles": "rôles",
    "setup": "installation",
    "faults": "pannes",
    "identities": "identités",
    "snapshot": "instantané",
    "brief": "énoncé",
}


@dataclass(frozen=True)
class Seams:
    """The app's helpers this module uses (``app.py`` passes its own)."""

    need: Callable[[HTTPConnection, str], Login]
    form: Callable[[Request, str | None], Awaitable[FormData]]
    page: Callable[..., HTMLResponse]


@dataclass(frozen=True)
class CatalogueRow:
    id: str
    title: str
    block: str
    competences: tuple[tuple[str, str], ...]
    criteria: tuple[tuple[str, str], ...]
    duration: int
    difficulty: str
    checks: int
    nodes: int
    draft: str | None


def _service(request: HTTPConnection) -> SelfService:
    service: SelfService = request.app.state.selfservice
    return service


class _Catalogue:
    """The catalogue's rows, read once per server (loading every scenario takes seconds;
    a scenario added later shows after a restart)."""

    def __init__(self) -> None:
        self._rows: list[CatalogueRow] | None = None
        self._lock = threading.Lock()

    def rows(self) -> list[CatalogueRow]:
        with self._lock:
            if self._rows is None:
                self._rows = [_row(s) for s in scenario_summaries() if s.runnable]
            return self._rows


def _row(summary: ScenarioSummary) -> CatalogueRow:
    from tai_labs.referential import load_referential

    ref = load_referential()
    facts = summary.facts
    assert facts is not None
    texts = {c.id: c.text for comp in ref.competences for c in comp.criteria}
    texts.update({c.id: c.text for c in ref.general_criteria})
    return CatalogueRow(
        id=summary.id,
        title=facts.title,
        block=facts.block,
        competences=tuple((c, ref.competence(c).title) for c in facts.competences),
        criteria=tuple((c, texts.get(c, c)) for c in facts.criteria),
        duration=facts.duration,
        difficulty=facts.difficulty,
        checks=facts.checks,
        nodes=facts.nodes,
        draft=facts.draft,
    )


def own_lab(
    request: HTTPConnection, exams: ExamStore, account: str, lab_id: str
) -> tuple[Session, LabRecord]:
    """The account's self-service lab once built (its practice session and lab record), the
    seam ``app.candidate_lab`` calls for practice accounts; 404 for anything else."""
    service = _service(request)
    lab = service.own(account, lab_id)
    record = service.ops.status(lab_id) if lab is not None else None
    session = exams.find(lab.session) if lab is not None else None
    if lab is None or record is None or session is None:
        raise HTTPException(404)
    return session, record


def _status_json(status: LabStatus) -> dict[str, Any]:
    lab = status.lab
    return {
        "lab": lab.lab_id,
        "scenario": lab.scenario,
        "phase": status.phase,
        "phase_fr": PHASES[status.phase],
        "queue_position": status.queue_position,
        "steps_done": status.steps_done,
        "steps_total": status.steps_total,
        "step": STEPS.get(status.current_step or "", status.current_step),
        "error": status.error,
        "expires_in": None if status.expires_in is None else int(status.expires_in),
        "warning": status.warning,
    }


def routes(seams: Seams) -> list[Route]:
    """The self-service routes, with their own catalogue cache (one per app)."""
    cache = _Catalogue()

    def mine(request: Request) -> tuple[Login, LabStatus]:
        login = seams.need(request, "practice")
        lab = _service(request).own(login.name, request.path_params["lab_id"])
        if lab is None:
            raise HTTPException(404)
        return login, _service(request).status(lab)

    async def catalogue(request: Request) -> Response:
        login = seams.need(request, "practice")
        service = _service(request)
        rows = await run_in_threadpool(cache.rows)
        block = request.query_params.get("bloc", "")
        competence = request.query_params.get("competence", "")
        shown = [
            r
            for r in rows
            if (not block or r.block == block)
            and (not competence or competence in {c for c, _ in r.competences})
        ]
        labs = [service.status(lab) for lab in service.labs(login.name)]
        return seams.page(
            request,
            "practice_catalogue.html",
            rows=shown,
            blocks=sorted({r.block for r in rows}),
            competences=sorted(
                {c for r in rows for c in r.competences}, key=lambda c: int(c[0][1:])
            ),
            block=block,
            competence=competence,
            labs=labs,
            phases=PHASES,
            quota=service.policy.per_account,
            message=request.query_params.get("refus"),
        )

    async def start(request: Request) -> Response:
        login = seams.need(request, "practice")
        form = await seams.form(request, login.csrf)
        scenario = str(form.get("scenario", ""))
        service = _service(request)
        known = {r.id for r in await run_in_threadpool(cache.rows)}
        if scenario not in known:
            raise HTTPException(404)
        try:
            lab = await run_in_threadpool(service.request, login.name, catalog.find(scenario))
        except QuotaError:
            return RedirectResponse("/practice?refus=quota", 303)
        except CapacityError:
            return RedirectResponse("/practice?refus=capacite", 303)
        await run_in_threadpool(service.admit)  # start it now if it fits
        return RedirectResponse(f"/practice/lab/{lab.lab_id}", 303)

    async def lab_wait(request: Request) -> Response:
        _login, status = await run_in_threadpool(mine, request)
        if status.phase == "ready":
            return RedirectResponse(f"/lab/{status.lab.lab_id}", 303)
        return seams.page(
            request, "practice_lab.html", st=status, state=_status_json(status), phases=PHASES
        )

    async def lab_state(request: Request) -> Response:
        _login, status = await run_in_threadpool(mine, request)
        return JSONResponse(_status_json(status))

    async def keep(request: Request) -> Response:
        login, status = await run_in_threadpool(mine, request)
        await seams.form(request, login.csrf)
        _service(request).touch(status.lab.lab_id)
        return RedirectResponse(f"/practice/lab/{status.lab.lab_id}", 303)

    async def remove(request: Request) -> Response:
        login, status = await run_in_threadpool(mine, request)
        await seams.form(request, login.csrf)
        try:
            await run_in_threadpool(_service(request).remove, status.lab)
        except TaiLabsError as exc:
            busy = "Le lab est en préparation : attendez qu'il soit prêt."
            raise HTTPException(409, busy) from exc
        return RedirectResponse("/practice", 303)

    return [
        Route("/practice", catalogue),
        Route("/practice/start", start, methods=["POST"]),
        Route("/practice/lab/{lab_id}", lab_wait),
        Route("/practice/lab/{lab_id}/state", lab_state),
        Route("/practice/lab/{lab_id}/keep", keep, methods=["POST"]),
        Route("/practice/lab/{lab_id}/remove", remove, methods=["POST"]),
    ]


_HTTP_LAB = re.compile(r"/(?:practice/)?lab/([A-Za-z0-9_-]+)(/.*)?")
_WS_LAB = re.compile(r"^/lab/([A-Za-z0-9_-]+)/node/")
#: A terminal counts as activity at most this often (seconds): each keystroke is a message.
WS_TOUCH_EVERY = 30.0


class Activity:
    """ASGI middleware: what keeps a self-service lab alive.

    An HTTP answer under ``/lab/{lab}`` or ``/practice/lab/{lab}`` below 400 (the route
    authorised it), except the polled ``/state``; and input on a WebSocket under
    ``/lab/{lab}/node/`` (a terminal, a console: accepted only once authorised).
    """

    def __init__(self, app: ASGIApp, service: SelfService) -> None:
        self.app = app
        self.service = service
        self._last: dict[str, float] = {}

    def _touch(self, lab_id: str) -> None:
        if self.service.find(lab_id) is not None:
            self.service.touch(lab_id)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] == "http":
            match = _HTTP_LAB.fullmatch(path)
            if match is None or (match.group(2) or "").endswith("/state"):
                await self.app(scope, receive, send)
                return
            lab_id = match.group(1)

            async def watch_send(message: Message) -> None:
                if message["type"] == "http.response.start" and message["status"] < 400:
                    await run_in_threadpool(self._touch, lab_id)
                await send(message)

            await self.app(scope, receive, watch_send)
            return
        if scope["type"] == "websocket" and (ws := _WS_LAB.match(path)) is not None:
            ws_lab = ws.group(1)

            async def watch_receive() -> Message:
                message = await receive()
                if message["type"] == "websocket.receive" and message.get("bytes"):
                    now = time.monotonic()
                    if now - self._last.get(ws_lab, -WS_TOUCH_EVERY) >= WS_TOUCH_EVERY:
                        self._last[ws_lab] = now
                        await run_in_threadpool(self._touch, ws_lab)
                return message

            await self.app(scope, watch_receive, send)
            return
        await self.app(scope, receive, send)
