"""The web terminal on a real lab: a WebSocket client against uvicorn, a shell in a node.

securiser-poste without faults (box, pc1), brought up once for the module and always
brought down. The server is a minimal Starlette app mounting ``terminal_routes`` with an
``authorize`` standing for the portal's (the logged-in user is a header here), on
127.0.0.1. Needs root and LXC.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

pytestmark = pytest.mark.integration

OWNER = "candidat-a"


@pytest.fixture(scope="module")
def lab() -> Iterator[Any]:
    if os.geteuid() != 0:
        pytest.skip("needs root (LXC containers)")
    if shutil.which("lxc-attach") is None:
        pytest.skip("needs LXC (apt-get install -y lxc)")
    from tai_labs.lab import lifecycle
    from tai_labs.providers.naming import new_lab_id
    from tai_labs.scenario.catalog import find

    lab_id = new_lab_id()
    try:
        yield lifecycle.up(
            find("securiser-poste"), candidate="web-terminal", seed=0, lab_id=lab_id, faults=False
        )
    finally:
        lifecycle.down(lab_id)


def serve(app: Any) -> tuple[str, Any]:
    """uvicorn on a free port of 127.0.0.1, in a thread; (base ws:// url, server)."""
    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(
            app, host="127.0.0.1", port=port, log_level="warning", ws="websockets-sansio"
        )
    )
    threading.Thread(target=server.run, daemon=True).start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    return f"ws://127.0.0.1:{port}", server


@pytest.fixture(scope="module")
def server(lab: Any) -> Iterator[str]:
    from starlette.applications import Starlette
    from starlette.websockets import WebSocket

    from tai_labs.portal.pty_sessions import TerminalSessions
    from tai_labs.portal.terminal import NodeTarget, lab_node_target, terminal_routes

    def authorize(websocket: WebSocket, lab_id: str, node: str) -> NodeTarget | None:
        if websocket.headers.get("x-user") != OWNER or lab_id != lab.id:
            return None
        return lab_node_target(OWNER, lab_id, node)

    sessions = TerminalSessions(grace=2.0)
    base, srv = serve(Starlette(routes=terminal_routes(authorize, sessions=sessions)))
    yield base
    srv.should_exit = True


class Term:
    """A WebSocket client of the terminal protocol (what terminal.js does)."""

    def __init__(self, url: str, user: str = OWNER) -> None:
        from websockets.sync.client import connect

        self.ws = connect(url, additional_headers={"x-user": user}, open_timeout=20)
        hello = json.loads(self.ws.recv(timeout=20))
        assert hello["type"] == "replay"
        self.received = int(hello["offset"])
        self.text = ""

    def read_until(self, pattern: str, timeout: float = 20) -> str:
        deadline = time.monotonic() + timeout
        while (found := re.search(pattern, self.text)) is None:
            try:
                msg = self.ws.recv(timeout=max(0.1, deadline - time.monotonic()))
            except TimeoutError:
                raise AssertionError(f"no {pattern!r} in {self.text!r}") from None
            if isinstance(msg, bytes):
                self.received += len(msg)
                self.text += msg.decode(errors="replace")
        return found.group(0)

    def run(self, line: str, marker: str) -> str:
        """Type line (ending in an echo of marker) and return the output up to it."""
        self.text = ""
        self.ws.send((line + "\n").encode())
        self.read_until(rf"[\r\n]{marker}\r*\n")
        return self.text

    def close(self) -> None:
        self.ws.close()


def node_url(base: str, lab: Any, node: str) -> str:
    return f"{base}/lab/{lab.id}/node/{node}/terminal/ws"


def test_typing_hostname_reads_the_nodes_own_hostname(lab: Any, server: str) -> None:
    expected = lab.exec("pc1", ["hostname"]).stdout.strip()
    host = socket.gethostname()
    assert expected and expected != host
    term = Term(node_url(server, lab, "pc1"))
    try:
        term.read_until(r"# $")  # the prompt: the node's shell is ready
        out = term.run("hostname; whoami; echo END1", "END1")
        lines = [line.strip() for line in out.splitlines()]
        assert expected in lines and "root" in lines  # the scenario's account: root
        assert host not in lines
    finally:
        term.close()


def test_the_host_side_translates_nothing_the_nodes_terminal_decides(lab: Any, server: str) -> None:
    """A full-screen program turns ``onlcr`` off and moves down with a bare LF: it must
    arrive bare (no CR added on the host's side), as the node's own terminal sent it."""
    term = Term(node_url(server, lab, "pc1"))
    try:
        term.read_until(r"# $")
        out = term.run("stty -onlcr; printf 'A1\\nB2\\n'; stty onlcr; echo END3", "END3")
        assert "A1\nB2\n" in out
        assert "\r\r\n" not in out  # and with onlcr on, one CR per LF, the node's
    finally:
        term.close()


