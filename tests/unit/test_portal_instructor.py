"""The instructor's session page over the ASGI test client, on a temporary state store: who
may reach it (a candidate gets 404 on every page, action and download), CSRF on each action,
start / extra time / end changing the store as `tai-labs session start|extend|end` do, the
end's confirmation, the library's refusals in French, the live progress and its cache, and
the jury's downloads (types, and no lab secret in a candidate's report).

No lab runs here: the session's gateway accounts are replaced by a gate that records its
calls (the real accounts: tests/e2e/test_exam_session_labs.py), a candidate with no lab has
nothing to freeze (the real freeze: tests/integration/test_exam_freeze.py), and the live
progress is fed by a recording grader (the real grading of a running lab:
bench/bench_portal_load.py, tests/e2e)."""

from __future__ import annotations

import csv
import html
import io
import json
import threading
import time
import zipfile
from datetime import UTC, datetime, timedelta

import pytest
from starlette.routing import Route
from starlette.testclient import TestClient
from test_portal_app import as_candidate, csrf_of, log_in

from portal_world import DAY, PortalWorld, add_day_session
from tai_labs.errors import TaiLabsError
from tai_labs.exam.clock_store import ClockStore
from tai_labs.exam.model import SessionState
from tai_labs.exam.progress import Progress
from tai_labs.exam.seams import AccessGate
from tai_labs.exam.store import ExamStore
from tai_labs.grading.model import Verdict
from tai_labs.grading.result import CheckResult, CompetenceResult, EvidenceItem, GradeReport
from tai_labs.lab.secrets import LabSecrets
from tai_labs.lab.store import Store
from tai_labs.locations import locations
from tai_labs.portal.app import PortalConfig, create_app
from tai_labs.portal.desk_errors import in_french
from tai_labs.portal.instructor import DeskConfig
from tai_labs.portal.live_progress import LiveProgress
from tai_labs.portal.server import secret_key
from tai_labs.private_files import write_private


