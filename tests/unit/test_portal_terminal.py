"""The web terminal mounted in the portal, over the ASGI test client (no lab runs): who may
open which node's terminal page and WebSocket, an épreuve over, the instructor's read-only
view, the terminal pages' CSP.

The shell is a real process on a real PTY (``/bin/cat`` on a raw PTY: what goes in comes out
byte for byte); only the lab's command is replaced, the lab's own is exercised on a real
lab by tests/integration/test_web_terminal.py and tests/e2e/test_portal_terminal_lab.py.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient, WebSocketDenialResponse
from starlette.websockets import WebSocketDisconnect

from portal_world import PortalWorld
from tai_labs.exam.clock_store import ClockStore
from tai_labs.exam.model import SessionState
from tai_labs.exam.store import ExamStore
from tai_labs.lab.store import Store
from tai_labs.locations import locations
from tai_labs.portal.app import LOGIN_COOKIE, PortalConfig, create_app
from tai_labs.portal.pty_sessions import TerminalSessions
from tai_labs.portal.server import secret_key
from tai_labs.portal.terminal import NodeTarget

CSRF = re.compile(r'name="csrf" value="([^"]+)"')
RAW_CAT = ("/bin/sh", "-c", "printf READY; exec cat")


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, str]]:
    """The lab's terminal command replaced by a cat on a PTY; records who opened what."""
    calls: list[tuple[str, str, str]] = []

    def target(owner: str, lab_id: str, node: str) -> NodeTarget:
        calls.append((owner, lab_id, node))
        return NodeTarget(owner, RAW_CAT)

    monkeypatch.setattr("tai_labs.portal.terminal_pages.lab_node_target", target)
    return calls


@pytest.fixture
def portal(portal_world: PortalWorld) -> Iterator[tuple[TestClient, PortalWorld]]:
    """The portal app, its terminals on one event loop (the test client's, kept open)."""
    pool = TerminalSessions(grace=5.0)
    config = PortalConfig(
        data=portal_world.data,
        secret_key=secret_key(portal_world.data),
        clock=portal_world.clock,
        terminals=pool,
    )
    with TestClient(create_app(config), follow_redirects=False) as c:
        yield c, portal_world
        c.portal.call(pool.close_all)  # type: ignore[union-attr]


def cookie_of(c: TestClient, world: PortalWorld, session: str, login: str, password: str) -> str:
    """A login's cookie, from a browser of its own (the test client keeps no cookie)."""
    c.cookies.clear()
    token = CSRF.search(c.get("/login").text)
    assert token
    answer = c.post(
        "/login",
        data={"csrf": token.group(1), "session": session, "login": login, "password": password},
    )
    assert answer.status_code == 303, answer.text
    value = c.cookies[LOGIN_COOKIE]
    c.cookies.clear()
    return f"{LOGIN_COOKIE}={value}"


def candidate(c: TestClient, world: PortalWorld, login: str = "alice") -> str:
    return cookie_of(c, world, world.session, login, world.passwords[login])


def instructor(c: TestClient, world: PortalWorld) -> str:
    return cookie_of(c, world, "", *world.instructor)


def ws_path(lab: str, node: str = "pc1") -> str:
    return f"/lab/{lab}/node/{node}/terminal/ws"


def read_until(ws: Any, needle: bytes) -> bytes:
    seen = b""
    while needle not in seen:
        message = ws.receive()
        assert message["type"] == "websocket.send", (message, seen)
        if message.get("bytes") is not None:
            seen += message["bytes"]
        elif json.loads(message["text"])["type"] == "end":
            raise AssertionError(f"ended before {needle!r}: {message['text']} {seen!r}")
    return seen


def hello(ws: Any) -> dict[str, Any]:
    first = json.loads(ws.receive_text())
    assert first["type"] in ("replay", "end")
    return dict(first)


def refused(c: TestClient, path: str, cookie: str, **headers: str) -> int:
    """The HTTP status a WebSocket request was refused with (it must be refused)."""
    with (
        pytest.raises(WebSocketDisconnect) as denied,
        c.websocket_connect(path, headers={"cookie": cookie, **headers}) as ws,
    ):
        ws.receive()
    assert isinstance(denied.value, WebSocketDenialResponse), denied.value
    return denied.value.status_code


# -- the candidate's own terminal -----------------------------------------------------------------


def test_the_candidate_types_in_their_own_nodes_terminal(
    portal: tuple[TestClient, PortalWorld], opened: list[tuple[str, str, str]]
) -> None:
    c, world = portal
    alice, lab = candidate(c, world), world.labs["alice"]
    with c.websocket_connect(ws_path(lab), headers={"cookie": alice}) as ws:
        assert hello(ws)["type"] == "replay"
        read_until(ws, b"READY")
        ws.send_bytes(b"echo bonjour\n")
        assert b"echo bonjour\n" in read_until(ws, b"bonjour\n")
    assert opened == [("alice", lab, "pc1")]  # the lab's candidate, their lab and node


