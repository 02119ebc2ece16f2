"""The graphical console's WebSocket: bytes relayed between noVNC in the page and a node's
VNC display, a TCP port on the host's loopback.

``vnc_routes(authorize)`` gives the route ``/lab/{lab}/node/{node}/console/ws``. The portal's
``authorize`` decides, for the logged-in person, whether they may see that node's display and
where it is (``Display``: the port libvirt gave the domain); this module never decides who
may. It refuses (404, before accepting) when ``authorize`` says None or raises a
``TaiLabsError``, or when the page that opens the WebSocket is not one of this server's.

The relay is in-process (Starlette WebSocket to an asyncio TCP stream), with bounded
buffers on both ways: at most ``CHUNK`` bytes read from the display at a time and sent
before the next read; a client message past ``MAX_MESSAGE_BYTES`` ends the connection; the
TCP writer is drained before the next message is read. Either side closing closes both.
Every ``recheck`` seconds ``authorize`` is asked again, so a console open when an exam ends
(or a login is closed) is cut then, not when the tab closes.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from starlette.routing import BaseRoute, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from tai_labs.portal.ws_gate import authorized, origin_ok, refuse

#: Largest message a client may send (RFB client messages are a few bytes; a clipboard
#: paste is the largest): past it the connection is closed.
MAX_MESSAGE_BYTES = 256 * 1024
#: Largest read from the display in one go (and so the most buffered here per connection).
CHUNK = 64 * 1024
#: Seconds between two checks that the person may still see the console.
RECHECK_SECONDS = 15.0
#: Close code the page acts on (console.js): access ended, do not reconnect.
CLOSE_ENDED = 4000
#: The WebSocket subprotocol noVNC may ask for (websockify's name for raw bytes).
SUBPROTOCOL = "binary"


@dataclass(frozen=True)
class Display:
    """Where a node's display is, on the host: granted by ``authorize``, never by a request."""

    host: str
    port: int


Authorize = Callable[[WebSocket, str, str], "Display | Awaitable[Display | None] | None"]


def vnc_routes(
    authorize: Authorize,
    *,
    allowed_origins: Sequence[str] = (),
    recheck: float | None = None,
) -> list[BaseRoute]:
    """The console's WebSocket route.

    ``authorize(websocket, lab, node)`` may be sync (run in a thread: it may ask libvirt) or
    async. ``allowed_origins``: as ``terminal_routes``'s (behind a proxy rewriting ``Host``).
    ``recheck``: seconds between two authorisations of an open console (``RECHECK_SECONDS``).
    """

    async def endpoint(websocket: WebSocket) -> None:
        lab = websocket.path_params["lab"]
        node = websocket.path_params["node"]
        display = None
        if origin_ok(websocket, allowed_origins):
            display = await authorized(authorize, websocket, lab, node, Display)
        if display is None:
            await refuse(websocket)
            return
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(display.host, display.port, limit=CHUNK), timeout=10
            )
        except (OSError, TimeoutError):
            await refuse(websocket)  # the display went away between the two
            return
        offered = websocket.scope.get("subprotocols", [])
        try:
            await websocket.accept(subprotocol=SUBPROTOCOL if SUBPROTOCOL in offered else None)
        except (WebSocketDisconnect, RuntimeError, OSError):
            writer.close()  # the browser left before the answer
            return

        async def still_allowed() -> None:
            while True:
                await asyncio.sleep(recheck or RECHECK_SECONDS)
                if await authorized(authorize, websocket, lab, node, Display) != display:
                    return

        await _relay(websocket, reader, writer, still_allowed())

    return [WebSocketRoute("/lab/{lab}/node/{node}/console/ws", endpoint, name="console_ws")]


async def _relay(
    websocket: WebSocket,
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    watch: Awaitable[None],
) -> None:
    """Both ways until one ends (either side closing, a too large message, access ended)."""

    async def to_display() -> None:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            data = message.get("bytes")
            if data is None or len(data) > MAX_MESSAGE_BYTES:
                return  # RFB is binary: a text frame is not a VNC client's
            writer.write(data)
            await writer.drain()

    async def to_browser() -> None:
        while data := await reader.read(CHUNK):
            await websocket.send_bytes(data)

    tasks = [
        asyncio.ensure_future(to_display()),
        asyncio.ensure_future(to_browser()),
        asyncio.ensure_future(watch),
    ]
    try:
        done, _pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
    code = CLOSE_ENDED if tasks[2] in done else 1000
    with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError):
        await websocket.close(code=code)
