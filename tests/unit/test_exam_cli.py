"""`tai-labs session …` through typer's runner: the instructor's commands, and bad input that
changes nothing."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tai_labs.cli.app import app
from tai_labs.errors import TaiLabsError
from tai_labs.exam.store import ExamStore

ROSTER = (
    "\ufeffNom;Prénom;Identifiant;Email\n"
    "Martin;Chloé;;chloe@cfa.fr\nDurand;Paul;pdurand;\nRoux;Léa;;\n"
)
PASSWORD = re.compile(r"[a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{4}")


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TAI_LABS_DATA", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "roster.csv").write_text(ROSTER, encoding="utf-8")
    return tmp_path


def run(*args: str) -> tuple[int, str, BaseException | None]:
    result = CliRunner().invoke(app, list(args))
    error = result.exception if isinstance(result.exception, TaiLabsError) else None
    if (
        result.exception is not None
        and error is None
        and not isinstance(result.exception, SystemExit)
    ):
        raise result.exception
    code = error.exit_code if error is not None else result.exit_code
    return code, result.stdout, error


def create(*extra: str, name: str = "ccp2-jan") -> tuple[int, str, BaseException | None]:
    return run(
        "session", "create", name, "-s", "compte-verrouille", "-s", "vlan-comptabilite",
        "--roster", "roster.csv", "--duration", "2h", *extra,
    )  # fmt: skip


def sessions() -> list[str]:
    return ExamStore().names()


def test_create_ls_show_slips_rm(env: Path) -> None:
    code, out, _ = create("--start", "2099-01-12 09:00", "--json")
    assert code == 0
    created = json.loads(out)
    assert [c["login"] for c in created["candidates"]] == ["chloe-martin", "pdurand", "lea-roux"]
    assert created["duration"] == 120 and created["block"] == "CCP2"
    assert created["start"].startswith("2099-01-12T")

    code, out, _ = run("session", "ls", "--json")
    (listed,) = json.loads(out)
    assert (
        listed["name"] == "ccp2-jan" and listed["candidates"] == 3 and listed["state"] == "created"
    )

    code, out, _ = run("session", "show", "ccp2-jan", "--json")
    shown = json.loads(out)
    for cand in shown["candidates"]:
        assert {d["scenario"] for d in cand["draws"]} == {"compte-verrouille", "vlan-comptabilite"}
        assert cand["password_issued"] is None
    assert "hash" not in out and 'password"' not in out

    code, out, _ = run("session", "slips", "ccp2-jan", "-o", "billets.html")
    assert code == 0, out
    page = (env / "billets.html").read_text(encoding="utf-8")
    assert stat.S_IMODE((env / "billets.html").stat().st_mode) == 0o600
    passwords = PASSWORD.findall(page)
    assert len(passwords) == 3 and len(set(passwords)) == 3
    assert "Chloé" in page and "pdurand" in page and "Mot de passe" in page
    assert "http" not in page.replace("http-equiv", "")  # no external asset: works offline
    exams = ExamStore()
    for login, password in zip(["chloe-martin", "pdurand", "lea-roux"], passwords, strict=True):
        assert exams.check_password("ccp2-jan", login, password)

    code, out, _ = run("session", "show", "ccp2-jan")
    assert code == 0 and "chloe-martin" in out and "graine" in out
    assert not any(p in out for p in passwords)
    shown = json.loads(run("session", "show", "ccp2-jan", "--json")[1])
    assert all(c["password_issued"] for c in shown["candidates"])

    # printed once: a second run would void the printed slips, so it asks to say so
    code, _, error = run("session", "slips", "ccp2-jan", "-o", "again.html")
    assert code == 2 and "made already" in str(error) and not (env / "again.html").exists()
    # one lost slip: only that candidate's password changes
    code, _, _ = run("session", "slips", "ccp2-jan", "-c", "pdurand", "-o", "one.html")
    assert code == 0
    (new,) = PASSWORD.findall((env / "one.html").read_text(encoding="utf-8"))
    assert exams.check_password("ccp2-jan", "pdurand", new)
    assert not exams.check_password("ccp2-jan", "pdurand", passwords[1])
    assert exams.check_password("ccp2-jan", "chloe-martin", passwords[0])
    code, _, _ = run("session", "slips", "ccp2-jan", "--again", "-o", "all.html")
    assert code == 0 and not exams.check_password("ccp2-jan", "chloe-martin", passwords[0])

    code, out, _ = run("session", "rm", "ccp2-jan")
    assert code == 0 and sessions() == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("-s", "no-such-scenario", "--duration", "2h"), "no scenario 'no-such-scenario'"),
        (
            ("-s", "compte-verrouille", "-s", "ajout-disque-donnees", "--duration", "2h"),
            "which block",
        ),
        (
            (
                "-s",
                "compte-verrouille",
                "-s",
                "ajout-disque-donnees",
                "--block",
                "CCP2",
                "--duration",
                "2h",
            ),
            "ajout-disque-donnees not in CCP2",
        ),
        (("-s", "compte-verrouille", "--duration", "0"), "is zero"),
        (("-s", "compte-verrouille", "--duration", "0h"), "is zero"),
        (("-s", "compte-verrouille", "--duration", "deux heures"), "invalid duration"),
        (("-s", "compte-verrouille", "--duration", "20h"), "more than 12 hours"),
        (("-s", "compte-verrouille"), "needs --duration"),
        (
            ("-s", "compte-verrouille", "--duration", "2h", "--start", "2001-01-01 09:00"),
            "in the past",
        ),
        (("-s", "compte-verrouille", "--duration", "2h", "--start", "demain"), "invalid start"),
        (("-s", "compte-verrouille", "-s", "compte-verrouille", "--duration", "2h"), "named twice"),
        (("-s", "compte-verrouille", "--duration", "2h", "--block", "CCP9"), "unknown block"),
    ],
)
def test_bad_input_is_refused_and_creates_nothing(
    env: Path, args: tuple[str, ...], message: str
) -> None:
    code, _, error = run("session", "create", "bad", "--roster", "roster.csv", *args)
    assert code == 2 and error is not None and message in str(error), error
    assert sessions() == []


def test_bad_roster_lists_every_line_unwrapped_and_creates_nothing(env: Path) -> None:
    (env / "roster.csv").write_text(
        "nom;prenom;identifiant\nMartin;Jean;jmartin\nDurand;Paul;jmartin\n;Léa;\n"
        "Roux;[/b]Zoé-Marie-Éléonore-Anne-Sophie;\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(
        app, ["session", "create", "x", "-s", "compte-verrouille", "--roster", "roster.csv",
              "--duration", "2h"],
    )  # fmt: skip
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert lines[0] == "error: the roster has 3 problems:"
    assert lines[1] == (
        "roster.csv:3: identifiant 'jmartin' already on line 2 (give each candidate their own)"
    )
    assert lines[2] == "roster.csv:4: nom is empty (fill it in or remove the line)"
    assert lines[3].startswith("roster.csv:5: prenom '[/b]Zoé") and lines[3].endswith("only)")
    assert "nothing was created" in lines[4]
    assert sessions() == []


def test_an_existing_name_is_refused_and_kept(env: Path) -> None:
    assert create()[0] == 0
    before = ExamStore().get("ccp2-jan")
    (env / "roster.csv").write_text("nom;prenom\nAutre;Personne\n", encoding="utf-8")
    code, _, error = create()
    assert code == 2 and "exists already" in str(error)
    assert ExamStore().get("ccp2-jan") == before


def test_invalid_session_name_is_refused(env: Path) -> None:
    code, _, error = create(name="../etc")
    assert code == 2 and "invalid session name" in str(error) and sessions() == []


def test_mixed_block_and_practice_sessions(env: Path) -> None:
    code, out, _ = run(
        "session", "create", "mixte", "-s", "compte-verrouille", "-s", "ajout-disque-donnees",
        "--block", "CCP2", "--mixed", "--roster", "roster.csv", "--duration", "3h", "--json",
    )  # fmt: skip
    assert code == 0 and json.loads(out)["mixed"] is True
    code, out, _ = run(
        "session", "create", "entrainement", "-s", "compte-verrouille", "--practice",
        "--roster", "roster.csv", "--json",
    )  # fmt: skip
    assert code == 0
    practice = json.loads(out)
    assert practice["practice"] is True and practice["duration"] is None
    assert sessions() == ["mixte", "entrainement"]


def test_show_and_rm_of_an_unknown_session(env: Path) -> None:
    assert run("session", "show", "nope")[0] == 2
    assert run("session", "rm", "nope")[0] == 2
    assert run("session", "slips", "nope")[0] == 2


def test_help_teaches_with_an_example() -> None:
    out = CliRunner().invoke(app, ["session", "create", "--help"]).stdout
    assert "Example" in out and "--roster" in out and "classe.csv" in out
    out = CliRunner().invoke(app, ["session", "slips", "--help"]).stdout
    assert "--again" in out and "0600" in out


def test_a_draft_scenario_is_refused_for_an_exam_and_taken_for_practice(
    env: Path, repo_root: Path
) -> None:
    catalogue = env / "catalogue"
    shutil.copytree(repo_root / "scenarios" / "_topologies", catalogue / "_topologies")
    draft = catalogue / "ccp2" / "brouillon"
    shutil.copytree(repo_root / "scenarios" / "ccp2" / "dhcp-bureau", draft)
    text = (draft / "scenario.yaml").read_text(encoding="utf-8")
    text = text.replace("  id: dhcp-bureau\n", "  id: brouillon\n  draft: vérifs à écrire\n")
    (draft / "scenario.yaml").write_text(text, encoding="utf-8")
    args = ("-s", str(draft), "--roster", "roster.csv", "--duration", "1h")
    code, _, error = run("session", "create", "examen", *args)
    assert code == 2 and "draft scenario not ready for exams: brouillon (vérifs à écrire)" in str(
        error
    )
    assert sessions() == []
    assert run("session", "create", "essai", *args, "--practice")[0] == 0
    assert sessions() == ["essai"]


def test_show_commands_build_each_candidates_variant(env: Path) -> None:
    assert create()[0] == 0
    session = ExamStore().get("ccp2-jan")
    code, out, _ = run("session", "show", "ccp2-jan", "--commands")
    lines = out.splitlines()
    assert code == 0 and len(lines) == 3 * 2
    first = shlex.split(lines[0])
    draw = session.candidates[0].draw("compte-verrouille")
    assert first[:2] == ["tai-labs", "up"] and first[2].endswith("compte-verrouille/scenario.yaml")
    assert first[3:] == ["--candidate", "chloe-martin", "--seed", str(draw.seed)]
