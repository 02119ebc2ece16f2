"""`tai-labs selftest`: prove a scenario right on a real lab, in every variant.

For each variant (each option of the choice variables its conditions use):

1. up (setup, faults, exam-start snapshot); grade: every check fails except the invariants,
   which pass (a check passing at exam start would give points for doing nothing); every
   fault is in place;
2. back to exam start, inject the faults again twice: nothing changes (same verdicts);
3. back to exam start, the reference solution: every check passes, no fault is in place;
4. each alternative solution: every check passes; each wrong solution: its ``must_fail``
   checks are judged ``fail`` (not ``error``: a grader that could not judge is no jury's
   fail), its ``must_pass`` checks pass;
5. down: nothing of the lab is left.

Each variant is one unit of work with its own lab, so ``run_selftest(..., parallel=N)`` runs
N of them at once in worker threads (labs spend most of their time waiting on their nodes)
and still reports in the catalogue's order. A failure outside the phases in one worker, or
Ctrl-C, stops the others at their next phase (or their `up`'s next step), and every lab
started is brought down before the error goes on.

Every grading has the restart phase (``lab/restart.py``): a persistent check that passes is
judged again after a restart of its nodes, so a runtime-only wrong solution fails it.
"""

from __future__ import annotations

import dataclasses
import functools
import re
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from tai_labs.actions.base import run_step
from tai_labs.errors import TaiLabsError, UsageError
from tai_labs.faults.base import FAULTS
from tai_labs.grading.model import Verdict
from tai_labs.grading.result import GradeReport
from tai_labs.grading.runner import grade
from tai_labs.lab import lifecycle
from tai_labs.lab.grading import lab_identities
from tai_labs.lab.restart import restart_phase
from tai_labs.lab.runtime import Lab
from tai_labs.providers.naming import new_lab_id
from tai_labs.scenario import catalog
from tai_labs.scenario.loader import load_scenario, variable_specs
from tai_labs.scenario.model import Scenario, Step

_T = TypeVar("_T")
_R = TypeVar("_R")

CANDIDATE = "selftest"
SEED_SEARCH = 400


@dataclass
class Phase:
    name: str
    ok: bool
    detail: str = ""
    seconds: float = 0.0


@dataclass
class SelftestResult:
    scenario: str
    variant: dict[str, Any]
    seed: int
    lab: str = ""
    phases: list[Phase] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return bool(self.phases) and all(p.ok for p in self.phases)

    @property
    def label(self) -> str:
        """The scenario, and its variant if it has one: ``partage-x[os=debian]``."""
        if not self.variant:
            return self.scenario
        return f"{self.scenario}[{','.join(f'{k}={v}' for k, v in self.variant.items())}]"

    def to_dict(self) -> dict[str, Any]:
        """As `selftest --json` prints it (the lab id is left out: it is gone)."""
        return {
            "scenario": self.scenario,
            "variant": self.variant,
            "seed": self.seed,
            "ok": self.ok,
            "seconds": self.seconds,
            "phases": [dataclasses.asdict(p) for p in self.phases],
        }


@dataclass
class SelftestPlan:
    """The scenario files to prove, and the drafts left out (file, why it is a draft)."""

    files: list[Path]
    drafts: list[tuple[Path, str]] = field(default_factory=list)


def selftest_plan(scenarios: Sequence[str] = ()) -> SelftestPlan:
    """The named scenarios (ids or paths), else every non-draft scenario of the catalogue:
    drafts say themselves why they are not ready, and run only when named."""
    if scenarios:
        return SelftestPlan([catalog.find(s) for s in scenarios])
    plan = SelftestPlan([])
    for file in catalog.iter_scenario_files():
        draft = load_scenario(file).scenario.scenario.draft
        if draft:
            plan.drafts.append((file, draft))
        else:
            plan.files.append(file)
    return plan


@dataclass(frozen=True)
class Unit:
    """One lab to prove: a scenario file in one variant."""

    file: Path
    seed: int
    variant: dict[str, Any]


