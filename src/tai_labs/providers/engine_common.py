"""What both engines do the same way: node folders and numbers, guest-side timeouts, boot
waits, snapshot names."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Protocol, TypeVar

from tai_labs.providers import naming
from tai_labs.providers.base import ExecResult
from tai_labs.providers.errors import (
    EngineError,
    ExecTimeoutError,
    NodeNotFoundError,
    NodeStartError,
)

_SNAPSHOT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
#: timeout(1)'s exit codes: timed out, killed after the grace period.
_TIMEOUT_CODES = (124, 137)


class _Recorded(Protocol):
    @property
    def meta(self) -> Path: ...


L = TypeVar("L", bound=_Recorded)


def recorded(layout: L, missing: str) -> L:
    """layout if the node was created (its node.json exists), else NodeNotFoundError(missing)."""
    if not layout.meta.is_file():
        raise NodeNotFoundError(missing)
    return layout


def free_number(lab_id: str, metas: Iterable[Mapping[str, object]]) -> int:
    """The lowest node number the recorded nodes (their node.json) leave free."""
    used = {int(str(meta["number"])) for meta in metas}
    for number in range(1, naming.MAX_NODES + 1):
        if number not in used:
            return number
    raise EngineError(f"lab {lab_id} already has {naming.MAX_NODES} nodes")


def check_snapshot_name(name: str) -> str:
    if not _SNAPSHOT_RE.fullmatch(name):
        raise EngineError(f"invalid snapshot name {name!r}")
    return name


def with_guest_timeout(argv: Sequence[str], timeout: float | None) -> list[str]:
    """argv run under the node's own timeout(1).

    Killing the host-side channel (lxc-attach, the guest agent's poll) would leave the
    command running in the node; the node's timeout(1) kills it there.
    """
    if timeout is None:
        return list(argv)
    return ["timeout", "-k", "2", f"{timeout:g}", *argv]


def raise_if_timed_out(
    argv: Sequence[str], node: str, rc: int, started: float, timeout: float | None
) -> None:
    """timeout(1)'s codes are also a command's own: the elapsed time tells them apart."""
    if timeout is not None and rc in _TIMEOUT_CODES and time.monotonic() - started >= timeout:
        raise ExecTimeoutError(f"{argv[0]} on {node} did not finish in {timeout}s")


def wait_for_systemd(
    exec_: Callable[..., ExecResult], node: str, deadline: float, *, what: str = "node"
) -> str:
    """Wait until the node's systemd finished booting; return running or degraded."""
    last = ""
    while time.monotonic() < deadline:
        remaining = max(1.0, deadline - time.monotonic())
        try:
            res = exec_(node, ["systemctl", "is-system-running", "--wait"], timeout=remaining)
        except ExecTimeoutError:
            break
        last = res.stdout.strip() or res.stderr.strip()
        if last in ("running", "degraded"):
            return last
        # Before systemd's private bus is up the command fails at once; poll again.
        time.sleep(0.1)
    raise NodeStartError(f"{what} {node!r} did not finish booting in time (last: {last!r})")


def tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
