"""Pinned TLS: the verify function, LDAPS against a real local TLS server, the pins file, and
the verdict a mismatch becomes. The same on a real Samba DC whose certificate is replaced:
tests/integration/test_ldaps_pinned.py.
"""

from __future__ import annotations

import datetime as dt
import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tai_labs.lab.pins import pin_of, record_pin
from tai_labs.sessions.base import PinMismatchError, SessionError
from tai_labs.sessions.tls_pin import fingerprint, pem_fingerprint, verify_peer

pytest.importorskip("ldap3")


def _self_signed(tmp_path: Path, name: str) -> tuple[Path, Path, str]:
    """(cert file, key file, PEM) of a self-signed certificate, as Samba makes one."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    cert_file, key_file = tmp_path / f"{name}.pem", tmp_path / f"{name}.key"
    cert_file.write_text(pem)
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file, pem


def test_verify_accepts_the_pinned_certificate_only(tmp_path: Path) -> None:
    _, _, real = _self_signed(tmp_path, "dc1")
    _, _, other = _self_signed(tmp_path, "dc1")  # same name, another key: an impostor
    der = ssl.PEM_cert_to_DER_cert(real)
    pin = pem_fingerprint(real)
    assert pin == fingerprint(der) and len(pin) == 64
    verify_peer("dc1", der, pin)  # no exception
    with pytest.raises(PinMismatchError, match="not the one pinned"):
        verify_peer("dc1", ssl.PEM_cert_to_DER_cert(other), pin)
    with pytest.raises(SessionError, match="no certificate"):
        verify_peer("dc1", None, pin)
    with pytest.raises(ValueError):
        verify_peer("dc1", der, pin.upper() + "\n")  # a pin is checked before use
    # A chain's leaf is the first certificate of the PEM text.
    assert pem_fingerprint(real + other) == pin


class TlsServer:
    """Accepts one TLS connection and records what the client sends after the handshake."""

    def __init__(self, cert: Path, key: Path) -> None:
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(cert, key)
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1)
        self.sock.settimeout(10)
        self.port = int(self.sock.getsockname()[1])
        self.received = b""
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        conn, _ = self.sock.accept()
        with self.context.wrap_socket(conn, server_side=True) as tls:
            tls.settimeout(2)
            try:
                while chunk := tls.recv(4096):
                    self.received += chunk
            except (TimeoutError, OSError):
                pass

    def close(self) -> None:
        self.thread.join(5)
        self.sock.close()


@pytest.fixture
def dc(tmp_path: Path) -> Iterator[tuple[TlsServer, str]]:
    cert, key, pem = _self_signed(tmp_path, "dc1")
    server = TlsServer(cert, key)
    yield server, pem
    server.close()


def _ldap(port: int, pin: str) -> Any:
    from tai_labs.sessions.ldap import LdapSession

    return LdapSession(
        "dc1", "127.0.0.1", realm="dupuis.lan", password="S3cret-Admin", port=port,
        connect_timeout=3, pin=pin,
    )  # fmt: skip


def test_ldaps_to_an_impostor_fails_before_the_password_is_sent(
    dc: tuple[TlsServer, str], tmp_path: Path
) -> None:
    server, _ = dc
    _, _, pinned = _self_signed(tmp_path, "real-dc1")
    with pytest.raises(PinMismatchError, match="not the one pinned"):
        _ldap(server.port, pem_fingerprint(pinned)).open()
    server.close()
    assert server.received == b""  # not a byte of LDAP, so no bind and no password


def test_ldaps_to_the_pinned_dc_goes_on_to_the_bind(dc: tuple[TlsServer, str]) -> None:
    server, pem = dc
    with pytest.raises(SessionError) as err:  # this server speaks no LDAP: the bind fails
        _ldap(server.port, pem_fingerprint(pem)).open()
    assert not isinstance(err.value, PinMismatchError)
    server.close()
    assert b"S3cret-Admin" in server.received  # the bind was sent, to the pinned peer only


def test_pins_are_recorded_privately_and_read_back(tmp_path: Path) -> None:
    pin = "ab" * 32
    record_pin(tmp_path, "dc1", "ldaps", pin)
    record_pin(tmp_path, "win1", "winrm", "cd" * 32)
    assert pin_of(tmp_path, "dc1", "ldaps") == pin
    assert pin_of(tmp_path, "dc1", "winrm") is None
    assert pin_of(tmp_path, "win1", "winrm") == "cd" * 32
    assert (tmp_path / "tls_pins.json").stat().st_mode & 0o777 == 0o600
    with pytest.raises(ValueError):
        record_pin(tmp_path, "dc1", "ldaps", "not-a-pin")


def test_a_pool_with_no_pin_refuses_the_directory_session(tmp_path: Path) -> None:
    from types import SimpleNamespace

    from tai_labs.lab.sessions import SessionPool

    lab = SimpleNamespace(id="abc123", folder=tmp_path)
    with pytest.raises(SessionError, match="no ldaps certificate was pinned"):
        SessionPool(lab)._pin("dc1", "ldaps")  # type: ignore[arg-type]
    record_pin(tmp_path, "dc1", "ldaps", "ef" * 32)
    assert SessionPool(lab)._pin("dc1", "ldaps") == "ef" * 32  # type: ignore[arg-type]


# -- WinRM: a real TLS peer that is no Windows (none runs here): the "fake WinRM" ---------------


def _winrm(port: int, pin: str) -> Any:
    pytest.importorskip("winrm")
    from tai_labs.sessions.winrm import admin_session

    session = admin_session("win1", "127.0.0.1", "S3cret-admin", connect_timeout=2, pin=pin)
    session.port = port
    return session


def test_winrm_to_an_impostor_fails_in_the_handshake_fake_winrm(
    dc: tuple[TlsServer, str], tmp_path: Path
) -> None:
    server, _ = dc
    _, _, pinned = _self_signed(tmp_path, "real-win1")
    with pytest.raises(PinMismatchError, match="not the one pinned"):
        _winrm(server.port, pem_fingerprint(pinned)).run_ps("$env:COMPUTERNAME")
    server.close()
    assert server.received == b""  # no HTTP request, so no NTLM negotiation either


def test_winrm_to_the_pinned_node_sends_its_request_fake_winrm(dc: tuple[TlsServer, str]) -> None:
    server, pem = dc
    with pytest.raises(SessionError) as err:  # this peer speaks no WS-Management
        _winrm(server.port, pem_fingerprint(pem)).run_ps("$env:COMPUTERNAME")
    assert not isinstance(err.value, PinMismatchError)
    server.close()
    assert server.received.startswith(b"POST /wsman")


def test_a_windows_check_on_an_impostor_is_error_fake_winrm(
    dc: tuple[TlsServer, str], tmp_path: Path
) -> None:
    from tai_labs.grading.model import Verdict
    from tai_labs.grading.runner import judge_on
    from tai_labs.scenario.model import CheckUse

    server, _ = dc
    _, _, pinned = _self_signed(tmp_path, "real-win1")
    session = _winrm(server.port, pem_fingerprint(pinned))
    check = CheckUse.model_validate(
        {
            "id": "spooler",
            "title": "Spouleur démarré",
            "grader": "windows.service",
            "target": "win1",
            "params": {"service": "Spooler"},
            "criterion": "C2.1",
            "points": 1,
            "messages": {"pass": "ok", "fail": "ko"},
        }
    )

    class Pool:
        def get(self, node: str, kind: str) -> Any:
            assert (node, kind) == ("win1", "powershell")
            return session

    outcome = judge_on(check, "win1", Pool())
    assert outcome.judgement.verdict is Verdict.ERROR
    assert "identité non vérifiée" in outcome.judgement.why_fr


def test_the_windows_role_pins_the_listener_certificate_read_by_the_agent_fake_winrm(
    tmp_path: Path,
) -> None:
    from types import SimpleNamespace

    from tai_labs.providers.base import ExecResult
    from tai_labs.roles.windows import WINRM_CERT_ARGV, WindowsRole

    _, _, pem = _self_signed(tmp_path, "win1")
    asked: list[Any] = []

    def agent(argv: Any, input: Any, timeout: Any) -> ExecResult:
        asked.append(argv)
        return ExecResult(0, pem.replace("\n", "\r\n"), "")

    ctx: Any = SimpleNamespace(exec=agent, node=SimpleNamespace(name="win1"))
    certs = WindowsRole().tls_certificates(ctx)
    assert asked == [WINRM_CERT_ARGV]
    assert pem_fingerprint(certs["winrm"]) == pem_fingerprint(pem)
