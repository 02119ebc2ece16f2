"""What the VM engine does through the QEMU guest agent (a virtio-serial channel): run a
command, wait for the agent after a boot, read and set the guest's clock.

Like ``lxc-attach`` for containers, the agent works when the node's network is broken on
purpose.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from tai_labs.bounded_output import cap_bytes, truncated_streams
from tai_labs.providers.base import NODE_ENV, ExecResult
from tai_labs.providers.engine_common import raise_if_timed_out, tail, with_guest_timeout
from tai_labs.providers.errors import ExecTimeoutError, NodeStartError
from tai_labs.providers.libvirt_conn import AgentError, agent_command

if TYPE_CHECKING:
    import libvirt

GUEST_ENV = tuple(f"{key}={value}" for key, value in NODE_ENV.items())


def agent_exec(
    dom: libvirt.virDomain,
    node: str,
    argv: Sequence[str],
    *,
    windows: bool,
    input: str | bytes | None,
    timeout: float | None,
) -> ExecResult:
    """Run argv as root in the guest and wait for it (``timeout`` kills it in the guest; a
    host-side backstop 10 s later gives up on an agent that stopped answering)."""
    if windows:
        # No timeout(1) or env(1) there: the host-side backstop below is the limit.
        args: dict[str, object] = {"path": argv[0], "arg": list(argv[1:])}
    else:
        # env(1) sets a clean environment and searches PATH in it.
        inner = with_guest_timeout(argv, timeout)
        args = {"path": "/usr/bin/env", "arg": ["-i", *GUEST_ENV, *inner]}
    args["capture-output"] = True
    if input is not None:
        data = input.encode() if isinstance(input, str) else input
        args["input-data"] = base64.b64encode(data).decode()
    started = time.monotonic()
    pid = agent_command(dom, "guest-exec", timeout=10, **args)["pid"]
    backstop = None if timeout is None else started + timeout + 10
    delay = 0.01
    while True:
        status = agent_command(dom, "guest-exec-status", timeout=10, pid=pid)
        if status.get("exited"):
            break
        if backstop is not None and time.monotonic() > backstop:
            raise ExecTimeoutError(f"{argv[0]} on {node} did not finish in {timeout}s")
        time.sleep(delay)
        delay = min(delay * 2, 0.2)
    rc = status.get("exitcode", 128 + int(status.get("signal", 0)))
    raise_if_timed_out(argv, node, rc, started, timeout)
    out, out_cut = _agent_stream(status, "out")
    err, err_cut = _agent_stream(status, "err")
    return ExecResult(rc, out, err, truncated_streams(out_cut, err_cut))


def _agent_stream(status: dict[str, object], name: str) -> tuple[str, bool]:
    """One stream of guest-exec-status, cut to MAX_OUTPUT_BYTES (bounded_output).

    The agent keeps at most 16 MiB per stream in the guest and says when it cut one
    (``out-truncated``): that much base64 is the most this reply can hold.
    """
    data, cut = cap_bytes(base64.b64decode(str(status.get(f"{name}-data", ""))))
    return data.decode(errors="replace"), cut or bool(status.get(f"{name}-truncated"))


def wait_agent(
    dom: libvirt.virDomain,
    node: str,
    *,
    running: Callable[[], bool],
    console_log: Path,
    deadline: float,
    timeout: float,
) -> None:
    """Wait until the guest agent answers; the console's tail tells why when it never does."""
    while True:
        if not running():
            raise NodeStartError(f"VM {node!r} stopped while booting:\n{tail(console_log)}")
        try:
            agent_command(dom, "guest-ping", timeout=2)
            break
        except AgentError:
            if time.monotonic() > deadline:
                raise NodeStartError(
                    f"VM {node!r}: no guest agent after {timeout:.0f}s\n{tail(console_log)}"
                ) from None
            time.sleep(0.5)


def clock_offset(dom: libvirt.virDomain) -> float:
    """Guest clock minus host clock, in seconds; 0 when under 2 s (ordinary drift).

    A fault may have shifted the guest's clock on purpose (linux.clock_skew): a revert
    must keep that shift, not erase it.
    """
    try:
        guest_ns = agent_command(dom, "guest-get-time", timeout=5)
    except AgentError:
        return 0.0
    offset = guest_ns / 1e9 - time.time()
    return 0.0 if abs(offset) < 2 else round(offset, 1)


def set_clock(dom: libvirt.virDomain, offset: float = 0.0, *, patience: float = 30) -> None:
    """Set the guest clock to the host's plus offset, retrying while the agent comes back."""
    deadline = time.monotonic() + patience
    while True:
        try:
            now = time.time() + offset
            agent_command(dom, "guest-set-time", timeout=5, time=int(now * 1e9))
            return
        except AgentError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)
