"""The `tai-labs` application: commands are registered here, errors become exit codes here."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from typing import Annotated, Any

import typer

from tai_labs import __version__, names
from tai_labs.cli import access as access_cmds
from tai_labs.cli import doctor as doctor_cmds
from tai_labs.cli import exam as exam_cmds
from tai_labs.cli import grade as grade_cmds
from tai_labs.cli import images as image_cmds
from tai_labs.cli import labs as lab_cmds
from tai_labs.cli import portal as portal_cmds
from tai_labs.cli import scenarios as scenario_cmds
from tai_labs.cli import selftest as selftest_cmds
from tai_labs.cli.output import err_console, markup, show_library_warnings
from tai_labs.errors import TaiLabsError

#: Command parameters that name something, and the check each gets before the command runs.
_NAME_CHECKS: dict[str, Callable[[str], str]] = {
    "lab_id": names.lab_id,
    "node": names.node_name,
    "nodes": names.node_name,
    "candidate": names.candidate_name,
    "name": names.snapshot_name,
}

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


def _debug(value: bool) -> None:
    if value:
        os.environ["TAI_LABS_DEBUG"] = "1"


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
    debug: Annotated[
        bool,
        typer.Option(
            "--debug", callback=_debug, is_eager=True, help="Show tracebacks of internal errors."
        ),
    ] = False,
) -> None:
    show_library_warnings()


def _names_checked(command: Callable[..., Any]) -> Callable[..., Any]:
    """Check the lab ids and names a command gets before it runs (see ``tai_labs.names``)."""

    @functools.wraps(command)
    def checked(**kwargs: Any) -> Any:
        for param, check in _NAME_CHECKS.items():
            value = kwargs.get(param)
            for item in value if isinstance(value, list) else [value]:
                if isinstance(item, str):
                    check(item)
        return command(**kwargs)

    return checked


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
app.add_typer(exam_cmds.app, name="session", rich_help_panel="Exams")
app.add_typer(access_cmds.app, name="access", rich_help_panel="Labs")
app.add_typer(portal_cmds.app, name="serve", rich_help_panel="Portal")
for _info in app.registered_commands:
    if _info.callback is not None:
        _info.callback = _names_checked(_info.callback)


def main() -> None:
    """Entry point: run the app, turning tai-labs errors into a message and an exit code."""
    # Click's standalone mode handles usage errors (exit 2) and --help; our own errors
    # propagate through it and are printed here, without a traceback.
    try:
        app()
    except TaiLabsError as exc:
        err_console.print(markup("[red]error:[/red] {}", exc.message))
        if exc.hint:
            err_console.print(markup("  [dim]hint:[/dim] {}", exc.hint))
        raise SystemExit(exc.exit_code) from None
    except KeyboardInterrupt:
        err_console.print("interrupted")
        raise SystemExit(130) from None
    except Exception as exc:
        # A bug of ours, not a problem of the user's input: one line and how to report it.
        if os.environ.get("TAI_LABS_DEBUG") or "--debug" in sys.argv[1:]:
            raise
        err_console.print(
            markup("[red]internal error:[/red] {}: {}", type(exc).__name__, exc),
            soft_wrap=True,
        )
        err_console.print(
            markup(
                "  [dim]hint:[/dim] this is a bug in tai-labs; run again with --debug for the "
                "traceback and report it with the command you ran"
            )
        )
        raise SystemExit(70) from None