def test_the_terminal_page_is_the_candidates_own_only(
    portal: tuple[TestClient, PortalWorld],
) -> None:
    c, world = portal
    alice, bruno = world.labs["alice"], world.labs["bruno"]
    cookie = candidate(c, world)
    page = c.get(f"/lab/{alice}/node/pc1/terminal", headers={"cookie": cookie})
    assert page.status_code == 200
    assert f'data-ws-url="/lab/{alice}/node/pc1/terminal/ws"' in page.text
    assert f'href="/lab/{alice}/node/dc1/terminal"' in page.text  # the other node, one click
    assert "data-read-only" not in page.text
    for path in (
        f"/lab/{bruno}/node/pc1/terminal",
        f"/lab/{alice}/node/nosuch/terminal",
        "/lab/zzzzzz/node/pc1/terminal",
        f"/instructor/lab/{alice}/node/pc1/terminal",  # the instructor's view
    ):
        answer = c.get(path, headers={"cookie": cookie})
        assert answer.status_code == 404, path
        assert "Bruno" not in answer.text
    nobody = c.get(f"/lab/{alice}/node/pc1/terminal")
    assert nobody.status_code == 303 and nobody.headers["location"].startswith("/login")


def test_another_candidates_terminal_websocket_is_404_and_opens_nothing(
    portal: tuple[TestClient, PortalWorld], opened: list[tuple[str, str, str]]
) -> None:
    c, world = portal
    alice, bruno = world.labs["alice"], world.labs["bruno"]
    cookie = candidate(c, world)
    assert refused(c, ws_path(bruno), cookie) == 404
    assert refused(c, ws_path(alice, "nosuch"), cookie) == 404
    assert refused(c, ws_path("zzzzzz"), cookie) == 404
    assert refused(c, ws_path(alice), "") == 404  # nobody logged in
    assert refused(c, ws_path(alice), f"{LOGIN_COOKIE}=forged.value") == 404
    # a page of another site cannot drive the candidate's shell with their cookie
    assert refused(c, ws_path(alice), cookie, origin="https://evil.example") == 404
    assert opened == []  # no shell was started for any of them


def test_past_the_deadline_the_terminal_is_refused(
    portal: tuple[TestClient, PortalWorld], opened: list[tuple[str, str, str]]
) -> None:
    c, world = portal
    lab = world.labs["alice"]
    cookie = candidate(c, world)
    world.now[0] += 111 * 60  # the 2 hours started 10 minutes ago
    assert refused(c, ws_path(lab), cookie) == 404
    assert c.get(f"/lab/{lab}/node/pc1/terminal", headers={"cookie": cookie}).status_code == 303
    assert opened == []


def test_an_ended_session_refuses_its_terminals(
    portal: tuple[TestClient, PortalWorld], opened: list[tuple[str, str, str]]
) -> None:
    c, world = portal
    cookie = candidate(c, world)
    ExamStore(Store(locations(world.data).store)).set_state(world.session, SessionState.ENDED)
    assert refused(c, ws_path(world.labs["alice"]), cookie) == 404
    assert opened == []


def test_the_shell_is_closed_when_the_candidates_time_is_up(
    portal: tuple[TestClient, PortalWorld], opened: list[tuple[str, str, str]]
) -> None:
    c, world = portal
    cookie = candidate(c, world)
    session = ExamStore(Store(locations(world.data).store)).get(world.session)
    assert session.start is not None
    world.now[0] = session.start.timestamp() + 120 * 60 - 2  # two seconds left
    with c.websocket_connect(ws_path(world.labs["alice"]), headers={"cookie": cookie}) as ws:
        hello(ws)
        read_until(ws, b"READY")
        world.now[0] += 2  # the portal's clock, asked again when the two seconds are up
        while (message := ws.receive())["type"] == "websocket.send" and "text" not in message:
            pass  # output, if any
        assert json.loads(message["text"]) == {"type": "end", "why": "time over"}
        assert ws.receive() == {"type": "websocket.close", "code": 4000, "reason": ""}


