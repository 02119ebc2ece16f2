"""Can a valid scenario actually run yet? `list` says so, so nothing pretends.

A scenario is runnable when every plugin it uses is implemented and the engines its nodes
need exist. The answer is derived from the registries, never written by hand.
"""

from __future__ import annotations

from tai_labs.actions.base import ACTIONS
from tai_labs.faults.base import FAULTS
from tai_labs.grading.base import CHECKS
from tai_labs.providers import available_engines
from tai_labs.scenario.model import Scenario


def blockers(scenario: Scenario) -> list[str]:
    """What stands between this scenario and a real lab; empty when runnable."""
    missing: list[str] = []
    engines = available_engines()
    for engine in sorted({n.effective_engine.value for n in scenario.topology.nodes}):
        if engine not in engines:
            missing.append(f"engine {engine!r} not available yet")
    uses = (
        [(CHECKS, c.grader) for c in scenario.checks]
        + [(FAULTS, f.fault) for f in scenario.faults]
        + [(ACTIONS, s.action) for s in [*scenario.setup, *scenario.solution.steps]]
    )
    seen: set[str] = set()
    for registry, name in uses:
        key = f"{registry.kind} {name}"
        if key in seen:
            continue
        seen.add(key)
        parts = registry.get(name).missing_parts()
        if parts:
            missing.append(f"{key} lacks {', '.join(parts)}")
    return missing
