"""Cross-reference checks: what a schema cannot see on its own.

Each function takes the validated scenario and reports through ``Report``, which knows where
every key path sits in the files.
"""

from __future__ import annotations

import difflib
import itertools
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from tai_labs.plugins import (
    ACTION_PLUGINS,
    CHECK_PLUGINS,
    ENGINE_PLUGINS,
    FAULT_PLUGINS,
    Registry,
    UnknownPluginError,
)
from tai_labs.referential import Referential
from tai_labs.scenario.diagnostics import Diagnostic, KeyPath
from tai_labs.scenario.model import Node, NodeKind, PluginUse, Scenario, Step
from tai_labs.scenario.source import SourceMap
from tai_labs.scenario.validation import validate_model

#: Block folders of the catalogue (scenarios/ccp1 ...).
BLOCK_FOLDERS = ("ccp1", "ccp2", "ccp3")

#: Groups every Samba AD domain has; scenarios may refer to them without declaring them.
BUILTIN_GROUPS = frozenset(
    {"Domain Users", "Domain Admins", "Domain Computers", "Enterprise Admins", "Administrators"}
)


@dataclass
class Report:
    srcmap: SourceMap
    problems: list[Diagnostic] = field(default_factory=list)

    def error(self, path: KeyPath, message: str, hint: str | None = None) -> None:
        self.problems.append(Diagnostic(self.srcmap.locate(path), path, message, hint))


def _suggest(name: str, known: Iterable[str]) -> str | None:
    close = difflib.get_close_matches(name, list(known), n=1)
    return f"did you mean {close[0]!r}?" if close else None


def _unknown(report: Report, path: KeyPath, what: str, name: str, known: Iterable[str]) -> None:
    known = sorted(known)
    hint = _suggest(name, known) or (f"known: {', '.join(known)}" if known else None)
    report.error(path, f"unknown {what} {name!r}", hint)


def check_all(
    scenario: Scenario, referential: Referential, srcmap: SourceMap, file: Path, variant: str = ""
) -> list[Diagnostic]:
    """Every cross-reference problem; ``variant`` names the choices drawn (``cause = 'dns'``)
    for the problems that depend on them."""
    report = Report(srcmap)
    check_location(scenario, file, report)
    check_referential(scenario, referential, report)
    check_topology(scenario, report)
    check_directory(scenario, report)
    check_steps(scenario, report)
    check_faults(scenario, report)
    check_checks(scenario, report)
    check_start_verdicts(scenario, report, variant)
    return report.problems


def check_location(scenario: Scenario, file: Path, report: Report) -> None:
    """In the catalogue layout, the folder names the scenario and its block."""
    folder, block_folder = file.parent.name, file.parent.parent.name
    if block_folder not in BLOCK_FOLDERS:
        return  # a scenario outside the catalogue layout (an author's draft, a test)
    if scenario.id != folder:
        report.error(
            ("scenario", "id"),
            f"id {scenario.id!r} differs from its folder name {folder!r}",
            "rename the folder or the id: they must match",
        )
    if scenario.scenario.block.lower() != block_folder:
        report.error(
            ("scenario", "block"),
            f"block {scenario.scenario.block} but the scenario is in {block_folder}/",
            f"move it to scenarios/{scenario.scenario.block.lower()}/ or fix the block",
        )


def check_referential(scenario: Scenario, referential: Referential, report: Report) -> None:
    meta = scenario.scenario
    known = {c.id for c in referential.competences}
    for i, competence in enumerate(meta.competences):
        if competence not in known:
            _unknown(report, ("scenario", "competences", i), "competence", competence, known)
    block = referential.block(meta.block)
    if not any(c.id in meta.competences for c in block.competences):
        report.error(
            ("scenario", "block"),
            f"none of the competences {', '.join(meta.competences)} belongs to {meta.block}",
            f"{meta.block} covers {', '.join(c.id for c in block.competences)}",
        )
    assessed: set[str] = set()
    for i, check in enumerate(scenario.checks):
        path = ("checks", i, "criterion")
        try:
            referential.criterion(check.criterion)
        except KeyError:
            competence_id = check.criterion.split(".", 1)[0]
            pool = (
                [c.id for c in referential.competence(competence_id).criteria]
                if competence_id in known
                else [cr.id for c in referential.competences for cr in c.criteria]
            )
            _unknown(report, path, "criterion", check.criterion, pool)
            continue
        if check.competence_id not in known:
            _unknown(report, ("checks", i, "competence"), "competence", check.competence_id, known)
        elif check.competence_id not in meta.competences:
            report.error(
                path,
                f"criterion {check.criterion} belongs to {check.competence_id}, which this "
                "scenario does not assess",
                f"add {check.competence_id} to scenario.competences or pick a criterion of "
                f"{', '.join(meta.competences)}",
            )
        if not check.invariant:  # an invariant earns nothing: it assesses no competence
            assessed.add(check.competence_id)
    for i, competence in enumerate(meta.competences):
        if competence in known and competence not in assessed:
            report.error(
                ("scenario", "competences", i),
                f"no check assesses {competence}",
                "add a check (not an invariant) with one of its criteria, or remove the competence",
            )


