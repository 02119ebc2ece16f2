"""`session report`, `session export` and the practice commands, on a session in a temporary
state store whose labs' grades are written where grading writes them (no lab runs)."""

from __future__ import annotations

import csv
import io
import json
import stat
import tarfile
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tai_labs.cli.app import app
from tai_labs.errors import TaiLabsError
from tai_labs.exam.model import Session
from tai_labs.exam.practice import (
    NOT_JUDGED_FR,
    Attempt,
    HintTaken,
    PracticeOnlyError,
    PracticeRecord,
    _updating,
    candidate_feedback,
    check_work,
    read_record,
    record_path,
    reset_work,
    reveal_hint,
)
from tai_labs.exam.store import ExamStore
from tai_labs.grading.model import Verdict
from tai_labs.grading.result import CheckResult, CompetenceResult, EvidenceItem, GradeReport
from tai_labs.lab.grading import record_grade
from tai_labs.lab.runtime import lab_folder
from tai_labs.lab.secrets import LabSecrets
from tai_labs.lab.store import Store
from tai_labs.reports.session import candidate_report_html
from tai_labs.scenario.model import Messages

ROSTER = "nom;prenom\nDurand;Alice\nN'Diaye;Bruno\nMartin;Chloé\n"
WHEN = datetime(2027, 1, 12, 11, 0, tzinfo=UTC)
SECRET = "Tmp-S3cret-Value"


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TAI_LABS_DATA", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "roster.csv").write_text(ROSTER, encoding="utf-8")
    return tmp_path


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    if isinstance(result.exception, TaiLabsError):
        return result.exception.exit_code, result.stdout, result.exception.message
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, ""


def create(name: str, *extra: str) -> Session:
    code, out, err = run(
        "session", "create", name, "-s", "compte-verrouille", "--roster", "roster.csv", *extra
    )
    assert code == 0, (out, err)
    return ExamStore().get(name)


def graded_report(lab: str, login: str, points: float) -> GradeReport:
    check = CheckResult(
        id="unlocked",
        title="Le compte est déverrouillé",
        grader="ad.user",
        targets=["dc1"],
        competence="C6",
        criterion="C6.4",
        criterion_text="x",
        verdict=Verdict.PASS if points else Verdict.FAIL,
        points=points,
        max_points=3,
        message="Le compte n'est plus verrouillé.",
        why_fr="",
        why_en="",
        evidence=[
            EvidenceItem(node="dc1", transport="ldap", command="show", output=f"pw {SECRET}")
        ],
        seconds=0.1,
    )
    comp = CompetenceResult(
        id="C6",
        title="C6",
        block="CCP2",
        points=points,
        max_points=3,
        acquired=points >= 1.5,
        checks=["unlocked"],
    )
    return GradeReport(
        lab=lab,
        scenario="compte-verrouille",
        scenario_title="Compte verrouillé",
        block="CCP2",
        candidate=login,
        seed=0,
        started=WHEN,
        finished=WHEN,
        threshold=0.5,
        checks=[check],
        competences=[comp],
        points=points,
        max_points=3,
    )


def add_lab(session: Session, index: int, lab_id: str, points: float | None) -> None:
    """The candidate's lab, as `up` records it; graded (``points``) or not (None)."""
    cand = session.candidates[index]
    store = Store()
    seed = cand.draw("compte-verrouille").seed
    store.add_lab(lab_id, "compte-verrouille", Path("/x/scenario.yaml"), cand.login, seed)
    store.set_status(lab_id, "ready")
    secrets = LabSecrets(lab_folder(lab_id))
    secrets._write({"temp_password": SECRET, "admin": "Adm1n-Pass-Word"})
    if points is not None:
        record_grade(_Lab(lab_id), graded_report(lab_id, cand.login, points))  # type: ignore[arg-type]


class _Lab:
    """What ``record_grade`` reads of a lab: its id and folder."""

    def __init__(self, lab_id: str) -> None:
        self.id = lab_id
        self.folder = lab_folder(lab_id)


def test_report_and_export_of_an_exam(env: Path) -> None:
    session = create("ccp2-jan", "--duration", "2h")
    add_lab(session, 0, "aaaaa1", 3)  # fixed
    add_lab(session, 1, "bbbbb2", None)  # lab up, never graded
    # the third candidate has no lab at all

    code, out, err = run("session", "report", "ccp2-jan", "-f", "csv", "-o", "grille.csv")
    assert code == 0, (out, err)
    data = (env / "grille.csv").read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    assert stat.S_IMODE((env / "grille.csv").stat().st_mode) == 0o600
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig")), delimiter=";"))
    by_login = {r[2]: dict(zip(rows[0], r, strict=True)) for r in rows[1:]}
    logins = [c.login for c in session.candidates]
    assert by_login[logins[0]]["Total · C6"] == "acquise"
    assert by_login[logins[0]]["Total points"] == "3"
    assert by_login[logins[1]]["compte-verrouille · points"] == "manquant (lab non noté)"
    assert by_login[logins[2]]["compte-verrouille · points"] == "manquant (lab absent)"

    code, out, err = run("session", "report", "ccp2-jan", "--candidates", "rapports.zip")
    assert code == 0, (out, err)
    assert "Grille du jury" in out
    names = zipfile.ZipFile(env / "rapports.zip").namelist()
    assert f"candidats/{logins[0]}/compte-verrouille.html" in names
    assert f"candidats/{logins[1]}/compte-verrouille.manquant.html" in names

    code, out, err = run("session", "export", "ccp2-jan", "-o", "jury.tar.gz")
    assert code == 0, (out, err)
    archive = env / "jury.tar.gz"
    assert stat.S_IMODE(archive.stat().st_mode) == 0o600
    with tarfile.open(archive) as tar:
        members = {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}  # type: ignore[union-attr]
    assert {"ccp2-jan/grille.csv", "ccp2-jan/grille.html", "ccp2-jan/session.json"} <= set(members)
    assert f"ccp2-jan/candidats/{logins[0]}/compte-verrouille.json" in members
    blob = b"\n".join(members.values())
    # No secret: no password hash, no draw key, no lab secret, no key.
    assert b"scrypt$" not in blob and b"draw_key" not in blob
    assert SECRET.encode() not in blob and b"Adm1n-Pass-Word" not in blob
    assert b"PRIVATE KEY" not in blob
    assert b"[secret]" in members[f"ccp2-jan/candidats/{logins[0]}/compte-verrouille.json"]
    assert b'"lab": "aaaaa1"' in members["ccp2-jan/session.json"]


