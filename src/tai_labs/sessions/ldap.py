"""LDAPS directory session (ldap3) to a domain controller, bound as the domain Administrator.

Samba refuses simple binds in clear text, so everything goes over LDAPS (636). The DC's
certificate is the self-signed one Samba generates at its first start: there is no CA to
check it against, so CA validation is off and the session checks the certificate against
the one the lab pinned at provisioning instead (``pin``, sessions.tls_pin), once per
connection, after the handshake and before the bind sends the password.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import ssl
import struct
import threading
import time
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from tai_labs.errors import require_module
from tai_labs.sessions.base import (
    DirectoryEntry,
    DirectorySession,
    PinMismatchError,
    SessionError,
)
from tai_labs.sessions.deadline import budget
from tai_labs.sessions.tls_pin import check_pin, verify_peer

if TYPE_CHECKING:
    import ldap3

LDAPS_PORT = 636
_SCOPES = {"base": "BASE", "one": "LEVEL", "onelevel": "LEVEL", "subtree": "SUBTREE"}
#: The "show deleted objects" control (MS-ADTS 3.1.1.3.4.1.14): tombstones answer too.
SHOW_DELETED_OID = "1.2.840.113556.1.4.417"
#: LDAP result code of a refused password (RFC 4511).
INVALID_CREDENTIALS = 49


def realm_dn(realm: str) -> str:
    """``dupuis.lan`` -> ``DC=dupuis,DC=lan``."""
    return ",".join(f"DC={part}" for part in realm.strip(".").split("."))


def sid_to_str(raw: bytes) -> str:
    """A binary objectSid as ``S-1-5-21-...`` (MS-DTYP 2.4.2.2)."""
    if len(raw) < 8:
        return raw.hex()
    revision, count = raw[0], raw[1]
    authority = int.from_bytes(raw[2:8], "big")
    subs = struct.unpack(f"<{count}I", raw[8 : 8 + 4 * count])
    return "-".join(["S", str(revision), str(authority), *map(str, subs)])


def decode_value(name: str, raw: bytes) -> str:
    """One attribute value as text: GUIDs and SIDs in their usual printable forms."""
    if name == "objectguid" and len(raw) == 16:
        return str(uuid.UUID(bytes_le=raw))
    if name in ("objectsid", "sidhistory"):
        return sid_to_str(raw)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.hex()  # other binary attributes: printable and lossless


def _entry(item: dict[str, Any]) -> DirectoryEntry:
    attributes: dict[str, list[str]] = {}
    for name, values in (item.get("raw_attributes") or {}).items():
        key = name.lower()
        if values:  # ldap3 lists requested attributes the object lacks, with no values
            attributes[key] = [decode_value(key, v) for v in values]
    return DirectoryEntry(item["dn"], attributes)


class LdapSession(DirectorySession):
    transport = "ldaps"

    def __init__(
        self,
        node: str,
        host: str,
        *,
        realm: str,
        password: str,
        user: str | None = None,
        port: int = LDAPS_PORT,
        connect_timeout: float = 5.0,
        pin: str | None = None,
    ) -> None:
        """pin: SHA-256 of the DC's certificate; None only where nothing is pinned yet (the
        DC's own readiness probe at provisioning, tests on a DC made by hand)."""
        self.node = node
        self.host = host
        self.pin = check_pin(pin) if pin is not None else None
        self.realm = realm
        self.base_dn = realm_dn(realm)
        self.user = user or f"Administrator@{realm}"
        self._password = password
        self.port = port
        self.connect_timeout = connect_timeout
        self._conn: ldap3.Connection | None = None
        self._lock = threading.Lock()

    def _server(self, timeout: float) -> ldap3.Server:
        ldap3 = require_module("ldap3", package="ldap3", purpose="a directory session")
        return ldap3.Server(
            self.host,
            port=self.port,
            use_ssl=True,
            tls=ldap3.Tls(validate=ssl.CERT_NONE),  # self-signed: see the module docstring
            connect_timeout=timeout,
            get_info=ldap3.NONE,
        )

    def _bind(self, user: str, password: str, timeout: float) -> ldap3.Connection:
        """A bound connection, or SessionError (unreachable) / _Refused (bad credentials)."""
        ldap3 = require_module("ldap3", package="ldap3", purpose="a directory session")
        # A DC that has just (re)started refuses connections for a moment: samba's LDAP task
        # listens a second or two after the node has booted (after a revert, for instance).
        # Within the connect timeout, a refused connection is tried again.
        deadline = time.monotonic() + min(timeout, self.connect_timeout)
        while True:
            conn = ldap3.Connection(
                self._server(min(timeout, self.connect_timeout)),
                user=user,
                password=password,
                authentication=ldap3.SIMPLE,
                # ldap3 packs this into SO_RCVTIMEO with struct: it must be an int.
                receive_timeout=max(1, round(timeout)),
                raise_exceptions=False,
            )
            try:
                if self.pin is not None:
                    conn.open()  # the TLS handshake, nothing sent yet
                    where = f"{self.node}: LDAPS to {self.host}:{self.port}"
                    verify_peer(where, _peer_certificate(conn), self.pin)
                bound = conn.bind()
            except PinMismatchError:
                with contextlib.suppress(Exception):
                    conn.strategy.close()  # not even an unbind to whoever this is
                raise
            except (ldap3.core.exceptions.LDAPException, OSError) as exc:
                if _connection_refused(exc) and time.monotonic() < deadline:
                    time.sleep(0.25)
                    continue
                raise SessionError(
                    f"{self.node}: LDAPS to {self.host}:{self.port} failed: "
                    f"{type(exc).__name__}: {exc}"
                ) from exc
            break
        if not bound:
            result = conn.result or {}
            with contextlib.suppress(Exception):
                conn.unbind()
            raise _Refused(result)
        return conn

    def open(self) -> None:
        """Bind as the administrator if not bound yet (idempotent)."""
        with self._lock:
            if self._conn is not None and not self._conn.closed:
                return
            try:
                self._conn = self._bind(self.user, self._password, self.connect_timeout)
            except _Refused as exc:
                raise SessionError(f"{self.node}: bind as {self.user} refused: {exc}") from None

    def search(
        self,
        base: str,
        ldap_filter: str,
        attributes: Sequence[str],
        *,
        scope: str = "subtree",
        timeout: float = 15.0,
        show_deleted: bool = False,
    ) -> list[DirectoryEntry]:
        ldap3 = require_module("ldap3", package="ldap3", purpose="a directory session")
        if scope.lower() not in _SCOPES:
            raise ValueError(f"unknown LDAP scope {scope!r}: {', '.join(_SCOPES)}")
        timeout = budget(timeout, f"{self.node}: search {ldap_filter}")
        self.open()
        conn = self._conn
        assert conn is not None
        _set_receive_timeout(conn, timeout)
        try:
            conn.search(
                base,
                ldap_filter,
                search_scope=getattr(ldap3, _SCOPES[scope.lower()]),
                attributes=list(attributes),
                time_limit=max(1, int(timeout)),  # the server gives up too
                controls=[(SHOW_DELETED_OID, True, None)] if show_deleted else None,
            )
        except (ldap3.core.exceptions.LDAPException, OSError) as exc:
            self.close()  # a timed-out socket is unusable: the next call binds again
            raise SessionError(
                f"{self.node}: search {ldap_filter} under {base} failed: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        result = conn.result or {}
        code = result.get("result", 0)
        if code == 32:  # noSuchObject: the base is gone, which is an answer, not an error
            return []
        if code not in (0, 4):  # 4: sizeLimitExceeded still returns what fits
            raise SessionError(
                f"{self.node}: search {ldap_filter} under {base}: "
                f"{result.get('description')} {result.get('message', '')}".strip()
            )
        # Referrals (DomainDnsZones and the like) are not objects of this base.
        return [
            _entry(item) for item in conn.response or [] if item.get("type") == "searchResEntry"
        ]

    def search_deleted(
        self, base: str, ldap_filter: str, attributes: Sequence[str], *, timeout: float = 15.0
    ) -> list[DirectoryEntry]:
        return self.search(base, ldap_filter, attributes, timeout=timeout, show_deleted=True)

    def bind_as(self, user: str, password: str, *, timeout: float = 10.0) -> tuple[bool, str]:
        """A simple bind on a separate connection; a refusal counts as a bad logon on the DC."""
        if "@" not in user and "\\" not in user and "=" not in user:
            user = f"{user}@{self.realm}"
        timeout = budget(timeout, f"{self.node}: bind as {user}")
        try:
            conn = self._bind(user, password, timeout)
        except _Refused as exc:
            return False, str(exc)
        with contextlib.suppress(Exception):
            conn.unbind()
        return True, "bound"

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                with contextlib.suppress(Exception):
                    self._conn.unbind()
                self._conn = None


def _peer_certificate(conn: ldap3.Connection) -> bytes | None:
    sock = getattr(conn, "socket", None)
    getpeercert = getattr(sock, "getpeercert", None)
    return getpeercert(binary_form=True) if getpeercert is not None else None


def _connection_refused(exc: BaseException) -> bool:
    """Whether the server's port was closed (ldap3 reports it as text in its own error)."""
    return isinstance(exc, ConnectionRefusedError) or "Connection refused" in str(exc)


class _Refused(Exception):
    """The server answered the bind with an error (bad password, locked, expired...)."""

    def __init__(self, result: dict[str, Any]) -> None:
        # AD puts the reason in the message: "80090308: LdapErr: ... data 775" = locked out.
        text = f"{result.get('description', 'refused')} {result.get('message', '')}".strip()
        super().__init__(text)
        self.code = result.get("result")


def _set_receive_timeout(conn: ldap3.Connection, timeout: float) -> None:
    """Apply this call's timeout to the bound socket (ldap3 only sets one at connect)."""
    sock = getattr(conn, "socket", None)
    if sock is None:
        return
    with contextlib.suppress(OSError):
        sock.settimeout(timeout)
        seconds = max(1, int(timeout))
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("ll", seconds, 0))


