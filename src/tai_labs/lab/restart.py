"""The restart phase of a grading: does each persistent fix survive a restart?

After the checks are judged on the end state as the candidate left it, the nodes that carry a
persistent check that passed are frozen (snapshot ``before-restart``), restarted once each
(stop, start, wait until booted and their role's services answer), and all their persistent
checks are judged again together. Then the nodes are put back to the frozen snapshot, so
grading leaves the candidate's work as it was on disk. A container's snapshot is its files:
what lived only in memory (a route added by hand) is gone after the restart, as after a
reboot; a VM's snapshot holds its memory too, so a VM comes back exactly (docs/grading.md,
"Persistance").
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

from tai_labs.grading.identity import Identities
from tai_labs.grading.persistence import (
    merge_restart,
    not_restarted,
    restart_failed,
    to_restart,
)
from tai_labs.grading.result import CheckResult, GradeReport, RestartPhase
from tai_labs.grading.runner import grade
from tai_labs.lab import lifecycle
from tai_labs.lab.grading import grade_lab, lab_identities, record_grade
from tai_labs.lab.plan import NodePlan
from tai_labs.lab.runtime import Lab, open_lab
from tai_labs.lab.store import lab_lock
from tai_labs.roles.registry import role_named

#: The frozen end state the restarted nodes come back to (a name the engines accept).
BEFORE_RESTART = "before-restart"

#: Why the phase did not run, as the report says it (French: the jury reads it).
NO_RESTART = "grading sans redémarrage (--no-restart)"
NOTHING_TO_RESTART = "aucun contrôle persistant réussi : aucun nœud à redémarrer"


def persistent_ids(lab: Lab) -> list[str]:
    return [c.id for c in lab.loaded.scenario.checks if c.persistent]


def _each(nodes: Sequence[NodePlan], work: Callable[[NodePlan], None]) -> None:
    """``work`` on every node at once; the first failure raised after all have finished."""
    with ThreadPoolExecutor(max_workers=max(1, len(nodes))) as pool:
        errors = [f.exception() for f in [pool.submit(work, n) for n in nodes]]
    for error in errors:
        if error is not None:
            raise error


def restart_nodes(lab: Lab, nodes: Sequence[NodePlan]) -> list[str]:
    """Stop and start each node once, wait until it booted and its role's own services
    answer (FRR with its interfaces, Samba; nothing more for a workstation); return the nodes
    whose readiness did not come back.

    A node whose fix did not survive may never be ready: that is for the checks to judge, not
    a reason to stop grading. Readiness is waited for even on a node a fault targets (unlike
    `reset`): judging a router before its daemons loaded their saved configuration would fail
    a fix that holds.
    """
    lab.sessions.close()  # sessions to the nodes as they were are dead after a stop

    def restart(node: NodePlan) -> None:
        lab.engine.stop(node.resource)
        lab.engine.start(node.resource, wait=True, timeout=node.boot_timeout)

    _each(nodes, restart)
    not_ready: list[str] = []

    def ready(node: NodePlan) -> None:
        try:
            role_named(node.role).wait_started(lab.context(node.name))
        except Exception:  # judged by the checks; the report notes it
            not_ready.append(node.name)

    with lab.sessions:
        _each(nodes, ready)
    return sorted(not_ready)


def restart_phase(
    lab: Lab, report: GradeReport, identities: Identities | None, *, restore: bool = True
) -> GradeReport:
    """``report`` with its persistent checks judged again after a restart of their nodes
    (``restore``: put the nodes back to their frozen end state afterwards)."""
    ids = to_restart(report, persistent_ids(lab))
    if not ids:
        if not any(c.persistent for c in report.checks):
            return report
        return not_restarted(report, persistent_ids(lab), NOTHING_TO_RESTART)
    scenario = lab.loaded.scenario
    names = sorted({n for c in scenario.checks if c.id in ids for n in c.targets})
    plans = [lab.node_plan(n) for n in names]
    start = time.monotonic()
    notes: list[str] = []
    after: GradeReport | None = None
    restored = False
    with lab_lock(lab.id):
        _each(plans, lambda n: lab.engine.snapshot(n.resource, BEFORE_RESTART))
        try:
            not_ready = restart_nodes(lab, plans)
            if not_ready:
                notes.append(f"non prêt après redémarrage : {', '.join(not_ready)}")
            with lab.sessions:
                after = grade(
                    scenario,
                    lab.sessions,
                    lab=lab.id,
                    candidate=report.candidate,
                    seed=report.seed,
                    only=ids,
                    threshold=report.threshold,
                    exam_started=report.exam_started,
                    identities=identities,
                )
        except Exception as exc:  # the persistent checks cannot be judged: error, not pass
            notes.append(f"redémarrage impossible ({type(exc).__name__}: {exc})")
        # Back to the frozen state; always after a failed restart (a node may be left down).
        if restore or after is None:
            try:
                lifecycle.revert_to(lab, BEFORE_RESTART, names)
                restored = True
            except Exception as exc:  # the verdicts stand; the jury must know the lab moved
                notes.append(
                    f"remise dans l'état figé avant redémarrage impossible ({exc}) : "
                    f"{', '.join(names)} laissés tels qu'après redémarrage"
                )
    phase = RestartPhase(
        ran=after is not None,
        nodes=names,
        checks=ids,
        seconds=round(time.monotonic() - start, 1),
        restored=restored,
        note=" ; ".join(notes),
    )
    if after is None:
        return restart_failed(report, phase)
    return merge_restart(report, after, phase)


def grade_lab_restarting(
    lab_id: str,
    *,
    restart: bool = True,
    only: Sequence[str] = (),
    threshold: float = 0.5,
    on_result: Callable[[CheckResult], None] | None = None,
    audit: bool = True,
) -> GradeReport:
    """`tai-labs grade`: grade the end state (with the change audit unless ``audit`` is
    off), then (``restart``) the restart phase; the complete report replaces the first one
    in the lab's grade history."""
    report = grade_lab(lab_id, only=only, threshold=threshold, on_result=on_result, audit=audit)
    lab = open_lab(lab_id)
    if not any(c.persistent for c in report.checks):
        return report
    if restart:
        report = restart_phase(lab, report, lab_identities(lab))
    else:
        report = not_restarted(report, persistent_ids(lab), NO_RESTART)
    record_grade(lab, report)
    return report
