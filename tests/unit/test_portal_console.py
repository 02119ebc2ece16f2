"""The graphical console: its page and WebSocket in the portal (ASGI test client, no lab
runs), who may open them, and the relay's bytes against a stub VNC server (a local TCP
server that greets like one and echoes; libvirt's port lookup is replaced by its port).

The real QEMU display through the portal in Chromium is in
tests/integration/test_portal_console_browser.py.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient, WebSocketDenialResponse
from starlette.websockets import WebSocket
from test_portal_app import as_candidate, as_instructor, client

from portal_world import PortalWorld
from tai_labs.exam.model import SessionState
from tai_labs.exam.store import ExamStore
from tai_labs.lab import graphics
from tai_labs.lab.store import NodeRecord, Store
from tai_labs.locations import locations
from tai_labs.portal import vnc
from tai_labs.portal.vnc import CLOSE_ENDED, MAX_MESSAGE_BYTES, Display, vnc_routes
from tai_labs.providers.vm_domain import vnc_port_of_domain_xml

GREETING = b"RFB 003.008\n"


class StubVncServer:
    """Stands for a node's VNC display: greets like an RFB server, then echoes every byte.

    ``closed`` is set when the relay closes its end (the test reads it to see both ends go).
    """

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.port = int(self.sock.getsockname()[1])
        self.closed = threading.Event()
        self.connections: list[socket.socket] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections.append(conn)
            threading.Thread(target=self._echo, args=(conn,), daemon=True).start()

    def _echo(self, conn: socket.socket) -> None:
        with conn:
            conn.sendall(GREETING)
            while data := conn.recv(65536):
                conn.sendall(data)
        self.closed.set()

    def hang_up(self) -> None:
        """The display goes away (the VM stops): close every connection."""
        for conn in self.connections:
            conn.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def stub_vnc() -> Iterator[StubVncServer]:
    server = StubVncServer()
    yield server
    server.close()


# -- the domain's live XML ------------------------------------------------------------------------


def _live(graphics_xml: str) -> str:
    return f"<domain type='kvm'><name>x</name><devices>{graphics_xml}</devices></domain>"


@pytest.mark.parametrize(
    ("xml", "port"),
    [
        (_live("<graphics type='vnc' port='5901' autoport='yes' listen='127.0.0.1'/>"), 5901),
        (
            _live(
                "<graphics type='vnc' port='5907' autoport='yes' listen='127.0.0.1'>"
                "<listen type='address' address='127.0.0.1'/></graphics>"
            ),
            5907,
        ),
        # stopped: libvirt says -1 (or nothing) until QEMU runs
        (_live("<graphics type='vnc' port='-1' autoport='yes' listen='127.0.0.1'/>"), None),
        (_live("<graphics type='vnc' autoport='yes' listen='127.0.0.1'/>"), None),
        # listening beyond the loopback: never proxied
        (_live("<graphics type='vnc' port='5900' listen='0.0.0.0'/>"), None),
        (
            _live(
                "<graphics type='vnc' port='5900' listen='127.0.0.1'>"
                "<listen type='address' address='0.0.0.0'/></graphics>"
            ),
            None,
        ),
        (_live("<graphics type='vnc' port='5900'/>"), None),  # no listen said: QEMU's default
        (_live("<graphics type='spice' port='5900' listen='127.0.0.1'/>"), None),
        (_live(""), None),
        ("<domain", None),
    ],
)
def test_the_display_port_is_read_from_the_live_xml(xml: str, port: int | None) -> None:
    assert vnc_port_of_domain_xml(xml) == port


def test_only_vm_nodes_with_a_desktop_have_a_console() -> None:
    def node(kind: str, engine: str) -> NodeRecord:
        return NodeRecord("lab1", "n", "lab1-n", kind, engine, 1, None, None, True, {})

    assert graphics.has_desktop(node("windows-client", "vm"))
    assert graphics.has_desktop(node("windows-server", "vm"))
    assert not graphics.has_desktop(node("linux-server", "vm"))  # no display in its domain
    assert not graphics.has_desktop(node("linux-client", "container"))
    assert not graphics.has_desktop(node("some-plugin-kind", "vm"))
    with pytest.raises(graphics.NoConsoleError):
        graphics.display_port("lab1", node("linux-server", "vm"))


# -- the relay, on its own ------------------------------------------------------------------------

URL = "/lab/lab001/node/win1/console/ws"


def _relay_app(port: int, allowed: dict[str, bool], recheck: float = 15.0) -> TestClient:
    def authorize(websocket: WebSocket, lab: str, node: str) -> Display | None:
        """Stands for the portal's: who is logged in is a header here."""
        ok = websocket.headers.get("x-user") == "alice" and (lab, node) == ("lab001", "win1")
        return Display("127.0.0.1", port) if ok and allowed["now"] else None

    return TestClient(Starlette(routes=vnc_routes(authorize, recheck=recheck)))