def ldaps_bind(
    address: ipaddress.IPv4Address | str, user: str, password: str, *, timeout: float = 5.0
) -> tuple[bool, str]:
    """Try an LDAPS simple bind; (bound, detail). Never raises for network or auth errors."""
    ldap3 = require_module("ldap3", package="ldap3", purpose="checking a domain controller")
    # The DC's certificate is the self-signed one Samba generates at first start: there is
    # no CA to check it against. What is tested here is that the directory answers and the
    # password is right, over TLS because Samba refuses simple binds in clear text.
    tls = ldap3.Tls(validate=ssl.CERT_NONE)
    server = ldap3.Server(
        str(address),
        port=LDAPS_PORT,
        use_ssl=True,
        tls=tls,
        connect_timeout=timeout,
        get_info=ldap3.NONE,
    )
    conn = ldap3.Connection(
        server,
        user=user,
        password=password,
        authentication=ldap3.SIMPLE,
        # ldap3 packs this into SO_RCVTIMEO with struct: it must be an int.
        receive_timeout=max(1, round(timeout)),
    )
    try:
        if conn.bind():
            return True, "bound"
        result = conn.result or {}
        return (
            False,
            f"bind refused: {result.get('description')} {result.get('message', '')}".strip(),
        )
    except (ldap3.core.exceptions.LDAPException, OSError) as exc:
        return False, f"{type(exc).__name__}: {exc}"
    finally:
        with contextlib.suppress(Exception):  # already closed: nothing to release
            conn.unbind()
