"""The catalogue as `list`, `list --coverage`, `show --json` and `catalog` show it: typed rows
built here, rendered by the CLI (as a table, or as JSON through ``to_dict``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tai_labs.actions.base import ACTIONS
from tai_labs.faults.base import FAULTS
from tai_labs.grading.base import CHECKS
from tai_labs.lab.readiness import blockers
from tai_labs.plugins import Registry
from tai_labs.referential import Referential, load_referential
from tai_labs.scenario import catalog
from tai_labs.scenario.diagnostics import Diagnostic, ScenarioError, display_path
from tai_labs.scenario.loader import LoadedScenario, load_scenario


@dataclass(frozen=True)
class ScenarioFacts:
    """What a valid scenario assesses and whether it can run."""

    title: str
    block: str
    competences: list[str]
    criteria: list[str]
    duration: int
    difficulty: str
    checks: int
    points: float
    nodes: int
    blockers: list[str]
    draft: str | None


@dataclass(frozen=True)
class ScenarioSummary:
    """One row of `list`: an invalid scenario has its problems and no facts."""

    path: str
    id: str
    problems: list[Diagnostic] = field(default_factory=list)
    facts: ScenarioFacts | None = None

    @property
    def valid(self) -> bool:
        return self.facts is not None

    @property
    def runnable(self) -> bool:
        return self.facts is not None and not self.facts.blockers

    @property
    def competences(self) -> list[str]:
        return self.facts.competences if self.facts else []

    def to_dict(self) -> dict[str, Any]:
        row: dict[str, Any] = {"path": self.path, "id": self.id}
        f = self.facts
        if f is None:
            row.update(valid=False, problems=[d.as_dict() for d in self.problems], runnable=False)
            return row
        row.update(
            title=f.title,
            block=f.block,
            competences=f.competences,
            criteria=f.criteria,
            duration=f.duration,
            difficulty=f.difficulty,
            checks=f.checks,
            points=f.points,
            nodes=f.nodes,
            valid=True,
            problems=[],
            runnable=self.runnable,
            blockers=f.blockers,
            draft=f.draft,
        )
        return row


def summarize(file: Path) -> ScenarioSummary:
    try:
        loaded = load_scenario(file)
    except ScenarioError as exc:
        return ScenarioSummary(display_path(file), file.parent.name, list(exc.diagnostics))
    s = loaded.scenario
    return ScenarioSummary(
        display_path(file),
        s.id,
        facts=ScenarioFacts(
            title=s.scenario.title,
            block=s.scenario.block,
            competences=s.scenario.competences,
            criteria=sorted({c.criterion for c in s.checks}),
            duration=s.scenario.duration,
            difficulty=s.scenario.difficulty.value,
            checks=len(s.checks),
            points=s.total_points,
            nodes=len(s.topology.nodes),
            blockers=blockers(s),
            draft=s.scenario.draft,
        ),
    )


def scenario_summaries(
    block: str | None = None, competence: str | None = None
) -> list[ScenarioSummary]:
    """Every scenario of the catalogue, filtered by block and competence (upper-cased ids)."""
    rows = [summarize(f) for f in catalog.iter_scenario_files()]
    if block:
        rows = [r for r in rows if r.facts is not None and r.facts.block == block]
    if competence:
        rows = [r for r in rows if competence in r.competences]
    return rows


@dataclass(frozen=True)
class CoverageRow:
    competence: str
    block: str
    title: str
    scenarios: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {
            "competence": self.competence,
            "block": self.block,
            "title": self.title,
            "scenarios": self.scenarios,
        }


def coverage(rows: list[ScenarioSummary], ref: Referential | None = None) -> list[CoverageRow]:
    """The scenarios of each competence of the referential, so gaps show."""
    ref = ref or load_referential()
    return [
        CoverageRow(
            c.id,
            ref.block_of(c.id).id,
            c.title,
            sorted(r.id for r in rows if c.id in r.competences),
        )
        for c in ref.competences
    ]


def scenario_json(loaded: LoadedScenario) -> dict[str, Any]:
    """`show --json`: the scenario as written (aliases), its variables and rendered brief."""
    data = loaded.scenario.model_dump(mode="json", by_alias=True)
    data["variables"] = loaded.variables
    data["brief_text"] = loaded.render_brief()
    return data


@dataclass(frozen=True)
class ParamInfo:
    required: bool
    type: str


@dataclass(frozen=True)
class PluginInfo:
    """One row of `catalog`: a check, fault or action and its parameters."""

    name: str
    summary: str
    node_kinds: list[str]
    params: dict[str, ParamInfo]
    implemented: bool
    symptom: str | None = None  # faults only

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "summary": self.summary,
            "node_kinds": self.node_kinds,
            "params": {n: {"required": p.required, "type": p.type} for n, p in self.params.items()},
            "implemented": self.implemented,
            **({"symptom": self.symptom} if self.symptom is not None else {}),
        }


def plugin_infos(kind: str) -> list[PluginInfo]:
    """The plugins of ``kind``: "checks", "faults" or "actions"."""
    registries: dict[str, Registry[Any]] = {"checks": CHECKS, "faults": FAULTS, "actions": ACTIONS}
    return [
        PluginInfo(
            name=plugin.name,
            summary=plugin.summary,
            node_kinds=sorted(plugin.node_kinds),
            params={
                (f.alias or n): ParamInfo(f.is_required(), str(f.annotation))
                for n, f in plugin.Params.model_fields.items()
            },
            implemented=not plugin.missing_parts(),
            symptom=getattr(plugin, "symptom", None),
        )
        for plugin in registries[kind]
    ]
