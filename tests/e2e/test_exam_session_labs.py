"""A real exam session of two candidates on the catalogue's smallest scenario
(``securiser-poste``: a router and a client, two containers): `session create`, slips,
`session up` (and again: nothing to do), each candidate's gateway account opened with their
slip's password on a real sshd (their own nodes, not the other's lab, not the host), one
closed (its login then fails), `session down` (nothing of it left, the record gone).

sshd: the host's configuration, run by the test on a free port of 127.0.0.1 (as in
tests/integration/test_gateway_sshd.py). Needs root, LXC, openssh-server and paramiko.
"""

from __future__ import annotations

import json
import pwd
import secrets
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from labtools import leftovers, tai

from tai_labs.exam.access import close_access, open_access
from tai_labs.exam.fleet import session_labs
from tai_labs.exam.slips import make_slips, record_slips
from tai_labs.exam.store import ExamStore
from tai_labs.lab.runtime import open_lab
from tai_labs.providers import gateway
from tai_labs.providers.cleanup import known_labs

pytestmark = pytest.mark.e2e

SCENARIO = "securiser-poste"


@dataclass
class Exam:
    name: str
    port: int
    passwords: dict[str, str]
    labs: dict[str, str]  # login -> lab id
    up_json: dict[str, Any]
    tmp: Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_port(port: int, timeout: float = 10) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise AssertionError(f"sshd did not listen on {port}")


