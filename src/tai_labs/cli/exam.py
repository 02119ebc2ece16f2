"""`tai-labs session create|ls|show|slips|rm`: an exam day's class, as data first."""

from __future__ import annotations

import enum
import shlex
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from tai_labs.cli.completion import scenario_names
from tai_labs.cli.output import console, err_console, markup, print_json
from tai_labs.errors import TaiLabsError
from tai_labs.exam.batch import ungraded
from tai_labs.exam.clock import format_left
from tai_labs.exam.clock_store import ClockStore
from tai_labs.exam.create import SessionRequest, create_session
from tai_labs.exam.day import RunEvent, extend, run_session, start_session, status
from tai_labs.exam.freeze import Ended, end_candidates, finish_if_all_ended
from tai_labs.exam.model import Session, format_duration, session_name
from tai_labs.exam.progress import lab_progress
from tai_labs.exam.roster import RosterError
from tai_labs.exam.seams import AccessGate, labs_by_draw
from tai_labs.exam.slips import write_slips
from tai_labs.exam.store import ExamStore

app = typer.Typer(
    help="Exam sessions: a class roster, one variant and one password per candidate.\n\n"
    "The day's order: `session create` (roster, scenarios, duration), `session slips` "
    "(print and cut the access slips), the labs (`session up`), then the clock: `session "
    "start` or `session run`, `session status`, `session end` (access closed, labs frozen), "
    "the jury grid (`session report`, `session export`) and `session down`.",
    no_args_is_help=True,
    rich_markup_mode="markdown",
)


def session_names(incomplete: str) -> list[str]:
    try:
        return [n for n in ExamStore().names() if n.startswith(incomplete)]
    except Exception:  # completion must never fail loudly
        return []


def _when(session: Session) -> str:
    start = f"{session.start.astimezone():%Y-%m-%d %H:%M}" if session.start else "-"
    return f"{start} · {format_duration(session.duration)}"


def _session_json(session: Session, issued: dict[str, Any] | None = None) -> dict[str, Any]:
    data = session.model_dump(mode="json")
    data["deadline"] = session.deadline.isoformat() if session.deadline else None
    if issued is not None:
        for cand in data["candidates"]:
            when = issued.get(cand["login"])
            cand["password_issued"] = when.isoformat() if when else None
    return data


@app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="Session name (a-z, 0-9, -): ccp2-2027-01-12.")],
    scenario: Annotated[
        list[str],
        typer.Option(
            "--scenario",
            "-s",
            help="A scenario of the épreuve (id or path); repeat for several.",
            autocompletion=scenario_names,
        ),
    ],
    roster: Annotated[
        Path,
        typer.Option(
            help="The class CSV: UTF-8, ; or , separated, header with nom and prenom "
            "(identifiant and email optional)."
        ),
    ],
    duration: Annotated[
        str | None,
        typer.Option(help="Length of the épreuve: 2h, 1h30, 90m. Optional with --practice."),
    ] = None,
    start: Annotated[
        str | None,
        typer.Option(help='Start, this host\'s local time: "2027-01-12 09:00". Default: none.'),
    ] = None,
    block: Annotated[
        str | None,
        typer.Option(help="Block assessed (CCP1, CCP2, CCP3); default: the scenarios' own."),
    ] = None,
    mixed: Annotated[
        bool, typer.Option("--mixed", help="Allow scenarios of another block than --block.")
    ] = False,
    practice: Annotated[
        bool,
        typer.Option("--practice", help="A practice session: no deadline, drafts allowed."),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the session as JSON.")] = False,
) -> None:
    """Create an exam session: check the roster and scenarios, draw each candidate's variant.

    Nothing is created if anything is wrong: every bad roster line is listed as
    `roster.csv:LINE: what (fix)`. Logins are the roster's `identifiant`, or made from the
    names (`chloe-martin`, then `chloe-martin2` for a homonym). Neighbours in the roster get
    variants that share no answer. No password exists yet: print the slips next.

    Example:

        tai-labs session create ccp2-2027-01-12 -s compte-verrouille -s depart-et-arrivee \\
            --roster classe.csv --duration 2h --start "2027-01-12 09:00"
    """
    request = SessionRequest(
        name=name,
        scenarios=scenario,
        roster=roster,
        duration=duration,
        start=start,
        block=block,
        mixed=mixed,
        practice=practice,
    )
    try:
        created = create_session(request)
    except RosterError as exc:
        # One unwrapped line per problem: `file:LINE:` stays whole for editors and grep.
        err_console.print(markup("[red]error:[/red] {}", exc.message.splitlines()[0]))
        for problem in exc.problems:
            err_console.print(problem, soft_wrap=True)
        err_console.print(markup("  [dim]hint:[/dim] {}", exc.hint))
        raise typer.Exit(exc.exit_code) from None
    session = created.session
    if created.ignored_columns:
        err_console.print(
            markup(
                "[yellow]note:[/yellow] roster columns ignored: {}",
                ", ".join(created.ignored_columns),
            )
        )
    if as_json:
        print_json(_session_json(session))
        return
    console.print(
        markup(
            "[bold]session {}[/bold] créée : {} candidat(s), {} · {} ({})",
            session.name,
            len(session.candidates),
            session.block,
            ", ".join(s.id for s in session.scenarios),
            _when(session),
        )
    )
    console.print(f"Suite : tai-labs session slips {session.name}  (billets à imprimer)")


