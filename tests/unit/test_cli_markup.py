"""Data is printed as it is, never read as rich markup.

A candidate called ``[/b]Alice`` (a closing tag with nothing open: rich raises MarkupError)
once crashed `tai-labs ls` for every lab of the host. The lab rows here are made directly in
a temporary store: no lab, no scenario, no root needed.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tai_labs.cli import app as cli_app
from tai_labs.cli import grade as grade_cmds
from tai_labs.cli import labs as lab_cmds
from tai_labs.errors import TaiLabsError
from tai_labs.grading.model import Verdict
from tai_labs.grading.result import CheckResult, CompetenceResult, EvidenceItem, GradeReport
from tai_labs.lab.status import LabStatus, NodeStatus
from tai_labs.lab.store import Store

#: Names and texts a candidate, a shared scenario or a node's output could carry.
HOSTILE = ["[/b]Alice", "[bold red]x", "[/]", "[link=x]y[/link]", "z\\"]

runner = CliRunner()


@pytest.fixture
def data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TAI_LABS_DATA", str(tmp_path))
    return tmp_path


def test_ls_shows_a_candidate_name_made_of_markup(data: Path) -> None:
    store = Store()
    for i, name in enumerate(HOSTILE):
        store.add_lab(f"lab00{i}", f"[red]s{i}", Path("/x"), name, i)
    store.set_status("lab000", "[/i]up")
    result = runner.invoke(cli_app.app, ["ls"])
    assert result.exit_code == 0, result.output
    for name in [*HOSTILE, "[red]s1", "[/i]up"]:
        assert name in result.output


def _status(candidate: str) -> LabStatus:
    return LabStatus(
        id="abc123",
        scenario="[b]scénario",
        candidate=candidate,
        seed=1,
        status="[/]failed",
        error="[/red] boom [x]",
        created=0.0,
        folder=Path("/d"),
        brief=Path("/d/brief.md"),
        steps=[],
        nodes=[
            NodeStatus(
                name="pc1",
                kind="linux",
                engine="container",
                resource="abc123-pc1",
                state="unknown ([/] gone)",
                ready=True,
                management="100.64.1.11/24",
                addresses=["[x]"],
            )
        ],
    )


def test_status_prints_every_field_as_it_is(data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lab_cmds, "lab_status", lambda lab_id: _status("[/b]Alice"))
    result = runner.invoke(cli_app.app, ["status", "abc123"])
    assert result.exit_code == 0, result.output
    for text in ("[/b]Alice", "[b]scénario", "[/]failed", "[/red] boom [x]", "[/] gone", "[x]"):
        assert text in result.output


def _report(candidate: str) -> GradeReport:
    started = datetime(2026, 5, 1, 8, 30, tzinfo=UTC)
    check = CheckResult(
        id="c1",
        title="[/b]t",
        grader="linux.user",
        targets=["pc1"],
        competence="C1",
        criterion="C1.1",
        criterion_text="[/]",
        verdict=Verdict.FAIL,
        points=0,
        max_points=1,
        message="[/b]message",
        why_fr="[/]",
        why_en="[/]",
        evidence=[EvidenceItem(node="pc1", transport="ssh", command="[/i]id", output="[/]")],
        seconds=0.1,
    )
    return GradeReport(
        lab="abc123",
        scenario="s",
        scenario_title="[/b]Titre",
        block="CCP1",
        candidate=candidate,
        seed=0,
        started=started,
        finished=started + timedelta(seconds=1),
        threshold=0.5,
        checks=[check],
        competences=[
            CompetenceResult(
                id="C1",
                title="[/b]Compétence",
                block="CCP1",
                points=0,
                max_points=1,
                acquired=False,
                checks=["c1"],
            )
        ],
        points=0,
        max_points=1,
    )


def test_grade_table_prints_titles_messages_and_proofs_as_they_are(
    data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(grade_cmds, "grade_lab_restarting", lambda *a, **k: _report("[/b]Alice"))
    result = runner.invoke(cli_app.app, ["grade", "abc123"])
    assert result.exit_code == 1, result.output  # one failed check
    for text in ("[/b]Titre", "[/b]Alice", "[/b]Compétence", "[/b]message", "[/i]id"):
        assert text in result.output


def test_an_error_message_made_of_markup_is_printed_as_it_is(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def failing() -> None:
        raise TaiLabsError("no candidate [/b]Alice", hint="[/i]ask [bold]them")

    monkeypatch.setattr(cli_app, "app", failing)
    monkeypatch.setattr(sys, "argv", ["tai-labs", "ls"])
    with pytest.raises(SystemExit) as info:
        cli_app.main()
    assert info.value.code == 1
    err = capsys.readouterr().err
    assert err.splitlines() == ["error: no candidate [/b]Alice", "  hint: [/i]ask [bold]them"]


def test_an_internal_error_made_of_markup_is_printed_as_it_is(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken() -> None:
        raise ValueError("[/b]")

    monkeypatch.setattr(cli_app, "app", broken)
    monkeypatch.setattr(sys, "argv", ["tai-labs", "ls"])
    monkeypatch.delenv("TAI_LABS_DEBUG", raising=False)
    with pytest.raises(SystemExit):
        cli_app.main()
    assert capsys.readouterr().err.startswith("internal error: ValueError: [/b]\n")


def test_lifecycle_events_are_printed_as_they_are(capsys: pytest.CaptureFixture[str]) -> None:
    from tai_labs.lab.lifecycle import Event

    lab_cmds._reporter(0.0)(Event("setup", "[/b] step output [x]", "pc1"))
    err = capsys.readouterr().err
    assert "pc1: [/b] step output [x]" in err
