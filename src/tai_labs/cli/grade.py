"""`tai-labs grade LAB` and `tai-labs brief LAB`."""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from tai_labs.cli.labs import lab_ids
from tai_labs.cli.output import console, err_console, markup, styled
from tai_labs.errors import UsageError
from tai_labs.grading.model import Verdict
from tai_labs.grading.result import CheckResult, GradeReport
from tai_labs.lab.restart import grade_lab_restarting
from tai_labs.lab.runtime import open_lab
from tai_labs.reports import grading as render

VERDICT_STYLE = {
    Verdict.PASS: "green",
    Verdict.FAIL: "red",
    Verdict.ERROR: "yellow",
    Verdict.SKIPPED: "dim",
}


class Format(enum.StrEnum):
    TABLE = "table"
    JSON = "json"
    JUNIT = "junit"
    HTML = "html"


def _table(report: GradeReport) -> None:
    console.print(
        markup(
            "[bold]{}[/bold] · lab {} · candidat « {} » · {}/{} points · {} s",
            report.scenario_title,
            report.lab,
            report.candidate,
            f"{report.points:g}",
            f"{report.max_points:g}",
            f"{report.seconds:.1f}",
        )
    )
    if report.penalties:
        console.print(styled(render.penalties_fr(report.penalties), "red"))
    if report.restart is not None:
        phase = report.restart
        if phase.ran:
            said = (
                f"Redémarrage : {', '.join(phase.nodes)} redémarré(s) pour "
                f"{', '.join(phase.checks)} ({phase.seconds:g} s)"
            )
            said += ", remis dans l'état figé" if phase.restored else ""
        else:
            said = "Redémarrage : non fait"
        console.print(Text(said + (f" — {phase.note}" if phase.note else "")))
    for comp in report.competences:
        state = styled("acquise", "green") if comp.acquired else styled("non acquise", "red")
        penalty = f" ({render.penalties_fr(comp.penalties)})" if comp.penalties else ""
        title = Text(f"{comp.id} — {comp.title} : {comp.points:g}/{comp.max_points:g}{penalty}, ")
        table = Table(
            "critère",
            "contrôle",
            "verdict",
            "points",
            "message",
            "preuve",
            title=title + state,
            title_justify="left",
        )
        for check in (c for c in report.checks if c.competence == comp.id):
            style = VERDICT_STYLE[check.verdict]
            proof = check.decisive or (check.evidence[0].command if check.evidence else "")
            label = render.verdict_fr(check)
            if check.review:  # the jury decides: not credited automatically
                label += " · à apprécier par le jury"
            table.add_row(
                check.criterion,
                f"{check.id} (invariant)" if check.invariant else check.id,
                styled(label, style),
                render.points_fr(check),
                check.message,
                proof,
            )
        console.print(table)
    if report.changes is not None:
        _changes(report)


def _changes(report: GradeReport) -> None:
    """The change audit, short: one line per node; the reports (json, html) list it all."""
    assert report.changes is not None
    console.print(markup("[bold]Modifications constatées[/bold] (non notées, pour le jury)"))
    for line in report.changes.summary_fr():
        console.print(Text(f"  {line}"))


def grade(
    lab_id: Annotated[str, typer.Argument(help="Lab id.", autocompletion=lab_ids)],
    fmt: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = Format.TABLE,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the report to this file.")
    ] = None,
    only: Annotated[
        list[str] | None, typer.Option("--only", help="Run only this check (repeatable).")
    ] = None,
    threshold: Annotated[
        float,
        typer.Option(
            help="Share of a competence's points needed to mark it acquired.", min=0, max=1
        ),
    ] = 0.5,
    restart: Annotated[
        bool,
        typer.Option(
            "--restart/--no-restart",
            help="Restart the nodes of the persistent checks that pass and judge them again "
            "(a fix must survive a restart); --no-restart for a quick check of the work, "
            "whose persistent checks then say their persistence was not verified.",
        ),
    ] = True,
    audit: Annotated[
        bool,
        typer.Option(
            "--audit/--no-audit",
            help="List what else changed since exam start (never scored).",
        ),
    ] = True,
) -> None:
    """Grade a lab by looking at its real end state, and report against the referential.

    Checks run in parallel across nodes; a check whose prerequisite failed is skipped.
    Then, by default, the restart phase: the nodes of the persistent checks that passed are
    frozen, restarted once each, those checks judged again (a fix lost at the restart fails),
    and the nodes put back to their frozen end state (files; a container's memory-only
    changes are gone, as after a reboot). Every report is also kept in the lab's folder
    (grades/). Exit code: 0 all checks pass, 1 any fails or is skipped, 3 any could not be
    judged (node unreachable, timeout).
    """

    def progress(result: CheckResult) -> None:
        if fmt is Format.TABLE and output is None:
            return
        style = VERDICT_STYLE[result.verdict]
        err_console.print(styled(f"{result.verdict.value:7}", style) + f" {result.id}")

    report = grade_lab_restarting(
        lab_id,
        restart=restart,
        only=only or (),
        threshold=threshold,
        on_result=progress,
        audit=audit,
    )
    if report.restart is not None and (fmt is not Format.TABLE or output is not None):
        for check in report.checks:
            if check.after_restart is None:
                continue
            style = VERDICT_STYLE[check.verdict]
            err_console.print(
                styled(f"{check.verdict.value:7}", style)
                + f" {check.id} (après redémarrage : {check.after_restart.value})"
            )
    renderers = {
        Format.JSON: render.to_json,
        Format.JUNIT: render.to_junit,
        Format.HTML: render.to_html,
    }
    if fmt is Format.TABLE:
        if output is not None:
            raise UsageError("--output needs --format json, junit or html")
        _table(report)
    else:
        text = renderers[fmt](report)
        if output is not None:
            output.write_text(text, encoding="utf-8")
            err_console.print(f"report written to {output}")
        else:
            typer.echo(text, nl=False)
    raise typer.Exit(report.exit_code)


def brief(
    lab_id: Annotated[str, typer.Argument(help="Lab id.", autocompletion=lab_ids)],
    raw: Annotated[bool, typer.Option("--raw", help="Print the Markdown source.")] = False,
) -> None:
    """Print the candidate's brief, rendered with the lab's variables and access details."""
    from rich.markdown import Markdown

    from tai_labs.lab.access import lab_brief

    text = lab_brief(open_lab(lab_id))
    if raw:
        typer.echo(text, nl=False)
    else:
        console.print(Markdown(text))
