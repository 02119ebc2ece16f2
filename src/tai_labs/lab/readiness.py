"""Can a valid scenario actually run yet? `list` says so, so nothing pretends.

A scenario is runnable when every plugin it uses is implemented and the engines its nodes
need exist. The answer is derived from the registries, never written by hand.
"""

from __future__ import annotations

from typing import Any

from tai_labs.plugins import (
    ACTION_PLUGINS,
    CHECK_PLUGINS,
    ENGINE_PLUGINS,
    FAULT_PLUGINS,
    Plugin,
    Registry,
)
from tai_labs.providers import available_engines
from tai_labs.roles.registry import NoRoleError, role_for
from tai_labs.scenario.model import Scenario


def up_blockers(scenario: Scenario) -> list[str]:
    """What `up` lacks for this scenario: engines, roles and setup actions."""
    missing: list[str] = []
    engines = available_engines()
    for engine in sorted({n.effective_engine for n in scenario.topology.nodes}):
        if engine not in engines:
            missing.append(f"engine {engine!r} not available yet")
    for node in scenario.topology.nodes:
        engine = node.effective_engine
        if node.disks and engine in engines and not ENGINE_PLUGINS.get(engine).own_kernel:
            # A blank disk a candidate partitions needs its own kernel to see partitions.
            missing.append(f"node {node.name!r}: extra disks need a VM node (engine: vm)")
    for kind in sorted({n.kind.value for n in scenario.topology.nodes}):
        try:
            role_for(kind)
        except NoRoleError as exc:
            missing.append(exc.message)
    missing += _plugin_gaps([(ACTION_PLUGINS, s.action) for s in scenario.setup])
    missing += _plugin_gaps([(FAULT_PLUGINS, f.fault) for f in scenario.faults])
    return missing


def blockers(scenario: Scenario) -> list[str]:
    """What stands between this scenario and a full exam (up, faults, grading, self-test)."""
    missing = up_blockers(scenario)
    uses = (
        [(CHECK_PLUGINS, c.grader) for c in scenario.checks]
        + [(FAULT_PLUGINS, f.fault) for f in scenario.faults]
        + [(ACTION_PLUGINS, s.action) for s in [*scenario.setup, *scenario.solution.steps]]
    )
    return missing + [m for m in _plugin_gaps(uses) if m not in missing]


def _plugin_gaps(uses: list[tuple[Registry[Plugin[Any]], str]]) -> list[str]:
    missing: list[str] = []
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
