"""The `tai-labs` application: commands are registered here, errors become exit codes here."""

from __future__ import annotations

from typing import Annotated

import typer

from tai_labs import __version__
from tai_labs.cli import doctor as doctor_cmds
from tai_labs.cli import grade as grade_cmds
from tai_labs.cli import images as image_cmds
from tai_labs.cli import labs as lab_cmds
from tai_labs.cli import scenarios as scenario_cmds
from tai_labs.cli import selftest as selftest_cmds
from tai_labs.cli.output import err_console
from tai_labs.errors import TaiLabsError

app = typer.Typer(
    name="tai-labs",
    help=(
        "Build hands-on IT-support labs for the TAI title (Technicien d'assistance en "
        "informatique) and grade them against the referential.\n\n"
        "Start with `tai-labs list`, read a scenario with `tai-labs show ID`, check your own "
        "scenarios with `tai-labs validate PATH`, and this machine with `tai-labs doctor`."
    ),
    no_args_is_help=True,
    rich_markup_mode="markdown",
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        print(f"tai-labs {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    pass


app.command("list", rich_help_panel="Catalogue")(scenario_cmds.list_scenarios)
app.command("show", rich_help_panel="Catalogue")(scenario_cmds.show)
app.command("validate", rich_help_panel="Catalogue")(scenario_cmds.validate_cmd)
app.command("schema", rich_help_panel="Catalogue")(scenario_cmds.schema)
app.command("docs", rich_help_panel="Catalogue")(scenario_cmds.docs)
app.command("catalog", rich_help_panel="Catalogue")(scenario_cmds.catalog_cmd)
app.command("selftest", rich_help_panel="Catalogue")(selftest_cmds.selftest)
app.command("up", rich_help_panel="Labs")(lab_cmds.up)
app.command("ls", rich_help_panel="Labs")(lab_cmds.ls)
app.command("status", rich_help_panel="Labs")(lab_cmds.status)
app.command("console", rich_help_panel="Labs")(lab_cmds.console_cmd)
app.command("exec", rich_help_panel="Labs")(lab_cmds.exec_cmd)
app.command("brief", rich_help_panel="Labs")(grade_cmds.brief)
app.command("grade", rich_help_panel="Labs")(grade_cmds.grade)
app.command("reset", rich_help_panel="Labs")(lab_cmds.reset)
app.command("snapshot", rich_help_panel="Labs")(lab_cmds.snapshot)
app.command("revert", rich_help_panel="Labs")(lab_cmds.revert)
app.command("down", rich_help_panel="Labs")(lab_cmds.down)
app.command("gc", rich_help_panel="Host")(lab_cmds.gc)
app.command("doctor", rich_help_panel="Host")(doctor_cmds.doctor)
app.add_typer(image_cmds.app, name="image", rich_help_panel="Host")


def main() -> None:
    """Entry point: run the app, turning tai-labs errors into a message and an exit code."""
    # Click's standalone mode handles usage errors (exit 2) and --help; our own errors
    # propagate through it and are printed here, without a traceback.
    try:
        app()
    except TaiLabsError as exc:
        err_console.print(f"[red]error:[/red] {exc.message}", markup=True, highlight=False)
        if exc.hint:
            err_console.print(f"  [dim]hint:[/dim] {exc.hint}")
        raise SystemExit(exc.exit_code) from None
    except KeyboardInterrupt:
        err_console.print("interrupted")
        raise SystemExit(130) from None
