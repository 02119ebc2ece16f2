"""The portal over the ASGI test client, on a temporary state store (no lab runs): login,
cookies, CSRF, the login limit, who may open which lab, expiry, exam-mode refusals, and no
secret of a lab in anything a candidate receives."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.testclient import TestClient

from portal_world import PortalWorld
from tai_labs.exam.clock_store import ClockStore
from tai_labs.exam.model import SessionState
from tai_labs.exam.store import ExamStore
from tai_labs.lab.store import Store
from tai_labs.locations import locations
from tai_labs.portal.app import LOGIN_COOKIE, PortalConfig, create_app
from tai_labs.portal.server import secret_key

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def client(world: PortalWorld) -> TestClient:
    config = PortalConfig(data=world.data, secret_key=secret_key(world.data), clock=world.clock)
    return TestClient(create_app(config), follow_redirects=False)


def csrf_of(html: str) -> str:
    match = CSRF.search(html)
    assert match, html
    return match.group(1)


def log_in(c: TestClient, session: str, login: str, password: str) -> object:
    token = csrf_of(c.get("/login").text)
    return c.post(
        "/login", data={"csrf": token, "session": session, "login": login, "password": password}
    )


def as_candidate(world: PortalWorld, login: str = "alice") -> TestClient:
    c = client(world)
    answer = log_in(c, world.session, login, world.passwords[login])
    assert answer.status_code == 303 and answer.headers["location"] == "/lab"  # type: ignore[attr-defined]
    return c


def as_instructor(world: PortalWorld) -> TestClient:
    c = client(world)
    answer = log_in(c, "", *world.instructor)
    assert answer.status_code == 303 and answer.headers["location"] == "/instructor"  # type: ignore[attr-defined]
    return c


# -- login, cookies, logout -----------------------------------------------------------------------


def test_candidate_logs_in_and_the_cookie_is_signed_httponly_strict(
    portal_world: PortalWorld,
) -> None:
    c = client(portal_world)
    token = csrf_of(c.get("/login").text)
    answer = c.post(
        "/login",
        data={
            "csrf": token,
            "session": portal_world.session,
            "login": "ALICE ",
            "password": portal_world.passwords["alice"],
        },
    )
    assert answer.status_code == 303
    cookie = next(
        v
        for k, v in answer.headers.multi_items()
        if k == "set-cookie" and v.startswith(LOGIN_COOKIE)
    )
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Max-Age=" in cookie
    lab = c.get("/lab")
    assert (
        lab.status_code == 303 and lab.headers["location"] == f"/lab/{portal_world.labs['alice']}"
    )
    page = c.get(lab.headers["location"])
    assert page.status_code == 200
    assert "le compte de <strong>Mme Durand</strong>" in page.text
    assert "content-security-policy" in page.headers


def test_a_tampered_cookie_is_nobody(portal_world: PortalWorld) -> None:
    c = as_candidate(portal_world)
    value = c.cookies[LOGIN_COOKIE]
    c.cookies.set(LOGIN_COOKIE, value[:-2] + ("AA" if not value.endswith("AA") else "BB"))
    answer = c.get(f"/lab/{portal_world.labs['alice']}")
    assert answer.status_code == 303 and answer.headers["location"].startswith("/login")


@pytest.mark.parametrize(
    ("session", "login", "password"),
    [
        ("ccp2-portail", "alice", "wrong-pass-word"),
        ("ccp2-portail", "nobody", "k7mp-3wqa-9hte"),
        ("autre-session", "alice", "k7mp-3wqa-9hte"),
        ("ccp2-portail", "alice", "r4nd-om2x-p4ss"),  # bruno's password
        ("", "alice", "k7mp-3wqa-9hte"),  # a candidate is not an instructor
        ("", "formateur", "mauvais-mot-de-passe"),
    ],
)
def test_wrong_credentials_are_refused(
    portal_world: PortalWorld, session: str, login: str, password: str
) -> None:
    c = client(portal_world)
    answer = log_in(c, session, login, password)
    assert answer.status_code == 401  # type: ignore[attr-defined]
    assert LOGIN_COOKIE not in c.cookies
    assert c.get("/lab").status_code == 303


def test_logout_ends_the_login_on_the_server(portal_world: PortalWorld) -> None:
    c = as_candidate(portal_world)
    stolen = c.cookies[LOGIN_COOKIE]
    page = c.get(f"/lab/{portal_world.labs['alice']}")
    assert c.post("/logout", data={"csrf": csrf_of(page.text)}).status_code == 303
    other = client(portal_world)
    other.cookies.set(LOGIN_COOKIE, stolen)
    assert other.get(f"/lab/{portal_world.labs['alice']}").status_code == 303


# -- CSRF -----------------------------------------------------------------------------------------


def test_login_without_its_csrf_token_is_refused(portal_world: PortalWorld) -> None:
    c = client(portal_world)
    c.get("/login")
    creds = {
        "session": portal_world.session,
        "login": "alice",
        "password": portal_world.passwords["alice"],
    }
    assert c.post("/login", data=creds).status_code == 403
    assert c.post("/login", data={**creds, "csrf": "forged"}).status_code == 403
    assert LOGIN_COOKIE not in c.cookies
    fresh = client(portal_world)  # a token from another browser's cookie does not do either
    token = csrf_of(client(portal_world).get("/login").text)
    assert fresh.post("/login", data={**creds, "csrf": token}).status_code == 403


def test_every_logged_in_post_needs_the_login_csrf_token(portal_world: PortalWorld) -> None:
    c = as_candidate(portal_world)
    lab = portal_world.labs["alice"]
    for path in ("/logout", f"/lab/{lab}/check", f"/lab/{lab}/hint", f"/lab/{lab}/reset"):
        assert c.post(path, data={}).status_code == 403, path
        assert c.post(path, data={"csrf": "x" * 43}).status_code == 403, path
    assert c.get(f"/lab/{lab}").status_code == 200  # still logged in: logout was refused


# -- the login limit ------------------------------------------------------------------------------


def test_login_is_limited_per_login_then_freed_by_time(portal_world: PortalWorld) -> None:
    c = client(portal_world)
    for _ in range(5):
        assert log_in(c, portal_world.session, "alice", "wrong-guess-1").status_code == 401  # type: ignore[attr-defined]
    blocked = log_in(c, portal_world.session, "alice", portal_world.passwords["alice"])
    assert blocked.status_code == 429  # type: ignore[attr-defined]
    assert "Trop de tentatives" in blocked.text  # type: ignore[attr-defined]
    # another login from the same address is not blocked by alice's count
    assert (
        log_in(c, portal_world.session, "bruno", portal_world.passwords["bruno"]).status_code == 303
    )  # type: ignore[attr-defined]
    portal_world.now[0] += 301
    assert (
        log_in(c, portal_world.session, "alice", portal_world.passwords["alice"]).status_code == 303
    )  # type: ignore[attr-defined]


def test_login_is_limited_per_address(portal_world: PortalWorld) -> None:
    c = client(portal_world)
    for i in range(60):  # 60 different logins from one address
        assert log_in(c, portal_world.session, f"guess{i}", "nope-nope-nope").status_code == 401  # type: ignore[attr-defined]
    answer = log_in(c, portal_world.session, "bruno", portal_world.passwords["bruno"])
    assert answer.status_code == 429  # type: ignore[attr-defined]


# -- who may open which lab -----------------------------------------------------------------------


def test_another_candidates_lab_is_404_like_a_missing_one(portal_world: PortalWorld) -> None:
    c = as_candidate(portal_world, "alice")
    bruno = portal_world.labs["bruno"]
    page = c.get(f"/lab/{portal_world.labs['alice']}")
    token = csrf_of(page.text)
    for path in (f"/lab/{bruno}", f"/lab/{bruno}/state", "/lab/zzzzzz", "/lab/zzzzzz/state"):
        answer = c.get(path)
        assert answer.status_code == 404, path
        assert "Bruno" not in answer.text and bruno not in answer.text.replace(path, "")
    for action in ("check", "hint", "reset"):
        assert c.post(f"/lab/{bruno}/{action}", data={"csrf": token}).status_code == 404
    # nor the instructor's pages
    assert c.get("/instructor").status_code == 404
    assert c.get(f"/instructor/session/{portal_world.session}").status_code == 404


def test_nobody_logged_in_is_sent_to_the_login_page(portal_world: PortalWorld) -> None:
    c = client(portal_world)
    for path in ("/", "/lab", f"/lab/{portal_world.labs['alice']}", "/instructor"):
        answer = c.get(path)
        assert answer.status_code == 303 and answer.headers["location"].startswith("/login")


def test_the_lab_state_gives_the_servers_time_left(portal_world: PortalWorld) -> None:
    c = as_candidate(portal_world)
    state = c.get(f"/lab/{portal_world.labs['alice']}/state").json()
    assert 109 * 60 < state["seconds_left"] <= 110 * 60
    assert [n["name"] for n in state["nodes"]] == ["dc1", "pc1"]
    page = c.get(f"/lab/{portal_world.labs['alice']}").text
    assert re.search(r'data-seconds-left="(\d+)"', page)
    # the terminal's place, one per node, for the web terminal to take
    assert f'href="/lab/{portal_world.labs["alice"]}/node/pc1/terminal"' in page


# -- expiry ---------------------------------------------------------------------------------------


def test_past_the_deadline_the_login_is_over(portal_world: PortalWorld) -> None:
    c = as_candidate(portal_world)
    lab = portal_world.labs["alice"]
    assert c.get(f"/lab/{lab}").status_code == 200
    portal_world.now[0] += 111 * 60
    assert c.get(f"/lab/{lab}").status_code == 303
    assert c.get(f"/lab/{lab}/state").status_code == 303
    answer = log_in(
        client(portal_world), portal_world.session, "alice", portal_world.passwords["alice"]
    )
    assert answer.status_code == 403 and "écoulé" in answer.text  # type: ignore[attr-defined]


def test_an_ended_session_closes_its_logins(portal_world: PortalWorld) -> None:
    c = as_candidate(portal_world)
    ExamStore(Store(locations(portal_world.data).store)).set_state(
        portal_world.session, SessionState.ENDED
    )
    assert c.get(f"/lab/{portal_world.labs['alice']}").status_code == 303
    answer = log_in(
        client(portal_world), portal_world.session, "alice", portal_world.passwords["alice"]
    )
    assert answer.status_code == 403 and "terminée" in answer.text  # type: ignore[attr-defined]


def _clocks(world: PortalWorld) -> ClockStore:
    return ClockStore(ExamStore(Store(locations(world.data).store)))


def test_the_time_left_is_the_clocks_not_the_planned_start(portal_world: PortalWorld) -> None:
    """Started 5 minutes late (``session start`` at 10:05 for a 10:00 plan): the candidate
    loses none of their 2 hours, on the page, its refreshes and the login's lifetime."""
    clocks = _clocks(portal_world)
    late = datetime.fromtimestamp(portal_world.now[0], UTC) - timedelta(minutes=5)
    with clocks.exams.store.writing() as db:
        db.execute(
            "UPDATE exam_clock SET started_at = ? WHERE session = ?",
            (late.timestamp(), portal_world.session),
        )
    c = as_candidate(portal_world)
    lab = portal_world.labs["alice"]
    state = c.get(f"/lab/{lab}/state").json()
    assert 114 * 60 < state["seconds_left"] <= 115 * 60
    portal_world.now[0] += 112 * 60  # past the planned end, not the real one
    assert c.get(f"/lab/{lab}").status_code == 200
    portal_world.now[0] += 4 * 60
    assert c.get(f"/lab/{lab}").status_code == 303