def test_extra_time_given_while_the_shell_is_open_moves_its_close(
    portal: tuple[TestClient, PortalWorld], opened: list[tuple[str, str, str]]
) -> None:
    c, world = portal
    cookie = candidate(c, world)
    exams = ExamStore(Store(locations(world.data).store))
    session = exams.get(world.session)
    assert session.start is not None
    world.now[0] = session.start.timestamp() + 120 * 60 - 1  # one second left
    with c.websocket_connect(ws_path(world.labs["alice"]), headers={"cookie": cookie}) as ws:
        hello(ws)
        read_until(ws, b"READY")
        ClockStore(exams).set_extra(world.session, "alice", 10)
        time.sleep(1.5)  # past the deadline the shell was opened with
        ws.send_bytes(b"toujours-la\n")
        read_until(ws, b"toujours-la")  # not cut: the close moved with her time


# -- the instructor's read-only view --------------------------------------------------------------


def test_the_instructor_watches_without_typing(
    portal: tuple[TestClient, PortalWorld], opened: list[tuple[str, str, str]]
) -> None:
    c, world = portal
    lab = world.labs["alice"]
    alice, formateur = candidate(c, world), instructor(c, world)
    page = c.get(f"/instructor/lab/{lab}/node/pc1/terminal", headers={"cookie": formateur})
    assert page.status_code == 200
    assert 'data-read-only="true"' in page.text and "alice" in page.text
    with c.websocket_connect(ws_path(lab) + "?cols=100&rows=30", headers={"cookie": alice}) as own:
        hello(own)
        read_until(own, b"READY")
        own.send_bytes(b"avant\n")
        read_until(own, b"avant\n")
        with c.websocket_connect(ws_path(lab), headers={"cookie": formateur}) as watch:
            # drawn at the candidate's size, whatever the instructor's window
            assert hello(watch) == {"type": "replay", "offset": 0, "cols": 100, "rows": 30}
            assert b"READYavant\n" in read_until(watch, b"avant\n")  # what the candidate saw
            watch.send_bytes(b"rm -rf /INTRUS\n")  # dropped by the server
            watch.send_text(json.dumps({"type": "resize", "cols": 20, "rows": 5}))
            own.send_bytes(b"apres\n")
            assert b"apres\n" in read_until(watch, b"apres\n")  # sees the live shell
            seen = read_until(own, b"apres\n")
            own.send_bytes(b"fin\n")
            seen += read_until(own, b"fin\n")
            # the candidate widens their window: the watcher is told, and redraws to match
            own.send_text(json.dumps({"type": "resize", "cols": 120, "rows": 40}))
            while "text" not in (message := watch.receive()) or message["text"] is None:
                pass  # output, if any
            assert json.loads(message["text"]) == {"type": "resize", "cols": 120, "rows": 40}
        with c.websocket_connect(ws_path(lab), headers={"cookie": formateur}) as again:
            first = hello(again)
            assert (first["cols"], first["rows"]) == (120, 40)  # the watcher's resize: dropped
    assert b"INTRUS" not in seen  # never reached the shell: cat would have echoed it
    assert opened == [("alice", lab, "pc1")]  # watching starts no shell


def test_the_instructor_sees_when_there_is_no_shell_to_watch(
    portal: tuple[TestClient, PortalWorld], opened: list[tuple[str, str, str]]
) -> None:
    c, world = portal
    formateur = instructor(c, world)
    with c.websocket_connect(ws_path(world.labs["bruno"]), headers={"cookie": formateur}) as ws:
        assert hello(ws) == {"type": "end", "why": "no session"}
    assert refused(c, ws_path("zzzzzz"), formateur) == 404
    assert refused(c, ws_path(world.labs["bruno"], "nosuch"), formateur) == 404
    assert opened == []  # an instructor never starts a shell


# -- the pages' CSP -------------------------------------------------------------------------------


def test_the_terminal_page_relaxes_styles_only_with_a_fresh_nonce(
    portal: tuple[TestClient, PortalWorld],
) -> None:
    c, world = portal
    cookie = candidate(c, world)
    path = f"/lab/{world.labs['alice']}/node/pc1/terminal"
    nonces = []
    for _ in range(2):
        page = c.get(path, headers={"cookie": cookie})
        policy = page.headers["content-security-policy"]
        assert page.headers.get_list("content-security-policy") == [policy]  # not two
        directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
        assert directives["script-src"] == "'self'"
        assert directives["style-src"] == "'self'"
        assert directives["style-src-attr"] == "'unsafe-inline'"
        nonce = re.fullmatch(r"'self' 'nonce-([\w-]{20,})'", directives["style-src-elem"])
        assert nonce, directives["style-src-elem"]
        assert f'terminal.js" nonce="{nonce.group(1)}"' in page.text
        assert "<style" not in page.text  # nothing inline in the markup itself
        nonces.append(nonce.group(1))
    assert nonces[0] != nonces[1]
    lab_page = c.get(f"/lab/{world.labs['alice']}", headers={"cookie": cookie})
    assert "unsafe-inline" not in lab_page.headers["content-security-policy"]
