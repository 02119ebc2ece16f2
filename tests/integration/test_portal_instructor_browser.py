"""The instructor's session page in a real browser: Debian's Chromium driven by Playwright,
against `tai-labs serve` started by the test on 127.0.0.1 (the real gate, the real live
progress, the real library calls).

The data is the portal's test world (a started session whose labs are records, no lab
runs) plus a session whose labs are "up" but that has no lab and no slip: so the start is
refused by the real gateway accounts' check (said in French on the page), the live progress
shows each lab's real grading failure, extra time is given through the form, and an end
stops at its confirmation (a real end freezes real labs: tests/integration/test_exam_freeze.py).
Screenshot ``formateur-pilotage.png`` in the test's tmp_path.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from test_portal_browser import CHROMIUM, _log_in, _serve

from portal_world import DAY, add_day_session, make_portal_world
from tai_labs.exam.clock_store import ClockStore
from tai_labs.exam.store import ExamStore
from tai_labs.lab.store import Store
from tai_labs.locations import locations

pytestmark = pytest.mark.integration


def test_instructor_drives_the_session_in_chromium(tmp_path: Path) -> None:
    if not CHROMIUM.exists():
        pytest.skip("needs Debian's chromium (apt-get install -y chromium)")
    pytest.importorskip("playwright.sync_api", reason="needs playwright (pip install -e '.[dev]')")
    from playwright.sync_api import expect, sync_playwright

    world = make_portal_world(tmp_path / "data")
    add_day_session(world)
    clocks = ClockStore(ExamStore(Store(locations(world.data).store)))
    with _serve(world, tmp_path) as url, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            page = browser.new_context(locale="fr-FR").new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            _log_in(page, url, "", *world.instructor)
            expect(page).to_have_url(f"{url}/instructor")

            # a session whose candidates have no lab and no slip: the access is refused (the
            # clock has started, as `session start` starts it; a second start opens the rest)
            page.goto(f"{url}/instructor/session/{DAY}")
            page.click("#start-session")
            expect(page.locator("[role=alert]")).to_contain_text(
                "L'accès des candidats ne peut pas s'ouvrir"
            )
            expect(page.locator("[role=alert]")).to_contain_text("no slip printed")
            expect(page.locator("tr[data-login=chloe] .access")).to_have_text("fermé")
            assert not clocks.clock(DAY).of("chloe").access_opened

            # the running session: rows, live countdown, live progress, extra time
            page.goto(f"{url}/instructor/session/{world.session}")
            bruno = page.locator("tr[data-login=bruno]")
            expect(bruno).to_contain_text(world.labs["bruno"])
            expect(bruno.locator(".access")).to_have_text("fermé")  # never opened here
            left = bruno.locator("[data-seconds-left]")
            first = left.inner_text()
            assert re.fullmatch(r"\d h \d\d min \d\d s", first), first
            expect(left).not_to_have_text(first, timeout=3000)  # counts down live
            # the real grading of a lab that is only a record fails: said per lab
            expect(bruno.locator("[data-progress]")).to_contain_text("?", timeout=60000)
            bruno.locator("input[name=minutes]").fill("15")
            bruno.locator("button", has_text="Enregistrer").click()
            expect(page.locator("p.notice")).to_contain_text("Temps supplémentaire enregistré")
            expect(page.locator("tr[data-login=bruno]")).to_contain_text("(+15 min)")
            assert clocks.clock(world.session).of("bruno").extra_minutes == 15

            # an end asks first; cancelling changes nothing
            page.locator("tr[data-login=alice] button", has_text="Terminer").click()
            expect(page.locator("main")).to_contain_text("définitif")
            page.click("text=Annuler")
            expect(page).to_have_url(f"{url}/instructor/session/{world.session}")
            assert clocks.clock(world.session).of("alice").ended_at is None
            expect(page.locator("tr[data-login=alice] [data-progress]")).to_contain_text("?")
            page.screenshot(path=str(tmp_path / "formateur-pilotage.png"), full_page=True)

            grid = page.request.get(f"{url}/instructor/session/{world.session}/grille.csv")
            assert grid.ok and grid.headers["content-type"].startswith("text/csv")
            assert errors == [], errors
        finally:
            browser.close()
    assert (tmp_path / "formateur-pilotage.png").stat().st_size > 5000
