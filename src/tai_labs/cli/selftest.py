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
from tai_labs.exam.fleet import AdmissionError, admit_at_once, host_capacity, plan_lab
from tai_labs.lab.selftest import CANDIDATE, Unit, run_selftest, selftest_plan, selftest_units
from tai_labs.reports.selftest import selftest_junit


def _admit(units: list[Unit], parallel: int) -> None:
    """As `session up`: the labs up at once must fit beside what the host runs already."""
    labs = [plan_lab(CANDIDATE, u.file.parent.name, u.file, u.seed) for u in units]
    problems = admit_at_once(labs, parallel, host_capacity()).problems()
    if problems:
        raise AdmissionError(
            f"this host cannot hold {parallel} selftest labs at once: " + "; ".join(problems),
            hint="a smaller --parallel, or free memory or disk first",
        )


def selftest(
    scenarios: Annotated[
        list[str] | None,
        typer.Argument(
            help="Scenario ids or paths (default: the catalogue).", autocompletion=scenario_names
        ),
    ] = None,
    junit: Annotated[Path | None, typer.Option("--junit", help="Write JUnit XML here.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    parallel: Annotated[
        int,
        typer.Option(
            "--parallel", "-j", min=1, help="Labs proven at once, each in its own worker thread."
        ),
    ] = 1,
) -> None:
    """Prove scenarios right on real labs, in every variant of their drawn faults.

    For each: up; grade fails exactly on the checks the faults break; the faults injected
    twice more change nothing; the reference (and alternative) solutions make every check
    pass; wrong solutions leave their checks failing; down leaves nothing. Exit code 1 on any
    mismatch. Every grading has the restart phase of `grade` (persistent checks judged again
    after a restart of their nodes), so a runtime-only fix fails as it would at the exam.

    With `--parallel N`, N labs at once (results in the catalogue's order); refused before
    any lab is made if the N largest labs together do not fit in the host's memory or disk.

        tai-labs selftest --parallel 2 --junit out/selftest.xml
    """
    plan = selftest_plan(scenarios or ())
    for file, draft in plan.drafts:
        err_console.print(f"skip {file.parent.name}: draft ({draft})")
    units = selftest_units(plan.files)
    if parallel > 1:
        _admit(units, parallel)
    started = time.monotonic()

    def say(line: str) -> None:
        # One line each, never wrapped: interleaved labs' lines each start with their lab.
        err_console.print(line, soft_wrap=True, markup=False, highlight=False)

    results = run_selftest(units, say, parallel=parallel)
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
