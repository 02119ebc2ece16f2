"""One libvirt connection per process, and the guest agent protocol on top of it.

libvirtd probes QEMU on its first connection (about 12 s on a cold daemon), so the
connection is opened once and shared; libvirt connections are thread-safe.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tai_labs.providers.errors import EngineError, HostRequirementError

if TYPE_CHECKING:
    import libvirt

DEFAULT_URI = "qemu:///system"
_SOCKETS = (Path("/run/libvirt/libvirt-sock"), Path("/var/run/libvirt/libvirt-sock"))
_lock = threading.Lock()
_conns: dict[str, libvirt.virConnect] = {}


class AgentError(EngineError):
    """The guest agent did not answer or refused the command."""


def uri() -> str:
    return os.environ.get("TAI_LABS_LIBVIRT_URI", DEFAULT_URI)


def daemon_running() -> bool:
    """Whether a local libvirtd socket exists (cheap: no connection is made)."""
    return any(p.exists() for p in _SOCKETS)


def import_libvirt() -> Any:
    try:
        import libvirt
    except ImportError as exc:
        raise HostRequirementError(
            "the VM engine needs the libvirt Python bindings",
            hint="apt-get install libvirt-dev pkg-config && pip install libvirt-python",
        ) from exc
    # libvirt prints every error to stderr by default; ours carry the message already.
    libvirt.registerErrorHandler(lambda _ctx, _err: None, None)
    return libvirt


def connect() -> libvirt.virConnect:
    libvirt = import_libvirt()
    target = uri()
    with _lock:
        conn = _conns.get(target)
        if conn is not None and conn.isAlive():
            return conn
        try:
            conn = libvirt.open(target)
        except libvirt.libvirtError as exc:
            raise HostRequirementError(
                f"cannot connect to libvirt at {target}: {exc.get_error_message()}",
                hint="start the daemons: virtlogd -d && libvirtd -d "
                "(package libvirt-daemon-system); see `tai-labs doctor`",
            ) from exc
        if not _conns:
            atexit.register(_close_all)
        _conns[target] = conn
        return conn


def _close_all() -> None:
    """Close before interpreter teardown (libvirt's __del__ fails once its module is gone)."""
    with _lock:
        for conn in _conns.values():
            with contextlib.suppress(Exception):
                conn.close()
        _conns.clear()


def agent_command(dom: libvirt.virDomain, command: str, timeout: int = 10, **args: object) -> Any:
    """Run one QEMU guest agent command and return its ``return`` value."""
    libvirt = import_libvirt()
    import libvirt_qemu

    payload: dict[str, object] = {"execute": command}
    if args:
        payload["arguments"] = args
    try:
        reply = libvirt_qemu.qemuAgentCommand(dom, json.dumps(payload), timeout, 0)
    except libvirt.libvirtError as exc:
        raise AgentError(f"guest agent of {dom.name()}: {exc.get_error_message()}") from exc
    return json.loads(reply).get("return")
