"""What every WebSocket of the portal (terminals, consoles) asks before it accepts: the
request's ``Origin``, the caller's authorisation (sync or async), and a refusal that says
nothing about whether the lab exists."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import TypeVar
from urllib.parse import urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.responses import PlainTextResponse
from starlette.websockets import WebSocket

from tai_labs.errors import TaiLabsError

T = TypeVar("T")


async def authorized(
    authorize: Callable[[WebSocket, str, str], object],
    websocket: WebSocket,
    lab: str,
    node: str,
    kind: type[T],
) -> T | None:
    """``authorize``'s answer if it is a ``kind`` (a blocking one runs in a worker thread);
    None for anything else, or a lab-layer error (no such lab or node, not running): refused
    like a foreign one."""
    try:
        if inspect.iscoroutinefunction(authorize):
            result = await authorize(websocket, lab, node)
        else:
            result = await run_in_threadpool(authorize, websocket, lab, node)
            if inspect.isawaitable(result):
                result = await result
    except TaiLabsError:
        return None
    return result if isinstance(result, kind) else None


def origin_ok(websocket: WebSocket, allowed: Sequence[str]) -> bool:
    """No cross-site WebSocket: a page of another site cannot drive a candidate's shell."""
    origin = websocket.headers.get("origin")
    if origin is None:
        return True  # not a browser; the session cookie still has to be valid
    if origin.rstrip("/") in {a.rstrip("/") for a in allowed}:
        return True
    return urlsplit(origin).netloc == websocket.headers.get("host", "")


async def refuse(websocket: WebSocket) -> None:
    """Not found, whether the lab does not exist or is someone else's (nothing to guess)."""
    if "websocket.http.response" in websocket.scope.get("extensions", {}):
        await websocket.send_denial_response(PlainTextResponse("introuvable", 404))
    else:
        await websocket.close(code=1008)