def test_extra_time_keeps_that_candidate_in_past_the_others_end(
    portal_world: PortalWorld,
) -> None:
    alice, bruno = as_candidate(portal_world), as_candidate(portal_world, "bruno")
    # given after they logged in: the login, not capped at the old deadline, follows it
    _clocks(portal_world).set_extra(portal_world.session, "alice", 30)
    state = alice.get(f"/lab/{portal_world.labs['alice']}/state").json()
    assert 139 * 60 < state["seconds_left"] <= 140 * 60
    portal_world.now[0] += 111 * 60
    assert alice.get(f"/lab/{portal_world.labs['alice']}").status_code == 200
    assert bruno.get(f"/lab/{portal_world.labs['bruno']}").status_code == 303
    portal_world.now[0] += 30 * 60
    assert alice.get(f"/lab/{portal_world.labs['alice']}").status_code == 303


def test_a_candidate_ended_early_is_out_though_time_is_left(portal_world: PortalWorld) -> None:
    c = as_candidate(portal_world)
    now = datetime.fromtimestamp(portal_world.now[0], UTC)
    _clocks(portal_world).mark_ended(portal_world.session, "alice", now)
    assert c.get(f"/lab/{portal_world.labs['alice']}").status_code == 303
    answer = log_in(
        client(portal_world), portal_world.session, "alice", portal_world.passwords["alice"]
    )
    assert answer.status_code == 403 and "figés" in answer.text  # type: ignore[attr-defined]
    # the other candidate's épreuve goes on
    bruno = as_candidate(portal_world, "bruno")
    assert bruno.get(f"/lab/{portal_world.labs['bruno']}").status_code == 200


