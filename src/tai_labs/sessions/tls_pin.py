"""Certificate pinning for TLS sessions whose server has no CA to vouch for it.

A Samba DC's LDAPS certificate and a Windows node's WinRM certificate are self-signed: CA
validation cannot tell the node from an impostor on the management network. Instead the lab
records the leaf certificate's SHA-256 at provisioning, read out of band (through the
engine's exec channel, before the candidate has the lab), and every TLS session compares the
certificate it is shown against it, after the handshake and before any password is sent.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import ssl

from tai_labs.sessions.base import PinMismatchError, SessionError

_PEM_RE = re.compile(r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.DOTALL)
_PIN_RE = re.compile(r"[0-9a-f]{64}")


def fingerprint(der: bytes) -> str:
    """The SHA-256 of a DER certificate, as 64 lowercase hex digits."""
    return hashlib.sha256(der).hexdigest()


def pem_fingerprint(pem: str) -> str:
    """The fingerprint of the first (leaf) certificate in PEM text."""
    match = _PEM_RE.search(pem)
    if match is None:
        raise ValueError("no PEM certificate in the text")
    return fingerprint(ssl.PEM_cert_to_DER_cert(match[0]))


def check_pin(pin: str) -> str:
    if not _PIN_RE.fullmatch(pin):
        raise ValueError(f"{pin!r} is not a SHA-256 fingerprint (64 lowercase hex digits)")
    return pin


def verify_peer(where: str, der: bytes | None, pin: str) -> None:
    """Raise PinMismatchError unless ``der`` (the peer's certificate) is the pinned one."""
    if der is None:
        raise SessionError(f"{where}: the TLS peer showed no certificate")
    seen = fingerprint(der)
    if not hmac.compare_digest(seen, check_pin(pin)):
        raise PinMismatchError(
            f"{where}: the TLS certificate (sha256 {seen}) is not the one pinned at "
            f"provisioning (sha256 {pin}); something else answers at this address, or the "
            "node's certificate was replaced"
        )
