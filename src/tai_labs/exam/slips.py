"""Access slips: a password made for each candidate, its hash stored, the page to print.

Only hashes are kept, so a slip cannot be printed twice with the same password: each issue
makes new passwords (for the whole class, or for the candidates named, when one lost their
slip) and the earlier slips of those candidates stop working. The plain passwords live in the
``Slip`` objects and the page rendered from them, nowhere else.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from jinja2 import Environment, StrictUndefined, select_autoescape

from tai_labs.errors import UsageError
from tai_labs.exam import credentials
from tai_labs.exam.model import Candidate, Session, format_duration
from tai_labs.exam.store import ExamStore, SlipsIssuedError
from tai_labs.private_files import write_private
from tai_labs.providers import gateway


@dataclass(frozen=True)
class Slip:
    candidate: Candidate
    password: str


def make_slips(session: Session, only: Sequence[str] | None = None) -> list[Slip]:
    """A new password for each candidate (or ``only`` these logins), in roster order.

    Nothing is stored: ``record_slips`` stores the hashes once the page is safely written.
    """
    wanted = [session.candidate(login) for login in only] if only else list(session.candidates)
    return [Slip(c, credentials.new_password()) for c in wanted]


def record_slips(
    exams: ExamStore, name: str, slips: Sequence[Slip], *, replace: bool = False
) -> None:
    """Store the slips' password hashes in one transaction; with ``replace``, earlier
    passwords of these candidates are void, without it a candidate who has one refuses all."""
    exams.set_password_hashes(
        name,
        {s.candidate.login: credentials.hash_password(s.password) for s in slips},
        replace=replace,
        # The same password for the candidate's SSH gateway account, in the form the
        # system's PAM checks (docs/security.md, "Exam sessions").
        gateway_hashes={s.candidate.login: gateway.system_password_hash(s.password) for s in slips},
    )


def _when(session: Session) -> str:
    duration = format_duration(session.duration)
    if session.start is None:
        return f"Durée : {duration} · début annoncé par le formateur"
    local = session.start.astimezone()
    return f"Début : {local:%d/%m/%Y à %H:%M} · durée : {duration}"


def render_slips(session: Session, slips: Sequence[Slip]) -> str:
    """A self-contained French HTML page (no external resource), A4, two slips a row."""
    env = Environment(
        autoescape=select_autoescape(default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    text = resources.files("tai_labs.exam").joinpath("templates/slips.html.j2").read_text("utf-8")
    return env.from_string(text).render(
        s=session,
        slips=slips,
        titles=" + ".join(sc.title for sc in session.scenarios),
        when=_when(session),
    )


def write_slips(
    exams: ExamStore,
    name: str,
    out: Path,
    *,
    only: Sequence[str] | None = None,
    replace: bool = False,
) -> int:
    """Make the passwords, write the page to ``out`` (0600), then store the hashes; return
    how many slips. Unless ``replace``, refused when the slips were made already.

    The page is written before the hashes are stored and removed if storing fails: a
    password that does not work is never handed out.
    """
    session = exams.get(name)
    if not replace:  # said before any password is made; the store checks it again
        issued = [login for login, when in exams.password_issued(name).items() if when]
        if issued:
            raise SlipsIssuedError(name, len(issued))
    if out.is_dir():
        raise UsageError(f"{out} is a folder", hint="give a file name: -o billets.html")
    made = make_slips(session, only)
    write_private(out, render_slips(session, made))
    try:
        record_slips(exams, name, made, replace=replace)
    except BaseException:
        out.unlink(missing_ok=True)
        raise
    return len(made)
