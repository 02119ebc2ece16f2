"""The portal's ASGI application (Starlette): login, candidates' lab pages, instructors' pages.

Every route that shows a lab asks ``candidate_lab`` first: the lab must be one of the
logged-in candidate's (``views.candidate_labs``), else 404, the same answer as a lab that
does not exist, so a guessed id tells nothing. Every POST carries the CSRF token of the form
(``_form``), compared in constant time, else 403.
"""

from __future__ import annotations

import contextlib
import hmac
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any, Literal

from itsdangerous import BadSignature, TimestampSigner
from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import HTTPConnection, Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tai_labs.exam.clock_store import ClockStore
from tai_labs.exam.model import Candidate, Session, format_duration
from tai_labs.exam.selfservice import HostLabOps, LabOps, Policy, SelfService
from tai_labs.exam.store import ExamStore
from tai_labs.lab import graphics
from tai_labs.lab.store import LabRecord, NodeRecord, Store
from tai_labs.locations import locations
from tai_labs.portal import practice_pages, selfservice_pages, views
from tai_labs.portal.accounts import Accounts
from tai_labs.portal.console import console_routes
from tai_labs.portal.instructor import DeskConfig, instructor_routes, session_seconds_left
from tai_labs.portal.logins import Login, Logins
from tai_labs.portal.practice import PracticeDesk, practice_view
from tai_labs.portal.pty_sessions import TerminalSessions
from tai_labs.portal.ratelimit import LoginLimiter
from tai_labs.portal.terminal_pages import PortalSeams, TerminalPages

LOGIN_COOKIE = "tai_login"
CSRF_COOKIE = "tai_csrf"
#: The longest a login lasts (a candidate's ends at their deadline if that comes first).
LOGIN_HOURS = 8.0
MAX_FORM_BYTES = 16 * 1024
STATIC = Path(__file__).parent / "static"
_SECURITY_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        b"connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cache-control", b"no-store"),
]


@dataclass
class PortalConfig:
    #: The data folder (state store, labs); None: the host's (``TAI_LABS_DATA``).
    data: Path | None
    #: Signs the cookies; ``server.secret_key`` keeps one per host, 0600.
    secret_key: bytes
    #: Cookies only over HTTPS (served with TLS, or behind a TLS reverse proxy).
    secure_cookies: bool = False
    clock: Callable[[], float] = time.time
    limiter: LoginLimiter | None = None
    login_hours: float = LOGIN_HOURS
    #: The web terminals' sessions (None: a new pool for this app).
    terminals: TerminalSessions | None = None
    #: Self-service practice labs: quota, idle TTL (``exam.selfservice``).
    selfservice: Policy = field(default_factory=Policy)
    #: What builds and removes them; None: the host's (``HostLabOps``). Tests hand theirs.
    selfservice_ops: LabOps | None = None
    #: The instructor pages' gate, live progress and freeze parallelism (``instructor``).
    desk: DeskConfig = field(default_factory=DeskConfig)


@dataclass
class _Portal:
    config: PortalConfig
    store: Store
    exams: ExamStore
    accounts: Accounts
    logins: Logins
    limiter: LoginLimiter
    templates: Environment
    signer: TimestampSigner = field(init=False)
    #: Practice gradings and resets, off the event loop (portal.practice).
    practice: PracticeDesk = field(default_factory=PracticeDesk)
    #: The exam clocks: each candidate's real start, extra time and end (``exam.clock``).
    clocks: ClockStore = field(init=False)

    def __post_init__(self) -> None:
        self.signer = TimestampSigner(self.config.secret_key, salt="tai-labs-portal")
        self.clocks = ClockStore(self.exams)

    def refusal(self, session: Session, login: str) -> str | None:
        """Why candidate ``login`` may not be in ``session`` now (``views.refusal``)."""
        return views.refusal(session, self.clocks.clock(session.name), login, self.now())

    def seconds_left(self, session: Session, login: str) -> int | None:
        """Candidate ``login``'s time left, extra time included (``views``)."""
        clock = self.clocks.clock(session.name)
        return views.candidate_seconds_left(session, clock, login, self.now())

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.config.clock(), UTC)