# -- exam mode: no practice calls -----------------------------------------------------------------


def test_exam_mode_refuses_check_hint_reset(portal_world: PortalWorld) -> None:
    c = as_candidate(portal_world)
    lab = portal_world.labs["alice"]
    page = c.get(f"/lab/{lab}")
    assert "Vérifier mon travail" not in page.text
    token = csrf_of(page.text)
    for action in ("check", "hint", "reset"):
        answer = c.post(f"/lab/{lab}/{action}", data={"csrf": token})
        assert answer.status_code == 403, action
        assert "examen" in answer.text


# -- instructors ----------------------------------------------------------------------------------


def test_instructor_sees_sessions_and_each_candidates_lab(portal_world: PortalWorld) -> None:
    session = ExamStore(Store(locations(portal_world.data).store)).get(portal_world.session)
    assert session.start is not None
    portal_world.now[0] = session.start.timestamp() + 600  # 10 minutes into the 2 hours
    c = as_instructor(portal_world)
    home = c.get("/instructor")
    assert home.status_code == 200 and portal_world.session in home.text
    page = c.get(f"/instructor/session/{portal_world.session}")
    assert page.status_code == 200
    for login, lab in portal_world.labs.items():
        assert login in page.text and lab in page.text
    assert "2/2 machines" in page.text
    # each candidate's time left, from the session's clock (started at the planned start)
    assert page.text.count("1 h 50 min 00 s") == len(portal_world.labs)
    assert c.get("/instructor/session/nope").status_code == 404
    # an instructor is not a candidate: no lab page of theirs
    assert c.get(f"/lab/{portal_world.labs['alice']}").status_code == 404


