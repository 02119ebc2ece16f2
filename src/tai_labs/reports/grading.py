"""Grade reports in the formats juries and CI systems read: JSON, JUnit XML, HTML.

The terminal table lives with the CLI (it is rich output); these are files.
"""

from __future__ import annotations

from datetime import datetime
from importlib import resources

from jinja2 import Environment, StrictUndefined, select_autoescape
from markupsafe import Markup

from tai_labs.grading.model import Verdict
from tai_labs.grading.result import CheckResult, GradeReport
from tai_labs.reports import junit

#: How an invariant's verdict reads for the jury: it is preserved or broken, not "passed".
INVARIANT_LABEL_FR = {
    Verdict.PASS: "préservé",
    Verdict.FAIL: "rompu",
    Verdict.ERROR: "erreur",
    Verdict.SKIPPED: "non évalué",
}


def verdict_fr(check: CheckResult) -> str:
    return INVARIANT_LABEL_FR[check.verdict] if check.invariant else check.verdict.label_fr


def points_fr(check: CheckResult) -> str:
    """``2/3`` for a check; for an invariant what it cost, or what it would cost if broken."""
    if not check.invariant:
        return f"{_fr_number(check.points)}/{_fr_number(check.max_points)}"
    if check.verdict is Verdict.FAIL:
        return f"−{_fr_number(check.penalty)} (dommage collatéral)"
    return f"0 (−{_fr_number(check.penalty)} si rompu)"


def penalties_fr(penalties: float) -> str:
    """The competence's or report's note on broken invariants; empty when none."""
    if not penalties:
        return ""
    return f"dont −{_fr_number(penalties)} pour dommage(s) collatéral(aux)"


def to_json(report: GradeReport) -> str:
    return report.model_dump_json(indent=2) + "\n"


def _junit_case(scenario: str, check: CheckResult) -> junit.Case:
    detail = "\n".join(
        f"[{e.node} via {e.transport}{', ' + e.fallback if e.fallback else ''}] $ {e.command}"
        f"\n{e.output}"
        for e in check.evidence
    )
    outcome = None
    if check.verdict is Verdict.FAIL and check.invariant:
        text = f"{check.why_en}\n{detail}".strip()
        message = f"{check.message} (invariant broken: -{check.penalty:g} points)"
        outcome = junit.Outcome("failure", message, "invariant", text)
    elif check.verdict is Verdict.FAIL:
        text = f"{check.why_en}\n{detail}".strip()
        if check.review:  # not credited automatically: the jury appraises the passage
            text = f"for the jury to appraise (à apprécier): {check.review}\n{text}"
        outcome = junit.Outcome(
            "failure", check.message, "review" if check.review else "fail", text
        )
    elif check.verdict is Verdict.ERROR:
        outcome = junit.Outcome("error", check.why_en, "error", detail)
    elif check.verdict is Verdict.SKIPPED:
        outcome = junit.Outcome("skipped", check.why_en)
    return junit.Case(
        classname=f"{scenario}.{check.competence}.{check.criterion}",
        name=check.id,
        time=f"{check.seconds:.3f}",
        outcome=outcome,
        system_out=detail if check.verdict is Verdict.PASS else "",
    )


def to_junit(report: GradeReport) -> str:
    """One test case per check; fail -> failure, error -> error, skipped -> skipped."""
    return junit.to_xml(
        junit.Suite(
            name=f"tai-labs {report.scenario} ({report.candidate})",
            cases=[_junit_case(report.scenario, check) for check in report.checks],
            failures=report.count(Verdict.FAIL),
            errors=report.count(Verdict.ERROR),
            skipped=report.count(Verdict.SKIPPED),
            time=f"{report.seconds:.3f}",
            timestamp=report.started.isoformat(timespec="seconds"),
            properties=[
                ("lab", report.lab),
                ("candidate", report.candidate),
                ("seed", str(report.seed)),
                ("points", f"{report.points:g}/{report.max_points:g}"),
                # Only when an invariant was broken: other documents stay as they were.
                *([("penalties", f"{report.penalties:g}")] if report.penalties else []),
            ],
        )
    )


def _fr_date(value: datetime) -> str:
    return value.astimezone().strftime("%d/%m/%Y à %H:%M")


def _fr_duration(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    return f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"


def _fr_number(value: float) -> str:
    return f"{value:g}".replace(".", ",")


#: Why the exec channel stood in for SSH, for the jury (EvidenceItem.fallback).
FALLBACK_FR = {
    "fallback: host key mismatch": "car la clé d'hôte SSH du nœud n'est pas celle enregistrée "
    "à la création du lab (autre machine à cette adresse, ou clés remplacées)",
    "fallback: ssh authentication refused": "car la connexion SSH a été refusée",
    "fallback: ssh unreachable": "car le nœud ne répondait pas en SSH",
}


def _fallback_fr(reason: str) -> str:
    return FALLBACK_FR.get(reason, "car SSH n'a pas pu être utilisé")


def to_html(report: GradeReport) -> str:
    """A self-contained French jury report (no external resources), printable to PDF."""
    env = Environment(
        autoescape=select_autoescape(default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["fr_date"] = _fr_date
    env.filters["fr_number"] = _fr_number
    env.filters["fallback_fr"] = _fallback_fr
    env.filters["verdict_fr"] = verdict_fr
    env.filters["points_fr"] = points_fr
    env.filters["penalties_fr"] = penalties_fr
    text = resources.files("tai_labs.reports").joinpath("templates/jury.html.j2").read_text("utf-8")
    exam = None
    if report.exam_started is not None:
        exam = _fr_duration((report.started - report.exam_started).total_seconds())
    changes = ""
    if report.changes is not None:
        folder = resources.files("tai_labs.reports").joinpath("templates")
        source = folder.joinpath("changes.html.j2").read_text("utf-8")
        changes = Markup(env.from_string(source).render(a=report.changes))
    return env.from_string(text).render(
        r=report,
        changes_html=changes,
        Verdict=Verdict,
        duration=_fr_duration(report.seconds),
        exam_duration=exam,
        by_competence={
            c.id: [x for x in report.checks if x.competence == c.id] for c in report.competences
        },
    )
