"""The lab's pinned TLS certificates: the SHA-256 of each node's service certificate.

Recorded by `up` when a role is ready (``Role.tls_certificates``, read out of band), like the
SSH host keys in ``known_hosts``; the session pool hands them to the LDAPS and WinRM
sessions, which refuse any other certificate.
"""

from __future__ import annotations

import json
from pathlib import Path

from tai_labs.private_files import write_private
from tai_labs.sessions.tls_pin import check_pin

PINS_FILE = "tls_pins.json"


def _read(folder: Path) -> dict[str, dict[str, str]]:
    path = folder / PINS_FILE
    if not path.is_file():
        return {}
    return dict(json.loads(path.read_text(encoding="utf-8")))


def record_pin(folder: Path, node: str, service: str, pin: str) -> None:
    pins = _read(folder)
    pins.setdefault(node, {})[service] = check_pin(pin)
    write_private(folder / PINS_FILE, json.dumps(pins, indent=2, sort_keys=True))


def pin_of(folder: Path, node: str, service: str) -> str | None:
    """The pinned fingerprint of ``service`` on ``node``; None if none was recorded."""
    pin = _read(folder).get(node, {}).get(service)
    return check_pin(pin) if pin is not None else None
