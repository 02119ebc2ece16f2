"""Run a scenario's checks against a lab: in dependency waves, in parallel across nodes.

Within a wave (checks whose prerequisites are all judged), checks are grouped by target node;
nodes run in parallel, the checks of one node one after the other on its reused sessions.
A check whose prerequisite did not pass is skipped with that reason; a check that cannot
reach its node is in error. Nothing passes by default.

Grading is bounded (docs/security.md, "Bounded grading"): each check has a time limit
(``Check.time_limit``) that every session call it makes is held to, and a check over it is
``error``; evidence whose output was cut at the size bound is ``error`` unless the check
declares the cut harmless.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tai_labs.bounded_output import MAX_OUTPUT_BYTES
from tai_labs.errors import TaiLabsError
from tai_labs.grading.base import CHECKS, Check, Sessions
from tai_labs.grading.identity import Identities
from tai_labs.grading.model import Evidence, Judgement, Verdict
from tai_labs.grading.result import CheckResult, CompetenceResult, EvidenceItem, GradeReport
from tai_labs.referential import Referential, load_referential
from tai_labs.scenario.model import CheckUse, Scenario
from tai_labs.sessions.base import CommandResult, PinMismatchError, SessionError
from tai_labs.sessions.deadline import within

#: Evidence output kept per command in a report: enough for a jury, not a log dump.
EVIDENCE_CHARS = 1500


@dataclass(frozen=True)
class Outcome:
    judgement: Judgement
    evidence: list[EvidenceItem]
    seconds: float


def _excerpt(text: str) -> str:
    text = text.strip()
    return text if len(text) <= EVIDENCE_CHARS else text[: EVIDENCE_CHARS - 1] + "…"


class _OverLimit(Exception):
    """The check went past its time limit."""


def _over_limit(limit: float) -> Judgement:
    return Judgement.error(
        f"le contrôle a dépassé son temps limite ({limit:g} s) : il n'a pas pu être évalué",
        f"the check exceeded its time limit ({limit:g} s)",
    )


def _check_time(deadline: float) -> None:
    if time.monotonic() > deadline:
        raise _OverLimit


def _truncated(plugin: type[Check[Any, Any]], evidence: Evidence) -> Judgement | None:
    """``error`` when the judge read output cut at the bound, unless the check says it may."""
    if plugin.truncation_harmless:
        return None
    cut = next((c for c in evidence.commands if c.truncated), None)
    if cut is None:
        return None
    streams = " et ".join(cut.truncated)
    mib = MAX_OUTPUT_BYTES // 2**20
    return Judgement.error(
        f"la sortie de `{cut.command}` ({streams}) dépasse {mib} Mio et a été tronquée : "
        "impossible de juger sur une preuve incomplète",
        f"the output of `{cut.command}` ({', '.join(cut.truncated)}) went past {mib} MiB "
        "and was cut: cannot judge on partial evidence",
    )


def judge_on(
    check: CheckUse, node: str, sessions: Sessions, baseline: dict[str, str] | None = None
) -> Outcome:
    """Collect then judge one check on one node, within the check's time limit
    (``baseline``: its exam-start identities)."""
    plugin = CHECKS.get(check.grader)
    start = time.monotonic()
    limit = plugin.time_limit
    deadline = start + limit
    evidence = Evidence()
    params = check.bound_params(plugin.Params)
    fallback = ""
    try:
        # Every session call (and opening the session) gets at most the time left.
        with within(deadline):
            session = sessions.get(node, plugin.session)
            transport = getattr(session, "transport", plugin.session)
            fallback = getattr(session, "fallback", "")
            evidence = plugin().collect(session, params)
        evidence.baseline = dict(baseline or {})
        _check_time(deadline)
        # judge is pure CPU on the host and cannot be interrupted from its thread; it is
        # checked once it returns. Its input is bounded (MAX_OUTPUT_BYTES per stream, a few
        # commands per check) and the parsers are linear in it (grading.parsers, ReDoS tests),
        # so it ends in milliseconds: only a check that still overruns becomes `error` here.
        judgement = _truncated(plugin, evidence) or plugin().judge(evidence, params)
        _check_time(deadline)
    except _OverLimit:
        judgement = _over_limit(limit)
    except PinMismatchError as exc:  # someone else answers: what it says is no evidence
        transport = plugin.session
        judgement = Judgement.error(
            f"{node} : identité non vérifiée, certificat différent de celui enregistré à la "
            f"création du lab ({exc.message})",
            f"{node}: identity not verified: {exc.message}",
        )
    except SessionError as exc:
        transport = plugin.session
        if time.monotonic() >= deadline:
            # The call was cut short by the check's deadline: the limit, not the node, decided.
            judgement = _over_limit(limit)
        else:
            judgement = Judgement.error(
                f"{node} injoignable : {exc.message}", f"{node} unreachable: {exc.message}"
            )
    except Exception as exc:  # a grader bug must cost one check its verdict, not the report
        transport = plugin.session
        judgement = Judgement.error(
            f"le contrôle n'a pas pu être évalué ({type(exc).__name__})",
            f"grader {check.grader} failed: {type(exc).__name__}: {exc}",
        )
    items = [evidence_item(node, transport, c, fallback) for c in evidence.commands]
    return Outcome(judgement, items, time.monotonic() - start)


def evidence_item(node: str, transport: str, c: CommandResult, fallback: str = "") -> EvidenceItem:
    """One command of the evidence as the report shows it, with the side that answered
    (``fallback``: why exec stood in for SSH, which says nothing of what the host read)."""
    return EvidenceItem(
        node=node,
        transport=c.via or transport,
        source=c.source,
        command=c.command,
        rc=c.rc,
        output=_excerpt(c.stdout + (("\n" + c.stderr) if c.stderr.strip() else ""))
        + _cut_note(c.truncated),
        truncated=list(c.truncated),
        fallback=fallback if c.source == "node" else "",
    )


def _cut_note(streams: Sequence[str]) -> str:
    if not streams:
        return ""
    mib = MAX_OUTPUT_BYTES // 2**20
    return f"\n[sortie tronquée : {' et '.join(streams)} au-delà de {mib} Mio]"


def _combine(outcomes: Sequence[Outcome]) -> Outcome:
    """A check on several nodes passes only if it passes on each."""
    if len(outcomes) == 1:
        return outcomes[0]
    worst = next(
        (o for v in (Verdict.ERROR, Verdict.FAIL) for o in outcomes if o.judgement.verdict is v),
        outcomes[0],
    )
    evidence = [e for o in outcomes for e in o.evidence]
    return Outcome(worst.judgement, evidence, sum(o.seconds for o in outcomes))


def _waves(checks: Sequence[CheckUse]) -> list[list[CheckUse]]:
    ids = {c.id for c in checks}
    done: set[str] = set()
    remaining = list(checks)
    waves = []
    while remaining:
        wave = [c for c in remaining if all(d in done or d not in ids for d in c.depends_on)]
        if not wave:  # the loader refuses cycles; never loop forever on one anyway
            raise TaiLabsError(
                "circular depends_on between checks: " + ", ".join(c.id for c in remaining)
            )
        waves.append(wave)
        done |= {c.id for c in wave}
        remaining = [c for c in remaining if c.id not in done]
    return waves


def _result(
    check: CheckUse, outcome: Outcome, ref: Referential, verdict: Verdict | None = None
) -> CheckResult:
    judgement = outcome.judgement
    verdict = verdict or judgement.verdict
    if verdict is Verdict.PASS:
        message = check.messages.passed
    elif verdict is Verdict.FAIL:
        message = check.messages.failed
    else:
        message = judgement.why_fr
    return CheckResult(
        id=check.id,
        title=check.title,
        grader=check.grader,
        targets=check.targets,
        competence=check.competence_id,
        criterion=check.criterion,
        criterion_text=ref.criterion(check.criterion).text,
        verdict=verdict,
        points=_points(check, verdict),
        max_points=0.0 if check.invariant else check.points,
        message=message,
        why_fr=judgement.why_fr,
        why_en=judgement.why_en,
        decisive=judgement.decisive,
        review=judgement.review if verdict is Verdict.FAIL else "",
        evidence=outcome.evidence,
        seconds=round(outcome.seconds, 3),
        persistent=check.persistent,
        invariant=check.invariant,
        penalty=check.points if check.invariant else 0.0,
    )


def _points(check: CheckUse, verdict: Verdict) -> float:
    """All or nothing for a check; an invariant earns nothing when it holds and costs its
    points when broken (an ``error`` or ``skipped`` one costs nothing: the jury judges it)."""
    if check.invariant:
        return -check.points if verdict is Verdict.FAIL else 0.0
    return check.points if verdict is Verdict.PASS else 0.0


def grade(
    scenario: Scenario,
    sessions: Sessions,
    *,
    lab: str,
    candidate: str,
    seed: int,
    only: Sequence[str] = (),
    threshold: float = 0.5,
    exam_started: datetime | None = None,
    identities: Identities | None = None,
    on_result: Callable[[CheckResult], None] | None = None,
) -> GradeReport:
    """Judge the checks (``only``: these ids); ``identities``: what ``record_identities``
    kept at exam start (none: objects are judged without identity)."""
    ref = load_referential()
    started = datetime.now(UTC)
    checks = [c for c in scenario.checks if not only or c.id in only]
    unknown = set(only) - {c.id for c in scenario.checks}
    if unknown:
        raise TaiLabsError(
            f"no check {', '.join(sorted(unknown))} in {scenario.id}",
            hint="checks: " + ", ".join(c.id for c in scenario.checks),
        )
    known = identities or Identities()
    results: dict[str, CheckResult] = {}
    for wave in _waves(checks):
        runnable: list[CheckUse] = []
        for check in wave:
            blocked = [
                d
                for d in check.depends_on
                if d in results and results[d].verdict is not Verdict.PASS
            ]
            if blocked:
                titles = " ; ".join(f"« {results[d].title} »" for d in blocked)
                why = Judgement(
                    Verdict.SKIPPED,
                    f"non évalué : le prérequis {titles} n'est pas réussi",
                    f"skipped: prerequisite {', '.join(blocked)} did not pass",
                )
                results[check.id] = _result(check, Outcome(why, [], 0.0), ref, Verdict.SKIPPED)
            else:
                runnable.append(check)
        by_node: dict[str, list[tuple[CheckUse, str]]] = {}
        for check in runnable:
            for node in check.targets:
                by_node.setdefault(node, []).append((check, node))
        outcomes: dict[str, list[Outcome]] = {}

        def run_node(items: list[tuple[CheckUse, str]]) -> list[tuple[str, Outcome]]:
            return [
                (check.id, judge_on(check, node, sessions, known.of(check.id, node)))
                for check, node in items
            ]

        with ThreadPoolExecutor(max_workers=max(1, len(by_node))) as pool:
            for done in pool.map(run_node, by_node.values()):
                for check_id, outcome in done:
                    outcomes.setdefault(check_id, []).append(outcome)
        for check in runnable:
            results[check.id] = _result(check, _combine(outcomes[check.id]), ref)
            if on_result:
                on_result(results[check.id])
    ordered = [results[c.id] for c in checks]
    competences = _competences(ordered, scenario, ref, threshold)
    return GradeReport(
        lab=lab,
        scenario=scenario.id,
        scenario_title=scenario.scenario.title,
        block=scenario.scenario.block,
        candidate=candidate,
        seed=seed,
        started=started,
        finished=datetime.now(UTC),
        exam_started=exam_started,
        threshold=threshold,
        checks=ordered,
        competences=competences,
        points=sum(c.points for c in competences),
        max_points=sum(c.max_points for c in competences),
        penalties=sum(c.penalties for c in competences),
    )


def _competences(
    results: Sequence[CheckResult], scenario: Scenario, ref: Referential, threshold: float
) -> list[CompetenceResult]:
    out = []
    for competence_id in scenario.scenario.competences:
        mine = [r for r in results if r.competence == competence_id]
        # A broken invariant takes from what the competence earned, never below nothing.
        penalties = sum(r.penalty for r in mine if r.invariant and r.verdict is Verdict.FAIL)
        earned = max(0.0, sum(r.points for r in mine))
        total = sum(r.max_points for r in mine)
        competence = ref.competence(competence_id)
        out.append(
            CompetenceResult(
                id=competence_id,
                title=competence.title,
                block=ref.block_of(competence_id).id,
                points=earned,
                max_points=total,
                acquired=total > 0 and earned / total >= threshold,
                checks=[r.id for r in mine],
                penalties=penalties,
            )
        )
    return out