def test_the_shell_survives_a_reconnect(lab: Any, server: str) -> None:
    url = node_url(server, lab, "box")
    term = Term(url)
    term.read_until(r"# $")
    term.run("export TAI_MARK=survit$((20+22)); cd /etc; echo SET", "SET")
    received = term.received
    term.close()  # the blip
    again = Term(f"{url}?since={received}")
    try:
        assert again.received == received  # only what was missed is replayed
        out = again.run("echo mark=$TAI_MARK pwd=$(pwd); echo END2", "END2")
        assert "mark=survit42 pwd=/etc" in out
    finally:
        again.close()


def test_the_shell_and_its_jobs_end_in_the_node_after_the_grace_period(
    lab: Any, server: str
) -> None:
    term = Term(node_url(server, lab, "pc1"))
    term.read_until(r"# $")
    term.run("sleep 4242 & echo STARTED", "STARTED")
    # The pattern does not match itself, nor the timeout(1) the exec channel wraps it in.
    job = ["pgrep", "-f", "sleep 424[2]"]
    assert lab.exec("pc1", job).ok
    term.close()
    time.sleep(4)  # grace is 2 s here
    assert not lab.exec("pc1", job).ok  # the node's terminal hung up: nothing left


@pytest.mark.parametrize(
    ("user", "node"),
    [("intrus", "pc1"), (OWNER, "nosuch")],
)
def test_an_unauthorised_request_is_refused(lab: Any, server: str, user: str, node: str) -> None:
    from websockets.exceptions import InvalidStatus

    with pytest.raises(InvalidStatus) as refused:
        Term(node_url(server, lab, node), user=user)
    assert refused.value.response.status_code == 404


def test_another_labs_id_is_refused(server: str) -> None:
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    with pytest.raises(InvalidStatus) as refused:
        connect(f"{server}/lab/zzzzzz/node/pc1/terminal/ws", additional_headers={"x-user": OWNER})
    assert refused.value.response.status_code == 404


PAGE = """<!doctype html><html lang="fr"><head><meta charset="utf-8">
{% import "_terminal.html" as t %}{{ t.assets("/static") }}</head>
<body>{{ t.terminal(ws_url, node) }}</body></html>"""


def test_a_command_typed_in_the_browser_terminal_shows_its_output(lab: Any, tmp_path: Any) -> None:
    """Debian's chromium (never a downloaded browser) runs xterm.js from the package."""
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    if not os.path.exists(chromium):
        pytest.skip("needs Debian's chromium (apt-get install -y chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    import jinja2
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import HTMLResponse
    from starlette.routing import Mount, Route
    from starlette.staticfiles import StaticFiles
    from starlette.websockets import WebSocket

    from tai_labs.portal.pty_sessions import TerminalSessions
    from tai_labs.portal.terminal import NodeTarget, lab_node_target, terminal_routes

    templates = jinja2.Environment(
        loader=jinja2.PackageLoader("tai_labs.portal", "templates"), autoescape=True
    )

    def page(request: Request) -> HTMLResponse:
        ws_url = request.url_for("terminal_ws", lab=lab.id, node="pc1").path
        return HTMLResponse(templates.from_string(PAGE).render(ws_url=ws_url, node="pc1"))

    def authorize(websocket: WebSocket, lab_id: str, node: str) -> NodeTarget | None:
        return lab_node_target(OWNER, lab_id, node) if lab_id == lab.id else None

    app = Starlette(
        routes=[
            Route("/", page),
            Mount("/static", StaticFiles(packages=[("tai_labs.portal", "static")])),
            *terminal_routes(authorize, sessions=TerminalSessions(grace=2.0)),
        ]
    )
    base, srv = serve(app)
    expected = lab.exec("pc1", ["hostname"]).stdout.strip()
    try:
        with sync_api.sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium)
            try:
                tab = browser.new_page()
                tab.goto(base.replace("ws://", "http://") + "/")
                tab.wait_for_function(
                    "document.querySelector('[data-terminal]').dataset.state === 'connecté'",
                    timeout=20_000,
                )
                screen = _screen_text(tab)
                tab.wait_for_function(f"({_SCREEN_JS}).includes('# ')", timeout=20_000)
                tab.click(".terminal-screen")
                tab.keyboard.type("echo NODE=$(hostname)")
                tab.keyboard.press("Enter")
                tab.wait_for_function(f"({_SCREEN_JS}).includes('NODE={expected}\\n')")
                screen = _screen_text(tab)
                tab.screenshot(path=str(tmp_path / "terminal.png"))
            finally:
                browser.close()
    finally:
        srv.should_exit = True
    assert f"NODE={expected}" in screen.splitlines()
    assert (tmp_path / "terminal.png").stat().st_size > 0


# The text of the terminal's buffer, one line per row (what the candidate sees).
_SCREEN_JS = """(() => { const b = document.querySelector('[data-terminal]').terminal.buffer.active;
  let s = ''; for (let i = 0; i < b.length; i++) s += b.getLine(i).translateToString(true) + '\\n';
  return s; })()"""


def _screen_text(tab: Any) -> str:
    return str(tab.evaluate(_SCREEN_JS))