def check_engine(node: Node, base: KeyPath, report: Report) -> None:
    """A node's own ``engine:`` names a registered engine able to run its kind."""
    if node.engine is None:
        return  # the kind's default (kinds.py)
    known = ENGINE_PLUGINS.declared()  # names only: no engine module is imported
    if node.engine not in known:
        _unknown(report, (*base, "engine"), "engine", node.engine, known)
    elif node.kind.spec.windows and not ENGINE_PLUGINS.get(node.engine).own_kernel:
        report.error(
            (*base, "engine"),
            f"Windows nodes run as virtual machines: use engine: {node.kind.spec.engine}",
        )


def check_topology(scenario: Scenario, report: Report) -> None:
    topo = scenario.topology
    networks: dict[str, int] = {}
    for i, net in enumerate(topo.networks):
        if net.name in networks:
            report.error(("topology", "networks", i, "name"), f"duplicate network {net.name!r}")
        networks[net.name] = i
    for (_, a), (j, b) in itertools.combinations(enumerate(topo.networks), 2):
        if a.subnet.overlaps(b.subnet):
            report.error(
                ("topology", "networks", j, "subnet"),
                f"subnet {b.subnet} of {b.name!r} overlaps {a.subnet} of {a.name!r}",
                "give each network its own subnet",
            )
    seen_nodes: set[str] = set()
    addresses: dict[Any, KeyPath] = {}
    for i, node in enumerate(topo.nodes):
        base = ("topology", "nodes", i)
        if node.name in seen_nodes:
            report.error((*base, "name"), f"duplicate node {node.name!r}", "rename one of them")
        seen_nodes.add(node.name)
        check_engine(node, base, report)
        for k, iface in enumerate(node.interfaces):
            path = (*base, "interfaces", k)
            if iface.network not in networks:
                _unknown(report, (*path, "network"), "network", iface.network, networks)
                continue
            subnet = scenario.network(iface.network).subnet
            if iface.address not in (None, "dhcp"):
                address = iface.address.ip  # type: ignore[union-attr]
                if address not in subnet or iface.address.network != subnet:  # type: ignore[union-attr]
                    report.error(
                        (*path, "address"),
                        f"{iface.address} is not in {iface.network} ({subnet})",
                        f"use an address of {subnet} with /{subnet.prefixlen}",
                    )
                elif address in (subnet.network_address, subnet.broadcast_address):
                    report.error((*path, "address"), f"{address} is not a host address")
                elif address in addresses:
                    report.error((*path, "address"), f"address {address} is used twice")
                addresses[address] = path
            if iface.gateway is not None and iface.gateway not in subnet:
                report.error((*path, "gateway"), f"gateway {iface.gateway} is not in {subnet}")
        if node.router:
            for k, scope in enumerate(node.router.dhcp):
                spath = (*base, "router", "dhcp", k)
                if scope.network not in networks:
                    _unknown(report, (*spath, "network"), "network", scope.network, networks)
                    continue
                subnet = scenario.network(scope.network).subnet
                if not all(a in subnet for a in scope.range) or scope.range[0] > scope.range[1]:
                    report.error((*spath, "range"), f"range must be ordered and inside {subnet}")
            for k, name in enumerate(node.router.relay):
                if name not in networks:
                    _unknown(report, (*base, "router", "relay", k), "network", name, networks)
        if node.switch:
            vlans = {v.id for v in node.switch.vlans}
            for k, port in enumerate(node.switch.ports):
                ppath = (*base, "switch", "ports", k)
                for vid in [port.vlan] if port.vlan else port.allowed:
                    if vid not in vlans:
                        report.error(ppath, f"VLAN {vid} is not declared in switch.vlans")
    names = {n.name for n in topo.nodes}
    for i, node in enumerate(topo.nodes):
        for k, port in enumerate(node.switch.ports if node.switch else []):
            if port.connects and port.connects not in names:
                where: KeyPath = ("topology", "nodes", i, "switch", "ports", k, "connects")
                _unknown(report, where, "node", port.connects, names)


