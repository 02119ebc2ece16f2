"""The practice routes of a candidate's lab: check my work, reveal a hint, reset the lab.

Each is a POST with the login's CSRF token, for one of the logged-in candidate's labs
(another's is 404, ``app.candidate_lab``), in a practice session only (an exam's is 403:
the buttons do not exist there and the server refuses the calls). Each answers with a
redirect to the lab page (``#pratique``), which shows the outcome: post, redirect, get, so a
reload never grades or resets again. The library calls are ``tai_labs.exam.practice``'s, the
same as `tai-labs session check|hint|reset`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.responses import JSONResponse, RedirectResponse, Response

from tai_labs.errors import TaiLabsError, UsageError
from tai_labs.exam import practice
from tai_labs.exam.model import Session
from tai_labs.exam.store import ExamStore
from tai_labs.lab.store import LabRecord
from tai_labs.portal.practice import CHECK_WAIT, JobKind, PracticeDesk, wait_for

EXAM_REFUSAL = "Indisponible pendant une épreuve d'examen."


@dataclass(frozen=True)
class PracticeCall:
    """A practice request the app has authorised (``app._practice``): its CSRF token was
    right (POST), the lab is the logged-in candidate's, the session a practice one."""

    form: FormData | None
    session: Session
    lab: LabRecord
    exams: ExamStore
    desk: PracticeDesk
    #: Renders a page template for this request (login and CSRF token filled in).
    page: Callable[..., Response]


def _back(lab: LabRecord, notice: str | None = None, anchor: str = "pratique") -> Response:
    query = f"?m={notice}" if notice else ""
    return RedirectResponse(f"/lab/{lab.id}{query}#{anchor}", 303)


async def check(call: PracticeCall) -> Response:
    session, lab = call.session, call.lab
    work = partial(practice.check_work, session.name, lab.candidate, lab.scenario, exams=call.exams)
    job = call.desk.start(JobKind.CHECK, lab.id, work)
    if job is None:  # a reset runs
        return _back(lab, "busy")
    # A grading of a few seconds answers with its result; a longer one with the page
    # saying it runs, which reloads itself until it is done.
    await wait_for(job, CHECK_WAIT)
    return _back(lab, anchor="verification")


async def hint(call: PracticeCall) -> Response:
    session, lab = call.session, call.lab
    try:
        await run_in_threadpool(
            practice.reveal_hint, session.name, lab.candidate, lab.scenario, exams=call.exams
        )
    except UsageError:  # the scenario's hints are all read (a page left open)
        return _back(lab, "hint-none", "indices")
    except TaiLabsError:
        return _back(lab, "hint-failed", "indices")
    return _back(lab, anchor="indices")


async def reset(call: PracticeCall) -> Response:
    """First the confirmation page; the reset itself once it is confirmed (``confirm=oui``)."""
    session, lab = call.session, call.lab
    if call.form is None or call.form.get("confirm") != "oui":
        return call.page("practice_reset.html", session=session, lab=lab)
    work = partial(practice.reset_work, session.name, lab.candidate, lab.scenario, exams=call.exams)
    if call.desk.start(JobKind.RESET, lab.id, work) is None:
        return _back(lab, "busy")
    return _back(lab)


async def state(call: PracticeCall) -> Response:
    """What runs on the lab now (the page's script polls it to reload when it is done)."""
    running = call.desk.running(call.lab.id)
    return JSONResponse({"running": running.value if running else None})
