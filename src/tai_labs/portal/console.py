"""The graphical console of a node with a desktop: its page (noVNC) and its WebSocket.

``/lab/{lab}/node/{node}/console`` shows the display of a Windows VM of a lab in the
browser; its WebSocket (``portal.vnc``) relays to the VNC port libvirt gave the domain on
the host's loopback. Both ask the portal's ``access`` first (``app.console_node``: the
candidate's own lab and node, or any lab's for an instructor; else 404, or 303 to the login
when nobody is logged in or the épreuve is over), so page and WebSocket answer alike.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from starlette.exceptions import HTTPException
from starlette.requests import HTTPConnection, Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.websockets import WebSocket

from tai_labs.lab import graphics
from tai_labs.lab.store import NodeRecord
from tai_labs.portal.vnc import Display, vnc_routes

#: Who may see which node's console: the node's record, or ``HTTPException`` (404, 303).
Access = Callable[[HTTPConnection, str, str], NodeRecord]
#: Renders a page of the portal: (request, template, **context).
Render = Callable[..., Response]


def console_routes(
    access: Access,
    render: Render,
    *,
    data: Path | None = None,
    allowed_origins: Sequence[str] = (),
) -> list[BaseRoute]:
    """The console's page and WebSocket routes; ``data``: the data folder the labs are in."""

    async def page(request: Request) -> Response:
        lab_id, node = request.path_params["lab_id"], request.path_params["node"]
        access(request, lab_id, node)
        instructor = request.state.login.kind == "instructor"
        return render(
            request,
            "console.html",
            node=node,
            back="/instructor" if instructor else f"/lab/{lab_id}",
            ws_url=request.url_for("console_ws", lab=lab_id, node=node).path,
        )

    def display(websocket: WebSocket, lab_id: str, node: str) -> Display | None:
        # In a worker thread (vnc_routes runs a sync authorize there): libvirt blocks.
        try:
            record = access(websocket, lab_id, node)
        except HTTPException:
            return None
        return Display(graphics.DISPLAY_HOST, graphics.display_port(lab_id, record, data))

    return [
        Route("/lab/{lab_id}/node/{node}/console", page),
        *vnc_routes(display, allowed_origins=allowed_origins),
    ]
