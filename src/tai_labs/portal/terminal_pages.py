"""The web terminal in the portal: a page per node, and who may open its WebSocket.

A candidate opens ``/lab/{lab}/node/{node}/terminal``: their own lab and node only (the
portal's ``candidate_node``: anything else is 404, nobody logged in or an épreuve over is
a redirect to the login). An instructor opens ``/instructor/lab/{lab}/node/{node}/terminal``:
a read-only view of that candidate's live shell, for assistance; the server drops whatever
the viewer sends (``terminal.NodeTarget.read_only``). Both pages use the one WebSocket of
``terminal.terminal_routes``, authorised here against the same login; a candidate's shell
is closed when their time is up.

The pages' Content-Security-Policy is the portal's, relaxed for styles only: xterm.js
builds ``<style>`` elements (cell size, theme) that carry this response's nonce
(``terminal.js`` gives it to every ``<style>`` a script creates; markup cannot get it), and
sets ``style`` attributes for 24-bit colours (``style-src-attr 'unsafe-inline'``: an
attribute styles its own element, it has no selectors to read the page with). Scripts stay
``'self'`` only.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial

from starlette.exceptions import HTTPException
from starlette.requests import HTTPConnection, Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.websockets import WebSocket

from tai_labs.exam.model import Session
from tai_labs.exam.store import ExamStore
from tai_labs.lab.store import LabRecord, Store
from tai_labs.portal import views
from tai_labs.portal.logins import Login
from tai_labs.portal.pty_sessions import TerminalSessions
from tai_labs.portal.terminal import NodeTarget, lab_node_target, terminal_routes

_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; "
    "style-src-elem 'self' 'nonce-{nonce}'; style-src-attr 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; form-action 'self'; "
    "base-uri 'none'"
)


def terminal_csp(nonce: str) -> str:
    """The terminal pages' policy (see the module's docstring for what is relaxed, and why)."""
    return _CSP.format(nonce=nonce)


@dataclass(frozen=True)
class PortalSeams:
    """What the portal (``app.py``) lends this module: who is logged in, its checks, pages."""

    #: The login of the request's cookie, None if none valid (a candidate's ends with the épreuve).
    current: Callable[[HTTPConnection], Login | None]
    #: That login of ``kind``, else HTTPException (303 to the login page, or 404).
    need: Callable[[HTTPConnection, str], Login]
    #: The logged-in candidate's node of their lab, else HTTPException 404 (or 303).
    candidate_node: Callable[[HTTPConnection, str, str], tuple[LabRecord, str]]
    #: A page of the portal's templates (``request, template, status, **context``).
    render: Callable[..., HTMLResponse]
    store: Store
    exams: ExamStore
    #: A candidate's time left in their session, extra time included (None: no limit).
    seconds_left: Callable[[Session, str], int | None]


class TerminalPages:
    def __init__(self, seams: PortalSeams, sessions: TerminalSessions | None = None) -> None:
        self.seams = seams
        self.sessions = sessions if sessions is not None else TerminalSessions()

    # -- who may open which terminal ----------------------------------------------------------

    def _session_lab(self, lab_id: str, node: str) -> LabRecord:
        """A lab of a candidate of one of the sessions, with that node, else 404."""
        store, exams = self.seams.store, self.seams.exams
        for session in exams.sessions():
            for cand in session.candidates:
                for lab in views.candidate_labs(store, session, cand):
                    if lab.id == lab_id and node in {n.name for n in store.nodes(lab.id)}:
                        return lab
        raise HTTPException(404)

    def _seconds_left(self, login: Login) -> int | None:
        if login.kind == "practice":
            return None  # a self-service lab has an idle time-to-live, not an épreuve's end
        session = self.seams.exams.find(login.session or "")
        if session is None:
            return 0
        return self.seams.seconds_left(session, login.name)

    def authorize(self, websocket: WebSocket, lab_id: str, node: str) -> NodeTarget | None:
        """The WebSocket's authorisation (run in a thread: it reads the store, opens the lab)."""
        try:
            login = self.seams.current(websocket)
            if login is None:
                return None
            if login.kind == "instructor":
                lab = self._session_lab(lab_id, node)
                return NodeTarget(owner=lab.candidate, read_only=True)
            lab, name = self.seams.candidate_node(websocket, lab_id, node)
        except HTTPException:
            return None  # not theirs, no such node, nobody logged in, épreuve over
        target = lab_node_target(lab.candidate, lab.id, name)
        return replace(
            target,
            seconds_left=self._seconds_left(login),
            time_left=partial(self._seconds_left, login),
        )

    # -- pages --------------------------------------------------------------------------------

    def _render(
        self, request: Request, lab: LabRecord, node: str, *, read_only: bool, **context: object
    ) -> Response:
        nonce = secrets.token_urlsafe(18)
        response = self.seams.render(
            request,
            "terminal.html",
            200,
            lab_id=lab.id,
            node=node,
            nodes=[n.name for n in self.seams.store.nodes(lab.id)],
            ws_url=request.url_for("terminal_ws", lab=lab.id, node=node).path,
            read_only=read_only,
            prefix=f"{'/instructor' if read_only else ''}/lab/{lab.id}/node",
            nonce=nonce,
            **context,
        )
        response.headers["content-security-policy"] = terminal_csp(nonce)
        return response

    async def candidate_page(self, request: Request) -> Response:
        lab, node = self.seams.candidate_node(
            request, request.path_params["lab_id"], request.path_params["node"]
        )
        login: Login = request.state.login
        return self._render(
            request,
            lab,
            node,
            read_only=False,
            seconds_left=self._seconds_left(login),
            back=f"/lab/{lab.id}",
        )

    async def instructor_page(self, request: Request) -> Response:
        self.seams.need(request, "instructor")
        lab = self._session_lab(request.path_params["lab_id"], request.path_params["node"])
        return self._render(
            request,
            lab,
            request.path_params["node"],
            read_only=True,
            candidate=lab.candidate,
            seconds_left=None,
            back="/instructor",
        )

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/lab/{lab_id}/node/{node}/terminal", self.candidate_page),
            Route("/instructor/lab/{lab_id}/node/{node}/terminal", self.instructor_page),
            *terminal_routes(self.authorize, sessions=self.sessions),
        ]
