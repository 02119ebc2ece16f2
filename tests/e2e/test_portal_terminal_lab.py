"""The web terminal in the portal over a real lab, in Debian's Chromium (Playwright).

A session made with the CLI (`session create`, `session slips`), its candidate's
securiser-poste lab brought up with their draw, `tai-labs serve`: the candidate logs in with
the slip's password, opens pc1's terminal from their lab page, types a command and reads
its output, under the terminal page's CSP with no violation; an instructor opens the
read-only view of the same shell, sees it, and what they type never reaches it.
Screenshots in the test's tmp_path.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import sqlite3
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from labtools import forget_session, slip_and_seed, start_portal, tai

from tai_labs.exam.clock_store import ClockStore
from tai_labs.exam.model import SessionState
from tai_labs.exam.store import ExamStore
from tai_labs.lab.store import Store
from tai_labs.locations import locations
from tai_labs.portal.accounts import Accounts

CHROMIUM = Path("/usr/bin/chromium")
SCENARIO = "securiser-poste"
LOGIN = "i15-term"
# Every CSP violation of the page, from its first script on.
CSP_WATCH = (
    "window.__csp = []; document.addEventListener('securitypolicyviolation', e => "
    "window.__csp.push(e.violatedDirective + ' ' + e.blockedURI + ' ' + e.sample));"
)
# The text of the terminal's buffer, one line per row (what the viewer sees).
SCREEN = """(() => { const el = document.querySelector('[data-terminal]');
  const t = el && el.terminal;
  if (!t) return '';  // not loaded yet, or terminal.js has not run yet
  const b = t.buffer.active; let s = '';
  for (let i = 0; i < b.length; i++) s += b.getLine(i).translateToString(true) + '\\n';
  return s; })()"""


@pytest.fixture
def session_name() -> Iterator[str]:
    name = f"terminal-e2e-{os.getpid()}"
    yield name
    forget_session(name)


@pytest.fixture
def instructor() -> Iterator[tuple[str, str]]:
    name, password = f"formateur{os.getpid()}", secrets.token_urlsafe(12)
    Accounts(Store()).add(name, password)
    yield name, password
    with sqlite3.connect(locations().store) as db:
        db.execute("DELETE FROM portal_logins WHERE name = ?", (name,))
        db.execute("DELETE FROM portal_users WHERE name = ?", (name,))


def _log_in(page: Any, url: str, session: str, login: str, password: str) -> None:
    page.goto(f"{url}/login")
    page.fill("input[name=session]", session)
    page.fill("input[name=login]", login)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")


def _wait_screen(page: Any, text: str, timeout: float = 30) -> str:
    """The terminal's text once it shows ``text`` (polled from here: the page's CSP forbids
    the eval that Playwright's ``wait_for_function`` needs)."""
    deadline = time.monotonic() + timeout
    while text not in (screen := str(page.evaluate(SCREEN))):
        assert time.monotonic() < deadline, f"no {text!r} in {screen!r}"
        time.sleep(0.2)
    return screen


def _grid_width(page: Any) -> float:
    """The width of the page terminal's grid in pixels: its columns times the cell width,
    the same in both pages (same font), so equal widths are equal column counts."""
    return float(page.evaluate("document.querySelector('.xterm-screen').offsetWidth"))


def _watched(page: Any, problems: list[str]) -> Any:
    page.add_init_script(CSP_WATCH)
    page.on("pageerror", lambda exc: problems.append(f"pageerror {exc}"))
    page.on(
        "console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None
    )
    return page