def test_export_after_slips_holds_no_password_hash(env: Path) -> None:
    session = create("ccp2-jan", "--duration", "2h")
    add_lab(session, 0, "aaaaa1", 3)
    assert run("session", "slips", "ccp2-jan", "-o", "billets.html")[0] == 0
    assert run("session", "export", "ccp2-jan", "-o", "jury.zip")[0] == 0
    with zipfile.ZipFile(env / "jury.zip") as archive:
        blob = b"".join(archive.read(n) for n in archive.namelist())
    assert b"scrypt$" not in blob and SECRET.encode() not in blob


def test_practice_is_refused_for_an_exam(env: Path) -> None:
    session = create("ccp2-jan", "--duration", "2h")
    login = session.candidates[0].login
    for call in (check_work, reveal_hint, reset_work):
        with pytest.raises(PracticeOnlyError, match="exam session"):
            call("ccp2-jan", login)
    for command in ("check", "hint", "reset"):
        code, _, err = run("session", command, "ccp2-jan", "--candidate", login)
        assert code == 2 and "practice sessions only" in err, (command, err)


def test_practice_for_a_stranger_or_without_lab_is_refused(env: Path) -> None:
    session = create("pratique", "--practice")
    with pytest.raises(TaiLabsError, match="no candidate"):
        check_work("pratique", "nobody-here")
    with pytest.raises(TaiLabsError, match="has no lab"):
        reveal_hint("pratique", session.candidates[0].login)


def test_candidate_report_shows_practice_and_deducts_hint_cost() -> None:
    report = graded_report("aaaaa1", "alice-durand", 3)
    record = PracticeRecord(
        session="pratique",
        login="alice-durand",
        attempts=(
            Attempt(
                at=WHEN,
                scenario="compte-verrouille",
                lab="aaaaa1",
                points=0,
                max_points=3,
                passed=0,
                total=1,
            ),
        ),
        hints=(
            HintTaken(at=WHEN, scenario="compte-verrouille", number=1, cost=1),
            HintTaken(at=WHEN, scenario="autre", number=1, cost=5),
        ),
    )
    page = candidate_report_html(report, record)
    assert "Vérifications demandées (1)" in page
    assert "Indices lus (1)" in page  # only this scenario's
    assert "Note après indices : 2 / 3" in page
    assert page.rstrip().endswith("</html>")


def test_candidate_feedback_holds_no_evidence_nor_reason() -> None:
    base = graded_report("aaaaa1", "alice-durand", 0)
    failed = base.checks[0].model_copy(
        update={"why_fr": "lockoutTime=133 lu par ldap", "decisive": "lockoutTime"}
    )
    error = failed.model_copy(
        update={"id": "member", "verdict": Verdict.ERROR, "message": "ldap timeout 10.0.3.2"}
    )
    skipped = failed.model_copy(update={"id": "same-ou", "verdict": Verdict.SKIPPED})
    report = base.model_copy(update={"checks": [failed, error, skipped]})
    messages = {
        cid: Messages.model_validate({"pass": "ok", "fail": f"{cid} : pas encore"})
        for cid in ("unlocked", "member", "same-ou")
    }
    got = candidate_feedback(report, messages)
    assert [(f.id, f.verdict, f.message) for f in got] == [
        ("unlocked", Verdict.FAIL, "unlocked : pas encore"),
        ("member", Verdict.ERROR, NOT_JUDGED_FR[Verdict.ERROR]),
        ("same-ou", Verdict.SKIPPED, NOT_JUDGED_FR[Verdict.SKIPPED]),
    ]
    dumped = json.dumps([f.model_dump(mode="json") for f in got])
    for leak in (SECRET, "lockoutTime", "10.0.3.2", "ldap", "dc1"):
        assert leak not in dumped


def _append_hint(data: str, index: int) -> None:
    import os

    os.environ["TAI_LABS_DATA"] = data
    with _updating("pratique", "alice-durand") as box:
        entry = HintTaken(at=WHEN, scenario="s", number=index + 1, cost=1)
        box[0] = box[0].model_copy(update={"hints": (*box[0].hints, entry)})


def test_the_practice_record_counts_every_concurrent_writer(env: Path) -> None:
    import multiprocessing

    data = str(env / "data")
    procs = [multiprocessing.Process(target=_append_hint, args=(data, i)) for i in range(8)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(30)
    assert all(p.exitcode == 0 for p in procs)
    record = read_record("pratique", "alice-durand")
    assert sorted(h.number for h in record.hints) == list(range(1, 9))
    assert record.hint_cost("s") == 8
    assert stat.S_IMODE(record_path("pratique", "alice-durand").stat().st_mode) == 0o600
