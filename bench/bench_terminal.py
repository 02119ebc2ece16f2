#!/usr/bin/env python3
"""Measure the web terminal's keystroke round trip: client -> server -> node -> client.

Two clients type one character at a time into bash in a container node and wait for its
echo, the server being uvicorn on 127.0.0.1 serving ``terminal_routes``:

- ``websocket``: a Python WebSocket client (the protocol alone);
- ``browser``: Debian's chromium (Playwright) on a page running xterm.js and terminal.js,
  timed in the page from the key's ``keydown`` to xterm.js having parsed the echo.

Bounded: at most --count keystrokes and --seconds seconds per client. Prints the median and
p95 (JSON with --json). Needs root and LXC; without --lab it brings up securiser-poste (no
faults) and removes it at the end.

    python bench/bench_terminal.py [--lab ID] [--node pc1] [--count 200] [--seconds 60]
                                   [--no-browser] [--json]
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import threading
import time
from typing import Any

import jinja2
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.websockets import WebSocket
from websockets.sync.client import ClientConnection, connect

from tai_labs.lab import lifecycle
from tai_labs.portal.pty_sessions import TerminalSessions
from tai_labs.portal.terminal import NodeTarget, lab_node_target, terminal_routes
from tai_labs.providers.naming import new_lab_id
from tai_labs.scenario.catalog import find

OWNER = "bench"
KEYS = "abcdefghijklmnopqrstuvwxyz"
CLEAR_LINE = b"\x15"  # ^U: readline erases the line


PAGE = """<!doctype html><html lang="fr"><head><meta charset="utf-8">
{% import "_terminal.html" as t %}{{ t.assets("/static") }}</head>
<body>{{ t.terminal(ws_url, "node") }}</body></html>"""


def serve(lab_id: str, node: str) -> tuple[str, uvicorn.Server]:
    def authorize(websocket: WebSocket, lab: str, node: str) -> NodeTarget | None:
        return lab_node_target(OWNER, lab, node) if lab == lab_id else None

    templates = jinja2.Environment(
        loader=jinja2.PackageLoader("tai_labs.portal", "templates"), autoescape=True
    )
    ws_path = f"/lab/{lab_id}/node/{node}/terminal/ws"

    def page(request: Request) -> HTMLResponse:
        return HTMLResponse(templates.from_string(PAGE).render(ws_url=ws_path))

    app = Starlette(
        routes=[
            Route("/", page),
            Mount("/static", StaticFiles(packages=[("tai_labs.portal", "static")])),
            *terminal_routes(authorize, sessions=TerminalSessions(grace=1)),
        ]
    )
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(
            app, host="127.0.0.1", port=port, log_level="warning", ws="websockets-sansio"
        )
    )
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    return f"ws://127.0.0.1:{port}", server


def recv_until(ws: ClientConnection, needle: bytes, timeout: float = 10) -> bytes:
    seen = b""
    deadline = time.monotonic() + timeout
    while needle not in seen:
        msg = ws.recv(timeout=max(0.01, deadline - time.monotonic()))
        if isinstance(msg, bytes):
            seen += msg
    return seen


def recv_echo(ws: ClientConnection, key: bytes) -> None:
    """The echo of one keystroke, and nothing else (else the figure would be wrong)."""
    seen = recv_until(ws, key)
    if seen != key:
        raise RuntimeError(f"expected the echo {key!r}, got {seen!r}")


def measure(url: str, count: int, seconds: float) -> list[float]:
    with connect(url, open_timeout=20) as ws:
        recv_until(ws, b"# ", timeout=20)  # the prompt
        _drain(ws)
        times: list[float] = []
        stop = time.monotonic() + seconds
        for i in range(count):
            if time.monotonic() > stop:
                break
            key = KEYS[i % len(KEYS)].encode()
            started = time.perf_counter()
            ws.send(key)
            recv_echo(ws, key)
            times.append(time.perf_counter() - started)
            if i % len(KEYS) == len(KEYS) - 1:
                ws.send(CLEAR_LINE)
                time.sleep(0.05)
                _drain(ws)
        return times


# Timed in the page: keydown (capture, before xterm.js sees it) to the echo parsed.
_HOOK_JS = """(() => { const term = document.querySelector('[data-terminal]').terminal;
  window.__lat = []; window.__t0 = 0;
  document.addEventListener('keydown', () => { window.__t0 = performance.now(); }, true);
  term.onWriteParsed(() => { if (window.__t0) {
    window.__lat.push(performance.now() - window.__t0); window.__t0 = 0; } });
})()"""


def measure_browser(base: str, count: int, seconds: float) -> list[float]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium")
        try:
            tab = browser.new_page()
            tab.goto(base.replace("ws://", "http://") + "/")
            tab.wait_for_function(
                "document.querySelector('[data-terminal]').dataset.state === 'connecté'",
                timeout=20_000,
            )
            time.sleep(1.0)  # the prompt and its redraws
            tab.evaluate(_HOOK_JS)
            tab.click(".terminal-screen")
            stop = time.monotonic() + seconds
            for i in range(count):
                if time.monotonic() > stop:
                    break
                tab.keyboard.press(KEYS[i % len(KEYS)])
                tab.wait_for_function(f"window.__lat.length > {i}", timeout=10_000)
                if i % len(KEYS) == len(KEYS) - 1:
                    tab.keyboard.press("Control+U")  # its redraw is no echo: not counted
                    time.sleep(0.1)
                    tab.evaluate(f"window.__lat.length = {i + 1}; window.__t0 = 0")
            lat: list[float] = tab.evaluate("window.__lat")
        finally:
            browser.close()
    return [ms / 1000 for ms in lat[:count]]


def _drain(ws: ClientConnection) -> None:
    try:
        while True:
            ws.recv(timeout=0.05)
    except TimeoutError:
        pass


def summary(times: list[float]) -> dict[str, Any]:
    ms = sorted(t * 1000 for t in times)
    return {
        "keystrokes": len(ms),
        "median_ms": round(statistics.median(ms), 2),
        "p95_ms": round(ms[max(0, int(len(ms) * 0.95) - 1)], 2),
        "max_ms": round(ms[-1], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lab", help="an existing lab (else securiser-poste is brought up)")
    parser.add_argument("--node", default="pc1")
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--no-browser", action="store_true", help="the WebSocket client only")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    count = max(1, min(args.count, 2000))
    lab_id = args.lab or new_lab_id()
    if args.lab is None:
        lifecycle.up(
            find("securiser-poste"), candidate="bench-terminal", seed=0, lab_id=lab_id, faults=False
        )
    results: dict[str, dict[str, Any]] = {}
    try:
        base, server = serve(lab_id, args.node)
        url = f"{base}/lab/{lab_id}/node/{args.node}/terminal/ws"
        results["websocket"] = summary(measure(url, count, args.seconds))
        if not args.no_browser:
            time.sleep(1.5)  # the first session's grace: the page gets a shell of its own
            results["browser"] = summary(measure_browser(base, count, args.seconds))
        server.should_exit = True
    finally:
        if args.lab is None:
            lifecycle.down(lab_id)
    if args.json:
        print(json.dumps({"node": args.node, **results}))
        return
    for client, r in results.items():
        print(
            f"{client}: keystroke round trip over {r['keystrokes']} keys: "
            f"median {r['median_ms']} ms, p95 {r['p95_ms']} ms, max {r['max_ms']} ms"
        )


if __name__ == "__main__":
    main()
