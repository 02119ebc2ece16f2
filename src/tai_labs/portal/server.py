"""Serving the portal: the host's cookie-signing key and uvicorn on the address asked for."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

from tai_labs.errors import UsageError
from tai_labs.locations import locations
from tai_labs.portal.app import PortalConfig, create_app
from tai_labs.private_files import create_private, write_private

KEY_FILE = "portal.key"


def secret_key(data: Path | None = None) -> bytes:
    """This host's cookie-signing key (0600 beside the state store), made on first use.

    Kept across restarts, so a restart does not log everyone out.
    """
    path = locations(data).data / KEY_FILE
    create_private(path)  # tightens one an older run left readable
    key = path.read_bytes().strip()
    if len(key) < 32:
        key = secrets.token_hex(32).encode()
        write_private(path, key)
    return key


@dataclass(frozen=True)
class Listen:
    host: str
    port: int


def parse_listen(text: str) -> Listen:
    """``127.0.0.1:8080``, ``[::1]:8080`` or ``0.0.0.0:443`` -> host and port."""
    host, sep, port = text.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UsageError(
            f"invalid listen address {text!r}", hint="give HOST:PORT, e.g. 127.0.0.1:8080"
        )
    return Listen(host, int(port))


def serve(
    listen: Listen,
    *,
    tls_cert: Path | None = None,
    tls_key: Path | None = None,
    behind_tls_proxy: bool = False,
    data: Path | None = None,
) -> None:
    """Run the portal until interrupted."""
    import uvicorn

    if (tls_cert is None) != (tls_key is None):
        raise UsageError(
            "--tls-cert and --tls-key go together", hint="give both, or neither for plain HTTP"
        )
    for path in (tls_cert, tls_key):
        if path is not None and not path.is_file():
            raise UsageError(f"no file {path}", hint="give the PEM certificate and its key")
    config = PortalConfig(
        data=data,
        secret_key=secret_key(data),
        secure_cookies=tls_cert is not None or behind_tls_proxy,
    )
    uvicorn.run(
        create_app(config),
        host=listen.host,
        port=listen.port,
        ssl_certfile=str(tls_cert) if tls_cert else None,
        ssl_keyfile=str(tls_key) if tls_key else None,
        # The client address the login limit counts: a proxy's X-Forwarded-For is believed
        # only from the proxy on this host.
        proxy_headers=behind_tls_proxy,
        forwarded_allow_ips="127.0.0.1" if behind_tls_proxy else None,
        server_header=False,
        log_level="info",
    )
