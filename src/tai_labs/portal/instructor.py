"""The instructor's session page and its actions, on the library calls the CLI makes.

``instructor_routes`` gives, under ``/instructor/session/{name}``: the page (each candidate's
labs, access, deadline and time left from the clock, ``exam.day.status``), its JSON
(``/state``, for the live countdown), the live progress (``/progress``: checks passing now,
graded off the event loop and kept a few seconds, ``live_progress``), the actions as POST
forms (``/start``, ``/extend``, ``/end``: ``exam.day.start_session``, ``exam.day.extend``,
``exam.freeze.end_candidates``, the session's gateway accounts as their gate) and the jury's
downloads (``/grille.csv``, ``/grille.html``, ``/rapports.zip``).

The portal lends its own checks: ``need`` (an instructor is logged in, else the portal's
303 to the login or 404 to a candidate, before anything is read), ``read_form`` (the
login's CSRF token, else 403) and ``page`` (its templates). An end is definitive: its form
first answers a confirmation page, and only a second POST carrying ``confirmer=oui`` ends.
"""

from __future__ import annotations

import functools
import io
import zipfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from tai_labs.errors import TaiLabsError
from tai_labs.exam.access import gateway_gate
from tai_labs.exam.batch import grade_ended, ungraded
from tai_labs.exam.clock_store import ClockStore
from tai_labs.exam.day import CandidateStatus, extend, start_session, status
from tai_labs.exam.freeze import end_candidates, finish_if_all_ended
from tai_labs.exam.grid import Grid
from tai_labs.exam.jury import jury_grid, jury_inputs
from tai_labs.exam.model import Session, SessionState
from tai_labs.exam.seams import AccessGate, LabFinder, labs_by_draw
from tai_labs.exam.store import ExamStore
from tai_labs.lab.store import Store
from tai_labs.portal.desk_errors import in_french
from tai_labs.portal.ending import EndBusyError, Ends
from tai_labs.portal.live_progress import LiveProgress
from tai_labs.portal.logins import Login
from tai_labs.reports import grid as grid_render
from tai_labs.reports.session import blank_secrets, candidate_files, lab_secret_values

Need = Callable[[Request], Login]
ReadForm = Callable[[Request, "str | None"], Awaitable[FormData]]
Page = Callable[..., HTMLResponse]
#: What a successful action says on the page it redirects to (``?fait=KEY``).
NOTICES = {
    "demarree": "Session démarrée : l'accès des candidats est ouvert et l'horloge tourne.",
    "deja": "La session était déjà démarrée : rien n'a changé.",
    "prolonge": "Temps supplémentaire enregistré.",
    "terminee": "Épreuve terminée : accès fermé, labs figés.",
    "fin-en-cours": "Fin en cours : l'accès est fermé, les labs se figent (rechargez la page "
    "pour suivre ; chaque candidat est « terminé » une fois ses labs figés).",
}
_YES = "oui"


@dataclass
class DeskConfig:
    """The instructor pages' parts a test (or a build without gateway) replaces."""

    #: Opens and closes a candidate's access; None: the session's gateway accounts.
    gate: AccessGate | None = None
    progress: LiveProgress = field(default_factory=LiveProgress)
    #: Candidates frozen at once by an end (as `session end --parallel`).
    parallel: int = 2
    #: Seconds an end's request waits for the freezes before answering (they carry on).
    end_wait: float = 10.0


class _Portal(Protocol):
    store: Store
    exams: ExamStore
    #: One for the server: building one creates its tables, under the store's write lock.
    clocks: ClockStore

    def now(self) -> datetime: ...


@dataclass(frozen=True)
class LabCell:
    id: str
    title: str
    status: str
    ready: int
    nodes: int
    #: The nodes' names: each has its read-only terminal for the instructor.
    node_names: tuple[str, ...] = ()


@dataclass(frozen=True)
class DeskRow:
    """One candidate as the page shows them."""

    login: str
    full_name: str
    labs: tuple[LabCell, ...]
    labs_expected: int
    access_open: bool
    extra_minutes: int
    #: Local HH:MM of their deadline, or "" before the start.
    deadline: str
    seconds_left: int | None
    ended: str
    frozen: int
    complete: bool


