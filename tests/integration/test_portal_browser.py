"""The portal in a real browser: Debian's Chromium driven by Playwright, against
`tai-labs serve` started by the test on 127.0.0.1 and a free port.

The lab data is a temporary state store (``tests/conftest.py``, ``make_portal_world``): an
exam session, its candidates' lab records, briefs and secrets; no lab runs, so the nodes'
terminals are not exercised here. Screenshots go to the test's tmp_path.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from portal_world import PortalWorld, make_portal_world

CHROMIUM = Path("/usr/bin/chromium")

pytestmark = pytest.mark.integration


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def _serve(
    world: PortalWorld, tmp_path: Path, *extra: str, context: ssl.SSLContext | None = None
) -> Iterator[str]:
    """`tai-labs serve` on 127.0.0.1 and a free port, until the block ends; yields its URL."""
    port = _free_port()
    tai_labs = shutil.which("tai-labs", path=str(Path(sys.executable).parent))
    assert tai_labs, "tai-labs is installed beside this python"
    env = {**os.environ, "TAI_LABS_DATA": str(world.data)}
    log = (tmp_path / "serve.log").open("w")
    proc = subprocess.Popen(
        [tai_labs, "serve", "--listen", f"127.0.0.1:{port}", *extra],
        env=env,
        stdout=log,
        stderr=log,
    )
    url = f"{'https' if context else 'http'}://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{url}/login", timeout=2, context=context) as answer:
                    assert answer.status == 200
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(
                        f"tai-labs serve did not start: {(tmp_path / 'serve.log').read_text()}"
                    )
                time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, PortalWorld]]:
    if not CHROMIUM.exists():
        pytest.skip("needs Debian's chromium (apt-get install -y chromium)")
    pytest.importorskip("playwright.sync_api", reason="needs playwright (pip install -e '.[dev]')")
    world = make_portal_world(tmp_path / "data")
    with _serve(world, tmp_path) as url:
        yield url, world


def _self_signed(folder: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def test_serve_over_tls_sends_secure_cookies(tmp_path: Path) -> None:
    world = make_portal_world(tmp_path / "data")
    cert, key = _self_signed(tmp_path)
    context = ssl.create_default_context(cafile=str(cert))  # trusts this certificate only
    tls = ("--tls-cert", str(cert), "--tls-key", str(key))
    with _serve(world, tmp_path, *tls, context=context) as url:
        assert url.startswith("https://")
        with urllib.request.urlopen(f"{url}/login", timeout=5, context=context) as answer:
            cookie = answer.headers["set-cookie"]
            assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie
        with pytest.raises(OSError):  # no plain HTTP on the same port
            urllib.request.urlopen(url.replace("https", "http", 1) + "/login", timeout=5)


def _log_in(page: object, url: str, session: str, login: str, password: str) -> None:
    page.goto(f"{url}/login")  # type: ignore[attr-defined]
    page.fill("input[name=session]", session)  # type: ignore[attr-defined]
    page.fill("input[name=login]", login)  # type: ignore[attr-defined]
    page.fill("input[name=password]", password)  # type: ignore[attr-defined]
    page.click("button[type=submit]")  # type: ignore[attr-defined]


def test_candidate_and_instructor_in_chromium(
    served: tuple[str, PortalWorld], tmp_path: Path
) -> None:
    from playwright.sync_api import expect, sync_playwright

    url, world = served
    alice_lab, bruno_lab = world.labs["alice"], world.labs["bruno"]
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            candidate = browser.new_context(locale="fr-FR").new_page()
            errors: list[str] = []
            candidate.on("pageerror", lambda exc: errors.append(str(exc)))
            candidate.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            _log_in(candidate, url, world.session, "alice", world.passwords["alice"])
            expect(candidate).to_have_url(f"{url}/lab/{alice_lab}")
            expect(candidate.locator("article.brief")).to_contain_text("Mme Durand")
            expect(candidate.locator("li[data-node=pc1] a.terminal")).to_have_attribute(
                "href", f"/lab/{alice_lab}/node/pc1/terminal"
            )
            clock = candidate.locator("#time-left")
            first = clock.inner_text()
            assert re.fullmatch(r"1 h \d\d min \d\d s", first), first
            expect(clock).not_to_have_text(first, timeout=3000)  # counts down live
            candidate.screenshot(path=str(tmp_path / "candidat-lab.png"), full_page=True)
            assert errors == [], errors  # no CSP violation, no script error, nothing missing
            # another candidate's lab, typed in the address bar
            answer = candidate.goto(f"{url}/lab/{bruno_lab}")
            assert answer is not None and answer.status == 404
            expect(candidate.locator("main")).to_contain_text("Page introuvable")
            candidate.goto(f"{url}/lab/{alice_lab}")
            candidate.click("header button[type=submit]")  # se déconnecter
            expect(candidate).to_have_url(f"{url}/login")
            candidate.goto(f"{url}/lab/{alice_lab}")
            expect(candidate).to_have_url(re.compile(r"/login"))

            instructor = browser.new_context(locale="fr-FR").new_page()
            _log_in(instructor, url, "", *world.instructor)
            expect(instructor).to_have_url(f"{url}/instructor")
            instructor.click(f"text={world.session}")
            expect(instructor).to_have_url(f"{url}/instructor/session/{world.session}")
            table = instructor.locator("table.candidates")
            expect(table).to_contain_text(alice_lab)
            expect(table).to_contain_text(bruno_lab)
            expect(table).to_contain_text("Compte verrouillé")
            expect(table).to_contain_text("prêt")
            expect(instructor.locator("main")).to_contain_text("en cours")
            instructor.screenshot(path=str(tmp_path / "formateur-session.png"), full_page=True)
        finally:
            browser.close()
    for shot in ("candidat-lab.png", "formateur-session.png"):
        assert (tmp_path / shot).stat().st_size > 5000