def test_candidate_types_in_the_portal_terminal_instructor_watches(
    labs: list[str], session_name: str, instructor: tuple[str, str], tmp_path: Path
) -> None:
    if not CHROMIUM.exists():
        pytest.skip("needs Debian's chromium (apt-get install -y chromium)")
    pytest.importorskip("playwright.sync_api", reason="needs playwright (pip install -e '.[dev]')")
    from playwright.sync_api import expect, sync_playwright

    roster = tmp_path / "classe.csv"
    roster.write_text(f"nom;prenom;identifiant;email\nMartin;Alice;{LOGIN};\n", encoding="utf-8")
    start = (datetime.now(UTC) + timedelta(minutes=2)).isoformat(timespec="seconds")
    tai(
        "session",
        "create",
        session_name,
        "-s",
        SCENARIO,
        "--roster",
        str(roster),
        "--duration",
        "2h",
        "--start",
        start,
    )
    password, seed = slip_and_seed(tmp_path, session_name)
    info = json.loads(
        tai("up", SCENARIO, "--candidate", LOGIN, "--seed", str(seed), "--json").stdout
    )
    labs.append(info["id"])
    lab_id = info["id"]
    exams = ExamStore()
    exams.set_state(session_name, SessionState.UP)
    ClockStore(exams).start(session_name, datetime.now(UTC))  # as `session start` does
    from tai_labs.lab.runtime import open_lab

    hostname = open_lab(lab_id).exec("pc1", ["hostname"]).stdout.strip()
    assert hostname and hostname != socket.gethostname()

    server = start_portal(tmp_path)
    url = server.url
    problems: list[str] = []
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True)
            try:
                page = _watched(browser.new_context(locale="fr-FR").new_page(), problems)
                _log_in(page, url, session_name, LOGIN, password)
                expect(page).to_have_url(f"{url}/lab/{lab_id}")
                page.click("li[data-node=pc1] a.terminal")
                expect(page).to_have_url(f"{url}/lab/{lab_id}/node/pc1/terminal")
                expect(page.locator("[data-terminal]")).to_have_attribute(
                    "data-state", "connecté", timeout=30_000
                )
                _wait_screen(page, "# ")  # the prompt: the node's shell is ready
                page.click(".terminal-screen")
                # a 24-bit colour too: xterm.js styles that cell with a style attribute
                page.keyboard.type("echo NODE=$(hostname) USER=$(whoami); ")
                page.keyboard.type("printf '\\e[38;2;200;30;30mrouge\\e[0m\\n'")
                page.keyboard.press("Enter")
                _wait_screen(page, f"NODE={hostname} USER=root\n")
                expect(page.locator(".xterm-rows")).to_contain_text("rouge")
                page.screenshot(path=str(tmp_path / "terminal-candidat.png"), full_page=True)
                candidate_csp = page.evaluate("window.__csp")

                watch = _watched(browser.new_context(locale="fr-FR").new_page(), problems)
                _log_in(watch, url, "", *instructor)
                expect(watch).to_have_url(f"{url}/instructor")
                watch.goto(f"{url}/instructor/session/{session_name}")
                watch.click(f"a[href='/instructor/lab/{lab_id}/node/pc1/terminal']")
                expect(watch).to_have_url(f"{url}/instructor/lab/{lab_id}/node/pc1/terminal")
                expect(watch.locator("[data-terminal]")).to_have_attribute(
                    "data-state", "connecté", timeout=30_000
                )
                _wait_screen(watch, f"NODE={hostname} USER=root")
                watch.click(".terminal-screen")
                watch.keyboard.type("echo INTRUS")
                watch.keyboard.press("Enter")
                page.click(".terminal-screen")
                page.keyboard.type("echo APRES$((40+2))")
                page.keyboard.press("Enter")
                _wait_screen(watch, "APRES42\n")  # live
                _wait_screen(page, "APRES42\n")
                # the candidate narrows their window: the watcher redraws at their new width
                before = _grid_width(watch)
                assert before == _grid_width(page)
                page.set_viewport_size({"width": 640, "height": 720})
                deadline = time.monotonic() + 15
                while not (_grid_width(page) < before and _grid_width(watch) == _grid_width(page)):
                    got = (before, _grid_width(page), _grid_width(watch))
                    assert time.monotonic() < deadline, got
                    time.sleep(0.2)
                watch.screenshot(path=str(tmp_path / "terminal-formateur.png"), full_page=True)
                candidate_screen = str(page.evaluate(SCREEN))
                watch_csp = watch.evaluate("window.__csp")
            finally:
                browser.close()
    finally:
        server.stop()
    assert "INTRUS" not in candidate_screen  # the read-only viewer's keys never arrived
    assert candidate_csp == [] and watch_csp == [], (candidate_csp, watch_csp)
    assert problems == [], problems  # no CSP report, no script error in the console
    for shot in ("terminal-candidat.png", "terminal-formateur.png"):
        assert (tmp_path / shot).stat().st_size > 5000
