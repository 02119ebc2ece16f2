"""Device CLI sessions: netmiko for the router's IOS-like vtysh, a thin OVS wrapper for switches.

The router's ``admin`` user has vtysh as login shell, so netmiko's ``cisco_ios`` driver
works as on a real IOS box. The switch node is Open vSwitch in a Linux container: it has no
IOS CLI, and pretending otherwise would mean emulating one. Its device session is instead a
thin wrapper that runs ``ovs-vsctl``/``ovs-ofctl``... over the node's command session (SSH,
or the exec channel when the management network is broken), with the same result shape.
"""

from __future__ import annotations

import contextlib
import re
import shlex
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

from tai_labs.bounded_output import cap_bytes, truncated_streams
from tai_labs.errors import require_module
from tai_labs.sessions.base import CommandResult, CommandSession, DeviceSession, SessionError
from tai_labs.sessions.deadline import budget

# -- How the router and switch roles lay a device out (graders read the same names) --------

#: The switch node's Open vSwitch bridge; every switch port is one of its ports.
BRIDGE = "sw0"
UPLINK_PREFIX = "up-"
SVI_PREFIX = "vlan"
#: The router's FRR configuration file: what ``write memory`` saves.
FRR_CONF = "/etc/frr/frr.conf"

_IFNAME_RE = re.compile(r"^[a-z][a-z0-9_.-]{0,14}$")
_RESERVED = re.compile(rf"^(eth0|lo|{BRIDGE}|ovs-.*|{UPLINK_PREFIX}.*|{SVI_PREFIX}[0-9]+)$")


def port_ifname(name: str) -> str:
    """Linux name of a switch port's NIC: "Gi0/1" -> "gi0-1" (lowercase, "/" -> "-").

    A name that does not start with a letter gets a "p" in front ("1/0/1" -> "p1-0-1").
    Raises ValueError for names that do not fit in 15 characters or clash with the
    switch's own interfaces (eth0, sw0, up-*, vlanN).
    """
    ifname = name.lower().replace("/", "-")
    if ifname and not ifname[0].isalpha():
        ifname = "p" + ifname
    if not _IFNAME_RE.fullmatch(ifname):
        raise ValueError(f"switch port {name!r} gives no valid interface name ({ifname!r})")
    if _RESERVED.fullmatch(ifname):
        raise ValueError(
            f"switch port {name!r} would be named {ifname!r}, which the switch keeps for itself"
        )
    return ifname


def svi_ifname(vlan: int) -> str:
    return f"{SVI_PREFIX}{vlan}"


#: A CLI error line: vtysh and IOS start them with "% " ("% Unknown command: ...",
#: "% Command incomplete", "% Invalid input detected at '^' marker.").
#: Spaces but not line breaks before it: ``^\s*`` rescanned blank lines from every line start.
CLI_ERROR = re.compile(r"^[^\S\n]*% ", re.MULTILINE)


def cli_rc(output: str) -> int:
    """1 when the CLI printed an error line, else 0."""
    return 1 if CLI_ERROR.search(output) else 0


class NetmikoSession(DeviceSession):
    transport = "ssh-cli"

    def __init__(
        self,
        node: str,
        host: str,
        *,
        username: str,
        password: str,
        known_hosts: Path | None = None,
        device_type: str = "cisco_ios",
        port: int = 22,
        connect_timeout: float = 10.0,
    ) -> None:
        self.node = node
        self.host = host
        self.username = username
        self._password = password
        self.known_hosts = known_hosts
        self.device_type = device_type  # type: ignore[misc]  # per instance, not per class
        self.port = port
        self.connect_timeout = connect_timeout
        self._conn: Any = None
        self._lock = threading.Lock()

    def open(self) -> None:
        """Log in if not logged in (idempotent)."""
        with self._lock:
            if self._conn is not None and self._conn.is_alive():
                return
            self._drop()
            self._conn = self._connect()

    def _connect(self) -> Any:
        netmiko = require_module("netmiko", package="netmiko", purpose="a device CLI session")
        pinning: dict[str, Any] = {}
        if self.known_hosts is not None:
            # The lab's pinned host keys, RejectPolicy for anything else (no trust on first use).
            pinning = {
                "ssh_strict": True,
                "alt_host_keys": True,
                "alt_key_file": str(self.known_hosts),
            }
        try:
            return netmiko.ConnectHandler(
                device_type=self.device_type,
                host=self.host,
                port=self.port,
                username=self.username,
                password=self._password,
                # The host's own SSH setup (agent, keys, config) has no say in a lab login.
                allow_agent=False,
                use_keys=False,
                ssh_config_file=None,
                system_host_keys=False,
                conn_timeout=self.connect_timeout,
                auth_timeout=self.connect_timeout,
                banner_timeout=self.connect_timeout,
                **pinning,
            )
        except Exception as exc:  # netmiko wraps paramiko's errors in several families
            raise SessionError(
                f"{self.node}: CLI login as {self.username}@{self.host} failed: "
                f"{type(exc).__name__}: {exc}"
            ) from exc

    def _call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> str:
        self.open()
        try:
            return str(fn(self._conn, *args, **kwargs))
        except Exception as exc:
            # After a read timeout the prompt is out of step: log in again next time.
            self.close()
            raise SessionError(
                f"{self.node}: `{what}` failed: {type(exc).__name__}: {exc}"
            ) from exc

    def send(self, command: str, *, timeout: float = 30.0) -> CommandResult:
        timeout = budget(timeout, f"{self.node}: `{command}`")
        output = self._call(
            command, lambda c: c.send_command(command, read_timeout=timeout, strip_command=True)
        )
        return _cli_result(output, command)

    def configure(self, lines: Sequence[str], *, timeout: float = 30.0) -> CommandResult:
        lines = list(lines)
        if any("\n" in line or "\r" in line for line in lines):
            raise ValueError("a configuration line cannot hold a line break")
        timeout = budget(timeout, f"{self.node}: configure terminal")
        output = self._call(
            "configure terminal",
            lambda c: c.send_config_set(lines, read_timeout=timeout, cmd_verify=True),
        )
        return _cli_result(output, "\n".join(["configure terminal", *lines, "end"]))

    def save(self, *, timeout: float = 30.0) -> CommandResult:
        timeout = budget(timeout, f"{self.node}: write memory")
        output = self._call(
            "write memory", lambda c: c.send_command("write memory", read_timeout=timeout)
        )
        return _cli_result(output, "write memory")

    def _drop(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):  # already gone: nothing to release
                self._conn.disconnect()
            self._conn = None

    def close(self) -> None:
        with self._lock:
            self._drop()