def _hhmm(when: datetime | None) -> str:
    return f"{when.astimezone():%H:%M}" if when else ""


def _row(store: Store, session: Session, got: CandidateStatus) -> DeskRow:
    cells = []
    titles = {sc.id: sc.title for sc in session.scenarios}
    for scenario, lab_id in got.lab_ids.items():
        record = store.find_lab(lab_id)
        nodes = store.nodes(lab_id) if record else []
        cells.append(
            LabCell(
                lab_id,
                titles.get(scenario, scenario),
                record.status if record else "absent",
                sum(1 for n in nodes if n.ready),
                len(nodes),
                tuple(n.name for n in nodes),
            )
        )
    left = int(got.left.total_seconds()) if got.left is not None else None
    return DeskRow(
        login=got.login,
        full_name=got.name,
        labs=tuple(cells),
        labs_expected=got.labs,
        access_open=got.access_open,
        extra_minutes=got.extra_minutes,
        deadline=_hhmm(got.deadline),
        seconds_left=left,
        ended=_hhmm(got.ended_at),
        frozen=got.frozen,
        complete=got.complete,
    )


def session_seconds_left(clocks: ClockStore, session: Session, now: datetime) -> int | None:
    """The épreuve's own time left (the clock's start + duration, no one's extra time): what
    the sessions' list shows; None when it has no duration or has not started."""
    clock = clocks.clock(session.name)
    if session.duration is None or clock.started_at is None:
        return None
    end = clock.started_at + timedelta(minutes=session.duration)
    return max(0, int((end - now).total_seconds()))


def _failure(exc: BaseException) -> str:
    if isinstance(exc, TaiLabsError):
        return in_french(exc)
    return f"La fin a échoué : {type(exc).__name__}: {exc}"