def selftest_units(files: Sequence[Path]) -> list[Unit]:
    """Every variant of every file, in the catalogue's order; drawn before any lab is made,
    so a scenario whose variants cannot be drawn fails the run before anything is built."""
    return [Unit(file, seed, variant) for file in files for seed, variant in variants(file)]


def run_selftest(
    units: Sequence[Unit], say: Callable[[str], None], *, parallel: int = 1
) -> list[SelftestResult]:
    """Each unit on its own lab, ``parallel`` at a time; results in the units' order
    whatever the order they finish in."""
    stop = threading.Event()
    return run_ordered(
        units, lambda u: run_variant(u.file, u.seed, u.variant, say, stop=stop), parallel, stop
    )


def run_ordered(
    items: Sequence[_T], work: Callable[[_T], _R], parallel: int, stop: threading.Event
) -> list[_R]:
    """``work`` on each item, ``parallel`` at once, results in the items' order.

    An exception escaping ``work`` in a worker, or Ctrl-C here, sets ``stop`` so that the
    running items wind down, cancels the items not started, waits for the running ones (each
    cleans up after itself) and is raised: the first to happen, not those of the items it
    stopped.
    """
    if parallel < 1:
        raise UsageError("--parallel takes 1 or more")
    if parallel == 1:  # today's behaviour, in this thread: no pool to wait for
        return [work(item) for item in items]
    cause: list[BaseException] = []
    guard = threading.Lock()

    def guarded(item: _T) -> _R:
        if stop.is_set():  # stopped before its turn came: never started
            raise KeyboardInterrupt
        try:
            return work(item)
        except BaseException as exc:
            # Set here, not by the waiting thread: the pool would start the next item first.
            with guard:
                if not stop.is_set():
                    cause.append(exc)  # the failure; the others fail by being stopped
                    stop.set()
            raise

    pool = ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="selftest")
    futures: list[Future[_R]] = []
    try:
        futures = [pool.submit(guarded, item) for item in items]
        wait(futures, return_when=FIRST_EXCEPTION)
    except BaseException:  # Ctrl-C while waiting
        stop.set()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=stop.is_set())
    if cause:
        raise cause[0]
    return [f.result() for f in futures]


def variants(file: Path) -> list[tuple[int, dict[str, Any]]]:
    """One (seed, values) per option of the choice variables that conditions depend on."""
    loaded = load_scenario(file, candidate=CANDIDATE, seed=0)
    text = file.read_text(encoding="utf-8")
    conditions = " ".join(re.findall(r"when:\s*(.+)", text))
    specs = variable_specs(file)
    deciding = {
        name: spec.choice
        for name, spec in specs.items()
        if spec.choice is not None and re.search(rf"\b{re.escape(name)}\b", conditions)
    }
    if not deciding:
        return [(0, {})]
    count = max(len(options) for options in deciding.values())
    found: list[tuple[int, dict[str, Any]]] = []
    for k in range(count):
        target = {name: options[k % len(options)] for name, options in deciding.items()}
        for seed in range(SEED_SEARCH):
            values = load_scenario(file, candidate=CANDIDATE, seed=seed).variables
            if all(values[name] == value for name, value in target.items()):
                found.append((seed, target))
                break
        else:
            raise TaiLabsError(
                f"{loaded.scenario.id}: no seed below {SEED_SEARCH} draws {target}",
                hint="fewer choice variables in conditions, or fewer options",
            )
    return found


def _verdicts(report: GradeReport) -> dict[str, Verdict]:
    return {c.id: c.verdict for c in report.checks}


def _grade(lab: Lab) -> GradeReport:
    report = grade(
        lab.loaded.scenario,
        lab.sessions,
        lab=lab.id,
        candidate=CANDIDATE,
        seed=0,
        identities=lab_identities(lab),
    )
    # Persistence (docs/grading.md, "Persistance"): graded as the jury's `grade` does, with
    # the restart phase, so a runtime-only fix fails its persistent checks here too.
    # Every phase starts from a revert to exam start: no need to restore the restarted nodes.
    return restart_phase(lab, report, lab_identities(lab), restore=False)


