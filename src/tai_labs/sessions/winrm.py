"""WinRM PowerShell session (pywinrm, NTLM over HTTPS) to a Windows node.

Kept thin on purpose: no Windows machine runs where this is developed, so it is tested only
against recorded WS-Management exchanges. Scripts go as ``powershell -EncodedCommand``
(UTF-16LE base64, so no cmd.exe quoting is involved); parameters are bound in a prelude as
single-quoted literals, never spliced into the script text.
"""

from __future__ import annotations

import base64
import contextlib
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

from tai_labs.bounded_output import CappedBuffer, truncated_streams
from tai_labs.errors import require_module
from tai_labs.sessions.base import (
    CommandResult,
    PinMismatchError,
    PowerShellSession,
    SessionError,
)
from tai_labs.sessions.deadline import budget
from tai_labs.sessions.quoting import ps_command, ps_prelude
from tai_labs.sessions.tls_pin import check_pin

WINRM_HTTPS_PORT = 5986
#: The account graders, faults and roles log in to Windows nodes as (local to the node).
WINDOWS_ADMIN = "Administrator"
#: Progress records would come back as CLIXML noise on stderr.
_PREAMBLE = "$ProgressPreference = 'SilentlyContinue'\n"
_CLIXML_S, _CLIXML_S_END = '<S S="Error">', "</S>"


def encoded_command(script: str) -> str:
    """The powershell.exe command line that runs ``script`` (UTF-16LE base64)."""
    encoded = base64.b64encode(script.encode("utf-16-le")).decode("ascii")
    return f"powershell.exe -NoProfile -NonInteractive -EncodedCommand {encoded}"


def clean_clixml(stderr: str) -> str:
    """PowerShell's CLIXML error stream as plain text (what pywinrm's run_ps also does)."""
    if not stderr.startswith("#< CLIXML"):
        return stderr
    # What re.findall('<S S="Error">(.*?)</S>', re.S) finds, without its quadratic time on
    # a run of openers: each opener looks for its first closer once.
    parts = []
    pos = 0
    while (start := stderr.find(_CLIXML_S, pos)) >= 0:
        end = stderr.find(_CLIXML_S_END, start + len(_CLIXML_S))
        if end < 0:
            break
        parts.append(stderr[start + len(_CLIXML_S) : end])
        pos = end + len(_CLIXML_S_END)
    text = "".join(parts).replace("_x000D__x000A_", "\n")
    for entity, char in (
        ("&lt;", "<"),
        ("&gt;", ">"),
        ("&quot;", '"'),
        ("&apos;", "'"),
        ("&amp;", "&"),
    ):
        text = text.replace(entity, char)
    return text.strip() if parts else stderr


def admin_session(
    node: str,
    address: str,
    password: str | None,
    *,
    connect_timeout: float = 10.0,
    pin: str | None = None,
) -> WinRmSession:
    """A WinRM session to a Windows node as its local Administrator (the lab's
    ``admin_password``): how the grading pool, the Windows role and faults all reach one.
    Windows nodes are not joined to the lab's domain yet. The first call opens it."""
    if not password:
        raise SessionError(f"{node}: the lab has no admin_password secret for WinRM")
    return WinRmSession(
        node,
        address,
        username=WINDOWS_ADMIN,
        password=password,
        connect_timeout=connect_timeout,
        pin=pin,
    )


def pin_transport(protocol: Any, where: str, pin: str) -> None:
    """Make every HTTPS connection of a pywinrm Protocol check the peer's certificate
    against ``pin`` (urllib3's ``assert_fingerprint``: in the handshake, before any request,
    so before NTLM starts), whatever session pywinrm builds or rebuilds."""
    requests = require_module("requests", package="requests", purpose="a WinRM session")
    http_adapter: Any = requests.adapters.HTTPAdapter

    class PinnedAdapter(http_adapter):  # type: ignore[misc]
        def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
            kwargs["assert_fingerprint"] = pin
            super().init_poolmanager(*args, **kwargs)

        def send(self, request: Any, *args: Any, **kwargs: Any) -> Any:
            try:
                return super().send(request, *args, **kwargs)
            except requests.exceptions.SSLError as exc:
                if "Fingerprints did not match" in str(exc):
                    raise PinMismatchError(
                        f"{where}: the TLS certificate is not the one pinned at provisioning "
                        f"(sha256 {pin}): {exc}"
                    ) from exc
                raise

    transport = protocol.transport
    build = transport.build_session

    def build_pinned() -> Any:
        session = build()
        session.mount("https://", PinnedAdapter())
        return session

    transport.build_session = build_pinned