def check_directory(scenario: Scenario, report: Report) -> None:
    has_dc = any(n.kind is NodeKind.AD_DC for n in scenario.topology.nodes)
    directory = scenario.directory
    if directory is None:
        if has_dc:
            report.error(("topology",), "an ad-dc node needs a 'directory:' section")
        return
    if not has_dc:
        report.error(("directory",), "a 'directory:' section needs an ad-dc node in the topology")
    ous = set(directory.ous)
    for i, ou in enumerate(directory.ous):
        parent = ou.rsplit("/", 1)[0] if "/" in ou else None
        if parent and parent not in ous:
            report.error(("directory", "ous", i), f"parent OU {parent!r} is not declared")
    groups = {g.name for g in directory.groups} | BUILTIN_GROUPS
    for section in ("groups", "users"):
        for i, item in enumerate(getattr(directory, section)):
            if item.ou is not None and item.ou not in ous:
                _unknown(report, ("directory", section, i, "ou"), "OU", item.ou, ous)
    logins: set[str] = set()
    for i, user in enumerate(directory.users):
        if user.login in logins:
            report.error(("directory", "users", i, "login"), f"duplicate user {user.login!r}")
        logins.add(user.login)
        for k, group in enumerate(user.groups):
            if group not in groups:
                _unknown(report, ("directory", "users", i, "groups", k), "group", group, groups)
    for i, gpo in enumerate(directory.gpos):
        if gpo.link is not None and gpo.link not in ous:
            _unknown(report, ("directory", "gpos", i, "link"), "OU", gpo.link, ous)


def _check_plugin_use(
    report: Report,
    registry: Registry[Any],
    name: str,
    name_path: KeyPath,
    use: PluginUse,
    params_path: KeyPath,
    targets: list[tuple[str | None, KeyPath]],
    scenario: Scenario,
) -> None:
    try:
        plugin = registry.get(name)
    except UnknownPluginError as exc:
        report.error(name_path, exc.message, exc.hint)
        plugin = None
    nodes = {n.name: n for n in scenario.topology.nodes}
    for target, path in targets:
        if target is None:
            continue
        if target not in nodes:
            _unknown(report, path, "node", target, nodes)
        elif (
            plugin is not None and plugin.node_kinds and nodes[target].kind not in plugin.node_kinds
        ):
            report.error(
                path,
                f"{registry.kind} {name!r} does not apply to {target!r} ({nodes[target].kind})",
                f"it applies to: {', '.join(sorted(plugin.node_kinds))}",
            )
    if plugin is not None:
        params_model: type[BaseModel] = plugin.Params
        params, problems = validate_model(params_model, use.params, report.srcmap, params_path)
        report.problems.extend(problems)
        if params is not None:
            use.bind(params)  # validated once: the lab runs the plugin with this model


def _steps(report: Report, scenario: Scenario, steps: list[Step], base: KeyPath) -> None:
    for i, step in enumerate(steps):
        path = (*base, i)
        _check_plugin_use(
            report,
            ACTION_PLUGINS,
            step.action,
            (*path, "action"),
            step,
            (*path, "params"),
            [(step.target, (*path, "target"))],
            scenario,
        )


def check_steps(scenario: Scenario, report: Report) -> None:
    _steps(report, scenario, scenario.setup, ("setup",))
    _steps(report, scenario, scenario.solution.steps, ("solution", "steps"))
    check_ids = {c.id for c in scenario.checks}
    for section in ("alternatives", "wrong"):
        for i, alt in enumerate(getattr(scenario.solution, section)):
            _steps(report, scenario, alt.steps, ("solution", section, i, "steps"))
    for i, wrong in enumerate(scenario.solution.wrong):
        for key in ("must_fail", "must_pass"):
            for k, check_id in enumerate(getattr(wrong, key)):
                if check_id not in check_ids:
                    path = ("solution", "wrong", i, key, k)
                    _unknown(report, path, "check", check_id, check_ids)
        for k, check_id in enumerate(wrong.must_pass):
            if check_id in wrong.must_fail:
                report.error(
                    ("solution", "wrong", i, "must_pass", k),
                    f"check {check_id!r} is in both must_fail and must_pass",
                )


