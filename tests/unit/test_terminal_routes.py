"""The terminal's WebSocket route (Starlette's test client; a local /bin/sh, no lab)."""

from __future__ import annotations

import functools
import json
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient, WebSocketDenialResponse
from starlette.websockets import WebSocket

from tai_labs.portal.pty_sessions import TerminalSessions, spawn_on_pty
from tai_labs.portal.terminal import CLOSE_TAKEN_OVER, NodeTarget, terminal_routes

SHELL = ("/bin/sh",)
cooked = functools.partial(spawn_on_pty, raw=False)  # a local shell needs a line discipline
URL = "/lab/lab001/node/pc1/terminal/ws"


def authorize(websocket: WebSocket, lab: str, node: str) -> NodeTarget | None:
    """Stands for the portal's: who is logged in (a header here), what they may open."""
    user = websocket.headers.get("x-user")
    if user == "alice" and lab == "lab001" and node == "pc1":
        return NodeTarget("alice", SHELL)
    if user == "prof" and lab == "lab001":
        return NodeTarget("alice", read_only=True)
    return None


@pytest.fixture
def client() -> Any:
    app = Starlette(
        routes=terminal_routes(authorize, sessions=TerminalSessions(spawn=cooked, grace=30))
    )
    with TestClient(app) as c:
        yield c


def read_until(ws: Any, needle: bytes) -> bytes:
    seen = b""
    while needle not in seen:
        msg = ws.receive()
        assert msg["type"] == "websocket.send", msg
        seen += msg.get("bytes") or b""
    return seen


def hello(ws: Any) -> int:
    msg = json.loads(ws.receive_text())
    assert msg["type"] == "replay"
    return int(msg["offset"])


def test_a_keystroke_reaches_the_shell_and_its_output_comes_back(client: Any) -> None:
    with client.websocket_connect(URL, headers={"x-user": "alice"}) as ws:
        assert hello(ws) == 0
        ws.send_bytes(b"echo tai-$((40+2))\n")
        assert b"tai-42" in read_until(ws, b"tai-42")


def test_the_shell_survives_a_dropped_websocket(client: Any) -> None:
    with client.websocket_connect(URL, headers={"x-user": "alice"}) as ws:
        hello(ws)
        ws.send_bytes(b"export MARK=kept; echo set-$MARK\n")
        received = len(read_until(ws, b"set-kept"))
    # ... a network blip later: the client says how much it had already shown.
    with client.websocket_connect(f"{URL}?since={received}", headers={"x-user": "alice"}) as ws:
        assert hello(ws) == received
        ws.send_bytes(b"echo again-$MARK\n")
        assert b"again-kept" in read_until(ws, b"again-kept")


def test_a_second_connection_takes_the_shell_over(client: Any) -> None:
    with client.websocket_connect(URL, headers={"x-user": "alice"}) as first:
        hello(first)
        with client.websocket_connect(URL, headers={"x-user": "alice"}) as second:
            hello(second)
            msg = first.receive()
            while "text" not in msg:  # the shell's prompt may come first
                msg = first.receive()
            end = json.loads(msg["text"])
            assert end == {"type": "end", "why": "taken over"}
            assert first.receive()["code"] == CLOSE_TAKEN_OVER


@pytest.mark.parametrize(
    ("url", "headers"),
    [
        (URL, {}),  # nobody logged in
        (URL, {"x-user": "mallory"}),  # someone else
        ("/lab/lab002/node/pc1/terminal/ws", {"x-user": "alice"}),  # another lab
        ("/lab/lab001/node/dc1/terminal/ws", {"x-user": "alice"}),  # another node
        (URL, {"x-user": "alice", "origin": "https://evil.example"}),  # another site's page
    ],
)
def test_a_request_authorize_refuses_gets_404_and_no_shell(
    client: Any, url: str, headers: dict[str, str]
) -> None:
    with (
        pytest.raises(WebSocketDenialResponse) as refused,
        client.websocket_connect(url, headers=headers),
    ):
        pass
    assert refused.value.status_code == 404


def test_the_same_origin_is_accepted(client: Any) -> None:
    headers = {"x-user": "alice", "origin": "http://testserver"}
    with client.websocket_connect(URL, headers=headers) as ws:
        hello(ws)


def test_a_read_only_view_sees_the_shell_and_cannot_type(client: Any) -> None:
    # Nothing to watch yet: no shell is started for a watcher.
    with (
        pytest.raises(WebSocketDenialResponse),
        client.websocket_connect(URL, headers={"x-user": "prof"}),
    ):
        pass
    with client.websocket_connect(URL, headers={"x-user": "alice"}) as ws:
        hello(ws)
        with client.websocket_connect(URL, headers={"x-user": "prof"}) as watch:
            hello(watch)
            watch.send_bytes(b"echo from-the-watcher\n")
            ws.send_bytes(b"echo from-alice\n")
            seen = read_until(watch, b"from-alice\r\n")
            assert b"from-the-watcher" not in seen
            assert b"from-the-watcher" not in read_until(ws, b"from-alice\r\n")


def test_a_resize_message_sets_the_terminal_size(client: Any) -> None:
    with client.websocket_connect(URL, headers={"x-user": "alice"}) as ws:
        hello(ws)
        ws.send_text(json.dumps({"type": "resize", "cols": 120, "rows": 33}))
        ws.send_text("not json")  # ignored, not fatal
        ws.send_bytes(b"stty size\n")
        assert b"33 120" in read_until(ws, b"33 120")
