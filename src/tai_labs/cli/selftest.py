"""`tai-labs selftest`: prove scenarios right on real labs (every variant)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from tai_labs.cli.completion import scenario_names
from tai_labs.cli.output import console, err_console, print_json, styled
from tai_labs.lab.selftest import run_selftest, selftest_plan
from tai_labs.reports.selftest import selftest_junit


def selftest(
    scenarios: Annotated[
        list[str] | None,
        typer.Argument(
            help="Scenario ids or paths (default: the catalogue).", autocompletion=scenario_names
        ),
    ] = None,
    junit: Annotated[Path | None, typer.Option("--junit", help="Write JUnit XML here.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Prove scenarios right on real labs, in every variant of their drawn faults.

    For each: up; grade fails exactly on the checks the faults break; the faults injected
    twice more change nothing; the reference (and alternative) solutions make every check
    pass; wrong solutions leave their checks failing; down leaves nothing. Exit code 1 on any
    mismatch. Every grading has the restart phase of `grade` (persistent checks judged again
    after a restart of their nodes), so a runtime-only fix fails as it would at the exam.
    """
    plan = selftest_plan(scenarios or ())
    for file, draft in plan.drafts:
        err_console.print(f"skip {file.parent.name}: draft ({draft})")
    started = time.monotonic()
    results = run_selftest(plan.files, err_console.print)
    if junit:
        junit.write_text(selftest_junit(results), encoding="utf-8")
    if as_json:
        print_json([r.to_dict() for r in results])
    else:
        table = Table(
            "scenario",
            "variant",
            "phases",
            "time",
            "result",
            title=f"selftest: {len(results)} lab(s) in {time.monotonic() - started:.0f} s",
            title_justify="left",
        )
        for r in results:
            phases = Text(" ").join(styled(p.name, "green" if p.ok else "red") for p in r.phases)
            table.add_row(
                r.scenario,
                str(r.variant or ""),
                phases,
                f"{r.seconds:.0f} s",
                styled("ok", "green") if r.ok else styled("FAIL", "red"),
            )
        console.print(table)
    failed = sum(1 for r in results if not r.ok)
    # A plain closing line CI systems read: one per lab variant proven.
    print(f"selftest: {len(results) - failed} passed, {failed} failed")
    if failed:
        raise typer.Exit(1)
