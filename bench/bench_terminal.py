#!/usr/bin/env python3
"""Measure the web terminal's keystroke round trip: client -> server -> node -> client.

A WebSocket client (what terminal.js does) types one character at a time into bash in a
container node and waits for its echo; the server is uvicorn on 127.0.0.1 serving
``terminal_routes``. Bounded: at most --count keystrokes and --seconds seconds. Prints the
median and p95 (JSON with --json). Needs root and LXC; without --lab it brings up
securiser-poste (no faults) and removes it at the end.

    python bench/bench_terminal.py [--lab ID] [--node pc1] [--count 200] [--seconds 60] [--json]
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import threading
import time
from typing import Any

import uvicorn
from starlette.applications import Starlette
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


def serve(lab_id: str) -> tuple[str, uvicorn.Server]:
    def authorize(websocket: WebSocket, lab: str, node: str) -> NodeTarget | None:
        return lab_node_target(OWNER, lab, node) if lab == lab_id else None

    app = Starlette(routes=terminal_routes(authorize, sessions=TerminalSessions(grace=1)))
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
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    count = max(1, min(args.count, 2000))
    lab_id = args.lab or new_lab_id()
    if args.lab is None:
        lifecycle.up(
            find("securiser-poste"), candidate="bench-terminal", seed=0, lab_id=lab_id, faults=False
        )
    try:
        base, server = serve(lab_id)
        times = measure(f"{base}/lab/{lab_id}/node/{args.node}/terminal/ws", count, args.seconds)
        server.should_exit = True
    finally:
        if args.lab is None:
            lifecycle.down(lab_id)
    result = {"node": args.node, **summary(times)}
    if args.json:
        print(json.dumps(result))
    else:
        print(
            f"keystroke round trip over {result['keystrokes']} keys: "
            f"median {result['median_ms']} ms, p95 {result['p95_ms']} ms, "
            f"max {result['max_ms']} ms"
        )


if __name__ == "__main__":
    main()
