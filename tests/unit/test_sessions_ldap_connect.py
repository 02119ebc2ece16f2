"""LdapSession against a local port: a DC still starting (refusing) is waited for, briefly."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from tai_labs.sessions.base import SessionError
from tai_labs.sessions.ldap import LdapSession

pytest.importorskip("ldap3")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _session(port: int, connect_timeout: float) -> LdapSession:
    return LdapSession(
        "dc1", "127.0.0.1", realm="dupuis.lan", password="x", port=port,
        connect_timeout=connect_timeout,
    )  # fmt: skip


def test_a_closed_port_fails_once_the_connect_timeout_is_spent() -> None:
    port = _free_port()
    start = time.monotonic()
    with pytest.raises(SessionError, match="refused"):
        _session(port, 1.0).open()
    assert 0.9 < time.monotonic() - start < 5


def test_a_port_that_opens_within_the_connect_timeout_is_reached() -> None:
    port = _free_port()
    reached = threading.Event()

    def listen_later() -> None:
        time.sleep(0.8)  # the LDAP task of a DC that has just booted
        with socket.socket() as srv:
            srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            srv.bind(("127.0.0.1", port))
            srv.listen(1)
            srv.settimeout(5)
            conn, _ = srv.accept()
            reached.set()
            conn.close()  # no TLS here: the session fails, but after connecting

    thread = threading.Thread(target=listen_later, daemon=True)
    thread.start()
    with pytest.raises(SessionError) as err:
        _session(port, 5.0).open()
    thread.join(5)
    assert reached.is_set()
    assert "refused" not in str(err.value).lower()