def start_problems(scenario: Scenario, report: GradeReport) -> list[str]:
    """What is wrong with the verdicts at exam start: no check may give points for doing
    nothing, and every invariant must hold (else it is no invariant, or the lab is broken)."""
    by_id = {c.id: c for c in report.checks}
    out = []
    for check in scenario.checks:
        got = by_id[check.id]
        if check.invariant and got.verdict is not Verdict.PASS:
            out.append(
                f"{check.id}: invariant broken at exam start ({got.verdict.value}: {got.why_en})"
            )
        elif not check.invariant and got.verdict is Verdict.PASS:
            out.append(
                f"{check.id}: gives points for doing nothing (passes at exam start: "
                f"{got.why_en}; mark it invariant if it must not change, else make a fault "
                "break it)"
            )
    return out


def not_failing(
    scenario: Scenario,
    verdicts: dict[str, Verdict],
    must_fail: Sequence[str],
    must_pass: Sequence[str] = (),
) -> list[str]:
    """The checks a wrong solution does not leave as a jury would: each of ``must_fail`` must
    be judged ``fail``. An ``error`` is a grader that could not judge, not the jury's fail; a
    ``skipped`` check counts only when every check it depends on failed (it cannot be judged
    without them, and the jury's fail is theirs). Each of ``must_pass`` must pass."""
    depends = {c.id: c.depends_on for c in scenario.checks}
    bad = []
    for i in must_fail:
        verdict = verdicts[i]
        behind_fail = bool(depends.get(i)) and all(
            verdicts.get(d) is Verdict.FAIL for d in depends[i]
        )
        if verdict is not Verdict.FAIL and not (verdict is Verdict.SKIPPED and behind_fail):
            bad.append(i)
    return bad + [i for i in must_pass if verdicts[i] is not Verdict.PASS]


def _describe(report: GradeReport, ids: list[str]) -> str:
    by_id = {c.id: c for c in report.checks}
    return "; ".join(f"{i}: {by_id[i].verdict.value} ({by_id[i].why_en})" for i in ids)


def _faults_in_place(lab: Lab) -> dict[str, bool]:
    out = {}
    for use in lab.loaded.scenario.faults:
        plugin = FAULTS.get(use.fault)
        params = use.bound_params(plugin.Params)
        out[use.id] = plugin().in_place(lab.context(use.target), params)
    return out


def _apply(lab: Lab, steps: list[Step]) -> None:
    for step in steps:
        if step.target is None:
            raise TaiLabsError(f"solution step {step.action!r} has no target node")
        run_step(lab.context(step.target), step)


def run_variant(
    file: Path,
    seed: int,
    variant: dict[str, Any],
    say: Callable[[str], None],
    *,
    stop: threading.Event | None = None,
) -> SelftestResult:
    """One lab: up, phases 1 to 4, down (always). Once ``stop`` is set, no further phase
    starts (nor `up` step: KeyboardInterrupt, as Ctrl-C would) and the lab is brought down."""
    start = time.monotonic()
    result = SelftestResult(file.parent.name, variant, seed)

    def phase(name: str, fn: Callable[[], tuple[bool, str]]) -> bool:
        if name != "down":
            _check_stop(stop)
        t0 = time.monotonic()
        try:
            ok, detail = fn()
        except Exception as exc:  # a phase that crashes fails, and says how
            ok, detail = False, f"{type(exc).__name__}: {exc}"
        result.phases.append(Phase(name, ok, detail, round(time.monotonic() - t0, 2)))
        # The lab's name first: with --parallel, the lines of several labs interleave.
        say(f"{result.label}: {'ok  ' if ok else 'FAIL'} {name} {detail}")
        return ok

    _check_stop(stop)  # stopped before it began: no lab to bring down
    # The id is chosen here so that a lab whose `up` fails half-way is still brought down.
    result.lab = new_lab_id()
    lab: Lab | None = None
    try:

        def bring_up() -> tuple[bool, str]:
            nonlocal lab
            lab = lifecycle.up(
                file,
                candidate=CANDIDATE,
                seed=seed,
                lab_id=result.lab,
                report=lambda _: _check_stop(stop),
            )
            return True, f"lab {lab.id}"

        if phase("up", bring_up):
            assert lab is not None
            _prove(lab, phase)
    finally:

        def bring_down() -> tuple[bool, str]:
            removed = lifecycle.down(result.lab)
            return True, f"{len(removed)} resources removed"

        phase("down", bring_down)
        result.seconds = round(time.monotonic() - start, 1)
    return result


