"""Practice mode in a real browser on a real lab: a practice session made with the CLI, its
candidate's `compte-verrouille` lab brought up with their draw, `tai-labs serve`, and Debian's
Chromium (Playwright) logging in with the slip's password. The candidate checks their work
(the account is still locked: it fails), reveals a hint, unlocks the account on the DC and
checks again (it passes), then resets the lab after the confirmation page and checks once
more (locked again). Screenshots of each step in the test's folder; no lab secret in anything
the browser received."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from labtools import forget_session, slip_and_seed, start_portal, tai

from tai_labs.exam.model import SessionState
from tai_labs.exam.store import ExamStore
from tai_labs.locations import locations

CHROMIUM = Path("/usr/bin/chromium")
SCENARIO = "compte-verrouille"
LOGIN = "i15-practice"


_STOP_FIRST_SUBMIT = """() => {
  const form = document.querySelector('form[data-busy]');
  form.addEventListener('submit', (e) => e.preventDefault(), { once: true });
}"""


@pytest.fixture
def session_name() -> Iterator[str]:
    name = f"entrainement-e2e-{os.getpid()}"
    yield name
    tai("session", "rm", name, check=False)
    forget_session(name)  # in case `rm` refused a session past `up`
    shutil.rmtree(locations().data / "practice" / name, ignore_errors=True)


def _lab_secrets(lab_id: str) -> list[str]:
    folder = locations().lab(lab_id)
    brief = (folder / "brief.md").read_text(encoding="utf-8")
    # a secret the brief hands the candidate is theirs to see
    found = [
        v for v in json.loads((folder / "secrets.json").read_text()).values() if v not in brief
    ]
    key = (folder / "id_ed25519").read_text()
    found += [line for line in key.splitlines() if line and "PRIVATE KEY" not in line]
    return found


def test_candidate_checks_reads_a_hint_and_resets_in_the_browser(
    labs: list[str], session_name: str, tmp_path: Path
) -> None:
    if not CHROMIUM.exists():
        pytest.skip("needs Debian's chromium (apt-get install -y chromium)")
    pytest.importorskip("playwright.sync_api", reason="needs playwright (pip install -e '.[dev]')")
    from playwright.sync_api import expect, sync_playwright

    roster = tmp_path / "classe.csv"
    roster.write_text(f"nom;prenom;identifiant;email\nMartin;Alice;{LOGIN};\n", encoding="utf-8")
    tai("session", "create", session_name, "-s", SCENARIO, "--roster", str(roster), "--practice")
    password, seed = slip_and_seed(tmp_path, session_name)
    info = json.loads(
        tai("up", SCENARIO, "--candidate", LOGIN, "--seed", str(seed), "--json").stdout
    )
    lab_id = info["id"]
    labs.append(lab_id)
    ExamStore().set_state(session_name, SessionState.UP)
    variables = json.loads(
        tai("show", SCENARIO, "--candidate", LOGIN, "--seed", str(seed), "--json").stdout
    )["variables"]
    user = variables["user"]["login"]
    secrets = _lab_secrets(lab_id)
    assert len(secrets) >= 3

    server = start_portal(tmp_path)
    url = server.url
    bodies: list[str] = []
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True)
            try:
                page = browser.new_context(locale="fr-FR").new_page()
                page.on("response", lambda r: bodies.append(r.text()) if r.ok else None)
                page.goto(f"{url}/login")
                page.fill("input[name=session]", session_name)
                page.fill("input[name=login]", LOGIN)
                page.fill("input[name=password]", password)
                page.click("button[type=submit]")
                expect(page).to_have_url(f"{url}/lab/{lab_id}")
                expect(page.locator(".mode")).to_have_text("Entraînement")

                attempts = page.locator("#historique tbody tr")

                def check_my_work() -> None:
                    before = attempts.count()
                    # The first submission is stopped in the page (a listener added after
                    # practice.js's), to read what the page says once the button is pressed
                    # (a grading can take less time than a look at the page); then sent.
                    page.evaluate(_STOP_FIRST_SUBMIT)
                    page.click("button:has-text('Vérifier mon travail')")
                    expect(page.locator("#practice-status")).to_contain_text(
                        "Vérification de votre travail en cours"
                    )
                    expect(page.locator("button:has-text('Vérifier mon travail')")).to_be_disabled()
                    page.evaluate("document.querySelector('form[data-busy]').submit()")
                    expect(attempts).to_have_count(before + 1, timeout=180_000)
                    expect(page.locator("#verification table.checks")).to_be_visible()

                # 1. the account is still locked: the check fails, with its message
                check_my_work()
                row = page.locator("#verification tr", has_text="déverrouillé")
                expect(row).to_contain_text("échoué")
                expect(row).to_contain_text("Le compte est toujours verrouillé.")
                page.screenshot(path=str(tmp_path / "1-verification-echec.png"), full_page=True)

                # 2. a hint, with its cost
                page.click('button:has-text("Révéler l\'indice 1")')
                expect(page.locator("#indices li")).to_have_count(1)
                expect(page.locator("#indices li").first).to_contain_text("onglet « Compte »")
                expect(page.locator("#indices li").first).to_contain_text("coût : 1 point(s)")
                expect(page.locator("#indices")).to_contain_text("Révéler l'indice 2")
                page.screenshot(path=str(tmp_path / "2-indice.png"), full_page=True)

                # 3. the candidate's fix (as root on the DC), then the check passes
                tai("exec", lab_id, "dc1", "--", "samba-tool", "user", "unlock", user)
                check_my_work()
                row = page.locator("#verification tr", has_text="déverrouillé")
                expect(row).to_contain_text("réussi")
                expect(row).to_contain_text("Le compte n'est plus verrouillé.")
                expect(attempts.first).to_contain_text("1 (coût")

                # 4. reset: a confirmation page first, then the lab as handed out
                page.click("button:has-text('Remettre le lab à zéro…')")
                expect(page.locator("h1")).to_have_text("Remettre le lab à zéro ?")
                page.screenshot(path=str(tmp_path / "3-confirmation.png"), full_page=True)
                page.click("button:has-text('Oui, remettre le lab à zéro')")
                expect(page.locator("#practice-status")).to_contain_text("Remise à zéro")
                page.screenshot(path=str(tmp_path / "4-remise-en-cours.png"), full_page=True)
                # the page polls and reloads itself when the reset is over
                expect(page.locator("#verification")).to_contain_text(
                    "Lab remis à zéro", timeout=900_000
                )
                check_my_work()
                row = page.locator("#verification tr", has_text="déverrouillé")
                expect(row).to_contain_text("échoué")
                expect(page.locator("#historique")).to_contain_text("Remises à zéro : 1")
                page.screenshot(path=str(tmp_path / "5-apres-remise.png"), full_page=True)
            finally:
                browser.close()
    finally:
        server.stop()
    record = json.loads(
        (locations().data / "practice" / session_name / f"{LOGIN}.json").read_text()
    )
    points = [a["points"] for a in record["attempts"]]
    assert len(points) == 3 and points[1] > points[0] == points[2]  # fixed, then reset
    assert len(record["hints"]) == 1
    assert len(record["resets"]) == 1
    assert len(bodies) >= 8
    for body in bodies:
        for secret in secrets:
            assert secret not in body