# -- secrets --------------------------------------------------------------------------------------


def _candidate_requests(world: PortalWorld, app_routes: list[object]) -> list[tuple[str, str]]:
    """Every route of the app, filled with the candidate's own and the other's ids."""
    params = {
        "lab_id": [world.labs["alice"], world.labs["bruno"]],
        "name": [world.session],
        "node": ["pc1", "dc1"],
    }
    out: list[tuple[str, str]] = []
    for route in app_routes:
        if isinstance(route, Mount):
            static = Path(__file__).resolve().parents[2] / "src/tai_labs/portal/static"
            out += [
                ("GET", f"/static/{p.relative_to(static)}")
                for p in static.rglob("*")
                if p.is_file()
            ]
            continue
        if isinstance(route, WebSocketRoute):
            continue  # no HTTP answer: the WebSockets' own tests read what they send
        assert isinstance(route, Route)
        paths = [route.path]
        for name, values in params.items():
            if f"{{{name}}}" in route.path:
                paths = [p.replace(f"{{{name}}}", v) for p in paths for v in values]
        assert all("{" not in p for p in paths), paths
        out += [
            (method, p)
            for p in paths
            for method in sorted(route.methods or [])
            if method in ("GET", "POST")
        ]
    return out


def test_no_lab_secret_in_anything_a_candidate_receives(portal_world: PortalWorld) -> None:
    c = as_candidate(portal_world)
    secrets = portal_world.lab_secrets("alice") + portal_world.lab_secrets("bruno")
    secrets += [
        portal_world.passwords["alice"],
        portal_world.instructor[1],
        "HOSTKEY",
        "node-secret",
    ]
    token = csrf_of(c.get(f"/lab/{portal_world.labs['alice']}").text)
    requests = _candidate_requests(portal_world, c.app.routes)  # type: ignore[attr-defined]
    assert len(requests) > 15
    seen = 0
    statuses: dict[tuple[str, str], int] = {}
    for method, path in requests:
        if path == "/logout":
            continue  # would end the login the rest of the scan uses; checked last
        answer = c.get(path) if method == "GET" else c.post(path, data={"csrf": token})
        statuses[(method, path)] = answer.status_code
        blob = answer.text + str(answer.headers)
        for secret in secrets:
            assert secret not in blob, (method, path, secret[:6])
        seen += 1
    answer = c.post("/logout", data={"csrf": token})
    assert all(s not in answer.text + str(answer.headers) for s in secrets)
    assert seen == len(requests) - 1
    # the scan read the candidate's real pages, not only refusals
    assert statuses[("GET", f"/lab/{portal_world.labs['alice']}")] == 200
    assert statuses[("GET", f"/lab/{portal_world.labs['alice']}/state")] == 200
    assert statuses[("GET", f"/lab/{portal_world.labs['bruno']}")] == 404


