"""Catalogue commands: list, show, validate, schema, catalog."""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markdown import Markdown
from rich.table import Table

from tai_labs.actions.base import ACTIONS
from tai_labs.cli.completion import block_ids, competence_ids, scenario_names
from tai_labs.cli.output import console, print_json, styled
from tai_labs.errors import UsageError
from tai_labs.faults.base import FAULTS
from tai_labs.grading.base import CHECKS
from tai_labs.lab.readiness import blockers
from tai_labs.locations import locations
from tai_labs.plugins import Registry
from tai_labs.referential import load_referential
from tai_labs.reports.validation import ValidationResult, junit_xml
from tai_labs.scenario import catalog
from tai_labs.scenario.diagnostics import ScenarioError, display_path
from tai_labs.scenario.loader import load_scenario, validate
from tai_labs.scenario.schema import scenario_json_schema


class Format(enum.StrEnum):
    TEXT = "text"
    JSON = "json"
    JUNIT = "junit"


class PluginKind(enum.StrEnum):
    CHECKS = "checks"
    FAULTS = "faults"
    ACTIONS = "actions"


def _summary(file: Path) -> dict[str, Any]:
    row: dict[str, Any] = {"path": display_path(file), "id": file.parent.name}
    try:
        loaded = load_scenario(file)
    except ScenarioError as exc:
        row.update(valid=False, problems=[d.as_dict() for d in exc.diagnostics], runnable=False)
        return row
    s = loaded.scenario
    missing = blockers(s)
    row.update(
        id=s.id,
        title=s.scenario.title,
        block=s.scenario.block,
        competences=s.scenario.competences,
        criteria=sorted({c.criterion for c in s.checks}),
        duration=s.scenario.duration,
        difficulty=s.scenario.difficulty.value,
        checks=len(s.checks),
        points=s.total_points,
        nodes=len(s.topology.nodes),
        valid=True,
        problems=[],
        runnable=not missing,
        blockers=missing,
        draft=s.scenario.draft,
    )
    return row


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
    rows = [_summary(f) for f in catalog.iter_scenario_files()]
    if block:
        rows = [r for r in rows if r.get("block") == block.upper()]
    if competence:
        rows = [r for r in rows if competence.upper() in r.get("competences", [])]
    if coverage:
        _coverage(rows, as_json)
        return
    if as_json:
        print_json(rows)
        return
    table = Table(title=f"{len(rows)} scénario(s)", title_justify="left")
    table.add_column("id", no_wrap=True)
    for col in ("block", "competences", "title", "min", "checks", "status"):
        table.add_column(col)
    for r in rows:
        if not r["valid"]:
            status = styled("invalid") + f" ({len(r['problems'])} problems)"
        elif r.get("draft"):
            status = "[yellow]draft[/yellow]"
        elif r["runnable"]:
            status = styled("ok") + " runnable"
        else:
            status = "[yellow]valid, not runnable yet[/yellow]"
        table.add_row(
            r["id"],
            r.get("block", "?"),
            " ".join(r.get("competences", [])),
            r.get("title", ""),
            str(r.get("duration", "")),
            str(r.get("checks", "")),
            status,
        )
    console.print(table)
    blocked = [r for r in rows if r["valid"] and not r["runnable"]]
    if blocked:
        console.print(
            f"[dim]{len(blocked)} valid scenario(s) cannot run yet; "
            "`tai-labs list --json` lists their blockers.[/dim]"
        )


def _coverage(rows: list[dict[str, Any]], as_json: bool) -> None:
    ref = load_referential()
    cover = {
        c.id: sorted(r["id"] for r in rows if c.id in r.get("competences", []))
        for c in ref.competences
    }
    if as_json:
        print_json(
            [
                {
                    "competence": c.id,
                    "block": ref.block_of(c.id).id,
                    "title": c.title,
                    "scenarios": cover[c.id],
                }
                for c in ref.competences
            ]
        )
        return
    table = Table(title="Couverture du référentiel", title_justify="left")
    for col in ("block", "competence", "title", "n", "scenarios"):
        table.add_column(col)
    for c in ref.competences:
        n = len(cover[c.id])
        count = f"[red]{n}[/red]" if n == 0 else str(n)
        table.add_row(ref.block_of(c.id).id, c.id, c.title, count, ", ".join(cover[c.id]))
    console.print(table)
    gaps = [c for c, s in cover.items() if not s]
    if gaps:
        console.print(f"[yellow]No scenario yet for {', '.join(gaps)}.[/yellow]")


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
        data = s.model_dump(mode="json", by_alias=True)
        data["variables"] = loaded.variables
        data["brief_text"] = loaded.render_brief()
        print_json(data)
        return
    meta = s.scenario
    console.rule(f"[bold]{meta.title}[/bold]  ({s.id})")
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
        nodes.add_row(n.name, n.kind.value, n.effective_engine.value, ifaces, n.description)
    console.print(nodes)
    console.rule("Critères évalués")
    checks = Table("check", "critère", "points", "intitulé")
    for c in s.checks:
        checks.add_row(c.id, c.criterion, f"{c.points:g}", c.title)
    console.print(checks)
    console.print(f"Total : {s.total_points:g} points")
    for crit in sorted({c.criterion for c in s.checks}):
        console.print(f"  [dim]{crit}[/dim] {ref.criterion(crit).text}")
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
    files: list[Path] = []
    for path in paths or [locations().scenarios]:
        if not path.exists():
            raise UsageError(f"{path}: no such file or folder")
        found = list(catalog.iter_scenario_files(path))
        if not found:
            raise UsageError(f"{path}: no scenario.yaml found")
        files.extend(found)
    results = [ValidationResult(f, validate(f)) for f in files]
    invalid = [r for r in results if r.problems]
    if fmt is Format.JSON:
        print_json(
            [
                {
                    "path": display_path(r.file),
                    "valid": not r.problems,
                    "problems": [d.as_dict() for d in r.problems],
                }
                for r in results
            ]
        )
    elif fmt is Format.JUNIT:
        print(junit_xml(results), end="")
    else:
        for r in results:
            if r.problems:
                for d in r.problems:
                    console.print(d.format(), markup=False, soft_wrap=True)
            else:
                console.print(f"{styled('ok')} {display_path(r.file)}")
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
    registries: dict[str, Registry[Any]] = {"checks": CHECKS, "faults": FAULTS, "actions": ACTIONS}
    registry = registries[kind.value]
    items = []
    for plugin in registry:
        fields = plugin.Params.model_fields
        items.append(
            {
                "name": plugin.name,
                "summary": plugin.summary,
                "node_kinds": sorted(plugin.node_kinds),
                "params": {
                    n: {"required": f.is_required(), "type": str(f.annotation)}
                    for n, f in fields.items()
                },
                "implemented": not plugin.missing_parts(),
                **({"symptom": plugin.symptom} if hasattr(plugin, "symptom") else {}),
            }
        )
    if as_json:
        print_json(items)
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
        params = " ".join(n + ("" if p["required"] else "?") for n, p in item["params"].items())
        table.add_row(
            item["name"],
            params,
            item["summary"],
            styled("ok") if item["implemented"] else "[dim]not yet[/dim]",
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
