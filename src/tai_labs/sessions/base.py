"""Session interfaces: one per protocol family. Graders see only these.

As in testinfra's backends, a command session only runs a command and returns a small result;
it quotes the arguments for its own shell (POSIX or PowerShell), never the caller. Sessions
are opened once per node and reused across checks; every call has a timeout.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from tai_labs.errors import TaiLabsError


class SessionError(TaiLabsError):
    """The node could not be asked (unreachable, authentication, timeout): verdict `error`."""


@dataclass(frozen=True)
class CommandResult:
    rc: int
    stdout: str
    stderr: str
    #: The command as the node ran it, for the evidence shown to the jury.
    command: str
    #: The streams ("stdout", "stderr") cut at tai_labs.bounded_output.MAX_OUTPUT_BYTES: what the
    #: command printed past the bound was read and thrown away.
    truncated: tuple[str, ...] = ()
    #: Where the answer comes from: "node" (a program of the node, which its root controls)
    #: or "host" (the host read the node's disk or namespace with its own code and tools).
    #: Pass it and ``via`` by keyword: other optional fields may come before them.
    source: str = "node"
    #: How a host-side answer was read ("rootfs", "netns", "cgroup"); empty: the transport.
    via: str = ""

    @property
    def ok(self) -> bool:
        return self.rc == 0


class CommandSession(ABC):
    """Runs commands on one node. ``shell`` says how arguments are quoted."""

    shell: ClassVar[str]  # "posix" or "powershell"
    #: How the session reaches the node ("ssh", "exec", "winrm"), shown in evidence.
    transport: ClassVar[str]

    @abstractmethod
    def run(
        self, argv: Sequence[str], *, timeout: float = 30.0, input: str | None = None
    ) -> CommandResult:
        """Run argv (quoted by the session for its shell); raise SessionError if unreachable."""

    def dhcp_probe(self, interface: str, *, prefer: str | None = None) -> CommandResult | None:
        """A DHCP exchange asked by the jury (the host) on the network of the node's
        ``interface``, each answer named by the node it came from; None when the session has
        no jury probe point (``sessions.hostside`` has one for container nodes)."""
        return None

    def resolve_probe(self, name: str, server: str | None = None) -> CommandResult | None:
        """``name``'s A records as the node would resolve it (or from ``server``), asked by
        the host's own code, as JSON; None when the session cannot (the node's tools then)."""
        return None

    def dns_probe(self, query: str, rtype: str, server: str | None = None) -> CommandResult | None:
        """The ``rtype`` records of ``query`` asked as the node's ``dig`` would (its
        nameservers, or ``server``) by the host's own code, as JSON; None when the session
        cannot (the node's ``dig`` then)."""
        return None

    def http_probe(self, url: str) -> CommandResult | None:
        """``url`` fetched by the host's own curl from the node's network through the node's
        proxy settings; the output is the node-side probe script's. None when the session
        cannot (the node's curl then)."""
        return None

    def reach_probe(self, host: str, port: int | None = None) -> CommandResult | None:
        """Ping (or a TCP connection to ``port``) from the node's network, sent and read by
        the host's own code, as JSON; None when the session cannot (the node's tools then)."""
        return None

    def machine_ticket(
        self, keytab_path: str, principal: str, realm: str, kdc_node: str, kdc: str
    ) -> CommandResult | None:
        """A TGT for ``principal`` with the keytab at ``keytab_path`` on the node (read from
        its disk by the host), asked by the host's own kinit from the KDC ``kdc`` in
        ``kdc_node``'s network, as JSON; None when the session cannot (no node answers it)."""
        return None

    def user_ticket(self, principal: str, password: str, kdc: str) -> CommandResult | None:
        """A TGT for ``principal`` with ``password``, asked by the host's own kinit from the
        KDC ``kdc`` in the node's network namespace, as JSON; None when the session cannot."""
        return None

    def smb_probe(
        self, share: str, user: str, password: str, *, write: bool
    ) -> CommandResult | None:
        """``//server/share`` listed (and written when ``write``) as ``user`` by the host's own
        smbclient from the node's network, the server's name resolved as the node would;
        the output is the node-side probe script's. None when the session cannot."""
        return None

    def close(self) -> None:  # noqa: B027 (optional hook)
        """Release the connection; the default has nothing to release."""


class PowerShellSession(CommandSession):
    """A command session whose shell is PowerShell: scripts take named, quoted parameters."""

    shell = "powershell"

    @abstractmethod
    def run_ps(
        self, script: str, parameters: Mapping[str, str] | None = None, *, timeout: float = 60.0
    ) -> CommandResult:
        """Run a PowerShell script block with ``parameters`` bound as quoted variables."""


class DeviceSession(ABC):
    """A network device's CLI (netmiko): show commands, configuration lines, saving."""

    device_type: ClassVar[str]

    @abstractmethod
    def send(self, command: str, *, timeout: float = 30.0) -> CommandResult:
        """Run one exec-mode command (``show running-config``)."""

    @abstractmethod
    def configure(self, lines: Sequence[str], *, timeout: float = 30.0) -> CommandResult:
        """Enter configuration mode, send lines, leave it."""

    @abstractmethod
    def save(self, *, timeout: float = 30.0) -> CommandResult:
        """Save the running configuration (``write memory``)."""

    def close(self) -> None:  # noqa: B027 (optional hook)
        """Release the connection."""


@dataclass(frozen=True)
class DirectoryEntry:
    """One LDAP object: its DN and attributes (lists of strings, names lowercased)."""

    dn: str
    attributes: Mapping[str, list[str]] = field(default_factory=dict)

    def first(self, name: str, default: str | None = None) -> str | None:
        values = self.attributes.get(name.lower()) or []
        return values[0] if values else default


class DirectorySession(ABC):
    """LDAP over TLS to a domain controller, bound as the lab's administrator."""

    #: ``DC=dupuis,DC=lan``
    base_dn: str

    @abstractmethod
    def search(
        self,
        base: str,
        ldap_filter: str,
        attributes: Sequence[str],
        *,
        scope: str = "subtree",
        timeout: float = 15.0,
    ) -> list[DirectoryEntry]:
        """Search; filter values must be escaped by the caller with ``escape_filter``."""

    def search_deleted(
        self, base: str, ldap_filter: str, attributes: Sequence[str], *, timeout: float = 15.0
    ) -> list[DirectoryEntry]:
        """Search deleted objects (tombstones) too; only a session that can ask for them."""
        raise SessionError(f"{type(self).__name__} cannot see deleted objects")

    @abstractmethod
    def bind_as(self, user: str, password: str, *, timeout: float = 10.0) -> tuple[bool, str]:
        """Try a simple bind as another account (True, "") or (False, server's reason)."""

    def close(self) -> None:  # noqa: B027 (optional hook)
        """Unbind."""


def escape_filter(value: str) -> str:
    """RFC 4515 escaping of a value put into an LDAP filter."""
    out = []
    for ch in value:
        if ch in "\\*()\0":
            out.append(f"\\{ord(ch):02x}")
        else:
            out.append(ch)
    return "".join(out)


#: What a check gets: the sessions of its target, opened on demand by the pool.
SessionsOf = Mapping[str, Any]


class PinMismatchError(SessionError):
    """The peer's certificate is not the one pinned at provisioning: whoever answers is not
    (provably) the node, so nothing it says is evidence and no password was sent to it."""
