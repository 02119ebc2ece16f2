"""The jury grid as files: CSV for a spreadsheet, JSON, printable French HTML.

CSV: UTF-8 with a BOM and ``;`` between fields, decimal commas, as LibreOffice Calc and a
French Excel open without an import dialog. A missing lab reads « manquant (reason) » in its
cells, never 0. Points and maxima are separate numeric columns: ``8/8`` in a cell is a date
to a spreadsheet.
"""

from __future__ import annotations

import csv
import io
from importlib import resources

from jinja2 import Environment, StrictUndefined, select_autoescape

from tai_labs.exam.grid import CompetenceCell, Grid, GridRow, ScenarioCell


def fr_num(value: float | None) -> str:
    return "" if value is None else f"{value:g}".replace(".", ",")


def _cell(cells: tuple[CompetenceCell, ...], competence: str) -> CompetenceCell | None:
    return next((c for c in cells if c.competence == competence), None)


def header(grid: Grid) -> list[str]:
    head = ["Nom", "Prénom", "Identifiant"]
    for sc in grid.scenarios:
        for cid in grid.covers[sc.id]:
            head += [f"{sc.id} · {cid} points", f"{sc.id} · {cid} sur", f"{sc.id} · {cid}"]
        head += [f"{sc.id} · points", f"{sc.id} · sur"]
        if grid.practice:
            head.append(f"{sc.id} · indices")
    for comp in grid.competences:
        head += [f"Total · {comp.id} points", f"Total · {comp.id} sur", f"Total · {comp.id}"]
    head += ["Total points", "Total sur", "Observations"]
    return head


def _scenario_fields(grid: Grid, cell: ScenarioCell) -> list[str]:
    fields: list[str] = []
    missing = f"manquant ({cell.reason})"
    for cid in grid.covers[cell.scenario]:
        comp = _cell(cell.competences, cid)
        if cell.state == "manquante":
            fields += [missing, "", missing]
        elif comp is None:
            fields += ["", "", "non évaluée"]
        else:
            fields += [fr_num(comp.points), fr_num(comp.max_points), comp.status]
    if cell.state == "manquante":
        fields += [missing, ""]
    else:
        fields += [fr_num(cell.points), fr_num(cell.max_points)]
    if grid.practice:
        fields.append(f"-{fr_num(cell.hint_cost)}" if cell.hint_cost else "0")
    return fields


def row_fields(grid: Grid, row: GridRow) -> list[str]:
    fields = [row.nom, row.prenom, row.login]
    for cell in row.scenarios:
        fields += _scenario_fields(grid, cell)
    for comp in grid.competences:
        total = _cell(row.competences, comp.id)
        if total is None:
            fields += ["", "", "non évaluée"]
        else:
            fields += [fr_num(total.points), fr_num(total.max_points), total.status]
    notes = "; ".join(f"{c.scenario} : lab manquant ({c.reason})" for c in row.missing)
    fields += [fr_num(row.points), fr_num(row.max_points), notes]
    return fields


def to_csv(grid: Grid) -> bytes:
    """The grid as spreadsheet bytes: UTF-8 with BOM, ``;``, CRLF line ends."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(header(grid))
    for row in grid.rows:
        writer.writerow(row_fields(grid, row))
    return out.getvalue().encode("utf-8-sig")


def to_json(grid: Grid) -> str:
    return grid.model_dump_json(indent=2) + "\n"


def to_html(grid: Grid) -> str:
    """A self-contained French page (no external resource), A4 landscape, signature blocks."""
    env = Environment(
        autoescape=select_autoescape(default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["num"] = fr_num
    env.globals["cell"] = _cell
    text = resources.files("tai_labs.reports").joinpath("templates/grid.html.j2").read_text("utf-8")
    return env.from_string(text).render(g=grid)
