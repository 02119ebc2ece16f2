"""The instructor's session page over a real session (``securiser-poste``, one candidate):
`session create`, slips, `session up`, then the portal (the ASGI app over this host's state
store, the ASGI test client as the browser; the page in Chromium is
tests/integration/test_portal_instructor_browser.py): **Démarrer** opens the candidate's
real gateway account and starts the clock, the live progress grades the running lab,
extra time is recorded, **Terminer** (confirmed) closes the account and freezes the lab
(snapshot, nodes stopped), and once graded from that frozen state the jury's downloads
carry the grade and none of the lab's secrets. `session down` at the end.
"""

from __future__ import annotations

import csv
import io
import json
import re
import secrets
import sqlite3
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from labtools import tai

from tai_labs.exam.clock_store import ClockStore
from tai_labs.exam.fleet import session_labs
from tai_labs.exam.freeze import grade_frozen
from tai_labs.exam.model import SessionState
from tai_labs.exam.slips import make_slips, record_slips
from tai_labs.exam.store import ExamStore
from tai_labs.lab.runtime import open_lab
from tai_labs.lab.store import Store
from tai_labs.locations import locations
from tai_labs.portal.accounts import Accounts
from tai_labs.portal.app import PortalConfig, create_app
from tai_labs.portal.instructor import DeskConfig
from tai_labs.portal.server import secret_key
from tai_labs.providers import gateway
from tai_labs.providers.base import NodeState

pytestmark = pytest.mark.e2e

SCENARIO = "securiser-poste"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@pytest.fixture
def session() -> Iterator[tuple[str, str]]:
    suffix = secrets.token_hex(2)
    name, login = f"i15-instr-{suffix}", f"i15instr-{suffix}"
    yield name, login
    tai("session", "down", name, "--force", check=False, timeout=900)
    with sqlite3.connect(locations().store) as db:
        db.execute("DELETE FROM portal_users WHERE name = ?", (f"formateur-{suffix}",))
        db.execute("DELETE FROM portal_logins WHERE name = ?", (f"formateur-{suffix}",))


def _csrf(html: str) -> str:
    found = CSRF.search(html)
    assert found, html
    return found.group(1)


def test_instructor_runs_a_real_session_from_the_page(
    session: tuple[str, str], tmp_path: Path
) -> None:
    from starlette.testclient import TestClient

    name, login = session
    roster = tmp_path / "classe.csv"
    roster.write_text(f"nom;prenom;identifiant\nMartin;Chloé;{login}\n", encoding="utf-8")
    tai("session", "create", name, "-s", SCENARIO, "--roster", str(roster), "--duration", "1h")
    exams = ExamStore()
    record_slips(exams, name, make_slips(exams.get(name)))
    tai("session", "up", name, "--json", timeout=1800)
    lab_id = session_labs(name)[0].lab_id
    instructor = f"formateur-{name.rsplit('-', 1)[1]}"
    Accounts(Store()).add(instructor, "formateur-mot-de-passe-e2e")

    # the end waited for within the request (a class's end would carry on in the server)
    desk = DeskConfig(end_wait=600)
    app = create_app(PortalConfig(data=None, secret_key=secret_key(None), desk=desk))
    c = TestClient(app, follow_redirects=False)
    token = _csrf(c.get("/login").text)
    answer = c.post(
        "/login",
        data={
            "csrf": token,
            "session": "",
            "login": instructor,
            "password": "formateur-mot-de-passe-e2e",
        },
    )
    assert answer.status_code == 303
    base = f"/instructor/session/{name}"

    page = c.get(base)
    assert page.status_code == 200 and lab_id in page.text and "Démarrer la session" in page.text
    answer = c.post(f"{base}/start", data={"csrf": _csrf(page.text)})
    assert answer.status_code == 303 and answer.headers["location"].endswith("fait=demarree")
    clocks = ClockStore()
    assert exams.get(name).state is SessionState.STARTED
    assert clocks.clock(name).of(login).access_opened is not None
    assert login in {a.login for a in gateway.accounts()}  # the real account, opened
    assert c.get(f"{base}/state").json()["candidates"][login]["access"] == "ouvert"

    started = time.perf_counter()
    progress = c.get(f"{base}/progress").json()
    first = time.perf_counter() - started
    labs = progress["candidates"][login]["labs"]
    assert progress["live"] and len(labs) == 1 and labs[0]["lab"] == lab_id
    assert labs[0]["checks"] >= 5 and "error" not in labs[0], labs  # the real checks, read
    started = time.perf_counter()
    assert c.get(f"{base}/progress").json() == progress  # kept: not graded again
    assert time.perf_counter() - started < first
    grades = locations().lab(lab_id) / "grades"
    assert not grades.exists() or not list(grades.glob("*.json"))  # a glance keeps nothing

    page = c.get(base)
    answer = c.post(
        f"{base}/extend", data={"csrf": _csrf(page.text), "candidat": login, "minutes": "10"}
    )
    assert answer.status_code == 303 and clocks.clock(name).of(login).extra_minutes == 10

    ask = c.post(f"{base}/end", data={"csrf": _csrf(page.text), "candidat": login})
    assert ask.status_code == 200 and "définitif" in ask.text
    assert clocks.clock(name).of(login).ended_at is None
    done = c.post(
        f"{base}/end", data={"csrf": _csrf(ask.text), "candidat": login, "confirmer": "oui"}
    )
    assert done.status_code == 303, done.text
    mine = clocks.clock(name).of(login)
    assert mine.ended_at is not None and mine.complete and len(mine.frozen) == 1
    assert exams.get(name).state is SessionState.ENDED  # the one candidate ended: the session
    assert login not in {a.login for a in gateway.accounts()}  # the account, closed
    lab = open_lab(lab_id)
    assert {lab.engine.state(n.resource) for n in lab.plan.nodes} == {NodeState.STOPPED}

    report = grade_frozen(name, login)[SCENARIO]  # what the jury grades, from the freeze
    grid = c.get(f"{base}/grille.csv")
    assert grid.headers["content-type"] == "text/csv; charset=utf-8"
    rows = list(csv.reader(io.StringIO(grid.content.decode("utf-8-sig")), delimiter=";"))
    row = next(r for r in rows if login in r)
    assert f"{report.max_points:g}".replace(".", ",") in row
    zipped = c.get(f"{base}/rapports.zip")
    assert zipped.headers["content-type"] == "application/zip"
    folder = locations().lab(lab_id)
    lab_secrets = [
        v for v in json.loads((folder / "secrets.json").read_text()).values() if len(v) >= 6
    ]
    key = (folder / "id_ed25519").read_text()
    lab_secrets += [line for line in key.splitlines() if line and "PRIVATE KEY" not in line]
    assert lab_secrets
    with zipfile.ZipFile(io.BytesIO(zipped.content)) as archive:
        assert f"candidats/{login}/{SCENARIO}.html" in archive.namelist()
        for member in archive.namelist():
            body = archive.read(member)
            for value in lab_secrets:
                assert value.encode() not in body, member
