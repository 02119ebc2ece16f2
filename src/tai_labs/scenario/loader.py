"""From ``scenario.yaml`` to a typed, resolved ``Scenario``: one ordered pipeline.

    read (YAML + line numbers) -> extends -> variables -> render -> model -> cross-references

Every stage collects all of its problems; the pipeline stops after a stage that found any
(later stages would only report consequences), and raises ``ScenarioError`` with them all.
``validate`` runs the pipeline once per variant (every option of every ``choice`` variable)
so a broken branch is found even if the default candidate never draws it.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

from tai_labs.referential import load_referential
from tai_labs.scenario import brief as brief_mod
from tai_labs.scenario import crossref, invariants, limits, paths
from tai_labs.scenario.diagnostics import Diagnostic, KeyPath, ScenarioError, dedupe
from tai_labs.scenario.extends import catalogue_roots, load_document
from tai_labs.scenario.model import Scenario, Step
from tai_labs.scenario.render import (
    budget_spent,
    load_budget,
    make_environment,
    render_document,
    render_value,
)
from tai_labs.scenario.source import SourceMap
from tai_labs.scenario.validation import validate_model
from tai_labs.scenario.variables import (
    SecretSource,
    Variable,
    VariableError,
    resolve,
)

SCENARIO_FILE = "scenario.yaml"
#: Candidate name used when none is given (validation, `show`).
DEMO_CANDIDATE = "demo"


@dataclass(frozen=True)
class LoadedScenario:
    """A scenario rendered for one candidate, with what produced it."""

    scenario: Scenario
    variables: dict[str, Any]
    file: Path
    source: SourceMap

    @property
    def folder(self) -> Path:
        return self.file.parent

    def render_brief(self, extra: Mapping[str, Any] | None = None) -> str:
        return brief_mod.render(self, extra or {})


def scenario_file(path: Path) -> Path:
    """Accept a scenario folder or its ``scenario.yaml``."""
    return path / SCENARIO_FILE if path.is_dir() else path


def validation_secret(name: str, length: int) -> str:
    """Stand-in secrets for validation and previews: fixed, well-formed, never used in a lab."""
    digest = hashlib.sha256(name.encode()).hexdigest()
    return ("Aa1" + digest)[:length]


@dataclass
class _Prepared:
    data: dict[str, Any]
    srcmap: SourceMap
    specs: dict[str, Variable]
    networks: dict[str, ipaddress.IPv4Network]
    taken: set[ipaddress.IPv4Address]
    scenario_id: str


def _prepare(file: Path) -> _Prepared:
    data, srcmap = load_document(file)
    problems = limits.check_document(data, srcmap)
    if problems:
        raise ScenarioError(dedupe(problems))
    raw_vars = data.pop("variables", None) or {}
    specs: dict[str, Variable] = {}
    if not isinstance(raw_vars, dict):
        problems.append(
            Diagnostic(srcmap.locate(("variables",)), ("variables",), "must be a mapping", None)
        )
        raw_vars = {}
    for name, raw in raw_vars.items():
        path = ("variables", name)
        if not str(name).isidentifier() or name in ("candidate", "seed", "lab"):
            problems.append(
                Diagnostic(
                    srcmap.locate(path),
                    path,
                    f"{name!r} cannot be a variable name",
                    "use letters, digits and _ (not candidate, seed or lab, which are built in)",
                )
            )
            continue
        spec, errs = validate_model(Variable, raw, srcmap, path)
        problems.extend(errs)
        if spec is not None:
            specs[name] = spec
    networks, taken = _literal_addressing(data)
    meta = data.get("scenario")
    scenario_id = meta.get("id") if isinstance(meta, dict) else None
    if problems:
        raise ScenarioError(dedupe(problems))
    return _Prepared(data, srcmap, specs, networks, taken, str(scenario_id or file.parent.name))


def _literal_addressing(
    data: dict[str, Any],
) -> tuple[dict[str, ipaddress.IPv4Network], set[ipaddress.IPv4Address]]:
    """Subnets and fixed addresses written literally: `host` variables draw around them."""
    networks: dict[str, ipaddress.IPv4Network] = {}
    taken: set[ipaddress.IPv4Address] = set()
    topo = data.get("topology")
    topo = topo if isinstance(topo, dict) else {}
    nets, nodes = topo.get("networks"), topo.get("nodes")
    for net in nets if isinstance(nets, list) else []:
        try:
            networks[net["name"]] = ipaddress.IPv4Network(net["subnet"])
        except (KeyError, TypeError, ValueError):
            continue
    for node in nodes if isinstance(nodes, list) else []:
        ifaces = node.get("interfaces") if isinstance(node, dict) else None
        for iface in ifaces if isinstance(ifaces, list) else []:
            try:
                taken.add(ipaddress.IPv4Interface(iface["address"]).ip)
                taken.add(ipaddress.IPv4Address(iface["gateway"]))
            except (KeyError, TypeError, ValueError):
                continue
    return networks, taken


def _variables(
    prep: _Prepared,
    env: jinja2.Environment,
    candidate: str,
    seed: int,
    secret: SecretSource,
    pick: Mapping[str, int] | None,
) -> dict[str, Any]:
    def render(text: str, context: Mapping[str, Any]) -> Any:
        return render_value(env, text, context)

    try:
        return resolve(
            prep.specs,
            scenario_id=prep.scenario_id,
            candidate=candidate,
            seed=seed,
            networks=prep.networks,
            taken=set(prep.taken),
            render=render,
            secret=secret,
            pick=pick,
        )
    except VariableError as exc:
        path = ("variables", exc.name)
        raise ScenarioError([Diagnostic(prep.srcmap.locate(path), path, str(exc), None)]) from None


def _build(
    file: Path,
    prep: _Prepared,
    *,
    candidate: str,
    seed: int,
    lab_id: str,
    secret: SecretSource,
    pick: Mapping[str, int] | None = None,
) -> LoadedScenario:
    env = make_environment()
    values = _variables(prep, env, candidate, seed, secret, pick)
    context = {**values, "lab": lab_id}
    rendered = render_document(env, prep.data, prep.srcmap, context)
    if rendered.problems:
        raise ScenarioError(dedupe(rendered.problems))
    problems = limits.check_document(rendered.data, rendered.srcmap)  # templates make lists
    if problems:
        raise ScenarioError(dedupe(problems))
    scenario, problems = validate_model(Scenario, rendered.data, rendered.srcmap)
    if scenario is None:
        raise ScenarioError(dedupe(problems))
    scenario = invariants.expand(scenario)  # checked below like the scenario's own checks
    # Which variant this is, for problems that exist in some variants only.
    variant = ", ".join(
        f"{name} = {values[name]!r}" for name, spec in prep.specs.items() if spec.choice is not None
    )
    problems = crossref.check_all(scenario, load_referential(), rendered.srcmap, file, variant)
    problems += _check_paths_and_chains(scenario, rendered.srcmap, file)
    loaded = LoadedScenario(scenario, context, file, rendered.srcmap)
    problems += brief_mod.check(loaded)
    if problems:
        raise ScenarioError(dedupe(problems))
    return loaded


def _check_paths_and_chains(scenario: Scenario, srcmap: SourceMap, file: Path) -> list[Diagnostic]:
    """Files and images the scenario names stay in the catalogue; dependency chains are short."""
    problems: list[Diagnostic] = []
    roots = catalogue_roots(file)

    def refuse(path: KeyPath, exc: paths.PathRefused) -> None:
        problems.append(Diagnostic(srcmap.locate(path), path, exc.message, exc.hint))

    if scenario.brief.file is not None:
        try:
            paths.resolve_inside(file.parent, scenario.brief.file, roots)
        except paths.PathRefused as exc:
            refuse(("brief", "file"), exc)
    for i, node in enumerate(scenario.topology.nodes):
        if node.image is not None:
            try:
                paths.check_image_name(node.image)
            except paths.PathRefused as exc:
                refuse(("topology", "nodes", i, "image"), exc)
    step_lists: list[tuple[KeyPath, list[Step]]] = [
        (("setup",), scenario.setup),
        (("solution", "steps"), scenario.solution.steps),
    ]
    for section in ("alternatives", "wrong"):
        for i, alt in enumerate(getattr(scenario.solution, section)):
            step_lists.append((("solution", section, i, "steps"), alt.steps))
    for base, steps in step_lists:
        for i, step in enumerate(steps):
            for param in paths.FILE_PARAMS.get(step.action, ()):
                if step.params.get(param) is not None:
                    try:
                        paths.resolve_inside(file.parent, step.params[param], roots)
                    except paths.PathRefused as exc:
                        refuse((*base, i, "params", param), exc)
    ids = {c.id: i for i, c in enumerate(scenario.checks)}
    chain = limits.longest_chain({c.id: list(c.depends_on) for c in scenario.checks})
    if len(chain) > limits.MAX_DEPENDENCY_CHAIN:
        path = ("checks", ids[chain[0]], "depends_on")
        problems.append(
            Diagnostic(
                srcmap.locate(path),
                path,
                f"a chain of {len(chain)} checks depending on each other, more than the "
                f"limit of {limits.MAX_DEPENDENCY_CHAIN}",
                "depend on fewer checks in a row",
            )
        )
    return problems


def load_scenario(
    path: Path,
    *,
    candidate: str = DEMO_CANDIDATE,
    seed: int = 0,
    lab_id: str = "preview",
    secret: SecretSource = validation_secret,
) -> LoadedScenario:
    """Load, validate and render a scenario for one candidate; raise ScenarioError if invalid."""
    file = scenario_file(Path(path)).resolve()
    with load_budget():
        prep = _prepare(file)
        return _build(file, prep, candidate=candidate, seed=seed, lab_id=lab_id, secret=secret)


def variable_specs(path: Path) -> dict[str, Variable]:
    """The scenario's variables as declared (generators, not values)."""
    return _prepare(scenario_file(Path(path)).resolve()).specs


def validate(path: Path) -> list[Diagnostic]:
    """Every problem in a scenario, across all its variants; empty when it is valid."""
    file = scenario_file(Path(path)).resolve()
    with load_budget():
        return _validate(file)


def _validate(file: Path) -> list[Diagnostic]:
    try:
        prep = _prepare(file)
    except ScenarioError as exc:
        return exc.diagnostics
    variants = max([len(s.choice) for s in prep.specs.values() if s.choice is not None], default=1)
    choice_names = [n for n, s in prep.specs.items() if s.choice is not None]
    problems: list[Diagnostic] = []
    for index in range(variants):
        pick = dict.fromkeys(choice_names, index)
        try:
            _build(
                file,
                prep,
                candidate=DEMO_CANDIDATE,
                seed=0,
                lab_id="validate",
                secret=validation_secret,
                pick=pick,
            )
        except ScenarioError as exc:
            problems.extend(exc.diagnostics)
            if budget_spent():  # the next variants would only repeat the limit
                break
    return dedupe(problems)