def test_bytes_go_both_ways_through_the_relay(stub_vnc: StubVncServer) -> None:
    with (
        _relay_app(stub_vnc.port, {"now": True}) as c,
        c.websocket_connect(URL, headers={"x-user": "alice"}, subprotocols=["binary"]) as ws,
    ):
        assert ws.accepted_subprotocol == "binary"  # noVNC asks for it
        assert ws.receive_bytes() == GREETING
        payload = bytes(range(256)) * 300  # 76.8 kB: more than one read of the relay
        ws.send_bytes(payload)
        echoed = b""
        while len(echoed) < len(payload):
            echoed += ws.receive_bytes()
        assert echoed == payload
    assert stub_vnc.closed.wait(5), "the browser left: the relay closed the display's end"


def test_the_display_hanging_up_closes_the_websocket(stub_vnc: StubVncServer) -> None:
    with (
        _relay_app(stub_vnc.port, {"now": True}) as c,
        c.websocket_connect(URL, headers={"x-user": "alice"}) as ws,
    ):
        assert ws.accepted_subprotocol is None
        assert ws.receive_bytes() == GREETING
        stub_vnc.hang_up()
        assert ws.receive()["type"] == "websocket.close"


def test_a_too_large_message_ends_the_connection(stub_vnc: StubVncServer) -> None:
    with (
        _relay_app(stub_vnc.port, {"now": True}) as c,
        c.websocket_connect(URL, headers={"x-user": "alice"}) as ws,
    ):
        assert ws.receive_bytes() == GREETING
        ws.send_bytes(b"x" * (MAX_MESSAGE_BYTES + 1))
        assert ws.receive()["type"] == "websocket.close"
    assert stub_vnc.closed.wait(5)


def test_access_ending_cuts_an_open_console(stub_vnc: StubVncServer) -> None:
    allowed = {"now": True}
    with (
        _relay_app(stub_vnc.port, allowed, recheck=0.2) as c,
        c.websocket_connect(URL, headers={"x-user": "alice"}) as ws,
    ):
        assert ws.receive_bytes() == GREETING
        allowed["now"] = False  # the épreuve ends, the login is closed...
        message = ws.receive()
        assert message == {"type": "websocket.close", "code": CLOSE_ENDED, "reason": ""}
    assert stub_vnc.closed.wait(5)


@pytest.mark.parametrize(
    ("url", "headers"),
    [
        (URL, {}),  # nobody logged in
        (URL, {"x-user": "mallory"}),  # someone else
        ("/lab/lab002/node/win1/console/ws", {"x-user": "alice"}),  # another lab
        (URL, {"x-user": "alice", "origin": "https://evil.example"}),  # another site's page
    ],
)
def test_what_authorize_refuses_gets_404_and_no_display(
    stub_vnc: StubVncServer, url: str, headers: dict[str, str]
) -> None:
    with (
        _relay_app(stub_vnc.port, {"now": True}) as c,
        pytest.raises(WebSocketDenialResponse) as refused,
        c.websocket_connect(url, headers=headers),
    ):
        pass
    assert refused.value.status_code == 404
    assert stub_vnc.connections == []  # the display was never dialled


def test_a_display_that_is_gone_is_refused() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])  # nothing listens there once closed
    with (
        _relay_app(port, {"now": True}) as c,
        pytest.raises(WebSocketDenialResponse) as refused,
        c.websocket_connect(URL, headers={"x-user": "alice"}),
    ):
        pass
    assert refused.value.status_code == 404


# -- in the portal --------------------------------------------------------------------------------


@pytest.fixture
def world(portal_world: PortalWorld, stub_vnc: StubVncServer, monkeypatch: Any) -> PortalWorld:
    """The portal's world with a Windows VM ``win1`` in each lab; libvirt's answer for its
    display port is the stub server's (only the lookup is replaced, the relay is real)."""
    store = Store(locations(portal_world.data).store)
    for lab_id in portal_world.labs.values():
        store.put_node(
            NodeRecord(
                lab_id, "win1", f"{lab_id}-win1", "windows-client", "vm", 5, "10.250.0.7",
                None, True, {},
            )
        )  # fmt: skip
    looked_up: list[tuple[str, str]] = []

    def stub_display_port(lab_id: str, node: NodeRecord, data: object = None) -> int:
        looked_up.append((lab_id, node.resource))
        return stub_vnc.port

    monkeypatch.setattr(graphics, "display_port", stub_display_port)
    portal_world.looked_up = looked_up  # type: ignore[attr-defined]
    return portal_world


def _ws_url(lab_id: str, node: str = "win1") -> str:
    return f"/lab/{lab_id}/node/{node}/console/ws"


def test_the_candidate_opens_their_console_page(world: PortalWorld) -> None:
    c = as_candidate(world)
    alice = world.labs["alice"]
    lab_page = c.get(f"/lab/{alice}").text
    assert f'href="/lab/{alice}/node/win1/console"' in lab_page
    assert f'href="/lab/{alice}/node/pc1/console"' not in lab_page  # a container: no desktop
    # and a Windows node has no text terminal to offer: its desktop is its way in
    assert f'href="/lab/{alice}/node/win1/terminal"' not in lab_page
    assert f'href="/lab/{alice}/node/pc1/terminal"' in lab_page
    page = c.get(f"/lab/{alice}/node/win1/console")
    assert page.status_code == 200
    assert f'data-ws-url="{_ws_url(alice)}"' in page.text
    assert '<script type="module" src="/static/console.js"></script>' in page.text
    assert "<script>" not in page.text  # nothing inline: the strict CSP stays
    assert page.headers["content-security-policy"].startswith("default-src 'self'; script-src")
    assert "unsafe" not in page.headers["content-security-policy"]