class _SecurityHeaders:
    """Headers every HTTP answer carries (no framing, no sniffing, scripts from here only)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                # a page with its own policy keeps it (the terminal's, terminal_pages.py)
                own = {name.lower() for name, _ in headers}
                message["headers"] = headers + [h for h in _SECURITY_HEADERS if h[0] not in own]
            await send(message)

        await self.app(scope, receive, with_headers)


def _duration(seconds: int | None) -> str:
    if seconds is None:
        return "sans limite"
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours} h {minutes:02d} min {secs:02d} s" if hours else f"{minutes} min {secs:02d} s"


def _templates() -> Environment:
    env = Environment(
        loader=PackageLoader("tai_labs.portal", "templates"),
        autoescape=select_autoescape(["html"]),
    )
    env.filters["duree"] = _duration
    env.filters["format_duration"] = format_duration
    env.filters["etat_session"] = lambda state: views.SESSION_STATES.get(state, state)
    env.filters["etat_lab"] = lambda state: views.LAB_STATES.get(state, state)
    env.tests["desktop"] = graphics.desktop_kind  # node kinds with a graphical console
    return env


def _portal(request: HTTPConnection) -> _Portal:
    portal: _Portal = request.app.state.portal
    return portal


def _page(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    portal = _portal(request)
    login = getattr(request.state, "login", None)
    html = portal.templates.get_template(name).render(
        login=login, csrf=login.csrf if login else None, **context
    )
    return HTMLResponse(html, status_code=status)


def _client(request: HTTPConnection) -> str:
    return request.client.host if request.client else "?"


# -- who is there ---------------------------------------------------------------------------


def _current(request: HTTPConnection) -> Login | None:
    portal = _portal(request)
    raw = request.cookies.get(LOGIN_COOKIE)
    if not raw:
        return None
    try:
        sid = portal.signer.unsign(raw, max_age=int(portal.config.login_hours * 3600)).decode()
    except BadSignature:
        return None
    login = portal.logins.find(sid, portal.config.clock())
    if login is not None and login.kind == "candidate":
        session = portal.exams.find(login.session or "")
        if session is None or portal.refusal(session, login.name) is not None:
            portal.logins.close(sid)  # the épreuve is over for them: so is the login
            return None
    request.state.login = login
    return login


def _need(request: HTTPConnection, kind: str) -> Login:
    login = _current(request)
    if login is None:
        # "expired" only to whom had a login: a first visit just gets the form
        target = "/login?expire=1" if LOGIN_COOKIE in request.cookies else "/login"
        raise HTTPException(303, headers={"location": target})
    if login.kind != kind:
        raise HTTPException(404)
    return login


def _candidate(request: HTTPConnection) -> tuple[Login, Session, Candidate]:
    login = _need(request, "candidate")
    session = _portal(request).exams.get(login.session or "")
    return login, session, session.candidate(login.name)


def candidate_lab(request: HTTPConnection, lab_id: str) -> tuple[Session, LabRecord]:
    """The logged-in candidate's lab ``lab_id``, or 404 (also for someone else's lab).

    The seam for the terminal and other per-lab routes: call it before touching the lab.
    A practice account's labs are its self-service ones (``selfservice_pages.own_lab``).
    """
    login = _current(request)
    if login is not None and login.kind == "practice":
        return selfservice_pages.own_lab(request, _portal(request).exams, login.name, lab_id)
    _login, session, cand = _candidate(request)
    for lab in views.candidate_labs(_portal(request).store, session, cand):
        if lab.id == lab_id:
            return session, lab
    raise HTTPException(404)


def candidate_node(request: HTTPConnection, lab_id: str, node: str) -> tuple[LabRecord, str]:
    """The logged-in candidate's node ``node`` of lab ``lab_id``, or 404.

    The authorisation of the node's terminal (HTTP or WebSocket): it raises
    ``HTTPException`` 404 (not theirs, or no such node) or 303 (nobody logged in, or their
    épreuve is over); a WebSocket endpoint closes on either before accepting.
    """
    _session, lab = candidate_lab(request, lab_id)
    if node not in {n.name for n in _portal(request).store.nodes(lab.id)}:
        raise HTTPException(404)
    return lab, node


def console_node(conn: HTTPConnection, lab_id: str, node: str) -> NodeRecord:
    """The node whose graphical console the logged-in person may see, else 404 (or 303).

    A candidate: a node of their own lab (``candidate_node``); an instructor: any lab's. The
    node must have a desktop (``graphics.has_desktop``): a container or a Linux VM is 404.
    """
    portal = _portal(conn)
    login = _current(conn)
    if login is not None and login.kind == "instructor":
        if portal.store.find_lab(lab_id) is None:
            raise HTTPException(404)
    else:
        candidate_node(conn, lab_id, node)  # nobody, someone else, épreuve over: 303 or 404
    record = next((n for n in portal.store.nodes(lab_id) if n.name == node), None)
    if record is None or not graphics.has_desktop(record):
        raise HTTPException(404)
    return record


# -- forms and CSRF ---------------------------------------------------------------------------


async def _form(request: Request, expected: str | None) -> FormData:
    # Forms here are a few short fields: a body without a stated, small length is refused
    # before it is read.
    length = request.headers.get("content-length", "")
    if not length.isdigit() or int(length) > MAX_FORM_BYTES:
        raise HTTPException(413)
    form = await request.form(max_files=0, max_fields=20)
    given = form.get("csrf")
    if not expected or not isinstance(given, str) or not hmac.compare_digest(given, expected):
        raise HTTPException(403, "Jeton de formulaire invalide : rechargez la page.")
    return form


def _login_csrf(request: Request) -> str | None:
    raw = request.cookies.get(CSRF_COOKIE)
    if not raw:
        return None
    try:
        return _portal(request).signer.unsign(raw, max_age=3600).decode()
    except BadSignature:
        return None


def _set_cookie(portal: _Portal, response: Response, name: str, value: str, age: int) -> None:
    response.set_cookie(
        name,
        portal.signer.sign(value).decode(),
        max_age=age,
        httponly=True,
        samesite="strict",
        secure=portal.config.secure_cookies,
        path="/",
    )


# -- routes -------------------------------------------------------------------------------------


async def home(request: Request) -> Response:
    login = _current(request)
    if login is None:
        return RedirectResponse("/login", 303)
    if login.kind == "practice":
        return RedirectResponse("/practice", 303)
    return RedirectResponse("/lab" if login.kind == "candidate" else "/instructor", 303)


async def login_page(request: Request) -> Response:
    portal = _portal(request)
    token = _login_csrf(request) or secrets.token_urlsafe(32)
    message = (
        "Votre session a expiré : reconnectez-vous." if request.query_params.get("expire") else None
    )
    response = _page(request, "login.html", login_csrf=token, message=message)
    _set_cookie(portal, response, CSRF_COOKIE, token, 3600)
    return response


async def login_submit(request: Request) -> Response:
    portal = _portal(request)
    form = await _form(request, _login_csrf(request))
    session_name = str(form.get("session", "")).strip().lower()
    name = str(form.get("login", "")).strip().lower()
    password = str(form.get("password", ""))
    key = f"{session_name}/{name}"
    token = _login_csrf(request)

    def refuse(message: str, status: int = 401) -> Response:
        return _page(request, "login.html", status, login_csrf=token, message=message)

    wait = portal.limiter.wait(_client(request), key)
    if wait:
        return refuse(f"Trop de tentatives : réessayez dans {int(wait) + 1} s.", 429)
    now = portal.config.clock()
    expires = now + portal.config.login_hours * 3600
    if session_name:
        # scrypt in a worker thread: the event loop keeps serving the others' terminals
        ok = await run_in_threadpool(portal.exams.check_password, session_name, name, password)
        session = portal.exams.find(session_name) if ok else None
        if session is None:
            portal.limiter.failed(_client(request), key)
            return refuse("Session, identifiant ou mot de passe incorrect.")
        why = await run_in_threadpool(portal.refusal, session, name)
        if why is not None:
            return refuse(why, 403)
        # Not capped at the deadline: extra time given later must not log them out. Every
        # request asks ``refusal`` again, which closes the login once their time is up.
        sid = portal.logins.open("candidate", name, session_name, expires)
        target = "/lab"
    else:
        role = await run_in_threadpool(portal.accounts.check, name, password)
        if role not in ("instructor", "practice"):
            portal.limiter.failed(_client(request), key)
            return refuse("Identifiant ou mot de passe incorrect.")
        kind: Literal["instructor", "practice"] = "practice" if role == "practice" else "instructor"
        sid = portal.logins.open(kind, name, None, expires)
        target = f"/{kind}"
    portal.limiter.succeeded(key)
    previous = request.cookies.get(LOGIN_COOKIE)
    if previous:  # a new login replaces the browser's earlier one, which stops working
        with contextlib.suppress(BadSignature):
            portal.logins.close(portal.signer.unsign(previous).decode())
    response = RedirectResponse(target, 303)
    _set_cookie(portal, response, LOGIN_COOKIE, sid, max(1, int(expires - now)))
    response.delete_cookie(CSRF_COOKIE, path="/")
    return response


async def logout(request: Request) -> Response:
    portal = _portal(request)
    login = _current(request)
    if login is not None:  # an expired login has nothing left to close
        await _form(request, login.csrf)
    raw = request.cookies.get(LOGIN_COOKIE, "")
    with contextlib.suppress(BadSignature):
        portal.logins.close(portal.signer.unsign(raw).decode())
    response = RedirectResponse("/login", 303)
    response.delete_cookie(LOGIN_COOKIE, path="/")
    return response


async def labs(request: Request) -> Response:
    login = _current(request)
    if login is not None and login.kind == "practice":
        return RedirectResponse("/practice", 303)
    _login, session, cand = _candidate(request)
    portal = _portal(request)
    found = views.candidate_labs(portal.store, session, cand)
    if len(found) == 1:
        return RedirectResponse(f"/lab/{found[0].id}", 303)
    rows = [views.lab_view(portal.store, session, lab) for lab in found]
    return _page(request, "labs.html", session=session, candidate=cand, labs=rows)


async def lab_page(request: Request) -> Response:
    portal = _portal(request)
    session, lab = candidate_lab(request, request.path_params["lab_id"])
    practice = None
    if session.practice:  # reads the record and renders the scenario's hints: off the loop
        practice = await run_in_threadpool(
            practice_view,
            portal.practice,
            session.name,
            lab.candidate,
            lab,
            portal.config.data,
            request.query_params.get("m"),
        )
    return _page(
        request,
        "lab.html",
        session=session,
        lab=views.lab_view(portal.store, session, lab),
        brief=views.brief_html(lab.id, portal.config.data),
        seconds_left=portal.seconds_left(session, lab.candidate),
        practice=practice,
    )


async def lab_state(request: Request) -> Response:
    """The figures the lab page refreshes (time left, nodes' readiness), as JSON."""
    portal = _portal(request)
    session, lab = candidate_lab(request, request.path_params["lab_id"])
    view = views.lab_view(portal.store, session, lab)
    return JSONResponse(
        {
            "lab": view.id,
            "status": view.status,
            "seconds_left": portal.seconds_left(session, lab.candidate),
            "nodes": [{"name": n.name, "kind": n.kind, "ready": n.ready} for n in view.nodes],
        }
    )


def _practice(
    handler: Callable[[practice_pages.PracticeCall], Awaitable[Response]], post: bool = True
) -> Callable[[Request], Awaitable[Response]]:
    """A practice route: CSRF token (POST), then the candidate's own lab (else 404), then a
    practice session (an exam's is refused, 403), then ``handler`` (portal.practice_pages)."""

    async def endpoint(request: Request) -> Response:
        form = None
        if post:
            login = _current(request)
            form = await _form(request, login.csrf if login else None)
        session, lab = candidate_lab(request, request.path_params["lab_id"])
        if not session.practice:
            raise HTTPException(403, practice_pages.EXAM_REFUSAL)
        portal = _portal(request)
        call = practice_pages.PracticeCall(
            form, session, lab, portal.exams, portal.practice, partial(_page, request)
        )
        return await handler(call)

    return endpoint


async def instructor_home(request: Request) -> Response:
    _need(request, "instructor")
    portal = _portal(request)
    sessions = portal.exams.sessions()
    return _page(
        request,
        "instructor_sessions.html",
        sessions=[(s, session_seconds_left(portal.clocks, s, portal.now())) for s in sessions],
    )


_MESSAGES = {
    403: "Accès refusé.",
    404: "Page introuvable.",
    413: "Requête trop grande.",
    501: "Pas encore disponible.",
}


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code in (301, 302, 303, 307):
        return Response(status_code=exc.status_code, headers=exc.headers)
    message = exc.detail if exc.detail and exc.detail != _default_phrase(exc) else None
    text = message or _MESSAGES.get(exc.status_code, "Erreur.")
    if request.url.path.endswith("/state") or request.headers.get("accept") == "application/json":
        return JSONResponse({"error": text}, status_code=exc.status_code)
    return _page(request, "error.html", exc.status_code, code=exc.status_code, message=text)


def _default_phrase(exc: HTTPException) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(exc.status_code).phrase
    except ValueError:
        return ""


def create_app(config: PortalConfig) -> Starlette:
    store = Store(locations(config.data).store)
    portal = _Portal(
        config=config,
        store=store,
        exams=ExamStore(store),
        accounts=Accounts(store),
        logins=Logins(store),
        limiter=config.limiter or LoginLimiter.default(config.clock),
        templates=_templates(),
    )
    portal.logins.purge(config.clock())
    routes = [
        Route("/", home),
        Route("/login", login_page, methods=["GET"]),
        Route("/login", login_submit, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/lab", labs),
        Route("/lab/{lab_id}", lab_page),
        Route("/lab/{lab_id}/state", lab_state),
        Route("/lab/{lab_id}/check", _practice(practice_pages.check), methods=["POST"]),
        Route("/lab/{lab_id}/hint", _practice(practice_pages.hint), methods=["POST"]),
        Route("/lab/{lab_id}/reset", _practice(practice_pages.reset), methods=["POST"]),
        Route("/lab/{lab_id}/practice/state", _practice(practice_pages.state, post=False)),
        Route("/instructor", instructor_home),
        *instructor_routes(lambda request: _need(request, "instructor"), _form, _page, config.desk),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    routes += console_routes(console_node, _page, data=config.data)
    # The web terminal: its pages and WebSocket, authorised by this portal's logins.
    terminal_seams = PortalSeams(
        _current, _need, candidate_node, _page, portal.store, portal.exams, portal.seconds_left
    )
    routes += TerminalPages(terminal_seams, config.terminals).routes()
    routes += selfservice_pages.routes(selfservice_pages.Seams(_need, _form, _page))
    app = Starlette(routes=routes, exception_handlers={HTTPException: _http_error})
    app.state.portal = portal
    app.state.selfservice = SelfService(
        store,
        config.selfservice_ops or HostLabOps(store, config.data),
        config.selfservice,
        clock=config.clock,
    )
    app.add_middleware(selfservice_pages.Activity, service=app.state.selfservice)
    app.add_middleware(_SecurityHeaders)
    return app
