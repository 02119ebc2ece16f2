"""`tai-labs image build|ls|rm|prune`: the root file systems lab nodes boot from."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from tai_labs.cli.output import console, err_console, print_json

app = typer.Typer(
    help="Build, list and remove node images (debootstrap recipes under images/).",
    no_args_is_help=True,
)


def _builder():  # type: ignore[no-untyped-def]
    from tai_labs.images.builder import ImageBuilder

    return ImageBuilder()


def recipe_names(incomplete: str) -> list[str]:
    try:
        return [s.name for s in _builder().list() if s.name.startswith(incomplete)]
    except Exception:  # completion must never fail loudly
        return []


@app.command("build")
def build(
    names: Annotated[
        list[str] | None,
        typer.Argument(help="Images to build (default: all).", autocompletion=recipe_names),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Rebuild even if cached.")] = False,
) -> None:
    """Build images (and their parents) that the cache lacks for their current recipe."""
    from tai_labs.images.progress import BuildProgress

    builder = _builder()
    targets = names or [s.name for s in builder.list()]
    with Progress(
        TextColumn("{task.description:<8}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TextColumn("{task.fields[step]}"),
        TimeElapsedColumn(),
        console=err_console,
    ) as bar:
        tasks: dict[str, TaskID] = {}

        def show(p: BuildProgress) -> None:
            if p.image not in tasks:
                tasks[p.image] = bar.add_task(p.image, total=100, step="")
            bar.update(tasks[p.image], completed=p.percent, step=p.step)

        for name in targets:
            builder.build(name, progress=show, force=force)


@app.command("ls")
def ls(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """List recipes and what the cache holds for each."""
    rows = [
        {
            "name": s.name,
            "parent": s.parent,
            "key": s.key,
            "built": s.built is not None,
            "path": str(s.built.path) if s.built else None,
            "stale_builds": len(s.stale),
            "description": s.description,
        }
        for s in _builder().list()
    ]
    if as_json:
        print_json(rows)
        return
    table = Table("image", "parent", "key", "cached", "description")
    for r in rows:
        cached = "[green]yes[/green]" if r["built"] else "[yellow]no[/yellow]"
        if r["stale_builds"]:
            cached += f" (+{r['stale_builds']} stale)"
        table.add_row(r["name"], r["parent"] or "-", r["key"][:12], cached, r["description"])
    console.print(table)


@app.command("rm")
def rm(
    names: Annotated[
        list[str], typer.Argument(help="Images to remove.", autocompletion=recipe_names)
    ],
) -> None:
    """Remove cached builds of images (refused while a lab uses them)."""
    builder = _builder()
    for name in names:
        for path in builder.remove(name):
            console.print(f"removed {path}")


@app.command("prune")
def prune() -> None:
    """Remove builds of older recipe versions and leftovers of interrupted builds."""
    removed = _builder().prune()
    for path in removed:
        console.print(f"removed {path}")
    if not removed:
        console.print("nothing to prune")
