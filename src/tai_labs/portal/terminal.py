"""The web terminal's WebSocket: a PTY in a lab node, shown by xterm.js in the page.

``terminal_routes(authorize)`` gives the route ``/lab/{lab}/node/{node}/terminal/ws``. The
portal's ``authorize`` decides, for the logged-in person, whether they may open that node's
terminal and how (``NodeTarget``); this module never decides who may, and refuses (404,
before the WebSocket is accepted) whenever ``authorize`` says None or raises a
``TaiLabsError`` (no such lab or node: ``lab_node_target`` raises those).

Protocol (``static/terminal.js`` is the client):

- client to server: binary frames are keystrokes (any bytes); text frames are JSON
  controls, ``{"type": "resize", "cols": C, "rows": R}``;
- server to client: first a text frame ``{"type": "replay", "offset": N, "cols": C,
  "rows": R}`` (the terminal's size, which a read-only view draws at) then binary
  output, starting with the replayed part (output byte N onwards); a last text frame
  ``{"type": "end", "why": ...}`` before the server closes;
- ``?since=N`` in the URL: the client already shows output up to byte N of this session
  (a reconnect after a blip), so only what it missed is replayed;
  ``?cols=C&rows=R``: the size of a new PTY.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from starlette.routing import BaseRoute, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from tai_labs.portal.pty_sessions import Attachment, TerminalError, TerminalSessions
from tai_labs.portal.ws_gate import authorized, origin_ok, refuse

#: Largest message a client may send (a paste): past it the WebSocket is closed.
MAX_MESSAGE_BYTES = 64 * 1024
#: WebSocket close codes the client acts on (terminal.js): do not reconnect after these.
CLOSE_ENDED = 4000  # the shell exited or the session expired
CLOSE_TAKEN_OVER = 4001  # the same person opened this terminal elsewhere
CLOSE_REFUSED = 4003  # server full, bad input


@dataclass(frozen=True)
class NodeTarget:
    """What ``authorize`` grants: whose terminal, and the host command that opens it.

    ``owner`` keys the session with the lab and node: the same owner reattaches to the same
    shell. ``argv`` is the host command run on the PTY (``lab_node_target`` builds it from
    the lab: ``lxc-attach`` into the node as its ``console_user``). ``read_only``: watch the
    owner's live session without typing (an instructor assisting); no shell is started.
    ``seconds_left``: the owner's time (an épreuve's end): the shell is closed when it runs
    out, whether or not a WebSocket shows it; ``time_left``, asked again then, moves that
    close later when extra time was given meanwhile.
    """

    owner: str
    argv: tuple[str, ...] = ()
    read_only: bool = False
    seconds_left: float | None = None
    time_left: Callable[[], float | None] | None = None


Authorize = Callable[[WebSocket, str, str], "NodeTarget | Awaitable[NodeTarget | None] | None"]


def lab_node_target(owner: str, lab_id: str, node: str) -> NodeTarget:
    """The target of ``owner``'s own terminal on a node of a lab (blocking: opens the lab).

    Raises the lab layer's errors (no such lab or node, node not running, Windows node).
    """
    from tai_labs.lab.runtime import open_lab
    from tai_labs.lab.terminal import terminal_command

    return NodeTarget(owner, tuple(terminal_command(open_lab(lab_id), node)))


def terminal_routes(
    authorize: Authorize,
    *,
    sessions: TerminalSessions | None = None,
    allowed_origins: Sequence[str] = (),
) -> list[BaseRoute]:
    """The terminal's WebSocket route, served from ``sessions`` (one per server).

    ``authorize(websocket, lab, node)`` may be sync (run in a thread: it may open the lab)
    or async. A browser's WebSocket must come from a page of this server: its ``Origin``
    must be the request's own host, or one of ``allowed_origins`` (``https://host:port``,
    behind a proxy that rewrites ``Host``).
    """
    pool = sessions if sessions is not None else TerminalSessions()

    async def endpoint(websocket: WebSocket) -> None:
        lab = websocket.path_params["lab"]
        node = websocket.path_params["node"]
        target = None
        if origin_ok(websocket, allowed_origins):
            target = await authorized(authorize, websocket, lab, node, NodeTarget)
        if target is None:
            await refuse(websocket)
            return
        key = (target.owner, lab, node)
        if target.read_only:
            view = pool.watch(key)
            if view is None:  # authorised, but the owner has no shell open there
                await websocket.accept()
                await _end(websocket, CLOSE_ENDED, "no session")
                return
        else:
            try:
                view = pool.open(
                    key,
                    target.argv,
                    cols=_int_param(websocket, "cols") or 80,
                    rows=_int_param(websocket, "rows") or 24,
                    since=_int_param(websocket, "since"),
                )
            except (TerminalError, OSError) as exc:
                await websocket.accept()
                await _end(websocket, CLOSE_REFUSED, str(exc))
                return
            if target.seconds_left is not None:
                view.session.close_at(target.seconds_left, "time over", target.time_left)
        await websocket.accept()
        await _serve(websocket, view, pool.grace)

    return [WebSocketRoute("/lab/{lab}/node/{node}/terminal/ws", endpoint, name="terminal_ws")]


def _int_param(websocket: WebSocket, name: str) -> int | None:
    value = websocket.query_params.get(name, "")
    return int(value) if value.isdigit() and len(value) <= 12 else None


async def _end(websocket: WebSocket, code: int, why: str) -> None:
    try:
        await websocket.send_text(json.dumps({"type": "end", "why": why}))
        await websocket.close(code=code)
    except (WebSocketDisconnect, RuntimeError):
        pass  # already gone


async def _serve(websocket: WebSocket, view: Attachment, grace: float) -> None:
    """Pump output to the client and its keystrokes to the PTY until either side ends."""
    cols, rows = view.session.size
    hello = {"type": "replay", "offset": view.offset, "cols": cols, "rows": rows}
    await websocket.send_text(json.dumps(hello))
    if view.replay:
        await websocket.send_bytes(view.replay)
    pump = asyncio.create_task(_pump_output(websocket, view))
    try:
        await _read_input(websocket, view)
    except (WebSocketDisconnect, RuntimeError):
        pass  # gone (RuntimeError: Starlette's receive after the close we sent)
    except TerminalError as exc:
        await _end(websocket, CLOSE_REFUSED, str(exc))
    finally:
        view.session.detach(view, grace)
        pump.cancel()
        with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, RuntimeError):
            await pump


async def _pump_output(websocket: WebSocket, view: Attachment) -> None:
    while (item := await view.next()) is not None:
        if isinstance(item, tuple):
            cols, rows = item
            await websocket.send_text(json.dumps({"type": "resize", "cols": cols, "rows": rows}))
        else:
            await websocket.send_bytes(item)
    code = CLOSE_TAKEN_OVER if view.ended_because == "taken over" else CLOSE_ENDED
    await _end(websocket, code, view.ended_because)


async def _read_input(websocket: WebSocket, view: Attachment) -> None:
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            raise WebSocketDisconnect(message.get("code", 1000))
        data = message.get("bytes")
        text = message.get("text")
        if data is not None:
            if len(data) > MAX_MESSAGE_BYTES:
                raise TerminalError("message too large")
            if not view.read_only:
                view.session.write(data)
        elif text is not None:
            _control(view, text)


def _control(view: Attachment, text: str) -> None:
    if len(text) > 200 or view.read_only:
        return
    try:
        msg = json.loads(text)
    except ValueError:
        return
    if isinstance(msg, dict) and msg.get("type") == "resize":
        cols, rows = msg.get("cols"), msg.get("rows")
        if isinstance(cols, int) and isinstance(rows, int):
            view.session.resize(cols, rows)
