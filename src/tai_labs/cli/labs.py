"""Lab commands: up, down, ls, status, console, exec, gc."""

from __future__ import annotations

import time
from typing import Annotated

import typer
from rich.table import Table

from tai_labs.cli.completion import scenario_names
from tai_labs.cli.output import console, err_console, markup, print_json, styled
from tai_labs.lab import lifecycle, snapshots
from tai_labs.lab.access import access_details
from tai_labs.lab.runtime import open_lab
from tai_labs.lab.status import LabStatus, describe, lab_status
from tai_labs.lab.store import Store
from tai_labs.scenario import catalog


def lab_ids(incomplete: str) -> list[str]:
    try:
        return [r.id for r in Store().labs() if r.id.startswith(incomplete)]
    except Exception:  # completion must never fail loudly
        return []


def _print_status(info: LabStatus) -> None:
    console.print(
        markup(
            "[bold]lab {}[/bold] · {} · candidat « {} » · graine {} · ",
            info.id,
            info.scenario,
            info.candidate,
            info.seed,
        )
        + styled(info.status)
    )
    if info.error:
        console.print(styled(info.error, "red"))
    table = Table("node", "kind", "state", "ready", "management", "lab addresses")
    for n in info.nodes:
        table.add_row(
            n.name,
            n.kind,
            n.state,
            styled("yes", "green") if n.ready else "no",
            n.management or "-",
            ", ".join(n.addresses) or "-",
        )
    console.print(table)


def up(
    scenario: Annotated[
        str, typer.Argument(help="Scenario id or path.", autocompletion=scenario_names)
    ],
    candidate: Annotated[str, typer.Option(help="Candidate name (drives the variation).")] = "demo",
    seed: Annotated[int, typer.Option(help="Seed of the per-candidate variation.")] = 0,
    lab_id: Annotated[
        str | None, typer.Option("--lab-id", help="Use (or resume) this lab id: 6 of [a-z0-9].")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the lab as JSON when ready.")
    ] = False,
    faults: Annotated[
        bool, typer.Option("--faults/--no-faults", help="Inject the scenario's faults.")
    ] = True,
) -> None:
    """Bring a lab up: validate, build missing images, create networks and nodes, wait until
    every role is ready, run the setup steps, and print how to reach it.

    Run it again with the same `--lab-id` after an interruption and it resumes; a lab that
    failed half-way stays for inspection until `tai-labs down LAB`.
    """
    file = catalog.find(scenario)
    start = time.monotonic()
    report = (lambda event: None) if as_json else _reporter(start)
    lab = lifecycle.up(
        file, candidate=candidate, seed=seed, lab_id=lab_id, report=report, faults=faults
    )
    info = describe(lab)
    if as_json:
        print_json({**info.to_dict(), "access": access_details(lab)["nodes"]})
        return
    _print_status(info)
    console.print(f"Prêt en {time.monotonic() - start:.1f} s. Énoncé : {info.brief}")
    for name, access in access_details(lab)["nodes"].items():
        console.print(f"  {name:8} {access['console']}", soft_wrap=True)
        console.print(markup("  {:8} [dim]{}[/dim]", "", access["ssh"]), soft_wrap=True)