def _check_stop(stop: threading.Event | None) -> None:
    if stop is not None and stop.is_set():
        # As Ctrl-C: phases do not catch it, `up` records its step as interrupted.
        raise KeyboardInterrupt


def _prove(lab: Lab, phase: Callable[[str, Callable[[], tuple[bool, str]]], bool]) -> None:
    """Phases 1 to 4 on a lab that is up, over the lab's sessions (closed at the end, and by
    each revert)."""
    scenario = lab.loaded.scenario
    with lab.sessions:
        start_verdicts: dict[str, Verdict] = {}

        def at_start() -> tuple[bool, str]:
            report = _grade(lab)
            start_verdicts.update(_verdicts(report))
            wrong = start_problems(scenario, report)
            missing = [f for f, there in _faults_in_place(lab).items() if not there]
            detail = "; ".join(wrong)
            if missing:
                detail += f"; faults not in place: {missing}"
            invariants = sum(1 for c in scenario.checks if c.invariant)
            said = f"{len(scenario.checks) - invariants} checks fail, {invariants} invariants hold"
            return not wrong and not missing, detail or said

        phase("exam start", at_start)

        def twice() -> tuple[bool, str]:
            lifecycle.revert_to(lab, lifecycle.EXAM_START)
            lifecycle.inject_faults(lab, lambda e: None)
            first = _verdicts(_grade(lab))
            lifecycle.inject_faults(lab, lambda e: None)
            second = _verdicts(_grade(lab))
            changed = [i for i in first if first[i] != second[i] or first[i] != start_verdicts[i]]
            return not changed, f"changed: {changed}" if changed else "no change"

        phase("inject twice", twice)

        def solve(
            steps: list[Step], must_fail: list[str] | None, must_pass: Sequence[str] = ()
        ) -> tuple[bool, str]:
            lifecycle.revert_to(lab, lifecycle.EXAM_START)
            _apply(lab, steps)
            report = _grade(lab)
            verdicts = _verdicts(report)
            if must_fail is None:
                bad = [i for i, v in verdicts.items() if v is not Verdict.PASS]
                left = [f for f, there in _faults_in_place(lab).items() if there]
                detail = _describe(report, bad)
                if left:
                    detail += f"; faults still in place: {left}"
                return not bad and not left, detail or "every check passes"
            bad = not_failing(scenario, verdicts, must_fail, must_pass)
            said = f"{', '.join(must_fail)} still fail"
            lost = [c.id for c in report.checks if c.after_restart is Verdict.FAIL]
            if lost:  # passed on the end state, failed once the node restarted
                said += f" ({', '.join(lost)}: lost at restart)"
            if must_pass:
                said += f"; {', '.join(must_pass)} pass"
            return not bad, _describe(report, bad) or said

        phase("reference solution", functools.partial(solve, scenario.solution.steps, None))
        for alt in scenario.solution.alternatives:
            phase(f"alternative {alt.name}", functools.partial(solve, alt.steps, None))
        for wrong in scenario.solution.wrong:
            phase(
                f"wrong {wrong.name}",
                functools.partial(solve, wrong.steps, wrong.must_fail, wrong.must_pass),
            )