def test_the_candidate_sees_their_display_through_the_portal(world: PortalWorld) -> None:
    c = as_candidate(world)
    alice = world.labs["alice"]
    with c.websocket_connect(_ws_url(alice), headers={"origin": "http://testserver"}) as ws:
        assert ws.receive_bytes() == GREETING
        ws.send_bytes(b"\x03\x00\x00\x00\x00\x00\x04\x00\x03\x00")  # FramebufferUpdateRequest
        assert ws.receive_bytes() == b"\x03\x00\x00\x00\x00\x00\x04\x00\x03\x00"
    assert world.looked_up == [(alice, f"{alice}-win1")]  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "target",
    [
        ("bruno", "win1"),  # another candidate's lab
        ("alice", "pc1"),  # a container node of their own lab
        ("alice", "dc1"),
        ("alice", "nope"),  # no such node
    ],
)
def test_what_is_not_the_candidates_console_is_404(
    world: PortalWorld, target: tuple[str, str]
) -> None:
    c = as_candidate(world)
    lab_id, node = world.labs[target[0]], target[1]
    assert c.get(f"/lab/{lab_id}/node/{node}/console").status_code == 404
    with (
        pytest.raises(WebSocketDenialResponse) as refused,
        c.websocket_connect(_ws_url(lab_id, node)),
    ):
        pass
    assert refused.value.status_code == 404
    assert world.looked_up == []  # type: ignore[attr-defined]


def test_a_page_of_another_site_cannot_open_the_console(world: PortalWorld) -> None:
    c = as_candidate(world)
    with (
        pytest.raises(WebSocketDenialResponse) as refused,
        c.websocket_connect(
            _ws_url(world.labs["alice"]), headers={"origin": "https://evil.example"}
        ),
    ):
        pass
    assert refused.value.status_code == 404
    assert world.looked_up == []  # type: ignore[attr-defined]


def test_nobody_logged_in_is_sent_to_the_login(world: PortalWorld) -> None:
    c = client(world)
    alice = world.labs["alice"]
    answer = c.get(f"/lab/{alice}/node/win1/console")
    assert answer.status_code == 303 and answer.headers["location"] == "/login"
    with pytest.raises(WebSocketDenialResponse), c.websocket_connect(_ws_url(alice)):
        pass


def test_the_console_closes_with_the_exam(world: PortalWorld) -> None:
    c = as_candidate(world)
    alice = world.labs["alice"]
    assert c.get(f"/lab/{alice}/node/win1/console").status_code == 200
    ExamStore(Store(locations(world.data).store)).set_state(world.session, SessionState.ENDED)
    answer = c.get(f"/lab/{alice}/node/win1/console")
    assert answer.status_code == 303 and answer.headers["location"].startswith("/login")
    with pytest.raises(WebSocketDenialResponse) as refused, c.websocket_connect(_ws_url(alice)):
        pass
    assert refused.value.status_code == 404
    assert world.looked_up == []  # type: ignore[attr-defined]


def test_an_open_console_is_cut_when_the_exam_ends(world: PortalWorld, monkeypatch: Any) -> None:
    monkeypatch.setattr(vnc, "RECHECK_SECONDS", 0.2)
    c = as_candidate(world)
    with c.websocket_connect(_ws_url(world.labs["alice"])) as ws:
        assert ws.receive_bytes() == GREETING
        ExamStore(Store(locations(world.data).store)).set_state(world.session, SessionState.ENDED)
        message = ws.receive()
        assert message == {"type": "websocket.close", "code": CLOSE_ENDED, "reason": ""}


def test_an_instructor_opens_any_candidates_console(world: PortalWorld) -> None:
    c = as_instructor(world)
    for lab_id in world.labs.values():
        page = c.get(f"/lab/{lab_id}/node/win1/console")
        assert page.status_code == 200
        assert 'href="/instructor"' in page.text
        with c.websocket_connect(_ws_url(lab_id)) as ws:
            assert ws.receive_bytes() == GREETING
    assert c.get(f"/lab/{world.labs['alice']}/node/pc1/console").status_code == 404
    assert c.get("/lab/nolab9/node/win1/console").status_code == 404


def test_the_vendored_novnc_is_served_from_here(world: PortalWorld) -> None:
    c = client(world)
    rfb = c.get("/static/vendor/novnc/core/rfb.js")
    assert rfb.status_code == 200
    assert rfb.headers["content-type"].startswith("text/javascript")  # ES modules need it
    assert c.get("/static/console.js").status_code == 200
    # the pako inflater core/ imports, at the path it imports it from
    assert c.get("/static/vendor/novnc/vendor/pako/lib/zlib/inflate.js").status_code == 200
