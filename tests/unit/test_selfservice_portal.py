"""The self-service pages over the ASGI test client (a temporary state store; builds stood in
by ``RecordingOps`` from test_selfservice.py): a practice account logs in, filters the
catalogue, asks for a lab, follows it, is refused a second one; another account gets 404 on
all of it; what counts as activity."""

from __future__ import annotations

from pathlib import Path

import pytest
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect
from test_portal_app import csrf_of, log_in
from test_selfservice import RecordingOps

from portal_world import PortalWorld
from tai_labs.exam.selfservice import Policy, SelfService
from tai_labs.lab.store import Store
from tai_labs.locations import locations
from tai_labs.portal import selfservice_pages
from tai_labs.portal.accounts import Accounts
from tai_labs.portal.app import PortalConfig, create_app
from tai_labs.portal.server import secret_key

PASSWORD = "un-mot-de-passe-long"


class Portal:
    def __init__(self, world: PortalWorld) -> None:
        self.world = world
        store = Store(locations(world.data).store)
        self.ops = RecordingOps(store)
        self.app = create_app(
            PortalConfig(
                data=world.data,
                secret_key=secret_key(world.data),
                clock=world.clock,
                selfservice=Policy(ttl=3600.0, warn_before=600.0),
                selfservice_ops=self.ops,
            )
        )
        accounts = Accounts(store)
        for name in ("lea-martin", "paul-dubois"):
            accounts.add(name, PASSWORD, role="practice")

    @property
    def service(self) -> SelfService:
        service: SelfService = self.app.state.selfservice
        return service

    def client(self, account: str) -> TestClient:
        c = TestClient(self.app, follow_redirects=False)
        answer = log_in(c, "", account, PASSWORD)
        assert answer.status_code == 303 and answer.headers["location"] == "/practice"  # type: ignore[attr-defined]
        return c


@pytest.fixture
def portal(portal_world: PortalWorld, monkeypatch: pytest.MonkeyPatch) -> Portal:
    monkeypatch.setenv("TAI_LABS_DATA", str(portal_world.data))
    return Portal(portal_world)


def start(c: TestClient, scenario: str = "securiser-poste") -> str:
    token = csrf_of(c.get("/practice").text)
    answer = c.post("/practice/start", data={"csrf": token, "scenario": scenario})
    assert answer.status_code == 303, answer.text
    return str(answer.headers["location"])


def test_the_catalogue_filters_by_block_and_competence(portal: Portal) -> None:
    c = portal.client("lea-martin")
    assert c.get("/").headers["location"] == "/practice"
    assert c.get("/lab").headers["location"] == "/practice"
    page = c.get("/practice").text
    assert 'data-scenario="securiser-poste"' in page and 'data-scenario="compte-verrouille"' in page
    assert "C4</strong>" in page and "50 min" in page  # what it assesses, its duration
    ccp1 = c.get("/practice?bloc=CCP1").text
    assert 'data-scenario="securiser-poste"' in ccp1
    assert 'data-scenario="compte-verrouille"' not in ccp1
    c6 = c.get("/practice?competence=C6").text
    assert 'data-scenario="compte-verrouille"' in c6 and 'data-scenario="securiser-poste"' not in c6


def test_a_lab_is_asked_built_and_opened(portal: Portal) -> None:
    c = portal.client("lea-martin")
    where = start(c)
    lab_id = where.rsplit("/", 1)[1]
    assert where == f"/practice/lab/{lab_id}"
    page = c.get(where)
    assert page.status_code == 200 and "en préparation" in page.text
    state = c.get(f"{where}/state").json()
    assert state["phase"] == "building" and state["expires_in"] is None
    portal.ops.finish(0)
    assert c.get(where).headers["location"] == f"/lab/{lab_id}"
    lab_page = c.get(f"/lab/{lab_id}")
    assert lab_page.status_code == 200
    assert 'id="ss-ttl"' in lab_page.text and "Entraînement" in lab_page.text
    state = c.get(f"{where}/state").json()
    assert state["phase"] == "ready" and state["expires_in"] == 3600 and not state["warning"]


def test_a_second_lab_is_refused_by_the_quota(portal: Portal) -> None:
    c = portal.client("lea-martin")
    start(c)
    assert start(c, "compte-verrouille") == "/practice?refus=quota"
    assert "Vous avez déjà 1 lab" in c.get("/practice?refus=quota").text
    assert len(portal.service.labs("lea-martin")) == 1


def test_the_queue_position_is_shown(portal: Portal) -> None:
    lea, paul = portal.client("lea-martin"), portal.client("paul-dubois")
    start(lea)  # takes the room (RecordingOps: one lab)
    where = start(paul)
    assert paul.get(f"{where}/state").json()["queue_position"] == 1
    assert "Position dans la file" in paul.get(where).text
    assert "position 1 dans la file" in paul.get("/practice").text