def check_faults(scenario: Scenario, report: Report) -> None:
    check_ids = {c.id for c in scenario.checks}
    seen: set[str] = set()
    for i, fault in enumerate(scenario.faults):
        path = ("faults", i)
        if fault.id in seen:
            report.error((*path, "id"), f"duplicate fault id {fault.id!r}")
        seen.add(fault.id)
        _check_plugin_use(
            report,
            FAULT_PLUGINS,
            fault.fault,
            (*path, "fault"),
            fault,
            (*path, "params"),
            [(fault.target, (*path, "target"))],
            scenario,
        )
        for k, check_id in enumerate(fault.breaks):
            if check_id not in check_ids:
                _unknown(report, (*path, "breaks", k), "check", check_id, check_ids)


def check_checks(scenario: Scenario, report: Report) -> None:
    ids: dict[str, int] = {}
    for i, check in enumerate(scenario.checks):
        if check.id in ids:
            report.error(("checks", i, "id"), f"duplicate check id {check.id!r}")
        ids[check.id] = i
        targets: list[tuple[str | None, KeyPath]] = [
            (t, ("checks", i, "target")) for t in check.targets
        ]
        _check_plugin_use(
            report,
            CHECK_PLUGINS,
            check.grader,
            ("checks", i, "grader"),
            check,
            ("checks", i, "params"),
            targets,
            scenario,
        )
    for i, check in enumerate(scenario.checks):
        for k, dep in enumerate(check.depends_on):
            path = ("checks", i, "depends_on", k)
            if dep == check.id:
                report.error(path, "a check cannot depend on itself")
            elif dep not in ids:
                _unknown(report, path, "check", dep, ids)
    cycle = _find_cycle({c.id: [d for d in c.depends_on if d in ids] for c in scenario.checks})
    if cycle:
        report.error(
            ("checks", ids[cycle[0]], "depends_on"),
            f"circular dependency: {' -> '.join(cycle)}",
            "remove one of these depends_on entries",
        )


def check_start_verdicts(scenario: Scenario, report: Report, variant: str = "") -> None:
    """No points for doing nothing: at exam start every check fails (a fault breaks it, or it
    is ``initially: fail``, work no fault creates) except invariants, which hold. Judged on
    this variant: a fault or check under ``when`` counts only where it applies."""
    broken_by: dict[str, str] = {}
    for fault in scenario.faults:
        for check_id in fault.breaks:
            broken_by.setdefault(check_id, fault.id)
    for i, check in enumerate(scenario.checks):
        path: KeyPath = ("checks", i)
        breaker = broken_by.get(check.id)
        if check.initially == "pass":
            report.error(
                (*path, "initially"),
                f"check {check.id!r} is declared to pass at exam start: it would give points "
                "for doing nothing",
                "if it is what the candidate must not break, write 'invariant: true' instead "
                "so that it earns nothing and costs its points when broken",
            )
        elif check.invariant and breaker is not None:
            report.error(
                (*path, "invariant"),
                f"invariant {check.id!r} is broken at exam start by fault {breaker!r}"
                + (f" where {variant}" if variant else "")
                + ": an invariant must hold at exam start",
                f"remove {check.id!r} from the fault's breaks, or make it an ordinary check",
            )
        elif check.invariant and check.initially == "fail":
            report.error(
                (*path, "initially"),
                f"invariant {check.id!r} cannot fail at exam start",
                "remove 'initially: fail', or make it an ordinary check",
            )
        elif not check.invariant and breaker is None and check.initially != "fail":
            report.error(
                (*path, "id"),
                f"check {check.id!r} would pass at exam start"
                + (f" where {variant}" if variant else "")
                + " (no fault breaks it): it would give points for doing nothing",
                "add it to the 'breaks' of the fault that makes it fail; mark it "
                "'invariant: true' if it is what must not change; or 'initially: fail' if it "
                "fails at exam start without a fault, for work to do such as a user to create",
            )


def _find_cycle(graph: dict[str, list[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1: on the stack, 2: done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in graph.get(node, []):
            if state.get(nxt) == 1 and nxt != node:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for start in graph:
        if start not in state:
            found = visit(start)
            if found:
                return found
    return None
