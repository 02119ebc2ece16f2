"""A session's files for the jury: the grid, each candidate's reports, and the archive.

Each candidate's report of a scenario is the existing jury report (``reports.grading``),
plus, in a practice session, what the candidate did (checks run, hints read with their
cost, resets). ``export`` puts all of it, the evidence (each grade's JSON) and the labs'
frozen-state metadata in one tar.gz the jury can keep: no password hash, no lab key; any
lab secret value a command printed into the evidence is blanked.
"""

from __future__ import annotations

import io
import json
import tarfile
import zipfile
from collections.abc import Mapping
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any

from jinja2 import Environment, StrictUndefined, select_autoescape
from markupsafe import Markup

from tai_labs.exam.grid import Grid, MissingLab, Outcome
from tai_labs.exam.model import Session
from tai_labs.exam.practice import PracticeRecord
from tai_labs.grading.result import GradeReport
from tai_labs.lab.runtime import lab_folder
from tai_labs.lab.secrets import LabSecrets
from tai_labs.lab.store import LabRecord, Store
from tai_labs.private_files import PRIVATE_FILE, private_folder, write_private
from tai_labs.reports import grading
from tai_labs.reports import grid as grid_render

Files = dict[str, bytes]

#: Lab secrets shorter than this are not blanked: a 3-letter value would blank common words.
_MIN_SECRET = 6


