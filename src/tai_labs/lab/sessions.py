"""The sessions of one lab, opened on demand and cached per (node, kind).

What graders get from ``get(node, kind)``:

- ``command``: SSH as root on the management network; when SSH cannot connect (the
  candidate may have broken the node's network, its sshd or its host keys), the engine's
  exec channel, which needs no network. ``session.transport`` says which ("ssh"/"exec");
  ``pool.fallbacks[node]`` says why SSH was not used. Windows nodes: WinRM.
- ``directory``: LDAPS to an ad-dc (or Windows server) as the domain Administrator.
- ``device``: netmiko ``cisco_ios`` to a router's vtysh; for a switch (Open vSwitch), an
  ``OvsSession`` over the switch's own command session.
- ``powershell``: WinRM, for Windows nodes only.

Every ``Lab`` has one pool (``lab.sessions``), which its node contexts hand to roles, faults
and actions. Creating it opens nothing; a session opens on the first ``get``. The lab layer's
operations (``up``, ``revert_to``, selftest, grading) hold it in a ``with`` block: the block
that opened it closes it, and nested blocks (a reset inside a selftest) leave it open.
"""

from __future__ import annotations

import contextlib
import threading
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol, cast, get_args

from tai_labs.errors import TaiLabsError
from tai_labs.kinds import SessionKind, Transport
from tai_labs.lab.pins import pin_of
from tai_labs.sessions.base import SessionError
from tai_labs.sessions.device import NetmikoSession, OvsSession
from tai_labs.sessions.exec import ExecSession
from tai_labs.sessions.hostside import HostSideSession
from tai_labs.sessions.ldap import LdapSession
from tai_labs.sessions.ssh import AUTH, HOST_KEY, UNREACHABLE, SshConnectError, SshSession
from tai_labs.sessions.winrm import WinRmSession, admin_session

if TYPE_CHECKING:
    import ipaddress
    from collections.abc import Callable, Sequence
    from pathlib import Path

    from tai_labs.lab.plan import NodePlan
    from tai_labs.lab.secrets import LabSecrets
    from tai_labs.providers.base import ExecResult, HostView
    from tai_labs.providers.lanprobe import JuryLan
    from tai_labs.scenario.loader import LoadedScenario

KINDS: tuple[SessionKind, ...] = get_args(SessionKind)
#: What the evidence says when SSH could not be used, by ``SshConnectError.reason``. A host
#: key other than the pinned one is the case a jury must see: something else may answer at
#: the node's address, or the candidate replaced the node's keys.
FALLBACK_REASONS = {
    HOST_KEY: "host key mismatch",
    AUTH: "ssh authentication refused",
    UNREACHABLE: "ssh unreachable",
}
#: Why a node kind's row (tai_labs.kinds) does not offer a session kind.
NOT_OFFERED = {
    "command": "{node} is a {kind}: it has no command session",
    "powershell": "{node} is a {kind} node: no Windows node support in this lab",
    "directory": "{node} is a {kind}, not a domain controller",
    "device": "{node} is a {kind}: it has no device CLI",
}


class PoolLab(Protocol):
    """What the pool needs of a lab (``lab.runtime.Lab``, which owns the pool)."""

    loaded: LoadedScenario

    @property
    def id(self) -> str: ...
    @property
    def folder(self) -> Path: ...
    @property
    def secrets(self) -> LabSecrets: ...
    def node_plan(self, name: str) -> NodePlan: ...
    def mgmt_address(self, node: str) -> ipaddress.IPv4Address: ...
    def host_view(self, node: str) -> HostView | None: ...
    def jury_lan(self, node: str) -> JuryLan: ...
    def exec(
        self,
        node: str,
        argv: list[str],
        input: str | bytes | None = None,
        timeout: float | None = 60,
    ) -> ExecResult: ...


