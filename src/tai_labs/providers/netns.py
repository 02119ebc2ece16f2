"""The host's own network tools run in a node's network namespace, and nowhere else of it.

``nsenter --net=FD`` switches only the network namespace: the program, its libraries, its
``/etc`` and ``/proc`` are the host's, so nothing the node's root changed in its files
(a replaced ``/usr/sbin/ip``, ``ld.so.preload``) takes part. The namespace is held by an open
file descriptor taken from the node's init once, so a reused pid cannot lead elsewhere.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence

from tai_labs.bounded_output import run_capped
from tai_labs.providers.base import NODE_ENV, ExecResult
from tai_labs.providers.errors import EngineError, ExecTimeoutError

#: The host package of each tool that is not iproute2's.
_PACKAGES = {
    "kinit": "krb5-user",
    "klist": "krb5-user",
    "nsenter": "util-linux",
    "lpstat": "cups-client",
    "smbclient": "smbclient",
    "curl": "curl",
}


def host_tool(name: str, package: str | None = None) -> str:
    """The host's own binary, from the fixed PATH only."""
    path = shutil.which(name, path=NODE_ENV["PATH"])
    if path is None:
        package = package or _PACKAGES.get(name, "iproute2")
        raise EngineError(f"{name} is not installed on the host ({package})")
    return path


class NetNamespace:
    """A node's network namespace, held open from ``/proc/<init pid>/ns/net``."""

    def __init__(self, init_pid: int) -> None:
        self.init_pid = init_pid
        self._fd: int | None = None

    def handle(self) -> int:
        """The descriptor held on the namespace (for ``setns`` by our own code)."""
        return self._handle()

    def _handle(self) -> int:
        if self._fd is None:
            try:
                self._fd = os.open(f"/proc/{self.init_pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
            except OSError as exc:
                raise EngineError(f"the node's network namespace is gone: {exc}") from exc
        return self._fd

    def run(
        self,
        argv: Sequence[str],
        *,
        timeout: float = 30.0,
        env: Mapping[str, str] | None = None,
        input: bytes | None = None,
    ) -> ExecResult:
        """argv (argv[0] a host tool's name) run by the host inside this namespace only;
        ``env`` adds to the fixed environment (a private KRB5_CONFIG, say)."""
        fd = self._handle()
        # Our own descriptor, through our /proc entry: nsenter (root) opens the namespace
        # we hold, whatever became of the pid since.
        command = [
            host_tool("nsenter"),
            f"--net=/proc/{os.getpid()}/fd/{fd}",
            "--",
            host_tool(argv[0]),
            *argv[1:],
        ]
        try:
            # Output kept to a bound per stream, the rest drained (bounded_output).
            proc = run_capped(
                command, input=input, timeout=timeout, env={**NODE_ENV, **(env or {})}, cwd="/"
            )
        except subprocess.TimeoutExpired as exc:
            raise ExecTimeoutError(f"{argv[0]} did not finish in {timeout:g}s") from exc
        return ExecResult(
            proc.rc,
            proc.stdout.decode(errors="replace"),
            proc.stderr.decode(errors="replace"),
            proc.truncated,
        )

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