def test_another_account_gets_404_on_everything_of_a_lab(portal: Portal) -> None:
    lea, paul = portal.client("lea-martin"), portal.client("paul-dubois")
    where = start(lea)
    lab_id = where.rsplit("/", 1)[1]
    portal.ops.finish(0)
    token = csrf_of(paul.get("/practice").text)
    assert paul.get(where).status_code == 404
    assert paul.get(f"{where}/state").status_code == 404
    assert paul.get(f"/lab/{lab_id}").status_code == 404
    assert paul.get(f"/lab/{lab_id}/state").status_code == 404
    for action in ("keep", "remove"):
        assert paul.post(f"{where}/{action}", data={"csrf": token}).status_code == 404
    assert lab_id not in paul.get("/practice").text
    assert portal.service.find(lab_id) is not None and portal.ops.removed == []
    # nor does an exam candidate see it, nor their own pages to a practice account
    alice = TestClient(portal.app, follow_redirects=False)
    log_in(alice, portal.world.session, "alice", portal.world.passwords["alice"])
    assert alice.get(f"/lab/{lab_id}").status_code == 404
    assert alice.get("/practice").status_code == 404
    assert lea.get(f"/lab/{portal.world.labs['alice']}").status_code == 404


def test_pages_are_activity_polling_is_not(portal: Portal) -> None:
    c = portal.client("lea-martin")
    where = start(c)
    lab_id = where.rsplit("/", 1)[1]
    portal.ops.finish(0)
    portal.world.now[0] += 3100
    state = c.get(f"{where}/state").json()
    assert state["warning"] and state["expires_in"] == 500
    assert c.get(f"/lab/{lab_id}/state").status_code == 200  # the clock's poll: not activity
    assert c.get(f"{where}/state").json()["expires_in"] == 500
    assert c.get(f"/lab/{lab_id}").status_code == 200  # the page: activity
    assert c.get(f"{where}/state").json()["expires_in"] == 3600
    portal.world.now[0] += 3500
    token = csrf_of(c.get("/practice").text)
    assert c.post(f"{where}/keep", data={"csrf": token}).status_code == 303  # "je suis là"
    assert c.get(f"{where}/state").json()["expires_in"] == 3600


def test_the_owner_removes_their_lab_and_may_ask_again(portal: Portal) -> None:
    c = portal.client("lea-martin")
    where = start(c)
    lab_id = where.rsplit("/", 1)[1]
    token = csrf_of(c.get("/practice").text)
    assert c.post(f"{where}/remove", data={"csrf": token}).status_code == 409  # being built
    portal.ops.finish(0)
    assert c.post(f"{where}/remove", data={}).status_code == 403  # no CSRF token
    assert c.post(f"{where}/remove", data={"csrf": token}).headers["location"] == "/practice"
    assert portal.ops.removed == [lab_id] and portal.service.labs() == []
    assert c.get(where).status_code == 404
    start(c)


def test_an_unknown_scenario_is_404(portal: Portal) -> None:
    c = portal.client("lea-martin")
    token = csrf_of(c.get("/practice").text)
    answer = c.post("/practice/start", data={"csrf": token, "scenario": "../../etc"})
    assert answer.status_code == 404
    assert portal.service.labs() == []


def test_no_lab_path_in_the_catalogue_leaks(portal: Portal, tmp_path: Path) -> None:
    del tmp_path
    page = portal.client("lea-martin").get("/practice").text
    assert "scenario.yaml" not in page and str(portal.world.data) not in page


def test_terminal_keystrokes_are_activity_a_refused_socket_is_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from starlette.applications import Starlette
    from starlette.routing import WebSocketRoute
    from starlette.websockets import WebSocket
    from test_selfservice import World

    world = World(tmp_path, monkeypatch, ttl=3600.0)
    lab = world.ask("alice")
    world.service.tick()
    world.ops.finish(0)

    async def terminal(websocket: WebSocket) -> None:
        if websocket.path_params["node"] != "pc1":  # as the terminal refuses: before accepting
            await websocket.close(code=1008)
            return
        await websocket.accept()
        while (await websocket.receive())["type"] != "websocket.disconnect":
            await websocket.send_text("ok")

    app = Starlette(routes=[WebSocketRoute("/lab/{lab}/node/{node}/terminal/ws", terminal)])
    app.add_middleware(selfservice_pages.Activity, service=world.service)
    before = world.service.find(lab.lab_id).last_active  # type: ignore[union-attr]
    world.now[0] += 100
    with TestClient(app) as c, c.websocket_connect(f"/lab/{lab.lab_id}/node/pc1/terminal/ws") as ws:
        ws.send_text('{"type": "resize", "cols": 80, "rows": 24}')  # not a keystroke
        assert ws.receive_text() == "ok"
        assert world.service.find(lab.lab_id).last_active == before  # type: ignore[union-attr]
        ws.send_bytes(b"ls\r")
        assert ws.receive_text() == "ok"
    assert world.service.find(lab.lab_id).last_active == before + 100  # type: ignore[union-attr]
    world.now[0] += 100
    with (
        pytest.raises(WebSocketDisconnect),
        TestClient(app) as c,
        c.websocket_connect(f"/lab/{lab.lab_id}/node/dc1/terminal/ws") as ws,
    ):
        ws.send_bytes(b"ls\r")
        ws.receive_text()
    assert world.service.find(lab.lab_id).last_active == before + 100  # type: ignore[union-attr]