@pytest.fixture(scope="module")
def exam(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Exam]:
    if not Path(gateway.SSHD).is_file():
        pytest.skip("needs openssh-server (apt-get install -y openssh-server)")
    pytest.importorskip("paramiko")
    tmp = tmp_path_factory.mktemp("exam")
    suffix = secrets.token_hex(2)
    name = f"i14-fleet-{suffix}"
    logins = [f"i14fleet-a{suffix}", f"i14fleet-b{suffix}"]
    roster = tmp / "classe.csv"
    roster.write_text(
        f"nom;prenom;identifiant\nMartin;Chloé;{logins[0]}\nDupont;Léo;{logins[1]}\n",
        encoding="utf-8",
    )
    sshd = None
    tai("session", "create", name, "-s", SCENARIO, "--roster", str(roster), "--duration", "1h")
    try:
        exams = ExamStore()
        slips = make_slips(exams.get(name))
        record_slips(exams, name, slips)
        passwords = {s.candidate.login: s.password for s in slips}
        up = tai("session", "up", name, "--json", timeout=1800)
        up_json = json.loads(up.stdout)
        labs = {s.login: s.lab_id for s in session_labs(name)}
        for login, lab_id in labs.items():  # which lab answers: a file only its root wrote
            open_lab(lab_id).exec("pc1", ["sh", "-c", "cat > /etc/lab-id"], input=login)
        open_access(name)
        port = _free_port()
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        sshd = subprocess.Popen(
            [gateway.SSHD, "-D", "-E", str(tmp / "sshd.log"), "-p", str(port),
             "-o", "ListenAddress=127.0.0.1", "-o", f"PidFile={tmp / 'sshd.pid'}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        _wait_port(port)
        yield Exam(name, port, passwords, labs, up_json, tmp)
    finally:
        if sshd is not None:
            sshd.terminate()
            sshd.wait(timeout=10)
        tai("session", "down", name, "--force", check=False, timeout=900)


def run_as(exam: Exam, login: str, command: str, password: str | None = None) -> tuple[int, str]:
    import paramiko

    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
    client.connect(
        "127.0.0.1",
        port=exam.port,
        username=login,
        password=password or exam.passwords[login],
        look_for_keys=False,
        allow_agent=False,
        timeout=15,
    )
    try:
        _, out, _ = client.exec_command(command, timeout=60)
        return out.channel.recv_exit_status(), out.read().decode()
    finally:
        client.close()


CONNECT = """
import socket, sys
s = socket.socket(); s.settimeout(3)
try:
    s.connect((sys.argv[1], int(sys.argv[2])))
    print("connected")
except OSError as exc:
    print("refused", exc)
"""


def connects_as(login: str, address: str, port: int) -> bool:
    proc = subprocess.run(
        ["setpriv", "--reuid", login, "--regid", login, "--init-groups",
         "/usr/bin/python3", "-I", "-c", CONNECT, address, str(port)],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    return proc.stdout.strip() == "connected"


def test_up_built_one_lab_per_candidate_and_again_is_a_no_op(exam: Exam) -> None:
    assert exam.up_json["ok"] and exam.up_json["state"] == "up"
    built = {c["login"]: [lab["status"] for lab in c["labs"]] for c in exam.up_json["candidates"]}
    assert built == {login: ["ready"] for login in exam.passwords}
    before = {lab_id: open_lab(lab_id).store.lab(lab_id).updated for lab_id in exam.labs.values()}
    again = json.loads(tai("session", "up", exam.name, "--json").stdout)
    assert again["admission"]["labs"] == 0
    assert [lab["status"] for c in again["candidates"] for lab in c["labs"]] == ["skipped"] * 2
    assert {s.lab_id for s in session_labs(exam.name)} == set(exam.labs.values())
    shown = json.loads(tai("session", "show", exam.name, "--json").stdout)["labs"]
    assert {(x["login"], x["lab"], x["status"]) for x in shown} == {
        (login, lab_id, "ready") for login, lab_id in exam.labs.items()
    }
    after = {lab_id: open_lab(lab_id).store.lab(lab_id).updated for lab_id in exam.labs.values()}
    assert after == before  # not touched
    # Built for the session: the candidate's login, their drawn seed.
    session = ExamStore().get(exam.name)
    for cand in session.candidates:
        record = open_lab(exam.labs[cand.login]).store.lab(exam.labs[cand.login])
        assert (record.candidate, record.seed) == (cand.login, cand.draw(SCENARIO).seed)


def test_each_candidate_reaches_their_own_nodes_with_the_slips_password(exam: Exam) -> None:
    a, b = exam.passwords
    assert run_as(exam, a, "pc1 cat /etc/lab-id") == (0, a)
    assert run_as(exam, b, "pc1 cat /etc/lab-id") == (0, b)
    assert run_as(exam, a, "box hostname") == (0, "box\n")
    with pytest.raises(Exception, match="Authentication failed"):
        run_as(exam, a, "pc1 id", password=exam.passwords[b])


def test_not_the_other_candidates_lab_nor_the_host(exam: Exam) -> None:
    a, b = exam.passwords
    assert run_as(exam, a, "bash")[0] == 1
    assert run_as(exam, a, "id")[0] == 1
    other = open_lab(exam.labs[b])
    own = open_lab(exam.labs[a])
    assert connects_as(a, str(own.mgmt_address("pc1")), 22)
    assert not connects_as(a, str(other.mgmt_address("pc1")), 22)
    assert not connects_as(a, "127.0.0.1", exam.port)  # the host's sshd
    assert not connects_as(a, str(own.network().host_ip), 22)


def test_after_close_access_the_login_fails_and_the_other_stays(exam: Exam) -> None:
    a, b = exam.passwords
    assert close_access(exam.name, a) == [a]
    assert close_access(exam.name, a) == []  # again: nothing to close
    with pytest.raises(KeyError):
        pwd.getpwnam(a)
    with pytest.raises(Exception, match="Authentication failed"):
        run_as(exam, a, "pc1 id")
    assert run_as(exam, b, "pc1 cat /etc/lab-id") == (0, b)
    # Opened again (an extra-time arrangement): the same password works.
    open_access(exam.name, a)
    assert run_as(exam, a, "pc1 cat /etc/lab-id") == (0, a)


def test_zz_down_leaves_nothing_and_is_safe_to_rerun(exam: Exam) -> None:
    out = json.loads(tai("session", "down", exam.name, "--json", timeout=900).stdout)
    assert out["record_removed"] and sorted(out["labs"]) == sorted(exam.labs.values())
    assert sorted(out["accounts"]) == sorted(exam.passwords)
    for login in exam.passwords:
        with pytest.raises(KeyError):
            pwd.getpwnam(login)
        assert not Path(gateway.HOMES / login).exists()
    for lab_id in exam.labs.values():
        assert leftovers(lab_id) == []
        assert lab_id not in known_labs()
    assert ExamStore().find(exam.name) is None
    again = tai("session", "down", exam.name, check=False)
    assert again.returncode == 2 and "no exam session" in again.stderr


SECOND = """\
format: 1
scenario:
  id: session-second
  title: second scenario of an épreuve (test)
  block: CCP1
  competences: [C4]
  duration: 10
topology:
  networks:
    - {name: lan, subnet: 192.168.7.0/24}
  nodes:
    - name: pc1
      kind: linux-client
      memory: 256
      interfaces: [{network: lan, address: 192.168.7.11/24}]
brief:
  text: test
checks:
  - id: marker
    title: marker file
    grader: linux.file
    target: pc1
    params: {path: /etc/second-ok}
    criterion: C4.1
    points: 1
    initially: fail
    messages: {pass: ok, fail: ko}
solution:
  steps: [{action: linux.file, target: pc1, params: {path: /etc/second-ok, content: ok}}]
"""


def test_zz_two_scenarios_one_account_reaching_both_labs(tmp_path: Path) -> None:
    """One candidate, an épreuve of two scenarios that both have a pc1: one account, one
    password, both labs' nodes (pc1-1, pc1-2, box), each through its own lab's key."""
    if not Path(gateway.SSHD).is_file():
        pytest.skip("needs openssh-server (apt-get install -y openssh-server)")
    pytest.importorskip("paramiko")
    second = tmp_path / "ccp1" / "session-second" / "scenario.yaml"
    second.parent.mkdir(parents=True)
    second.write_text(SECOND)
    suffix = secrets.token_hex(2)
    name, login = f"i14-fleet2-{suffix}", f"i14fleet-c{suffix}"
    roster = tmp_path / "classe.csv"
    roster.write_text(f"nom;prenom;identifiant\nMartin;Chloé;{login}\n", encoding="utf-8")
    tai("session", "create", name, "-s", SCENARIO, "-s", str(second), "--roster", str(roster),
        "--duration", "1h")  # fmt: skip
    sshd = None
    try:
        exams = ExamStore()
        [slip] = make_slips(exams.get(name))
        record_slips(exams, name, [slip])
        tai("session", "up", name, "--parallel", "1", timeout=1800)
        labs = {s.scenario: s.lab_id for s in session_labs(name)}
        for scenario, lab_id in labs.items():
            open_lab(lab_id).exec("pc1", ["sh", "-c", "cat > /etc/lab-id"], input=scenario)
        [opened] = open_access(name)
        assert opened.nodes == {
            "pc1-1": (SCENARIO, "pc1"),
            "box": (SCENARIO, "box"),
            "pc1-2": ("session-second", "pc1"),
        }
        port = _free_port()
        sshd = subprocess.Popen(
            [gateway.SSHD, "-D", "-E", str(tmp_path / "sshd.log"), "-p", str(port),
             "-o", "ListenAddress=127.0.0.1", "-o", f"PidFile={tmp_path / 'sshd.pid'}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        _wait_port(port)
        exam = Exam(name, port, {login: slip.password}, {}, {}, tmp_path)
        assert run_as(exam, login, "pc1-1 cat /etc/lab-id") == (0, SCENARIO)
        assert run_as(exam, login, "pc1-2 cat /etc/lab-id") == (0, "session-second")
        assert run_as(exam, login, "box hostname") == (0, "box\n")
        assert run_as(exam, login, "pc1 hostname")[0] == 1  # ambiguous: not a name of theirs
        assert close_access(name) == [login]
        with pytest.raises(KeyError):
            pwd.getpwnam(login)
    finally:
        if sshd is not None:
            sshd.terminate()
            sshd.wait(timeout=10)
        down = tai("session", "down", name, "--force", "--json", check=False, timeout=900)
    assert down.returncode == 0, down.stderr
    for lab_id in labs.values():
        assert leftovers(lab_id) == []


def test_zz_an_interrupted_up_resumes_the_same_lab(tmp_path: Path) -> None:
    """Ctrl-C during `session up` (once the lab's network exists): the lab stops, recorded
    as not ready; `session up` again finishes that very lab, no second one."""
    import signal
    import sys

    suffix = secrets.token_hex(2)
    name, login = f"i14-fleet3-{suffix}", f"i14fleet-d{suffix}"
    roster = tmp_path / "classe.csv"
    roster.write_text(f"nom;prenom;identifiant\nMartin;Chloé;{login}\n", encoding="utf-8")
    tai("session", "create", name, "-s", SCENARIO, "--roster", str(roster), "--duration", "1h")
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tai_labs", "session", "up", name],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        exams = ExamStore()
        end = time.monotonic() + 600
        lab_id = None
        while time.monotonic() < end and proc.poll() is None:
            links = exams.lab_links(name)
            lab_id = next(iter(links.values()), None)
            if lab_id and "network" in exams.store.done_steps(lab_id):
                break
            time.sleep(0.2)
        assert lab_id is not None and proc.poll() is None, "up ended before it could be stopped"
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=600)
        assert proc.returncode == 130, out
        assert exams.store.lab(lab_id).status in ("interrupted", "creating")
        assert exams.get(name).state.value == "created"
        again = json.loads(tai("session", "up", name, "--json", timeout=1800).stdout)
        [cand] = again["candidates"]
        assert [(x["lab"], x["status"]) for x in cand["labs"]] == [(lab_id, "ready")]
        assert again["state"] == "up"
        mine = [r.id for r in exams.store.labs() if r.candidate == login]
        assert mine == [lab_id]  # never a second lab
    finally:
        down = tai("session", "down", name, "--force", check=False, timeout=900)
    assert down.returncode == 0, down.stderr
    assert leftovers(lab_id) == []
