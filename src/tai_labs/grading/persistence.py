"""Does the fix survive a restart? Merging the verdicts judged after a restart into a report.

Checks declared ``persistent`` are judged twice when the restart phase runs: on the end state
as the candidate left it, then again after their target nodes were restarted (lab layer,
``lab/restart.py``). This module is the pure half: given both reports, it says for each
persistent check whether the fix held "après redémarrage", and fails the check when a fix that
passed before the restart does not pass after it. No lab is needed to test it.
"""

from __future__ import annotations

from collections.abc import Sequence

from tai_labs.grading.model import Verdict
from tai_labs.grading.result import CheckResult, CompetenceResult, GradeReport, RestartPhase


def _nodes_fr(nodes: Sequence[str]) -> str:
    return ", ".join(nodes)


def to_restart(report: GradeReport, persistent: Sequence[str]) -> list[str]:
    """The persistent checks worth judging again: those that pass before the restart (one
    that already fails cannot do worse)."""
    wanted = set(persistent)
    return [c.id for c in report.checks if c.id in wanted and c.verdict is Verdict.PASS]


def held(before: CheckResult, after: CheckResult, nodes: Sequence[str]) -> CheckResult:
    """The check's verdict once judged again after its nodes restarted."""
    where = _nodes_fr([n for n in nodes if n in before.targets] or nodes)
    evidence = [
        *before.evidence,
        *(e.model_copy(update={"after_restart": True}) for e in after.evidence),
    ]
    common = {
        "after_restart": after.verdict,
        "evidence": evidence,
        "seconds": round(before.seconds + after.seconds, 3),
    }
    if after.verdict is Verdict.PASS:
        return before.model_copy(
            update={
                **common,
                "message": f"{before.message} (vérifié après redémarrage de {where} : "
                "la correction tient)",
            }
        )
    if after.verdict is Verdict.FAIL:
        return before.model_copy(
            update={
                **common,
                "verdict": Verdict.FAIL,
                "points": 0.0,
                "message": f"La correction ne survit pas à un redémarrage. Après redémarrage "
                f"de {where} : {after.message}",
                "why_fr": f"après redémarrage de {where} : {after.why_fr}",
                "why_en": f"after restarting {where}: {after.why_en}",
                "decisive": after.decisive,
            }
        )
    if after.verdict is Verdict.SKIPPED:
        return before.model_copy(
            update={
                **common,
                "verdict": Verdict.SKIPPED,
                "points": 0.0,
                "message": f"Après redémarrage de {where}, {after.why_fr}",
                "why_fr": f"après redémarrage de {where} : {after.why_fr}",
                "why_en": f"after restarting {where}: {after.why_en}",
            }
        )
    return before.model_copy(
        update={
            **common,
            "verdict": Verdict.ERROR,
            "points": 0.0,
            "message": f"Après redémarrage de {where}, le contrôle n'a pas pu être évalué : "
            f"{after.why_fr}",
            "why_fr": f"après redémarrage de {where} : {after.why_fr}",
            "why_en": f"after restarting {where}: {after.why_en}",
            "decisive": after.decisive,
        }
    )


def _competences(
    competences: Sequence[CompetenceResult], checks: Sequence[CheckResult], threshold: float
) -> list[CompetenceResult]:
    by_id = {c.id: c for c in checks}
    out = []
    for comp in competences:
        mine = [by_id[i] for i in comp.checks if i in by_id]
        # As the runner counts: broken invariants take from the competence, never below 0.
        earned = max(0.0, sum(c.points for c in mine))
        penalties = sum(c.penalty for c in mine if c.invariant and c.verdict is Verdict.FAIL)
        out.append(
            comp.model_copy(
                update={
                    "points": earned,
                    "penalties": penalties,
                    "acquired": comp.max_points > 0 and earned / comp.max_points >= threshold,
                }
            )
        )
    return out


def merge_restart(before: GradeReport, after: GradeReport, phase: RestartPhase) -> GradeReport:
    """``before`` with the persistent checks judged again in ``after`` (same grading)."""
    again = {c.id: c for c in after.checks}
    checks = [held(c, again[c.id], phase.nodes) if c.id in again else c for c in before.checks]
    competences = _competences(before.competences, checks, before.threshold)
    return before.model_copy(
        update={
            "checks": checks,
            "competences": competences,
            "points": sum(c.points for c in competences),
            "penalties": sum(c.penalties for c in competences),
            "restart": phase,
            "finished": after.finished,
        }
    )


def not_restarted(report: GradeReport, persistent: Sequence[str], note: str) -> GradeReport:
    """The report when no restart judged the persistent checks: each one that passes says its
    persistence was not verified, so nobody reads it as a lasting fix."""
    wanted = set(persistent)
    checks = [
        c.model_copy(update={"message": f"{c.message} (persistance non vérifiée : {note})"})
        if c.id in wanted and c.verdict is Verdict.PASS
        else c
        for c in report.checks
    ]
    return report.model_copy(
        update={"checks": checks, "restart": RestartPhase(ran=False, note=note)}
    )


def restart_failed(report: GradeReport, phase: RestartPhase) -> GradeReport:
    """The report when the restart itself failed: the persistent checks it was for could not
    be judged (``error``, no points), whatever they showed before."""
    wanted = set(phase.checks)
    why = f"le redémarrage de {_nodes_fr(phase.nodes)} a échoué ({phase.note})"
    checks = [
        c.model_copy(
            update={
                "verdict": Verdict.ERROR,
                "points": 0.0,
                "message": f"Persistance non vérifiée : {why}",
                "why_fr": why,
                "why_en": f"restarting {', '.join(phase.nodes)} failed: {phase.note}",
            }
        )
        if c.id in wanted
        else c
        for c in report.checks
    ]
    return report.model_copy(
        update={
            "checks": checks,
            "competences": _competences(report.competences, checks, report.threshold),
            "points": sum(c.points for c in checks),
            "restart": phase,
        }
    )
