"""Catalogue commands: list, show, validate, schema, catalog."""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Annotated

import typer
from rich.markdown import Markdown
from rich.table import Table

from tai_labs.cli.completion import block_ids, competence_ids, scenario_names
from tai_labs.cli.output import console, markup, print_json, styled
from tai_labs.errors import UsageError
from tai_labs.locations import locations
from tai_labs.referential import load_referential
from tai_labs.reports.catalogue import (
    ScenarioSummary,
    coverage,
    plugin_infos,
    scenario_json,
    scenario_summaries,
)
from tai_labs.reports.validation import junit_xml, validate_paths
from tai_labs.scenario import catalog
from tai_labs.scenario.diagnostics import display_path
from tai_labs.scenario.loader import load_scenario
from tai_labs.scenario.schema import scenario_json_schema


class Format(enum.StrEnum):
    TEXT = "text"
    JSON = "json"
    JUNIT = "junit"


class PluginKind(enum.StrEnum):
    CHECKS = "checks"
    FAULTS = "faults"
    ACTIONS = "actions"


def list_scenarios(
    block: Annotated[
        str | None,
        typer.Option(help="Only this block (CCP1, CCP2, CCP3).", autocompletion=block_ids),
    ] = None,
    competence: Annotated[
        str | None,
        typer.Option(
            help="Only scenarios assessing this competence (C1..C11).",
            autocompletion=competence_ids,
        ),
    ] = None,
    coverage: Annotated[
        bool, typer.Option("--coverage", help="Show scenarios per competence, so gaps show.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """List the scenarios of the catalogue with what they assess and whether they can run.

    A scenario is *runnable* when every grader, fault and action it uses is implemented and
    the engines its nodes need exist; otherwise the blockers are listed.
    """
    if block and block.upper() not in ("CCP1", "CCP2", "CCP3"):
        raise UsageError(f"unknown block {block!r}", hint="use CCP1, CCP2 or CCP3")
    ref = load_referential()
    if competence and competence.upper() not in {c.id for c in ref.competences}:
        raise UsageError(f"unknown competence {competence!r}", hint="use C1 to C11")
    rows = scenario_summaries(
        block.upper() if block else None, competence.upper() if competence else None
    )
    if coverage:
        _coverage(rows, as_json)
        return
    if as_json:
        print_json([r.to_dict() for r in rows])
        return
    table = Table(title=f"{len(rows)} scénario(s)", title_justify="left")
    table.add_column("id", no_wrap=True)
    for col in ("block", "competences", "title", "min", "checks", "status"):
        table.add_column(col)
    for r in rows:
        f = r.facts
        if f is None:
            status = styled("invalid") + f" ({len(r.problems)} problems)"
        elif f.draft:
            status = styled("draft", "yellow")
        elif r.runnable:
            status = styled("ok") + " runnable"
        else:
            status = styled("valid, not runnable yet", "yellow")
        table.add_row(
            r.id,
            f.block if f else "?",
            " ".join(r.competences),
            f.title if f else "",
            str(f.duration) if f else "",
            str(f.checks) if f else "",
            status,
        )
    console.print(table)
    blocked = [r for r in rows if r.valid and not r.runnable]
    if blocked:
        console.print(
            f"{len(blocked)} valid scenario(s) cannot run yet; "
            "`tai-labs list --json` lists their blockers.",
            style="dim",
        )


def _coverage(rows: list[ScenarioSummary], as_json: bool) -> None:
    cover = coverage(rows)
    if as_json:
        print_json([c.to_dict() for c in cover])
        return
    table = Table(title="Couverture du référentiel", title_justify="left")
    for col in ("block", "competence", "title", "n", "scenarios"):
        table.add_column(col)
    for c in cover:
        n = len(c.scenarios)
        count = styled(str(n), "red") if n == 0 else str(n)
        table.add_row(c.block, c.competence, c.title, count, ", ".join(c.scenarios))
    console.print(table)
    gaps = [c.competence for c in cover if not c.scenarios]
    if gaps:
        console.print(f"No scenario yet for {', '.join(gaps)}.", style="yellow")


def show(
    scenario: Annotated[
        str, typer.Argument(help="Scenario id or path.", autocompletion=scenario_names)
    ],
    candidate: Annotated[str, typer.Option(help="Render for this candidate.")] = "demo",
    seed: Annotated[int, typer.Option(help="Seed of the per-candidate variation.")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Show a scenario as a candidate would get it: brief, topology, checks and points.

    Secrets are shown as placeholders: real ones are generated per lab by `up`.
    """
    loaded = load_scenario(catalog.find(scenario), candidate=candidate, seed=seed)
    s = loaded.scenario
    ref = load_referential()
    if as_json:
        print_json(scenario_json(loaded))
        return
    meta = s.scenario
    console.rule(markup("[bold]{}[/bold]  ({})", meta.title, s.id))
    console.print(
        f"{meta.block} · {', '.join(meta.competences)} · {meta.duration} min · "
        f"{meta.difficulty.label_fr} · candidat « {candidate} », graine {seed}"
    )
    if meta.summary:
        console.print(meta.summary)
    console.rule("Énoncé")
    console.print(Markdown(loaded.render_brief()))
    console.rule("Topologie")
    nodes = Table("node", "kind", "engine", "interfaces", "description")
    for n in s.topology.nodes:
        ifaces = ", ".join(f"{i.network}:{i.address or '-'}" for i in n.interfaces)
        nodes.add_row(n.name, n.kind.value, n.effective_engine, ifaces, n.description)
    console.print(nodes)
    console.rule("Critères évalués")
    checks = Table("check", "critère", "points", "intitulé")
    for c in s.checks:
        points = f"−{c.points:g} si rompu" if c.invariant else f"{c.points:g}"
        checks.add_row(c.id, c.criterion, points, c.title)
    console.print(checks)
    console.print(f"Total : {s.total_points:g} points")
    for crit in sorted({c.criterion for c in s.checks}):
        console.print(markup("  [dim]{}[/dim] {}", crit, ref.criterion(crit).text))
    if s.faults:
        console.print(f"Pannes injectées : {', '.join(f.id for f in s.faults)}")
    if meta.jury:
        console.rule("Laissé au jury")
        console.print(meta.jury)


def validate_cmd(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(help="Scenario files or folders (default: the whole catalogue)."),
    ] = None,
    fmt: Annotated[Format, typer.Option("--format", help="Output format.")] = Format.TEXT,
) -> None:
    """Validate scenarios and report every problem as `file:line: key: what (how to fix)`.

    Each scenario is checked in every variant its `choice` variables allow. Exit code 0 when
    all are valid, 1 when any is invalid, 2 on a usage error.
    """
    results = validate_paths(paths or [locations().scenarios])
    invalid = [r for r in results if r.problems]
    if fmt is Format.JSON:
        print_json([r.to_dict() for r in results])
    elif fmt is Format.JUNIT:
        print(junit_xml(results), end="")
    else:
        for r in results:
            if r.problems:
                for d in r.problems:
                    console.print(d.format(), soft_wrap=True)
            else:
                console.print(styled("ok") + f" {display_path(r.file)}")
        problems = sum(len(r.problems) for r in invalid)
        console.print(
            f"{len(results) - len(invalid)} valid, {len(invalid)} invalid"
            + (f" ({problems} problem{'s' if problems != 1 else ''})" if problems else "")
        )
    if invalid:
        raise typer.Exit(1)


def schema(
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to this file.")
    ] = None,
) -> None:
    """Print the JSON Schema of scenario.yaml, for editors.

    With the YAML language server, put this first line in a scenario:
    `# yaml-language-server: $schema=../../../docs/scenario.schema.json`
    """
    import json

    text = json.dumps(scenario_json_schema(), ensure_ascii=False, indent=2) + "\n"
    if output:
        output.write_text(text, encoding="utf-8")
        console.print(f"wrote {output}")
    else:
        print(text, end="")


def catalog_cmd(
    kind: Annotated[PluginKind, typer.Argument(help="What to list.")] = PluginKind.CHECKS,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """List the checks, faults or actions scenarios can use, with their parameters."""
    items = plugin_infos(kind.value)
    if as_json:
        print_json([i.to_dict() for i in items])
        return
    table = Table(
        "name",
        "params",
        "summary",
        "ready",
        title=f"{len(items)} {kind.value}",
        title_justify="left",
    )
    for item in items:
        params = " ".join(n + ("" if p.required else "?") for n, p in item.params.items())
        table.add_row(
            item.name,
            params,
            item.summary,
            styled("ok") if item.implemented else styled("not yet", "dim"),
        )
    console.print(table)


def docs(
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder of the pages.")] = Path(
        "docs/scenarios"
    ),
) -> None:
    """Write a Markdown page per scenario of the catalogue, generated from its data."""
    from tai_labs.reports.scenario_doc import scenario_page

    output.mkdir(parents=True, exist_ok=True)
    files = list(catalog.iter_scenario_files())
    for file in files:
        (output / f"{file.parent.name}.md").write_text(scenario_page(file), encoding="utf-8")
    console.print(f"wrote {len(files)} pages to {output}")