@app.command("ls")
def ls(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """List the exam sessions of this host."""
    sessions = ExamStore().sessions()
    if as_json:
        print_json(
            [
                {
                    "name": s.name,
                    "block": s.block,
                    "state": s.state.value,
                    "practice": s.practice,
                    "scenarios": [sc.id for sc in s.scenarios],
                    "candidates": len(s.candidates),
                    "start": s.start.isoformat() if s.start else None,
                    "duration": s.duration,
                }
                for s in sessions
            ]
        )
        return
    table = Table("session", "block", "state", "candidates", "scenarios", "start · duration")
    for s in sessions:
        table.add_row(
            s.name + (" (entraînement)" if s.practice else ""),
            s.block,
            s.state.value,
            str(len(s.candidates)),
            ", ".join(sc.id for sc in s.scenarios),
            _when(s),
        )
    console.print(table)


@app.command("show")
def show(
    name: Annotated[str, typer.Argument(help="Session name.", autocompletion=session_names)],
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    commands: Annotated[
        bool,
        typer.Option(
            "--commands", help="Print the `tai-labs up` command of each candidate's lab instead."
        ),
    ] = False,
) -> None:
    """The instructor's view of a session: candidates, logins, each one's drawn variants and
    whether their slip was printed. Passwords are never shown (only their hashes are kept).

    `--commands` prints, one a line, the `tai-labs up` that builds each candidate's lab in
    their variant (the seed drawn, the login as candidate name).
    """
    exams = ExamStore()
    session = exams.get(session_name(name))
    if commands:
        for cand in session.candidates:
            for sc in session.scenarios:
                argv = ["tai-labs", "up", sc.file, "--candidate", cand.login]
                argv += ["--seed", str(cand.draw(sc.id).seed)]
                console.print(shlex.join(argv), soft_wrap=True)
        return
    issued = exams.password_issued(session.name)
    from tai_labs.exam.fleet import session_labs

    labs = session_labs(session.name, exams=exams)
    if as_json:
        data = _session_json(session, issued)
        data["labs"] = [
            {"login": x.login, "scenario": x.scenario, "lab": x.lab_id, "status": x.status}
            for x in labs
        ]
        print_json(data)
        return
    console.print(
        markup(
            "[bold]session {}[/bold] · {} · {}{} · {}",
            session.name,
            session.block,
            session.state.value,
            " · entraînement" if session.practice else "",
            _when(session),
        )
    )
    for sc in session.scenarios:
        console.print(f"  {sc.id}: {sc.title} ({sc.variants} variante(s))")
    # The login is what the instructor reads out: never cut; the variants fold instead.
    table = Table("#", title_justify="left")
    table.add_column("login", no_wrap=True)
    table.add_column("candidat")
    table.add_column("billet", no_wrap=True)
    for sc in session.scenarios:
        table.add_column(sc.id, overflow="fold")
    for i, cand in enumerate(session.candidates, 1):
        when = issued.get(cand.login)
        table.add_row(
            str(i),
            cand.login,
            cand.full_name,
            f"{when.astimezone():%d/%m %H:%M}" if when else "à faire",
            *(
                f"graine {d.seed}" + "".join(f"\n{k}={v}" for k, v in d.variant.items())
                for d in cand.draws
            ),
        )
    console.print(table)
    if labs:  # once `session up` chose them: `tai-labs status LAB` for the details
        shown = [f"{x.login}/{x.scenario} {x.lab_id} ({x.status})" for x in labs]
        console.print("Labs : " + " · ".join(shown), soft_wrap=True)


@app.command("slips")
def slips(
    name: Annotated[str, typer.Argument(help="Session name.", autocompletion=session_names)],
    output: Annotated[
        Path | None,
        typer.Option("-o", "--output", help="HTML file to write (default: slips-NAME.html)."),
    ] = None,
    candidate: Annotated[
        list[str] | None,
        typer.Option(
            "--candidate", "-c", help="Only this login (a lost slip); repeat for several."
        ),
    ] = None,
    again: Annotated[
        bool,
        typer.Option("--again", help="Make new passwords for everyone, voiding printed slips."),
    ] = False,
) -> None:
    """Make each candidate's password and write the slips to print and cut (HTML, French,
    one slip per candidate: name, login, password; opens offline, prints on A4).

    Only hashes of the passwords are kept, so slips cannot be printed twice: the first run
    makes everyone's password; after that, `--candidate LOGIN` replaces one lost slip and
    `--again` replaces them all (the slips printed before stop working). The file is
    written owner-only (0600): print it, then delete it.

    Example:

        tai-labs session slips ccp2-2027-01-12 -o billets.html
    """
    out = output or Path(f"slips-{session_name(name)}.html")
    count = write_slips(ExamStore(), name, out, only=candidate, replace=again or bool(candidate))
    console.print(f"{count} billet(s) écrit(s) dans {out} (0600) : imprimez, découpez, puis")
    console.print("supprimez ce fichier. Les mots de passe n'existent nulle part ailleurs.")


@app.command("rm")
def rm(
    name: Annotated[str, typer.Argument(help="Session name.", autocompletion=session_names)],
) -> None:
    """Remove a session that has no labs yet, with its candidates and their password hashes."""
    ExamStore().remove(session_name(name))
    console.print(f"session {name} supprimée")


# -- the jury grid, the archive, practice (appended: one block per command) -----------------


class GridFormat(enum.StrEnum):
    CSV = "csv"
    HTML = "html"
    JSON = "json"


def _grid_inputs(name: str) -> tuple[Session, Any, Any, Any]:
    """The session, its labs' latest grades, its labs, and (practice) the candidates' records."""
    from tai_labs.exam.jury import jury_inputs

    inputs = jury_inputs(ExamStore().get(session_name(name)))
    return inputs.session, inputs.outcomes, inputs.labs, inputs.practice


def _grid(session: Session, outcomes: Any, practice: Any) -> Any:
    from tai_labs.exam.jury import JuryInputs, jury_grid

    return jury_grid(JuryInputs(session, outcomes, {}, practice), generated=datetime.now(UTC))


@app.command("report")
def report(
    name: Annotated[str, typer.Argument(help="Session name.", autocompletion=session_names)],
    fmt: Annotated[GridFormat, typer.Option("--format", "-f", help="Grid format.")] = (
        GridFormat.HTML
    ),
    output: Annotated[
        Path | None,
        typer.Option("-o", "--output", help="Write the grid to this file (default: stdout)."),
    ] = None,
    candidates: Annotated[
        Path | None,
        typer.Option(
            "--candidates",
            help="Also write each candidate's jury reports (HTML and JSON) into this folder, "
            "or into this zip if it ends in .zip.",
        ),
    ] = None,
) -> None:
    """The jury grid: one row per candidate, points and acquise / non acquise per competence
    of the block, per scenario and in total. Built from each lab's latest grade (the one at
    the deadline); a lab with no grade is shown as missing, with why, never as zero.

    `--format csv` opens in LibreOffice Calc and Excel (UTF-8 with BOM, `;`); `html` is an
    A4 landscape page with the jury's signature blocks, to print. Files are owner-only.

    Example:

        tai-labs session report ccp2-2027-01-12 -f html -o grille.html --candidates rapports.zip
    """
    from tai_labs.private_files import write_private
    from tai_labs.reports import grid as grid_render
    from tai_labs.reports import session as session_files

    session, outcomes, _, practice = _grid_inputs(name)
    grid = _grid(session, outcomes, practice)
    data = {
        GridFormat.CSV: grid_render.to_csv,
        GridFormat.HTML: lambda g: grid_render.to_html(g).encode(),
        GridFormat.JSON: lambda g: grid_render.to_json(g).encode(),
    }[fmt](grid)
    if output is None:
        typer.echo(data.decode("utf-8-sig"), nl=False)
    else:
        write_private(output, data)
        err_console.print(f"grille écrite dans {output} (0600)")
    if candidates is not None:
        files = session_files.candidate_files(session, outcomes, practice)
        if candidates.suffix == ".zip":
            session_files.write_zip(files, candidates)
        else:
            session_files.write_folder(files, candidates)
        err_console.print(f"{len(files)} rapport(s) de candidat écrit(s) dans {candidates}")
    missing = sum(len(r.missing) for r in grid.rows)
    if missing:
        err_console.print(markup("[yellow]note:[/yellow] {} lab(s) sans résultat", missing))


@app.command("export")
def export(
    name: Annotated[str, typer.Argument(help="Session name.", autocompletion=session_names)],
    output: Annotated[
        Path, typer.Option("-o", "--output", help="Archive to write: .tar.gz, or .zip.")
    ],
) -> None:
    """One archive a jury can keep: the grid (CSV, HTML, JSON), each candidate's reports, the
    evidence (each grade's JSON) and the labs' frozen-state metadata. No password hash, no lab
    key; written owner-only (0600)."""
    from datetime import UTC, datetime

    from tai_labs.reports import session as session_files

    session, outcomes, labs, practice = _grid_inputs(name)
    grid = _grid(session, outcomes, practice)
    files = session_files.export_files(session, grid, outcomes, labs, practice)
    session_files.export(output, session, files, now=datetime.now(UTC))
    console.print(f"archive de la session {session.name} : {output} ({len(files)} fichiers, 0600)")


_CANDIDATE = typer.Option("--candidate", "-c", help="The candidate's login.")
_SCENARIO = typer.Option("--scenario", "-s", help="Only this scenario of the session.")


@app.command("check")
def check(
    name: Annotated[str, typer.Argument(help="Session name.", autocompletion=session_names)],
    candidate: Annotated[str, _CANDIDATE],
    scenario: Annotated[str | None, _SCENARIO] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Practice: grade a candidate's work now, as they would see it (verdict and message per
    check, nothing of the evidence); recorded in their report. Refused for an exam."""
    from tai_labs.exam.practice import check_work

    runs = check_work(session_name(name), candidate, scenario)
    if as_json:
        print_json([r.model_dump(mode="json") for r in runs])
        return
    for run in runs:
        console.print(
            markup("[bold]{}[/bold] : {}/{} points", run.scenario, run.points, run.max_points)
        )
        for item in run.checks:
            console.print(f"  {item.verdict.label_fr:12} {item.title} — {item.message}")


@app.command("hint")
def hint(
    name: Annotated[str, typer.Argument(help="Session name.", autocompletion=session_names)],
    candidate: Annotated[str, _CANDIDATE],
    scenario: Annotated[str | None, _SCENARIO] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Practice: reveal the candidate's next hint of a scenario; its cost is deducted from
    that scenario's points and recorded. Refused for an exam."""
    from tai_labs.exam.practice import reveal_hint

    shown = reveal_hint(session_name(name), candidate, scenario)
    if as_json:
        print_json(shown.model_dump(mode="json"))
        return
    console.print(
        markup(
            "Indice {}/{} ({}) : coût {} point(s), {} en tout",
            shown.number,
            shown.of,
            shown.scenario,
            f"{shown.cost:g}",
            f"{shown.total_cost:g}",
        )
    )
    console.print(shown.text, markup=False)


@app.command("reset")
def reset(
    name: Annotated[str, typer.Argument(help="Session name.", autocompletion=session_names)],
    candidate: Annotated[str, _CANDIDATE],
    scenario: Annotated[str | None, _SCENARIO] = None,
) -> None:
    """Practice: put the candidate's labs back as at exam start (recorded). Refused for an
    exam."""
    from tai_labs.exam.practice import reset_work

    for done in reset_work(session_name(name), candidate, scenario):
        console.print(f"{done.scenario} : lab {done.lab} remis dans son état de départ")


# -- session up / down (exam.fleet) -----------------------------------------------------


def _outcome_json(outcome: Any) -> dict[str, Any]:
    return {
        "login": outcome.login,
        "ok": outcome.ok,
        "labs": [
            {
                "scenario": lab.scenario,
                "lab": lab.lab_id,
                "status": lab.status,
                "seconds": round(lab.seconds, 1),
                "error": lab.error,
            }
            for lab in outcome.labs
        ],
    }


def _outcome_line(outcome: Any) -> Text:
    parts = []
    for lab in outcome.labs:
        if lab.status == "failed":
            parts.append(f"{lab.scenario} ÉCHEC ({lab.lab_id}: {lab.error})")
        elif lab.status == "skipped":
            parts.append(f"{lab.scenario} déjà prêt ({lab.lab_id})")
        else:
            parts.append(f"{lab.scenario} prêt ({lab.lab_id}, {lab.seconds:.0f} s)")
    mark = "[green]ok[/green]" if outcome.ok else "[red]échec[/red]"
    return markup(mark + " {} : {}", outcome.login, " · ".join(parts))


@app.command("up")
def up(
    name: Annotated[str, typer.Argument(help="Session name.", autocompletion=session_names)],
    parallel: Annotated[
        int | None,
        typer.Option(
            "--parallel", "-j", min=1, help="Labs built at once (default: from cores and memory)."
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Build every candidate's labs (one per scenario, in their drawn variant), in parallel.

    First an admission check: if the host lacks memory or disk for the labs still to build,
    it says so with the figures and builds nothing. Then one line per candidate as their
    labs are ready. Run it again after an interruption or a failure: ready labs are kept,
    the others resumed, none duplicated. The session is then `up`.

    Example:

        tai-labs session up ccp2-2027-01-12 --parallel 2
    """
    from tai_labs.exam.fleet import SessionUpError, session_up

    start = time.monotonic()

    def progress(outcome: Any) -> None:
        if not as_json:
            console.print(_outcome_line(outcome), soft_wrap=True)

    try:
        result = session_up(session_name(name), parallel=parallel, progress=progress)
    except SessionUpError as exc:
        if as_json:  # every candidate's outcome, then the error on stderr
            _print_up_json(exc.result, start)
        raise
    if as_json:
        _print_up_json(result, start)
        return
    built = sum(1 for c in result.candidates for lab in c.labs if lab.status == "ready")
    console.print(
        f"session {result.session} : {len(result.candidates)} candidat(s) prêt(s), "
        f"{built} lab(s) construit(s) en {time.monotonic() - start:.0f} s "
        f"({result.parallel} à la fois) · état {result.state}"
    )


def _print_up_json(result: Any, start: float) -> None:
    adm = result.admission
    print_json(
        {
            "session": result.session,
            "state": result.state,
            "ok": result.ok,
            "parallel": result.parallel,
            "admission": None
            if adm is None
            else {
                "labs": adm.labs,
                "nodes": adm.nodes,
                "memory_mib": adm.memory_mib,
                "disk_mib": adm.disk_mib,
                "memory_available_mib": adm.capacity.memory_available_mib,
                "disk_free_mib": adm.capacity.disk_free_mib,
            },
            "candidates": [_outcome_json(c) for c in result.candidates],
            "seconds": round(time.monotonic() - start, 1),
        }
    )


@app.command("down")
def down(
    name: Annotated[str, typer.Argument(help="Session name.", autocompletion=session_names)],
    force: Annotated[
        bool, typer.Option("--force", help="Even while the exam runs (state started).")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Remove the session: every candidate's gateway account, every lab, then its record.

    Safe to run again if interrupted: the record goes last, once everything else is gone.
    Export what the jury keeps first (`tai-labs session export`): nothing of the labs stays.
    """
    from tai_labs.exam.fleet import session_down

    result = session_down(session_name(name), force=force)
    if as_json:
        print_json(
            {
                "session": result.session,
                "accounts": result.accounts,
                "labs": result.labs,
                "record_removed": result.record_removed,
            }
        )
        return
    console.print(
        f"session {result.session} supprimée : {len(result.labs)} lab(s), "
        f"{len(result.accounts)} compte(s) passerelle"
    )


# -- the clock: start, extend, status, run, end (issue 14) ----------------------------------


def _gate() -> AccessGate:
    """The candidates' access: one gateway account each (``exam.access``)."""
    from tai_labs.exam.access import gateway_gate

    return gateway_gate()


#: The labs of a candidate. MERGE (i14-fleet): its session-to-lab link may replace this.
_find_labs = labs_by_draw


def _hhmm(when: datetime | None) -> str:
    return f"{when.astimezone():%H:%M:%S}" if when else "-"


def _gate_note(gate: AccessGate) -> None:
    if not gate.wired:
        err_console.print(
            markup(
                "[yellow]note:[/yellow] {}",
                "no session gateway accounts in this build: candidate access is each lab's "
                "own (`tai-labs access`); ending still freezes the labs",
            )
        )


@app.command("start")
def start(
    name: Annotated[str, typer.Argument(help="Session name.", autocompletion=session_names)],
) -> None:
    """Open every candidate's access and start the clock (state up -> started).

    Each candidate's deadline is now + the duration + their extra time. Run twice, it
    changes nothing (a start that crashed midway opens the access it had not opened yet).
    """
    gate = _gate()
    started = start_session(ClockStore(), session_name(name), gate=gate)
    _gate_note(gate)
    if started.already and not started.opened:
        console.print(
            f"session {name} déjà commencée à {_hhmm(started.started_at)} : rien n'a changé"
        )
        return
    console.print(
        f"session {name} commencée à {_hhmm(started.started_at)} ; "
        f"accès ouvert pour {len(started.opened)} candidat(s)"
    )


@app.command("extend")
def extend_cmd(
    name: Annotated[str, typer.Argument(help="Session name.", autocompletion=session_names)],
    candidate: Annotated[str, typer.Option("--candidate", "-c", help="The candidate's login.")],
    minutes: Annotated[
        int, typer.Option(help="Their total extra time in minutes (set, not added; 0 removes).")
    ],
) -> None:
    """Give one candidate extra time (a late start, a *tiers temps*), before or during the
    épreuve. The figure is their total: giving it twice changes nothing."""
    new_deadline = extend(ClockStore(), session_name(name), candidate, minutes)
    end = f" ; fin à {_hhmm(new_deadline)}" if new_deadline else ""
    console.print(f"{candidate} : {minutes} min de temps supplémentaire{end}")


@app.command("status")
def status_cmd(
    name: Annotated[str, typer.Argument(help="Session name.", autocompletion=session_names)],
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    progress: Annotated[
        bool,
        typer.Option(
            "--progress",
            help="Instructor only: grade each live lab read-only, checks passing now.",
        ),
    ] = False,
) -> None:
    """Per candidate: labs ready, time left, access open or closed, end and freeze."""
    clocks = ClockStore()
    session, clock, rows = status(clocks, session_name(name), find_labs=_find_labs)
    live: dict[str, str] = {}
    if progress:
        for row in rows:
            if row.ended_at is not None:
                live[row.login] = "figé"
                continue
            parts = []
            for lab_id in row.lab_ids.values():
                try:
                    got = lab_progress(lab_id)
                    parts.append(got.text())
                except TaiLabsError as exc:
                    parts.append(f"? ({exc.message})")
            live[row.login] = ", ".join(parts) or "-"
    if as_json:
        print_json(
            {
                "name": session.name,
                "state": session.state.value,
                "started_at": clock.started_at.isoformat() if clock.started_at else None,
                "candidates": [
                    {
                        "login": r.login,
                        "labs_ready": r.labs_ready,
                        "labs": r.labs,
                        "lab_ids": r.lab_ids,
                        "deadline": r.deadline.isoformat() if r.deadline else None,
                        "seconds_left": int(r.left.total_seconds()) if r.left is not None else None,
                        "extra_minutes": r.extra_minutes,
                        "access": "open" if r.access_open else "closed",
                        "ended_at": r.ended_at.isoformat() if r.ended_at else None,
                        "late_seconds": int(r.late.total_seconds()),
                        "frozen_labs": r.frozen,
                        "end_complete": r.complete,
                        **({"progress": live.get(r.login)} if progress else {}),
                    }
                    for r in rows
                ],
            }
        )
        return
    console.print(
        f"session {session.name} · {session.state.value} · début {_hhmm(clock.started_at)}"
    )
    table = Table("login", "candidat", "labs prêts", "fin", "reste", "accès", "figé")
    if progress:
        table.add_column("contrôles réussis")
    for r in rows:
        extra = f" (+{r.extra_minutes})" if r.extra_minutes else ""
        cells = [
            r.login,
            r.name,
            f"{r.labs_ready}/{r.labs}",
            _hhmm(r.deadline) + extra + _late(r.late),
            format_left(r.left),
            "ouvert" if r.access_open else "fermé",
            f"{r.frozen}/{len(r.lab_ids)}" if r.ended_at else "-",
        ]
        table.add_row(*cells, *([live.get(r.login, "-")] if progress else []))
    console.print(table)


def _late(late: timedelta) -> str:
    # Under a minute is the loop's own delay (it looks every few seconds, freezes take time).
    return (
        f"\nfermé {int(late.total_seconds()) // 60} min après"
        if late >= timedelta(minutes=1)
        else ""
    )


def _print_ended(ended: list[Ended]) -> None:
    for e in ended:
        if e.already:
            console.print(f"{e.login} : déjà terminé à {_hhmm(e.ended_at)}, rien n'a changé")
            continue
        said = f"{e.login} : terminé à {_hhmm(e.ended_at)}, accès fermé"
        if e.frozen:
            said += f", {len(e.frozen)} lab(s) figé(s) ({', '.join(e.frozen.values())})"
        if e.missing:
            said += f" ; aucun lab pour {', '.join(e.missing)}"
        console.print(said)


@app.command("end")
def end(
    name: Annotated[str, typer.Argument(help="Session name.", autocompletion=session_names)],
    candidate: Annotated[
        list[str] | None,
        typer.Option("--candidate", "-c", help="Only this login; repeat for several."),
    ] = None,
    parallel: Annotated[
        int, typer.Option(help="Candidates frozen, then graded, at once.", min=1)
    ] = 2,
    grade: Annotated[
        bool, typer.Option("--grade/--no-grade", help="Grade the frozen labs (default).")
    ] = True,
) -> None:
    """End the épreuve now (or only for `--candidate`): access closes at once, then each lab
    is frozen as left (an `exam-end` snapshot, its nodes stopped) and graded from that frozen
    state, `--parallel` candidates at once; `session report` gives the grid. Run again, it
    changes nothing (or finishes a crashed end, grading what was not graded).
    """
    clocks = ClockStore()
    session = clocks.exams.get(session_name(name))
    logins = candidate or [c.login for c in session.candidates]
    gate = _gate()
    ended = end_candidates(
        clocks, session.name, logins, gate=gate, find_labs=_find_labs, parallel=parallel
    )
    _gate_note(gate)
    _print_ended(ended)
    # The session's state first: a grading that fails leaves it ended all the same.
    if finish_if_all_ended(clocks, session.name):
        console.print(f"session {session.name} terminée : tous les labs sont figés")
    if grade:
        todo = [login for login in ungraded(clocks, session.name) if login in logins]
        _grade_and_print(clocks, session.name, todo, parallel)


def _grade_and_print(clocks: ClockStore, name: str, logins: list[str], parallel: int) -> None:
    """Grade these ended candidates' frozen labs, one line each; exit 1 if one failed."""
    from tai_labs.exam.batch import Graded, grade_ended
    from tai_labs.reports.grid import fr_num

    def said(got: Graded) -> None:
        if got.error is not None:
            console.print(
                markup("[red]échec[/red] {} : non noté ({})", got.login, got.error), soft_wrap=True
            )
            return
        marks = ", ".join(
            f"{sc} {fr_num(r.points)}/{fr_num(r.max_points)}" for sc, r in got.reports.items()
        )
        console.print(f"noté {got.login} : {marks or 'aucun lab'} ({got.seconds:.0f} s)")

    graded = grade_ended(clocks, name, logins, parallel=parallel, on_graded=said)
    failed = [g.login for g in graded if g.error is not None]
    if failed:
        err_console.print(
            f"error: {len(failed)} candidate(s) not graded: {', '.join(failed)}\n"
            f"  hint: fix the cause, then `tai-labs session grade {name} --candidate LOGIN`"
        )
        raise typer.Exit(1)


@app.command("grade")
def grade_cmd(
    name: Annotated[str, typer.Argument(help="Session name.", autocompletion=session_names)],
    candidate: Annotated[
        list[str] | None,
        typer.Option("--candidate", "-c", help="Only this login; repeat for several."),
    ] = None,
    parallel: Annotated[int, typer.Option(help="Candidates graded at once.", min=1)] = 2,
) -> None:
    """Grade again the frozen labs of ended candidates (all of them, or `--candidate`), from
    their `exam-end` snapshots: the same state every time, whatever was done after the end.
    `session end` already grades; this is for a jury's second reading or a failed grading."""
    clocks = ClockStore()
    session = clocks.exams.get(session_name(name))
    clock = clocks.clock(session.name)
    logins = candidate or [
        c.login for c in session.candidates if clock.of(c.login).ended_at is not None
    ]
    _grade_and_print(clocks, session.name, logins, parallel)


@app.command("run")
def run(
    name: Annotated[str, typer.Argument(help="Session name.", autocompletion=session_names)],
    parallel: Annotated[
        int, typer.Option(help="Candidates frozen, then graded, at once.", min=1)
    ] = 2,
) -> None:
    """Run the session's clock in the foreground: start it at its planned `--start`, end
    each candidate at their deadline (extra time included). Ctrl-C stops it safely: run it
    again and it carries on where it was.
    """
    gate = _gate()
    _gate_note(gate)

    def said(event: RunEvent) -> None:
        stamp = f"[{datetime.now(UTC).astimezone():%H:%M:%S}]"
        if event.kind == "waiting":
            console.print(f"{stamp} en attente jusqu'à {_hhmm(event.at)}")
        elif event.kind == "started" and event.started is not None:
            console.print(f"{stamp} session commencée, accès ouvert ({len(event.started.opened)})")
        elif event.kind == "busy":
            console.print(f"{stamp} {event.note} : nouvel essai dans quelques secondes")
        elif event.kind == "ended":
            _print_ended(list(event.ended))
        elif event.kind == "finished":
            console.print(f"{stamp} session {name} terminée : tous les labs sont figés")

    try:
        run_session(
            ClockStore(), session_name(name), gate=gate, find_labs=_find_labs, on_event=said,
            parallel=parallel,
        )  # fmt: skip
    except KeyboardInterrupt:
        err_console.print(f"interrompu : relancez `tai-labs session run {name}` pour reprendre")
        raise typer.Exit(130) from None
    # Every candidate ended: the frozen labs not graded yet (all, or what a crash left).
    clocks = ClockStore()
    _grade_and_print(clocks, session_name(name), ungraded(clocks, session_name(name)), parallel)