class SessionPool:
    def __init__(self, lab: PoolLab, *, connect_timeout: float = 5.0) -> None:
        self.lab = lab
        self.connect_timeout = connect_timeout
        #: node -> why SSH was not used for its command session (evidence for the report).
        self.fallbacks: dict[str, str] = {}
        #: node -> why the host could not read it itself (its evidence is all node-side).
        self.no_host_view: dict[str, str] = {}
        self._sessions: dict[tuple[str, str], Any] = {}
        self._locks: dict[tuple[str, str], threading.Lock] = {}
        self._lock = threading.Lock()
        self._depth = 0  # open ``with`` blocks: the outermost one closes the sessions

    def get(self, node: str, kind: str) -> Any:
        """The open session of ``kind`` to ``node``; SessionError if it cannot be opened."""
        if kind not in KINDS:
            raise ValueError(f"unknown session kind {kind!r}: {', '.join(KINDS)}")
        key = (node, kind)
        with self._lock:
            if key in self._sessions:
                return self._sessions[key]
            # One lock per key: opening a slow node does not hold up the other nodes.
            key_lock = self._locks.setdefault(key, threading.Lock())
        with key_lock:
            with self._lock:
                if key in self._sessions:
                    return self._sessions[key]
            session = self._open(node, kind)
            with self._lock:
                self._sessions[key] = session
            return session

    def _open(self, node: str, kind: str) -> Any:
        plan = self.lab.node_plan(node)  # unknown node: TaiLabsError naming the known ones
        # get() has refused any kind outside KINDS: ``kind`` is a SessionKind.
        transport = plan.kind.spec.sessions.get(cast("SessionKind", kind))
        if transport is None:
            raise SessionError(NOT_OFFERED[kind].format(node=node, kind=plan.kind.value))
        openers: dict[Transport, Callable[[str], Any]] = {
            "ssh": self._command,
            "winrm": self._winrm,
            "ldap": self._directory,
            "netmiko": self._router,
            "ovs": lambda name: OvsSession(name, self.get(name, "command")),
        }
        return openers[transport](node)

    # -- openers ---------------------------------------------------------------------------

    def _command(self, node: str) -> Any:
        session = self._node_side(node)
        # What the host can read of the node itself (a container's files) it reads itself.
        try:
            view = self.lab.host_view(node)
        except (TaiLabsError, OSError) as exc:
            # No view (config unreadable, node stopping): the node answers, marked node-side.
            self.no_host_view[node] = str(exc)
            view = None
        if view is None:
            return session
        return HostSideSession(
            session, view, jury=lambda: self.lab.jury_lan(node), peers=self.lab.host_view
        )

    def _node_side(self, node: str) -> Any:
        ssh = SshSession(
            node,
            str(self.lab.mgmt_address(node)),
            key_file=self.lab.folder / "id_ed25519",
            known_hosts=self.lab.folder / "known_hosts",
            connect_timeout=self.connect_timeout,
        )
        try:
            ssh.open()
            return ssh
        except SshConnectError as exc:
            # The exec channel reaches the same node without trusting the network, so it is
            # as good a witness of the node's state; the reason stays in the evidence.
            self.fallbacks[node] = exc.message
            return self.exec_session(node, fallback=f"fallback: {FALLBACK_REASONS[exc.reason]}")
        return self.exec_session(node)

    def exec_session(self, node: str, *, fallback: str = "") -> ExecSession:
        """The engine's out-of-band channel to ``node`` (not cached: it holds no connection);
        ``fallback`` says why it stands in for SSH, for the evidence."""
        lab = self.lab

        def run(argv: Sequence[str], input: str | None, timeout: float) -> ExecResult:
            return lab.exec(node, list(argv), input=input, timeout=timeout)

        return ExecSession(node, run, fallback=fallback)

    def _directory(self, node: str) -> LdapSession:
        directory = self.lab.loaded.scenario.directory
        if directory is None:
            raise SessionError(f"{node}: the scenario declares no directory (realm unknown)")
        session = LdapSession(
            node,
            str(self.lab.mgmt_address(node)),
            realm=directory.realm,
            password=self._secret("admin_password"),
            connect_timeout=self.connect_timeout,
            pin=self._pin(node, "ldaps"),
        )
        session.open()
        return session

    def _router(self, node: str) -> NetmikoSession:
        from tai_labs.roles.router import ADMIN_USER, DEFAULT_DEVICE_PASSWORD

        session = NetmikoSession(
            node,
            str(self.lab.mgmt_address(node)),
            username=ADMIN_USER,
            password=self.lab.secrets.all().get("device_password") or DEFAULT_DEVICE_PASSWORD,
            known_hosts=self.lab.folder / "known_hosts",
            connect_timeout=max(self.connect_timeout, 10.0),
        )
        session.open()
        return session

    def _winrm(self, node: str) -> WinRmSession:
        session = admin_session(
            node,
            str(self.lab.mgmt_address(node)),
            self._secret("admin_password"),
            connect_timeout=max(self.connect_timeout, 10.0),
            pin=self._pin(node, "winrm"),
        )
        session.open()
        return session

    def _pin(self, node: str, service: str) -> str:
        """The certificate pinned for the service; none recorded is an error, never a pass
        to an unverified peer (a lab brought up before pinning: bring it up again)."""
        pin = pin_of(self.lab.folder, node, service)
        if pin is None:
            raise SessionError(
                f"{node}: no {service} certificate was pinned when lab {self.lab.id} was "
                "brought up: its identity cannot be checked"
            )
        return pin

    def _secret(self, name: str) -> str:
        value = self.lab.secrets.all().get(name)
        if not value:
            raise SessionError(f"lab {self.lab.id} has no {name!r} secret")
        return value

    # -- lifetime --------------------------------------------------------------------------

    @property
    def opened(self) -> int:
        """How many sessions are open now."""
        with self._lock:
            return len(self._sessions)

    def close(self) -> None:
        """Close every open session; the next ``get`` opens afresh (after a revert, say)."""
        with self._lock:
            sessions = list(self._sessions.values())
            self._sessions.clear()
            self.fallbacks.clear()
            self.no_host_view.clear()
        for session in sessions:
            with contextlib.suppress(Exception):  # a dead node must not stop the others closing
                session.close()

    def __enter__(self) -> SessionPool:
        with self._lock:
            self._depth += 1
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        with self._lock:
            self._depth -= 1
            outermost = self._depth == 0
        if outermost:
            self.close()