class RecordingGate:
    """The session's access, recorded: which candidate was opened and closed (no lab here)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def gate(self) -> AccessGate:
        return AccessGate(
            open=lambda s, login: self.calls.append(("open", login)),
            close=lambda s, login: self.calls.append(("close", login)),
        )


class RecordingGrader:
    """Stands for ``exam.progress.lab_progress`` (no running lab): counts its gradings."""

    def __init__(self, delay: float = 0.0) -> None:
        self.graded: list[str] = []
        self.delay = delay
        self.lock = threading.Lock()

    def __call__(self, lab: str) -> Progress:
        time.sleep(self.delay)
        with self.lock:
            self.graded.append(lab)
        if lab == "broken":
            raise TaiLabsError("lab broken: node dc1 is not running")
        return Progress(lab, 2, 5, 4.0, 10.0)


def _exams(world: PortalWorld) -> ExamStore:
    return ExamStore(Store(locations(world.data).store))


@pytest.fixture
def gate() -> RecordingGate:
    return RecordingGate()


@pytest.fixture
def grader() -> RecordingGrader:
    return RecordingGrader()


@pytest.fixture
def world(
    portal_world: PortalWorld, monkeypatch: pytest.MonkeyPatch
) -> PortalWorld:  # the library's reads (grades, secrets) go to the data folder of the env
    monkeypatch.setenv("TAI_LABS_DATA", str(portal_world.data))
    add_day_session(portal_world)
    return portal_world


def client(
    world: PortalWorld, gate: RecordingGate, grader: RecordingGrader, end_wait: float = 10.0
) -> TestClient:
    config = PortalConfig(
        data=world.data,
        secret_key=secret_key(world.data),
        clock=world.clock,
        desk=DeskConfig(
            gate=gate.gate(), progress=LiveProgress(grader, ttl=5.0), end_wait=end_wait
        ),
    )
    return TestClient(create_app(config), follow_redirects=False)


def instructor(
    world: PortalWorld, gate: RecordingGate, grader: RecordingGrader, end_wait: float = 10.0
) -> TestClient:
    c = client(world, gate, grader, end_wait)
    answer = log_in(c, "", *world.instructor)
    assert answer.status_code == 303  # type: ignore[attr-defined]
    return c


def token(c: TestClient, session: str = DAY) -> str:
    return csrf_of(c.get(f"/instructor/session/{session}").text)


def _now(world: PortalWorld) -> datetime:
    return datetime.fromtimestamp(world.now[0], UTC)


# -- who may -------------------------------------------------------------------------------------


def _instructor_routes(c: TestClient) -> list[tuple[str, str]]:
    found = []
    for route in c.app.routes:  # type: ignore[attr-defined]
        if isinstance(route, Route) and route.path.startswith("/instructor"):
            for method in sorted(route.methods or {"GET"}):
                if method != "HEAD":
                    found.append((method, route.path))
    return found


def test_a_candidate_gets_404_on_every_instructor_page_action_and_download(
    world: PortalWorld, gate: RecordingGate, grader: RecordingGrader
) -> None:
    c = as_candidate(world)
    own = csrf_of(c.get(f"/lab/{world.labs['alice']}").text)  # their own, valid token
    routes = _instructor_routes(c)
    paths = {p for _, p in routes}
    for needed in ("start", "extend", "end", "progress", "state", "grille.csv", "rapports.zip"):
        assert f"/instructor/session/{{name}}/{needed}" in paths
    before = (ClockStore(_exams(world)).clock(world.session), _exams(world).get(DAY))
    for method, path in routes:
        for session in (world.session, DAY, "nope"):
            url = path.replace("{name}", session)
            data = {"csrf": own, "candidat": "alice", "minutes": "60", "confirmer": "oui"}
            answer = c.request(method, url, data=data if method == "POST" else None)
            assert answer.status_code == 404, (method, url, answer.status_code)
            assert "bruno" not in answer.text  # not a line of the session's rows
    assert (ClockStore(_exams(world)).clock(world.session), _exams(world).get(DAY)) == before
    assert gate.calls == [] and grader.graded == []


def test_nobody_logged_in_is_sent_to_the_login_page(
    world: PortalWorld, gate: RecordingGate, grader: RecordingGrader
) -> None:
    c = client(world, gate, grader)
    for method, path in _instructor_routes(c):
        answer = c.request(method, path.replace("{name}", DAY), data={"csrf": "x"})
        assert answer.status_code == 303 and answer.headers["location"].startswith("/login")
    assert _exams(world).get(DAY).state is SessionState.UP


def test_each_action_needs_the_csrf_token(
    world: PortalWorld, gate: RecordingGate, grader: RecordingGrader
) -> None:
    c = instructor(world, gate, grader)
    base = f"/instructor/session/{DAY}"
    for action, data in (
        ("start", {}),
        ("extend", {"candidat": "chloe", "minutes": "30"}),
        ("end", {"candidat": "chloe", "confirmer": "oui"}),
    ):
        for given in ({}, {"csrf": "forged-token"}):
            answer = c.post(f"{base}/{action}", data={**data, **given})
            assert answer.status_code == 403, (action, given)
    assert _exams(world).get(DAY).state is SessionState.UP
    assert ClockStore(_exams(world)).clock(DAY).started_at is None
    assert gate.calls == []


# -- start, extra time, end: the store changes as the CLI changes it ---------------------------


def test_start_extend_and_end_change_the_store_as_the_cli_does(
    world: PortalWorld, gate: RecordingGate, grader: RecordingGrader
) -> None:
    c = instructor(world, gate, grader)
    base = f"/instructor/session/{DAY}"
    page = c.get(base)
    assert "Démarrer la session" in page.text and "Terminer la session" not in page.text

    answer = c.post(f"{base}/start", data={"csrf": token(c)})
    assert answer.status_code == 303 and answer.headers["location"] == f"{base}?fait=demarree"
    clocks = ClockStore(_exams(world))
    clock = clocks.clock(DAY)
    assert _exams(world).get(DAY).state is SessionState.STARTED
    assert clock.started_at == _now(world)
    assert {login for login in ("chloe", "paul") if clock.of(login).access_opened} == {
        "chloe",
        "paul",
    }
    assert gate.calls == [("open", "chloe"), ("open", "paul")]
    page = c.get(answer.headers["location"])
    assert "Session démarrée" in page.text and page.text.count("2 h 00 min 00 s") == 2
    # a second start changes nothing, as `session start` run twice
    again = c.post(f"{base}/start", data={"csrf": token(c)})
    assert again.headers["location"] == f"{base}?fait=deja"
    assert clocks.clock(DAY).started_at == clock.started_at and len(gate.calls) == 2

    world.now[0] += 600  # ten minutes later
    answer = c.post(f"{base}/extend", data={"csrf": token(c), "candidat": "chloe", "minutes": "30"})
    assert answer.status_code == 303 and answer.headers["location"] == f"{base}?fait=prolonge"
    assert clocks.clock(DAY).of("chloe").extra_minutes == 30
    state = c.get(f"{base}/state").json()["candidates"]
    assert state["chloe"]["seconds_left"] == (120 + 30 - 10) * 60
    assert state["paul"]["seconds_left"] == (120 - 10) * 60
    assert "(+30 min)" in c.get(base).text

    # ending one candidate asks first: nothing changes until it is confirmed
    ask = c.post(f"{base}/end", data={"csrf": token(c), "candidat": "paul"})
    assert ask.status_code == 200 and "définitif" in ask.text and 'value="oui"' in ask.text
    assert clocks.clock(DAY).of("paul").ended_at is None and ("close", "paul") not in gate.calls
    done = c.post(
        f"{base}/end", data={"csrf": csrf_of(ask.text), "candidat": "paul", "confirmer": "oui"}
    )
    assert done.status_code == 303 and done.headers["location"] == f"{base}?fait=terminee"
    paul = clocks.clock(DAY).of("paul")
    assert paul.ended_at == _now(world) and paul.complete
    assert gate.calls[-1] == ("close", "paul")
    state = c.get(f"{base}/state").json()["candidates"]
    assert state["paul"] == {"seconds_left": 0, "access": "fermé", "ended": _hhmm(_now(world))}
    assert state["chloe"]["access"] == "ouvert"
    assert _exams(world).get(DAY).state is SessionState.STARTED  # chloe still works

    # too late for paul's extra time: the library's refusal, in French, nothing changed
    late = c.post(f"{base}/extend", data={"csrf": token(c), "candidat": "paul", "minutes": "5"})
    assert late.status_code == 409 and "paul a terminé à" in late.text
    assert "trop tard pour du temps supplémentaire" in late.text
    assert clocks.clock(DAY).of("paul").extra_minutes == 0

    # the whole session: confirmed, then chloe ends too and the session is ended
    ask = c.post(f"{base}/end", data={"csrf": token(c)})
    assert ask.status_code == 200 and "2</strong> candidats" in ask.text
    c.post(f"{base}/end", data={"csrf": csrf_of(ask.text), "confirmer": "oui"})
    assert _exams(world).get(DAY).state is SessionState.ENDED
    assert clocks.clock(DAY).of("paul").ended_at == paul.ended_at  # paul's end stands
    assert gate.calls.count(("close", "paul")) == 2 and ("close", "chloe") in gate.calls
    page = c.get(base)
    assert "Démarrer" not in page.text and "Terminer…" not in page.text


def _hhmm(when: datetime) -> str:
    return f"{when.astimezone():%H:%M}"


@pytest.mark.parametrize(
    ("action", "data", "status", "french"),
    [
        ("extend", {"candidat": "chloe", "minutes": "900"}, 409, "hors limites"),
        ("extend", {"candidat": "chloe", "minutes": "trente"}, 400, "nombre entier"),
        ("extend", {"candidat": "inconnu", "minutes": "10"}, 409, "Pas de candidat « inconnu »"),
        ("end", {"confirmer": "oui"}, 409, "La session n'a pas commencé"),
        ("end", {"candidat": "inconnu"}, 409, "Pas de candidat « inconnu »"),
    ],
)
def test_refusals_are_said_in_french_and_change_nothing(
    world: PortalWorld,
    gate: RecordingGate,
    grader: RecordingGrader,
    action: str,
    data: dict[str, str],
    status: int,
    french: str,
) -> None:
    c = instructor(world, gate, grader)
    answer = c.post(f"/instructor/session/{DAY}/{action}", data={"csrf": token(c), **data})
    assert answer.status_code == status and french in html.unescape(answer.text)
    assert 'role="alert"' in answer.text
    assert ClockStore(_exams(world)).clock(DAY).candidates == {}
    assert _exams(world).get(DAY).state is SessionState.UP and gate.calls == []


def test_a_session_whose_labs_are_not_up_does_not_start(
    world: PortalWorld, gate: RecordingGate, grader: RecordingGrader
) -> None:
    exams = _exams(world)
    exams.create(
        exams.get(DAY).model_copy(update={"name": "ccp2-cree", "state": SessionState.CREATED})
    )
    c = instructor(world, gate, grader)
    page = c.get("/instructor/session/ccp2-cree")
    assert "Démarrer la session" not in page.text  # no button for it ...
    answer = c.post("/instructor/session/ccp2-cree/start", data={"csrf": csrf_of(page.text)})
    assert answer.status_code == 409 and "pas encore construits" in answer.text  # ... nor a way
    assert exams.get("ccp2-cree").state is SessionState.CREATED


def test_the_library_messages_the_table_translates_are_still_the_ones_raised(
    world: PortalWorld,
) -> None:
    from tai_labs.exam.clock import SessionClock, check_extra

    session = _exams(world).get(DAY)
    now = datetime.now(UTC)
    started = SessionClock(started_at=now - timedelta(hours=3))
    cases = [
        (lambda: check_extra(session, SessionClock(), "chloe", 721, now), "hors limites"),
        (lambda: check_extra(session, started, "chloe", 10, now), "serait déjà passée"),
        (lambda: session.candidate("zoe"), "Pas de candidat « zoe »"),
        (
            lambda: check_extra(
                session.model_copy(update={"duration": None}), started, "chloe", 5, now
            ),
            "Session d'entraînement",
        ),
    ]
    for call, french in cases:
        with pytest.raises(TaiLabsError) as caught:
            call()
        said = in_french(caught.value)
        assert french in said and not said.startswith("Refusé par tai-labs"), said
    assert in_french(TaiLabsError("something new")) == "Refusé par tai-labs : something new"


# -- live progress --------------------------------------------------------------------------------


def test_live_progress_grades_each_live_lab_once_within_its_ttl(
    world: PortalWorld, gate: RecordingGate, grader: RecordingGrader
) -> None:
    c = instructor(world, gate, grader)
    url = f"/instructor/session/{world.session}/progress"
    got = c.get(url).json()
    assert got["live"] is True
    assert got["candidates"]["alice"]["text"] == "2/5"
    assert got["candidates"]["alice"]["labs"][0] == {
        "lab": world.labs["alice"],
        "passing": 2,
        "checks": 5,
        "points": 4.0,
        "max_points": 10.0,
        "broken": 0,
        "text": "2/5",
    }
    assert sorted(grader.graded) == sorted(world.labs.values())
    c.get(url)  # a refresh: kept, not graded again
    assert len(grader.graded) == 2
    # a session not started has nothing live to grade
    assert c.get(f"/instructor/session/{DAY}/progress").json()["live"] is False
    assert len(grader.graded) == 2


def test_the_progress_cache_one_grading_per_lab_at_a_time_and_expiry() -> None:
    now = [100.0]
    grader = RecordingGrader(delay=0.2)
    live = LiveProgress(grader, ttl=5.0, clock=lambda: now[0])
    threads = [threading.Thread(target=live.glance, args=("lab1",)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert grader.graded == ["lab1"]  # four askers at once, one grading
    now[0] += 4.9
    assert live.glance("lab1").progress is not None and grader.graded == ["lab1"]
    now[0] += 0.2
    live.glance("lab1")
    assert grader.graded == ["lab1", "lab1"]  # past its ttl: graded again
    broken = live.glance_all(["broken", "lab2", "broken"])
    assert broken["broken"].progress is None and "not running" in str(broken["broken"].error)
    assert broken["lab2"].progress == Progress("lab2", 2, 5, 4.0, 10.0)
    assert grader.graded.count("broken") == 1


# -- the jury's downloads -------------------------------------------------------------------------


def _grade(world: PortalWorld, login: str, secret: str) -> None:
    """A grade kept where grading keeps it, its evidence quoting a lab secret."""
    when = datetime(2027, 1, 12, 11, 0, tzinfo=UTC)
    check = CheckResult(
        id="unlocked",
        title="Le compte est déverrouillé",
        grader="ad.user",
        targets=["dc1"],
        competence="C6",
        criterion="C6.4",
        criterion_text="x",
        verdict=Verdict.PASS,
        points=3,
        max_points=3,
        message="Le compte n'est plus verrouillé.",
        why_fr="",
        why_en="",
        evidence=[EvidenceItem(node="dc1", transport="ldap", command="show", output=secret)],
        seconds=0.1,
    )
    report = GradeReport(
        lab=world.labs[login],
        scenario="compte-verrouille",
        scenario_title="Compte verrouillé",
        block="CCP2",
        candidate=login,
        seed=11,
        started=when,
        finished=when,
        threshold=0.5,
        checks=[check],
        competences=[
            CompetenceResult(
                id="C6",
                title="C6",
                block="CCP2",
                points=3,
                max_points=3,
                acquired=True,
                checks=["unlocked"],
            )
        ],
        points=3,
        max_points=3,
    )
    folder = locations(world.data).lab(world.labs[login]) / "grades"
    write_private(folder / "20270112T110000.json", report.model_dump_json(indent=2) + "\n")


def test_downloads_grid_csv_html_and_reports_zip_without_lab_secrets(
    world: PortalWorld, gate: RecordingGate, grader: RecordingGrader
) -> None:
    folder = locations(world.data).lab(world.labs["alice"])
    secret = LabSecrets(folder).get("admin_password")
    assert len(secret) >= 6
    _grade(world, "alice", f"Administrator password: {secret}")
    c = instructor(world, gate, grader)
    base = f"/instructor/session/{world.session}"

    grid = c.get(f"{base}/grille.csv")
    assert grid.status_code == 200
    assert grid.headers["content-type"] == "text/csv; charset=utf-8"
    assert (
        grid.headers["content-disposition"] == f'attachment; filename="grille-{world.session}.csv"'
    )
    assert grid.content.startswith(b"\xef\xbb\xbf")  # Calc and Excel read it as UTF-8
    rows = list(csv.reader(io.StringIO(grid.content.decode("utf-8-sig")), delimiter=";"))
    by_login = {r[2]: r for r in rows[1:] if r}
    assert set(by_login) >= {"alice", "bruno"}
    assert "3" in by_login["alice"] and any("non noté" in f for f in by_login["bruno"])

    page = c.get(f"{base}/grille.html")
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert "attachment" in page.headers["content-disposition"] and "alice" in page.text.lower()

    reports = c.get(f"{base}/rapports.zip")
    assert reports.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(reports.content)) as archive:
        names = archive.namelist()
        bodies = {n: archive.read(n) for n in names}
    assert "candidats/alice/compte-verrouille.html" in names
    assert "candidats/alice/compte-verrouille.json" in names
    assert "candidats/bruno/compte-verrouille.manquant.html" in names
    every = LabSecrets(folder).all().values()
    for name, body in bodies.items():
        for value in every:
            assert value.encode() not in body, name
    evidence = json.loads(bodies["candidats/alice/compte-verrouille.json"])
    assert "[secret]" in json.dumps(evidence)


def test_the_sessions_list_counts_from_the_clocks_start(
    world: PortalWorld, gate: RecordingGate, grader: RecordingGrader
) -> None:
    c = instructor(world, gate, grader)
    c.post(f"/instructor/session/{DAY}/start", data={"csrf": token(c)})  # no planned start
    world.now[0] += 90
    row = next(line for line in c.get("/instructor").text.split("<tr>") if DAY in line)
    assert "1 h 58 min 30 s" in row and "sans limite" not in row


def test_a_long_end_answers_at_once_and_finishes_in_the_server(
    world: PortalWorld, grader: RecordingGrader
) -> None:
    closing = threading.Event()
    calls: list[str] = []

    def slow_close(session: object, login: str) -> None:
        calls.append(login)
        closing.wait(5)  # the gateway (or a class's freezes) taking its time

    gate = RecordingGate()
    c = instructor(world, gate, grader, end_wait=0.05)
    c.app.state.portal.config.desk.gate = AccessGate(  # type: ignore[attr-defined]
        open=lambda s, login: None, close=slow_close
    )
    base = f"/instructor/session/{DAY}"
    c.post(f"{base}/start", data={"csrf": token(c)})
    answer = c.post(f"{base}/end", data={"csrf": token(c), "confirmer": "oui"})
    assert answer.status_code == 303 and answer.headers["location"].endswith("fait=fin-en-cours")
    page = c.get(base)
    assert "Fin en cours" in page.text and 'data-reload-seconds="10"' in page.text
    again = c.post(f"{base}/end", data={"csrf": token(c), "confirmer": "oui"})
    assert again.status_code == 409 and "déjà en cours" in html.unescape(again.text)
    closing.set()
    for _ in range(100):
        if _exams(world).get(DAY).state is SessionState.ENDED:
            break
        time.sleep(0.05)
    assert _exams(world).get(DAY).state is SessionState.ENDED
    assert calls == ["chloe", "paul"]
    assert "Fin en cours" not in c.get(base).text


def test_an_end_whose_access_does_not_close_says_so_in_french(
    world: PortalWorld, grader: RecordingGrader
) -> None:
    def broken_close(session: object, login: str) -> None:
        raise RuntimeError("usermod: cannot lock /etc/passwd")

    c = instructor(world, RecordingGate(), grader)
    c.app.state.portal.config.desk.gate = AccessGate(  # type: ignore[attr-defined]
        open=lambda s, login: None, close=broken_close
    )
    base = f"/instructor/session/{DAY}"
    c.post(f"{base}/start", data={"csrf": token(c)})
    answer = c.post(f"{base}/end", data={"csrf": token(c), "candidat": "paul", "confirmer": "oui"})
    assert answer.status_code == 409
    assert "L'accès de paul n'a pas pu être fermé" in html.unescape(answer.text)
    assert ClockStore(_exams(world)).clock(DAY).of("paul").ended_at is not None


def test_each_candidates_node_links_to_its_read_only_terminal(
    world: PortalWorld, gate: RecordingGate, grader: RecordingGrader
) -> None:
    page = instructor(world, gate, grader).get(f"/instructor/session/{world.session}").text
    for lab in world.labs.values():
        for node in ("dc1", "pc1"):
            assert f'href="/instructor/lab/{lab}/node/{node}/terminal"' in page
