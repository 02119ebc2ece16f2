"""`tai-labs doctor`: can this machine run labs, and what to do if not."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from tai_labs.cli.output import console, print_json, styled
from tai_labs.doctor import Status, run_probes


def doctor(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Check the prerequisites for running labs: root, LXC, libvirt, KVM, disk, memory...

    Each line that is not ok comes with the command that fixes it. Exit code 1 when any
    prerequisite fails (warnings do not count).
    """
    results = run_probes()
    if as_json:
        print_json([r.as_dict() for r in results])
    else:
        table = Table(
            "check",
            "needed for",
            "status",
            "detail",
            "fix",
            title="tai-labs doctor",
            title_justify="left",
        )
        for r in results:
            row = r.as_dict()
            table.add_row(
                row["name"],
                row["needed_for"],
                styled(row["status"]),
                row["detail"],
                row["fix"],
            )
        console.print(table)
    if any(r.finding.status is Status.FAIL for r in results):
        raise typer.Exit(1)