class WinRmSession(PowerShellSession):
    transport = "winrm"

    def __init__(
        self,
        node: str,
        host: str,
        *,
        username: str,
        password: str,
        port: int = WINRM_HTTPS_PORT,
        connect_timeout: float = 10.0,
        protocol: Any = None,
        pin: str | None = None,
    ) -> None:
        """pin: SHA-256 of the node's WinRM certificate; None only before one is pinned (the
        Windows role's readiness probe at provisioning)."""
        self.node = node
        self.pin = check_pin(pin) if pin is not None else None
        self.host = host
        self.username = username
        self._password = password
        self.port = port
        self.connect_timeout = connect_timeout
        #: A pywinrm Protocol; tests give one whose transport replays recorded responses.
        self._protocol = protocol
        self._shell: str | None = None
        self._lock = threading.Lock()

    def _make_protocol(self) -> Any:
        winrm = require_module("winrm", package="pywinrm", purpose="a WinRM session")
        protocol = winrm.protocol.Protocol(
            endpoint=f"https://{self.host}:{self.port}/wsman",
            transport="ntlm",
            username=self.username,
            password=self._password,
            # Self-signed: no CA can vouch for it; the pin below does instead.
            server_cert_validation="ignore",
            read_timeout_sec=int(self.connect_timeout) + 20,
            operation_timeout_sec=20,
        )
        if self.pin is not None:
            pin_transport(protocol, f"{self.node}: WinRM to {self.host}:{self.port}", self.pin)
        return protocol

    def open(self) -> None:
        """Open one remote shell, reused by every call (idempotent)."""
        with self._lock:
            if self._shell is not None:
                return
            if self._protocol is None:
                self._protocol = self._make_protocol()
            try:
                self._shell = self._protocol.open_shell(codepage=65001)  # UTF-8 output
            except PinMismatchError:
                raise
            except Exception as exc:  # requests, NTLM and WS-Man faults: all "cannot reach"
                raise SessionError(
                    f"{self.node}: WinRM to {self.host}:{self.port} failed: "
                    f"{type(exc).__name__}: {exc}"
                ) from exc

    def run_ps(
        self, script: str, parameters: Mapping[str, str] | None = None, *, timeout: float = 60.0
    ) -> CommandResult:
        full = _PREAMBLE + ps_prelude(parameters) + script
        return self._execute(encoded_command(full), shown=full, timeout=timeout)

    def run(
        self, argv: Sequence[str], *, timeout: float = 30.0, input: str | None = None
    ) -> CommandResult:
        if input is not None:
            raise SessionError(f"{self.node}: stdin is not supported over WinRM; pass a parameter")
        script = ps_command(argv)
        return self._execute(encoded_command(_PREAMBLE + script), shown=script, timeout=timeout)

    def _execute(self, command_line: str, *, shown: str, timeout: float) -> CommandResult:
        winrm = require_module("winrm", package="pywinrm", purpose="a WinRM session")
        timeout = budget(timeout, f"{self.node}: PowerShell")
        self.open()
        protocol, shell = self._protocol, self._shell
        deadline = time.monotonic() + timeout
        try:
            command_id = protocol.run_command(shell, command_line)
        except PinMismatchError:
            self._forget_shell()
            raise
        except Exception as exc:
            self._forget_shell()
            raise SessionError(
                f"{self.node}: WinRM command failed: {type(exc).__name__}: {exc}"
            ) from exc
        # Kept to a bound per stream, the rest received and dropped (bounded_output).
        out, err = CappedBuffer(), CappedBuffer()
        try:
            while True:
                if time.monotonic() > deadline:
                    raise SessionError(
                        f"{self.node}: PowerShell did not finish within {timeout:g} s"
                    )
                try:
                    stdout, stderr, rc, done = protocol.get_command_output_raw(shell, command_id)
                except winrm.exceptions.WinRMOperationTimeoutError:
                    continue  # the server's long-poll ended without output: ask again
                out.feed(stdout)
                err.feed(stderr)
                if done:
                    break
        except SessionError:
            self._forget_shell()
            raise
        except Exception as exc:
            self._forget_shell()
            raise SessionError(
                f"{self.node}: WinRM receive failed: {type(exc).__name__}: {exc}"
            ) from exc
        finally:
            # The shell may be gone already; there is nothing else to release then.
            with contextlib.suppress(Exception):
                protocol.cleanup_command(shell, command_id)
        return CommandResult(
            rc,
            out.text(),
            clean_clixml(err.text()),
            shown,
            truncated_streams(out.truncated, err.truncated),
        )

    def _forget_shell(self) -> None:
        """Drop a shell that failed; the next call opens a new one."""
        with self._lock:
            self._shell = None

    def close(self) -> None:
        with self._lock:
            if self._shell is not None and self._protocol is not None:
                # Unreachable node: the server reaps idle shells itself.
                with contextlib.suppress(Exception):
                    self._protocol.close_shell(self._shell)
            self._shell = None
