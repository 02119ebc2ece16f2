"""SSH command session (paramiko): root on a node's management address, host key pinned.

One SSH connection per node, opened on first use and reused by every call (a channel per
command). Host keys come from the lab's ``known_hosts`` only, with RejectPolicy: the lab
generated them, so an unknown or different key means something is wrong, never "trust it".
"""

from __future__ import annotations

import select
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from tai_labs.bounded_output import CHUNK, CappedBuffer, truncated_streams
from tai_labs.errors import require_module
from tai_labs.providers.base import NODE_ENV
from tai_labs.sessions.base import CommandResult, CommandSession, SessionError
from tai_labs.sessions.deadline import budget
from tai_labs.sessions.quoting import posix_join

if TYPE_CHECKING:
    import paramiko

#: Reasons an SSH connection could not be made, as SshConnectError.reason says.
UNREACHABLE, HOST_KEY, AUTH = "unreachable", "host-key", "auth"


def hardened_command(argv: Sequence[str]) -> str:
    """The command line sent to sshd for argv: argv alone, in ``NODE_ENV``, past root's rc.

    sshd always runs the login shell with ``-c``, and Debian's bash reads ``~/.bashrc`` first
    there: functions (even one named ``/usr/bin/id``), aliases and ``PATH`` set in it would
    apply to our words. Assigning ``POSIXLY_CORRECT`` switches bash to POSIX mode, where the
    special builtin ``exec`` is found before any function of that name; its backslash stops
    an alias. ``exec`` then replaces the shell with ``env -i``, which runs argv with only
    ``NODE_ENV``. A hostile rc that rewrites the shell itself (traps, ``exit``) or a replaced
    sshd or bash is still the candidate's: that is why state is read from the host where the
    engine allows it (docs/security.md).
    """
    env = [f"{key}={value}" for key, value in NODE_ENV.items()]
    return "POSIXLY_CORRECT=1; \\exec " + posix_join(["/usr/bin/env", "-i", *env, *argv])


class SshConnectError(SessionError):
    """The connection (not a command) failed; ``reason`` is unreachable, host-key or auth."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class SshSession(CommandSession):
    shell = "posix"
    transport = "ssh"

    def __init__(
        self,
        node: str,
        host: str,
        *,
        key_file: Path,
        known_hosts: Path,
        user: str = "root",
        port: int = 22,
        connect_timeout: float = 5.0,
    ) -> None:
        self.node = node
        self.host = host
        self.key_file = key_file
        self.known_hosts = known_hosts
        self.user = user
        self.port = port
        self.connect_timeout = connect_timeout
        self._client: paramiko.SSHClient | None = None
        self._lock = threading.Lock()

    # -- connection ------------------------------------------------------------------------

    def open(self) -> None:
        """Connect if not connected (idempotent, safe from several threads)."""
        with self._lock:
            if self._client is not None and self._active(self._client):
                return
            self._drop()
            self._client = self._connect()

    def _connect(self) -> paramiko.SSHClient:
        paramiko = require_module("paramiko", package="paramiko", purpose="an SSH session")
        where = f"{self.node} ({self.user}@{self.host}:{self.port})"
        client = paramiko.SSHClient()
        try:
            client.load_host_keys(str(self.known_hosts))
        except OSError as exc:
            raise SshConnectError(
                f"{where}: cannot read {self.known_hosts}: {exc}", HOST_KEY
            ) from exc
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        try:
            client.connect(
                self.host,
                port=self.port,
                username=self.user,
                key_filename=str(self.key_file),
                # Only the lab's key: the host's agent and ~/.ssh have no say in a lab login.
                allow_agent=False,
                look_for_keys=False,
                timeout=self.connect_timeout,
                banner_timeout=self.connect_timeout,
                auth_timeout=self.connect_timeout,
                channel_timeout=self.connect_timeout,
            )
        except paramiko.BadHostKeyException as exc:
            client.close()
            raise SshConnectError(
                f"{where}: host key differs from the one pinned in {self.known_hosts}", HOST_KEY
            ) from exc
        except paramiko.AuthenticationException as exc:
            client.close()
            raise SshConnectError(f"{where}: authentication failed: {exc}", AUTH) from exc
        except paramiko.SSHException as exc:
            client.close()
            # RejectPolicy raises a bare SSHException for a host missing from known_hosts.
            reason = HOST_KEY if "not found in known_hosts" in str(exc) else UNREACHABLE
            raise SshConnectError(f"{where}: {exc}", reason) from exc
        except (OSError, EOFError) as exc:
            client.close()
            raise SshConnectError(f"{where}: cannot connect: {exc}", UNREACHABLE) from exc
        return client

    @staticmethod
    def _active(client: paramiko.SSHClient) -> bool:
        transport = client.get_transport()
        return transport is not None and transport.is_active()

    def _drop(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def close(self) -> None:
        with self._lock:
            self._drop()

    # -- commands --------------------------------------------------------------------------

    def run(
        self, argv: Sequence[str], *, timeout: float = 30.0, input: str | None = None
    ) -> CommandResult:
        command = posix_join(argv)  # what the evidence shows
        sent = hardened_command(argv)
        timeout = budget(timeout, f"{self.node}: `{command}`")
        self.open()
        assert self._client is not None
        paramiko = require_module("paramiko", package="paramiko", purpose="an SSH session")
        deadline = time.monotonic() + timeout
        try:
            transport = self._client.get_transport()
            if transport is None:
                raise SessionError(f"{self.node}: SSH connection closed")
            channel = transport.open_session(timeout=timeout)
        except (paramiko.SSHException, OSError, EOFError) as exc:
            self.close()  # a half-dead connection: the next call connects again
            raise SessionError(f"{self.node}: cannot open an SSH channel: {exc}") from exc
        try:
            return self._exchange(channel, command, input, deadline, timeout, sent=sent)
        except (paramiko.SSHException, OSError, EOFError) as exc:
            self.close()
            raise SessionError(f"{self.node}: `{command}` failed over SSH: {exc}") from exc
        finally:
            channel.close()

    def _exchange(
        self,
        channel: paramiko.Channel,
        command: str,
        input: str | None,
        deadline: float,
        timeout: float,
        *,
        sent: str | None = None,
    ) -> CommandResult:
        """Run ``sent`` (the hardened line; ``command`` if None) and read its streams."""
        channel.settimeout(max(0.1, deadline - time.monotonic()))
        channel.exec_command(sent or command)
        if input is not None:
            channel.sendall(input.encode())
        # EOF on stdin even without input: a program reading it must not wait forever.
        channel.shutdown_write()
        # Kept to a bound per stream, the rest read and dropped (bounded_output).
        out, err = CappedBuffer(), CappedBuffer()
        # fileno() is a pipe paramiko signals on stdout or stderr data and on EOF: select
        # on it instead of polling, so short commands return as soon as they end.
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise SessionError(f"{self.node}: `{command}` did not finish within {timeout:g} s")
            select.select([channel], [], [], min(remaining, 1.0))
            while channel.recv_stderr_ready():
                err.feed(channel.recv_stderr(CHUNK))
            while channel.recv_ready():
                out.feed(channel.recv(CHUNK))
            if channel.eof_received and not (channel.recv_ready() or channel.recv_stderr_ready()):
                break
        if not channel.status_event.wait(max(0.0, deadline - time.monotonic())):
            raise SessionError(f"{self.node}: `{command}` did not finish within {timeout:g} s")
        return CommandResult(
            channel.recv_exit_status(),
            out.text(),
            err.text(),
            command,
            truncated_streams(out.truncated, err.truncated),
        )