def _zip(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in sorted(files.items()):
            archive.writestr(name, data)
    return buffer.getvalue()


class _Desk:
    def __init__(self, need: Need, read_form: ReadForm, page: Page, config: DeskConfig) -> None:
        self.need = need
        self.read_form = read_form
        self.page = page
        self.config = config
        self.ends = Ends()

    # -- who, which session, which parts ---------------------------------------------------

    def _open(self, request: Request) -> tuple[_Portal, Session, Login]:
        login = self.need(request)  # first: a candidate learns nothing, not even a name
        portal: _Portal = request.app.state.portal
        session = portal.exams.find(request.path_params["name"])
        if session is None:
            raise HTTPException(404)
        return portal, session, login

    def _gate(self, portal: _Portal) -> AccessGate:
        return self.config.gate or gateway_gate(portal.exams)

    @staticmethod
    def _find_labs(portal: _Portal) -> LabFinder:
        return functools.partial(labs_by_draw, store=portal.store)

    def _rows(self, portal: _Portal, name: str) -> tuple[Session, datetime | None, list[DeskRow]]:
        session, clock, got = status(
            portal.clocks,
            name,
            find_labs=self._find_labs(portal),
            now=portal.now,
            store=portal.store,
        )
        return session, clock.started_at, [_row(portal.store, session, g) for g in got]

    async def _show(
        self,
        request: Request,
        portal: _Portal,
        session: Session,
        *,
        status_code: int = 200,
        error: str | None = None,
    ) -> HTMLResponse:
        session, started, rows = await run_in_threadpool(self._rows, portal, session.name)
        notice = NOTICES.get(request.query_params.get("fait", ""))
        failed = self.ends.outcome(session.name)
        if failed is not None and error is None:
            error = _failure(failed)
        ending = self.ends.running(session.name)
        if ending:
            notice = NOTICES["fin-en-cours"]
        return self.page(
            request,
            "instructor_session.html",
            status_code,
            session=session,
            started=_hhmm(started),
            rows=rows,
            seconds_left=session_seconds_left(portal.clocks, session, portal.now()),
            notice=notice,
            error=error,
            gate_wired=self._gate(portal).wired,
            ending=ending,
        )

    def _done(self, session: Session, key: str) -> Response:
        return RedirectResponse(f"/instructor/session/{session.name}?fait={key}", 303)

    # -- pages -------------------------------------------------------------------------------

    async def session_page(self, request: Request) -> Response:
        portal, session, _login = self._open(request)
        return await self._show(request, portal, session)

    async def state(self, request: Request) -> Response:
        """Each candidate's time left and access, for the page's countdown."""
        portal, session, _login = self._open(request)
        session, started, rows = await run_in_threadpool(self._rows, portal, session.name)
        return JSONResponse(
            {
                "session": session.name,
                "state": session.state.value,
                "started": started.isoformat() if started else None,
                "candidates": {
                    r.login: {
                        "seconds_left": r.seconds_left,
                        "access": "ouvert" if r.access_open else "fermé",
                        "ended": r.ended or None,
                    }
                    for r in rows
                },
            }
        )

    async def progress(self, request: Request) -> Response:
        """Checks passing now in each live lab (instructor only; kept a few seconds)."""
        portal, session, _login = self._open(request)
        session, _started, rows = await run_in_threadpool(self._rows, portal, session.name)
        live = session.state is SessionState.STARTED
        wanted = [lab.id for r in rows if not r.ended for lab in r.labs] if live else []
        glances = await run_in_threadpool(self.config.progress.glance_all, wanted)
        out: dict[str, Any] = {}
        for r in rows:
            if r.ended:
                out[r.login] = {"text": "figé", "labs": []}
                continue
            labs: list[dict[str, Any]] = []
            for lab in r.labs:
                seen = glances.get(lab.id)
                if seen is None:
                    continue
                if seen.progress is None:
                    labs.append({"lab": lab.id, "error": seen.error})
                else:
                    p = seen.progress
                    labs.append(
                        {
                            "lab": lab.id,
                            "passing": p.passing,
                            "checks": p.checks,
                            "points": p.points,
                            "max_points": p.max_points,
                            "broken": p.broken,
                            "text": p.text(),
                        }
                    )
            text = ", ".join(
                lab["text"] if "passing" in lab else f"? ({lab['error']})" for lab in labs
            )
            out[r.login] = {"text": text or "—", "labs": labs}
        return JSONResponse({"session": session.name, "live": live, "candidates": out})

    # -- actions -------------------------------------------------------------------------------

    async def _action(
        self, request: Request, portal: _Portal, session: Session, work: Callable[[], str]
    ) -> Response:
        try:
            key = await run_in_threadpool(work)
        except TaiLabsError as exc:
            return await self._show(request, portal, session, status_code=409, error=in_french(exc))
        return self._done(session, key)

    async def start(self, request: Request) -> Response:
        portal, session, login = self._open(request)
        await self.read_form(request, login.csrf)

        def work() -> str:
            started = start_session(
                portal.clocks, session.name, gate=self._gate(portal), now=portal.now
            )
            return "deja" if started.already and not started.opened else "demarree"

        return await self._action(request, portal, session, work)

    async def extend_time(self, request: Request) -> Response:
        portal, session, login = self._open(request)
        form = await self.read_form(request, login.csrf)
        who = str(form.get("candidat", ""))
        text = str(form.get("minutes", "")).strip()
        if not text.lstrip("-").isdigit() or len(text) > 4:
            return await self._show(
                request,
                portal,
                session,
                status_code=400,
                error="Donnez le temps supplémentaire en minutes (un nombre entier, le total).",
            )

        def work() -> str:
            extend(portal.clocks, session.name, who, int(text), now=portal.now)
            return "prolonge"

        return await self._action(request, portal, session, work)

    async def end(self, request: Request) -> Response:
        portal, session, login = self._open(request)
        form = await self.read_form(request, login.csrf)
        who = str(form.get("candidat", ""))
        if who:
            try:
                chosen = [session.candidate(who)]
            except TaiLabsError as exc:
                return await self._show(
                    request, portal, session, status_code=409, error=in_french(exc)
                )
        else:
            chosen = list(session.candidates)
        if form.get("confirmer") != _YES:
            return self.page(
                request, "instructor_confirm.html", session=session, candidates=chosen, who=who
            )

        def work() -> None:
            clocks = portal.clocks
            end_candidates(
                clocks,
                session.name,
                [c.login for c in chosen],
                gate=self._gate(portal),
                find_labs=self._find_labs(portal),
                parallel=self.config.parallel,
                now=portal.now,
            )
            finish_if_all_ended(clocks, session.name)
            # Graded from the frozen state at once, as `session end` does: the grid reads it.
            logins = {c.login for c in chosen}
            todo = [x for x in ungraded(clocks, session.name) if x in logins]
            graded = grade_ended(clocks, session.name, todo, parallel=self.config.parallel)
            failed = [g.login for g in graded if g.error is not None]
            if failed:
                raise TaiLabsError(
                    f"labs frozen but not graded for: {', '.join(failed)}",
                    hint=f"tai-labs session grade {session.name} --candidate LOGIN",
                )

        try:
            future = self.ends.start(session.name, work)
        except EndBusyError:
            busy = "Une fin de cette session est déjà en cours : attendez qu'elle s'achève."
            return await self._show(request, portal, session, status_code=409, error=busy)
        if not await run_in_threadpool(self.ends.wait, future, self.config.end_wait):
            return self._done(session, "fin-en-cours")
        failed = self.ends.outcome(session.name)
        if failed is not None:
            return await self._show(
                request, portal, session, status_code=409, error=_failure(failed)
            )
        return self._done(session, "terminee")

    # -- the jury's downloads --------------------------------------------------------------

    @staticmethod
    def _grid(portal: _Portal, session: Session) -> Grid:
        return jury_grid(jury_inputs(session, portal.store), generated=portal.now())

    async def grid_csv(self, request: Request) -> Response:
        portal, session, _login = self._open(request)
        grid = await run_in_threadpool(self._grid, portal, session)
        return _download(grid_render.to_csv(grid), "text/csv; charset=utf-8", session, "csv")

    async def grid_html(self, request: Request) -> Response:
        portal, session, _login = self._open(request)
        grid = await run_in_threadpool(self._grid, portal, session)
        body = grid_render.to_html(grid).encode()
        return _download(body, "text/html; charset=utf-8", session, "html")

    async def reports_zip(self, request: Request) -> Response:
        """Each candidate's jury reports, every lab secret value blanked (as the archive)."""
        portal, session, _login = self._open(request)

        def build() -> bytes:
            inputs = jury_inputs(session, portal.store)
            files = candidate_files(session, inputs.outcomes, inputs.practice)
            return _zip(blank_secrets(files, lab_secret_values(inputs.labs)))

        body = await run_in_threadpool(build)
        return Response(
            body,
            media_type="application/zip",
            headers={"content-disposition": f'attachment; filename="rapports-{session.name}.zip"'},
        )


def _download(body: bytes, media_type: str, session: Session, ext: str) -> Response:
    # The session's name is [a-z0-9-]: safe in the header as is.
    return Response(
        body,
        media_type=media_type,
        headers={"content-disposition": f'attachment; filename="grille-{session.name}.{ext}"'},
    )


def instructor_routes(
    need: Need, read_form: ReadForm, page: Page, config: DeskConfig | None = None
) -> list[BaseRoute]:
    """The session page, its JSON, actions and downloads (see the module's docstring)."""
    desk = _Desk(need, read_form, page, config or DeskConfig())
    base = "/instructor/session/{name}"
    return [
        Route(base, desk.session_page, methods=["GET"]),
        Route(f"{base}/state", desk.state, methods=["GET"]),
        Route(f"{base}/progress", desk.progress, methods=["GET"]),
        Route(f"{base}/start", desk.start, methods=["POST"]),
        Route(f"{base}/extend", desk.extend_time, methods=["POST"]),
        Route(f"{base}/end", desk.end, methods=["POST"]),
        Route(f"{base}/grille.csv", desk.grid_csv, methods=["GET"]),
        Route(f"{base}/grille.html", desk.grid_html, methods=["GET"]),
        Route(f"{base}/rapports.zip", desk.reports_zip, methods=["GET"]),
    ]