def practice_html(record: PracticeRecord) -> str:
    """The practice section of a candidate's report, French, to sit in the jury report."""
    env = Environment(
        autoescape=select_autoescape(default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["num"] = grid_render.fr_num
    env.filters["fr_date"] = lambda d: d.astimezone().strftime("%d/%m/%Y %H:%M:%S")
    folder = resources.files("tai_labs.reports").joinpath("templates")
    source = folder.joinpath("practice.html.j2").read_text("utf-8")
    return env.from_string(source).render(p=record)


def candidate_report_html(report: GradeReport, practice: PracticeRecord | None) -> str:
    """The jury report of one lab; with the practice record (hint cost deducted) if any."""
    page = grading.to_html(report)
    if practice is None:
        return page
    section = Markup(practice_html(practice.of(report.scenario)))
    cost = practice.hint_cost(report.scenario)
    if cost:
        net = max(0.0, report.points - cost)
        section += Markup(
            "<p><strong>Note après indices : {} / {}</strong> (−{} pour les indices lus)</p>\n"
        ).format(
            grid_render.fr_num(net), grid_render.fr_num(report.max_points), grid_render.fr_num(cost)
        )
    head, sep, tail = page.rpartition("</body>")
    return f"{head}{section}{sep}{tail}" if sep else page + section


def _missing_html(login: str, missing: MissingLab) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="fr"><head><meta charset="utf-8"><title>Lab manquant</title>'
        "</head><body><h1>Lab manquant</h1>"
        + str(
            Markup("<p>Candidat {} · scénario {} : {}.</p>").format(
                login, missing.scenario, missing.reason
            )
        )
        + "</body></html>\n"
    )


def candidate_files(
    session: Session,
    outcomes: Mapping[str, Mapping[str, Outcome]],
    practice: Mapping[str, PracticeRecord] | None = None,
) -> Files:
    """``candidats/LOGIN/SCENARIO.html`` (jury report) and ``.json`` (the grade, evidence)."""
    files: Files = {}
    for cand in session.candidates:
        record = (practice or {}).get(cand.login)
        for sc in session.scenarios:
            base = f"candidats/{cand.login}/{sc.id}"
            outcome = outcomes.get(cand.login, {}).get(sc.id)
            if outcome is None:
                outcome = MissingLab(scenario=sc.id, reason="aucun résultat")
            if isinstance(outcome, MissingLab):
                files[f"{base}.manquant.html"] = _missing_html(cand.login, outcome).encode()
                continue
            files[f"{base}.html"] = candidate_report_html(outcome, record).encode()
            files[f"{base}.json"] = grading.to_json(outcome).encode()
        if record is not None and (record.attempts or record.hints or record.resets):
            files[f"candidats/{cand.login}/entrainement.json"] = (
                record.model_dump_json(indent=2) + "\n"
            ).encode()
    return files


def grid_files(grid: Grid) -> Files:
    return {
        "grille.csv": grid_render.to_csv(grid),
        "grille.html": grid_render.to_html(grid).encode(),
        "grille.json": grid_render.to_json(grid).encode(),
    }


def write_folder(files: Files, folder: Path) -> None:
    """Write the files under ``folder`` (owner-only: they name candidates and their marks)."""
    private_folder(folder)
    for name, data in files.items():
        path = folder / name
        private_folder(path.parent)
        write_private(path, data)


def write_zip(files: Files, path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in sorted(files.items()):
            archive.writestr(name, data)
    write_private(path, buffer.getvalue())


def write_tar(files: Files, path: Path, *, root: str, mtime: datetime) -> None:
    """A tar.gz of the files under ``root/``, written 0600 (atomically)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in sorted(files.items()):
            info = tarfile.TarInfo(f"{root}/{name}")
            info.size = len(data)
            info.mode = PRIVATE_FILE
            info.mtime = int(mtime.timestamp())
            archive.addfile(info, io.BytesIO(data))
    write_private(path, buffer.getvalue())


def frozen_metadata(
    session: Session, labs: Mapping[tuple[str, str], LabRecord], store: Store | None = None
) -> dict[str, Any]:
    """What each lab was when graded: its record, steps (exam start, freeze), nodes and the
    grade files kept; no key, no secret, no node-side detail."""
    db = store or Store()
    out: dict[str, Any] = {
        "session": session.model_dump(mode="json", exclude={"draw_key"}),
        "labs": [],
    }
    out["session"]["deadline"] = session.deadline.isoformat() if session.deadline else None
    for (login, scenario), record in sorted(labs.items()):
        grades = lab_folder(record.id) / "grades"
        out["labs"].append(
            {
                "login": login,
                "scenario": scenario,
                "lab": record.id,
                "seed": record.seed,
                "status": record.status,
                "error": record.error,
                "created": record.created,
                "updated": record.updated,
                "steps": [
                    {
                        "step": s.step,
                        "status": s.status,
                        "started": s.started,
                        "finished": s.finished,
                    }
                    for s in db.steps(record.id)
                ],
                "nodes": [
                    {"name": n.name, "kind": n.kind, "engine": n.engine, "ready": n.ready}
                    for n in db.nodes(record.id)
                ],
                "grades": sorted(p.name for p in grades.glob("*.json")) if grades.is_dir() else [],
            }
        )
    return out


def lab_secret_values(labs: Mapping[tuple[str, str], LabRecord]) -> set[str]:
    values: set[str] = set()
    for record in labs.values():
        values.update(
            v for v in LabSecrets(lab_folder(record.id)).all().values() if len(v) >= _MIN_SECRET
        )
    return values


def blank_secrets(files: Files, secrets: set[str]) -> Files:
    """Every file with each secret value replaced: evidence may quote what a command printed."""
    if not secrets:
        return files
    out: Files = {}
    for name, data in files.items():
        for value in sorted(secrets, key=len, reverse=True):
            data = data.replace(value.encode(), b"[secret]")
        out[name] = data
    return out


def export_files(
    session: Session,
    grid: Grid,
    outcomes: Mapping[str, Mapping[str, Outcome]],
    labs: Mapping[tuple[str, str], LabRecord],
    practice: Mapping[str, PracticeRecord] | None = None,
    store: Store | None = None,
) -> Files:
    files = grid_files(grid)
    files.update(candidate_files(session, outcomes, practice))
    meta = frozen_metadata(session, labs, store)
    files["session.json"] = (json.dumps(meta, indent=2, ensure_ascii=False) + "\n").encode()
    return blank_secrets(files, lab_secret_values(labs))


def export(path: Path, session: Session, files: Files, *, now: datetime) -> None:
    """Write the session archive: ``path`` ending in .zip is a zip, otherwise a tar.gz."""
    if path.suffix == ".zip":
        write_zip({f"{session.name}/{k}": v for k, v in files.items()}, path)
    else:
        write_tar(files, path, root=session.name, mtime=now)
