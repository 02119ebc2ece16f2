"""A self-service practice lab, for real: `tai-labs serve` with a one-minute idle TTL, a
practice account picks the cheapest LXC scenario over HTTP, waits for it to be built by the
server, opens its lab page (its nodes listed, ready), then leaves it: the server's reaper
removes it, and nothing of it is left on the host. Chromium (when present) photographs the
catalogue and the lab page."""

from __future__ import annotations

import json
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from labtools import leftovers, tai

from tai_labs.exam import practice
from tai_labs.exam.store import ExamStore
from tai_labs.lab.store import Store
from tai_labs.locations import locations
from tai_labs.portal.accounts import Accounts

#: The cheapest runnable LXC scenario of `tai-labs list`: two containers, no domain.
SCENARIO = "securiser-poste"
ACCOUNT = "i15-self"
PASSWORD = "entrainement-libre-e2e"
CHROMIUM = Path("/usr/bin/chromium")
TTL = ("--practice-ttl", "2m", "--practice-warn", "2m")
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@pytest.fixture
def account() -> Iterator[str]:
    Accounts(Store()).add(ACCOUNT, PASSWORD, role="practice", replace=True)
    yield ACCOUNT
    with sqlite3.connect(locations().store) as db:
        db.execute("DELETE FROM portal_users WHERE name = ?", (ACCOUNT,))
        db.execute("DELETE FROM portal_logins WHERE name = ?", (ACCOUNT,))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _csrf(html: str) -> str:
    match = CSRF.search(html)
    assert match, html
    return match.group(1)


def _screenshots(url: str, lab_id: str | None, folder: Path) -> None:
    """The catalogue (and the lab page) in Debian's Chromium, as the candidate sees them."""
    if not CHROMIUM.exists():
        return
    try:
        from playwright.sync_api import expect, sync_playwright
    except ImportError:
        return
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            context = browser.new_context(locale="fr-FR", viewport={"width": 1280, "height": 900})
            page = context.new_page()
            page.goto(f"{url}/login")
            page.fill("input[name=login]", ACCOUNT)
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            expect(page).to_have_url(f"{url}/practice")
            expect(page.locator(f"tr[data-scenario={SCENARIO}]")).to_be_visible()
            page.screenshot(path=str(folder / "libre-service-catalogue.png"))
            if lab_id:
                page.goto(f"{url}/lab/{lab_id}")
                expect(page.locator("#ss-ttl")).not_to_have_text("…")
                page.screenshot(path=str(folder / "libre-service-lab.png"), full_page=True)
        finally:
            browser.close()


def test_a_practice_lab_is_picked_built_opened_and_reaped(
    labs: list[str], account: str, tmp_path: Path
) -> None:
    port = _free_port()
    tai_labs = shutil.which("tai-labs", path=str(Path(sys.executable).parent))
    assert tai_labs
    log = (tmp_path / "serve.log").open("w")
    server = subprocess.Popen(
        [tai_labs, "serve", "--listen", f"127.0.0.1:{port}", *TTL],
        stdout=log,
        stderr=log,
    )
    url = f"http://127.0.0.1:{port}"
    lab_id = None
    try:
        with httpx.Client(base_url=url, timeout=60) as web:
            for _ in range(150):
                try:
                    web.get("/login")
                    break
                except httpx.TransportError:
                    time.sleep(0.2)
            token = _csrf(web.get("/login").text)
            answer = web.post(
                "/login",
                data={"csrf": token, "session": "", "login": account, "password": PASSWORD},
            )
            assert answer.status_code == 303 and answer.headers["location"] == "/practice"
            catalogue = web.get("/practice").text
            assert f'data-scenario="{SCENARIO}"' in catalogue
            answer = web.post(
                "/practice/start", data={"csrf": _csrf(catalogue), "scenario": SCENARIO}
            )
            assert answer.status_code == 303, answer.text
            where = answer.headers["location"]
            lab_id = where.rsplit("/", 1)[1]
            labs.append(lab_id)  # brought down by the fixture whatever happens

            began = time.monotonic()
            seen_steps = set()
            state = web.get(f"{where}/state").json()
            while state["phase"] in ("queued", "building") and time.monotonic() - began < 1500:
                seen_steps.add(state["steps_done"])
                time.sleep(0.5)  # a lab from cached images builds in seconds
                state = web.get(f"{where}/state").json()
            built_in = time.monotonic() - began
            assert state["phase"] == "ready", (state, (tmp_path / "serve.log").read_text()[-3000:])
            assert len(seen_steps) >= 2  # progress was shown while it was built

            record = Store().find_lab(lab_id)
            assert record is not None and record.candidate == account
            lab_page = web.get(f"/lab/{lab_id}")
            assert lab_page.status_code == 200
            nodes = [n.name for n in Store().nodes(lab_id)]
            assert len(nodes) == 2
            for node in nodes:
                assert re.search(rf'data-node="{node}">\s*<strong>{node}</strong>', lab_page.text)
            assert 'id="ss-ttl"' in lab_page.text

            session = ExamStore().find(_session_of(lab_id))
            assert session is not None and session.practice
            # "Vérifier mon travail" and hints work on it as on any practice session's lab
            runs = practice.check_work(session.name, account)
            assert runs[0].lab == lab_id and runs[0].checks
            assert runs[0].points < runs[0].max_points  # nothing done yet: faults in place
            hint = practice.reveal_hint(session.name, account)
            assert hint.number == 1 and hint.text
            web.get(f"/lab/{lab_id}")  # back on the page: its idle clock starts again

            _screenshots(url, lab_id, tmp_path)

            # Now nobody is there: within the TTL (2 min) and a tick (30 s), it goes.
            idle_from = time.monotonic()
            while time.monotonic() - idle_from < 300:
                if web.get(f"{where}/state").status_code == 404:
                    break
                time.sleep(5)
            reaped_after = time.monotonic() - idle_from
            assert web.get(f"{where}/state").status_code == 404
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()
    assert lab_id is not None
    listed = json.loads(tai("ls", "--json").stdout)
    assert lab_id not in {row["id"] for row in listed}
    assert leftovers(lab_id) == []
    assert ExamStore().find(session.name) is None
    print(f"built in {built_in:.0f} s, reaped {reaped_after:.0f} s after the last activity")
    serve_log = (tmp_path / "serve.log").read_text()
    assert f"removed {lab_id} ({account}, idle)" in serve_log


def _session_of(lab_id: str) -> str:
    with sqlite3.connect(locations().store) as db:
        row = db.execute("SELECT session FROM selfservice_labs WHERE lab_id = ?", (lab_id,))
        return str(row.fetchone()[0])