def _cli_result(output: str, command: str) -> CommandResult:
    """A CLI answer, cut to MAX_OUTPUT_BYTES like every channel's (bounded_output).

    netmiko hands the answer over whole once the prompt comes back, so the bound applies to
    what is kept; how long it reads is bounded by ``read_timeout``.
    """
    data, cut = cap_bytes(output.encode())
    text = data.decode(errors="replace")
    return CommandResult(cli_rc(text), text, "", command, truncated_streams(cut, False))


class OvsSession(DeviceSession):
    """An Open vSwitch node's "CLI": OVS tools run through its command session.

    ``send("ovs-vsctl list-ports sw0")`` runs that tool (the string is split like a shell
    would, then passed as argv, so nothing else is interpreted); other programs get rc 1 and
    "% Unknown command", as a CLI would answer. ``configure(lines)`` runs the lines as one
    ``ovs-vsctl`` transaction (all or nothing); ``save()`` has nothing to do: ovsdb commits
    each transaction to disk at once.
    """

    device_type: ClassVar[str] = "ovs"
    TOOLS: ClassVar[frozenset[str]] = frozenset(
        {"ovs-vsctl", "ovs-ofctl", "ovs-appctl", "ovs-dpctl", "ovsdb-client"}
    )

    def __init__(self, node: str, command: CommandSession) -> None:
        self.node = node
        self.command = command

    @property
    def transport(self) -> str:
        return f"ovs over {self.command.transport}"

    def send(self, command: str, *, timeout: float = 30.0) -> CommandResult:
        try:
            argv = shlex.split(command)
        except ValueError as exc:
            return CommandResult(1, "", f"% Invalid input: {exc}", command)
        if not argv or argv[0] not in self.TOOLS:
            tools = ", ".join(sorted(self.TOOLS))
            return CommandResult(1, "", f"% Unknown command: {command} (use {tools})", command)
        return self.command.run(_with_db_timeout(argv, timeout), timeout=timeout)

    def configure(self, lines: Sequence[str], *, timeout: float = 30.0) -> CommandResult:
        argv = ["ovs-vsctl", f"--timeout={max(1, int(timeout))}"]
        for line in lines:
            words = shlex.split(line)
            if words[:1] == ["ovs-vsctl"]:
                words = words[1:]
            if words:
                argv += ["--", *words]
        return self.command.run(argv, timeout=timeout)

    def save(self, *, timeout: float = 30.0) -> CommandResult:
        return CommandResult(
            0, "Open vSwitch commits every change to its database: nothing to save.", "",
            "(save: nothing to do on Open vSwitch)",
        )  # fmt: skip

    def close(self) -> None:
        """The command session belongs to the pool, which closes it."""


def _with_db_timeout(argv: list[str], timeout: float) -> list[str]:
    # Without --timeout, ovs-vsctl waits forever for a stopped ovsdb-server.
    if argv[0] == "ovs-vsctl" and not any(a.startswith("--timeout") for a in argv):
        return [argv[0], f"--timeout={max(1, int(timeout))}", *argv[1:]]
    return argv