def down(
    lab_id: Annotated[
        str | None, typer.Argument(help="Lab id (see `tai-labs ls`).", autocompletion=lab_ids)
    ] = None,
    all_labs: Annotated[bool, typer.Option("--all", help="Remove every lab of this host.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Remove a lab: its nodes, overlays, bridges, cgroups, mounts, processes and state."""
    from tai_labs.errors import UsageError

    if bool(lab_id) == all_labs:
        raise UsageError("give a lab id or --all (not both)")
    removed = lifecycle.down_all() if all_labs else {lab_id or "": lifecycle.down(lab_id or "")}
    if as_json:
        print_json(removed)
        return
    for t, items in removed.items():
        console.print(f"lab {t}: removed {len(items)} resource(s)")


def ls(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """List the labs of this host."""
    records = Store().labs()
    if as_json:
        print_json([r.__dict__ for r in records])
        return
    table = Table("lab", "scenario", "candidate", "seed", "status", "age", title_justify="left")
    now = time.time()
    for r in records:
        table.add_row(
            r.id,
            r.scenario,
            r.candidate,
            str(r.seed),
            styled(r.status),
            f"{(now - r.created) / 60:.0f} min",
        )
    console.print(table)


def status(
    lab_id: Annotated[str, typer.Argument(help="Lab id.", autocompletion=lab_ids)],
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Show a lab's nodes: state, readiness and addresses."""
    info = lab_status(lab_id)
    if as_json:
        print_json(info.to_dict())
    else:
        _print_status(info)


def console_cmd(
    lab_id: Annotated[str, typer.Argument(help="Lab id.", autocompletion=lab_ids)],
    node: Annotated[str, typer.Argument(help="Node name, as in the scenario.")],
) -> None:
    """Open a root shell in a node (through the engine: works even if its network is broken)."""
    lab = open_lab(lab_id)
    raise typer.Exit(lab.engine.console(lab.node_plan(node).resource))


def exec_cmd(
    lab_id: Annotated[str, typer.Argument(help="Lab id.", autocompletion=lab_ids)],
    node: Annotated[str, typer.Argument(help="Node name, as in the scenario.")],
    argv: Annotated[list[str], typer.Argument(help="The command, after `--`.")],
    timeout: Annotated[float, typer.Option(help="Seconds before giving up.")] = 120.0,
) -> None:
    """Run a command in a node and exit with its exit code: `tai-labs exec LAB pc1 -- ip a`."""
    result = open_lab(lab_id).exec(node, argv, timeout=timeout)
    if result.stdout:
        typer.echo(result.stdout, nl=False)
    if result.stderr:
        typer.echo(result.stderr, nl=False, err=True)
    raise typer.Exit(result.rc)


def gc(
    failed: Annotated[
        bool,
        typer.Option("--failed", help="Also remove labs whose `up` failed or was interrupted."),
    ] = False,
    orphans: Annotated[
        bool,
        typer.Option(
            "--orphans",
            help="Also host resources of labs no folder or state row knows (only when no "
            "other tai-labs data folder is used on this host).",
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Find and remove what crashed runs left behind (everything is named after its lab)."""
    removed = lifecycle.gc(include_failed=failed, orphans=orphans)
    if as_json:
        print_json(removed)
        return
    if not removed:
        console.print("nothing to collect")
    for lab_id, items in removed.items():
        console.print(f"lab {lab_id}: removed {len(items)} resource(s)")


def _reporter(start: float) -> lifecycle.Reporter:
    def report(event: lifecycle.Event) -> None:
        who = f"{event.node}: " if event.node else ""
        err_console.print(
            markup(
                "[dim]{}s[/dim] [cyan]{}[/cyan] {}{}",
                f"{time.monotonic() - start:6.1f}",
                f"{event.step:8}",
                who,
                event.message,
            )
        )

    return report


def reset(
    lab_id: Annotated[str, typer.Argument(help="Lab id.", autocompletion=lab_ids)],
    nodes: Annotated[
        list[str] | None, typer.Argument(help="Nodes to reset (default: all of them).")
    ] = None,
) -> None:
    """Put a lab (or some of its nodes) back as the candidate got it: the exam-start point."""
    start = time.monotonic()
    snapshots.reset_lab(lab_id, nodes or (), report=_reporter(start))
    console.print(f"lab {lab_id} reset in {time.monotonic() - start:.1f} s")


def snapshot(
    lab_id: Annotated[str, typer.Argument(help="Lab id.", autocompletion=lab_ids)],
    name: Annotated[str, typer.Argument(help="Snapshot name (letters, digits, -, _).")],
) -> None:
    """Save every node of a lab under a name (for instructors: a state to come back to)."""
    start = time.monotonic()
    snapshots.snapshot_lab(lab_id, name)
    console.print(f"lab {lab_id}: snapshot {name!r} taken in {time.monotonic() - start:.1f} s")


def revert(
    lab_id: Annotated[str, typer.Argument(help="Lab id.", autocompletion=lab_ids)],
    name: Annotated[str, typer.Argument(help="Snapshot name.")],
) -> None:
    """Put every node of a lab back to a named snapshot and wait until it is ready again."""
    start = time.monotonic()
    snapshots.revert_lab(lab_id, name, report=_reporter(start))
    console.print(f"lab {lab_id}: back to {name!r} in {time.monotonic() - start:.1f} s")
