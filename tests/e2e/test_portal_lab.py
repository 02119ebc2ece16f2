"""The portal over a real lab: a session made with the CLI, its candidate's lab brought up
with their draw, `tai-labs serve`, and Debian's Chromium (Playwright) logging in with the
slip's password: the brief `up` wrote is on the page, and none of the lab's secrets is in
anything the candidate receives."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from labtools import forget_session, slip_and_seed, start_portal, tai

from tai_labs.exam.clock_store import ClockStore
from tai_labs.exam.model import SessionState
from tai_labs.exam.store import ExamStore
from tai_labs.locations import locations

CHROMIUM = Path("/usr/bin/chromium")
SCENARIO = "compte-verrouille"


@pytest.fixture
def session_name() -> Iterator[str]:
    name = f"portail-e2e-{os.getpid()}"
    yield name
    # An exam session past `created` has no `rm` yet (issue 14 brings `session down`).
    forget_session(name)


def test_candidate_reads_the_real_brief_and_no_secret(
    labs: list[str], session_name: str, tmp_path: Path
) -> None:
    if not CHROMIUM.exists():
        pytest.skip("needs Debian's chromium (apt-get install -y chromium)")
    pytest.importorskip("playwright.sync_api", reason="needs playwright (pip install -e '.[dev]')")
    from playwright.sync_api import expect, sync_playwright

    roster = tmp_path / "classe.csv"
    roster.write_text("nom;prenom;identifiant;email\nMartin;Alice;i15-portal;\n", encoding="utf-8")
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
        tai("up", SCENARIO, "--candidate", "i15-portal", "--seed", str(seed), "--json").stdout
    )
    labs.append(info["id"])
    lab_id = info["id"]
    exams = ExamStore()
    exams.set_state(session_name, SessionState.UP)
    ClockStore(exams).start(session_name, datetime.now(UTC))  # as `session start` does

    folder = locations().lab(lab_id)
    brief = (folder / "brief.md").read_text(encoding="utf-8")
    handed = {v for v in json.loads((folder / "secrets.json").read_text()).values() if v in brief}
    secrets = [
        v for v in json.loads((folder / "secrets.json").read_text()).values() if v not in handed
    ]  # a secret the brief hands the candidate is theirs to see
    key = (folder / "id_ed25519").read_text()
    secrets += [line for line in key.splitlines() if line and "PRIVATE KEY" not in line]
    assert len(secrets) >= 3

    server = start_portal(tmp_path)
    url = server.url
    try:
        bodies: list[str] = []
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True)
            try:
                page = browser.new_context(locale="fr-FR").new_page()
                page.on("response", lambda r: bodies.append(r.text()) if r.ok else None)
                page.goto(f"{url}/login")
                page.fill("input[name=session]", session_name)
                page.fill("input[name=login]", "i15-portal")
                page.fill("input[name=password]", password)
                page.click("button[type=submit]")
                expect(page).to_have_url(f"{url}/lab/{lab_id}")
                first_line = next(line for line in brief.splitlines() if line.startswith("#"))
                expect(page.locator("article.brief h1").first).to_have_text(
                    first_line.lstrip("# ").strip()
                )
                # the portal's brief: the page's buttons, not host commands
                expect(page.locator("article.brief")).to_contain_text("bouton « Terminal »")
                expect(page.locator("article.brief")).not_to_contain_text("tai-labs console")
                for node in ("dc1", "box", "pc1"):
                    expect(page.locator(f"li[data-node={node}]")).to_contain_text("prête")
                page.screenshot(path=str(tmp_path / "candidat-lab-reel.png"), full_page=True)
                state = page.request.get(f"{url}/lab/{lab_id}/state")
                bodies.append(state.text())
                assert state.json()["seconds_left"] > 2 * 3600 - 60
            finally:
                browser.close()
    finally:
        server.stop()
    assert len(bodies) >= 3
    for body in bodies:
        for secret in secrets:
            assert secret not in body