def test_the_brief_cannot_inject_html(portal_world: PortalWorld) -> None:
    c = as_candidate(portal_world)
    page = c.get(f"/lab/{portal_world.labs['alice']}").text
    assert "<script>alert" not in page
    assert "&lt;script&gt;alert" in page


def test_the_page_shows_the_portals_own_brief_once_written(portal_world: PortalWorld) -> None:
    c = as_candidate(portal_world)
    lab = portal_world.labs["alice"]
    assert "tai-labs console" in c.get(f"/lab/{lab}").text  # a lab from before: the host's
    folder = locations(portal_world.data).lab(lab)
    (folder / "brief-web.md").write_text(
        "# Compte verrouillé\n\n- **pc1** : bouton « Terminal »\n", encoding="utf-8"
    )
    page = c.get(f"/lab/{lab}").text
    assert "bouton « Terminal »" in page and "tai-labs console" not in page


# -- the seam for the terminal: candidate_node over HTTP and WebSocket ----------------------------


def test_candidate_node_authorises_http_and_websocket(portal_world: PortalWorld) -> None:
    from starlette.exceptions import HTTPException
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse
    from starlette.routing import WebSocketRoute
    from starlette.websockets import WebSocket, WebSocketDisconnect

    from tai_labs.portal.app import candidate_node

    async def probe(request: Request) -> PlainTextResponse:
        lab, node = candidate_node(request, request.path_params["lab"], request.path_params["node"])
        return PlainTextResponse(f"{lab.id}/{node}")

    async def probe_ws(ws: WebSocket) -> None:
        try:
            lab, node = candidate_node(ws, ws.path_params["lab"], ws.path_params["node"])
        except HTTPException:
            await ws.close(code=1008)
            return
        await ws.accept()
        await ws.send_text(f"{lab.id}/{node}")
        await ws.close()

    c = as_candidate(portal_world)
    c.app.router.routes[:0] = [  # type: ignore[attr-defined]
        Route("/probe/{lab}/{node}", probe),
        WebSocketRoute("/probe-ws/{lab}/{node}", probe_ws),
    ]
    alice, bruno = portal_world.labs["alice"], portal_world.labs["bruno"]
    assert c.get(f"/probe/{alice}/pc1").text == f"{alice}/pc1"
    assert c.get(f"/probe/{alice}/nope").status_code == 404
    assert c.get(f"/probe/{bruno}/pc1").status_code == 404
    with c.websocket_connect(f"/probe-ws/{alice}/pc1") as ws:
        assert ws.receive_text() == f"{alice}/pc1"
    for path in (f"/probe-ws/{bruno}/pc1", f"/probe-ws/{alice}/nope"):
        with pytest.raises(WebSocketDisconnect) as refused, c.websocket_connect(path) as ws:
            ws.receive_text()
        assert refused.value.code == 1008
    anonymous = client(portal_world)
    anonymous.app.router.routes[:0] = c.app.router.routes[:2]  # type: ignore[attr-defined]
    with (
        pytest.raises(WebSocketDisconnect),
        anonymous.websocket_connect(f"/probe-ws/{alice}/pc1") as ws,
    ):
        ws.receive_text()


def test_a_new_login_ends_the_browsers_earlier_one(portal_world: PortalWorld) -> None:
    c = as_candidate(portal_world)
    earlier = c.cookies[LOGIN_COOKIE]
    assert (
        log_in(c, portal_world.session, "alice", portal_world.passwords["alice"]).status_code == 303
    )  # type: ignore[attr-defined]
    assert c.cookies[LOGIN_COOKIE] != earlier
    replay = client(portal_world)
    replay.cookies.set(LOGIN_COOKIE, earlier)
    assert replay.get(f"/lab/{portal_world.labs['alice']}").status_code == 303


def test_a_large_form_body_is_refused_unread(portal_world: PortalWorld) -> None:
    c = client(portal_world)
    token = csrf_of(c.get("/login").text)
    big = {
        "csrf": token,
        "session": portal_world.session,
        "login": "alice",
        "password": "x" * 20000,
    }
    assert c.post("/login", data=big).status_code == 413
